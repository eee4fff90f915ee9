// Decode-path expert products: for every (token, slot) the expert the router chose, read from
// `ids` on the GPU, so only the chosen experts' weights are ever read. One part of the expert
// stack per dispatch; a slot whose expert lives in another part is skipped here.
//   GLU = 1 (input_linear, W1_e = [gate; up], 2·rows × cols per expert):
//     y[s, r] = silu(W1_e[r] · x_t) · (W1_e[rows + r] · x_t)         x_t = x row of token s / k
//   GLU = 0 (output_linear, W2_e = rows × cols per expert):
//     y[s, r] = W2_e[r] · x_s                                          x_s = x row of slot s
// The gate-weighted sum over slots happens later (moe_combine or the shared MLP's down product),
// in a fixed order.
// TOPK (GLU only; decode on GPUs): the router's top-k runs here instead of in a dispatch of its
// own: the expert of slot s = t·k + j is the one of rank j among token t's router logits, and
// the first workgroup of each slot writes ids[s] and the slot's softmax gate for the products
// after this one (see `choose`).
// TPR invocations share a group of ROWS output rows, reading 8 weights (16 bytes) of each per step,
// as in matvec.wgsl: one activation load feeds ROWS (GLU: 2·ROWS) weight rows.

#if GLU
const GLU: u32 = 1u;
#else
const GLU: u32 = 0u;
#endif

struct Params {
    rows: u32,       // output rows per expert (I for GLU, H for the down product)
    cols: u32,       // x length
    ld8: u32,        // weight row stride in units of 8 halves
    e0: u32,         // experts [e0, e1) are in this part; row 0 of the part is expert e0's
    e1: u32,
    top_k: u32,
    x_stride: u32,
    x_off: u32,
    y_stride: u32,   // floats between slots in y
    eps: f32,        // NORM: RMSNorm epsilon
    n_experts: u32,  // TOPK: router logits per token
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Packed u32 pairs on every path: the widest load per byte (see matvec.wgsl).
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#if X4
// cols % 8 == 0 and x_off, x_stride multiples of 4: whole vec4 loads, no tail.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;
#endif
#if TOPK
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;  // [T·k] chosen experts (written)
#else
@group(0) @binding(3) var<storage, read> ids: array<u32>;        // [T·k] chosen experts
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // [T·k, y_stride]

#include load_x8
#include matvec_x
#if TOPK
@group(0) @binding(8) var<storage, read> logits: array<f32>;      // [T, n_experts] router logits
@group(0) @binding(9) var<storage, read_write> gates: array<f32>; // [T·k] softmax over the k

#include expert_rank

var<workgroup> chosen: u32;
var<workgroup> top_logit: f32;
var<workgroup> red_g: array<f32, WG>;

// The expert of slot s (every workgroup ranks the logits itself: a few µs, against a dispatch
// of its own). With `first`, also writes ids[s] and gates[s] = exp(l_j − l_0) / Σ_{i<k}
// exp(l_i − l_0), as moe_topk.wgsl does.
fn choose(li: u32, s: u32, first: bool) -> u32 {
    let t = s / p.top_k;
    let j = s % p.top_k;
    let base = t * p.n_experts;
    for (var e = li; e < p.n_experts; e += WG) {
        let rank = expert_rank(base, e);
        if (rank == j) { chosen = e; }
        if (rank == 0u) { top_logit = logits[base + e]; }
    }
    workgroupBarrier();
    let e = chosen;
    let m = top_logit;
    if (first) {
        var part = 0.0;
        for (var o = li; o < p.n_experts; o += WG) {
            if (expert_rank(base, o) < p.top_k) { part += exp(logits[base + o] - m); }
        }
        red_g[li] = part;
        workgroupBarrier();
        for (var h = WG / 2u; h > 0u; h >>= 1u) {
            if (li < h) { red_g[li] += red_g[li + h]; }
            workgroupBarrier();
        }
        if (li == 0u) {
            ids[s] = e;
            gates[s] = exp(logits[base + e] - m) / red_g[0];
        }
    }
    return e;
}
#endif
#if !SUBGROUPS
#if !LANE_ROWS
var<workgroup> red: array<array<vec4<f32>, 2>, WG>;
#if NORM
var<workgroup> red_ss: array<f32, WG>;
#endif
#endif
#endif


@compute @workgroup_size(WG)
fn moe_matvec(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
#if SUBGROUPS
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
#if LANE_ROWS
    let slot = li;
    let lane = 0u;
#else
#if SUBGROUPS
    let slot = sg_id;
    let lane = sg_lane;
#else
    let slot = li / TPR;
    let lane = li % TPR;
#endif
#endif
    let s = wid.z;                      // (token, slot) pair
    let r = linear_wg(wid, nwg) * RPW + slot * ROWS;
#if TOPK
    let e = choose(li, s, wid.x == 0u && wid.y == 0u);
#else
    let e = ids[s];
#endif
    let live = r < p.rows && e >= p.e0 && e < p.e1;
    // The ROWS rows' products (gate rows for GLU), and with GLU the up rows'.
    var acc = array<vec4<f32>, QUADS>();
    var up = array<vec4<f32>, QUADS>();
    var ss = 0.0;
    if (live) {
        let base = (e - p.e0) * p.rows * (1u + GLU);
        let wg = row_offsets(r, base);
        let wu = row_offsets(r, base + p.rows);
        var xrow = s;
        if (GLU == 1u) { xrow = s / p.top_k; }
        let xbase = p.x_off + xrow * p.x_stride;
        for (var k = lane; k < p.ld8; k += TPR) {
#if NORM
            let xv = load_xn8(xbase, 0u, k * 8u, &ss);
#else
            let xv = load_x8(xbase, k * 8u);
#endif
            dot8xq(wg, k, xv, &acc);
            if (GLU == 1u) { dot8xq(wu, k, xv, &up); }
        }
    }
    // Split rows (GPUs): QUADS is 1, and the TPR invocations of a row group add up their parts.
#if !LANE_ROWS
#if SUBGROUPS
    acc[0] = subgroupAdd(acc[0]);
    up[0] = subgroupAdd(up[0]);
#if NORM
    ss = subgroupAdd(ss);
#endif
#else
    red[li] = array<vec4<f32>, 2>(acc[0], up[0]);
#if NORM
    red_ss[li] = ss;
#endif
    workgroupBarrier();
    for (var h = TPR / 2u; h > 0u; h >>= 1u) {
        if (lane < h) {
            red[li][0] += red[li + h][0];
            red[li][1] += red[li + h][1];
#if NORM
            red_ss[li] += red_ss[li + h];
#endif
        }
        workgroupBarrier();
    }
    acc[0] = red[li][0];
    up[0] = red[li][1];
#if NORM
    ss = red_ss[li];
#endif
#endif
#endif
#if NORM
    let scale = inv_rms(ss);
    for (var q = 0u; q < QUADS; q++) {
        acc[q] *= scale;
        up[q] *= scale;
    }
#endif
    if (lane == 0u && live) {
        for (var i = 0u; i < ROWS; i++) {
            if (r + i >= p.rows) { break; }
            var v = acc[i / 4u][i % 4u];
            if (GLU == 1u) { v = silu(v) * up[i / 4u][i % 4u]; }
            y[s * p.y_stride + r + i] = v;
        }
    }
}
