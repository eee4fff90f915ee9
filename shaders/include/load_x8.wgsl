// Included by the kernels that read 8 activations per load (matvec.wgsl, moe_matvec.wgsl,
// matmul.wgsl's matmul_rows and moe_mm.wgsl's moe_mm_rows), which bind `x` as
// `array<vec4<f32>>` with X4, else `array<f32>`, and have `p.cols`; and their product with 8
// weights.

#if X4
fn load_x8(base: u32, c: u32) -> array<vec4<f32>, 2> {
    let i = (base + c) / 4u;
    return array<vec4<f32>, 2>(x[i], x[i + 1u]);
}
#else
fn load_x8(base: u32, c: u32) -> array<vec4<f32>, 2> {
    if (c + 8u <= p.cols) {
        return array<vec4<f32>, 2>(
            vec4<f32>(x[base + c], x[base + c + 1u], x[base + c + 2u], x[base + c + 3u]),
            vec4<f32>(x[base + c + 4u], x[base + c + 5u], x[base + c + 6u], x[base + c + 7u]));
    }
    // Tail: W is zero-padded, but x past `cols` is another token's data (or poison).
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (c + i < p.cols) { v[i] = x[base + c + i]; }
    }
    return array<vec4<f32>, 2>(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
#endif

// Σ of 8 (unpacked) weights times 8 activations.
fn dot8f(wv: array<vec4<f32>, 2>, xv: array<vec4<f32>, 2>) -> f32 {
    return dot(wv[0], xv[0]) + dot(wv[1], xv[1]);
}
