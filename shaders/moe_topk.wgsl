// Router top-k with softmax over the chosen k logits (HF GraniteMoeHybridTopKGating), one
// invocation per token:
//   ids[t, j]   = the j-th best expert of token t by raw logit
//   gates[t, j] = exp(l_j − l_0) / Σ_i exp(l_i − l_0)   over the k chosen logits only
// Order: larger logit first; equal logits → lower expert index first. Logits are compared as
// order-preserving u32 keys, a total order, so k distinct valid ids come out even for NaN
// (NaN ranks above +inf, as in torch.topk) and the result does not depend on the device.

struct Params {
    n_tok: u32,
    n_experts: u32,
    top_k: u32,
    l_stride: u32,  // floats between tokens in logits
    l_off: u32,     // first float of logits
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [T, l_stride]
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;   // [T, k]
@group(0) @binding(3) var<storage, read_write> gates: array<f32>; // [T, k]

// Monotone map f32 → u32: a < b as floats ⇔ key(a) < key(b) (with −0 < +0).
fn key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x80000000u) != 0u) { return ~b; }
    return b | 0x80000000u;
}

@compute @workgroup_size(64)
fn moe_topk(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg) * 64u + li;
    if (t >= p.n_tok) { return; }
    let base = p.l_off + t * p.l_stride;
    let out = t * p.top_k;
    // Pass j picks the best expert strictly after pick j−1 in the order (key desc, index asc),
    // so no "already chosen" mask is needed and any E works.
    var prev_k = 0u;
    var prev_e = 0u;
    for (var j = 0u; j < p.top_k; j++) {
        var best_k = 0u;
        var best_e = 0xffffffffu;
        for (var e = 0u; e < p.n_experts; e++) {
            let k = key(logits[base + e]);
            let after = j == 0u || k < prev_k || (k == prev_k && e > prev_e);
            if (after && (best_e == 0xffffffffu || k > best_k)) {
                best_k = k;
                best_e = e;
            }
        }
        ids[out + j] = best_e;
        gates[out + j] = logits[base + best_e];
        prev_k = best_k;
        prev_e = best_e;
    }
    // Softmax over the chosen logits; the first is the largest.
    let m = gates[out];
    var sum = 0.0;
    for (var j = 0u; j < p.top_k; j++) {
        sum += exp(gates[out + j] - m);
    }
    for (var j = 0u; j < p.top_k; j++) {
        gates[out + j] = exp(gates[out + j] - m) / sum;
    }
}
