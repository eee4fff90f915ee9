// Included by the tiled products (matmul.wgsl, moe_mm.wgsl) once they have set BM and BN
// (tokens or positions, and weight rows, per tile), BK (columns per K step) and MT × NT (the
// outputs of one invocation), and declared the X tile `xs`: the geometry that follows, and the
// X tile store. Both tiles are row-major with a pitch of one vec4 more than a row.

const KQ: u32 = BK / 4u;       // vec4 per tile row
const KB: u32 = BK / 8u;       // blocks of 8 halves per weight tile row
const PITCH: u32 = KQ + 1u;    // one vec4 of padding
const TY: u32 = BM / MT;       // invocations along tokens
const TX: u32 = BN / NT;       // invocations along rows
const WG: u32 = TX * TY;
const XL: u32 = BM * KQ / WG;  // X tile vec4 each invocation loads per step
const WL: u32 = BN * KB / WG;  // weight blocks each invocation loads per step (per matrix)

fn x_put(idx: u32, v: vec4<f32>) {
    xs[(idx / KQ) * PITCH + idx % KQ] = v;
}
