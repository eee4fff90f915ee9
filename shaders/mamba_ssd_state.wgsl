// Chunked SSD, stage 3: chunk-local end states, per (chunk c, head h), for a P×N tile:
//   S_loc[c, h, p, n] = Σ_j exp(Λ_last − Λ_j)·Δ_j·x_j[h, p] · B_j[g, n]
// (j over the chunk's tokens, Λ_last = Λ of its last token, so every exponent is ≤ 0).
// A [P × len]·[len × N] product: tiles of TP×TN outputs, 4×4 per invocation, tokens in steps of
// BK through workgroup memory. NARROW (head_dim ≤ 32): 32×128 tiles, else 64×64.

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
@group(0) @binding(1) var<storage, read> xa: array<f32>;             // [T, conv_dim]
@group(0) @binding(2) var<storage, read> dt: array<f32>;             // [nH, T]
@group(0) @binding(3) var<storage, read> lam: array<f32>;            // [nH, T]
@group(0) @binding(4) var<storage, read_write> states: array<f32>;   // [nC, nH, P, N]

#if NARROW
const WP: u32 = 8u;
const WN: u32 = 32u;
#else
const WP: u32 = 16u;
const WN: u32 = 16u;
#endif
const TP: u32 = 4u * WP;
const TN: u32 = 4u * WN;
const BK: u32 = 16u;
var<workgroup> xs: array<f32, BK * TP>;   // [BK][TP] weighted x
var<workgroup> bs: array<f32, BK * TN>;   // [BK][TN]

@compute @workgroup_size(256)
fn ssd_state(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let p0 = (wid.x / p.n_tiles) * TP;
    let n0 = (wid.x % p.n_tiles) * TN;
    let h = wid.y;
    let c = wid.z;
    let g = h / p.heads_per_group;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    let lrow = h * p.n_tok + t0;           // this chunk in the [nH, T] arrays
    let last = lam[lrow + len - 1u];
    let b_off = p.d_inner + g * p.d_state;
    let tn = li % WN;
    let tp = li / WN;
    var acc: array<array<f32, 4>, 4>;
    for (var j0 = 0u; j0 < len; j0 += BK) {
        for (var e = li; e < BK * TP; e += 256u) {
            let k = e / TP;
            let q = e % TP;
            let j = j0 + k;
            var v = 0.0;
            if (j < len && p0 + q < p.head_dim) {
                let wgt = exp(last - lam[lrow + j]) * dt[lrow + j];
                v = wgt * xa[(t0 + j) * p.conv_dim + h * p.head_dim + p0 + q];
            }
            xs[e] = v;
        }
        for (var e = li; e < BK * TN; e += 256u) {
            let k = e / TN;
            let q = e % TN;
            let j = j0 + k;
            var v = 0.0;
            if (j < len && n0 + q < p.d_state) {
                v = xa[(t0 + j) * p.conv_dim + b_off + n0 + q];
            }
            bs[e] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var xv: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var q = 0u; q < 4u; q++) {
                xv[q] = xs[k * TP + tp + WP * q];
                bv[q] = bs[k * TN + tn + WN * q];
            }
            for (var x = 0u; x < 4u; x++) {
                for (var z = 0u; z < 4u; z++) {
                    acc[x][z] += xv[x] * bv[z];
                }
            }
        }
        workgroupBarrier();
    }
    let base = (c * p.n_heads + h) * p.head_dim;
    for (var x = 0u; x < 4u; x++) {
        let pi = p0 + tp + WP * x;
        for (var z = 0u; z < 4u; z++) {
            let n = n0 + tn + WN * z;
            if (pi < p.head_dim && n < p.d_state) {
                states[(base + pi) * p.d_state + n] = acc[x][z];
            }
        }
    }
}
