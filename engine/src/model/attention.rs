//! The grouped-query attention mixer of one layer: fused q|k|v projection, RoPE (when the
//! config asks for it), f16 KV cache, flash attention, o_proj.
use crate::Result;
use crate::gpu::{F16Matrix, MemTag, Recorder, Tensor};
use crate::kernels::attention::{AttnDims, attention_decode, attention_prefill};
use crate::kernels::linear::{Epilogue, Input, linear};
use crate::model_files::{ModelConfig, PositionEmbedding};

use super::scratch::Scratch;
use super::state::State;
use super::upload::Uploader;

pub(crate) struct AttentionMixer {
    /// `[nQ·hd + 2·nKV·hd, H]`: q rows, then k, then v.
    qkv: F16Matrix,
    o_proj: F16Matrix,
    qkv_bias: Option<Tensor>,
    o_bias: Option<Tensor>,
    pub dims: AttnDims,
    /// This layer's index in the KV cache.
    pub cache_layer: usize,
}

pub(crate) fn dims(cfg: &ModelConfig) -> AttnDims {
    AttnDims {
        n_heads: cfg.num_attention_heads,
        n_kv_heads: cfg.num_key_value_heads,
        head_dim: cfg.head_dim,
        scale: cfg.attention_multiplier,
        rope_theta: match cfg.position_embedding {
            PositionEmbedding::Rope { .. } => cfg.rope_theta().map(|t| t as f32),
            _ => None,
        },
    }
}

impl AttentionMixer {
    pub fn load(
        up: &mut Uploader,
        cfg: &ModelConfig,
        layer: usize,
        cache_layer: usize,
    ) -> Result<AttentionMixer> {
        let p = format!("model.layers.{layer}.self_attn");
        let names = ["q_proj", "k_proj", "v_proj"].map(|n| format!("{p}.{n}.weight"));
        let qkv = up.matrix(
            &[&names[0], &names[1], &names[2]],
            MemTag::AttentionWeights,
            1,
        )?;
        let o_proj = up.matrix(
            &[&format!("{p}.o_proj.weight")],
            MemTag::AttentionWeights,
            1,
        )?;
        let (qkv_bias, o_bias) = if cfg.attention_bias {
            let mut b = Vec::new();
            for n in ["q_proj", "k_proj", "v_proj"] {
                b.extend(up.host_f32(&format!("{p}.{n}.bias"))?);
            }
            let qkv_b =
                Tensor::from_f32(up.gpu, MemTag::AttentionWeights, &[b.len()], &b, "qkv bias")?;
            (
                Some(qkv_b),
                Some(up.vector(&format!("{p}.o_proj.bias"), MemTag::AttentionWeights)?),
            )
        } else {
            (None, None)
        };
        Ok(AttentionMixer {
            qkv,
            o_proj,
            qkv_bias,
            o_bias,
            dims: dims(cfg),
            cache_layer,
        })
    }

    /// `h += residual · o_proj(attention(qkv(x)))` for `n_tok` rows of the normed input `x`,
    /// appending the new k, v to the cache.
    pub fn forward(
        &self,
        rec: &mut Recorder,
        state: &mut State,
        s: &Scratch,
        x: Input,
        n_tok: usize,
        residual: f32,
    ) -> Result<()> {
        let d = &self.dims;
        let (qd, kvd) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
        let w = s.mixer_in_width;
        let ep = Epilogue {
            bias: self.qkv_bias.as_ref(),
            ..Default::default()
        };
        linear(rec, &self.qkv, x, s.mixer_in.rows(w, 0), n_tok, ep)?;
        let (q, k, v) = (
            s.mixer_in.rows(w, 0),
            s.mixer_in.rows(w, qd),
            s.mixer_in.rows(w, qd + kvd),
        );
        let out = s.mixer_out.rows(s.mixer_out_width, 0);
        let cache = state
            .kv
            .as_mut()
            .ok_or_else(|| crate::Error::Input("KV cache missing".into()))?;
        if n_tok == 1 {
            attention_decode(rec, q, k, v, out, cache, self.cache_layer, &[0], d)?;
        } else {
            attention_prefill(rec, q, k, v, out, cache, self.cache_layer, 0, n_tok, d)?;
        }
        let ep = Epilogue {
            alpha: residual,
            accumulate: true,
            bias: self.o_bias.as_ref(),
            ..Default::default()
        };
        linear(
            rec,
            &self.o_proj,
            s.mixer_out.rows(s.mixer_out_width, 0),
            s.h.rows(self.o_proj.rows, 0),
            n_tok,
            ep,
        )
    }
}
