// Bandwidth probes for `granite bench`. read_all: every invocation streams a slice of a large
// buffer with 16-byte loads and writes one word, so the bytes moved are ~all reads. The slice
// is strided (neighbouring invocations read neighbouring blocks: GPUs coalesce them) or, with
// p.runs, one contiguous run (how CPU drivers read fastest: lavapipe ~1.7× with 8 KiB runs).
// copy_all: the same slices copied to a second buffer, for adapters whose buffer-to-buffer
// copy is slower than their shaders (NVIDIA's Vulkan copy moved ~0.8 of an H200's ~4 TB/s).

struct Params {
    n_vec: u32,      // vec4<u32> elements in the buffer
    per_thread: u32, // elements each invocation reads
    runs: u32,       // read_all: 1 = each invocation reads a contiguous run
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> sink: array<u32>;  // [invocations]
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<u32>>;  // copy_all: [n_vec]

@compute @workgroup_size(256)
fn read_all(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let g = linear_wg(wid, nwg) * 256u + li;
    var first = g;
    var step = nwg.x * nwg.y * 256u;
    if (p.runs == 1u) {
        first = g * p.per_thread;
        step = 1u;
    }
    var acc = vec4<u32>(0u);
    for (var i = 0u; i < p.per_thread; i++) {
        let idx = first + i * step;
        if (idx < p.n_vec) { acc ^= src[idx]; }
    }
    sink[g] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}

@compute @workgroup_size(256)
fn copy_all(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let g = linear_wg(wid, nwg) * 256u + li;
    let stride = nwg.x * nwg.y * 256u;
    for (var i = 0u; i < p.per_thread; i++) {
        let idx = g + i * stride;
        if (idx < p.n_vec) { dst[idx] = src[idx]; }
    }
}
