// Rotary position embedding, HF "rotate-half" pairing, in place on n_tok rows of
// n_heads × head_dim floats. Pair i < h = head_dim / 2 of a token at position pos:
//   angle = f32(pos) · inv_freq[i]        (both f32, as transformers computes it)
//   x'[i]     = x[i]     · cos − x[i + h] · sin
//   x'[i + h] = x[i + h] · cos + x[i]     · sin
// One invocation per (token, head, pair).

struct Params {
    n_tok: u32,
    n_heads: u32,
    half_dim: u32,       // head_dim / 2
    head_dim: u32,
    stride: u32,         // floats between tokens
    offset: u32,         // first float of token 0
    pos0: u32,           // position of token 0 when !use_table (token t is at pos0 + t)
    use_table: u32,      // 1: token t is at pos[t / 4][t % 4] (decode: one token per sequence)
    pos: array<vec4<u32>, 8>,
    inv_freq: array<vec4<f32>, 32>,  // θ^(−2i/hd) as f32, computed on the host
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

// π/2 split for Cody–Waite reduction: C1..C4 have 5 significant bits, so k · Ci is exact for
// |k| < 2^19 (angles up to ~800k); C5 is the f32 remainder.
const C1: f32 = 1.5625;
const C2: f32 = 0.00830078125;
const C3: f32 = -4.5299530029296875e-06;
const C4: f32 = 7.450580596923828e-08;
const C5: f32 = 9.92093629470503e-10;

// (cos a, sin a) to ~1 ulp after reduction. The builtins are not enough: WebGPU/Vulkan only
// promise 2^-11 absolute error inside [−π, π] and nothing outside, while RoPE angles reach
// pos · 1 rad (1e5 rad at long context).
fn cos_sin(a: f32) -> vec2<f32> {
    let k = round(a * 0.63661977236758134);
    var r = a - k * C1;
    r = r - k * C2;
    r = r - k * C3;
    r = r - k * C4;
    r = r - k * C5;
    let r2 = r * r;
    // Minimax polynomials on [−π/4, π/4] (Cephes sinf / cosf).
    let s = r + r * r2 * (-1.6666654611e-1 + r2 * (8.3321608736e-3 + r2 * -1.9515295891e-4));
    let c = 1.0 - 0.5 * r2
        + r2 * r2 * (4.166664568298827e-2 + r2 * (-1.388731625493765e-3 + r2 * 2.443315711809948e-5));
    // a = kπ/2 + r: rotate (c, s) by the quadrant k mod 4.
    switch (u32(i32(k) & 3)) {
        case 0u: { return vec2<f32>(c, s); }
        case 1u: { return vec2<f32>(-s, c); }
        case 2u: { return vec2<f32>(-c, -s); }
        default: { return vec2<f32>(s, -c); }
    }
}

@compute @workgroup_size(64)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let idx = linear_wg(wid, nwg) * 64u + li;
    let per_tok = p.n_heads * p.half_dim;
    if (idx >= p.n_tok * per_tok) {
        return;
    }
    let t = idx / per_tok;
    let h = (idx % per_tok) / p.half_dim;
    let i = idx % p.half_dim;
    var pos = p.pos0 + t;
    if (p.use_table == 1u) {
        pos = p.pos[t / 4u][t % 4u];
    }
    let cs = cos_sin(f32(pos) * p.inv_freq[i / 4u][i % 4u]);
    let lo = p.offset + t * p.stride + h * p.head_dim + i;
    let hi = lo + p.half_dim;
    let a = x[lo];
    let b = x[hi];
    x[lo] = a * cs.x - b * cs.y;
    x[hi] = b * cs.x + a * cs.y;
}
