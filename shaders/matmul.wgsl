// Tiled matrix product with f16 weights, for prefill:
//   Y[t, row0 + n] = (accumulate ? Y : 0) + alpha * (Σ_k X[t, k] · W[n, k] + bias[row0 + n])
// Tiles of 64 tokens × 64 rows, K in steps of 16; 64 invocations, each owns an 8×8 block of
// outputs (tokens ty + 8i, rows tx + 8j). SMALL (short prompts): tiles of 16 tokens, 2×8 per
// invocation, so a 10-token prompt does not pay for 64. CPU (CPU adapters, where each loaded
// vector is a loop and register spills are cheap): 16 invocations of 16×16, K in steps of 32.
// WIDE (GPUs): 256 invocations of 4×4 (T32: 32-token tiles, 128 invocations), K in steps of
// 32, and the next step's global loads are issued before this step's arithmetic. A GPU hides
// memory latency with many resident warps; 64 invocations per 64×64 tile left 1–3 warps per
// SM of an H200. Both tiles are stored row-major with a pitch of one vec4 more than a row,
// so that each read is a whole vec4 and the rows read together fall in different banks. Each
// step an invocation reads MT + NT vec4 from workgroup memory for 4·MT·NT multiply-adds:
// operand loads, not arithmetic, bound small-tile products on most hardware (and on CPU
// drivers every loaded vector costs a per-lane loop).
// Weights are read as packed u32 pairs on every path (see matvec.wgsl).

#include linear_params

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;   // [rows, ld8] f16 packed in pairs
#if X4
// cols % 4 == 0 and x_off, x_stride multiples of 4: whole vec4 loads.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;   // [T, x_stride / 4]
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;         // [T, x_stride]
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // [T, y_stride]
@group(0) @binding(4) var<storage, read> bias: array<f32>;      // [total rows] or unused

#if SMALL
const BM: u32 = 16u;    // tokens per tile
const MT: u32 = 2u;     // tokens per invocation
const NT: u32 = 8u;     // rows per invocation
const BK: u32 = 16u;    // columns per step
#else
#if CPU
const BM: u32 = 64u;
const MT: u32 = 16u;
const NT: u32 = 16u;
const BK: u32 = 32u;
#else
#if WIDE
#if T32
const BM: u32 = 32u;
#else
const BM: u32 = 64u;
#endif
const MT: u32 = 4u;
const NT: u32 = 4u;
const BK: u32 = 32u;
#else
const BM: u32 = 64u;
const MT: u32 = 8u;
const NT: u32 = 8u;
const BK: u32 = 16u;
#endif
#endif
#endif
const BN: u32 = 64u;    // weight rows per tile
#include tile_geometry

var<workgroup> xs: array<vec4<f32>, BM * PITCH>;  // [BM][PITCH]
var<workgroup> ws: array<vec4<f32>, BN * PITCH>;  // [BN][PITCH]

// Columns k .. k+3 of token t (zero past the last token or column).
fn load_x4(t: u32, k: u32) -> vec4<f32> {
    if (t >= p.n_tok || k >= p.cols) { return vec4<f32>(0.0); }
    let base = p.x_off + t * p.x_stride + k;
#if X4
    return x[base / 4u];
#else
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        if (k + i < p.cols) { v[i] = x[base + i]; }
    }
    return v;
#endif
}

// Vec4 `idx` of the X tile of step k0 (tiles of the tokens from t0): consecutive indices read
// consecutive 16 bytes of a token row.
fn x_get(t0: u32, idx: u32, k0: u32) -> vec4<f32> {
    return load_x4(t0 + idx / KQ, k0 + (idx % KQ) * 4u);
}

// Block `idx` of 8 halves of the weight tile of step k0 (rows from n0); zero past the last row
// (columns are padded to whole blocks).
fn w_get(n0: u32, idx: u32, k0: u32) -> vec4<u32> {
    let nn = n0 + idx / KB;
    let kb = k0 / 8u + idx % KB;
    if (nn < p.rows && kb < p.ld8) { return w[nn * p.ld8 + kb]; }
    return vec4<u32>(0u);
}

fn w_put(idx: u32, q: vec4<u32>) {
    let v = unpack8(q);
    let o = (idx / KB) * PITCH + 2u * (idx % KB);
    ws[o] = v[0];
    ws[o + 1u] = v[1];
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n0 = wid.x * BN;
    let t0 = wid.y * BM;
    let tx = li % TX;
    let ty = li / TX;
    var acc: array<array<f32, NT>, MT>;
#if WIDE
    // This step's operands, loaded from global memory during the previous step's arithmetic.
    var xr: array<vec4<f32>, XL>;
    var wr: array<vec4<u32>, WL>;
    for (var i = 0u; i < XL; i++) { xr[i] = x_get(t0, li + WG * i, 0u); }
    for (var i = 0u; i < WL; i++) { wr[i] = w_get(n0, li + WG * i, 0u); }
#endif
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
#if WIDE
        for (var i = 0u; i < XL; i++) { x_put(li + WG * i, xr[i]); }
        for (var i = 0u; i < WL; i++) { w_put(li + WG * i, wr[i]); }
        workgroupBarrier();
        let k1 = k0 + BK;
        if (k1 < p.cols) {
            for (var i = 0u; i < XL; i++) { xr[i] = x_get(t0, li + WG * i, k1); }
            for (var i = 0u; i < WL; i++) { wr[i] = w_get(n0, li + WG * i, k1); }
        }
#else
        for (var i = 0u; i < XL; i++) { x_put(li + WG * i, x_get(t0, li + WG * i, k0)); }
        for (var i = 0u; i < WL; i++) { w_put(li + WG * i, w_get(n0, li + WG * i, k0)); }
        workgroupBarrier();
#endif
        for (var kq = 0u; kq < KQ; kq++) {
            var a: array<vec4<f32>, MT>;
            for (var i = 0u; i < MT; i++) { a[i] = xs[(ty + TY * i) * PITCH + kq]; }
            for (var j = 0u; j < NT; j++) {
                let b = ws[(tx + TX * j) * PITCH + kq];
                for (var i = 0u; i < MT; i++) { acc[i][j] += dot(a[i], b); }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < MT; i++) {
        let t = t0 + ty + TY * i;
        for (var j = 0u; j < NT; j++) {
            let n = n0 + tx + TX * j;
            if (t < p.n_tok && n < p.rows) {
                let row = p.row0 + n;
                var v = acc[i][j];
                if (p.has_bias == 1u) { v += bias[row]; }
                let o = p.y_off + t * p.y_stride + row;
                if (p.accumulate == 1u) { y[o] = y[o] + p.alpha * v; } else { y[o] = p.alpha * v; }
            }
        }
    }
}

// matmul_rows (prefill on CPU drivers, where `KernelPaths::lane_rows` is on): each invocation
// owns ROWS weight rows and TB tokens. It reads 8 columns of its rows straight from memory (no
// other invocation needs them: no workgroup memory, no barriers) and applies them to its TB
// tokens, whose activations all invocations of a workgroup read at the same addresses. On
// lavapipe this ran h-350m's prefill ~1.8× faster than the CPU tiling above; on a GPU, lanes
// reading rows of their own would break coalescing.
#include load_x8

const R_WG: u32 = 16u;   // invocations per workgroup
const RG: u32 = 4u;      // groups of 4 rows per invocation
const ROWS: u32 = 4u * RG;
const TB: u32 = 32u;     // tokens per invocation

@compute @workgroup_size(R_WG)
fn matmul_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = wid.x * (R_WG * ROWS) + li * ROWS;
    let t0 = wid.y * TB;
    let nt = min(TB, p.n_tok - t0);
    // Rows past the end read the last row again and are not written.
    let last = p.rows - 1u;
    var wrow: array<u32, ROWS>;
    for (var j = 0u; j < ROWS; j++) { wrow[j] = min(r + j, last) * p.ld8; }
    var acc: array<array<vec4<f32>, RG>, TB>;
    for (var k = 0u; k < p.ld8; k++) {
        var wv: array<array<vec4<f32>, 2>, ROWS>;
        for (var j = 0u; j < ROWS; j++) { wv[j] = unpack8(w[wrow[j] + k]); }
        for (var i = 0u; i < nt; i++) {
            let xv = load_x8(p.x_off + (t0 + i) * p.x_stride, k * 8u);
            for (var g = 0u; g < RG; g++) {
                var d: vec4<f32>;
                for (var q = 0u; q < 4u; q++) {
                    d[q] = dot8f(wv[4u * g + q], xv);
                }
                acc[i][g] += d;
            }
        }
    }
    for (var j = 0u; j < ROWS; j++) {
        if (r + j >= p.rows) { break; }
        let row = p.row0 + r + j;
        var b = 0.0;
        if (p.has_bias == 1u) { b = bias[row]; }
        for (var i = 0u; i < nt; i++) {
            let o = p.y_off + (t0 + i) * p.y_stride + row;
            let v = p.alpha * (acc[i][j / 4u][j % 4u] + b);
            if (p.accumulate == 1u) { y[o] = y[o] + v; } else { y[o] = v; }
        }
    }
}
