//! One decode step of the Mamba-2 mixer (conv step, SSM step, gated norm), and the pieces of
//! it that the neighbouring products can take over: the conv step as in_proj's epilogue
//! ([`conv_epilogue`]) and the gate + norm as out_proj's input ([`gated_norm_input`]).
use super::{
    MambaDims, MambaLayerWeights, MambaScratch, MambaState, checked_split, conv, norm, scan, split,
};
use crate::Result;
use crate::gpu::{Gpu, GpuBuffer, MemTag, Recorder, Rows};
use crate::kernels::linear::{ConvStep, Input, InputNorm};

/// Which parts of the decode step [`mamba_mixer_decode`] runs.
#[derive(Clone, Copy, Default)]
pub struct DecodeSteps<'a> {
    /// in_proj already ran the conv step in its epilogue ([`conv_epilogue`]): xBC in `zxbcdt`
    /// is activated and the conv state shifted.
    pub conv_done: bool,
    /// Rows for the gated-norm output; `None` stops before the gated norm and leaves the SSM
    /// output in `scratch.y`, for a product that applies gate and norm itself
    /// ([`gated_norm_input`]).
    pub out: Option<Rows<'a>>,
}

impl<'a> DecodeSteps<'a> {
    /// Conv, scan and gated norm into `out`.
    pub fn all(out: Rows<'a>) -> Self {
        DecodeSteps {
            conv_done: false,
            out: Some(out),
        }
    }
}

/// One decode step for `n_seqs` sequences at once: row s of `zxbcdt` is sequence s's token,
/// which uses state slot `seq_slots[s]` (a u32 buffer). Output rows as in prefill.
#[allow(clippy::too_many_arguments)]
pub fn mamba_mixer_decode(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    zxbcdt: Rows,
    n_seqs: usize,
    seq_slots: &GpuBuffer,
    state: &MambaState,
    scratch: &MambaScratch,
    steps: DecodeSteps,
) -> Result<()> {
    if n_seqs == 0 {
        return Ok(());
    }
    let (z, xbc, dt) = checked_split(dims, w, zxbcdt, n_seqs, "mamba decode")?;
    let xbc_act = if steps.conv_done {
        xbc
    } else {
        conv::conv_step(rec, dims, w, xbc, n_seqs, seq_slots, state, &scratch.xbc)?;
        scratch.xbc.rows(dims.conv_dim(), 0)
    };
    let y = &scratch.y;
    scan::ssm_step(rec, dims, w, xbc_act, dt, n_seqs, seq_slots, state, y)?;
    match steps.out {
        Some(out) => norm::gated_norm(rec, dims, &scratch.y, z, &w.norm_w, n_seqs, out),
        None => Ok(()),
    }
}

/// The conv step of a single-sequence decode (state slot `slot`) as the epilogue of the
/// in_proj product that writes `zxbcdt`: the xBC rows come out activated, in place.
pub fn conv_epilogue<'a>(
    dims: &MambaDims,
    w: &'a MambaLayerWeights,
    state: &'a MambaState,
    slot: usize,
) -> Result<ConvStep<'a>> {
    state.check_slot(slot)?;
    Ok(ConvStep {
        row0: dims.xbc_offset(),
        channels: dims.conv_dim(),
        taps: dims.d_conv,
        weight: &w.conv_w,
        bias: &w.conv_b,
        state: &state.conv,
        state_offset: slot * (dims.d_conv - 1) * dims.conv_dim(),
    })
}

/// The out_proj input after a [`mamba_mixer_decode`] without `out` rows, as a product input
/// that applies the gated norm itself (`linear::fuses_norm`), or `None` where it cannot: with
/// several norm groups the scale differs within a row, so the gated-norm kernel runs instead.
pub fn gated_norm_input<'a>(
    dims: &MambaDims,
    w: &'a MambaLayerWeights,
    scratch: &'a MambaScratch,
    zxbcdt: Rows<'a>,
) -> Option<Input<'a>> {
    let (z, _, _) = split(dims, zxbcdt);
    let norm = InputNorm {
        weight: &w.norm_w,
        eps: dims.eps,
        gate: Some(z),
    };
    (dims.n_groups == 1).then(|| Input {
        x: scratch.y.rows(dims.d_inner(), 0),
        norm: Some(norm),
    })
}

/// A u32 buffer of state slots, one per sequence, for [`mamba_mixer_decode`].
pub fn upload_slots(gpu: &Gpu, slots: &[u32]) -> Result<GpuBuffer> {
    gpu.upload(MemTag::Scratch, slots, "mamba.seq_slots")
}
