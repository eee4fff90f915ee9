//! Causal depthwise conv1d + bias + SiLU over the xBC channels, with the conv state.
use super::{MambaDims, MambaLayerWeights, MambaState, need, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, GpuBuffer, Recorder, Rows, Tensor, grid, uniform};
use crate::kernels::ensure;

/// Tokens per invocation of the K4 prefill kernel (`TPT`).
const K4_TOKENS: usize = 8;

uniform! {
    struct Params {
        conv_dim: u32,
        k: u32,
        n_tok: u32,
        x_stride: u32,
        x_off: u32,
        slot: u32,
        out_stride: u32,
        _p0: u32,
    }
}

fn params(dims: &MambaDims, xbc: Rows, n: usize, slot: usize) -> Result<Params> {
    Ok(Params {
        conv_dim: dims.conv_dim() as u32,
        k: dims.d_conv as u32,
        n_tok: u32_of(n, "conv rows")?,
        x_stride: u32_of(xbc.stride, "xBC stride")?,
        x_off: u32_of(xbc.offset, "xBC offset")?,
        slot: slot as u32,
        out_stride: dims.conv_dim() as u32,
        _p0: 0,
    })
}

fn check(
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc: Rows,
    n: usize,
    state: &MambaState,
    out: &Tensor,
) -> Result<()> {
    dims.check()?;
    w.check(dims)?;
    state.check(dims)?;
    ensure(xbc.fits(n, dims.conv_dim()), || {
        format!("mamba conv: xBC view too small for {n} rows")
    })?;
    need(out, n * dims.conv_dim(), "conv output")
}

/// Prefill of one sequence: `xbc` views `n_tok` pre-conv rows (e.g. the xBC part of the in_proj
/// output); writes the activated rows `[n_tok, conv_dim]` to `out` and then replaces the conv
/// state of `slot` with the last K−1 pre-conv rows (shifting old rows in when n_tok < K−1).
#[allow(clippy::too_many_arguments)]
pub fn conv_prefill(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc: Rows,
    n_tok: usize,
    state: &MambaState,
    slot: usize,
    out: &Tensor,
) -> Result<()> {
    if n_tok == 0 {
        return Ok(());
    }
    check(dims, w, xbc, n_tok, state, out)?;
    state.check_slot(slot)?;
    let gpu = rec.gpu();
    // d_conv = 4 (every release) has a kernel that slides the window through TPT tokens.
    let k4 = dims.d_conv == 4;
    let v = variant(gpu, "mamba_conv", false, if k4 { &["K4"] } else { &[] });
    let p = params(dims, xbc, n_tok, slot)?;
    let items = if k4 { n_tok.div_ceil(K4_TOKENS) } else { n_tok };
    let total = u32_of(items * dims.conv_dim(), "conv elements")?;
    rec.dispatch(
        &gpu.pipeline(&v, "conv_prefill")?,
        "mamba_conv",
        &p,
        vec![
            Bind::read(&xbc.t.buf),
            Bind::write(&state.conv.buf),
            Bind::read(&w.conv_w.buf),
            Bind::read(&w.conv_b.buf),
            Bind::write(&out.buf),
        ],
        grid(gpu, total.div_ceil(256)),
    );
    // A second dispatch: every conv invocation above must have read the old state first.
    rec.dispatch(
        &gpu.pipeline(&v, "conv_state_update")?,
        "mamba_conv",
        &p,
        vec![Bind::read(&xbc.t.buf), Bind::write(&state.conv.buf)],
        grid(gpu, p.conv_dim.div_ceil(256)),
    );
    Ok(())
}

/// Decode: one token for each of `n_seqs` sequences (row s of `xbc`), sequence s using conv
/// state slot `seq_slots[s]`; writes `[n_seqs, conv_dim]` to `out` and shifts each state.
#[allow(clippy::too_many_arguments)]
pub fn conv_step(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc: Rows,
    n_seqs: usize,
    seq_slots: &GpuBuffer,
    state: &MambaState,
    out: &Tensor,
) -> Result<()> {
    if n_seqs == 0 {
        return Ok(());
    }
    check(dims, w, xbc, n_seqs, state, out)?;
    ensure(seq_slots.size() >= 4 * n_seqs as u64, || {
        format!("mamba conv: seq_slots holds fewer than {n_seqs} slots")
    })?;
    let gpu = rec.gpu();
    let v = variant(gpu, "mamba_conv", false, &[]);
    let p = params(dims, xbc, n_seqs, 0)?;
    let total = u32_of(n_seqs * dims.conv_dim(), "conv elements")?;
    rec.dispatch(
        &gpu.pipeline(&v, "conv_step")?,
        "mamba_conv",
        &p,
        vec![
            Bind::read(&xbc.t.buf),
            Bind::write(&state.conv.buf),
            Bind::read(&w.conv_w.buf),
            Bind::read(&w.conv_b.buf),
            Bind::write(&out.buf),
            Bind::read(seq_slots),
        ],
        grid(gpu, total.div_ceil(256)),
    );
    Ok(())
}
