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
// The invocation's accumulators: MB × MB blocks of 4 rows × 4 columns (mat4x4 columns are
// the 4 columns, each a vec4 over the 4 rows). Named fields, not an array: CPU adapters keep
// arrays in memory when indexed in loops.
#if CPU
const MB: u32 = 4u;   // 16 × 16 outputs per invocation: fewer shared-memory reads per FMA
struct Acc {
    m0: mat4x4<f32>,
    m1: mat4x4<f32>,
    m2: mat4x4<f32>,
    m3: mat4x4<f32>,
    m4: mat4x4<f32>,
    m5: mat4x4<f32>,
    m6: mat4x4<f32>,
    m7: mat4x4<f32>,
    m8: mat4x4<f32>,
    m9: mat4x4<f32>,
    m10: mat4x4<f32>,
    m11: mat4x4<f32>,
    m12: mat4x4<f32>,
    m13: mat4x4<f32>,
    m14: mat4x4<f32>,
    m15: mat4x4<f32>,
}
fn mma(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) {
    (*acc).m0 += outer(a0, b0);
    (*acc).m1 += outer(a0, b1);
    (*acc).m2 += outer(a0, b2);
    (*acc).m3 += outer(a0, b3);
    (*acc).m4 += outer(a1, b0);
    (*acc).m5 += outer(a1, b1);
    (*acc).m6 += outer(a1, b2);
    (*acc).m7 += outer(a1, b3);
    (*acc).m8 += outer(a2, b0);
    (*acc).m9 += outer(a2, b1);
    (*acc).m10 += outer(a2, b2);
    (*acc).m11 += outer(a2, b3);
    (*acc).m12 += outer(a3, b0);
    (*acc).m13 += outer(a3, b1);
    (*acc).m14 += outer(a3, b2);
    (*acc).m15 += outer(a3, b3);
}
fn acc_get(acc: ptr<function, Acc>, i: u32) -> mat4x4<f32> {
    switch i {
        case 0u: { return (*acc).m0; }
        case 1u: { return (*acc).m1; }
        case 2u: { return (*acc).m2; }
        case 3u: { return (*acc).m3; }
        case 4u: { return (*acc).m4; }
        case 5u: { return (*acc).m5; }
        case 6u: { return (*acc).m6; }
        case 7u: { return (*acc).m7; }
        case 8u: { return (*acc).m8; }
        case 9u: { return (*acc).m9; }
        case 10u: { return (*acc).m10; }
        case 11u: { return (*acc).m11; }
        case 12u: { return (*acc).m12; }
        case 13u: { return (*acc).m13; }
        case 14u: { return (*acc).m14; }
        default: { return (*acc).m15; }
    }
}
// Scales the rows of block row a by f_a.
fn acc_scale(acc: ptr<function, Acc>, f0: vec4<f32>, f1: vec4<f32>, f2: vec4<f32>, f3: vec4<f32>) {
    (*acc).m0 = mat4x4<f32>((*acc).m0[0] * f0, (*acc).m0[1] * f0, (*acc).m0[2] * f0, (*acc).m0[3] * f0);
    (*acc).m1 = mat4x4<f32>((*acc).m1[0] * f0, (*acc).m1[1] * f0, (*acc).m1[2] * f0, (*acc).m1[3] * f0);
    (*acc).m2 = mat4x4<f32>((*acc).m2[0] * f0, (*acc).m2[1] * f0, (*acc).m2[2] * f0, (*acc).m2[3] * f0);
    (*acc).m3 = mat4x4<f32>((*acc).m3[0] * f0, (*acc).m3[1] * f0, (*acc).m3[2] * f0, (*acc).m3[3] * f0);
    (*acc).m4 = mat4x4<f32>((*acc).m4[0] * f1, (*acc).m4[1] * f1, (*acc).m4[2] * f1, (*acc).m4[3] * f1);
    (*acc).m5 = mat4x4<f32>((*acc).m5[0] * f1, (*acc).m5[1] * f1, (*acc).m5[2] * f1, (*acc).m5[3] * f1);
    (*acc).m6 = mat4x4<f32>((*acc).m6[0] * f1, (*acc).m6[1] * f1, (*acc).m6[2] * f1, (*acc).m6[3] * f1);
    (*acc).m7 = mat4x4<f32>((*acc).m7[0] * f1, (*acc).m7[1] * f1, (*acc).m7[2] * f1, (*acc).m7[3] * f1);
    (*acc).m8 = mat4x4<f32>((*acc).m8[0] * f2, (*acc).m8[1] * f2, (*acc).m8[2] * f2, (*acc).m8[3] * f2);
    (*acc).m9 = mat4x4<f32>((*acc).m9[0] * f2, (*acc).m9[1] * f2, (*acc).m9[2] * f2, (*acc).m9[3] * f2);
    (*acc).m10 = mat4x4<f32>((*acc).m10[0] * f2, (*acc).m10[1] * f2, (*acc).m10[2] * f2, (*acc).m10[3] * f2);
    (*acc).m11 = mat4x4<f32>((*acc).m11[0] * f2, (*acc).m11[1] * f2, (*acc).m11[2] * f2, (*acc).m11[3] * f2);
    (*acc).m12 = mat4x4<f32>((*acc).m12[0] * f3, (*acc).m12[1] * f3, (*acc).m12[2] * f3, (*acc).m12[3] * f3);
    (*acc).m13 = mat4x4<f32>((*acc).m13[0] * f3, (*acc).m13[1] * f3, (*acc).m13[2] * f3, (*acc).m13[3] * f3);
    (*acc).m14 = mat4x4<f32>((*acc).m14[0] * f3, (*acc).m14[1] * f3, (*acc).m14[2] * f3, (*acc).m14[3] * f3);
    (*acc).m15 = mat4x4<f32>((*acc).m15[0] * f3, (*acc).m15[1] * f3, (*acc).m15[2] * f3, (*acc).m15[3] * f3);
}
#else
const MB: u32 = 2u;   // 8 × 8 outputs per invocation
struct Acc {
    m0: mat4x4<f32>,
    m1: mat4x4<f32>,
    m2: mat4x4<f32>,
    m3: mat4x4<f32>,
}
fn mma(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
    (*acc).m0 += outer(a0, b0);
    (*acc).m1 += outer(a0, b1);
    (*acc).m2 += outer(a1, b0);
    (*acc).m3 += outer(a1, b1);
}
fn acc_get(acc: ptr<function, Acc>, i: u32) -> mat4x4<f32> {
    switch i {
        case 0u: { return (*acc).m0; }
        case 1u: { return (*acc).m1; }
        case 2u: { return (*acc).m2; }
        default: { return (*acc).m3; }
    }
}
fn acc_scale(acc: ptr<function, Acc>, f0: vec4<f32>, f1: vec4<f32>) {
    (*acc).m0 = mat4x4<f32>((*acc).m0[0] * f0, (*acc).m0[1] * f0, (*acc).m0[2] * f0, (*acc).m0[3] * f0);
    (*acc).m1 = mat4x4<f32>((*acc).m1[0] * f0, (*acc).m1[1] * f0, (*acc).m1[2] * f0, (*acc).m1[3] * f0);
    (*acc).m2 = mat4x4<f32>((*acc).m2[0] * f1, (*acc).m2[1] * f1, (*acc).m2[2] * f1, (*acc).m2[3] * f1);
    (*acc).m3 = mat4x4<f32>((*acc).m3[0] * f1, (*acc).m3[1] * f1, (*acc).m3[2] * f1, (*acc).m3[3] * f1);
}
#endif
const WR: u32 = TR / (4u * MB);   // invocations along rows
const WC: u32 = TC / (4u * MB);   // invocations along columns
const WG: u32 = WR * WC;
const R4: u32 = TR / 4u;
const C4: u32 = TC / 4u;
var<workgroup> sa: array<vec4<f32>, BK * R4>;   // [BK][R4] weighted x, 4 rows per vec4
var<workgroup> sb: array<vec4<f32>, BK * C4>;   // [BK][C4] B, 4 columns per vec4
var<workgroup> wk: array<f32, BK>;              // token weights of the current block

// Lanes of a vec4 starting at index `base` that are below `lim`.
fn below(base: u32, lim: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(lim);
}

// 4 consecutive floats of `xa` from `i`, 0 where `m` is false (loads past the row are
// bounds-checked by the API and dropped by the select).
fn xa4(i: u32, m: vec4<bool>) -> vec4<f32> {
#if VEC4
    return select(vec4<f32>(0.0), xa[i >> 2u], m);
#else
    return select(vec4<f32>(0.0), vec4<f32>(xa[i], xa[i + 1u], xa[i + 2u], xa[i + 3u]), m);
#endif
}

fn outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(a * b.x, a * b.y, a * b.z, a * b.w);
}

// One K-block of the staged product into the invocation's accumulators: its rows are the vec4
// groups ty + WR·a, its columns the groups tx + WC·b.
fn block(acc: ptr<function, Acc>, ty: u32, tx: u32) {
    for (var k = 0u; k < BK; k++) {
        let a = k * R4 + ty;
        let b = k * C4 + tx;
#if CPU
        mma(acc, sa[a], sa[a + WR], sa[a + 2u * WR], sa[a + 3u * WR],
            sb[b], sb[b + WC], sb[b + 2u * WC], sb[b + 3u * WC]);
#else
        mma(acc, sa[a], sa[a + WR], sb[b], sb[b + WC]);
#endif
    }
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
