// Mamba-2 selective scan, token by token (the llama.cpp / ggml scheme): the decode step for B
// sequences (one token each, own state slot) and the sequential prefill baseline (one sequence,
// T tokens). Per token, head h, row p, state column n:
//   Δ = softplus(dt_raw + dt_bias) (threshold 20), clamped to the time-step limit if any
//   S[h,p,n] ← exp(Δ·A_h)·S[h,p,n] + Δ·x[h,p]·B[g,n]
//   y[h,p]   = Σ_n S[h,p,n]·C[g,n] + D_h·x[h,p]          with g = h / heads_per_group
// TPR invocations share one (sequence, h, p) row; each keeps its N/TPR state values in registers
// for the whole token loop, and the Σ_n is a subgroup reduction (feature path: one subgroup per
// row) or a workgroup-memory tree (portable path).

struct Params {
    n_tok: u32,           // tokens per sequence
    n_seq: u32,
    n_heads: u32,
    head_dim: u32,        // P
    d_state: u32,         // N (≤ MAX_N)
    heads_per_group: u32,
    x_stride: u32,        // row stride of the activated xBC
    d_inner: u32,         // offset of B in a row
    gn: u32,              // G·N: offset of C after B
    dt_stride: u32,       // floats between rows of the in_proj output
    dt_off: u32,          // float offset of dt_raw in row 0
    y_stride: u32,
    slot: u32,            // state slot when use_slots == 0
    use_slots: u32,       // 1: sequence s uses slots[s]
    has_limit: u32,
    lim_lo: f32,
    lim_hi: f32,
    x_off: u32,           // float offset of the activated xBC in row 0
}

@group(0) @binding(0) var<uniform> p: Params;
#if V4
// d_state, d_inner, x_off and x_stride (hence the B / C offsets) multiples of 4: 4 state columns
// per load. Fewer, wider loads matter most on CPU drivers, where each loaded vector is a loop.
@group(0) @binding(1) var<storage, read> xa: array<vec4<f32>>;     // [rows, x_stride / 4]
fn xa1(i: u32) -> f32 { return xa[i / 4u][i % 4u]; }
fn xa4(i: u32) -> vec4<f32> { return xa[i / 4u]; }
#else
@group(0) @binding(1) var<storage, read> xa: array<f32>;           // [rows, x_stride] post-conv x | B | C
fn xa1(i: u32) -> f32 { return xa[i]; }
#endif
@group(0) @binding(2) var<storage, read> dtsrc: array<f32>;        // in_proj output rows (dt_raw part)
@group(0) @binding(3) var<storage, read> dt_bias: array<f32>;      // [nH]
@group(0) @binding(4) var<storage, read> a_neg: array<f32>;        // [nH] A = −exp(A_log)
@group(0) @binding(5) var<storage, read> d_skip: array<f32>;       // [nH]
#if V4
@group(0) @binding(6) var<storage, read_write> state: array<vec4<f32>>;  // [slots, nH, P, N / 4]
const W: u32 = 4u;      // state columns per element of `st`
#else
@group(0) @binding(6) var<storage, read_write> state: array<f32>;  // [slots, nH, P, N]
const W: u32 = 1u;
#endif
@group(0) @binding(7) var<storage, read_write> y: array<f32>;      // [rows, y_stride]
@group(0) @binding(8) var<storage, read> slots: array<u32>;        // [n_seq] when use_slots

const WG: u32 = 256u;
const MAX_N: u32 = 256u;
#if SUBGROUPS
const TPR: u32 = SUBGROUP_SIZE;
#else
const TPR: u32 = 32u;
var<workgroup> red: array<f32, WG>;
#endif
const RPW: u32 = WG / TPR;
const NPT: u32 = MAX_N / (TPR * W);   // elements of `st` per invocation (upper bound)

// Scan row r: its sequence, (head, row) index hp, head, group, and first state element.
struct ScanRow {
    s: u32,
    hp: u32,
    h: u32,
    g: u32,
    sbase: u32,
}

fn scan_row(r: u32) -> ScanRow {
    let hp_total = p.n_heads * p.head_dim;
    let s = r / hp_total;
    let hp = r % hp_total;
    let h = hp / p.head_dim;
    var slot = p.slot;
    if (p.use_slots == 1u) { slot = slots[s]; }
    return ScanRow(s, hp, h, h / p.heads_per_group, (slot * hp_total + hp) * p.d_state);
}

fn softplus(v: f32) -> f32 {
    return select(log(1.0 + exp(v)), v, v > 20.0);
}

@compute @workgroup_size(256)
fn ssm_scan(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
#if SUBGROUPS
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
#if SUBGROUPS
    let row_in_wg = sg_id;
    let lane = sg_lane;
#else
    let row_in_wg = li / TPR;
    let lane = li % TPR;
#endif
    let hp_total = p.n_heads * p.head_dim;
    let r = linear_wg(wid, nwg) * RPW + row_in_wg;
    let valid = r < p.n_seq * hp_total;
    // Invalid rows still take part in the reductions (barriers), on row 0's data.
    let sr = scan_row(select(0u, r, valid));
    let s = sr.s;
    let hp = sr.hp;
    let h = sr.h;
    let g = sr.g;
    let sbase = sr.sbase;

#if V4
    var st: array<vec4<f32>, NPT>;
#else
    var st: array<f32, NPT>;
#endif
    // Element k of `st` holds state columns W·(lane + k·TPR) ..+W.
    for (var k = 0u; k < NPT; k++) {
        let n = (lane + k * TPR) * W;
        if (n < p.d_state) { st[k] = state[(sbase + n) / W]; }
    }
    let a = a_neg[h];
    let dsk = d_skip[h];
    let bias = dt_bias[h];
    let b_off = p.d_inner + g * p.d_state;
    let c_off = b_off + p.gn;
    for (var t = 0u; t < p.n_tok; t++) {
        let row = s * p.n_tok + t;
        var dt = softplus(dtsrc[p.dt_off + row * p.dt_stride + h] + bias);
        if (p.has_limit == 1u) { dt = clamp(dt, p.lim_lo, p.lim_hi); }
        let decay = exp(dt * a);
        let xb = p.x_off + row * p.x_stride;
        let xv = xa1(xb + hp);
        let dx = dt * xv;
        var acc = 0.0;
        for (var k = 0u; k < NPT; k++) {
            let n = (lane + k * TPR) * W;
            if (n < p.d_state) {
#if V4
                st[k] = st[k] * decay + dx * xa4(xb + b_off + n);
                acc += dot(st[k], xa4(xb + c_off + n));
#else
                st[k] = st[k] * decay + dx * xa[xb + b_off + n];
                acc += st[k] * xa[xb + c_off + n];
#endif
            }
        }
#if SUBGROUPS
        acc = subgroupAdd(acc);
#else
        red[li] = acc;
        workgroupBarrier();
        for (var off = TPR / 2u; off > 0u; off >>= 1u) {
            if (lane < off) { red[li] += red[li + off]; }
            workgroupBarrier();
        }
        acc = red[li];
#endif
        if (lane == 0u && valid) {
            y[row * p.y_stride + hp] = acc + dsk * xv;
        }
    }
    if (valid) {
        for (var k = 0u; k < NPT; k++) {
            let n = (lane + k * TPR) * W;
            if (n < p.d_state) { state[(sbase + n) / W] = st[k]; }
        }
    }
}

// ssm_scan_rows (decode steps on CPU drivers, `KernelPaths::lane_rows`): one token per
// sequence, one invocation per (sequence, h, p) row, its state updated in memory column block
// by column block (no register copy, no reduction); all lanes of a head read the same B and C.
// On lavapipe: 14.6 → 9.1 ms per token for h-350m's 28 Mamba layers.
@compute @workgroup_size(64)
fn ssm_scan_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let r = linear_wg(wid, nwg) * 64u + li;
    if (r >= p.n_seq * p.n_heads * p.head_dim) { return; }
    let sr = scan_row(r);
    let s = sr.s;   // also the token's row: one token per sequence
    let hp = sr.hp;
    let h = sr.h;
    let sbase = sr.sbase;
    var dt = softplus(dtsrc[p.dt_off + s * p.dt_stride + h] + dt_bias[h]);
    if (p.has_limit == 1u) { dt = clamp(dt, p.lim_lo, p.lim_hi); }
    let decay = exp(dt * a_neg[h]);
    let xb = p.x_off + s * p.x_stride;
    let b_off = xb + p.d_inner + sr.g * p.d_state;
    let c_off = b_off + p.gn;
    let xv = xa1(xb + hp);
    let dx = dt * xv;
    var acc = 0.0;
    for (var n = 0u; n < p.d_state; n += W) {
        let i = (sbase + n) / W;
#if V4
        let sv = state[i] * decay + dx * xa4(b_off + n);
        acc += dot(sv, xa4(c_off + n));
#else
        let sv = state[i] * decay + dx * xa[b_off + n];
        acc += sv * xa[c_off + n];
#endif
        state[i] = sv;
    }
    y[s * p.y_stride + hp] = acc + d_skip[h] * xv;
}
