//! Chunked SSD prefill (state-space duality), in five dispatches:
//! 1. `ssd_dt`: Δ, the chunk-local prefix sums Λ of Δ·A and each chunk's total decay α,
//!    per (chunk, head);
//! 2. `ssd_cb`: (C·Bᵀ)ᵀ per (chunk, group), shared by the group's heads;
//! 3. `ssd_chunk_states`: each chunk's local end state, per (chunk, head, tile), n-major;
//! 4. `ssd_scan_chunks`: the inter-chunk recurrence as a parallel prefix scan over chunks,
//!    starting from the saved state, leaving the state entering each chunk and the final state;
//! 5. `ssd_out`: intra-chunk causal product + carried-in state + D skip, per (chunk, head, tile).
//!
//! Layouts of the intermediates (the CPU reference uses the natural ones; tests transpose):
//! Δ, Λ `[nH, T]`, α `[nH, nC]`, CBᵀ `[nC, G, Q(j), Q(i)]`, chunk states `[nC, nH, N, P]`.
//!
//! The chunk length only changes rounding. Chunk lengths above the token count are clamped to it.
use super::{MambaDims, MambaLayerWeights, MambaScratch, MambaState, need, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, Gpu, Recorder, Rows, Tensor, uniform};
use crate::kernels::ensure;

pub use super::ssd_stages::{ssd_out, ssd_scan_chunks};

/// The chunk length actually used for `n_tok` tokens, and the number of chunks.
pub fn chunking(dims: &MambaDims, n_tok: usize) -> (usize, usize) {
    let q = dims.chunk.min(n_tok).max(1);
    (q, n_tok.div_ceil(q))
}

/// Outputs per invocation of the matmul-shaped stages (chunk states, output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicroTile {
    /// 8 × 8: the register budget of a GPU thread.
    M8,
    /// 16 × 16: for CPU adapters (lavapipe), where each workgroup-memory read is a per-lane
    /// loop and spilled registers are cheap, so reads per multiply-add are what counts.
    M16,
}

impl MicroTile {
    pub fn for_device(gpu: &Gpu) -> MicroTile {
        if crate::gpu::cpu_driver(&gpu.info) {
            MicroTile::M16
        } else {
            MicroTile::M8
        }
    }
}

/// Narrow tiles (32 channels of a head per tile) pay off for heads of at most 32 channels.
pub(super) fn narrow(dims: &MambaDims) -> bool {
    dims.head_dim <= 32
}

/// With head_dim and d_state multiples of 4, every row and tile offset the chunked stages read
/// is a multiple of 4 floats, so they bind their inputs as vec4 arrays.
fn vec4_aligned(dims: &MambaDims) -> bool {
    dims.head_dim.is_multiple_of(4) && dims.d_state.is_multiple_of(4)
}

/// Floats between rows of CBᵀ: the chunk length rounded up to 4 (vec4 reads).
pub fn cb_stride(q: usize) -> usize {
    q.div_ceil(4) * 4
}

/// Shape flags of the matmul-shaped stages.
pub(super) fn tile_flags(dims: &MambaDims, micro: MicroTile) -> Vec<&'static str> {
    let mut f = Vec::new();
    if narrow(dims) {
        f.push("NARROW");
    }
    if micro == MicroTile::M16 {
        f.push("CPU");
    }
    if vec4_aligned(dims) {
        f.push("VEC4");
    }
    f
}

pub(super) fn max_groups(rec: &Recorder) -> usize {
    rec.gpu().limits.max_compute_workgroups_per_dimension as usize
}

uniform! {
    struct DtParams {
        n_tok: u32,
        n_chunks: u32,
        chunk: u32,
        dt_stride: u32,
        dt_off: u32,
        has_limit: u32,
        lim_lo: f32,
        lim_hi: f32,
    }
}

/// Stage 1: Δ `[nH, n_tok]`, chunk-local Λ `[nH, n_tok]` and chunk decays α = exp(Λ_last)
/// `[nH, nC]` from the raw step sizes.
#[allow(clippy::too_many_arguments)]
pub fn ssd_dt(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    dt_raw: Rows,
    n_tok: usize,
    dt: &Tensor,
    lam: &Tensor,
    decay: &Tensor,
) -> Result<()> {
    let (q, nc) = chunking(dims, n_tok);
    ensure(dt_raw.fits(n_tok, dims.n_heads), || {
        format!("mamba ssd: dt view too small for {n_tok} rows")
    })?;
    need(dt, dims.n_heads * n_tok, "Δ scratch")?;
    need(lam, dims.n_heads * n_tok, "Λ scratch")?;
    need(decay, dims.n_heads * nc, "chunk-decay scratch")?;
    ensure(nc <= max_groups(rec), || {
        format!("mamba ssd: {nc} chunks; raise the chunk length")
    })?;
    let (has_limit, lim_lo, lim_hi) = dims.limit_params();
    let p = DtParams {
        n_tok: u32_of(n_tok, "tokens")?,
        n_chunks: nc as u32,
        chunk: q as u32,
        dt_stride: u32_of(dt_raw.stride, "dt stride")?,
        dt_off: u32_of(dt_raw.offset, "dt offset")?,
        has_limit,
        lim_lo,
        lim_hi,
    };
    let gpu = rec.gpu();
    rec.dispatch(
        &gpu.pipeline(&variant(gpu, "mamba_ssd_dt", false, &[]), "ssd_dt")?,
        "mamba_ssd",
        &p,
        vec![
            Bind::read(&dt_raw.t.buf),
            Bind::read(&w.dt_bias.buf),
            Bind::read(&w.a.buf),
            Bind::write(&dt.buf),
            Bind::write(&lam.buf),
            Bind::write(&decay.buf),
        ],
        [nc as u32, dims.n_heads as u32, 1],
    );
    Ok(())
}

uniform! {
    struct CbParams {
        n_tok: u32,
        chunk: u32,
        n_groups: u32,
        d_state: u32,
        conv_dim: u32,
        d_inner: u32,
        tiles: u32,
        cb_stride: u32,
    }
}

/// Stage 2: `cbt[c, g, j, i] = C_i·B_j` for j ≤ i inside each chunk, `[nC, G, Q, cb_stride(Q)]`
/// with the effective chunk length Q of [`chunking`] (the transpose of C·Bᵀ, rows padded).
pub fn ssd_cb(
    rec: &mut Recorder,
    dims: &MambaDims,
    xbc_act: &Tensor,
    n_tok: usize,
    cb: &Tensor,
) -> Result<()> {
    let (q, nc) = chunking(dims, n_tok);
    need(xbc_act, n_tok * dims.conv_dim(), "activated xBC")?;
    need(cb, nc * dims.n_groups * q * cb_stride(q), "CB scratch")?;
    let tiles = q.div_ceil(64);
    ensure(
        tiles * tiles <= max_groups(rec) && nc <= max_groups(rec),
        || format!("mamba ssd: chunk {q} × {nc} chunks too large for the dispatch grid"),
    )?;
    let p = CbParams {
        n_tok: u32_of(n_tok, "tokens")?,
        chunk: q as u32,
        n_groups: dims.n_groups as u32,
        d_state: dims.d_state as u32,
        conv_dim: dims.conv_dim() as u32,
        d_inner: dims.d_inner() as u32,
        tiles: tiles as u32,
        cb_stride: cb_stride(q) as u32,
    };
    let gpu = rec.gpu();
    rec.dispatch(
        &gpu.pipeline(
            &variant(
                gpu,
                "mamba_ssd_cb",
                false,
                if vec4_aligned(dims) { &["VEC4"] } else { &[] },
            ),
            "ssd_cb",
        )?,
        "mamba_ssd",
        &p,
        vec![Bind::read(&xbc_act.buf), Bind::write(&cb.buf)],
        [(tiles * tiles) as u32, nc as u32, dims.n_groups as u32],
    );
    Ok(())
}

uniform! {
    struct StateParams {
        n_tok: u32,
        chunk: u32,
        n_heads: u32,
        head_dim: u32,
        d_state: u32,
        heads_per_group: u32,
        conv_dim: u32,
        d_inner: u32,
        n_tiles: u32,
        _p0: u32,
    }
}

/// Stage 3: chunk-local end states `[nC, nH, N, P]` (n-major) into `states`.
#[allow(clippy::too_many_arguments)]
pub fn ssd_chunk_states(
    rec: &mut Recorder,
    dims: &MambaDims,
    xbc_act: &Tensor,
    dt: &Tensor,
    lam: &Tensor,
    n_tok: usize,
    states: &Tensor,
    micro: MicroTile,
) -> Result<()> {
    let (q, nc) = chunking(dims, n_tok);
    need(xbc_act, n_tok * dims.conv_dim(), "activated xBC")?;
    need(states, nc * dims.ssm_state_len(), "chunk-state scratch")?;
    // Tiles of TR channels × TC state columns (as in the shader).
    let (tr, tc) = if narrow(dims) { (32, 128) } else { (64, 64) };
    let (pt, ntl) = (dims.head_dim.div_ceil(tr), dims.d_state.div_ceil(tc));
    ensure(nc <= max_groups(rec), || {
        format!("mamba ssd: {nc} chunks; raise the chunk length")
    })?;
    let p = StateParams {
        n_tok: u32_of(n_tok, "tokens")?,
        chunk: q as u32,
        n_heads: dims.n_heads as u32,
        head_dim: dims.head_dim as u32,
        d_state: dims.d_state as u32,
        heads_per_group: dims.heads_per_group() as u32,
        conv_dim: dims.conv_dim() as u32,
        d_inner: dims.d_inner() as u32,
        n_tiles: ntl as u32,
        _p0: 0,
    };
    let gpu = rec.gpu();
    rec.dispatch(
        &gpu.pipeline(
            &variant(gpu, "mamba_ssd_state", false, &tile_flags(dims, micro)),
            "ssd_state",
        )?,
        "mamba_ssd",
        &p,
        vec![
            Bind::read(&xbc_act.buf),
            Bind::read(&dt.buf),
            Bind::read(&lam.buf),
            Bind::write(&states.buf),
        ],
        [(pt * ntl) as u32, dims.n_heads as u32, nc as u32],
    );
    Ok(())
}

/// The whole chunked SSD for one sequence continuing from SSM state `slot`: `xbc_act`
/// `[n_tok, conv_dim]` (post-conv), `dt_raw` views the raw step sizes; writes y `[n_tok, Di]`
/// and the final state. Uses the Δ, Λ, CB and chunk-state buffers of `scratch`.
#[allow(clippy::too_many_arguments)]
pub fn ssd_prefill(
    rec: &mut Recorder,
    dims: &MambaDims,
    w: &MambaLayerWeights,
    xbc_act: &Tensor,
    dt_raw: Rows,
    n_tok: usize,
    state: &MambaState,
    slot: usize,
    scratch: &MambaScratch,
    y: &Tensor,
) -> Result<()> {
    if n_tok == 0 {
        return Ok(());
    }
    dims.check()?;
    w.check(dims)?;
    let s = scratch;
    ssd_dt(rec, dims, w, dt_raw, n_tok, &s.dt, &s.lam, &s.decay)?;
    ssd_cb(rec, dims, xbc_act, n_tok, &s.cb)?;
    ssd_chunk_states(rec, dims, xbc_act, &s.dt, &s.lam, n_tok, &s.states, s.micro)?;
    ssd_scan_chunks(rec, dims, &s.decay, n_tok, &s.states, state, slot)?;
    ssd_out(
        rec, dims, w, xbc_act, &s.dt, &s.lam, &s.cb, &s.states, n_tok, y, s.micro,
    )
}
