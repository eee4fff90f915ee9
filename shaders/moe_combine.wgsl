// Weighted sum of the per-(token, slot) expert outputs, slots summed in order 0..k−1 so the
// result is deterministic and identical for the decode and the prefill path:
//   out[t, h] = (accumulate ? out[t, h] : 0) + alpha · Σ_j gates[t, j] · ys[t·k + j, h]

struct Params {
    hidden: u32,
    n_tok: u32,
    top_k: u32,
    out_stride: u32,
    out_off: u32,
    accumulate: u32,
    alpha: f32,
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gates: array<f32>;      // [T, k]
@group(0) @binding(2) var<storage, read> ys: array<f32>;         // [T·k, H]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [T, out_stride]

@compute @workgroup_size(256)
fn moe_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let i = linear_wg(wid, nwg) * 256u + li;
    if (i >= p.hidden * p.n_tok) { return; }
    let t = i / p.hidden;
    let h = i % p.hidden;
    var s = 0.0;
    for (var j = 0u; j < p.top_k; j++) {
        let a = t * p.top_k + j;
        s += gates[a] * ys[a * p.hidden + h];
    }
    let o = p.out_off + t * p.out_stride + h;
    if (p.accumulate == 1u) { out[o] = out[o] + p.alpha * s; } else { out[o] = p.alpha * s; }
}
