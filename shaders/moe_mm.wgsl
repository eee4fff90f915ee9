// Prefill-path grouped expert products over the routing of moe_route.wgsl. One workgroup per
// (row tile, expert tile): an expert tile is up to BM consecutive sorted positions of one expert;
// the grid's y covers an upper bound of the tiles in this part and surplus workgroups exit.
// Tiling as in matmul.wgsl (64 positions × 64 rows, K in steps of 16, 64 invocations with 8×8
// outputs each, vec4 reads of padded row-major tiles; WIDE on GPUs: 256 invocations of 4×4, K
// in steps of 32, the next step's global loads issued before this step's arithmetic).
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
#if X4
// cols % 8 == 0 and x_off, x_stride multiples of 4: whole vec4 loads.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(3) var<storage, read> route: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
#if WIDE
const BK: u32 = 32u;
const MT: u32 = 4u;     // positions per invocation
const NT: u32 = 4u;     // rows per invocation
#else
const BK: u32 = 16u;
#if CPU
// CPU adapters: 16 positions × 8 rows per invocation (×2 for GLU), fewer loads per FMA.
const MT: u32 = 16u;
#else
const MT: u32 = 8u;
#endif
const NT: u32 = 8u;
#endif
#include tile_geometry
const NONE: u32 = 0xffffffffu;

var<workgroup> xs: array<vec4<f32>, BM * PITCH>;
var<workgroup> wsg: array<vec4<f32>, BN * PITCH>;  // gate (or the only) weights
var<workgroup> wsu: array<vec4<f32>, BN * PITCH>;  // up weights (GLU)
var<workgroup> xrow: array<u32, BM>;   // first float of each position's X row, or NONE
var<workgroup> yrow: array<u32, BM>;   // first float of each position's Y row, or NONE
var<workgroup> tile: array<u32, 4>;    // valid, expert, first position, end position

// Columns k .. k+3 of the X row starting at float `xr` (zero for no row or past the end).
fn load_x4(xr: u32, k: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (xr == NONE) { return v; }
#if X4
    if (k < p.cols) { v = x[(xr + k) / 4u]; }
#else
    for (var i = 0u; i < 4u; i++) {
        if (k + i < p.cols) { v[i] = x[xr + k + i]; }
    }
#endif
    return v;
}

// 8 weights of row `n` (within the expert) at column block `kb`, zero past the last row.
fn wload(base: u32, n: u32, kb: u32) -> vec4<u32> {
    if (n < p.rows && kb < p.ld8) { return w[base + n * p.ld8 + kb]; }
    return vec4<u32>(0u);
}

// Vec4 `idx` of the X tile of step k0; consecutive indices read consecutive 16 bytes of a row.
fn x_get(idx: u32, k0: u32) -> vec4<f32> {
    return load_x4(xrow[idx / KQ], k0 + (idx % KQ) * 4u);
}

// Block `idx` of the weight tile of step k0 (rows from n0): gate and up weights.
fn w_get(base: u32, n0: u32, idx: u32, k0: u32) -> array<vec4<u32>, 2> {
    let n = n0 + idx / KB;
    let kb = k0 / 8u + idx % KB;
    var q = array<vec4<u32>, 2>(wload(base, n, kb), vec4<u32>(0u));
    if (GLU == 1u) { q[1] = wload(base + p.rows * p.ld8, n, kb); }
    return q;
}

fn w_put(idx: u32, q: array<vec4<u32>, 2>) {
    let o = (idx / KB) * PITCH + 2u * (idx % KB);
    let g = unpack8(q[0]);
    wsg[o] = g[0];
    wsg[o + 1u] = g[1];
    if (GLU == 1u) {
        let u = unpack8(q[1]);
        wsu[o] = u[0];
        wsu[o + 1u] = u[1];
    }
}

// Where the sorted assignments start in `route` (after its position and tile offsets; see
// moe_route.wgsl).
fn sorted0() -> u32 {
    return 2u * p.n_experts + 2u;
}

// The expert tile of this workgroup (grid y = its index among this part's tiles): valid,
// expert, first position, end of the expert's positions. Every invocation must call it.
fn expert_tile(li: u32, index: u32) -> array<u32, 4> {
    if (li == 0u) {
        let toff0 = p.n_experts + 1u;
        let g = route[toff0 + p.e0] + index;
        tile[0] = 0u;
        if (g < route[toff0 + p.e1]) {
            let e = route[sorted0() + p.n_assign + g];
            tile[0] = 1u;
            tile[1] = e;
            tile[2] = route[e] + (g - route[toff0 + e]) * BM;
            tile[3] = route[e + 1u];
        }
    }
    return workgroupUniformLoad(&tile);
}

// First floats of the X and Y rows of sorted position `pos`.
fn rows_of(pos: u32) -> vec2<u32> {
    let a = route[sorted0() + pos];
    if (GLU == 1u) {
        return vec2<u32>(p.x_off + (a / p.top_k) * p.x_stride, pos * p.y_stride);
    }
    return vec2<u32>(p.x_off + pos * p.x_stride, a * p.y_stride);
}

@compute @workgroup_size(WG)
fn moe_mm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = expert_tile(li, wid.y);
    if (t[0] == 0u) { return; }
    let e = t[1];
    let start = t[2];
    let end = t[3];
    for (var q = li; q < BM; q += WG) {
        let pos = start + q;
        xrow[q] = NONE;
        yrow[q] = NONE;
        if (pos < end) {
            let xy = rows_of(pos);
            xrow[q] = xy.x;
            yrow[q] = xy.y;
        }
    }
    workgroupBarrier();

    let n0 = wid.x * BN;
    let wbase = (e - p.e0) * p.rows * (1u + GLU) * p.ld8;
    let tx = li % TX;
    let ty = li / TX;
    var g: array<array<f32, NT>, MT>;
    var u: array<array<f32, NT>, MT>;
#if WIDE
    // This step's operands, loaded from global memory during the previous step's arithmetic.
    var xr: array<vec4<f32>, XL>;
    var wr: array<array<vec4<u32>, 2>, WL>;
    for (var i = 0u; i < XL; i++) { xr[i] = x_get(li + WG * i, 0u); }
    for (var i = 0u; i < WL; i++) { wr[i] = w_get(wbase, n0, li + WG * i, 0u); }
#endif
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
#if WIDE
        for (var i = 0u; i < XL; i++) { x_put(li + WG * i, xr[i]); }
        for (var i = 0u; i < WL; i++) { w_put(li + WG * i, wr[i]); }
        workgroupBarrier();
        let k1 = k0 + BK;
        if (k1 < p.cols) {
            for (var i = 0u; i < XL; i++) { xr[i] = x_get(li + WG * i, k1); }
            for (var i = 0u; i < WL; i++) { wr[i] = w_get(wbase, n0, li + WG * i, k1); }
        }
#else
        for (var i = 0u; i < XL; i++) { x_put(li + WG * i, x_get(li + WG * i, k0)); }
        for (var i = 0u; i < WL; i++) { w_put(li + WG * i, w_get(wbase, n0, li + WG * i, k0)); }
        workgroupBarrier();
#endif
        for (var kq = 0u; kq < KQ; kq++) {
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
                if (GLU == 1u) { v = silu(v) * u[i][j]; }
                y[yr + n] = v;
            }
        }
    }
}

// moe_mm_rows (prompts on CPU drivers, where `KernelPaths::lane_rows` is on), as matmul.wgsl's
// matmul_rows for one expert tile: each invocation owns MR rows of the expert (and, for GLU,
// their up rows), reads their weights straight from memory and applies them to the tile's
// positions, MTB at a time, whose activations all invocations read at the same addresses.
#include load_x8

const MR_WG: u32 = 16u;  // invocations per workgroup
const MR: u32 = 8u;      // rows per invocation
const MTB: u32 = 32u;    // positions per pass over the weights

@compute @workgroup_size(MR_WG)
fn moe_mm_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = expert_tile(li, wid.y);
    if (t[0] == 0u) { return; }
    let r = wid.x * (MR_WG * MR) + li * MR;
    // Rows past the expert's last read its last row again and are not written.
    let wbase = (t[1] - p.e0) * p.rows * (1u + GLU) * p.ld8;
    var wrow: array<u32, MR>;
    for (var j = 0u; j < MR; j++) { wrow[j] = wbase + min(r + j, p.rows - 1u) * p.ld8; }
    let up = p.rows * p.ld8;
    for (var p0 = t[2]; p0 < min(t[2] + BM, t[3]); p0 += MTB) {
        let np = min(MTB, t[3] - p0);
        var xy: array<vec2<u32>, MTB>;
        for (var i = 0u; i < np; i++) { xy[i] = rows_of(p0 + i); }
        var g: array<array<vec4<f32>, 2>, MTB>;
        var u: array<array<vec4<f32>, 2>, MTB>;
        for (var k = 0u; k < p.ld8; k++) {
            var wg: array<array<vec4<f32>, 2>, MR>;
            var wu: array<array<vec4<f32>, 2>, MR>;
            for (var j = 0u; j < MR; j++) {
                wg[j] = unpack8(w[wrow[j] + k]);
                if (GLU == 1u) { wu[j] = unpack8(w[wrow[j] + up + k]); }
            }
            for (var i = 0u; i < np; i++) {
                let xv = load_x8(xy[i].x, k * 8u);
                for (var j = 0u; j < MR; j++) {
                    g[i][j / 4u][j % 4u] += dot8f(wg[j], xv);
                    if (GLU == 1u) { u[i][j / 4u][j % 4u] += dot8f(wu[j], xv); }
                }
            }
        }
        for (var j = 0u; j < MR; j++) {
            if (r + j >= p.rows) { break; }
            for (var i = 0u; i < np; i++) {
                var v = g[i][j / 4u][j % 4u];
                if (GLU == 1u) { v = silu(v) * u[i][j / 4u][j % 4u]; }
                y[xy[i].y + r + j] = v;
            }
        }
    }
}
