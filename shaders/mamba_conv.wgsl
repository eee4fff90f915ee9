// Mamba-2 causal depthwise conv1d + bias + SiLU over the xBC channels (x | B | C).
//   out[t, ch] = silu(b[ch] + Σ_k w[ch, k] · in[t − (K−1) + k, ch])
// where in[τ] is the xBC row τ of the in_proj output for τ ≥ 0 and the conv state row K−1+τ
// (the last K−1 pre-conv rows of the previous call, oldest first) for τ < 0.
// Entries: conv_prefill (one sequence, T tokens; one invocation per (t, ch), or with K4 — the
// released d_conv = 4 — per (run of TPT tokens, ch), sliding the window in registers so each
// input and weight is read once), conv_state_update
// (afterwards: the state becomes the last K−1 pre-conv rows; one invocation per channel, so the
// shift when T < K−1 reads and writes only its own column), conv_step (B sequences, one token
// each, each with its own state slot; reads, convolves and shifts in one pass).

struct Params {
    conv_dim: u32,
    k: u32,          // taps (d_conv), at most MAX_K
    n_tok: u32,      // prefill: tokens of the sequence; step: sequences
    x_stride: u32,   // floats between rows of the in_proj output
    x_off: u32,      // float offset of xBC in row 0
    slot: u32,       // prefill: state slot of the sequence
    out_stride: u32, // floats between rows of out
    _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xbc: array<f32>;          // in_proj output rows
@group(0) @binding(2) var<storage, read_write> state: array<f32>;  // [slots, K−1, conv_dim]
@group(0) @binding(3) var<storage, read> w: array<f32>;            // [conv_dim, K]
@group(0) @binding(4) var<storage, read> b: array<f32>;            // [conv_dim]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;    // [T, out_stride]
@group(0) @binding(6) var<storage, read> slots: array<u32>;        // step: slot per sequence

const MAX_K: u32 = 8u;

fn x_at(t: u32, ch: u32) -> f32 {
    return xbc[p.x_off + t * p.x_stride + ch];
}

fn state_base(slot: u32) -> u32 {
    return slot * (p.k - 1u) * p.conv_dim;
}

// Input position pos − (K−1) of channel ch: the xBC row, or a conv state row before the start.
fn window_at(sb: u32, pos: u32, ch: u32) -> f32 {
    if (pos >= p.k - 1u) { return x_at(pos - (p.k - 1u), ch); }
    return state[sb + pos * p.conv_dim + ch];
}

#if K4
const TPT: u32 = 8u;

@compute @workgroup_size(256)
fn conv_prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let idx = linear_wg(wid, nwg) * 256u + li;
    let runs = (p.n_tok + TPT - 1u) / TPT;
    if (idx >= runs * p.conv_dim) { return; }
    let t0 = (idx / p.conv_dim) * TPT;
    let ch = idx % p.conv_dim;
    let sb = state_base(p.slot);
    let w0 = w[ch * 4u];
    let w1 = w[ch * 4u + 1u];
    let w2 = w[ch * 4u + 2u];
    let w3 = w[ch * 4u + 3u];
    let bias = b[ch];
    // Window positions are shifted by K−1 = 3: token t reads positions t .. t+3.
    var a0 = window_at(sb, t0, ch);
    var a1 = window_at(sb, t0 + 1u, ch);
    var a2 = window_at(sb, t0 + 2u, ch);
    let t1 = min(t0 + TPT, p.n_tok);
    for (var t = t0; t < t1; t++) {
        let a3 = x_at(t, ch);
        out[t * p.out_stride + ch] = silu(bias + w0 * a0 + w1 * a1 + w2 * a2 + w3 * a3);
        a0 = a1;
        a1 = a2;
        a2 = a3;
    }
}
#else
@compute @workgroup_size(256)
fn conv_prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let idx = linear_wg(wid, nwg) * 256u + li;
    if (idx >= p.n_tok * p.conv_dim) { return; }
    let t = idx / p.conv_dim;
    let ch = idx % p.conv_dim;
    let sb = state_base(p.slot);
    var acc = b[ch];
    for (var k = 0u; k < p.k; k++) {
        // Position t − (K−1) + k, shifted by K−1 to stay unsigned.
        let pos = t + k;
        var v: f32;
        if (pos >= p.k - 1u) {
            v = x_at(pos - (p.k - 1u), ch);
        } else {
            v = state[sb + pos * p.conv_dim + ch];
        }
        acc += w[ch * p.k + k] * v;
    }
    out[t * p.out_stride + ch] = silu(acc);
}
#endif

@compute @workgroup_size(256)
fn conv_state_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let ch = linear_wg(wid, nwg) * 256u + li;
    if (ch >= p.conv_dim) { return; }
    let sb = state_base(p.slot);
    let keep = p.k - 1u;
    // New row r is window position T + r of [old state (K−1 rows) | T new rows].
    var rows: array<f32, MAX_K>;
    for (var r = 0u; r < keep; r++) {
        let pos = p.n_tok + r;
        if (pos >= keep) {
            rows[r] = x_at(pos - keep, ch);
        } else {
            rows[r] = state[sb + pos * p.conv_dim + ch];
        }
    }
    for (var r = 0u; r < keep; r++) {
        state[sb + r * p.conv_dim + ch] = rows[r];
    }
}

@compute @workgroup_size(256)
fn conv_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let idx = linear_wg(wid, nwg) * 256u + li;
    if (idx >= p.n_tok * p.conv_dim) { return; }
    let s = idx / p.conv_dim;
    let ch = idx % p.conv_dim;
    let sb = state_base(slots[s]);
    let keep = p.k - 1u;
    var win: array<f32, MAX_K>;
    for (var r = 0u; r < keep; r++) {
        win[r] = state[sb + r * p.conv_dim + ch];
    }
    win[keep] = x_at(s, ch);
    var acc = b[ch];
    for (var k = 0u; k < p.k; k++) {
        acc += w[ch * p.k + k] * win[k];
    }
    out[s * p.out_stride + ch] = silu(acc);
    for (var r = 0u; r < keep; r++) {
        state[sb + r * p.conv_dim + ch] = win[r + 1u];
    }
}
