//! The tensor names and shapes a config implies (spec §3), and the classification of tensor
//! names into categories used by the loader and by `inspect`.
use serde::Serialize;

use super::config::{LayerKind, ModelConfig};

/// A tensor the forward pass needs: its on-disk name and PyTorch `[out, in]` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

/// What a weight is for; used to group parameter counts and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorCategory {
    TokenEmbeddings,
    Attention,
    Mamba,
    /// `block_sparse_moe.router.layer.weight`: always evaluated, so always active.
    Router,
    /// `block_sparse_moe.input_linear/output_linear`: only top-k of E experts are active.
    RoutedExperts,
    SharedMlp,
    /// input/post-attention layer norms and the final norm (the gated Mamba norm is Mamba).
    Norms,
    LmHead,
    /// A tensor the engine does not use.
    Other,
}

impl TensorCategory {
    pub const ALL: [TensorCategory; 9] = [
        TensorCategory::TokenEmbeddings,
        TensorCategory::Attention,
        TensorCategory::Mamba,
        TensorCategory::Router,
        TensorCategory::RoutedExperts,
        TensorCategory::SharedMlp,
        TensorCategory::Norms,
        TensorCategory::LmHead,
        TensorCategory::Other,
    ];
}

pub const EMBED: &str = "model.embed_tokens.weight";
pub const FINAL_NORM: &str = "model.norm.weight";
pub const LM_HEAD: &str = "lm_head.weight";

/// Tensors stored as f32 on the GPU (small SSM vectors read in f32 by the scan).
pub fn stored_as_f32(name: &str) -> bool {
    name.ends_with(".mamba.A_log") || name.ends_with(".mamba.D") || name.ends_with(".mamba.dt_bias")
}

/// The layer index of a `model.layers.<i>.…` name.
pub fn layer_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("model.layers.")?;
    rest.split('.').next()?.parse().ok()
}

/// Classifies a tensor by name pattern.
pub fn categorize(name: &str) -> TensorCategory {
    use TensorCategory::*;
    match name {
        EMBED => return TokenEmbeddings,
        FINAL_NORM => return Norms,
        LM_HEAD => return LmHead,
        _ => {}
    }
    if layer_of(name).is_none() {
        return Other;
    }
    let in_layer = |part: &str| name.contains(&format!(".{part}"));
    if in_layer("input_layernorm.") || in_layer("post_attention_layernorm.") {
        Norms
    } else if in_layer("self_attn.") {
        Attention
    } else if in_layer("mamba.") {
        Mamba
    } else if in_layer("block_sparse_moe.router.") {
        Router
    } else if in_layer("block_sparse_moe.") {
        RoutedExperts
    } else if in_layer("shared_mlp.") {
        SharedMlp
    } else {
        Other
    }
}

/// Every tensor the config implies, in a stable order (global first, then layer by layer).
/// `lm_head.weight` is included only when the embeddings are not tied.
pub fn expected_tensors(cfg: &ModelConfig) -> Vec<TensorSpec> {
    let mut out = vec![
        spec(EMBED.into(), &[cfg.vocab_size, cfg.hidden_size]),
        spec(FINAL_NORM.into(), &[cfg.hidden_size]),
    ];
    if !cfg.tie_word_embeddings {
        out.push(spec(LM_HEAD.into(), &[cfg.vocab_size, cfg.hidden_size]));
    }
    for layer in 0..cfg.num_hidden_layers {
        out.extend(layer_tensors(cfg, layer));
    }
    out
}

/// The tensors of one decoder layer (mixer, both norms, FFN).
pub fn layer_tensors(cfg: &ModelConfig, layer: usize) -> Vec<TensorSpec> {
    let h = cfg.hidden_size;
    let p = |s: &str| format!("model.layers.{layer}.{s}");
    let mut out = vec![
        spec(p("input_layernorm.weight"), &[h]),
        spec(p("post_attention_layernorm.weight"), &[h]),
    ];
    match cfg.layer_types.get(layer) {
        Some(LayerKind::Attention) => {
            let (q, kv) = (cfg.q_dim(), cfg.kv_dim());
            for (proj, rows, cols) in [
                ("q_proj", q, h),
                ("k_proj", kv, h),
                ("v_proj", kv, h),
                ("o_proj", h, q),
            ] {
                out.push(spec(p(&format!("self_attn.{proj}.weight")), &[rows, cols]));
                if cfg.attention_bias {
                    out.push(spec(p(&format!("self_attn.{proj}.bias")), &[rows]));
                }
            }
        }
        Some(LayerKind::Mamba) => {
            let (di, nh, conv) = (cfg.d_inner(), cfg.mamba_n_heads, cfg.conv_dim());
            out.push(spec(p("mamba.in_proj.weight"), &[cfg.in_proj_rows(), h]));
            if cfg.mamba_proj_bias {
                out.push(spec(p("mamba.in_proj.bias"), &[cfg.in_proj_rows()]));
            }
            out.push(spec(p("mamba.conv1d.weight"), &[conv, 1, cfg.mamba_d_conv]));
            if cfg.mamba_conv_bias {
                out.push(spec(p("mamba.conv1d.bias"), &[conv]));
            }
            out.push(spec(p("mamba.dt_bias"), &[nh]));
            out.push(spec(p("mamba.A_log"), &[nh]));
            out.push(spec(p("mamba.D"), &[nh]));
            out.push(spec(p("mamba.norm.weight"), &[di]));
            out.push(spec(p("mamba.out_proj.weight"), &[h, di]));
            if cfg.mamba_proj_bias {
                out.push(spec(p("mamba.out_proj.bias"), &[h]));
            }
        }
        None => {}
    }
    let s = cfg.shared_intermediate_size;
    out.push(spec(p("shared_mlp.input_linear.weight"), &[2 * s, h]));
    out.push(spec(p("shared_mlp.output_linear.weight"), &[h, s]));
    if cfg.has_experts() {
        let (e, i) = (cfg.num_local_experts, cfg.intermediate_size);
        out.push(spec(p("block_sparse_moe.router.layer.weight"), &[e, h]));
        out.push(spec(
            p("block_sparse_moe.input_linear.weight"),
            &[e, 2 * i, h],
        ));
        out.push(spec(p("block_sparse_moe.output_linear.weight"), &[e, h, i]));
    }
    out
}

fn spec(name: String, shape: &[usize]) -> TensorSpec {
    TensorSpec {
        name,
        shape: shape.to_vec(),
    }
}
