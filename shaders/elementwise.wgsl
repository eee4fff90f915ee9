// Small element-wise kernels. One invocation per output element; grids folded by the host.

struct Params {
    n: u32,       // elements (axpy) or features per token (swiglu)
    n_tok: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn gid(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return linear_wg(wid, nwg) * 256u + li;
}

// out[i] = beta · out[i] + alpha · a[i]   for i < n
@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = gid(wid, nwg, li);
    if (i < p.n) {
        out[i] = p.beta * out[i] + p.alpha * a[i];
    }
}

// SwiGLU on a fused gate|up projection: a is [T, 2n] (gate first), out is [T, n].
//   out[t, i] = silu(a[t, i]) · a[t, n + i]
@compute @workgroup_size(256)
fn swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = gid(wid, nwg, li);
    if (i < p.n * p.n_tok) {
        let t = i / p.n;
        let c = i % p.n;
        out[i] = silu(a[t * 2u * p.n + c]) * a[t * 2u * p.n + p.n + c];
    }
}
