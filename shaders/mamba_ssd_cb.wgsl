// Chunked SSD, stage 2: CB[c, g, i, j] = Σ_n C[t0+i, g, n] · B[t0+j, g, n] within each chunk
// (t0 = c·Q). Computed once per (chunk, group) and shared by the group's heads. Only tiles on or
// below the diagonal are computed (the output kernel reads j ≤ i only); entries with j > i inside
// a diagonal tile and rows past the chunk's end hold unspecified values.
// Tiles of 64×64 like the matmul kernel: 256 invocations, 4×4 outputs each, N in steps of 16.

struct Params {
    n_tok: u32,
    chunk: u32,       // Q
    n_groups: u32,
    d_state: u32,     // N
    conv_dim: u32,    // row stride of the activated xBC
    d_inner: u32,     // offset of B in a row
    tiles: u32,       // tiles per side: ceil(Q / 64)
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xa: array<f32>;         // [T, conv_dim]
@group(0) @binding(2) var<storage, read_write> cb: array<f32>;   // [nC, G, Q, Q]

const BT: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> cs: array<f32, 1024>;  // [BK][BT] rows i
var<workgroup> bs: array<f32, 1024>;  // [BK][BT] columns j

@compute @workgroup_size(256)
fn ssd_cb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let it = wid.x / p.tiles;
    let jt = wid.x % p.tiles;
    if (jt > it) { return; }   // above the diagonal: never read
    let c = wid.y;
    let g = wid.z;
    let t0 = c * p.chunk;
    let len = min(p.chunk, p.n_tok - t0);
    let i0 = it * BT;
    let j0 = jt * BT;
    let tx = li % 16u;
    let ty = li / 16u;
    let b_off = p.d_inner + g * p.d_state;
    let c_off = p.d_inner + p.n_groups * p.d_state + g * p.d_state;
    var acc: array<array<f32, 4>, 4>;
    // Loader: invocation li fills 4 consecutive n of one row of each tile.
    let lr = li / 4u;
    let lk = (li % 4u) * 4u;
    for (var n0 = 0u; n0 < p.d_state; n0 += BK) {
        for (var q = 0u; q < 4u; q++) {
            let n = n0 + lk + q;
            var cv = 0.0;
            var bv = 0.0;
            if (n < p.d_state) {
                if (i0 + lr < len) { cv = xa[(t0 + i0 + lr) * p.conv_dim + c_off + n]; }
                if (j0 + lr < len) { bv = xa[(t0 + j0 + lr) * p.conv_dim + b_off + n]; }
            }
            cs[(lk + q) * BT + lr] = cv;
            bs[(lk + q) * BT + lr] = bv;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var q = 0u; q < 4u; q++) {
                av[q] = cs[k * BT + ty + 16u * q];
                bv[q] = bs[k * BT + tx + 16u * q];
            }
            for (var x = 0u; x < 4u; x++) {
                for (var z = 0u; z < 4u; z++) {
                    acc[x][z] += av[x] * bv[z];
                }
            }
        }
        workgroupBarrier();
    }
    let base = (c * p.n_groups + g) * p.chunk;
    for (var x = 0u; x < 4u; x++) {
        let i = i0 + ty + 16u * x;
        for (var z = 0u; z < 4u; z++) {
            let j = j0 + tx + 16u * z;
            if (i < p.chunk && j < p.chunk) {
                cb[(base + i) * p.chunk + j] = acc[x][z];
            }
        }
    }
}
