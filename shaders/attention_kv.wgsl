// KV cache append: converts n_tok new rows of K and V (f32, RoPE already applied to K) to f16
// and stores them at their cache rows.
// Cache layout of one layer (K and V alike): [slot][cap][n_kv][ld] halves, ld = head_dim rounded
// up to 8 (the padding halves are written as zero, so kernels may read whole 8-half blocks),
// stored as u32 pairs (low half first) so the portable path needs no f16 support.
// One invocation per (token, kv head, u32 word of the row).

struct Params {
    n_tok: u32,
    n_kv: u32,
    head_dim: u32,
    ld2: u32,          // u32 words per (token, kv head) row = ld / 2
    k_stride: u32,     // floats between tokens in k
    k_off: u32,
    v_stride: u32,
    v_off: u32,
    cap: u32,          // token rows per slot
    slot: u32,         // !use_table: token t goes to row pos0 + t of this slot
    pos0: u32,
    use_table: u32,    // 1: token t goes to (slot, row) = tab[t / 2].xy or .zw
    tab: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<u32>;
@group(0) @binding(4) var<storage, read_write> vc: array<u32>;

@compute @workgroup_size(64)
fn kv_append(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let idx = linear_wg(wid, nwg) * 64u + li;
    let per_tok = p.n_kv * p.ld2;
    if (idx >= p.n_tok * per_tok) {
        return;
    }
    let t = idx / per_tok;
    let hw = idx % per_tok;
    let h = hw / p.ld2;
    let d = 2u * (hw % p.ld2);
    var slot = p.slot;
    var pos = p.pos0 + t;
    if (p.use_table == 1u) {
        let e = p.tab[t / 2u];
        if (t % 2u == 0u) { slot = e.x; pos = e.y; } else { slot = e.z; pos = e.w; }
    }
    let kb = p.k_off + t * p.k_stride + h * p.head_dim;
    let vb = p.v_off + t * p.v_stride + h * p.head_dim;
    var kv = vec2<f32>(0.0);
    var vv = vec2<f32>(0.0);
    if (d < p.head_dim) {
        kv.x = k[kb + d];
        vv.x = v[vb + d];
    }
    if (d + 1u < p.head_dim) {
        kv.y = k[kb + d + 1u];
        vv.y = v[vb + d + 1u];
    }
    let dst = (slot * p.cap + pos) * per_tok + hw;
    kc[dst] = pack2x16float(kv);
    vc[dst] = pack2x16float(vv);
}
