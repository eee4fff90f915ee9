// Chunked SSD, stage 2: CB[c, g, i, j] = Σ_n C[t0+i, g, n] · B[t0+j, g, n] within each chunk
// (t0 = c·Q), stored transposed, CBᵀ[c, g, j, i], so the output stage reads 4 consecutive rows
// i of one column j as one group. Computed once per (chunk, group) and shared by the group's
// heads. Only 64×64 tiles on or below the diagonal are computed (the output stage reads j ≤ i
// only); entries with j > i inside a diagonal tile and rows past the chunk's end hold
// unspecified values. 64 invocations, each owning 8 × 8 outputs (four mat4x4 accumulators);
// C and B are staged per block of 16 state columns as vec4 groups of 4 rows.

struct Params {
    n_tok: u32,
    chunk: u32,       // Q
    n_groups: u32,
    d_state: u32,     // N
    conv_dim: u32,    // row stride of the activated xBC
    d_inner: u32,     // offset of B in a row
    tiles: u32,       // tiles per side: ceil(Q / 64)
    cb_stride: u32,   // floats between rows of CBᵀ (Q rounded up to 4)
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
// d_state and the row offsets are multiples of 4: read 4 state columns as one vec4.
@group(0) @binding(1) var<storage, read> xa: array<vec4<f32>>;    // [T, conv_dim]
#else
@group(0) @binding(1) var<storage, read> xa: array<f32>;          // [T, conv_dim]
#endif
@group(0) @binding(2) var<storage, read_write> cbt: array<f32>;   // [nC, G, Q(j), cb_stride(i)]

const T: u32 = 64u;
const BK: u32 = 16u;
const W: u32 = T / 8u;          // 8 × 8 invocations
const T4: u32 = T / 4u;
var<workgroup> sc: array<vec4<f32>, BK * T4>;   // [BK][T4] C rows i
var<workgroup> sb: array<vec4<f32>, BK * T4>;   // [BK][T4] B rows j

fn outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(a * b.x, a * b.y, a * b.z, a * b.w);
}

// Lanes of a vec4 starting at index `base` that are below `lim`.
fn below(base: u32, lim: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(lim);
}

// 4 consecutive floats of `xa` from `i`, 0 where `m` is false.
fn xa4(i: u32, m: vec4<bool>) -> vec4<f32> {
#if VEC4
    return select(vec4<f32>(0.0), xa[i >> 2u], m);
#else
    return select(vec4<f32>(0.0), vec4<f32>(xa[i], xa[i + 1u], xa[i + 2u], xa[i + 3u]), m);
#endif
}

// 4 rows × 4 state columns of C (or B) at column offset `off`, read along the rows and
// stored transposed (4 vec4 of rows).
fn stage(e: u32, t0: u32, r0: u32, len: u32, n0: u32, off: u32, is_c: bool) {
    let k = 4u * (e / T4);
    let r = 4u * (e % T4);
    let nm = below(n0 + k, p.d_state);
    let rm = below(r0 + r, len);
    let at = (t0 + r0 + r) * p.conv_dim + off + n0 + k;
    let c0 = xa4(at, nm & vec4<bool>(rm.x));
    let c1 = xa4(at + p.conv_dim, nm & vec4<bool>(rm.y));
    let c2 = xa4(at + 2u * p.conv_dim, nm & vec4<bool>(rm.z));
    let c3 = xa4(at + 3u * p.conv_dim, nm & vec4<bool>(rm.w));
    let o = k * T4 + r / 4u;
    let v0 = vec4<f32>(c0.x, c1.x, c2.x, c3.x);
    let v1 = vec4<f32>(c0.y, c1.y, c2.y, c3.y);
    let v2 = vec4<f32>(c0.z, c1.z, c2.z, c3.z);
    let v3 = vec4<f32>(c0.w, c1.w, c2.w, c3.w);
    if (is_c) {
        sc[o] = v0;
        sc[o + T4] = v1;
        sc[o + 2u * T4] = v2;
        sc[o + 3u * T4] = v3;
    } else {
        sb[o] = v0;
        sb[o + T4] = v1;
        sb[o + 2u * T4] = v2;
        sb[o + 3u * T4] = v3;
    }
}

@compute @workgroup_size(64)
fn ssd_cb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let it = wid.x / p.tiles;
    let jt = wid.x % p.tiles;
    if (jt > it) { return; }   // above the diagonal: never read
    let c = wid.y;
    let g = wid.z;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    let i0 = it * T;
    let j0 = jt * T;
    let b_off = p.d_inner + g * p.d_state;
    let c_off = p.d_inner + p.n_groups * p.d_state + g * p.d_state;
    let tx = li % W;   // columns j
    let ty = li / W;   // rows i
    var m00 = mat4x4<f32>();
    var m01 = mat4x4<f32>();
    var m10 = mat4x4<f32>();
    var m11 = mat4x4<f32>();
    for (var n0 = 0u; n0 < p.d_state; n0 += BK) {
        for (var e = li; e < (BK / 4u) * T4; e += 64u) {
            stage(e, t0, i0, len, n0, c_off, true);
            stage(e, t0, j0, len, n0, b_off, false);
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            let a0 = sc[k * T4 + ty];
            let a1 = sc[k * T4 + W + ty];
            let b0 = sb[k * T4 + tx];
            let b1 = sb[k * T4 + W + tx];
            m00 += outer(a0, b0);
            m01 += outer(a0, b1);
            m10 += outer(a1, b0);
            m11 += outer(a1, b1);
        }
        workgroupBarrier();
    }
    // Rows i = i0 + ra·32 + 4·ty + v, column j = j0 + cb·32 + 4·tx + u: m_{ra cb}[u][v].
    let base = (c * p.n_groups + g) * p.chunk;
    for (var half = 0u; half < 4u; half++) {
        let ra = half / 2u;
        let cb = half % 2u;
        for (var u = 0u; u < 4u; u++) {
            var col: vec4<f32>;
            switch half {
                case 0u: { col = m00[u]; }
                case 1u: { col = m01[u]; }
                case 2u: { col = m10[u]; }
                default: { col = m11[u]; }
            }
            let j = j0 + cb * (T / 2u) + 4u * tx + u;
            let i = i0 + ra * (T / 2u) + 4u * ty;
            if (j < p.chunk) {
                for (var v = 0u; v < 4u; v++) {
                    if (i + v < p.chunk) { cbt[(base + j) * p.cb_stride + i + v] = col[v]; }
                }
            }
        }
    }
}
