// RMSNorm over the last dimension, one workgroup per token:
//   y[t, i] = w[i] · x[t, i] / sqrt(mean_i(x[t, i]²) + eps)
// Statistics in f32 as the reference does. y may be a different buffer from x only.

struct Params {
    n: u32,          // features per token
    x_stride: u32,
    y_stride: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [T, x_stride]
@group(0) @binding(2) var<storage, read> w: array<f32>;         // [n]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // [T, y_stride]

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg);
    let xb = t * p.x_stride;
    var ss = 0.0;
    for (var i = li; i < p.n; i += WG) {
        let v = x[xb + i];
        ss += v * v;
    }
    red[li] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let inv = inverseSqrt(red[0] / f32(p.n) + p.eps);
    let yb = t * p.y_stride;
    for (var i = li; i < p.n; i += WG) {
        y[yb + i] = w[i] * (x[xb + i] * inv);
    }
}
