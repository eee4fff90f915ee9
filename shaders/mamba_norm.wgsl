// Grouped gated RMSNorm of the Mamba-2 mixer (gate before norm, norm_before_gate = False):
//   g = y ⊙ silu(z);  out = w ⊙ g / sqrt(mean_{group}(g²) + eps)
// over each of the G groups of Di/G channels. One workgroup per (token, group): the first pass
// writes the gated values to `out` and sums their squares, the second scales them in place.
// VEC4 (every stride, offset and the group size multiples of 4): 4 channels per access.

struct Params {
    n_rows: u32,      // T · G
    n_groups: u32,
    group_size: u32,  // Di / G
    y_stride: u32,
    z_stride: u32,    // floats between rows of the in_proj output
    z_off: u32,       // float offset of z in row 0
    out_stride: u32,
    out_off: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;          // [T, y_stride]
@group(0) @binding(2) var<storage, read> zsrc: array<vec4<f32>>;       // in_proj output rows
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;          // [Di]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;  // [T, out_stride]
const V: u32 = 4u;   // floats per element of the arrays
fn sq(v: vec4<f32>) -> f32 { return dot(v, v); }
#else
@group(0) @binding(1) var<storage, read> y: array<f32>;            // [T, y_stride]
@group(0) @binding(2) var<storage, read> zsrc: array<f32>;         // in_proj output rows (z part)
@group(0) @binding(3) var<storage, read> w: array<f32>;            // [Di]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // [T, out_stride]
const V: u32 = 1u;
fn sq(v: f32) -> f32 { return v * v; }
#endif

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(64)
fn gated_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let row = linear_wg(wid, nwg);
    if (row >= p.n_rows) { return; }   // whole workgroup: uniform
    let t = row / p.n_groups;
    let i0 = (row % p.n_groups) * p.group_size;
    // Indices below are in array elements (V floats each).
    let yb = (t * p.y_stride + i0) / V;
    let zb = (p.z_off + t * p.z_stride + i0) / V;
    let ob = (p.out_off + t * p.out_stride + i0) / V;
    let wb = i0 / V;
    let n = p.group_size / V;
    var ss = 0.0;
    for (var i = li; i < n; i += WG) {
        let z = zsrc[zb + i];
        let v = y[yb + i] * (z / (1.0 + exp(-z)));
        out[ob + i] = v;
        ss += sq(v);
    }
    red[li] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { red[li] += red[li + s]; }
        workgroupBarrier();
    }
    let inv = inverseSqrt(red[0] / f32(p.group_size) + p.eps);
    for (var i = li; i < n; i += WG) {
        out[ob + i] = w[wb + i] * (out[ob + i] * inv);
    }
}
