// Prefill routing: groups the T·k (token, slot) assignments by expert, stably (assignment order
// within an expert), with no atomics, so the layout is the same on every run. One workgroup.
// Output `route` (u32), in sections:
//   [0, E+1)            off[e]: first sorted position of expert e (exclusive scan of counts)
//   [E+1, 2E+2)         toff[e]: first tile of expert e, tiles of BM positions per expert
//   [2E+2, +T·k)        sorted[pos] = assignment index a = t·k + j, grouped by expert
//   [2E+2+T·k, +tiles)  tile_expert[g] = expert of tile g
// Invocation e owns expert e (E ≤ 256): it scans the whole assignment list (staged through
// workgroup memory 256 at a time) for its expert, first to count, then to place. Serial per
// expert, but the list is only T·k long and this runs once per layer and prefill chunk.

struct Params {
    n_assign: u32,   // T·k
    n_experts: u32,
    bm: u32,         // positions per tile of the grouped product
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;         // [T·k] expert per assignment
@group(0) @binding(2) var<storage, read_write> route: array<u32>;

const WG: u32 = 256u;
var<workgroup> chunk: array<u32, WG>;
var<workgroup> cnt: array<u32, WG>;

@compute @workgroup_size(256)
fn moe_route(@builtin(local_invocation_index) li: u32) {
    let e = li;
    let sorted0 = 2u * p.n_experts + 2u;
    // Phase 0 counts this invocation's assignments, pass 1 places them at off[e] + rank.
    var count = 0u;
    var off = 0u;
    for (var phase = 0u; phase < 2u; phase++) {
        var placed = 0u;
        for (var base = 0u; base < p.n_assign; base += WG) {
            workgroupBarrier();
            if (base + li < p.n_assign) { chunk[li] = ids[base + li]; }
            workgroupBarrier();
            let n = min(WG, p.n_assign - base);
            for (var i = 0u; i < n; i++) {
                if (chunk[i] == e) {
                    if (phase == 1u) { route[sorted0 + off + placed] = base + i; }
                    placed += 1u;
                }
            }
        }
        if (phase == 0u) {
            count = placed;
            cnt[li] = count;
            workgroupBarrier();
            // Exclusive scans of positions and of tiles, serially: E is small.
            if (li == 0u) {
                var o = 0u;
                var to = 0u;
                for (var x = 0u; x < p.n_experts; x++) {
                    let c = cnt[x];
                    route[x] = o;
                    route[p.n_experts + 1u + x] = to;
                    cnt[x] = to;  // from here on cnt holds the first tile of each expert
                    o += c;
                    to += (c + p.bm - 1u) / p.bm;
                }
                route[p.n_experts] = o;
                route[2u * p.n_experts + 1u] = to;
            }
            storageBarrier();
            workgroupBarrier();
            if (e < p.n_experts) { off = route[e]; }
        }
    }
    if (e < p.n_experts) {
        let tiles0 = sorted0 + p.n_assign;
        let toff = cnt[e];
        for (var i = 0u; i < (count + p.bm - 1u) / p.bm; i++) { route[tiles0 + toff + i] = e; }
    }
}
