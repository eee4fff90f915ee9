// Decode attention, split over the context (flash-decoding), step 1 of 2.
// One query token per sequence b, at the last cached position: it attends to keys 0 .. len_b − 1.
// Workgroup (c, y, b) takes keys [c·chunk, (c+1)·chunk) of sequence b for up to g query heads of
// one KV head (y = kv head · head_blocks + block), walks them in sub-blocks of SB keys with an
// online softmax and writes a partial (max m, sum l, unnormalised acc) per (b, head, c);
// attention_reduce.wgsl merges the partials. Long contexts thus spread over many workgroups.
// Features path: KT lanes share a key row (coalesced loads) and reduce with subgroup shuffles;
// the softmax max/sum reductions use subgroup shuffles instead of workgroup memory.

struct Params {
    n_q: u32,
    n_kv: u32,
    group: u32,        // query heads per kv head
    head_dim: u32,
    hd8: u32,          // 8-half blocks of a cache row holding data: ceil(head_dim / 8)
    hd2: u32,          // u32 pairs of a cache row holding data: ceil(head_dim / 2)
    ld8: u32,          // 8-half blocks per (token, kv head) cache row
    cap: u32,          // token rows per cache slot
    chunk: u32,        // keys per workgroup
    n_chunks: u32,     // partial slots per (sequence, head)
    ml_off: u32,       // first float of the (m, l) pairs in `part`
    q_stride: u32,
    q_off: u32,
    scale: f32,
    g: u32,            // query heads per workgroup (≤ GMAX)
    head_blocks: u32,  // ceil(group / g)
    tph: u32,          // invocations per head in the softmax reductions: 256 / next_pow2(g)
    kt: u32,           // lanes per key in the score step (power of two ≤ SUBGROUP_SIZE)
    _pad0: u32,
    _pad1: u32,
    tab: array<vec4<u32>, 16>,  // sequence b: (slot, len) = tab[b / 2].xy or .zw
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;           // [B, q_stride]
#if F16
@group(0) @binding(2) var<storage, read> kc: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> vc: array<vec2<f16>>;
fn k8(i: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(vec4<f32>(kc[2u * i]), vec4<f32>(kc[2u * i + 1u]));
}
fn v2(i: u32) -> vec2<f32> {
    return vec2<f32>(vc[i]);
}
#else
@group(0) @binding(2) var<storage, read> kc: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> vc: array<u32>;
fn k8(i: u32) -> array<vec4<f32>, 2> {
    return unpack8(kc[i]);
}
fn v2(i: u32) -> vec2<f32> {
    return unpack2x16float(vc[i]);
}
#endif
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

#if D256
const LDC: u32 = 256u;
const SB: u32 = 128u;
#else
#if D128
const LDC: u32 = 128u;
const SB: u32 = 256u;
#else
#if D64
const LDC: u32 = 64u;
const SB: u32 = 256u;
#else
const LDC: u32 = 32u;
const SB: u32 = 256u;
#endif
#endif
#endif
const GMAX: u32 = 8u;
const WG: u32 = 256u;
const NPV: u32 = (GMAX * LDC / 2u + WG - 1u) / WG;  // accumulator pairs per invocation
const NEG: f32 = -1.0e30;

var<workgroup> qs: array<f32, GMAX * LDC>;
var<workgroup> ss: array<f32, GMAX * SB>;
var<workgroup> red: array<f32, WG>;
var<workgroup> alph: array<f32, GMAX>;

fn q4(i: u32) -> vec4<f32> {
    return vec4<f32>(qs[i], qs[i + 1u], qs[i + 2u], qs[i + 3u]);
}

fn combine(x: f32, y: f32, is_max: bool) -> f32 {
    return select(x + y, max(x, y), is_max);
}

// Max or sum of v over the tph invocations of one head (vi / tph); all of them get the result.
fn head_reduce(v: f32, vi: u32, is_max: bool) -> f32 {
#if SUBGROUPS
    var x = v;
    for (var m = 1u; m < min(p.tph, SUBGROUP_SIZE); m <<= 1u) {
        x = combine(x, subgroupShuffleXor(x, m), is_max);
    }
    if (p.tph > SUBGROUP_SIZE) {
        if (vi % SUBGROUP_SIZE == 0u) {
            red[vi / SUBGROUP_SIZE] = x;
        }
        workgroupBarrier();
        let n = p.tph / SUBGROUP_SIZE;
        let first = (vi / p.tph) * n;
        x = red[first];
        for (var i = 1u; i < n; i++) {
            x = combine(x, red[first + i], is_max);
        }
        workgroupBarrier();
    }
    return x;
#else
    red[vi] = v;
    workgroupBarrier();
    for (var s = p.tph / 2u; s > 0u; s >>= 1u) {
        if (vi % p.tph < s) {
            red[vi] = combine(red[vi], red[vi + s], is_max);
        }
        workgroupBarrier();
    }
    let r = red[(vi / p.tph) * p.tph];
    workgroupBarrier();
    return r;
#endif
}

@compute @workgroup_size(256)
fn decode(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
#if SUBGROUPS
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
#if SUBGROUPS
    // Lanes of one subgroup get consecutive indices, so the shuffle groups below are real.
    let vi = sg_id * SUBGROUP_SIZE + sg_lane;
#else
    let vi = li;
#endif
    let c = wid.x;
    let b = wid.z;
    let h = wid.y / p.head_blocks;
    let first = (wid.y % p.head_blocks) * p.g;  // first query head of this block, in the group
    let na = min(p.g, p.group - first);
    let a0 = h * p.group + first;
    let e = p.tab[b / 2u];
    let odd = b % 2u == 1u;
    let slot = select(e.x, e.z, odd);
    let len = select(e.y, e.w, odd);
    let k_begin = c * p.chunk;
    if (k_begin >= len) {
        return;  // this sequence is shorter than the longest one of the batch
    }
    let k_end = min(k_begin + p.chunk, len);
    for (var i = li; i < GMAX * LDC; i += WG) {
        let a = i / LDC;
        let d = i % LDC;
        var x = 0.0;
        if (a < na && d < p.head_dim) {
            x = q[p.q_off + b * p.q_stride + (a0 + a) * p.head_dim + d] * p.scale;
        }
        qs[i] = x;
    }
    let ra = vi / p.tph;  // head whose softmax statistics this invocation helps reduce
    let rl = vi % p.tph;
    var m_run = NEG;
    var l_run = 0.0;
    var acc: array<vec2<f32>, NPV>;
    let row0 = slot * p.cap;
    for (var sb = k_begin; sb < k_end; sb += SB) {
        let nk = min(SB, k_end - sb);
        workgroupBarrier();  // qs written; previous sub-block's PV done with ss
#if SUBGROUPS
        let kl = vi % p.kt;
        for (var j0 = 0u; j0 < nk; j0 += WG / p.kt) {
            let j = j0 + vi / p.kt;
            var dots: array<f32, GMAX>;
            if (j < nk) {
                let base = ((row0 + sb + j) * p.n_kv + h) * p.ld8;
                for (var w = kl; w < p.hd8; w += p.kt) {
                    let kk = k8(base + w);
                    for (var a = 0u; a < na; a++) {
                        let qb = a * LDC + 8u * w;
                        dots[a] += dot(kk[0], q4(qb)) + dot(kk[1], q4(qb + 4u));
                    }
                }
            }
            for (var a = 0u; a < na; a++) {
                var x = dots[a];
                for (var m = 1u; m < p.kt; m <<= 1u) {
                    x += subgroupShuffleXor(x, m);
                }
                if (kl == 0u && j < nk) {
                    ss[a * SB + j] = x;
                }
            }
        }
#else
        for (var i = li; i < nk * na; i += WG) {
            let j = i / na;
            let a = i % na;
            let base = ((row0 + sb + j) * p.n_kv + h) * p.ld8;
            var s = 0.0;
            for (var w = 0u; w < p.hd8; w++) {
                let kk = k8(base + w);
                let qb = a * LDC + 8u * w;
                s += dot(kk[0], q4(qb)) + dot(kk[1], q4(qb + 4u));
            }
            ss[a * SB + j] = s;
        }
#endif
        workgroupBarrier();
        var mx = NEG;
        if (ra < na) {
            for (var j = rl; j < nk; j += p.tph) {
                mx = max(mx, ss[ra * SB + j]);
            }
        }
        let m_new = max(m_run, head_reduce(mx, vi, true));
        var sum = 0.0;
        if (ra < na) {
            for (var j = rl; j < nk; j += p.tph) {
                let x = exp(ss[ra * SB + j] - m_new);
                ss[ra * SB + j] = x;
                sum += x;
            }
        }
        sum = head_reduce(sum, vi, false);
        let alpha = exp(m_run - m_new);
        l_run = l_run * alpha + sum;
        m_run = m_new;
        if (rl == 0u && ra < GMAX) {
            alph[ra] = alpha;
        }
        workgroupBarrier();
        for (var n = 0u; n < NPV; n++) {
            let i = li + n * WG;
            if (i < na * p.hd2) {
                let a = i / p.hd2;
                let w = i % p.hd2;
                var s = vec2<f32>(0.0);
                for (var j = 0u; j < nk; j++) {
                    s += ss[a * SB + j] * v2(((row0 + sb + j) * p.n_kv + h) * p.ld8 * 4u + w);
                }
                acc[n] = acc[n] * alph[a] + s;
            }
        }
    }
    let ld = p.ld8 * 8u;
    for (var n = 0u; n < NPV; n++) {
        let i = li + n * WG;
        if (i < na * p.hd2) {
            let a = i / p.hd2;
            let w = i % p.hd2;
            let slot_i = (b * p.n_q + a0 + a) * p.n_chunks + c;
            part[slot_i * ld + 2u * w] = acc[n].x;
            part[slot_i * ld + 2u * w + 1u] = acc[n].y;
        }
    }
    if (rl == 0u && ra < na) {
        let slot_i = (b * p.n_q + a0 + ra) * p.n_chunks + c;
        part[p.ml_off + 2u * slot_i] = m_run;
        part[p.ml_off + 2u * slot_i + 1u] = l_run;
    }
}
