// Chunked SSD, stage 3: chunk-local end states, per (chunk c, head h):
//   S_loc[c, h, n, p] = Σ_j exp(Λ_last − Λ_j)·Δ_j·x_j[h, p] · B_j[g, n]
// (j over the chunk's tokens, Λ_last = Λ of its last token, so every exponent is ≤ 0). Stored
// n-major ([nC, nH, N, P]) so the output stage reads a state column as contiguous channels.
// A [TR × len]·[len × TC] product per workgroup (rows p, columns n): operands are staged per
// block of BK tokens in workgroup memory as vec4 groups of 4 rows / 4 columns; each invocation
// owns 8 rows × 8 columns (mat4x4 accumulators; 4 vec4 reads per 64 multiply-adds), or with
// CPU (CPU adapters) 16 × 16. NARROW (head_dim ≤ 32): 32 × 128 tiles, else 64 × 64.

struct Params {
    n_tok: u32,
    chunk: u32,
    n_heads: u32,
    head_dim: u32,         // P
    d_state: u32,          // N
    heads_per_group: u32,
    conv_dim: u32,
    d_inner: u32,
    n_tiles: u32,          // tiles along N
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
// head_dim and d_state are multiples of 4: every staged group of 4 floats is one vec4.
@group(0) @binding(1) var<storage, read> xa: array<vec4<f32>>;       // [T, conv_dim]
#else
@group(0) @binding(1) var<storage, read> xa: array<f32>;             // [T, conv_dim]
#endif
@group(0) @binding(2) var<storage, read> dt: array<f32>;             // [nH, T]
@group(0) @binding(3) var<storage, read> lam: array<f32>;            // [nH, T]
@group(0) @binding(4) var<storage, read_write> states: array<f32>;   // [nC, nH, N, P]

#if NARROW
const TR: u32 = 32u;
const TC: u32 = 128u;
#else
const TR: u32 = 64u;
const TC: u32 = 64u;
#endif
const BK: u32 = 16u;
#include ssd_tile
// Here the left operand is the weighted x (rows p), the right one B (columns n).
var<workgroup> wk: array<f32, BK>;              // token weights of the current block

// 4 consecutive floats of `xa` from `i`, 0 where `m` is false (loads past the row are
// bounds-checked by the API and dropped by the select).
fn xa4(i: u32, m: vec4<bool>) -> vec4<f32> {
#if VEC4
    return select(vec4<f32>(0.0), xa[i >> 2u], m);
#else
    return select(vec4<f32>(0.0), vec4<f32>(xa[i], xa[i + 1u], xa[i + 2u], xa[i + 3u]), m);
#endif
}


@compute @workgroup_size(WG)
fn ssd_state(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n0 = (wid.x % p.n_tiles) * TC;
    let p0 = (wid.x / p.n_tiles) * TR;
    let h = wid.y;
    let c = wid.z;
    let g = h / p.heads_per_group;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    let lrow = h * p.n_tok + t0;           // this chunk in the [nH, T] arrays
    let last = lam[lrow + len - 1u];
    let x_off = h * p.head_dim + p0;
    let b_off = p.d_inner + g * p.d_state + n0;
    let tx = li % WC;
    let ty = li / WC;
    var acc: Acc;
    for (var j0 = 0u; j0 < len; j0 += BK) {
        // Token weights exp(Λ_last − Λ_j)·Δ_j of this block, 0 past the chunk's end.
        for (var k = li; k < BK; k += WG) {
            var f = 0.0;
            if (j0 + k < len) { f = exp(last - lam[lrow + j0 + k]) * dt[lrow + j0 + k]; }
            wk[k] = f;
        }
        workgroupBarrier();
        // Weighted x: one vec4 = 4 consecutive channels of one token.
        for (var e = li; e < BK * R4; e += WG) {
            let k = e / R4;
            let r = 4u * (e % R4);
            sa[e] = wk[k] * xa4((t0 + j0 + k) * p.conv_dim + x_off + r, below(p0 + r, p.head_dim));
        }
        for (var e = li; e < BK * C4; e += WG) {
            let k = e / C4;
            let q = 4u * (e % C4);
            let m = below(n0 + q, p.d_state) & vec4<bool>(j0 + k < len);
            sb[e] = xa4((t0 + j0 + k) * p.conv_dim + b_off + q, m);
        }
        workgroupBarrier();
        block(&acc, ty, tx);
        workgroupBarrier();
    }
    // Block (a, b) holds rows 4·(ty + WR·a) + v, columns 4·(tx + WC·b) + u at [u][v].
    let base = (c * p.n_heads + h) * p.d_state;
    for (var a = 0u; a < MB; a++) {
        for (var b = 0u; b < MB; b++) {
            let m = acc_get(&acc, a * MB + b);
            let r = p0 + 4u * (ty + WR * a);
            for (var u = 0u; u < 4u; u++) {
                let n = n0 + 4u * (tx + WC * b) + u;
                if (n < p.d_state) {
                    for (var v = 0u; v < 4u; v++) {
                        if (r + v < p.head_dim) {
                            states[(base + n) * p.head_dim + r + v] = m[u][v];
                        }
                    }
                }
            }
        }
    }
}
