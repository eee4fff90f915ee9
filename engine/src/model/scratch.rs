//! Activation buffers for one forward call of up to `max_tokens` tokens, allocated once per
//! session (MemTag::Scratch) and reused by every layer.
use crate::Result;
use crate::gpu::{Gpu, GpuBuffer, MemTag, Tensor};
use std::sync::Mutex;

use crate::kernels::mamba::MambaScratch;
use crate::kernels::moe::MoeScratch;
use crate::model_files::ModelConfig;

pub struct Scratch {
    pub max_tokens: usize,
    /// Token ids of the current call.
    pub ids: GpuBuffer,
    /// Residual stream `[T, H]`.
    pub h: Tensor,
    /// Normalised input of a mixer or FFN `[T, H]`.
    pub u: Tensor,
    /// Mixer input projection: Mamba's z|xBC|dt or attention's q|k|v, `[T, mixer_in]`.
    pub mixer_in: Tensor,
    pub mixer_in_width: usize,
    /// Mixer output before its output projection: `[T, max(Di, nQ·hd)]`.
    pub mixer_out: Tensor,
    pub mixer_out_width: usize,
    /// Shared MLP gate|up `[T, 2S]` and its activation `[T, S]`.
    pub ffn_in: Tensor,
    pub ffn_act: Tensor,
    /// Logits of the rows the caller asked for, `[max_logit_rows, V]`.
    pub logits: Tensor,
    pub max_logit_rows: usize,
    /// Work buffers of the Mamba mixer (shared by every Mamba layer: same shapes).
    pub mamba: Option<MambaScratch>,
    /// Work buffers of the MoE kernels; they grow on first use.
    pub moe: Mutex<MoeScratch>,
}

impl Scratch {
    pub fn new(
        gpu: &Gpu,
        cfg: &ModelConfig,
        max_tokens: usize,
        max_logit_rows: usize,
    ) -> Result<Scratch> {
        let t = max_tokens.max(1);
        let h = cfg.hidden_size;
        let qkv = cfg.q_dim() + 2 * cfg.kv_dim();
        let mixer_in_width = if cfg.has_mamba() {
            cfg.in_proj_rows().max(qkv)
        } else {
            qkv
        };
        let mixer_out_width = if cfg.has_mamba() {
            cfg.d_inner().max(cfg.q_dim())
        } else {
            cfg.q_dim()
        };
        let s = cfg.shared_intermediate_size;
        let z = |shape: &[usize], label: &str| Tensor::zeros(gpu, MemTag::Scratch, shape, label);
        Ok(Scratch {
            max_tokens: t,
            ids: gpu.alloc(MemTag::Scratch, (t * 4) as u64, "token ids")?,
            h: z(&[t, h], "residual")?,
            u: z(&[t, h], "normed")?,
            mixer_in: z(&[t, mixer_in_width], "mixer in")?,
            mixer_in_width,
            mixer_out: z(&[t, mixer_out_width], "mixer out")?,
            mixer_out_width,
            ffn_in: z(&[t, 2 * s], "ffn gate|up")?,
            ffn_act: z(&[t, s], "ffn act")?,
            logits: z(&[max_logit_rows.max(1), cfg.vocab_size], "logits")?,
            max_logit_rows: max_logit_rows.max(1),
            mamba: if cfg.has_mamba() {
                Some(MambaScratch::new(gpu, &super::mamba::dims(cfg), t)?)
            } else {
                None
            },
            moe: Mutex::new(MoeScratch::new()),
        })
    }
}
