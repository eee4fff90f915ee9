// Included by argmax.wgsl and sampling.wgsl, which define WG and declare the workgroup arrays
// `red_f: array<f32, WG>` and `red_u: array<u32, WG>`: reductions over the workgroup whose
// result every invocation gets (the arrays are free again on return).

struct Top {
    v: f32,
    id: u32,
}

// The largest v and its id i, the lowest id on ties (NaN never wins: it compares false).
fn argmax_wg(li: u32, v: f32, i: u32) -> Top {
    red_f[li] = v;
    red_u[li] = i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            let ov = red_f[li + s];
            let oi = red_u[li + s];
            if (ov > red_f[li] || (ov == red_f[li] && oi < red_u[li])) {
                red_f[li] = ov;
                red_u[li] = oi;
            }
        }
        workgroupBarrier();
    }
    let top = Top(red_f[0], red_u[0]);
    workgroupBarrier();
    return top;
}

// Σ v over the workgroup, uniform (usable in the control flow around barriers).
fn sum_u(li: u32, v: u32) -> u32 {
    red_u[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { red_u[li] += red_u[li + s]; }
        workgroupBarrier();
    }
    let r = workgroupUniformLoad(&red_u[0]);
    workgroupBarrier();
    return r;
}
