// Greedy sampling: out[0] = argmax_i logits[i] (lowest id on ties). One workgroup.

struct Params {
    n: u32,
    offset: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

@compute @workgroup_size(256)
fn argmax(@builtin(local_invocation_index) li: u32) {
    var bv = -3.0e38;
    var bi = 0xffffffffu;
    for (var i = li; i < p.n; i += 256u) {
        let v = logits[p.offset + i];
        if (v > bv) { bv = v; bi = i; }
    }
    best_v[li] = bv;
    best_i[li] = bi;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) {
            let ov = best_v[li + s];
            let oi = best_i[li + s];
            if (ov > best_v[li] || (ov == best_v[li] && oi < best_i[li])) {
                best_v[li] = ov;
                best_i[li] = oi;
            }
        }
        workgroupBarrier();
    }
    if (li == 0u) { out[0] = min(best_i[0], p.n - 1u); }
}
