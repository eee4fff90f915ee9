// Helpers shared by every kernel; prepended to each shader by the engine's preprocessor.

// Linear workgroup index of a grid folded into (x, y) by the host (see `gpu::grid`).
fn linear_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

fn silu4(v: vec4<f32>) -> vec4<f32> {
    return v / (1.0 + exp(-v));
}

// Eight f16 values packed in a vec4<u32> (low half first), as two f32 vectors.
fn unpack8(q: vec4<u32>) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
        vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)));
}
