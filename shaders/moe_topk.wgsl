// Router top-k with softmax over the chosen k logits (HF GraniteMoeHybridTopKGating), one
// workgroup per token:
//   ids[t, j]   = the j-th best expert of token t by raw logit
//   gates[t, j] = exp(l_j − l_0) / Σ_i exp(l_i − l_0)   over the k chosen logits only
// The order and its tie rules: include/expert_rank.wgsl. On GPUs, decode fuses this into the
// experts' gate/up product instead (moe_matvec.wgsl, TOPK).

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

#include expert_rank

// Each invocation ranks its experts against all E logits (the reads are the same address
// across the workgroup, so they broadcast) and the expert of rank j < k writes slot j: one pass
// over E per invocation instead of k passes by one invocation, which on a GPU took ~30 µs per
// layer and token (a chain of k·E dependent loads).
@compute @workgroup_size(64)
fn moe_topk(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg);
    if (t >= p.n_tok) { return; }
    let base = p.l_off + t * p.l_stride;
    let out = t * p.top_k;
    for (var e = li; e < p.n_experts; e += 64u) {
        let rank = expert_rank(base, e);
        if (rank < p.top_k) {
            ids[out + rank] = e;
            gates[out + rank] = logits[base + e];
        }
    }
    storageBarrier();
    // Softmax over the chosen logits; slot 0 holds the largest. Every invocation reads the k
    // raw logits before any is overwritten (second barrier); each slot is rewritten only by
    // the invocation that owns it.
    let m = gates[out];
    var sum = 0.0;
    for (var j = 0u; j < p.top_k; j++) {
        sum += exp(gates[out + j] - m);
    }
    storageBarrier();
    for (var j = li; j < p.top_k; j += 64u) {
        gates[out + j] = exp(gates[out + j] - m) / sum;
    }
}
