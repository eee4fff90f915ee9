// Token embedding lookup from an f16 table, scaled:  out[t, c] = scale · E[ids[t], c]
// The table may be split into row blocks; each dispatch covers one block and writes only the
// tokens whose id falls inside it. One workgroup per token.

struct Params {
    rows: u32,        // rows in this part
    row0: u32,        // first vocabulary id of this part
    ld8: u32,         // row stride in units of 8 halves
    cols: u32,        // hidden size
    n_tok: u32,
    out_stride: u32,
    scale: f32,
    _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if F16
@group(0) @binding(1) var<storage, read> e: array<vec4<f16>>;   // [rows, ld8 · 2] f16
fn e8(i: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(vec4<f32>(e[2u * i]), vec4<f32>(e[2u * i + 1u]));
}
#else
@group(0) @binding(1) var<storage, read> e: array<vec4<u32>>;   // [rows, ld8] f16 packed in pairs
fn e8(i: u32) -> array<vec4<f32>, 2> {
    return unpack8(e[i]);
}
#endif
@group(0) @binding(2) var<storage, read> ids: array<u32>;        // [n_tok]
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n_tok, out_stride]

@compute @workgroup_size(64)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let t = linear_wg(wid, nwg);
    if (t >= p.n_tok) { return; }
    let id = ids[t];
    if (id < p.row0 || id >= p.row0 + p.rows) { return; }
    let base = (id - p.row0) * p.ld8;
    for (var k = li; k < p.ld8; k += 64u) {
        let v = e8(base + k);
        for (var i = 0u; i < 8u; i++) {
            let c = k * 8u + i;
            if (c < p.cols) { out[t * p.out_stride + c] = p.scale * v[i / 4u][i % 4u]; }
        }
    }
}
