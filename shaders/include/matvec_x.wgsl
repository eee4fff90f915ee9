// Included by the matrix-vector kernels (matvec.wgsl, moe_matvec.wgsl) after load_x8, which
// bind the f16 weights as `w: array<vec4<u32>>` and have `p.rows`, `p.ld8`, `p.cols` (and
// `p.eps` with NORM): the work split (must match `matvec_rows_per_workgroup` in
// kernels/linear.rs) and products of 8 weights with 8 activations. NORM kernels read raw rows
// that still need their RMSNorm: they also bind its weight g at binding 5, sum x² over the
// activations they load (`load_xn8`) and scale the finished dot products by `inv_rms`; GATED
// ones (matvec only) first gate the rows by silu(z).

const WG: u32 = 64u;    // invocations per workgroup
#if LANE_ROWS
// Each invocation owns 8 rows on CPU drivers: one activation load then feeds 8 weight loads,
// and per-invocation setup is spread over twice the bytes. At K = 768 (h-350m) this read
// 1.5× faster than 4 rows on lavapipe; 16 was no faster.
const QUADS: u32 = 2u;
#else
const QUADS: u32 = 1u;
#endif
const ROWS: u32 = 4u * QUADS;   // rows per group of TPR invocations
#if LANE_ROWS
// CPU drivers: every invocation walks its rows alone. All the SIMD lanes then load the same
// activations at each step and each streams its own rows, and no reduction is needed. On
// lavapipe this decodes ~1.9× faster than lanes splitting a row; on a GPU it would break
// coalescing.
const TPR: u32 = 1u;
#else
#if SUBGROUPS
const TPR: u32 = SUBGROUP_SIZE;
#else
// 8 lanes × 16 bytes = 128 contiguous bytes per row per step; 3 reduction rounds.
const TPR: u32 = 8u;
#endif
#endif
const RPW: u32 = WG / TPR * ROWS;   // rows per workgroup

// Σ of 8 weights (one packed load) times 8 activations.
fn dot8(q: vec4<u32>, xv: array<vec4<f32>, 2>) -> f32 {
    return dot8f(unpack8(q), xv);
}

// The products of 4 weight rows (starting at `wr`, in units of 8 halves) with x, column block k.
fn dot8x4(wr: vec4<u32>, k: u32, xv: array<vec4<f32>, 2>) -> vec4<f32> {
    return vec4<f32>(dot8(w[wr.x + k], xv), dot8(w[wr.y + k], xv), dot8(w[wr.z + k], xv),
                     dot8(w[wr.w + k], xv));
}

// Weight offsets (units of 8 halves) of rows r .. r + ROWS of the matrix whose row 0 is row
// `first` of `w`, in quads. Rows past p.rows − 1 repeat it (read, never written), so the
// product loop has no divergent branch.
fn row_offsets(r: u32, first: u32) -> array<vec4<u32>, QUADS> {
    var offs = array<vec4<u32>, QUADS>();
    for (var q = 0u; q < QUADS; q++) {
        let rows = min(vec4<u32>(r + 4u * q) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.rows - 1u));
        offs[q] = (vec4<u32>(first) + rows) * p.ld8;
    }
    return offs;
}

// acc += the products of the ROWS rows whose weights start at `wr` (units of 8 halves) with x.
fn dot8xq(wr: array<vec4<u32>, QUADS>, k: u32, xv: array<vec4<f32>, 2>,
          acc: ptr<function, array<vec4<f32>, QUADS>>) {
    for (var q = 0u; q < QUADS; q++) {
        (*acc)[q] += dot8x4(wr[q], k, xv);
    }
}

#if NORM
#if X4
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<f32>>;  // [cols / 4] RMSNorm weight g

fn load_g8(c: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(norm_w[c / 4u], norm_w[c / 4u + 1u]);
}
#else
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;    // [cols] RMSNorm weight g

// g for columns c .. c + 8 (zero past `cols`, like the activations).
fn load_g8(c: u32) -> array<vec4<f32>, 2> {
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (c + i < p.cols) { v[i] = norm_w[c + i]; }
    }
    return array<vec4<f32>, 2>(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
#endif

#if GATED
// Binding 6: the gate z (rows of Mamba's in_proj output); the rows to normalise are x ⊙ silu(z)
// (Mamba-2's gated RMSNorm, one group).
#if X4
@group(0) @binding(6) var<storage, read> gate: array<vec4<f32>>;

fn load_z8(base: u32, c: u32) -> array<vec4<f32>, 2> {
    let i = (base + c) / 4u;
    return array<vec4<f32>, 2>(gate[i], gate[i + 1u]);
}
#else
@group(0) @binding(6) var<storage, read> gate: array<f32>;

fn load_z8(base: u32, c: u32) -> array<vec4<f32>, 2> {
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (c + i < p.cols) { v[i] = gate[base + c + i]; }
    }
    return array<vec4<f32>, 2>(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
#endif
#endif

// 8 activations (gated by z at `zbase` with GATED) times g (the 1/rms factor comes at the end),
// their squares added to `ss`.
fn load_xn8(base: u32, zbase: u32, c: u32, ss: ptr<function, f32>) -> array<vec4<f32>, 2> {
#if GATED
    let xz = load_x8(base, c);
    let z = load_z8(zbase, c);
    let xr = array<vec4<f32>, 2>(xz[0] * silu4(z[0]), xz[1] * silu4(z[1]));
#else
    let xr = load_x8(base, c);
#endif
    *ss += dot(xr[0], xr[0]) + dot(xr[1], xr[1]);
    let g = load_g8(c);
    return array<vec4<f32>, 2>(xr[0] * g[0], xr[1] * g[1]);
}

// 1 / rms of a row whose squares summed to `total`.
fn inv_rms(total: f32) -> f32 {
    return inverseSqrt(total / f32(p.cols) + p.eps);
}
#endif
