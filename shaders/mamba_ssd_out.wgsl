// Chunked SSD, stage 5: outputs of TR = 64 tokens (rows i) × TC channels (columns p) of head h
// in chunk c, with Λ relative to the tile's first row i0 as a pivot:
//   y_i[p] = exp(Λ_i − Λ_i0) · ( Σ_n C_i[n]·(exp(Λ_i0)·S_prev[n, p])                (carried-in)
//                              + Σ_{j < i0} CB_ij·(exp(Λ_i0 − Λ_j)·Δ_j·x_j[p]) )    (earlier rows)
//          + Σ_{i0 ≤ j ≤ i} (CB_ij·exp(Λ_i − Λ_j)·Δ_j)·x_j[p]                      (diagonal tile)
//          + D·x_i[p]
// Every exponent is ≤ 0 (j ≤ i0 ≤ i), and the decays of the first two sums factor into a row
// and a column scale, so their left operands (C, CB) are used as they are; only the diagonal
// tile forms exp(Λ_i − Λ_j) per element. Each sum is a matrix product through workgroup memory
// in blocks of BK: operands staged as vec4 groups of 4 rows / 4 columns, each invocation owning
// 8 rows × 8 columns (four mat4x4 accumulators, 4 vec4 reads per 64 multiply-adds).
// NARROW (head_dim ≤ 32): 32 channels per tile, else 64. CPU (adapters that are CPUs, where
// every memory read is a per-lane loop and registers spill cheaply): 16 × 16 outputs per
// invocation and 4× fewer invocations. VEC4 (head_dim, d_state multiples of 4): inputs bound
// as vec4 arrays.

struct Params {
    n_tok: u32,
    chunk: u32,
    n_heads: u32,
    head_dim: u32,          // P
    d_state: u32,           // N
    heads_per_group: u32,
    conv_dim: u32,
    d_inner: u32,
    n_groups: u32,
    i_tiles: u32,           // row tiles per chunk
    y_stride: u32,
    cb_stride: u32,         // floats between rows of CBᵀ (Q rounded up to 4)
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
// Every row start and tile offset is a multiple of 4 floats (head_dim, d_state and the CBᵀ row
// stride are): bind the float arrays as vec4 arrays, one load per 4 floats.
@group(0) @binding(1) var<storage, read> xa: array<vec4<f32>>;     // [T, conv_dim]
@group(0) @binding(4) var<storage, read> cbt: array<vec4<f32>>;    // [nC, G, Q(j), cb_stride(i)]
@group(0) @binding(5) var<storage, read> states: array<vec4<f32>>; // [nC, nH, N, P] entering each chunk
#else
@group(0) @binding(1) var<storage, read> xa: array<f32>;           // [T, conv_dim]
@group(0) @binding(4) var<storage, read> cbt: array<f32>;          // [nC, G, Q(j), cb_stride(i)]
@group(0) @binding(5) var<storage, read> states: array<f32>;       // [nC, nH, N, P] entering each chunk
#endif
@group(0) @binding(2) var<storage, read> dt: array<f32>;           // [nH, T]
@group(0) @binding(3) var<storage, read> lam: array<f32>;          // [nH, T]
@group(0) @binding(6) var<storage, read> d_skip: array<f32>;       // [nH]
@group(0) @binding(7) var<storage, read_write> y: array<f32>;      // [T, y_stride]

const TR: u32 = 64u;
#if NARROW
const TC: u32 = 32u;
#else
const TC: u32 = 64u;
#endif
const BK: u32 = 16u;
#include ssd_tile
var<workgroup> lam_i: array<f32, TR>;
var<workgroup> rdec: array<f32, TR>;   // exp(Λ_i − Λ of the first row of i's group of 4)
var<workgroup> fac: array<f32, BK>;    // per-column factors of the current block

// 4 consecutive floats from float index `i`, 0 where `m` is false. The loads themselves may
// fall past the row (bounds-checked by the API); the select drops them. No dynamic vector
// indexing on the hot paths: it is slow on CPU adapters.
#if VEC4
fn xa4(i: u32, m: vec4<bool>) -> vec4<f32> {
    return select(vec4<f32>(0.0), xa[i >> 2u], m);
}
fn cb4(i: u32, m: vec4<bool>) -> vec4<f32> {
    return select(vec4<f32>(0.0), cbt[i >> 2u], m);
}
fn st4(i: u32, m: vec4<bool>) -> vec4<f32> {
    return select(vec4<f32>(0.0), states[i >> 2u], m);
}
fn xa1(i: u32) -> f32 {
    return xa[i >> 2u][i & 3u];
}
#else
fn xa4(i: u32, m: vec4<bool>) -> vec4<f32> {
    return select(vec4<f32>(0.0), vec4<f32>(xa[i], xa[i + 1u], xa[i + 2u], xa[i + 3u]), m);
}
fn cb4(i: u32, m: vec4<bool>) -> vec4<f32> {
    return select(vec4<f32>(0.0), vec4<f32>(cbt[i], cbt[i + 1u], cbt[i + 2u], cbt[i + 3u]), m);
}
fn st4(i: u32, m: vec4<bool>) -> vec4<f32> {
    let v = vec4<f32>(states[i], states[i + 1u], states[i + 2u], states[i + 3u]);
    return select(vec4<f32>(0.0), v, m);
}
fn xa1(i: u32) -> f32 {
    return xa[i];
}
#endif


// exp(Λ_i − Λ_i0) for the 4 rows of group g of the tile.
fn row_decay(g: u32, lam0: f32) -> vec4<f32> {
    let r = 4u * g;
    return exp(vec4<f32>(lam_i[r], lam_i[r + 1u], lam_i[r + 2u], lam_i[r + 3u]) - lam0);
}

@compute @workgroup_size(WG)
fn ssd_out(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wid.x / p.i_tiles;
    let i0 = (wid.x % p.i_tiles) * TR;
    let h = wid.y;
    let p0 = wid.z * TC;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    if (i0 >= len) { return; }   // whole workgroup: uniform
    let g = h / p.heads_per_group;
    let lrow = h * p.n_tok + t0;
    let c_off = p.d_inner + p.n_groups * p.d_state + g * p.d_state;
    let x_off = h * p.head_dim + p0;
    let cbase = (c * p.n_groups + g) * p.chunk;   // row j of CBᵀ starts at (cbase + j)·cb_stride
    let lam0 = lam[lrow + i0];
    let tx = li % WC;
    let ty = li / WC;
    for (var r = li; r < TR; r += WG) {
        var v = 0.0;
        var d = 0.0;
        if (i0 + r < len) {
            v = lam[lrow + i0 + r];
            d = exp(v - lam[lrow + i0 + (r & ~3u)]);
        }
        lam_i[r] = v;
        rdec[r] = d;
    }
    var acc: Acc;

    // Carried-in state: left C_i[n] (4×4 blocks: 4 rows × 4 state columns per item), right
    // exp(Λ_i0)·S_prev[n, p].
    let s0 = exp(lam0);
    let sbase = (c * p.n_heads + h) * p.d_state;
    for (var n0 = 0u; n0 < p.d_state; n0 += BK) {
        for (var e = li; e < (BK / 4u) * R4; e += WG) {
            // 4 rows × 4 state columns, read along the rows and stored transposed.
            let k = 4u * (e / R4);
            let r = 4u * (e % R4);
            let nm = below(n0 + k, p.d_state);
            let rm = below(i0 + r, len);
            let at = (t0 + i0 + r) * p.conv_dim + c_off + n0 + k;
            let c0 = xa4(at, nm & vec4<bool>(rm.x));
            let c1 = xa4(at + p.conv_dim, nm & vec4<bool>(rm.y));
            let c2 = xa4(at + 2u * p.conv_dim, nm & vec4<bool>(rm.z));
            let c3 = xa4(at + 3u * p.conv_dim, nm & vec4<bool>(rm.w));
            let o = k * R4 + r / 4u;
            sa[o] = vec4<f32>(c0.x, c1.x, c2.x, c3.x);
            sa[o + R4] = vec4<f32>(c0.y, c1.y, c2.y, c3.y);
            sa[o + 2u * R4] = vec4<f32>(c0.z, c1.z, c2.z, c3.z);
            sa[o + 3u * R4] = vec4<f32>(c0.w, c1.w, c2.w, c3.w);
        }
        for (var e = li; e < BK * C4; e += WG) {
            let k = e / C4;
            let q = 4u * (e % C4);
            let i = (sbase + n0 + k) * p.head_dim + p0 + q;
            let m = below(p0 + q, p.head_dim) & vec4<bool>(n0 + k < p.d_state);
            sb[e] = s0 * st4(i, m);
        }
        workgroupBarrier();
        block(&acc, ty, tx);
        workgroupBarrier();
    }

    // Earlier rows of the chunk (j < i0): left CB_ij, right exp(Λ_i0 − Λ_j)·Δ_j·x_j[p].
    for (var j0 = 0u; j0 < i0; j0 += BK) {
        for (var k = li; k < BK; k += WG) {
            fac[k] = exp(lam0 - lam[lrow + j0 + k]) * dt[lrow + j0 + k];   // j0 + k < i0 < len
        }
        workgroupBarrier();
        for (var e = li; e < BK * R4; e += WG) {
            let j = j0 + e / R4;
            let r = 4u * (e % R4);
            sa[e] = cb4((cbase + j) * p.cb_stride + i0 + r, below(i0 + r, len));
        }
        for (var e = li; e < BK * C4; e += WG) {
            let k = e / C4;
            let q = 4u * (e % C4);
            sb[e] = fac[k] * xa4((t0 + j0 + k) * p.conv_dim + x_off + q, below(p0 + q, p.head_dim));
        }
        workgroupBarrier();
        block(&acc, ty, tx);
        workgroupBarrier();
    }

    // Row scale exp(Λ_i − Λ_i0) ≤ 1 for this invocation's row groups ty + WR·a.
#if CPU
    acc_scale(&acc, row_decay(ty, lam0), row_decay(ty + WR, lam0), row_decay(ty + 2u * WR, lam0),
              row_decay(ty + 3u * WR, lam0));
#else
    acc_scale(&acc, row_decay(ty, lam0), row_decay(ty + WR, lam0));
#endif

    // Diagonal tile (i0 ≤ j ≤ i): left CB_ij·exp(Λ_i − Λ_j)·Δ_j per element, right x_j[p].
    let jend = min(i0 + TR, len);
    for (var j0 = i0; j0 < jend; j0 += BK) {
        for (var e = li; e < BK * R4; e += WG) {
            let j = j0 + e / R4;
            let r = 4u * (e % R4);
            var v = vec4<f32>(0.0);
            if (j < len) {
                let lj = lam[lrow + j];
                let dj = dt[lrow + j];
                let c = cb4((cbase + j) * p.cb_stride + i0 + r, below(i0 + r, len));
                let li4 = vec4<f32>(lam_i[r], lam_i[r + 1u], lam_i[r + 2u], lam_i[r + 3u]);
                if (j <= i0 + r) {
                    // exp(Λ_i − Λ_j) = exp(Λ_i − Λ_r)·exp(Λ_r − Λ_j), r the group's first row.
                    let rd = vec4<f32>(rdec[r], rdec[r + 1u], rdec[r + 2u], rdec[r + 3u]);
                    v = c * (exp(li4.x - lj) * dj) * rd;
                } else {
                    // The group straddles j: only rows i ≥ j, each with its own exponent.
                    let keep = vec4<u32>(i0 + r) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(j);
                    let ex = exp(select(vec4<f32>(-1e30), li4 - lj, keep));
                    v = select(vec4<f32>(0.0), c * ex * dj, keep);
                }
            }
            sa[e] = v;
        }
        for (var e = li; e < BK * C4; e += WG) {
            let j = j0 + e / C4;
            let q = 4u * (e % C4);
            let m = below(p0 + q, p.head_dim) & vec4<bool>(j < len);
            sb[e] = xa4((t0 + j) * p.conv_dim + x_off + q, m);
        }
        workgroupBarrier();
        block(&acc, ty, tx);
        workgroupBarrier();
    }

    // Block (a, b) holds rows 4·(ty + WR·a) + v, columns 4·(tx + WC·b) + u at [u][v]; add D·x.
    let dsk = d_skip[h];
    for (var a = 0u; a < MB; a++) {
        for (var b = 0u; b < MB; b++) {
            let m = acc_get(&acc, a * MB + b);
            for (var u = 0u; u < 4u; u++) {
                let pc = 4u * (tx + WC * b) + u;
                if (p0 + pc < p.head_dim) {
                    for (var v = 0u; v < 4u; v++) {
                        let i = i0 + 4u * (ty + WR * a) + v;
                        if (i < len) {
                            let t = t0 + i;
                            y[t * p.y_stride + x_off + pc] = m[u][v] + dsk * xa1(t * p.conv_dim + x_off + pc);
                        }
                    }
                }
            }
        }
    }
}
