//! The token-by-token selective scan: decode steps and the sequential prefill baseline.
use super::{MambaDims, MambaLayerWeights, MambaState, need, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, GpuBuffer, Recorder, Rows, Tensor, grid, uniform};
use crate::kernels::ensure;

/// Largest d_state the scan kernel holds in registers (`MAX_N` in mamba_scan.wgsl).
pub const MAX_D_STATE: usize = 256;

uniform! {
    struct Params {
        n_tok: u32,
        n_seq: u32,
        n_heads: u32,
        head_dim: u32,
        d_state: u32,
        heads_per_group: u32,
        x_stride: u32,
        d_inner: u32,
        gn: u32,
        dt_stride: u32,
        dt_off: u32,
        y_stride: u32,
        slot: u32,
        use_slots: u32,
        has_limit: u32,
        lim_lo: f32,
        lim_hi: f32,
        x_off: u32,
    }
}

enum Slots<'a> {
    One(usize),
    PerSeq(&'a GpuBuffer),
}

#[allow(clippy::too_many_arguments)]
fn launch(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc_act: Rows,
    dt_raw: Rows,
    n_tok: usize,
    n_seq: usize,
    slots: Slots,
    state: &MambaState,
    y: &Tensor,
) -> Result<()> {
    dims.check()?;
    w.check(dims)?;
    state.check(dims)?;
    let rows = n_tok * n_seq;
    ensure(xbc_act.fits(rows, dims.conv_dim()), || {
        format!("mamba scan: activated xBC view too small for {rows} rows")
    })?;
    need(y, rows * dims.d_inner(), "scan output")?;
    ensure(dt_raw.fits(rows, dims.n_heads), || {
        format!("mamba scan: dt view too small for {rows} rows")
    })?;
    let (slot, use_slots, slot_buf) = match slots {
        Slots::One(s) => {
            state.check_slot(s)?;
            // Never read; any read-only buffer fills the binding.
            (s as u32, 0, &w.dt_bias.buf)
        }
        Slots::PerSeq(b) => {
            ensure(b.size() >= 4 * n_seq as u64, || {
                format!("mamba scan: seq_slots holds fewer than {n_seq} slots")
            })?;
            (0, 1, b)
        }
    };
    let (has_limit, lim_lo, lim_hi) = dims.limit_params();
    let p = Params {
        n_tok: u32_of(n_tok, "tokens")?,
        n_seq: u32_of(n_seq, "sequences")?,
        n_heads: dims.n_heads as u32,
        head_dim: dims.head_dim as u32,
        d_state: dims.d_state as u32,
        heads_per_group: dims.heads_per_group() as u32,
        x_stride: u32_of(xbc_act.stride, "xBC stride")?,
        d_inner: dims.d_inner() as u32,
        gn: (dims.n_groups * dims.d_state) as u32,
        dt_stride: u32_of(dt_raw.stride, "dt stride")?,
        dt_off: u32_of(dt_raw.offset, "dt offset")?,
        y_stride: dims.d_inner() as u32,
        slot,
        use_slots,
        has_limit,
        lim_lo,
        lim_hi,
        x_off: u32_of(xbc_act.offset, "xBC offset")?,
    };
    let gpu = rec.gpu();
    // Whole-vec4 state and B / C reads when every offset is a multiple of 4.
    let v4 = dims.d_state.is_multiple_of(4)
        && dims.d_inner().is_multiple_of(4)
        && xbc_act.offset.is_multiple_of(4)
        && xbc_act.stride.is_multiple_of(4);
    let v = variant(gpu, "mamba_scan", true, if v4 { &["V4"] } else { &[] });
    // Rows per workgroup: one per invocation for lane-rows decode steps (64), else one per
    // subgroup (or 32 invocations) of 256.
    let (entry, rows_per_wg) = if gpu.paths.lane_rows && n_tok == 1 {
        ("ssm_scan_rows", 64)
    } else if gpu.paths.subgroups {
        ("ssm_scan", 256 / gpu.paths.subgroup_size)
    } else {
        ("ssm_scan", 256 / 32)
    };
    let rows_total = u32_of(n_seq * dims.d_inner(), "scan rows")?;
    rec.dispatch(
        &gpu.pipeline(&v, entry)?,
        "mamba_scan",
        &p,
        vec![
            Bind::read(&xbc_act.t.buf),
            Bind::read(&dt_raw.t.buf),
            Bind::read(&w.dt_bias.buf),
            Bind::read(&w.a.buf),
            Bind::read(&w.d.buf),
            Bind::write(&state.ssm.buf),
            Bind::write(&y.buf),
            Bind::read(slot_buf),
        ],
        grid(gpu, rows_total.div_ceil(rows_per_wg)),
    );
    Ok(())
}

/// Sequential prefill of one sequence from SSM state `slot`: `xbc_act` views `n_tok` rows of
/// conv_dim post-conv values, `dt_raw` views `n_tok` rows of nH raw step sizes; writes y `[n_tok, Di]`
/// (including the D skip) and the final state.
#[allow(clippy::too_many_arguments)]
pub fn ssm_scan_sequential(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc_act: Rows,
    dt_raw: Rows,
    n_tok: usize,
    state: &MambaState,
    slot: usize,
    y: &Tensor,
) -> Result<()> {
    if n_tok == 0 {
        return Ok(());
    }
    launch(
        rec,
        dims,
        w,
        xbc_act,
        dt_raw,
        n_tok,
        1,
        Slots::One(slot),
        state,
        y,
    )
}

/// One decode step for `n_seqs` sequences: row s of `xbc_act` / `dt_raw` is sequence s, which
/// uses SSM state slot `seq_slots[s]`.
#[allow(clippy::too_many_arguments)]
pub fn ssm_step(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc_act: Rows,
    dt_raw: Rows,
    n_seqs: usize,
    seq_slots: &GpuBuffer,
    state: &MambaState,
    y: &Tensor,
) -> Result<()> {
    if n_seqs == 0 {
        return Ok(());
    }
    launch(
        rec,
        dims,
        w,
        xbc_act,
        dt_raw,
        1,
        n_seqs,
        Slots::PerSeq(seq_slots),
        state,
        y,
    )
}
