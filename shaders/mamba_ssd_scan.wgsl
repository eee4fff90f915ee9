// Chunked SSD, stage 4: the inter-chunk recurrence S_c = α_c·S_{c−1} + S_loc,c (α_c = exp(Λ of
// the chunk's last token) ≤ 1, S_{−1} = the sequence's saved state) as a work-efficient parallel
// prefix scan over the chunk axis, with the associative operator on (decay, state) pairs
//   (α₁, U₁) ⊕ (α₂, U₂) = (α₁·α₂, α₂·U₁ + U₂)        (apply 1, then 2; identity (1, 0)).
// A workgroup of 64 invocations covers one head and is `lanes` chunk lanes (a power of two, at
// most the number of chunks) × 64/lanes element columns; each invocation carries EPT consecutive
// state elements. Each lane owns a block of consecutive chunks: (1) it folds its block serially
// into one pair, (2) the lanes' pairs are scanned with Blelloch's up-sweep/down-sweep in
// workgroup memory (exclusive), (3) each lane replays its block from its exclusive prefix
// applied to the initial state, overwriting S_loc,c in place with S_{c−1} (the state entering
// chunk c, which the output stage needs); the lane holding the last chunk writes the final
// state to the slot. Chunk states are n-major ([N, P] per head), the slot's state p-major.

struct Params {
    n_chunks: u32,
    n_heads: u32,
    head_dim: u32,    // P
    d_state: u32,     // N
    slot: u32,
    per_lane: u32,    // chunks per lane: ceil(n_chunks / lanes)
    lanes: u32,       // power of two, ≤ 64
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> decay: array<f32>;          // [nH, nC] α_c
@group(0) @binding(2) var<storage, read_write> states: array<f32>;   // [nC, nH, N, P]
@group(0) @binding(3) var<storage, read_write> ssm: array<f32>;      // [slots, nH, P, N]

const WG: u32 = 64u;
const EPT: u32 = 8u;
var<workgroup> sa: array<f32, WG * EPT>;   // [lane][column][k] decay products
var<workgroup> su: array<f32, WG * EPT>;   // [lane][column][k] states
var<workgroup> s0: array<f32, WG * EPT>;   // [lane][column][k] initial states

@compute @workgroup_size(64)
fn ssd_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let cols = WG / p.lanes;
    let lane = li / cols;
    let col = li % cols;
    let h = wid.y;
    let pn = p.head_dim * p.d_state;
    let total = p.n_heads * pn;                         // floats between chunks in `states`
    let e0 = (wid.x * cols + col) * EPT;                // first element, within the head
    let hbase = h * pn;
    let dbase = h * p.n_chunks;
    let c0 = min(lane * p.per_lane, p.n_chunks);
    let c1 = min(c0 + p.per_lane, p.n_chunks);
    let me = li * EPT;
    // Element e = n·P + q of the n-major chunk state is (q, n) of the slot's state.
    let n_first = e0 / p.head_dim;
    let q_first = e0 - n_first * p.head_dim;
    let sslot = p.slot * total + hbase;

    // (1) Fold this lane's block, for each of the invocation's elements.
    var n = n_first;
    var q = q_first;
    for (var k = 0u; k < EPT; k++) {
        let e = e0 + k;
        var av = 1.0;
        var uv = 0.0;
        var init = 0.0;
        if (e < pn) {
            init = ssm[sslot + q * p.d_state + n];
            for (var c = c0; c < c1; c++) {
                let al = decay[dbase + c];
                uv = al * uv + states[c * total + hbase + e];
                av *= al;
            }
        }
        sa[me + k] = av;
        su[me + k] = uv;
        s0[me + k] = init;
        q += 1u;
        if (q == p.head_dim) { q = 0u; n += 1u; }
    }

    // (2) Blelloch exclusive scan over the lanes; lane L's pair k sits at (L·cols + col)·EPT + k.
    for (var d = 1u; d < p.lanes; d <<= 1u) {
        workgroupBarrier();
        if ((lane + 1u) % (2u * d) == 0u) {
            let l = (li - d * cols) * EPT;
            for (var k = 0u; k < EPT; k++) {
                su[me + k] = sa[me + k] * su[l + k] + su[me + k];
                sa[me + k] = sa[l + k] * sa[me + k];
            }
        }
    }
    workgroupBarrier();
    if (lane == p.lanes - 1u) {
        for (var k = 0u; k < EPT; k++) {
            sa[me + k] = 1.0;
            su[me + k] = 0.0;
        }
    }
    for (var d = p.lanes / 2u; d > 0u; d >>= 1u) {
        workgroupBarrier();
        if ((lane + 1u) % (2u * d) == 0u) {
            let l = (li - d * cols) * EPT;
            for (var k = 0u; k < EPT; k++) {
                // Left child gets the node's prefix; right child gets prefix ⊕ old left.
                let ta = sa[l + k];
                let tu = su[l + k];
                sa[l + k] = sa[me + k];
                su[l + k] = su[me + k];
                su[me + k] = ta * su[me + k] + tu;
                sa[me + k] = sa[me + k] * ta;
            }
        }
    }
    workgroupBarrier();

    // (3) Replay the block from the state entering it.
    let last = c1 == p.n_chunks && c0 < c1;
    n = n_first;
    q = q_first;
    for (var k = 0u; k < EPT; k++) {
        let e = e0 + k;
        if (e < pn) {
            var cur = sa[me + k] * s0[me + k] + su[me + k];
            for (var c = c0; c < c1; c++) {
                let i = c * total + hbase + e;
                let loc = states[i];
                states[i] = cur;
                cur = decay[dbase + c] * cur + loc;
            }
            if (last) { ssm[sslot + q * p.d_state + n] = cur; }
        }
        q += 1u;
        if (q == p.head_dim) { q = 0u; n += 1u; }
    }
}
