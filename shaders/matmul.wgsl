// Tiled matrix product with f16 weights, for prefill:
//   Y[t, row0 + n] = (accumulate ? Y : 0) + alpha * (Σ_k X[t, k] · W[n, k] + bias[row0 + n])
// Tiles of 64 tokens × 64 rows, K in steps of 32; 256 invocations, each owns a 4×4 block of
// outputs strided by 16 so neighbouring invocations touch neighbouring shared-memory words.

struct Params {
    rows: u32,        // rows (n) in this part
    cols: u32,        // K
    ld8: u32,         // W row stride in units of 8 halves
    row0: u32,
    x_stride: u32,
    y_stride: u32,
    accumulate: u32,
    has_bias: u32,
    alpha: f32,
    n_tok: u32,       // T
    x_off: u32,       // first float of x
    y_off: u32,       // first float of y
}

@group(0) @binding(0) var<uniform> p: Params;
#if F16
@group(0) @binding(1) var<storage, read> w: array<vec4<f16>>;   // [rows, ld8 · 2] f16
// Weights 8i .. 8i+7 of the matrix (in row-stride units of 8 halves).
fn w8(i: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(vec4<f32>(w[2u * i]), vec4<f32>(w[2u * i + 1u]));
}
#else
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;   // [rows, ld8] f16 packed in pairs
fn w8(i: u32) -> array<vec4<f32>, 2> {
    return unpack8(w[i]);
}
#endif
@group(0) @binding(2) var<storage, read> x: array<f32>;         // [T, x_stride]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // [T, y_stride]
@group(0) @binding(4) var<storage, read> bias: array<f32>;      // [total rows] or unused

const BM: u32 = 64u;  // tokens per tile
const BN: u32 = 64u;  // weight rows per tile
const BK: u32 = 32u;  // columns per step

var<workgroup> xs: array<f32, 2048>;  // [BK][BM]
var<workgroup> ws: array<f32, 2048>;  // [BK][BN]

@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n0 = wid.x * BN;
    let t0 = wid.y * BM;
    let tx = li % 16u;
    let ty = li / 16u;
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
        // X tile: invocation li loads 8 consecutive columns of one token.
        let xt = li / 4u;
        let xk = (li % 4u) * 8u;
        for (var i = 0u; i < 8u; i++) {
            let k = k0 + xk + i;
            var v = 0.0;
            if (t0 + xt < p.n_tok && k < p.cols) { v = x[p.x_off + (t0 + xt) * p.x_stride + k]; }
            xs[(xk + i) * BM + xt] = v;
        }
        // W tile: 64 rows × 4 blocks of 8 halves; zero past the last row (columns are padded).
        {
            let wn = li / 4u;
            let wk = (li % 4u) * 8u;
            var lo = vec4<f32>(0.0);
            var hi = vec4<f32>(0.0);
            if (n0 + wn < p.rows && k0 + wk < p.ld8 * 8u) {
                let q = w8((n0 + wn) * p.ld8 + (k0 + wk) / 8u);
                lo = q[0];
                hi = q[1];
            }
            for (var i = 0u; i < 4u; i++) {
                ws[(wk + i) * BN + wn] = lo[i];
                ws[(wk + 4u + i) * BN + wn] = hi[i];
            }
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = xs[k * BM + ty + 16u * i];
                b[i] = ws[k * BN + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let t = t0 + ty + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + tx + 16u * j;
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
