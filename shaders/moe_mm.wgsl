// Prefill-path grouped expert products over the routing of moe_route.wgsl. One workgroup per
// (row tile, expert tile): an expert tile is up to BM consecutive sorted positions of one expert;
// the grid's y covers an upper bound of the tiles in this part and surplus workgroups exit.
// Tiling as in matmul.wgsl (64 positions × 64 rows, K in steps of 16, 4×4 outputs/invocation).
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
const NONE: u32 = 0xffffffffu;

var<workgroup> xs: array<f32, 1024>;   // [BK][BM]
var<workgroup> wsg: array<f32, 1024>;  // [BK][BN] gate (or the only) weights
var<workgroup> wsu: array<f32, 1024>;  // [BK][BN] up weights (GLU)
var<workgroup> xrow: array<u32, BM>;   // first float of each position's X row, or NONE
var<workgroup> yrow: array<u32, BM>;   // first float of each position's Y row, or NONE
var<workgroup> tile: array<u32, 4>;    // valid, expert, first position, end position

// Loads 8 weights of row `n` (within the expert) at column block `kb`, zero past the last row.
fn wload(base: u32, n: u32, kb: u32) -> array<vec4<f32>, 2> {
    if (n < p.rows && kb < p.ld8) { return w8(base + n * p.ld8 + kb); }
    return array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
}

// Writes 8 weights into column `wn` of a [BK][BN] tile, rows wk..wk+7.
fn wstore(up: bool, wk: u32, wn: u32, q: array<vec4<f32>, 2>) {
    let lo = q[0];
    let hi = q[1];
    let b = wk * BN + wn;
    if (up) {
        wsu[b] = lo.x; wsu[b + BN] = lo.y; wsu[b + 2u * BN] = lo.z; wsu[b + 3u * BN] = lo.w;
        wsu[b + 4u * BN] = hi.x; wsu[b + 5u * BN] = hi.y; wsu[b + 6u * BN] = hi.z; wsu[b + 7u * BN] = hi.w;
    } else {
        wsg[b] = lo.x; wsg[b + BN] = lo.y; wsg[b + 2u * BN] = lo.z; wsg[b + 3u * BN] = lo.w;
        wsg[b + 4u * BN] = hi.x; wsg[b + 5u * BN] = hi.y; wsg[b + 6u * BN] = hi.z; wsg[b + 7u * BN] = hi.w;
    }
}

// Output row `i` of this invocation (position ty + 16·i), columns tx + 16·j.
fn emit(i: u32, ty: u32, n0: u32, tx: u32, g: vec4<f32>, u: vec4<f32>) {
    let yr = yrow[ty + 16u * i];
    if (yr == NONE) { return; }
    var v = g;
    if (GLU == 1u) { v = g / (1.0 + exp(-g)) * u; }
    if (n0 + tx < p.rows) { y[yr + n0 + tx] = v.x; }
    if (n0 + tx + 16u < p.rows) { y[yr + n0 + tx + 16u] = v.y; }
    if (n0 + tx + 32u < p.rows) { y[yr + n0 + tx + 32u] = v.z; }
    if (n0 + tx + 48u < p.rows) { y[yr + n0 + tx + 48u] = v.w; }
}

// Accumulators are vec4s with explicit components (no dynamically indexed private arrays):
// that keeps the GL driver's compile time in seconds rather than minutes.
@compute @workgroup_size(256)
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
    if (li < BM) {
        let pos = start + li;
        xrow[li] = NONE;
        yrow[li] = NONE;
        if (pos < end) {
            let a = route[sorted0 + pos];
            if (GLU == 1u) {
                xrow[li] = p.x_off + (a / p.top_k) * p.x_stride;
                yrow[li] = pos * p.y_stride;
            } else {
                xrow[li] = p.x_off + pos * p.x_stride;
                yrow[li] = a * p.y_stride;
            }
        }
    }
    workgroupBarrier();

    let n0 = wid.x * BN;
    let wbase = (e - p.e0) * p.rows * (1u + GLU) * p.ld8;
    let tx = li % 16u;
    let ty = li / 16u;
    var g0 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0);
    var g2 = vec4<f32>(0.0);
    var g3 = vec4<f32>(0.0);
    var u0 = vec4<f32>(0.0);
    var u1 = vec4<f32>(0.0);
    var u2 = vec4<f32>(0.0);
    var u3 = vec4<f32>(0.0);
    // X tile loader: invocation li loads 4 consecutive columns of position li / 4.
    let xt = li / 4u;
    let xk = (li % 4u) * 4u;
    let xr = xrow[xt];
    // W tile loader: invocations 0..127 load the gate (or only) tile, 128..255 the up tile.
    let up = li >= 128u;
    let wn = (li % 128u) / 2u;
    let wk = (li % 2u) * 8u;
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
        var xv = vec4<f32>(0.0);
        if (xr != NONE) {
            let c = k0 + xk;
            if (c < p.cols) { xv.x = x[xr + c]; }
            if (c + 1u < p.cols) { xv.y = x[xr + c + 1u]; }
            if (c + 2u < p.cols) { xv.z = x[xr + c + 2u]; }
            if (c + 3u < p.cols) { xv.w = x[xr + c + 3u]; }
        }
        xs[xk * BM + xt] = xv.x;
        xs[(xk + 1u) * BM + xt] = xv.y;
        xs[(xk + 2u) * BM + xt] = xv.z;
        xs[(xk + 3u) * BM + xt] = xv.w;
        if (!up || GLU == 1u) {
            var off = wbase;
            if (up) { off += p.rows * p.ld8; }
            wstore(up, wk, wn, wload(off, n0 + wn, (k0 + wk) / 8u));
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            let xb = k * BM + ty;
            let a = vec4<f32>(xs[xb], xs[xb + 16u], xs[xb + 32u], xs[xb + 48u]);
            let wb = k * BN + tx;
            let bg = vec4<f32>(wsg[wb], wsg[wb + 16u], wsg[wb + 32u], wsg[wb + 48u]);
            g0 += a.x * bg;
            g1 += a.y * bg;
            g2 += a.z * bg;
            g3 += a.w * bg;
            if (GLU == 1u) {
                let bu = vec4<f32>(wsu[wb], wsu[wb + 16u], wsu[wb + 32u], wsu[wb + 48u]);
                u0 += a.x * bu;
                u1 += a.y * bu;
                u2 += a.z * bu;
                u3 += a.w * bu;
            }
        }
        workgroupBarrier();
    }
    emit(0u, ty, n0, tx, g0, u0);
    emit(1u, ty, n0, tx, g1, u1);
    emit(2u, ty, n0, tx, g2, u2);
    emit(3u, ty, n0, tx, g3, u3);
}
