// Included by the kernels that pick a token's top-k experts (moe_topk.wgsl, moe_matvec.wgsl
// with TOPK), which bind the router logits as `logits: array<f32>` and have `p.n_experts`.
// Order: larger logit first; equal logits → lower expert index first. Logits are compared as
// order-preserving u32 keys, a total order, so k distinct valid ids come out even for NaN
// (NaN ranks above +inf, as in torch.topk) and the result does not depend on the device.

// Monotone map f32 → u32: a < b as floats ⇔ key(a) < key(b) (with −0 < +0).
fn key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x80000000u) != 0u) { return ~b; }
    return b | 0x80000000u;
}

// Rank of expert e among the logits starting at `base`: how many experts come before it. The
// reads are the same address across a workgroup, so they broadcast.
fn expert_rank(base: u32, e: u32) -> u32 {
    let k = key(logits[base + e]);
    var rank = 0u;
    for (var o = 0u; o < p.n_experts; o++) {
        let ko = key(logits[base + o]);
        if (ko > k || (ko == k && o < e)) { rank++; }
    }
    return rank;
}
