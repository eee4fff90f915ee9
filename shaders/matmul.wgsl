// Tiled matrix product with f16 weights, for prefill:
//   Y[t, row0 + n] = (accumulate ? Y : 0) + alpha * (Σ_k X[t, k] · W[n, k] + bias[row0 + n])
// Tiles of 64 tokens × 64 rows, K in steps of 16; 64 invocations, each owns an 8×8 block of
// outputs (tokens ty + 8i, rows tx + 8j). SMALL (short prompts): tiles of 16 tokens, 2×8 per
// invocation, so a 10-token prompt does not pay for 64. CPU (CPU adapters, where each loaded
// vector is a loop and register spills are cheap): 16 invocations of 16×16, K in steps of 32. Both tiles are stored row-major with a pitch of 5
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
const MT: u32 = 2u;     // tokens per invocation
const NT: u32 = 8u;     // rows per invocation
#else
const BM: u32 = 64u;
#if CPU
const MT: u32 = 16u;
const NT: u32 = 16u;
#else
const MT: u32 = 8u;
const NT: u32 = 8u;
#endif
#endif
const BN: u32 = 64u;    // weight rows per tile
#if CPU
const BK: u32 = 32u;    // columns per step
#else
const BK: u32 = 16u;
#endif
const KQ: u32 = BK / 4u;    // vec4 per tile row
const PITCH: u32 = KQ + 1u; // one vec4 of padding
const TY: u32 = BM / MT;  // invocations along tokens
const TX: u32 = BN / NT;  // invocations along rows
const WG: u32 = TX * TY;

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

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n0 = wid.x * BN;
    let t0 = wid.y * BM;
    let tx = li % TX;
    let ty = li / TX;
    var acc: array<array<f32, NT>, MT>;
    for (var k0 = 0u; k0 < p.cols; k0 += BK) {
        // X tile: BM tokens × KQ vec4; consecutive invocations read consecutive 16 bytes.
        for (var i = 0u; i < BM * KQ / WG; i++) {
            let idx = li + WG * i;
            let tt = idx / KQ;
            let kq = idx % KQ;
            xs[tt * PITCH + kq] = load_x4(t0 + tt, k0 + kq * 4u);
        }
        // W tile: BN rows × BK / 8 blocks of 8 halves; zero past the last row (columns padded).
        for (var i = 0u; i < BN * (BK / 8u) / WG; i++) {
            let idx = li + WG * i;
            let nn = idx / (BK / 8u);
            let h = idx % (BK / 8u);
            var q = vec4<u32>(0u);
            if (n0 + nn < p.rows && k0 / 8u + h < p.ld8) { q = w[(n0 + nn) * p.ld8 + k0 / 8u + h]; }
            let v = unpack8(q);
            ws[nn * PITCH + 2u * h] = v[0];
            ws[nn * PITCH + 2u * h + 1u] = v[1];
        }
        workgroupBarrier();
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
