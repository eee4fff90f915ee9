// Slot maintenance of a Mamba state buffer (conv or SSM state), one invocation per float:
// zero_range zero-fills `n` floats from `offset` (a fresh sequence); copy_range copies `n`
// floats from `src` to `offset` within the same buffer (forking a sequence: wgpu has no
// buffer-to-itself copy). The two ranges must not overlap.

struct Params {
    offset: u32,
    n: u32,
    src: u32,
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> buf: array<f32>;

@compute @workgroup_size(256)
fn zero_range(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = linear_wg(wid, nwg) * 256u + li;
    if (i < p.n) {
        buf[p.offset + i] = 0.0;
    }
}

@compute @workgroup_size(256)
fn copy_range(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = linear_wg(wid, nwg) * 256u + li;
    if (i < p.n) {
        buf[p.offset + i] = buf[p.src + i];
    }
}
