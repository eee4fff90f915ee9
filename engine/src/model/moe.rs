//! The routed mixture of experts of one layer (router → top-k → softmax over the k → SwiGLU
//! experts → weighted sum), entirely on the GPU: see [`crate::kernels::moe`].
use crate::Result;
use crate::gpu::{MemTag, Recorder};
use crate::kernels::linear::Input;
use crate::kernels::moe::{ExpertSum, MoeDims, MoeOptions, MoeWeights, moe_forward};
use crate::model_files::ModelConfig;

use super::scratch::Scratch;
use super::upload::Uploader;

pub(crate) struct Moe {
    w: MoeWeights,
}

impl Moe {
    pub fn load(up: &mut Uploader, cfg: &ModelConfig, layer: usize) -> Result<Moe> {
        let p = format!("model.layers.{layer}.block_sparse_moe");
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let dims = MoeDims {
            hidden: h,
            n_experts: cfg.num_local_experts,
            top_k: cfg.num_experts_per_tok,
            inter: i,
        };
        let router = up.matrix(
            &[&format!("{p}.router.layer.weight")],
            MemTag::RoutedExperts,
            1,
        )?;
        let input = up.matrix(
            &[&format!("{p}.input_linear.weight")],
            MemTag::RoutedExperts,
            2 * i,
        )?;
        let output = up.matrix(
            &[&format!("{p}.output_linear.weight")],
            MemTag::RoutedExperts,
            h,
        )?;
        Ok(Moe {
            w: MoeWeights::new(router, input, output, dims)?,
        })
    }

    /// `h += residual · moe(v)` for `n_tok` rows of the normed input `v`; when decoding, the
    /// weighted sum of the experts comes back for the shared MLP's down product to add instead.
    pub fn forward(
        &self,
        rec: &mut Recorder,
        s: &Scratch,
        v: Input,
        n_tok: usize,
        residual: f32,
    ) -> Result<Option<ExpertSum>> {
        let h = self.w.dims.hidden;
        let mut scratch = s
            .moe
            .lock()
            .map_err(|_| crate::Error::Gpu("MoE scratch lock poisoned".into()))?;
        let opts = MoeOptions {
            alpha: residual,
            accumulate: true,
            defer_sum: true,
            ..Default::default()
        };
        moe_forward(rec, &mut scratch, &self.w, v, s.h.rows(h, 0), n_tok, opts)
    }
}
