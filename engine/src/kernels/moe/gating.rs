//! The gates of the routed experts: the router's top-k with a softmax over the k, and the
//! gate-weighted sum of the experts' outputs over the k slots, in a fixed order.
use super::{Bufs, MoeDims, MoeOptions};
use crate::Result;
use crate::gpu::{Bind, GpuBuffer, Recorder, Rows, grid, uniform};
use crate::kernels::ensure;

uniform! {
    struct TopkParams {
        n_tok: u32,
        n_experts: u32,
        top_k: u32,
        l_stride: u32,
        l_off: u32,
        _p: [u32; 3],
    }
}

/// Router top-k on the GPU: `logits` rows of `n_experts` floats → `ids [T, k]` (u32, by
/// descending logit, ties → lower expert index) and `gates [T, k]` (softmax over the k logits).
pub fn router_topk(
    rec: &mut Recorder,
    logits: Rows,
    n_tok: usize,
    n_experts: usize,
    top_k: usize,
    ids: &GpuBuffer,
    gates: &GpuBuffer,
) -> Result<()> {
    ensure(0 < top_k && top_k <= n_experts, || {
        format!("router_topk: top_k {top_k} must be in 1..={n_experts}")
    })?;
    ensure(logits.fits(n_tok, n_experts), || {
        format!("router_topk: logits too small for {n_tok}×{n_experts}")
    })?;
    let need = (n_tok * top_k * 4) as u64;
    ensure(ids.size() >= need && gates.size() >= need, || {
        format!("router_topk: ids/gates need {need} bytes")
    })?;
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("moe_topk", &[]), "moe_topk")?;
    let params = TopkParams {
        n_tok: n_tok as u32,
        n_experts: n_experts as u32,
        top_k: top_k as u32,
        l_stride: logits.stride as u32,
        l_off: logits.offset as u32,
        _p: [0; 3],
    };
    let binds = vec![
        Bind::read(&logits.t.buf),
        Bind::write(ids),
        Bind::write(gates),
    ];
    let groups = grid(gpu, n_tok as u32);
    rec.dispatch(&pipeline, "moe_topk", &params, binds, groups);
    Ok(())
}

uniform! {
    struct CombineParams {
        hidden: u32,
        n_tok: u32,
        top_k: u32,
        out_stride: u32,
        out_off: u32,
        accumulate: u32,
        alpha: f32,
        _p: u32,
    }
}

pub(super) fn combine(
    rec: &mut Recorder,
    d: MoeDims,
    b: &Bufs,
    out: Rows,
    n: usize,
    opts: MoeOptions,
) -> Result<()> {
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("moe_combine", &[]), "moe_combine")?;
    let params = CombineParams {
        hidden: d.hidden as u32,
        n_tok: n as u32,
        top_k: d.top_k as u32,
        out_stride: out.stride as u32,
        out_off: out.offset as u32,
        accumulate: opts.accumulate as u32,
        alpha: opts.alpha,
        _p: 0,
    };
    let binds = vec![
        Bind::read(&b.gates),
        Bind::read(&b.ys),
        Bind::write(&out.t.buf),
    ];
    let groups = grid(gpu, ((n * d.hidden) as u32).div_ceil(256));
    rec.dispatch(&pipeline, "moe", &params, binds, groups);
    Ok(())
}
