// Chunked SSD, stage 5: outputs of one tile of TI tokens × TP channels of head h in chunk c:
//   y_i[p] = exp(Λ_i)·Σ_n C_i[n]·S_prev[p, n]                          (carried-in state)
//          + Σ_{j ≤ i} (CB_ij·exp(Λ_i − Λ_j)·Δ_j)·x_j[p]              (intra-chunk, causal)
//          + D·x_i[p]
// Both sums are matrix products through workgroup-memory tiles, 4×4 outputs per invocation:
// first [TI × N]·[N × TP] from C and the state entering the chunk, scaled per row by exp(Λ_i),
// then [TI × j]·[j × TP] with the decayed, masked CB (j only up to the tile's last row).
// Only exponents ≤ 0 are formed. NARROW (head_dim ≤ 32): 128×32 tiles, else 64×64.

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
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xa: array<f32>;           // [T, conv_dim]
@group(0) @binding(2) var<storage, read> dt: array<f32>;           // [nH, T]
@group(0) @binding(3) var<storage, read> lam: array<f32>;          // [nH, T]
@group(0) @binding(4) var<storage, read> cb: array<f32>;           // [nC, G, Q, Q]
@group(0) @binding(5) var<storage, read> states: array<f32>;       // [nC, nH, P, N] entering each chunk
@group(0) @binding(6) var<storage, read> d_skip: array<f32>;       // [nH]
@group(0) @binding(7) var<storage, read_write> y: array<f32>;      // [T, y_stride]

#if NARROW
const WP: u32 = 8u;
#else
const WP: u32 = 16u;
#endif
const WI: u32 = 256u / WP;
const TP: u32 = 4u * WP;
const TI: u32 = 4u * WI;
const BK: u32 = 16u;
var<workgroup> ms: array<f32, BK * TI>;   // [BK][TI] left operand (C, then decayed CB)
var<workgroup> xs: array<f32, BK * TP>;   // [BK][TP] right operand (state, then x)
var<workgroup> lam_i: array<f32, TI>;

@compute @workgroup_size(256)
fn ssd_out(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wid.x / p.i_tiles;
    let i0 = (wid.x % p.i_tiles) * TI;
    let h = wid.y;
    let p0 = wid.z * TP;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    if (i0 >= len) { return; }   // whole workgroup: uniform
    let g = h / p.heads_per_group;
    let lrow = h * p.n_tok + t0;
    let c_off = p.d_inner + p.n_groups * p.d_state + g * p.d_state;
    let x_off = h * p.head_dim;
    let tp = li % WP;
    let ti = li / WP;
    for (var r = li; r < TI; r += 256u) {
        var v = 0.0;
        if (i0 + r < len) { v = lam[lrow + i0 + r]; }
        lam_i[r] = v;
    }
    var acc: array<array<f32, 4>, 4>;

    // Carried-in state: Σ_n C_i[n]·S_prev[p, n].
    let sbase = (c * p.n_heads + h) * p.head_dim;
    for (var n0 = 0u; n0 < p.d_state; n0 += BK) {
        for (var e = li; e < BK * TI; e += 256u) {
            let r = e / BK;
            let k = e % BK;
            var v = 0.0;
            if (i0 + r < len && n0 + k < p.d_state) {
                v = xa[(t0 + i0 + r) * p.conv_dim + c_off + n0 + k];
            }
            ms[k * TI + r] = v;
        }
        for (var e = li; e < BK * TP; e += 256u) {
            let q = e / BK;
            let k = e % BK;
            var v = 0.0;
            if (p0 + q < p.head_dim && n0 + k < p.d_state) {
                v = states[(sbase + p0 + q) * p.d_state + n0 + k];
            }
            xs[k * TP + q] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var mv: array<f32, 4>;
            var xv: array<f32, 4>;
            for (var q = 0u; q < 4u; q++) {
                mv[q] = ms[k * TI + ti + WI * q];
                xv[q] = xs[k * TP + tp + WP * q];
            }
            for (var x = 0u; x < 4u; x++) {
                for (var z = 0u; z < 4u; z++) {
                    acc[x][z] += mv[x] * xv[z];
                }
            }
        }
        workgroupBarrier();
    }
    for (var x = 0u; x < 4u; x++) {
        let dec = exp(lam_i[ti + WI * x]);
        for (var z = 0u; z < 4u; z++) {
            acc[x][z] *= dec;
        }
    }

    // Intra-chunk: Σ_{j ≤ i} M_ij·x_j with M_ij = CB_ij·exp(Λ_i − Λ_j)·Δ_j.
    let cbase = (c * p.n_groups + g) * p.chunk;
    let jend = min(i0 + TI, len);
    for (var j0 = 0u; j0 < jend; j0 += BK) {
        for (var e = li; e < BK * TI; e += 256u) {
            let r = e / BK;
            let k = e % BK;
            let i = i0 + r;
            let j = j0 + k;
            var v = 0.0;
            if (j <= i && i < len) {
                let lj = lrow + j;
                v = cb[(cbase + i) * p.chunk + j] * exp(lam_i[r] - lam[lj]) * dt[lj];
            }
            ms[k * TI + r] = v;
        }
        for (var e = li; e < BK * TP; e += 256u) {
            let k = e / TP;
            let q = e % TP;
            let j = j0 + k;
            var v = 0.0;
            if (j < len && p0 + q < p.head_dim) {
                v = xa[(t0 + j) * p.conv_dim + x_off + p0 + q];
            }
            xs[k * TP + q] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var mv: array<f32, 4>;
            var xv: array<f32, 4>;
            for (var q = 0u; q < 4u; q++) {
                mv[q] = ms[k * TI + ti + WI * q];
                xv[q] = xs[k * TP + tp + WP * q];
            }
            for (var x = 0u; x < 4u; x++) {
                for (var z = 0u; z < 4u; z++) {
                    acc[x][z] += mv[x] * xv[z];
                }
            }
        }
        workgroupBarrier();
    }

    let dsk = d_skip[h];
    for (var x = 0u; x < 4u; x++) {
        let i = i0 + ti + WI * x;
        for (var z = 0u; z < 4u; z++) {
            let pi = p0 + tp + WP * z;
            if (i < len && pi < p.head_dim) {
                let t = t0 + i;
                let xv = xa[t * p.conv_dim + x_off + pi];
                y[t * p.y_stride + x_off + pi] = acc[x][z] + dsk * xv;
            }
        }
    }
}
