//! Mamba-2 mixer kernels: everything between in_proj and out_proj of a Mamba layer.
//!
//! The model code is `in_proj (linear) → mamba_mixer_prefill / mamba_mixer_decode → out_proj
//! (linear)`. The mixer reads z, xBC and dt straight out of the in_proj output (`Rows` views),
//! runs the causal conv (+ bias + SiLU), the selective scan (chunked SSD for prompts, or the
//! token-by-token recurrence) and the grouped gated RMSNorm, and leaves the out_proj input.
//! All of Δ, exp, cumulative sums and the state are f32.
//!
//! What the model keeps: per layer a [`MambaLayerWeights`] and a [`MambaState`] (one slot per
//! sequence); one [`MambaScratch`] for all layers, sized for the longest prefill piece.
//! - prefill of a sequence: `linear(in_proj)` → [`mamba_mixer_prefill`] (chunked) →
//!   `linear(out_proj)`; a fresh sequence first zeroes its slot ([`MambaState::zero`]), a
//!   continuation (next turn, or a long prompt in pieces) just runs again on the same slot;
//! - decode of B sequences: B rows through `linear(in_proj)` → [`mamba_mixer_decode`] with a u32
//!   buffer of their slots → `linear(out_proj)`.
//!
//! The stage launchers (`conv`, `ssd`, `scan`, `norm`) are public for tests and profiling.
pub mod conv;
mod decode;
pub mod norm;
pub mod scan;
pub mod ssd;
mod ssd_stages;
pub mod state;
mod weights;

use std::collections::BTreeSet;

use super::ensure;
use crate::Result;
use crate::gpu::shaders::{SUBGROUPS, Variant};
use crate::gpu::{Gpu, MemTag, Recorder, Rows, Tensor};

pub use decode::{DecodeSteps, conv_epilogue, gated_norm_input, mamba_mixer_decode, upload_slots};
pub use state::{MambaSnapshot, MambaState};
pub use weights::{MambaHostWeights, MambaLayerWeights};

/// Shapes of one Mamba-2 mixer (from config.json: hidden_size, mamba_n_heads, mamba_d_head,
/// mamba_d_state, mamba_n_groups, mamba_d_conv, mamba_chunk_size, time_step_limit, rms_norm_eps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MambaDims {
    pub hidden: usize,
    pub n_heads: usize,
    pub head_dim: usize,
    pub d_state: usize,
    pub n_groups: usize,
    pub d_conv: usize,
    /// SSD chunk length Q (`mamba_chunk_size` or a tuned value; the result does not depend on it).
    pub chunk: usize,
    /// Clamp of Δ after softplus, when the config sets a finite range. `None`: no clamp.
    pub time_step_limit: Option<(f32, f32)>,
    pub eps: f32,
}

impl MambaDims {
    pub fn d_inner(&self) -> usize {
        self.n_heads * self.head_dim
    }
    /// Channels of the conv: x | B | C.
    pub fn conv_dim(&self) -> usize {
        self.d_inner() + 2 * self.n_groups * self.d_state
    }
    /// Width of the in_proj output row: z | xBC | dt.
    pub fn in_proj_dim(&self) -> usize {
        2 * self.d_inner() + 2 * self.n_groups * self.d_state + self.n_heads
    }
    pub fn heads_per_group(&self) -> usize {
        self.n_heads / self.n_groups
    }
    /// Channels per group of the gated norm.
    pub fn group_size(&self) -> usize {
        self.d_inner() / self.n_groups
    }
    /// Float offsets of z, xBC and dt_raw inside an in_proj output row.
    pub fn z_offset(&self) -> usize {
        0
    }
    pub fn xbc_offset(&self) -> usize {
        self.d_inner()
    }
    pub fn dt_offset(&self) -> usize {
        self.d_inner() + self.conv_dim()
    }
    /// Floats of one sequence's conv state `[K−1, conv_dim]` and SSM state `[nH, P, N]`.
    pub fn conv_state_len(&self) -> usize {
        (self.d_conv - 1) * self.conv_dim()
    }
    pub fn ssm_state_len(&self) -> usize {
        self.d_inner() * self.d_state
    }

    /// The limits the kernels are written for.
    pub fn check(&self) -> Result<()> {
        let d = *self;
        ensure(
            d.n_heads > 0 && d.head_dim > 0 && d.d_state > 0 && d.n_groups > 0,
            || format!("mamba: empty dimension in {d:?}"),
        )?;
        ensure(d.n_heads.is_multiple_of(d.n_groups), || {
            format!(
                "mamba: n_heads {} not a multiple of n_groups {}",
                d.n_heads, d.n_groups
            )
        })?;
        ensure((2..=8).contains(&d.d_conv), || {
            format!("mamba: d_conv {} outside 2..=8", d.d_conv)
        })?;
        ensure(d.d_state <= scan::MAX_D_STATE, || {
            format!(
                "mamba: d_state {} above the supported {}",
                d.d_state,
                scan::MAX_D_STATE
            )
        })?;
        ensure(d.chunk > 0, || "mamba: chunk length 0".into())?;
        if let Some((lo, hi)) = d.time_step_limit {
            ensure(lo <= hi && !lo.is_nan() && !hi.is_nan(), || {
                format!("mamba: time_step_limit ({lo}, {hi}) is not a range")
            })?;
        }
        Ok(())
    }

    /// (has_limit, lo, hi) for the kernels' uniform blocks; an infinite bound becomes f32::MAX.
    pub(crate) fn limit_params(&self) -> (u32, f32, f32) {
        match self.time_step_limit {
            Some((lo, hi)) => (1, lo.max(-f32::MAX), hi.min(f32::MAX)),
            None => (0, 0.0, 0.0),
        }
    }
}

/// Work buffers of the mixer, sized for up to `max_tokens` tokens per call (prefill) or
/// sequences (decode). One scratch serves every layer: recorded work runs in order.
pub struct MambaScratch {
    /// `[max_tokens, conv_dim]` activated xBC.
    pub xbc: Tensor,
    /// `[max_tokens, Di]` SSM output before the gated norm.
    pub y: Tensor,
    /// `[nH, max_tokens]` Δ and chunk-local Λ (chunked prefill).
    pub dt: Tensor,
    pub lam: Tensor,
    /// `[nH, nC]` each chunk's total decay.
    pub decay: Tensor,
    /// `[nC, G, Q, Q rounded up to 4]` (C·Bᵀ)ᵀ per chunk and group.
    pub cb: Tensor,
    /// `[nC, nH, N, P]` chunk-local end states, then the states entering each chunk.
    pub states: Tensor,
    pub max_tokens: usize,
    /// Register tiling of the chunked stages; [`ssd::MicroTile::for_device`] by default.
    pub micro: ssd::MicroTile,
}

impl MambaScratch {
    /// Buffers for prompts of up to `max_tokens` tokens at `dims.chunk` (or any larger chunk).
    /// Each buffer is bound whole, so it must fit one storage binding: longer prompts are
    /// prefilled in pieces (each piece continues from the state the previous one left).
    pub fn new(gpu: &Gpu, dims: &MambaDims, max_tokens: usize) -> Result<Self> {
        dims.check()?;
        let t = max_tokens.max(1);
        let nc = t.div_ceil(dims.chunk);
        let q = dims.chunk.min(t);
        let biggest = [
            t * dims.conv_dim(),
            nc * dims.n_groups * q * ssd::cb_stride(q),
            nc * dims.ssm_state_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as u64
            * 4;
        ensure(biggest <= gpu.max_binding, || {
            format!(
                "mamba scratch for {t} tokens needs a {biggest}-byte buffer; one storage binding \
                 holds {} bytes on this adapter: prefill in smaller pieces",
                gpu.max_binding
            )
        })?;
        let z = |shape: &[usize], label| Tensor::zeros(gpu, MemTag::Scratch, shape, label);
        Ok(MambaScratch {
            xbc: z(&[t, dims.conv_dim()], "mamba.scratch.xbc")?,
            y: z(&[t, dims.d_inner()], "mamba.scratch.y")?,
            dt: z(&[dims.n_heads, t], "mamba.scratch.dt")?,
            lam: z(&[dims.n_heads, t], "mamba.scratch.lam")?,
            decay: z(&[dims.n_heads, nc], "mamba.scratch.decay")?,
            cb: z(
                &[nc, dims.n_groups, q, ssd::cb_stride(q)],
                "mamba.scratch.cb",
            )?,
            states: z(&[nc, dims.ssm_state_len()], "mamba.scratch.states")?,
            max_tokens: t,
            micro: ssd::MicroTile::for_device(gpu),
        })
    }
}

/// Which selective scan a prefill uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefillScan {
    /// Chunked SSD (matmul-shaped work, parallel scan over chunks): the fast path.
    Chunked,
    /// Token by token (the llama.cpp scheme): the baseline and a second reference.
    Sequential,
}

/// The in_proj output seen as its three parts.
pub(crate) fn split<'a>(dims: &MambaDims, zxbcdt: Rows<'a>) -> (Rows<'a>, Rows<'a>, Rows<'a>) {
    let at = |off| Rows {
        offset: zxbcdt.offset + off,
        ..zxbcdt
    };
    (
        at(dims.z_offset()),
        at(dims.xbc_offset()),
        at(dims.dt_offset()),
    )
}

/// The z, xBC and dt views of `n` rows of in_proj output, once the shapes are checked (`what`
/// names the caller in the error).
pub(crate) fn checked_split<'a>(
    dims: &MambaDims,
    w: &MambaLayerWeights,
    zxbcdt: Rows<'a>,
    n: usize,
    what: &str,
) -> Result<(Rows<'a>, Rows<'a>, Rows<'a>)> {
    dims.check()?;
    w.check(dims)?;
    ensure(zxbcdt.fits(n, dims.in_proj_dim()), || {
        format!(
            "{what}: in_proj output too small for {n}×{}",
            dims.in_proj_dim()
        )
    })?;
    Ok(split(dims, zxbcdt))
}

/// Prefill of one sequence: `zxbcdt` holds `n_tok` rows of the in_proj output (z | xBC | dt),
/// the sequence continues from `state` slot `slot` (zero it for a fresh sequence), and the
/// gated-norm output `[n_tok, Di]` (the out_proj input) goes to `out`. Updates both states.
#[allow(clippy::too_many_arguments)]
pub fn mamba_mixer_prefill(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    zxbcdt: Rows,
    n_tok: usize,
    state: &MambaState,
    slot: usize,
    scratch: &MambaScratch,
    out: Rows,
    scan: PrefillScan,
) -> Result<()> {
    if n_tok == 0 {
        return Ok(());
    }
    let (z, xbc, dt) = checked_split(dims, w, zxbcdt, n_tok, "mamba prefill")?;
    conv::conv_prefill(rec, dims, w, xbc, n_tok, state, slot, &scratch.xbc)?;
    match scan {
        PrefillScan::Chunked => ssd::ssd_prefill(
            rec,
            dims,
            w,
            &scratch.xbc,
            dt,
            n_tok,
            state,
            slot,
            scratch,
            &scratch.y,
        )?,
        PrefillScan::Sequential => scan::ssm_scan_sequential(
            rec,
            dims,
            w,
            scratch.xbc.rows(dims.conv_dim(), 0),
            dt,
            n_tok,
            state,
            slot,
            &scratch.y,
        )?,
    }
    norm::gated_norm(rec, dims, &scratch.y, z, &w.norm_w, n_tok, out)
}

/// The pipeline variant of a mamba shader: none of them use f16; `subgroups` keeps the
/// device's SUBGROUPS flag (and its size constant); `extra` adds shape flags.
pub(crate) fn variant(
    gpu: &Gpu,
    shader: &'static str,
    subgroups: bool,
    extra: &[&'static str],
) -> Variant {
    let base = gpu.variant(shader, &[]);
    let mut flags: BTreeSet<&'static str> = extra.iter().copied().collect();
    let mut consts = Vec::new();
    if subgroups && base.flags.contains(SUBGROUPS) {
        flags.insert(SUBGROUPS);
        consts = base.consts;
    }
    Variant {
        shader,
        flags,
        consts,
    }
}

/// Floats in a tensor, checked against what a kernel will touch.
pub(crate) fn need(t: &Tensor, floats: usize, what: &str) -> Result<()> {
    ensure(t.numel() >= floats, || {
        format!("mamba: {what} holds {} floats, needs {floats}", t.numel())
    })
}

/// A u32 count for a uniform block, rejecting sizes the kernels' 32-bit indexing cannot reach.
pub(crate) fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| crate::Error::Input(format!("mamba: {what} = {v} exceeds u32")))
}
