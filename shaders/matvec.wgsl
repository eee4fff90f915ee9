// Matrix-vector product with f16 weights, for decode (one token per grid row z):
//   y[t, row0 + r] = (accumulate ? y[t, row0 + r] : 0) + alpha * (Σ_c W[r, c] · x[t, c] + bias[row0 + r])
// One part of a row-split matrix per dispatch. TPR invocations share a group of ROWS rows: each
// step an invocation reads 8 activations once and 8 weights (16 bytes) of each of its rows, so
// every activation load feeds ROWS × 8 multiply-adds. Consecutive invocations read consecutive
// 16-byte blocks of a row.
// GLU (gated decode MLP, W = [gate; up] with 2·rows rows in one part): the group also reads
// the 4 up rows rows + r .. and writes silu(gate) · up, so no separate activation dispatch.
// NORM (decode on GPUs): x is the raw residual stream (GATED: Mamba's y, gated by silu(z)) and
// the product is of RMSNorm(x) ⊙ g:
// each group sums x² from the activations it loads anyway and scales its dot products by
// 1 / sqrt(mean(x²) + eps) at the end, so no separate normalisation dispatch runs.
// Weights are always read as packed u32 pairs, even where f16 is available: one 16-byte load
// per 8 weights is the widest load on every backend, and on CPU Vulkan drivers (lavapipe) each
// loaded component costs the same whatever its width, so f16 loads halve the bandwidth there.

#include linear_params

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;   // [rows, ld8] f16 packed in pairs
#if X4
// cols % 8 == 0 and x_off, x_stride multiples of 4: whole vec4 loads, no tail.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;   // [T, x_stride / 4]
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;         // [T, x_stride]
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // [T, y_stride]
@group(0) @binding(4) var<storage, read> bias: array<f32>;      // [total rows], or any buffer if !has_bias

#include load_x8
#include matvec_x
#if CONV
// One token only. Output rows conv_row0 .. + conv_dim are Mamba's xBC channels: each leaves as
// its causal conv step + SiLU, and its window in the state shifts (see `ConvStep`).
@group(0) @binding(7) var<storage, read_write> conv_state: array<f32>;  // [.., K − 1, conv_dim]
@group(0) @binding(8) var<storage, read> conv_w: array<f32>;            // [conv_dim, K]
@group(0) @binding(9) var<storage, read> conv_b: array<f32>;            // [conv_dim]

fn conv_step(ch: u32, v: f32) -> f32 {
    let k = p.conv_k;
    let base = p.conv_state_off + ch;
    var acc = conv_b[ch] + conv_w[ch * k + k - 1u] * v;
    for (var j = 0u; j + 1u < k; j++) {
        let s = conv_state[base + j * p.conv_dim];
        acc += conv_w[ch * k + j] * s;
        // Shift as we go: slot j − 1 takes slot j (read above before being overwritten).
        if (j > 0u) { conv_state[base + (j - 1u) * p.conv_dim] = s; }
    }
    if (k > 1u) { conv_state[base + (k - 2u) * p.conv_dim] = v; }
    return silu(acc);
}
#endif
#if EXPERTS
// Decode of a MoE layer: the routed experts' weighted sum joins this (shared MLP down) product:
//   y[t, row] += experts_alpha · Σ_j gates[t, j] · ys[t·k + j, row]      (row of the full matrix)
@group(0) @binding(10) var<storage, read> expert_gates: array<f32>;  // [T, k]
@group(0) @binding(11) var<storage, read> expert_ys: array<f32>;     // [T·k, experts_rows]

fn expert_sum(t: u32, row: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < p.experts_k; j++) {
        let a = t * p.experts_k + j;
        s += expert_gates[a] * expert_ys[a * p.experts_rows + row];
    }
    return p.experts_alpha * s;
}
#endif
#if !SUBGROUPS
#if !LANE_ROWS
var<workgroup> red: array<vec4<f32>, WG>;
#endif
#endif

// Sum of `v` over the TPR invocations of a row group.
fn reduce(v: vec4<f32>, li: u32, lane: u32) -> vec4<f32> {
#if LANE_ROWS
    return v;
#else
#if SUBGROUPS
    return subgroupAdd(v);
#else
    red[li] = v;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (lane < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let total = red[li];
    workgroupBarrier();   // `red` is reused by the next call
    return total;
#endif
#endif
}

@compute @workgroup_size(WG)
fn matvec(
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
    let t = wid.z;
    let r = linear_wg(wid, nwg) * RPW + slot * ROWS;
    let wr = row_offsets(r, 0u);
#if GLU
    let wu = row_offsets(r, p.rows);   // the up rows follow the gate rows
#endif
    let xbase = p.x_off + t * p.x_stride;
    var acc = array<vec4<f32>, QUADS>();
    var ss = 0.0;
#if GLU
    var acc_up = array<vec4<f32>, QUADS>();
#endif
    if (r < p.rows) {
        for (var k = lane; k < p.ld8; k += TPR) {
#if NORM
            let xv = load_xn8(xbase, p.z_off + t * p.z_stride, k * 8u, &ss);
#else
            let xv = load_x8(xbase, k * 8u);
#endif
            dot8xq(wr, k, xv, &acc);
#if GLU
            dot8xq(wu, k, xv, &acc_up);
#endif
        }
    }
#if NORM
    let scale = inv_rms(reduce(vec4<f32>(ss, 0.0, 0.0, 0.0), li, lane).x);
#endif
    for (var q = 0u; q < QUADS; q++) {
        acc[q] = reduce(acc[q], li, lane);
#if NORM
        acc[q] *= scale;
#endif
#if GLU
        var up_q = reduce(acc_up[q], li, lane);
#if NORM
        up_q *= scale;
#endif
        acc[q] = silu4(acc[q]) * up_q;
#endif
    }
    if (lane == 0u) {
        for (var i = 0u; i < ROWS; i++) {
            if (r + i >= p.rows) { break; }
            let row = p.row0 + r + i;
            var v = acc[i / 4u][i % 4u];
            if (p.has_bias == 1u) { v += bias[row]; }
            let o = p.y_off + t * p.y_stride + row;
#if CONV
            if (row >= p.conv_row0 && row - p.conv_row0 < p.conv_dim) {
                y[o] = conv_step(row - p.conv_row0, p.alpha * v);
                continue;
            }
#endif
            var out = p.alpha * v;
#if EXPERTS
            out += expert_sum(t, row);
#endif
            if (p.accumulate == 1u) { y[o] = y[o] + out; } else { y[o] = out; }
        }
    }
}
