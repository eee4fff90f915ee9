// Prefill-path grouped expert products over the routing of moe_route.wgsl. One workgroup per
// (row tile, expert tile): an expert tile is up to BM consecutive sorted positions of one expert;
// the grid's y covers an upper bound of the tiles in this part and surplus workgroups exit.
// Tiling as in matmul.wgsl (64 positions × 64 rows, K in steps of 16, 64 invocations with 8×8
// outputs each, vec4 reads of padded row-major tiles).
//   GLU = 1 (input_linear): X row of position pos = token sorted[pos] / k (gathered),
//           act[pos, n] = silu(W1_e[n] · x) · (W1_e[rows + n] · x)           (y row = pos)
//   GLU = 0 (output_linear): X row = act[pos],
//           ys[sorted[pos], n] = W2_e[n] · act[pos]                          (y row = assignment)

#if GLU
const GLU: u32 = 1u;
#else
const GLU: u32 = 0u;
#endif

struct Params {
    rows: u32,       // output rows per expert (I for GLU, H for the down product)
    cols: u32,       // K
    ld8: u32,        // weight row stride in units of 8 halves
    e0: u32,         // experts [e0, e1) are in this part
    e1: u32,
    n_experts: u32,  // E, to find the sections of `route`
    n_assign: u32,   // T·k
    top_k: u32,
    x_stride: u32,
    x_off: u32,
    y_stride: u32,
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Packed u32 pairs on every path: the widest load per byte (see matvec.wgsl).
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
fn w8(i: u32) -> array<vec4<f32>, 2> {
    return unpack8(w[i]);
}
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> route: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const PITCH: u32 = 5u;  // vec4 per tile row: BK / 4 + 1 of padding
#if CPU
// CPU adapters: 16 positions × 8 rows per invocation (×2 for GLU), fewer loads per FMA.
const MT: u32 = 16u;
#else
const MT: u32 = 8u;     // positions per invocation
#endif
const NT: u32 = 8u;     // rows per invocation
const TY: u32 = BM / MT;
const TX: u32 = BN / NT;
const WG: u32 = TX * TY;
const NONE: u32 = 0xffffffffu;

var<workgroup> xs: array<vec4<f32>, 320>;   // [BM][PITCH]
var<workgroup> wsg: array<vec4<f32>, 320>;  // [BN][PITCH] gate (or the only) weights
var<workgroup> wsu: array<vec4<f32>, 320>;  // [BN][PITCH] up weights (GLU)
var<workgroup> xrow: array<u32, BM>;   // first float of each position's X row, or NONE
var<workgroup> yrow: array<u32, BM>;   // first float of each position's Y row, or NONE
var<workgroup> tile: array<u32, 4>;    // valid, expert, first position, end position

// Columns k .. k+3 of the X row starting at float `xr` (zero for no row or past the end).
fn load_x4(xr: u32, k: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (xr == NONE) { return v; }
    for (var i = 0u; i < 4u; i++) {
        if (k + i < p.cols) { v[i] = x[xr + k + i]; }
    }
    return v;
}

// 8 weights of row `n` (within the expert) at column block `kb`, zero past the last row.
fn wload(base: u32, n: u32, kb: u32) -> array<vec4<f32>, 2> {
    if (n < p.rows && kb < p.ld8) { return w8(base + n * p.ld8 + kb); }
    return array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn moe_mm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let sorted0 = 2u * p.n_experts + 2u;
    if (li == 0u) {
        let toff0 = p.n_experts + 1u;
        let g = route[toff0 + p.e0] + wid.y;
        tile[0] = 0u;
        if (g < route[toff0 + p.e1]) {
            let e = route[sorted0 + p.n_assign + g];
            tile[0] = 1u;
            tile[1] = e;
            tile[2] = route[e] + (g - route[toff0 + e]) * BM;
            tile[3] = route[e + 1u];
        }
    }
    let t = workgroupUniformLoad(&tile);
    if (t[0] == 0u) { return; }
    let e = t[1];
    let start = t[2];
    let end = t[3];
    for (var q = li; q < BM; q += WG) {
        let pos = start + q;
        xrow[q] = NONE;
        yrow[q] = NONE;
        if (pos < end) {
            let a = route[sorted0 + pos];
            if (GLU == 1u) {
                xrow[q] = p.x_off + (a / p.top_k) * p.x_stride;
                yrow[q] = pos * p.y_stride;
            } else {
                xrow[q] = p.x_off + pos * p.x_stride;
                yrow[q] = a * p.y_stride;
            }
        }
    }
    workgroupBarrier();

    let n0 = wid.x * BN;
    let wbase = (e - p.e0) * p.rows * (1u + GLU) * p.ld8;
    let tx = li % TX;
    let ty = li / TX;
    var g: array<array<f32, NT>, MT>;
    var u: array<array<f32, NT>, MT>;
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
        for (var i = 0u; i < BM * 4u / WG; i++) {
            let idx = li + WG * i;
            let tt = idx / 4u;
            let kq = idx % 4u;
            xs[tt * PITCH + kq] = load_x4(xrow[tt], k0 + kq * 4u);
        }
        for (var i = 0u; i < BN * 2u / WG; i++) {
            let idx = li + WG * i;
            let nn = idx / 2u;
            let h = idx % 2u;
            let kb = k0 / 8u + h;
            let q = wload(wbase, n0 + nn, kb);
            wsg[nn * PITCH + 2u * h] = q[0];
            wsg[nn * PITCH + 2u * h + 1u] = q[1];
            if (GLU == 1u) {
                let qu = wload(wbase + p.rows * p.ld8, n0 + nn, kb);
                wsu[nn * PITCH + 2u * h] = qu[0];
                wsu[nn * PITCH + 2u * h + 1u] = qu[1];
            }
        }
        workgroupBarrier();
        for (var kq = 0u; kq < 4u; kq++) {
            var a: array<vec4<f32>, MT>;
            for (var i = 0u; i < MT; i++) { a[i] = xs[(ty + TY * i) * PITCH + kq]; }
            for (var j = 0u; j < NT; j++) {
                let bg = wsg[(tx + TX * j) * PITCH + kq];
                for (var i = 0u; i < MT; i++) { g[i][j] += dot(a[i], bg); }
                if (GLU == 1u) {
                    let bu = wsu[(tx + TX * j) * PITCH + kq];
                    for (var i = 0u; i < MT; i++) { u[i][j] += dot(a[i], bu); }
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < MT; i++) {
        let yr = yrow[ty + TY * i];
        if (yr == NONE) { continue; }
        for (var j = 0u; j < NT; j++) {
            let n = n0 + tx + TX * j;
            if (n < p.rows) {
                var v = g[i][j];
                if (GLU == 1u) { v = v / (1.0 + exp(-v)) * u[i][j]; }
                y[yr + n] = v;
            }
        }
    }
}
