// Tiled matrix product with f16 weights, for prefill:
//   Y[t, row0 + n] = (accumulate ? Y : 0) + alpha * (Σ_k X[t, k] · W[n, k] + bias[row0 + n])
// Tiles of 64 tokens × 64 rows, K in steps of 16; 64 invocations, each owns an 8×8 block of
// outputs (tokens ty + 8i, rows tx + 8j). SMALL (short prompts): tiles of 16 tokens, 2×8 per
// invocation, so a 10-token prompt does not pay for 64. Both tiles are stored row-major with a pitch of 5
// vec4 (one of padding) so that each read is a whole vec4 and the 8 rows read together fall
// in different banks. Each step an invocation reads 16 vec4 from workgroup memory for 256
// multiply-adds: operand loads, not arithmetic, bound small-tile products on most hardware
// (and on CPU drivers every loaded vector costs a per-lane loop).
// Weights are read as packed u32 pairs on every path (see matvec.wgsl).

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
#else
const BM: u32 = 64u;    // tokens per tile
#endif
const MT: u32 = BM / 8u;  // tokens per invocation
const BN: u32 = 64u;    // weight rows per tile
const BK: u32 = 16u;    // columns per step
const PITCH: u32 = 5u;  // vec4 per tile row: BK / 4 + 1 of padding

var<workgroup> xs: array<vec4<f32>, BM * PITCH>;  // [BM][PITCH]
var<workgroup> ws: array<vec4<f32>, 320>;  // [BN][PITCH]

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

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n0 = wid.x * BN;
    let t0 = wid.y * BM;
    let tx = li % 8u;
    let ty = li / 8u;
    var acc: array<array<f32, 8>, MT>;
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
        // X tile: BM tokens × 4 vec4; consecutive invocations read consecutive 16 bytes.
        for (var i = 0u; i < BM / 16u; i++) {
            let idx = li + 64u * i;
            let tt = idx / 4u;
            let kq = idx % 4u;
            xs[tt * PITCH + kq] = load_x4(t0 + tt, k0 + kq * 4u);
        }
        // W tile: 64 rows × 2 blocks of 8 halves; zero past the last row (columns are padded).
        for (var i = 0u; i < 2u; i++) {
            let idx = li + 64u * i;
            let nn = idx / 2u;
            let h = idx % 2u;
            var q = vec4<u32>(0u);
            if (n0 + nn < p.rows && k0 / 8u + h < p.ld8) { q = w[(n0 + nn) * p.ld8 + k0 / 8u + h]; }
            let v = unpack8(q);
            ws[nn * PITCH + 2u * h] = v[0];
            ws[nn * PITCH + 2u * h + 1u] = v[1];
        }
        workgroupBarrier();
        for (var kq = 0u; kq < 4u; kq++) {
            var a: array<vec4<f32>, MT>;
            for (var i = 0u; i < MT; i++) { a[i] = xs[(ty + 8u * i) * PITCH + kq]; }
            for (var j = 0u; j < 8u; j++) {
                let b = ws[(tx + 8u * j) * PITCH + kq];
                for (var i = 0u; i < MT; i++) { acc[i][j] += dot(a[i], b); }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < MT; i++) {
        let t = t0 + ty + 8u * i;
        for (var j = 0u; j < 8u; j++) {
            let n = n0 + tx + 8u * j;
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
