// Included by the chunked-SSD product stages (mamba_ssd_state.wgsl, mamba_ssd_out.wgsl), which
// define TR (rows), TC (columns) and BK (staged K block) before `#include ssd_tile`: the
// invocation's accumulators, the two staged operands and one K-block of their product.

// The invocation's accumulators: MB × MB blocks of 4 rows × 4 columns (mat4x4 columns are
// the 4 columns, each a vec4 over the 4 rows). Named fields, not an array: CPU adapters keep
// arrays in memory when indexed in loops.
#if CPU
const MB: u32 = 4u;   // 16 × 16 outputs per invocation: fewer shared-memory reads per FMA
struct Acc {
    m0: mat4x4<f32>,
    m1: mat4x4<f32>,
    m2: mat4x4<f32>,
    m3: mat4x4<f32>,
    m4: mat4x4<f32>,
    m5: mat4x4<f32>,
    m6: mat4x4<f32>,
    m7: mat4x4<f32>,
    m8: mat4x4<f32>,
    m9: mat4x4<f32>,
    m10: mat4x4<f32>,
    m11: mat4x4<f32>,
    m12: mat4x4<f32>,
    m13: mat4x4<f32>,
    m14: mat4x4<f32>,
    m15: mat4x4<f32>,
}
fn mma(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) {
    (*acc).m0 += outer(a0, b0);
    (*acc).m1 += outer(a0, b1);
    (*acc).m2 += outer(a0, b2);
    (*acc).m3 += outer(a0, b3);
    (*acc).m4 += outer(a1, b0);
    (*acc).m5 += outer(a1, b1);
    (*acc).m6 += outer(a1, b2);
    (*acc).m7 += outer(a1, b3);
    (*acc).m8 += outer(a2, b0);
    (*acc).m9 += outer(a2, b1);
    (*acc).m10 += outer(a2, b2);
    (*acc).m11 += outer(a2, b3);
    (*acc).m12 += outer(a3, b0);
    (*acc).m13 += outer(a3, b1);
    (*acc).m14 += outer(a3, b2);
    (*acc).m15 += outer(a3, b3);
}
fn acc_get(acc: ptr<function, Acc>, i: u32) -> mat4x4<f32> {
    switch i {
        case 0u: { return (*acc).m0; }
        case 1u: { return (*acc).m1; }
        case 2u: { return (*acc).m2; }
        case 3u: { return (*acc).m3; }
        case 4u: { return (*acc).m4; }
        case 5u: { return (*acc).m5; }
        case 6u: { return (*acc).m6; }
        case 7u: { return (*acc).m7; }
        case 8u: { return (*acc).m8; }
        case 9u: { return (*acc).m9; }
        case 10u: { return (*acc).m10; }
        case 11u: { return (*acc).m11; }
        case 12u: { return (*acc).m12; }
        case 13u: { return (*acc).m13; }
        case 14u: { return (*acc).m14; }
        default: { return (*acc).m15; }
    }
}
// Scales the rows of block row a by f_a.
fn acc_scale(acc: ptr<function, Acc>, f0: vec4<f32>, f1: vec4<f32>, f2: vec4<f32>, f3: vec4<f32>) {
    (*acc).m0 = mat4x4<f32>((*acc).m0[0] * f0, (*acc).m0[1] * f0, (*acc).m0[2] * f0, (*acc).m0[3] * f0);
    (*acc).m1 = mat4x4<f32>((*acc).m1[0] * f0, (*acc).m1[1] * f0, (*acc).m1[2] * f0, (*acc).m1[3] * f0);
    (*acc).m2 = mat4x4<f32>((*acc).m2[0] * f0, (*acc).m2[1] * f0, (*acc).m2[2] * f0, (*acc).m2[3] * f0);
    (*acc).m3 = mat4x4<f32>((*acc).m3[0] * f0, (*acc).m3[1] * f0, (*acc).m3[2] * f0, (*acc).m3[3] * f0);
    (*acc).m4 = mat4x4<f32>((*acc).m4[0] * f1, (*acc).m4[1] * f1, (*acc).m4[2] * f1, (*acc).m4[3] * f1);
    (*acc).m5 = mat4x4<f32>((*acc).m5[0] * f1, (*acc).m5[1] * f1, (*acc).m5[2] * f1, (*acc).m5[3] * f1);
    (*acc).m6 = mat4x4<f32>((*acc).m6[0] * f1, (*acc).m6[1] * f1, (*acc).m6[2] * f1, (*acc).m6[3] * f1);
    (*acc).m7 = mat4x4<f32>((*acc).m7[0] * f1, (*acc).m7[1] * f1, (*acc).m7[2] * f1, (*acc).m7[3] * f1);
    (*acc).m8 = mat4x4<f32>((*acc).m8[0] * f2, (*acc).m8[1] * f2, (*acc).m8[2] * f2, (*acc).m8[3] * f2);
    (*acc).m9 = mat4x4<f32>((*acc).m9[0] * f2, (*acc).m9[1] * f2, (*acc).m9[2] * f2, (*acc).m9[3] * f2);
    (*acc).m10 = mat4x4<f32>((*acc).m10[0] * f2, (*acc).m10[1] * f2, (*acc).m10[2] * f2, (*acc).m10[3] * f2);
    (*acc).m11 = mat4x4<f32>((*acc).m11[0] * f2, (*acc).m11[1] * f2, (*acc).m11[2] * f2, (*acc).m11[3] * f2);
    (*acc).m12 = mat4x4<f32>((*acc).m12[0] * f3, (*acc).m12[1] * f3, (*acc).m12[2] * f3, (*acc).m12[3] * f3);
    (*acc).m13 = mat4x4<f32>((*acc).m13[0] * f3, (*acc).m13[1] * f3, (*acc).m13[2] * f3, (*acc).m13[3] * f3);
    (*acc).m14 = mat4x4<f32>((*acc).m14[0] * f3, (*acc).m14[1] * f3, (*acc).m14[2] * f3, (*acc).m14[3] * f3);
    (*acc).m15 = mat4x4<f32>((*acc).m15[0] * f3, (*acc).m15[1] * f3, (*acc).m15[2] * f3, (*acc).m15[3] * f3);
}
#else
const MB: u32 = 2u;   // 8 × 8 outputs per invocation
struct Acc {
    m0: mat4x4<f32>,
    m1: mat4x4<f32>,
    m2: mat4x4<f32>,
    m3: mat4x4<f32>,
}
fn mma(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
    (*acc).m0 += outer(a0, b0);
    (*acc).m1 += outer(a0, b1);
    (*acc).m2 += outer(a1, b0);
    (*acc).m3 += outer(a1, b1);
}
fn acc_get(acc: ptr<function, Acc>, i: u32) -> mat4x4<f32> {
    switch i {
        case 0u: { return (*acc).m0; }
        case 1u: { return (*acc).m1; }
        case 2u: { return (*acc).m2; }
        default: { return (*acc).m3; }
    }
}
fn acc_scale(acc: ptr<function, Acc>, f0: vec4<f32>, f1: vec4<f32>) {
    (*acc).m0 = mat4x4<f32>((*acc).m0[0] * f0, (*acc).m0[1] * f0, (*acc).m0[2] * f0, (*acc).m0[3] * f0);
    (*acc).m1 = mat4x4<f32>((*acc).m1[0] * f0, (*acc).m1[1] * f0, (*acc).m1[2] * f0, (*acc).m1[3] * f0);
    (*acc).m2 = mat4x4<f32>((*acc).m2[0] * f1, (*acc).m2[1] * f1, (*acc).m2[2] * f1, (*acc).m2[3] * f1);
    (*acc).m3 = mat4x4<f32>((*acc).m3[0] * f1, (*acc).m3[1] * f1, (*acc).m3[2] * f1, (*acc).m3[3] * f1);
}
#endif
const WR: u32 = TR / (4u * MB);   // invocations along rows
const WC: u32 = TC / (4u * MB);   // invocations along columns
const WG: u32 = WR * WC;
const R4: u32 = TR / 4u;
const C4: u32 = TC / 4u;
var<workgroup> sa: array<vec4<f32>, BK * R4>;   // [BK][R4] left operand, 4 rows per vec4
var<workgroup> sb: array<vec4<f32>, BK * C4>;   // [BK][C4] right operand, 4 columns per vec4

// Lanes of a vec4 starting at index `base` that are below `lim`.
fn below(base: u32, lim: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(lim);
}

fn outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(a * b.x, a * b.y, a * b.z, a * b.w);
}

// One K-block of the staged product into the invocation's accumulators: its rows are the vec4
// groups ty + WR·a, its columns the groups tx + WC·b.
fn block(acc: ptr<function, Acc>, ty: u32, tx: u32) {
    for (var k = 0u; k < BK; k++) {
        let a = k * R4 + ty;
        let b = k * C4 + tx;
#if CPU
        mma(acc, sa[a], sa[a + WR], sa[a + 2u * WR], sa[a + 3u * WR],
            sb[b], sb[b + WC], sb[b + 2u * WC], sb[b + 3u * WC]);
#else
        mma(acc, sa[a], sa[a + WR], sb[b], sb[b + WC]);
#endif
    }
}
