//! Stages 4 and 5 of the chunked SSD prefill: the parallel scan over chunks and the output.
use super::ssd::{MicroTile, cb_stride, chunking, max_groups, narrow, tile_flags};
use super::{MambaDims, MambaLayerWeights, MambaState, need, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, Recorder, Tensor, uniform};
use crate::kernels::ensure;

/// Most chunk lanes of the scan kernel: more chunks are folded serially inside each lane.
const SCAN_MAX_LANES: usize = 16;
/// Invocations per scan workgroup (`WG`) and state elements per invocation (`EPT`).
const SCAN_WG: usize = 64;
const SCAN_EPT: usize = 8;

uniform! {
    struct ScanParams {
        n_chunks: u32,
        n_heads: u32,
        head_dim: u32,
        d_state: u32,
        slot: u32,
        per_lane: u32,
        lanes: u32,
        _p0: u32,
    }
}

/// Stage 4: turns the chunk-local states in `states` into the states entering each chunk, by a
/// parallel prefix scan over chunks starting from SSM state `slot`, and writes the final state
/// to that slot.
pub fn ssd_scan_chunks(
    rec: &mut Recorder,
    dims: &MambaDims,
    decay: &Tensor,
    n_tok: usize,
    states: &Tensor,
    state: &MambaState,
    slot: usize,
) -> Result<()> {
    let (_, nc) = chunking(dims, n_tok);
    state.check(dims)?;
    need(decay, dims.n_heads * nc, "chunk-decay scratch")?;
    state.check_slot(slot)?;
    need(states, nc * dims.ssm_state_len(), "chunk-state scratch")?;
    let pn = u32_of(dims.head_dim * dims.d_state, "state size")?;
    // About √nC lanes: the serial folds inside a lane and the tree across lanes stay balanced.
    let lanes = ((nc as f64).sqrt().ceil() as usize)
        .next_power_of_two()
        .min(SCAN_MAX_LANES);
    let per_wg = (SCAN_WG / lanes * SCAN_EPT) as u32;
    let p = ScanParams {
        n_chunks: u32_of(nc, "chunks")?,
        n_heads: dims.n_heads as u32,
        head_dim: dims.head_dim as u32,
        d_state: dims.d_state as u32,
        slot: slot as u32,
        per_lane: nc.div_ceil(lanes) as u32,
        lanes: lanes as u32,
        _p0: 0,
    };
    let gpu = rec.gpu();
    rec.dispatch(
        &gpu.pipeline(&variant(gpu, "mamba_ssd_scan", false, &[]), "ssd_scan")?,
        "mamba_ssd",
        &p,
        vec![
            Bind::read(&decay.buf),
            Bind::write(&states.buf),
            Bind::write(&state.ssm.buf),
        ],
        [pn.div_ceil(per_wg), dims.n_heads as u32, 1],
    );
    Ok(())
}

uniform! {
    struct OutParams {
        n_tok: u32,
        chunk: u32,
        n_heads: u32,
        head_dim: u32,
        d_state: u32,
        heads_per_group: u32,
        conv_dim: u32,
        d_inner: u32,
        n_groups: u32,
        i_tiles: u32,
        y_stride: u32,
        cb_stride: u32,
    }
}

/// Stage 5: y `[n_tok, Di]` from the intra-chunk product, the states entering each chunk
/// (`states` after stage 4) and the D skip.
#[allow(clippy::too_many_arguments)]
pub fn ssd_out(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc_act: &Tensor,
    dt: &Tensor,
    lam: &Tensor,
    cb: &Tensor,
    states: &Tensor,
    n_tok: usize,
    y: &Tensor,
    micro: MicroTile,
) -> Result<()> {
    let (q, nc) = chunking(dims, n_tok);
    need(y, n_tok * dims.d_inner(), "SSD output")?;
    need(cb, nc * dims.n_groups * q * cb_stride(q), "CB scratch")?;
    need(states, nc * dims.ssm_state_len(), "chunk-state scratch")?;
    // 64 rows × `tp` channels per workgroup (TR, TC in the shader).
    let tp = if narrow(dims) { 32 } else { 64 };
    let it = q.div_ceil(64);
    ensure(nc * it <= max_groups(rec), || {
        format!("mamba ssd: {n_tok} tokens too many for one dispatch; prefill in pieces")
    })?;
    let p = OutParams {
        n_tok: u32_of(n_tok, "tokens")?,
        chunk: q as u32,
        n_heads: dims.n_heads as u32,
        head_dim: dims.head_dim as u32,
        d_state: dims.d_state as u32,
        heads_per_group: dims.heads_per_group() as u32,
        conv_dim: dims.conv_dim() as u32,
        d_inner: dims.d_inner() as u32,
        n_groups: dims.n_groups as u32,
        i_tiles: it as u32,
        y_stride: dims.d_inner() as u32,
        cb_stride: cb_stride(q) as u32,
    };
    let gpu = rec.gpu();
    rec.dispatch(
        &gpu.pipeline(
            &variant(gpu, "mamba_ssd_out", false, &tile_flags(dims, micro)),
            "ssd_out",
        )?,
        "mamba_ssd",
        &p,
        vec![
            Bind::read(&xbc_act.buf),
            Bind::read(&dt.buf),
            Bind::read(&lam.buf),
            Bind::read(&cb.buf),
            Bind::read(&states.buf),
            Bind::read(&w.d.buf),
            Bind::write(&y.buf),
        ],
        [
            (nc * it) as u32,
            dims.n_heads as u32,
            dims.head_dim.div_ceil(tp) as u32,
        ],
    );
    Ok(())
}
