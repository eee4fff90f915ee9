//! Token embedding lookup: `out[t] = scale · E[ids[t]]` from an f16 table on the GPU.
use super::ensure;
use crate::Result;
use crate::gpu::{Bind, F16Matrix, GpuBuffer, Recorder, Tensor, grid, uniform};

uniform! {
    struct Params {
        rows: u32,
        row0: u32,
        ld8: u32,
        cols: u32,
        n_tok: u32,
        out_stride: u32,
        scale: f32,
        _p: u32,
    }
}

/// `ids` holds `n_tok` u32 token ids, each `< table.rows` (the caller validates them: an id
/// outside the table leaves its row unwritten).
pub fn embed(
    rec: &mut Recorder,
    table: &F16Matrix,
    ids: &GpuBuffer,
    n_tok: usize,
    out: &Tensor,
    scale: f32,
) -> Result<()> {
    ensure(out.numel() >= n_tok * table.cols, || {
        format!(
            "embed: out has {} floats, need {n_tok}×{}",
            out.numel(),
            table.cols
        )
    })?;
    ensure(ids.size() >= (n_tok * 4) as u64, || {
        format!("embed: ids buffer holds fewer than {n_tok} ids")
    })?;
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("embedding", &[]), "embed")?;
    for part in &table.parts {
        let params = Params {
            rows: part.rows as u32,
            row0: part.row0 as u32,
            ld8: (table.ld / 8) as u32,
            cols: table.cols as u32,
            n_tok: n_tok as u32,
            out_stride: table.cols as u32,
            scale,
            _p: 0,
        };
        let binds = vec![
            Bind::read(&part.buf),
            Bind::read(ids),
            Bind::write(&out.buf),
        ];
        rec.dispatch(
            &pipeline,
            "embedding",
            &params,
            binds,
            grid(gpu, n_tok as u32),
        );
    }
    Ok(())
}
