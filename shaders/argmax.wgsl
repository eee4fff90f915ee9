// Greedy sampling without a repetition penalty, in two dispatches, for GPUs: one workgroup
// scanning a 100k vocabulary alone is a chain of ~400 dependent loads per invocation (~150 µs
// on an H200), while the blocks here each read 16 logits per invocation and finish in a few.
//   argmax_blocks: block b of BLOCK logits → (best value's key, its id, non-finite flag)
//   argmax_final:  the best of the blocks → out[0] = id, out[1] = 1 if any logit is NaN or ±inf
// Ties go to the lowest id, as in sampling.wgsl (NaN never wins; the flag reports it).

struct Params {
    n: u32,        // vocabulary size
    offset: u32,   // first logit
    n_blocks: u32,
    _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> blocks: array<vec4<u32>>;  // [n_blocks] (value bits, id, flag, 0)
@group(0) @binding(3) var<storage, read_write> out: array<u32>;           // [2]

const WG: u32 = 256u;
const PER: u32 = 16u;              // logits per invocation per block
const BLOCK: u32 = WG * PER;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

#include argmax_wg

// (the best value's bits, its id, 1 if any logit was NaN or ±inf) for the workgroup.
fn reduce(li: u32, v: f32, i: u32, bad: u32) -> vec3<u32> {
    let top = argmax_wg(li, v, i);
    return vec3<u32>(bitcast<u32>(top.v), top.id, u32(sum_u(li, bad) != 0u));
}

@compute @workgroup_size(256)
fn argmax_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let b = linear_wg(wid, nwg);
    if (b >= p.n_blocks) { return; }
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    var bad = 0u;
    // Consecutive invocations read consecutive logits; ids rise along each invocation's
    // sequence, so a strict > keeps the lowest id among its equal values.
    for (var j = 0u; j < PER; j++) {
        let i = b * BLOCK + j * WG + li;
        if (i < p.n) {
            let v = logits[p.offset + i];
            // Bit test: compilers may fold `x != x` away under fast-math.
            if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) { bad = 1u; }
            if (v > bv) { bv = v; bi = i; }
        }
    }
    let r = reduce(li, bv, bi, bad);
    if (li == 0u) { blocks[b] = vec4<u32>(r, 0u); }
}

@compute @workgroup_size(256)
fn argmax_final(@builtin(local_invocation_index) li: u32) {
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    var bad = 0u;
    for (var b = li; b < p.n_blocks; b += WG) {
        let r = blocks[b];
        let v = bitcast<f32>(r.x);
        if (v > bv || (v == bv && r.y < bi)) { bv = v; bi = r.y; }
        bad |= r.z;
    }
    let r = reduce(li, bv, bi, bad);
    if (li == 0u) {
        out[0] = min(r.y, p.n - 1u);
        out[1] = u32(r.z != 0u);
    }
}
