// Mamba-2 causal depthwise conv1d + bias + SiLU over the xBC channels (x | B | C).
//   out[t, ch] = silu(b[ch] + Σ_k w[ch, k] · in[t − (K−1) + k, ch])
// where in[τ] is the xBC row τ of the in_proj output for τ ≥ 0 and the conv state row K−1+τ
// (the last K−1 pre-conv rows of the previous call, oldest first) for τ < 0.
// Entries: conv_prefill (one sequence, T tokens, one invocation per (t, ch)), conv_state_update
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
