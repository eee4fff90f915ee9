// Chunked SSD, stage 4: the inter-chunk recurrence S_c = α_c·S_{c−1} + S_loc,c (α_c = exp(Λ of
// the chunk's last token) ≤ 1, S_{−1} = the sequence's saved state) as a work-efficient parallel
// prefix scan over the chunk axis, with the associative operator on (decay, state) pairs
//   (α₁, U₁) ⊕ (α₂, U₂) = (α₁·α₂, α₂·U₁ + U₂)        (apply 1, then 2; identity (1, 0)).
// A workgroup takes E state elements (of nH·P·N) × LANES chunk lanes. Each lane owns a block of
// consecutive chunks: (1) it folds its block serially into one pair, (2) the LANES pairs are
// scanned with Blelloch's up-sweep/down-sweep in workgroup memory (exclusive), (3) each lane
// replays its block from its exclusive prefix applied to the initial state, overwriting S_loc,c
// in place with S_{c−1} (the state entering chunk c, which the output stage needs); the lane
// holding the last chunk writes the final state back to the sequence's slot.

struct Params {
    n_tok: u32,
    chunk: u32,
    n_chunks: u32,
    n_heads: u32,
    pn: u32,          // P·N
    slot: u32,
    per_lane: u32,    // chunks per lane: ceil(n_chunks / LANES)
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lam: array<f32>;            // [nH, T]
@group(0) @binding(2) var<storage, read_write> states: array<f32>;   // [nC, nH, P·N]
@group(0) @binding(3) var<storage, read_write> ssm: array<f32>;      // [slots, nH, P·N]

const LANES: u32 = 16u;
const E: u32 = 16u;
var<workgroup> sa: array<f32, 256>;   // [LANES][E] decay products
var<workgroup> su: array<f32, 256>;   // [LANES][E] states

fn chunk_decay(h: u32, c: u32) -> f32 {
    let last = min((c + 1u) * p.chunk, p.n_tok) - 1u;
    return exp(lam[h * p.n_tok + last]);
}

@compute @workgroup_size(256)
fn ssd_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let e = li % E;
    let lane = li / E;
    let total = p.n_heads * p.pn;
    let elem = linear_wg(wid, nwg) * E + e;
    let valid = elem < total;
    let h = select(0u, elem / p.pn, valid);
    let stride = total;                       // floats between chunks in `states`
    let c0 = min(lane * p.per_lane, p.n_chunks);
    let c1 = min(c0 + p.per_lane, p.n_chunks);

    // (1) Fold this lane's block.
    var s0 = 0.0;
    var av = 1.0;
    var uv = 0.0;
    if (valid) {
        s0 = ssm[p.slot * total + elem];
        for (var c = c0; c < c1; c++) {
            let al = chunk_decay(h, c);
            uv = al * uv + states[c * stride + elem];
            av *= al;
        }
    }
    sa[li] = av;
    su[li] = uv;

    // (2) Blelloch exclusive scan over the lanes (index lane·E + e).
    for (var d = 1u; d < LANES; d <<= 1u) {
        workgroupBarrier();
        if ((lane + 1u) % (2u * d) == 0u) {
            let l = (lane - d) * E + e;
            su[li] = sa[li] * su[l] + su[li];
            sa[li] = sa[l] * sa[li];
        }
    }
    workgroupBarrier();
    if (lane == LANES - 1u) {
        sa[li] = 1.0;
        su[li] = 0.0;
    }
    for (var d = LANES / 2u; d > 0u; d >>= 1u) {
        workgroupBarrier();
        if ((lane + 1u) % (2u * d) == 0u) {
            let l = (lane - d) * E + e;
            let ta = sa[l];
            let tu = su[l];
            // Left child gets the node's prefix; right child gets prefix ⊕ old left.
            sa[l] = sa[li];
            su[l] = su[li];
            su[li] = ta * su[li] + tu;
            sa[li] = sa[li] * ta;
        }
    }
    workgroupBarrier();

    // (3) Replay the block from the state entering it.
    if (valid) {
        var cur = sa[li] * s0 + su[li];
        for (var c = c0; c < c1; c++) {
            let loc = states[c * stride + elem];
            states[c * stride + elem] = cur;
            cur = chunk_decay(h, c) * cur + loc;
        }
        if (c1 == p.n_chunks && c0 < c1) {
            ssm[p.slot * total + elem] = cur;
        }
    }
}
