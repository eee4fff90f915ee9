//! Grouped gated RMSNorm: y·silu(z), normalised over groups of Di/G channels, times the weight.
use super::{MambaDims, need, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, Recorder, Rows, Tensor, grid, uniform};
use crate::kernels::ensure;

uniform! {
    struct Params {
        n_rows: u32,
        n_groups: u32,
        group_size: u32,
        y_stride: u32,
        z_stride: u32,
        z_off: u32,
        out_stride: u32,
        out_off: u32,
        eps: f32,
    }
}

/// `out[t] = norm_w ⊙ grouped_rms_normalise(y[t] ⊙ silu(z[t]))` for `n_tok` rows; `y` is dense
/// `[n_tok, Di]`, `z` views the z part of the in_proj output, `out` may be any row view (the
/// out_proj input) in a buffer other than `y`'s.
pub fn gated_norm(
    rec: &mut Recorder,
    dims: &MambaDims,
    y: &Tensor,
    z: Rows,
    norm_w: &Tensor,
    n_tok: usize,
    out: Rows,
) -> Result<()> {
    if n_tok == 0 {
        return Ok(());
    }
    let di = dims.d_inner();
    need(y, n_tok * di, "gated norm input")?;
    need(norm_w, di, "gated norm weight")?;
    ensure(z.fits(n_tok, di) && out.fits(n_tok, di), || {
        format!("mamba gated norm: z or out view too small for {n_tok}×{di}")
    })?;
    ensure(di.is_multiple_of(dims.n_groups), || {
        format!(
            "mamba gated norm: Di {di} not divisible by {} groups",
            dims.n_groups
        )
    })?;
    let rows = u32_of(n_tok * dims.n_groups, "norm rows")?;
    let p = Params {
        n_rows: rows,
        n_groups: dims.n_groups as u32,
        group_size: dims.group_size() as u32,
        y_stride: di as u32,
        z_stride: u32_of(z.stride, "z stride")?,
        z_off: u32_of(z.offset, "z offset")?,
        out_stride: u32_of(out.stride, "out stride")?,
        out_off: u32_of(out.offset, "out offset")?,
        eps: dims.eps,
    };
    let gpu = rec.gpu();
    // 4 channels per access when every row start and the group size allow it.
    let aligned = [
        dims.group_size(),
        di,
        z.stride,
        z.offset,
        out.stride,
        out.offset,
    ]
    .iter()
    .all(|v| v.is_multiple_of(4));
    let v = variant(
        gpu,
        "mamba_norm",
        false,
        if aligned { &["VEC4"] } else { &[] },
    );
    rec.dispatch(
        &gpu.pipeline(&v, "gated_norm")?,
        "mamba_norm",
        &p,
        vec![
            Bind::read(&y.buf),
            Bind::read(&z.t.buf),
            Bind::read(&norm_w.buf),
            Bind::write(&out.t.buf),
        ],
        grid(gpu, rows),
    );
    Ok(())
}
