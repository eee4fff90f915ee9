// Token sampling, one workgroup per call, so the only thing read back is the chosen id.
//   z_i = pen(l_i) / T   with pen = repetition penalty on ids in the history (HF semantics)
//   greedy (T = 0): argmax pen(l_i), lowest id on ties
//   else: keep z_i ≥ the top-k threshold and ≥ the top-p threshold (both found by a 4-way search
//   on the order-preserving u32 key of z, see `quarters`), draw u ∈ [0, 1) from a counter-based hash of
//   (seed, step), and walk the kept probabilities in id order: 256 contiguous id blocks, block
//   sums, an in-order prefix by invocation 0, then one invocation walks the chosen block.
// Plain greedy without a penalty goes through argmax.wgsl instead (many workgroups).
// out[0] = id; out[1] = 1 when a logit is NaN or ±inf (the host reports it).

struct Params {
    n: u32,            // vocabulary size
    offset: u32,       // first logit
    hist_len: u32,
    top_k: u32,        // 0: off
    temperature: f32,  // 0: greedy
    top_p: f32,        // 1: off
    penalty: f32,      // 1: off
    seed_lo: u32,
    seed_hi: u32,
    step_lo: u32,
    step_hi: u32,
    _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> history: array<u32>;
@group(0) @binding(3) var<storage, read_write> seen: array<atomic<u32>>;  // [ceil(n / 32)] bit set
@group(0) @binding(4) var<storage, read_write> out: array<u32>;           // [2]

#if WG1024
// Adapters that allow it: every pass over the vocabulary is a chain of n / WG dependent loads
// per invocation, and top-p runs ~20 passes, so 4× the invocations is ~4× faster.
const WG: u32 = 1024u;
#else
const WG: u32 = 256u;
#endif
// The draw sums the kept probabilities in BLOCKS contiguous id blocks, whatever WG is, so the
// CPU reference can add them in the same order.
const BLOCKS: u32 = 256u;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red4: array<vec4<f32>, WG>;

#include argmax_wg

fn is_seen(i: u32) -> bool {
    return (atomicLoad(&seen[i / 32u]) & (1u << (i % 32u))) != 0u;
}

fn penalized(i: u32) -> f32 {
    let l = logits[p.offset + i];
    if (p.penalty != 1.0 && is_seen(i)) {
        if (l > 0.0) { return l / p.penalty; }
        return l * p.penalty;
    }
    return l;
}

// Order-preserving map of an f32 to a u32.
fn key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x80000000u) != 0u) { return ~b; }
    return b | 0x80000000u;
}

fn sum_f4(li: u32, v: vec4<f32>) -> vec4<f32> {
    red4[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { red4[li] += red4[li + s]; }
        workgroupBarrier();
    }
    let r = workgroupUniformLoad(&red4[0]);
    workgroupBarrier();
    return r;
}

fn sum_f(li: u32, v: f32) -> f32 {
    return sum_f4(li, vec4<f32>(v, 0.0, 0.0, 0.0)).x;
}

// The thresholds are found by a 4-way search: each pass over the vocabulary tests three points
// of (lo, hi] at once, so ~16 passes instead of a bisection's 32. A predicate that holds up to
// some key and not after (a count or a mass of the ids at or above the key) gives the same
// largest key either way.
// Three points splitting (lo, hi] in four, or all of it when it holds three keys or fewer.
fn quarters(lo: u32, hi: u32) -> vec3<u32> {
    let d = (hi - lo) / 4u;
    if (d == 0u) { return min(vec3<u32>(lo + 1u, lo + 2u, lo + 3u), vec3<u32>(hi)); }
    return vec3<u32>(lo + d, lo + 2u * d, lo + 3u * d);
}

// [lo, hi] narrowed by the predicate at the points q (it holds at lo): the last point where it
// holds becomes lo, the first where it fails, less one, becomes hi.
fn narrow(lo: u32, hi: u32, q: vec3<u32>, ok: vec3<bool>) -> vec2<u32> {
    if (ok.z) { return vec2<u32>(q.z, hi); }
    if (ok.y) { return vec2<u32>(q.y, q.z - 1u); }
    if (ok.x) { return vec2<u32>(q.x, q.y - 1u); }
    return vec2<u32>(lo, q.x - 1u);
}

fn hash(x: u32) -> u32 {
    var h = x;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

// Uniform in [0, 1) with 24 bits, from (seed, step).
fn uniform01() -> f32 {
    let h = hash(p.seed_lo ^ hash(p.seed_hi ^ hash(p.step_lo ^ hash(p.step_hi + 0x9e3779b9u))));
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) li: u32) {
    // Mark the history (a set: each id is penalised once however often it occurs).
    let words = (p.n + 31u) / 32u;
    for (var w = li; w < words; w += WG) { atomicStore(&seen[w], 0u); }
    workgroupBarrier();
    storageBarrier();
    for (var j = li; j < p.hist_len; j += WG) {
        let id = history[j];
        if (id < p.n) { atomicOr(&seen[id / 32u], 1u << (id % 32u)); }
    }
    workgroupBarrier();
    storageBarrier();

    // Greedy, and the maximum for the softmax.
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    var nonfinite = 0u;
    for (var i = li; i < p.n; i += WG) {
        let raw = logits[p.offset + i];
        // Bit test: compilers may fold `x != x` away under fast-math.
        if ((bitcast<u32>(raw) & 0x7f800000u) == 0x7f800000u) { nonfinite = 1u; }
        let v = penalized(i);
        if (v > bv) { bv = v; bi = i; }
    }
    let top = argmax_wg(li, bv, bi);
    let best = top.id;
    let lmax = top.v;
    let bad = sum_u(li, nonfinite);
    if (p.temperature == 0.0 || bad != 0u) {
        if (li == 0u) { out[0] = min(best, p.n - 1u); out[1] = u32(bad != 0u); }
        return;
    }
    let inv_t = 1.0 / p.temperature;
    let zmax = lmax * inv_t;

    // top-k: the largest key t with at least k ids at or above it.
    var thr = 0u;
    if (p.top_k > 0u && p.top_k < p.n) {
        var lo = 0u;
        var hi = 0xffffffffu;
        for (var it = 0u; it < 32u; it++) {
            if (lo >= hi) { break; }
            let q = quarters(lo, hi);
            // Counts as floats: exact below 2^24 ids.
            var c = vec3<f32>(0.0);
            for (var i = li; i < p.n; i += WG) {
                let k = vec3<u32>(key(penalized(i) * inv_t));
                c += select(vec3<f32>(0.0), vec3<f32>(1.0), k >= q);
            }
            let ok = sum_f4(li, vec4<f32>(c, 0.0)).xyz >= vec3<f32>(f32(p.top_k));
            let r = narrow(lo, hi, q, ok);
            lo = r.x;
            hi = r.y;
        }
        thr = lo;
    }
    // top-p: the largest key t whose kept mass reaches top_p of the top-k mass.
    if (p.top_p < 1.0) {
        var z = 0.0;
        for (var i = li; i < p.n; i += WG) {
            let zi = penalized(i) * inv_t;
            if (key(zi) >= thr) { z += exp(zi - zmax); }
        }
        let goal = p.top_p * sum_f(li, z);
        var lo = thr;
        var hi = 0xffffffffu;
        for (var it = 0u; it < 32u; it++) {
            if (lo >= hi) { break; }
            let q = quarters(lo, hi);
            var m = vec3<f32>(0.0);
            for (var i = li; i < p.n; i += WG) {
                let zi = penalized(i) * inv_t;
                let k = key(zi);
                if (k >= q.x) {
                    m += select(vec3<f32>(0.0), vec3<f32>(exp(zi - zmax)), vec3<u32>(k) >= q);
                }
            }
            let ok = sum_f4(li, vec4<f32>(m, 0.0)).xyz >= vec3<f32>(goal);
            let r = narrow(lo, hi, q, ok);
            lo = r.x;
            hi = r.y;
        }
        thr = lo;
    }

    // Draw: block sums in id order, an in-order prefix, then a walk inside one block.
    let block = (p.n + BLOCKS - 1u) / BLOCKS;
    var s = 0.0;
    if (li < BLOCKS) {
        let b0 = li * block;
        let b1 = min(b0 + block, p.n);
        for (var i = b0; i < b1; i++) {
            let zi = penalized(i) * inv_t;
            if (key(zi) >= thr) { s += exp(zi - zmax); }
        }
    }
    red_f[li] = s;
    workgroupBarrier();
    if (li == 0u) {
        var total = 0.0;
        for (var b = 0u; b < BLOCKS; b++) { total += red_f[b]; }
        let goal = uniform01() * total;
        var acc = 0.0;
        var chosen = best;
        var done = false;
        for (var b = 0u; b < BLOCKS && !done; b++) {
            if (acc + red_f[b] > goal && red_f[b] > 0.0) {
                let e = min(b * block + block, p.n);
                for (var i = b * block; i < e; i++) {
                    let zi = penalized(i) * inv_t;
                    if (key(zi) >= thr) {
                        chosen = i;
                        acc += exp(zi - zmax);
                        if (acc > goal) { done = true; break; }
                    }
                }
            } else {
                acc += red_f[b];
            }
        }
        out[0] = chosen;
        out[1] = 0u;
    }
}
