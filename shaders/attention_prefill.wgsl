// Causal grouped-query attention for a prefill, flash-attention style:
//   T new tokens of one sequence at positions pos0 .. pos0+T−1 attend to cache keys 0 ..= their
//   own position; s = (scale · q) · k, out = Σ_j softmax_j(s) v_j, K/V read as f16 from the cache.
// A workgroup owns BQ query rows of one KV head. A row is a (token, query head of that KV head's
// group) pair, so every K/V tile read from the cache serves the whole GQA group. It walks the
// key blocks up to its last token's position with an online softmax (running max m, sum l,
// accumulator rescaled by exp(m_old − m_new)); no T×T score matrix exists in memory.
// Tile sizes follow the head-dim class flag (D64 / D128 / D256, else ≤ 32) so workgroup memory
// stays under 16 KiB: qs BQ·LDC f32 + one K-or-V tile BK·LDC/2 u32 + scores BQ·BK f32 (+ padding).

struct Params {
    n_tok: u32,
    n_kv: u32,
    group: u32,        // query heads per kv head
    head_dim: u32,
    hd2: u32,          // u32 words of a cache row holding data: ceil(head_dim / 2)
    ld2: u32,          // u32 words per (token, kv head) row in the cache
    pos0: u32,         // position of the first new token = cached prefix length
    row0: u32,         // cache row of this sequence's position 0 (slot · cap)
    q_stride: u32,
    q_off: u32,
    o_stride: u32,
    o_off: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;        // [T, q_stride], head a at a·hd
@group(0) @binding(2) var<storage, read> kc: array<u32>;       // cache K, f16 pairs
@group(0) @binding(3) var<storage, read> vc: array<u32>;       // cache V, f16 pairs
@group(0) @binding(4) var<storage, read_write> o: array<f32>;  // [T, o_stride], head a at a·hd

#if D256
const LDC: u32 = 256u;
const BQ: u32 = 8u;
const BK: u32 = 8u;
#else
#if D128
const LDC: u32 = 128u;
const BQ: u32 = 16u;
const BK: u32 = 16u;
#else
#if D64
const LDC: u32 = 64u;
const BQ: u32 = 32u;
const BK: u32 = 16u;
#else
const LDC: u32 = 32u;
const BQ: u32 = 64u;
const BK: u32 = 16u;
#endif
#endif
#endif
const WC: u32 = LDC / 2u;                  // u32 words of a key row
// Workgroup-memory row strides, padded so the invocations of one score step (same word, other
// rows) fall in different banks.
const KS: u32 = WC + 1u;
const QS: u32 = LDC + 2u;
const WG: u32 = 256u;
const NP: u32 = (BQ * WC + WG - 1u) / WG;  // accumulator pairs per invocation
const NEG: f32 = -1.0e30;                  // masked score; finite since WGSL may assume no ∞

var<workgroup> qs: array<f32, BQ * QS>;
var<workgroup> kvs: array<u32, BK * KS>;
var<workgroup> ss: array<f32, BQ * BK>;
var<workgroup> row_m: array<f32, BQ>;
var<workgroup> row_l: array<f32, BQ>;
var<workgroup> row_alpha: array<f32, BQ>;

@compute @workgroup_size(256)
fn prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.y;
    let rows = p.n_tok * p.group;
    let r0 = wid.x * BQ;
    for (var i = li; i < BQ * LDC; i += WG) {
        let rg = r0 + i / LDC;
        let d = i % LDC;
        var x = 0.0;
        if (rg < rows && d < p.head_dim) {
            let a = h * p.group + rg % p.group;
            x = q[p.q_off + (rg / p.group) * p.q_stride + a * p.head_dim + d] * p.scale;
        }
        qs[(i / LDC) * QS + d] = x;
    }
    if (li < BQ) {
        row_m[li] = NEG;
        row_l[li] = 0.0;
    }
    var acc: array<vec2<f32>, NP>;
    // Keys this tile needs: up to the position of its last token (causal).
    let kend = p.pos0 + (min(r0 + BQ, rows) - 1u) / p.group + 1u;
    for (var kb = 0u; kb < kend; kb += BK) {
        workgroupBarrier();  // previous PV step done with kvs / ss
        for (var i = li; i < BK * WC; i += WG) {
            let j = i / WC;
            let w = i % WC;
            var x = 0u;
            if (kb + j < kend && w < p.hd2) {
                x = kc[((p.row0 + kb + j) * p.n_kv + h) * p.ld2 + w];
            }
            kvs[j * KS + w] = x;
        }
        workgroupBarrier();
        for (var i = li; i < BQ * BK; i += WG) {
            let r = i / BK;
            let j = i % BK;
            let rg = r0 + r;
            var s = NEG;
            if (rg < rows && kb + j <= p.pos0 + rg / p.group) {
                s = 0.0;
                for (var w = 0u; w < p.hd2; w++) {
                    let kk = unpack2x16float(kvs[j * KS + w]);
                    s += qs[r * QS + 2u * w] * kk.x + qs[r * QS + 2u * w + 1u] * kk.y;
                }
            }
            ss[i] = s;
        }
        workgroupBarrier();
        // The V tile replaces the K tile; meanwhile one invocation per row updates its softmax.
        for (var i = li; i < BK * WC; i += WG) {
            let j = i / WC;
            let w = i % WC;
            var x = 0u;
            if (kb + j < kend && w < p.hd2) {
                x = vc[((p.row0 + kb + j) * p.n_kv + h) * p.ld2 + w];
            }
            kvs[j * KS + w] = x;
        }
        if (li < BQ) {
            let m_old = row_m[li];
            var m_new = m_old;
            for (var j = 0u; j < BK; j++) {
                m_new = max(m_new, ss[li * BK + j]);
            }
            var sum = 0.0;
            for (var j = 0u; j < BK; j++) {
                let s = ss[li * BK + j];
                var e = 0.0;
                if (s > NEG) {
                    e = exp(s - m_new);
                }
                ss[li * BK + j] = e;
                sum += e;
            }
            let alpha = exp(m_old - m_new);
            row_alpha[li] = alpha;
            row_l[li] = row_l[li] * alpha + sum;
            row_m[li] = m_new;
        }
        workgroupBarrier();
        for (var n = 0u; n < NP; n++) {
            let i = li + n * WG;
            if (i < BQ * WC) {
                let r = i / WC;
                let w = i % WC;
                var s = vec2<f32>(0.0);
                if (w < p.hd2) {
                    for (var j = 0u; j < BK; j++) {
                        s += ss[r * BK + j] * unpack2x16float(kvs[j * KS + w]);
                    }
                }
                acc[n] = acc[n] * row_alpha[r] + s;
            }
        }
    }
    workgroupBarrier();
    for (var n = 0u; n < NP; n++) {
        let i = li + n * WG;
        let r = i / WC;
        let w = i % WC;
        let rg = r0 + r;
        if (i < BQ * WC && rg < rows && w < p.hd2) {
            let a = h * p.group + rg % p.group;
            let base = p.o_off + (rg / p.group) * p.o_stride + a * p.head_dim + 2u * w;
            let inv = 1.0 / row_l[r];
            o[base] = acc[n].x * inv;
            if (2u * w + 1u < p.head_dim) {
                o[base + 1u] = acc[n].y * inv;
            }
        }
    }
}
