//! Element-wise launchers: `axpy` (residual adds) and `swiglu` (gated FFN activation).
use super::ensure;
use crate::Result;
use crate::gpu::{Bind, Recorder, Tensor, grid, uniform};

uniform! {
    struct Params {
        n: u32,
        n_tok: u32,
        alpha: f32,
        beta: f32,
    }
}

fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    params: Params,
    a: &Tensor,
    out: &Tensor,
    total: usize,
) -> Result<()> {
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("elementwise", &[]), entry)?;
    let groups = grid(gpu, (total as u32).div_ceil(256));
    rec.dispatch(
        &pipeline,
        entry,
        &params,
        vec![Bind::read(&a.buf), Bind::write(&out.buf)],
        groups,
    );
    Ok(())
}

/// `out[i] = beta · out[i] + alpha · a[i]` for the first `n` elements.
pub fn axpy(
    rec: &mut Recorder,
    a: &Tensor,
    out: &Tensor,
    n: usize,
    alpha: f32,
    beta: f32,
) -> Result<()> {
    ensure(a.numel() >= n && out.numel() >= n, || {
        format!("axpy: need {n} elements")
    })?;
    launch(
        rec,
        "axpy",
        Params {
            n: n as u32,
            n_tok: 1,
            alpha,
            beta,
        },
        a,
        out,
        n,
    )
}

/// `out[t, i] = silu(a[t, i]) · a[t, n + i]` with `a` of shape `[n_tok, 2n]`.
pub fn swiglu(rec: &mut Recorder, a: &Tensor, out: &Tensor, n: usize, n_tok: usize) -> Result<()> {
    ensure(
        a.numel() >= n_tok * 2 * n && out.numel() >= n_tok * n,
        || {
            format!(
                "swiglu: a {} / out {} values, need {n_tok}×2·{n}",
                a.numel(),
                out.numel()
            )
        },
    )?;
    launch(
        rec,
        "swiglu",
        Params {
            n: n as u32,
            n_tok: n_tok as u32,
            alpha: 1.0,
            beta: 0.0,
        },
        a,
        out,
        n * n_tok,
    )
}
