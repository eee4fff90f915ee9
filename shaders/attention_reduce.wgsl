// Decode attention, step 2 of 2: merges the per-chunk partials of attention_decode.wgsl.
// For sequence b and query head a with chunks c (max m_c, sum l_c, unnormalised acc_c):
//   M = max_c m_c,  out = Σ_c e^(m_c − M) acc_c / Σ_c e^(m_c − M) l_c
// One workgroup per (head, sequence).

struct Params {
    n_q: u32,
    head_dim: u32,
    ld: u32,           // floats per partial accumulator
    chunk: u32,        // keys per chunk
    n_chunks: u32,     // partial slots per (sequence, head)
    ml_off: u32,
    o_stride: u32,
    o_off: u32,
    tab: array<vec4<u32>, 16>,  // sequence b: (slot, len) = tab[b / 2].xy or .zw
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;  // [B, o_stride], head a at a·hd

const WG: u32 = 64u;
const NEG: f32 = -1.0e30;

@compute @workgroup_size(64)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let a = wid.x;
    let b = wid.y;
    let e = p.tab[b / 2u];
    let len = select(e.y, e.w, b % 2u == 1u);
    let nc = (len + p.chunk - 1u) / p.chunk;
    let base = (b * p.n_q + a) * p.n_chunks;
    var m = NEG;
    for (var c = 0u; c < nc; c++) {
        m = max(m, part[p.ml_off + 2u * (base + c)]);
    }
    var l = 0.0;
    for (var c = 0u; c < nc; c++) {
        l += exp(part[p.ml_off + 2u * (base + c)] - m) * part[p.ml_off + 2u * (base + c) + 1u];
    }
    let inv = 1.0 / l;
    for (var d = li; d < p.head_dim; d += WG) {
        var s = 0.0;
        for (var c = 0u; c < nc; c++) {
            s += exp(part[p.ml_off + 2u * (base + c)] - m) * part[(base + c) * p.ld + d];
        }
        o[p.o_off + b * p.o_stride + a * p.head_dim + d] = s * inv;
    }
}
