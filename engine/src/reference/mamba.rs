//! CPU reference of the Mamba-2 mixer (between in_proj and out_proj), for one sequence.
//!
//! Layouts follow the GPU kernels: the in_proj output row is `z | xBC | dt_raw` (xBC = x | B | C),
//! x is head-major `[nH, P]`, B and C are `[G, N]`, head h uses group `h / (nH / G)`. States:
//! conv `[K−1, conv_dim]` (the last K−1 pre-conv xBC rows, oldest first), SSM `[nH, P, N]`.
//! Two SSM paths: the token-by-token recurrence ([`ssm_sequential`]) and the chunked SSD form
//! split into the same stages as the GPU ([`ssd_dt`] … [`ssd_out`]); both must agree.
use crate::kernels::mamba::{MambaDims, MambaHostWeights};

/// softplus with the mamba_ssm / ggml threshold: v itself above 20.
pub fn softplus(v: f32) -> f32 {
    if v > 20.0 { v } else { (1.0 + v.exp()).ln() }
}

/// Δ = softplus(dt_raw + dt_bias), then clamped to `time_step_limit` when one is set.
pub fn step_size(raw: f32, bias: f32, limit: Option<(f32, f32)>) -> f32 {
    let dt = softplus(raw + bias);
    match limit {
        Some((lo, hi)) => dt.clamp(lo, hi),
        None => dt,
    }
}

fn silu(v: f64) -> f64 {
    v / (1.0 + (-v).exp())
}

/// Causal depthwise conv + bias + SiLU over `xbc` `[T, conv_dim]` (dense), reading the conv
/// state for positions before the first token; updates the state to the last K−1 pre-conv rows.
pub fn conv(dims: &MambaDims, xbc: &[f32], w: &[f32], b: &[f32], state: &mut [f32]) -> Vec<f32> {
    let (cd, k) = (dims.conv_dim(), dims.d_conv);
    let t_len = xbc.len() / cd;
    // The window: K−1 state rows followed by the T new rows.
    let mut rows: Vec<f32> = state.to_vec();
    rows.extend_from_slice(xbc);
    let mut out = vec![0.0f32; t_len * cd];
    for t in 0..t_len {
        for ch in 0..cd {
            let mut acc = b[ch] as f64;
            for tap in 0..k {
                acc += w[ch * k + tap] as f64 * rows[(t + tap) * cd + ch] as f64;
            }
            out[t * cd + ch] = silu(acc) as f32;
        }
    }
    let keep = (k - 1) * cd;
    state.copy_from_slice(&rows[rows.len() - keep..]);
    out
}

/// Token-by-token recurrence. `xbc_act` `[T, conv_dim]` (post-conv), `dt_raw` `[T, nH]`,
/// `a` = A per head. Updates `state` `[nH, P, N]`; returns y `[T, Di]` (with the D skip).
pub fn ssm_sequential(
    dims: &MambaDims,
    xbc_act: &[f32],
    dt_raw: &[f32],
    dt_bias: &[f32],
    a: &[f32],
    d: &[f32],
    state: &mut [f32],
) -> Vec<f32> {
    let (nh, p, n, cd, di) = (
        dims.n_heads,
        dims.head_dim,
        dims.d_state,
        dims.conv_dim(),
        dims.d_inner(),
    );
    let gn = dims.n_groups * n;
    let t_len = xbc_act.len() / cd;
    let mut y = vec![0.0f32; t_len * di];
    for t in 0..t_len {
        let row = &xbc_act[t * cd..(t + 1) * cd];
        for h in 0..nh {
            let g = h / dims.heads_per_group();
            let dt = step_size(dt_raw[t * nh + h], dt_bias[h], dims.time_step_limit);
            let decay = (dt * a[h]).exp();
            let bv = &row[di + g * n..di + (g + 1) * n];
            let cv = &row[di + gn + g * n..di + gn + (g + 1) * n];
            for pi in 0..p {
                let x = row[h * p + pi];
                let s = &mut state[(h * p + pi) * n..(h * p + pi + 1) * n];
                let mut acc = 0.0f64;
                for ni in 0..n {
                    s[ni] = s[ni] * decay + dt * x * bv[ni];
                    acc += s[ni] as f64 * cv[ni] as f64;
                }
                y[t * di + h * p + pi] = (acc + d[h] as f64 * x as f64) as f32;
            }
        }
    }
    y
}

/// Chunked SSD stage 1: Δ `[nH, T]` and the chunk-local inclusive prefix sums Λ of Δ·A `[nH, T]`.
pub fn ssd_dt(
    dims: &MambaDims,
    dt_raw: &[f32],
    dt_bias: &[f32],
    a: &[f32],
    t_len: usize,
    q: usize,
) -> (Vec<f32>, Vec<f32>) {
    let nh = dims.n_heads;
    let mut dt = vec![0.0f32; nh * t_len];
    let mut lam = vec![0.0f32; nh * t_len];
    for h in 0..nh {
        let mut sum = 0.0f64;
        for t in 0..t_len {
            if t % q == 0 {
                sum = 0.0;
            }
            let v = step_size(dt_raw[t * nh + h], dt_bias[h], dims.time_step_limit);
            dt[h * t_len + t] = v;
            sum += v as f64 * a[h] as f64;
            lam[h * t_len + t] = sum as f32;
        }
    }
    (dt, lam)
}

pub fn n_chunks(t_len: usize, q: usize) -> usize {
    t_len.div_ceil(q)
}

/// Stage 2: `CB[c, g, i, j] = C_i · B_j` within each chunk, `[nC, G, Q, Q]`; entries past the
/// chunk's end are 0 (the GPU leaves j > i unspecified; compare only j ≤ i < len).
pub fn ssd_cb(dims: &MambaDims, xbc_act: &[f32], t_len: usize, q: usize) -> Vec<f32> {
    let (g_n, n, cd, di) = (dims.n_groups, dims.d_state, dims.conv_dim(), dims.d_inner());
    let nc = n_chunks(t_len, q);
    let mut cb = vec![0.0f32; nc * g_n * q * q];
    for c in 0..nc {
        for g in 0..g_n {
            for i in 0..q {
                for j in 0..q {
                    let (ti, tj) = (c * q + i, c * q + j);
                    if ti >= t_len || tj >= t_len {
                        continue;
                    }
                    let mut acc = 0.0f64;
                    for k in 0..n {
                        let cv = xbc_act[ti * cd + di + g_n * n + g * n + k];
                        let bv = xbc_act[tj * cd + di + g * n + k];
                        acc += cv as f64 * bv as f64;
                    }
                    cb[((c * g_n + g) * q + i) * q + j] = acc as f32;
                }
            }
        }
    }
    cb
}

/// Stage 3: chunk-local end states `S_loc[c, h, p, n] = Σ_j exp(Λ_last − Λ_j)·Δ_j·x_j[p]·B_j[n]`.
pub fn ssd_chunk_states(
    dims: &MambaDims,
    xbc_act: &[f32],
    dt: &[f32],
    lam: &[f32],
    t_len: usize,
    q: usize,
) -> Vec<f32> {
    let (nh, p, n, cd, di) = (
        dims.n_heads,
        dims.head_dim,
        dims.d_state,
        dims.conv_dim(),
        dims.d_inner(),
    );
    let nc = n_chunks(t_len, q);
    let mut s = vec![0.0f32; nc * nh * p * n];
    for c in 0..nc {
        let (t0, t1) = (c * q, ((c + 1) * q).min(t_len));
        for h in 0..nh {
            let g = h / dims.heads_per_group();
            let last = lam[h * t_len + t1 - 1] as f64;
            for pi in 0..p {
                for ni in 0..n {
                    let mut acc = 0.0f64;
                    for t in t0..t1 {
                        let wgt =
                            (last - lam[h * t_len + t] as f64).exp() * dt[h * t_len + t] as f64;
                        acc += wgt
                            * xbc_act[t * cd + h * p + pi] as f64
                            * xbc_act[t * cd + di + g * n + ni] as f64;
                    }
                    s[((c * nh + h) * p + pi) * n + ni] = acc as f32;
                }
            }
        }
    }
    s
}

/// Stage 4: the inter-chunk recurrence `S_c = exp(Λ_last,c)·S_{c−1} + S_loc,c` from `init`.
/// Returns the state entering each chunk `[nC, nH, P, N]` and the final state `[nH, P, N]`.
pub fn ssd_scan_chunks(
    dims: &MambaDims,
    lam: &[f32],
    s_loc: &[f32],
    init: &[f32],
    t_len: usize,
    q: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (nh, pn) = (dims.n_heads, dims.head_dim * dims.d_state);
    let nc = n_chunks(t_len, q);
    let mut prev = vec![0.0f32; nc * nh * pn];
    let mut cur = init.to_vec();
    for c in 0..nc {
        let last = ((c + 1) * q).min(t_len) - 1;
        for h in 0..nh {
            let alpha = lam[h * t_len + last].exp();
            for e in 0..pn {
                let i = h * pn + e;
                prev[c * nh * pn + i] = cur[i];
                cur[i] = alpha * cur[i] + s_loc[c * nh * pn + i];
            }
        }
    }
    (prev, cur)
}

/// Stage 5: `y_i = Σ_{j≤i} exp(Λ_i−Λ_j)·CB_ij·Δ_j·x_j + exp(Λ_i)·S_prev·C_i + D·x_i`, `[T, Di]`.
#[allow(clippy::too_many_arguments)]
pub fn ssd_out(
    dims: &MambaDims,
    xbc_act: &[f32],
    dt: &[f32],
    lam: &[f32],
    cb: &[f32],
    s_prev: &[f32],
    d: &[f32],
    t_len: usize,
    q: usize,
) -> Vec<f32> {
    let (nh, p, n, cd, di) = (
        dims.n_heads,
        dims.head_dim,
        dims.d_state,
        dims.conv_dim(),
        dims.d_inner(),
    );
    let (g_n, gn) = (dims.n_groups, dims.n_groups * dims.d_state);
    let mut y = vec![0.0f32; t_len * di];
    for t in 0..t_len {
        let (c, i) = (t / q, t % q);
        for h in 0..nh {
            let g = h / dims.heads_per_group();
            let li = lam[h * t_len + t] as f64;
            for pi in 0..p {
                let mut carried = 0.0f64;
                let s = &s_prev[((c * nh + h) * p + pi) * n..][..n];
                for ni in 0..n {
                    carried += s[ni] as f64 * xbc_act[t * cd + di + gn + g * n + ni] as f64;
                }
                let mut acc = li.exp() * carried;
                for j in 0..=i {
                    let tj = c * q + j;
                    let m = cb[((c * g_n + g) * q + i) * q + j] as f64
                        * (li - lam[h * t_len + tj] as f64).exp()
                        * dt[h * t_len + tj] as f64;
                    acc += m * xbc_act[tj * cd + h * p + pi] as f64;
                }
                let x = xbc_act[t * cd + h * p + pi] as f64;
                y[t * di + h * p + pi] = (acc + d[h] as f64 * x) as f32;
            }
        }
    }
    y
}

/// The whole chunked SSD: stages 1–5. Updates `state`; returns y `[T, Di]`.
#[allow(clippy::too_many_arguments)]
pub fn ssm_chunked(
    dims: &MambaDims,
    xbc_act: &[f32],
    dt_raw: &[f32],
    dt_bias: &[f32],
    a: &[f32],
    d: &[f32],
    state: &mut [f32],
    q: usize,
) -> Vec<f32> {
    let t_len = xbc_act.len() / dims.conv_dim();
    let (dt, lam) = ssd_dt(dims, dt_raw, dt_bias, a, t_len, q);
    let cb = ssd_cb(dims, xbc_act, t_len, q);
    let s_loc = ssd_chunk_states(dims, xbc_act, &dt, &lam, t_len, q);
    let (s_prev, fin) = ssd_scan_chunks(dims, &lam, &s_loc, state, t_len, q);
    state.copy_from_slice(&fin);
    ssd_out(dims, xbc_act, &dt, &lam, &cb, &s_prev, d, t_len, q)
}

/// Grouped gated RMSNorm: `g = y·silu(z)`, normalised over each of the G groups of Di/G
/// channels, times `w`. `y`, `z` `[T, Di]` dense.
pub fn gated_norm(dims: &MambaDims, y: &[f32], z: &[f32], w: &[f32]) -> Vec<f32> {
    let di = dims.d_inner();
    let gs = dims.group_size();
    let mut out = vec![0.0f32; y.len()];
    for (row, (yr, zr)) in y.chunks(di).zip(z.chunks(di)).enumerate() {
        for grp in 0..dims.n_groups {
            let r = grp * gs..(grp + 1) * gs;
            let gated: Vec<f64> = r
                .clone()
                .map(|i| yr[i] as f64 * silu(zr[i] as f64))
                .collect();
            let ms = gated.iter().map(|v| v * v).sum::<f64>() / gs as f64;
            let inv = 1.0 / (ms + dims.eps as f64).sqrt();
            for (k, i) in r.enumerate() {
                out[row * di + i] = (w[i] as f64 * gated[k] * inv) as f32;
            }
        }
    }
    out
}

/// The split of one in_proj output matrix `[T, in_proj_dim]` into dense z, xBC and dt_raw.
pub fn split_in_proj(dims: &MambaDims, zxbcdt: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (di, cd, w) = (dims.d_inner(), dims.conv_dim(), dims.in_proj_dim());
    let (mut z, mut xbc, mut dt) = (Vec::new(), Vec::new(), Vec::new());
    for row in zxbcdt.chunks(w) {
        z.extend_from_slice(&row[..di]);
        xbc.extend_from_slice(&row[di..di + cd]);
        dt.extend_from_slice(&row[di + cd..]);
    }
    (z, xbc, dt)
}

/// The mixer between the projections for one sequence of T tokens (T = 1 is a decode step):
/// conv → SSM (sequential recurrence) → gated norm. Updates both states; returns `[T, Di]`.
pub fn mixer(
    dims: &MambaDims,
    w: &MambaHostWeights,
    zxbcdt: &[f32],
    conv_state: &mut [f32],
    ssm_state: &mut [f32],
) -> Vec<f32> {
    let (z, xbc, dt_raw) = split_in_proj(dims, zxbcdt);
    let act = conv(dims, &xbc, &w.conv_w, &w.conv_b, conv_state);
    let y = ssm_sequential(dims, &act, &dt_raw, &w.dt_bias, &w.a(), &w.d, ssm_state);
    gated_norm(dims, &y, &z, &w.norm_w)
}
