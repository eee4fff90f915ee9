//! RMSNorm launcher: `y[t] = w ⊙ x[t] / sqrt(mean(x[t]²) + eps)`, f32 weights.
use super::ensure;
use crate::Result;
use crate::gpu::{Bind, Recorder, Tensor, grid, uniform};

uniform! {
    struct Params {
        n: u32,
        x_stride: u32,
        y_stride: u32,
        eps: f32,
    }
}

/// Normalises `n_tok` rows of `w.numel()` features; `x` and `y` must be different buffers.
pub fn rmsnorm(
    rec: &mut Recorder,
    x: &Tensor,
    w: &Tensor,
    y: &Tensor,
    n_tok: usize,
    eps: f32,
) -> Result<()> {
    let n = w.numel();
    ensure(x.numel() >= n_tok * n && y.numel() >= n_tok * n, || {
        format!(
            "rmsnorm: x {} / y {} values, need {n_tok}×{n}",
            x.numel(),
            y.numel()
        )
    })?;
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("rmsnorm", &[]), "rmsnorm")?;
    let params = Params {
        n: n as u32,
        x_stride: n as u32,
        y_stride: n as u32,
        eps,
    };
    let binds = vec![Bind::read(&x.buf), Bind::read(&w.buf), Bind::write(&y.buf)];
    rec.dispatch(
        &pipeline,
        "rmsnorm",
        &params,
        binds,
        grid(gpu, n_tok as u32),
    );
    Ok(())
}
