//! `y = alpha · (x · Wᵀ + bias)` (optionally added into y) with f16 weights `W [rows, cols]`.
//! One token or two: the matrix-vector kernel (bandwidth-bound); more: the tiled product.
use super::elementwise::swiglu;
use super::{ensure, tiling};
use crate::Result;
use crate::gpu::{Bind, F16Matrix, Gpu, Recorder, Rows, Tensor, uniform};
use crate::kernels::moe::ExpertSum;

uniform! {
    struct Params {
        rows: u32,
        cols: u32,
        ld8: u32,
        row0: u32,
        x_stride: u32,
        y_stride: u32,
        accumulate: u32,
        has_bias: u32,
        alpha: f32,
        n_tok: u32,
        x_off: u32,
        y_off: u32,
        eps: f32,
        z_off: u32,
        z_stride: u32,
        _pad: u32,
        conv_row0: u32,
        conv_dim: u32,
        conv_k: u32,
        conv_state_off: u32,
        experts_k: u32,
        experts_alpha: f32,
        experts_rows: u32,
        _pad2: u32,
    }
}

/// Epilogue of a linear layer: scale, bias, whether to add into the output, and (one-token
/// products only) Mamba's causal conv step over a range of output rows.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    pub alpha: f32,
    pub accumulate: bool,
    pub bias: Option<&'a Tensor>,
    pub conv: Option<ConvStep<'a>>,
    /// Decode only: the routed experts' weighted sum, added to the output rows too (the MoE
    /// layer's last dispatch joins the shared MLP's down product).
    pub experts: Option<&'a ExpertSum>,
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Epilogue {
            alpha: 1.0,
            accumulate: false,
            bias: None,
            conv: None,
            experts: None,
        }
    }
}

/// Output rows `row0 .. row0 + channels` of a one-token product (Mamba's xBC) leave as
/// `silu(bias + Σ_k weight[ch, k] · window_k)`, the window being the `taps − 1` values in
/// `state` (from `state_offset`, `[taps − 1, channels]`, oldest first) and the new value; the
/// state shifts by one. Each row belongs to one invocation group, so the update cannot race.
#[derive(Clone, Copy)]
pub struct ConvStep<'a> {
    pub row0: usize,
    pub channels: usize,
    pub taps: usize,
    /// `[channels, taps]`
    pub weight: &'a Tensor,
    /// `[channels]`
    pub bias: &'a Tensor,
    pub state: &'a Tensor,
    pub state_offset: usize,
}

/// Whether one-token products can run the conv step in their epilogue: it needs three more
/// storage bindings (eight with an input norm), more than the smallest adapters allow.
pub fn fuses_conv(gpu: &Gpu) -> bool {
    gpu.limits.max_storage_buffers_per_shader_stage >= 8
}

/// An RMSNorm still to be applied to a product's input rows: `x ⊙ weight / rms(x)`, where with
/// a `gate` (Mamba-2's gated norm, one group) x is first multiplied by `silu(gate)`.
#[derive(Clone, Copy)]
pub struct InputNorm<'a> {
    pub weight: &'a Tensor,
    pub eps: f32,
    pub gate: Option<Rows<'a>>,
}

/// The rows a product reads, with the RMSNorm the matrix-vector kernel should apply to them as
/// it loads them (only where [`fuses_norm`] says so).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub x: Rows<'a>,
    pub norm: Option<InputNorm<'a>>,
}

impl<'a> From<Rows<'a>> for Input<'a> {
    fn from(x: Rows<'a>) -> Self {
        Input { x, norm: None }
    }
}

/// Whether products over `n_tok` tokens take their input's RMSNorm inside the matrix-vector
/// kernel, saving the normalisation dispatch. Off on CPU drivers, where the extra weight load
/// per activation load costs more than a dispatch (see [`crate::gpu::KernelPaths`]).
pub fn fuses_norm(gpu: &Gpu, n_tok: usize) -> bool {
    gpu.paths.fused_norms && uses_matvec(n_tok)
}

/// Whether products over `n_tok` tokens run as the matrix-vector kernel, whose epilogue can
/// take Mamba's conv step and the routed experts' sum.
pub fn uses_matvec(n_tok: usize) -> bool {
    n_tok <= MATVEC_MAX_TOKENS
}

/// Tokens at or below this go through the matrix-vector kernel.
const MATVEC_MAX_TOKENS: usize = 2;
/// Invocations per matvec workgroup and rows each group of invocations owns (`WG`, `ROWS` in
/// shaders/include/matvec_x.wgsl: 8 with lane rows, else 4).
const MATVEC_WG: u32 = 64;
const MATVEC_ROWS: u32 = 4;
const MATVEC_LANE_ROWS: u32 = 8;
/// The matrix-vector kernels' flag for [`crate::gpu::KernelPaths::lane_rows`] (prompts take
/// matmul.wgsl's `matmul_rows` entry point instead).
pub(crate) const LANE_ROWS: &str = "LANE_ROWS";

/// Reads `w.cols` floats from each of `n_tok` rows of `x`; writes `w.rows` floats into each row
/// of `y` (overwriting, or adding with `ep.accumulate`).
pub fn linear<'a>(
    rec: &mut Recorder,
    w: &F16Matrix,
    x: impl Into<Input<'a>>,
    y: Rows,
    n_tok: usize,
    ep: Epilogue,
) -> Result<()> {
    let x = x.into();
    check_io(w, x, y, n_tok, w.rows)?;
    if let Some(b) = ep.bias {
        ensure(b.numel() >= w.rows, || {
            format!("linear: bias has {} values, need {}", b.numel(), w.rows)
        })?;
    }
    launch(rec, w, x, y, n_tok, ep, false)
}

/// The gated MLP input: `y[t, r] = silu(W[r]·x_t) · (W[I + r]·x_t)` for `r < I = w.rows / 2`
/// (`W = [gate; up]`), into `y` `[n_tok, I]`. Decode-sized inputs with W in one binding run as
/// one matrix-vector dispatch with the activation in its epilogue; otherwise the product goes
/// through `tmp` (`[n_tok, 2I]`) and the activation kernel.
pub fn linear_swiglu<'a>(
    rec: &mut Recorder,
    w: &F16Matrix,
    x: impl Into<Input<'a>>,
    tmp: &Tensor,
    y: &Tensor,
    n_tok: usize,
) -> Result<()> {
    let x = x.into();
    ensure(w.rows.is_multiple_of(2), || {
        format!(
            "linear_swiglu: W = [gate; up] needs an even number of rows, got {}",
            w.rows
        )
    })?;
    let width = w.rows / 2;
    if uses_matvec(n_tok) && w.parts.len() == 1 {
        let y = y.rows(width, 0);
        check_io(w, x, y, n_tok, width)?;
        return launch(rec, w, x, y, n_tok, Epilogue::default(), true);
    }
    linear(
        rec,
        w,
        x,
        tmp.rows(2 * width, 0),
        n_tok,
        Epilogue::default(),
    )?;
    swiglu(rec, tmp, y, width, n_tok)
}

fn check_io(w: &F16Matrix, input: Input, y: Rows, n_tok: usize, y_cols: usize) -> Result<()> {
    if let Some(norm) = input.norm {
        ensure(norm.weight.numel() >= w.cols, || {
            format!(
                "linear: norm weight has {} values, need {}",
                norm.weight.numel(),
                w.cols
            )
        })?;
        if let Some(z) = norm.gate {
            ensure(z.fits(n_tok, w.cols), || {
                format!("linear: gate too small for {n_tok}×{}", w.cols)
            })?;
        }
    }
    let x = input.x;
    ensure(x.fits(n_tok, w.cols), || {
        let (n, s) = (x.t.numel(), x.stride);
        format!(
            "linear: x ({n} floats, stride {s}) too small for {n_tok}×{}",
            w.cols
        )
    })?;
    ensure(y.fits(n_tok, y_cols), || {
        let (n, s) = (y.t.numel(), y.stride);
        format!("linear: y ({n} floats, stride {s}) too small for {n_tok}×{y_cols}")
    })
}

/// Output rows per workgroup of matvec.wgsl and moe_matvec.wgsl: MATVEC_WG invocations, TPR
/// (1 with lane rows, else a subgroup, or 8 on the portable path) per group of rows.
pub(crate) fn matvec_rows_per_workgroup(gpu: &Gpu) -> u32 {
    if gpu.paths.lane_rows {
        return MATVEC_LANE_ROWS * MATVEC_WG;
    }
    let tpr = if gpu.paths.subgroups {
        gpu.paths.subgroup_size
    } else {
        8
    };
    MATVEC_ROWS * (MATVEC_WG / tpr).max(1)
}

/// One dispatch per part of `w`. `glu`: matvec only, `w` in one part, `rows / 2` outputs.
fn launch(
    rec: &mut Recorder,
    w: &F16Matrix,
    input: Input,
    y: Rows,
    n_tok: usize,
    ep: Epilogue,
    glu: bool,
) -> Result<()> {
    let gpu = rec.gpu();
    let (x, norm) = (input.x, input.norm);
    ensure(norm.is_none() || fuses_norm(gpu, n_tok), || {
        format!("linear: an input norm over {n_tok} tokens must be applied by rmsnorm first")
    })?;
    let kernel = tiling::Kernel::pick(gpu, w.rows, n_tok);
    let (name, entry) = kernel.entry();
    let mut variant = gpu.variant(name, &[]);
    variant.flags.extend(kernel.flags(gpu));
    let gate = norm.and_then(|n| n.gate);
    let vec4_rows = |r: Rows| whole_vec4_rows(w.cols, r.offset, r.stride);
    let x4 = vec4_rows(x) && gate.is_none_or(vec4_rows);
    if x4 {
        variant.flags.insert("X4");
    }
    if glu {
        variant.flags.insert("GLU");
    }
    if let Some(c) = ep.conv {
        check_conv(gpu, w, &c, n_tok, &ep, glu)?;
        variant.flags.insert("CONV");
    }
    if let Some(e) = ep.experts {
        check_experts(w, e, n_tok, glu)?;
        variant.flags.insert("EXPERTS");
    }
    if norm.is_some() {
        variant.flags.insert("NORM");
    }
    if gate.is_some() {
        variant.flags.insert("GATED");
    }
    let pipeline = gpu.pipeline(&variant, entry)?;
    for part in &w.parts {
        let rows = if glu { part.rows / 2 } else { part.rows } as u32;
        let params = Params {
            rows,
            cols: w.cols as u32,
            ld8: (w.ld / 8) as u32,
            row0: part.row0 as u32,
            x_stride: x.stride as u32,
            y_stride: y.stride as u32,
            accumulate: ep.accumulate as u32,
            has_bias: ep.bias.is_some() as u32,
            alpha: ep.alpha,
            n_tok: n_tok as u32,
            x_off: x.offset as u32,
            y_off: y.offset as u32,
            eps: norm.map_or(0.0, |n| n.eps),
            z_off: gate.map_or(0, |z| z.offset as u32),
            z_stride: gate.map_or(0, |z| z.stride as u32),
            _pad: 0,
            conv_row0: ep.conv.map_or(0, |c| c.row0 as u32),
            conv_dim: ep.conv.map_or(0, |c| c.channels as u32),
            conv_k: ep.conv.map_or(0, |c| c.taps as u32),
            conv_state_off: ep.conv.map_or(0, |c| c.state_offset as u32),
            experts_k: ep.experts.map_or(0, |e| e.top_k as u32),
            experts_alpha: ep.experts.map_or(0.0, |e| e.alpha),
            experts_rows: w.rows as u32,
            _pad2: 0,
        };
        // Unused when there is no bias; x is bound there because read-only aliasing is legal.
        let bias = Bind::read(&ep.bias.unwrap_or(x.t).buf);
        let mut binds = vec![
            Bind::read(&part.buf),
            Bind::read(&x.t.buf),
            Bind::write(&y.t.buf),
            bias,
        ];
        if let Some(n) = norm {
            binds.push(Bind::read(&n.weight.buf));
        }
        if let Some(z) = gate {
            binds.push(Bind::read(&z.t.buf));
        }
        if let Some(c) = ep.conv {
            // Bindings 7.. whatever precedes (see matvec.wgsl).
            binds.push(Bind::write(&c.state.buf).at(7));
            binds.extend([&c.weight, &c.bias].map(|t| Bind::read(&t.buf)));
        }
        if let Some(e) = ep.experts {
            binds.push(Bind::read(&e.gates).at(10));
            binds.push(Bind::read(&e.ys));
        }
        let groups = kernel.groups(gpu, rows, n_tok as u32);
        rec.dispatch(&pipeline, "linear", &params, binds, groups);
    }
    Ok(())
}

/// Whether rows of `cols` floats at `offset`, `stride` apart, can be read as whole vec4s with
/// no tail (the matrix-vector kernels' `X4` variants): every row 16-byte aligned, 8 | cols.
pub(crate) fn whole_vec4_rows(cols: usize, offset: usize, stride: usize) -> bool {
    cols.is_multiple_of(8) && offset.is_multiple_of(4) && stride.is_multiple_of(4)
}

/// The expert-sum epilogue's preconditions: a plain matrix-vector product over the sum's
/// tokens, with one output row per row of the experts' outputs.
fn check_experts(w: &F16Matrix, e: &ExpertSum, n_tok: usize, glu: bool) -> Result<()> {
    ensure(
        uses_matvec(n_tok) && !glu && e.n_tok == n_tok && e.hidden == w.rows,
        || {
            format!(
                "linear: an expert sum over {} tokens × {} rows cannot join a {n_tok}-token \
                 product of {} rows",
                e.n_tok, e.hidden, w.rows
            )
        },
    )
}

/// The conv epilogue's preconditions: one token, plain overwrite, rows and buffers in range.
fn check_conv(
    gpu: &Gpu,
    w: &F16Matrix,
    c: &ConvStep,
    n_tok: usize,
    ep: &Epilogue,
    glu: bool,
) -> Result<()> {
    ensure(
        fuses_conv(gpu) && n_tok == 1 && !ep.accumulate && !glu,
        || {
            format!(
                "linear: a conv epilogue needs one token and a plain product (got {n_tok} tokens)"
            )
        },
    )?;
    ensure(c.taps >= 1 && c.row0 + c.channels <= w.rows, || {
        format!(
            "linear: conv rows {}..{} outside the {} outputs",
            c.row0,
            c.row0 + c.channels,
            w.rows
        )
    })?;
    let window = (c.taps - 1) * c.channels;
    ensure(
        c.weight.numel() >= c.channels * c.taps
            && c.bias.numel() >= c.channels
            && c.state.numel() >= c.state_offset + window,
        || "linear: conv weight, bias or state smaller than the conv rows need".into(),
    )
}
