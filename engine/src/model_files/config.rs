//! `config.json` → [`ModelConfig`]: every hyper-parameter the forward pass needs, with the
//! defaults of transformers' `GraniteMoeHybridConfig` for absent keys (spec §2) and validation
//! that names the offending JSON key. The file is untrusted input: nothing here panics.
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::config_check::{MAX_LAYERS, validate};
use super::config_fields::{
    parse_eos, parse_layer_types, parse_position_embedding, parse_time_step_limit,
};
use super::json::{self, Fields};
use super::files::ModelFiles;
use crate::{Error, Result};

/// The mixer of one decoder layer (`layer_types[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Mamba,
    Attention,
}

/// Positional encoding of the attention layers. Hybrids are NoPE; the dense releases use RoPE.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PositionEmbedding {
    None,
    /// Plain ("default") rotary embedding, rotate-half pairing, base `theta`.
    Rope {
        theta: f64,
    },
}

/// The `time_step_limit` clamp of Δ (after softplus). `max` may be +∞.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimeStepLimit {
    pub min: f32,
    pub max: f32,
}

/// The model hyper-parameters. Field names follow config.json; mamba fields are meaningless
/// (and unvalidated) when no layer is a mamba layer, because dense configs carry leftovers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub layer_types: Vec<LayerKind>,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Always `hidden_size / num_attention_heads` (Granite has no `head_dim` key).
    pub head_dim: usize,
    pub attention_bias: bool,
    /// The complete softmax scale (replaces 1/√head_dim).
    pub attention_multiplier: f32,
    pub position_embedding: PositionEmbedding,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f32,
    pub embedding_multiplier: f32,
    pub residual_multiplier: f32,
    /// Divisor of the logits.
    pub logits_scaling: f32,
    pub num_local_experts: usize,
    pub num_experts_per_tok: usize,
    pub intermediate_size: usize,
    pub shared_intermediate_size: usize,
    pub mamba_n_heads: usize,
    pub mamba_d_head: usize,
    pub mamba_n_groups: usize,
    pub mamba_d_state: usize,
    pub mamba_d_conv: usize,
    pub mamba_expand: usize,
    pub mamba_chunk_size: usize,
    pub mamba_conv_bias: bool,
    pub mamba_proj_bias: bool,
    /// `None` when the config does not set one (the released checkpoints): no clamp.
    pub time_step_limit: Option<TimeStepLimit>,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` may be one id or a list; empty when null.
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
}

impl ModelConfig {
    /// Reads `<dir>/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("config.json"))
    }

    /// Reads `config.json` of a model's files.
    pub fn load_files(files: &ModelFiles) -> Result<Self> {
        let text = files.required_text("config.json")?;
        Self::from_json_str(&text, &files.path("config.json"))
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Parses config.json text; `path` is only used to name the file in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let obj = json::parse_object(text, path)?;
        parse(&Fields::new(&obj, path))
    }

    pub fn n_attention_layers(&self) -> usize {
        self.layer_types
            .iter()
            .filter(|k| **k == LayerKind::Attention)
            .count()
    }
    pub fn n_mamba_layers(&self) -> usize {
        self.layer_types
            .iter()
            .filter(|k| **k == LayerKind::Mamba)
            .count()
    }
    pub fn has_mamba(&self) -> bool {
        self.n_mamba_layers() > 0
    }
    /// Routed MoE present (`num_local_experts > 0`); the shared MLP is always present.
    pub fn has_experts(&self) -> bool {
        self.num_local_experts > 0
    }
    /// `nQ · head_dim`: rows of q_proj, columns of o_proj.
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }
    /// `nKV · head_dim`: rows of k_proj and v_proj.
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }
    /// Di = mamba_n_heads · mamba_d_head (= mamba_expand · hidden_size, validated).
    pub fn d_inner(&self) -> usize {
        self.mamba_n_heads.saturating_mul(self.mamba_d_head)
    }
    /// Channels of the causal conv: x | B | C = Di + 2·G·N.
    pub fn conv_dim(&self) -> usize {
        let bc = self.mamba_n_groups.saturating_mul(self.mamba_d_state);
        self.d_inner().saturating_add(bc.saturating_mul(2))
    }
    /// Rows of mamba.in_proj: z | xBC | dt = 2·Di + 2·G·N + nH.
    pub fn in_proj_rows(&self) -> usize {
        self.d_inner()
            .saturating_add(self.conv_dim())
            .saturating_add(self.mamba_n_heads)
    }
    /// RoPE base when the attention layers use RoPE.
    pub fn rope_theta(&self) -> Option<f64> {
        match self.position_embedding {
            PositionEmbedding::Rope { theta } => Some(theta),
            PositionEmbedding::None => None,
        }
    }
    /// The Δ clamp to apply, or `None` when there is none or it is a no-op ((≤0, +∞): softplus
    /// is already non-negative).
    pub fn dt_clamp(&self) -> Option<(f32, f32)> {
        let l = self.time_step_limit?;
        (l.min > 0.0 || l.max.is_finite()).then_some((l.min, l.max))
    }
}

fn parse(f: &Fields) -> Result<ModelConfig> {
    match f.get("model_type") {
        Some(Value::String(s)) if s == "granitemoehybrid" => {}
        Some(v) => {
            return Err(f.err(
                "model_type",
                format!("expected \"granitemoehybrid\", got {v} (only Granite 4.0 hybrid checkpoints are supported)"),
            ));
        }
        None => return Err(f.err("model_type", "missing (expected \"granitemoehybrid\")")),
    }
    let num_hidden_layers = f.usize("num_hidden_layers", 32)?;
    // Checked here, not only in validate: the default layer list is allocated from it.
    if num_hidden_layers > MAX_LAYERS {
        return Err(f.err(
            "num_hidden_layers",
            format!("{num_hidden_layers} exceeds the sanity limit {MAX_LAYERS}"),
        ));
    }
    let layer_types = parse_layer_types(f, num_hidden_layers)?;
    let has_mamba = layer_types.contains(&LayerKind::Mamba);
    let hidden_size = f.usize("hidden_size", 4096)?;
    let num_attention_heads = f.usize("num_attention_heads", 32)?;
    let num_key_value_heads = f
        .opt_usize("num_key_value_heads")?
        .unwrap_or(num_attention_heads);

    let position_embedding = parse_position_embedding(f)?;
    let time_step_limit = parse_time_step_limit(f)?;

    match f.get("hidden_act") {
        None => {}
        Some(Value::String(s)) if s == "silu" || s == "swish" => {}
        Some(v) => {
            return Err(f.err(
                "hidden_act",
                format!("{v} is not supported (only \"silu\")"),
            ));
        }
    }

    let mamba_n_heads = f.usize("mamba_n_heads", 128)?;
    let mamba_expand = f.usize("mamba_expand", 2)?;
    let mamba_d_head = match f.get("mamba_d_head") {
        None => None,
        Some(Value::String(s)) if s == "auto" => None,
        Some(_) => Some(f.usize("mamba_d_head", 0)?),
    };
    let d_inner = mamba_expand.saturating_mul(hidden_size);
    let mamba_d_head = match mamba_d_head {
        Some(p) => p,
        None if !has_mamba => d_inner.checked_div(mamba_n_heads).unwrap_or(0),
        None => {
            if mamba_n_heads == 0 || !d_inner.is_multiple_of(mamba_n_heads) {
                return Err(f.err(
                    "mamba_d_head",
                    format!("\"auto\" needs mamba_expand·hidden_size = {d_inner} divisible by mamba_n_heads = {mamba_n_heads}"),
                ));
            }
            d_inner / mamba_n_heads
        }
    };

    let (bos_token_id, eos_token_ids, pad_token_id) = (
        f.opt_u32("bos_token_id", Some(1))?,
        parse_eos(f)?,
        f.opt_u32("pad_token_id", None)?,
    );

    let cfg = ModelConfig {
        vocab_size: f.usize("vocab_size", 32000)?,
        hidden_size,
        num_hidden_layers,
        layer_types,
        num_attention_heads,
        num_key_value_heads,
        head_dim: hidden_size.checked_div(num_attention_heads).unwrap_or(0),
        attention_bias: f.bool("attention_bias", false)?,
        attention_multiplier: f.f32("attention_multiplier", 1.0)?,
        position_embedding,
        max_position_embeddings: f.usize("max_position_embeddings", 2048)?,
        rms_norm_eps: f.f32("rms_norm_eps", 1e-6)?,
        embedding_multiplier: f.f32("embedding_multiplier", 1.0)?,
        residual_multiplier: f.f32("residual_multiplier", 1.0)?,
        logits_scaling: f.f32("logits_scaling", 1.0)?,
        num_local_experts: f.usize("num_local_experts", 8)?,
        num_experts_per_tok: f.usize("num_experts_per_tok", 2)?,
        intermediate_size: f.usize("intermediate_size", 11008)?,
        shared_intermediate_size: f.usize("shared_intermediate_size", 1024)?,
        mamba_n_heads,
        mamba_d_head,
        mamba_n_groups: f.usize("mamba_n_groups", 1)?,
        mamba_d_state: f.usize("mamba_d_state", 256)?,
        mamba_d_conv: f.usize("mamba_d_conv", 4)?,
        mamba_expand,
        mamba_chunk_size: f.usize("mamba_chunk_size", 256)?,
        mamba_conv_bias: f.bool("mamba_conv_bias", true)?,
        mamba_proj_bias: f.bool("mamba_proj_bias", false)?,
        time_step_limit,
        tie_word_embeddings: f.bool("tie_word_embeddings", false)?,
        bos_token_id,
        eos_token_ids,
        pad_token_id,
    };
    validate(&cfg, f)?;
    Ok(cfg)
}
