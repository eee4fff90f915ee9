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
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xa: array<f32>;          // [T, conv_dim]
@group(0) @binding(2) var<storage, read_write> cbt: array<f32>;   // [nC, G, Q(j), Q(i)]

const T: u32 = 64u;
const BK: u32 = 16u;
const W: u32 = T / 8u;          // 8 × 8 invocations
const T4: u32 = T / 4u;
var<workgroup> sc: array<vec4<f32>, BK * T4>;   // [BK][T4] C rows i
var<workgroup> sb: array<vec4<f32>, BK * T4>;   // [BK][T4] B rows j

fn outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(a * b.x, a * b.y, a * b.z, a * b.w);
}

// 4 rows × 4 state columns of C (or B) at column offset `off`, stored as 4 vec4 of rows.
fn stage(e: u32, t0: u32, r0: u32, len: u32, n0: u32, off: u32, is_c: bool) {
    let k = 4u * (e / T4);
    let r = 4u * (e % T4);
    var blk = mat4x4<f32>();
    for (var v = 0u; v < 4u; v++) {
        if (r0 + r + v < len) {
            let row = (t0 + r0 + r + v) * p.conv_dim + off + n0 + k;
            for (var u = 0u; u < 4u; u++) {
                if (n0 + k + u < p.d_state) { blk[u][v] = xa[row + u]; }
            }
        }
    }
    for (var u = 0u; u < 4u; u++) {
        if (is_c) { sc[(k + u) * T4 + r / 4u] = blk[u]; } else { sb[(k + u) * T4 + r / 4u] = blk[u]; }
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
                    if (i + v < p.chunk) { cbt[(base + j) * p.chunk + i + v] = col[v]; }
                }
            }
        }
    }
}
