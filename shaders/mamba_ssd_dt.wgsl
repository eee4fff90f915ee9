// Chunked SSD, stage 1: step sizes and chunk-local decay sums, per (chunk, head):
//   Δ_t = softplus(dt_raw_t + dt_bias) (threshold 20), clamped to the time-step limit if any
//   Λ_t = Σ_{chunk start ≤ j ≤ t} Δ_j·A        (inclusive, restarting at every chunk; ≤ 0)
//   α_c = exp(Λ of the chunk's last token)     (the chunk's total decay, for the chunk scan)
// One workgroup per (chunk, head); the prefix sum is a workgroup scan over 256 positions at a
// time, carried across pieces when the chunk is longer.

struct Params {
    n_tok: u32,
    n_chunks: u32,
    chunk: u32,
    dt_stride: u32,   // floats between rows of the in_proj output
    dt_off: u32,      // float offset of dt_raw in row 0
    has_limit: u32,
    lim_lo: f32,
    lim_hi: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dtsrc: array<f32>;
@group(0) @binding(2) var<storage, read> dt_bias: array<f32>;     // [nH]
@group(0) @binding(3) var<storage, read> a_neg: array<f32>;       // [nH]
@group(0) @binding(4) var<storage, read_write> dt: array<f32>;    // [nH, T]
@group(0) @binding(5) var<storage, read_write> lam: array<f32>;   // [nH, T]
@group(0) @binding(6) var<storage, read_write> decay: array<f32>; // [nH, nC]

const WG: u32 = 256u;
var<workgroup> sh: array<f32, WG>;

fn softplus(v: f32) -> f32 {
    return select(log(1.0 + exp(v)), v, v > 20.0);
}

@compute @workgroup_size(256)
fn ssd_dt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wid.x;
    let h = wid.y;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    let a = a_neg[h];
    let bias = dt_bias[h];
    var carry = 0.0;
    for (var seg = 0u; seg < len; seg += WG) {
        let i = seg + li;
        let t = t0 + i;
        var v = 0.0;
        if (i < len) {
            var d = softplus(dtsrc[p.dt_off + t * p.dt_stride + h] + bias);
            if (p.has_limit == 1u) { d = clamp(d, p.lim_lo, p.lim_hi); }
            dt[h * p.n_tok + t] = d;
            v = d * a;
        }
        sh[li] = v;
        workgroupBarrier();
        // Hillis–Steele inclusive scan of 256 values (8 steps).
        for (var off = 1u; off < WG; off <<= 1u) {
            var add = 0.0;
            if (li >= off) { add = sh[li - off]; }
            workgroupBarrier();
            sh[li] += add;
            workgroupBarrier();
        }
        if (i < len) { lam[h * p.n_tok + t] = carry + sh[li]; }
        carry += sh[WG - 1u];
        workgroupBarrier();
    }
    if (li == 0u) { decay[h * p.n_chunks + c] = exp(carry); }
}
