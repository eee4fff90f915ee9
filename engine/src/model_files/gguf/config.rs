//! GGUF metadata → [`ModelConfig`] for `granitehybrid` and `granite` (spec §1.9, §2.2–2.4,
//! §2.8). Every value the file does not state and we had to choose is recorded as an
//! assumption for `inspect`.
use serde_json::Map;

use super::file::GgufFile;
use crate::Result;
use crate::model_files::config::{LayerKind, ModelConfig, PositionEmbedding};
use crate::model_files::config_check::{MAX_LAYERS, validate};
use crate::model_files::json::Fields;

pub const ARCHES: [&str; 2] = ["granitehybrid", "granite"];
const WIDTH: u64 = 1 << 20;

/// The config and what was assumed to build it.
#[derive(Clone, Debug)]
pub struct GgufConfig {
    pub arch: String,
    pub config: ModelConfig,
    pub assumptions: Vec<String>,
}

struct Keys<'a> {
    f: &'a GgufFile,
    arch: &'a str,
    assumptions: Vec<String>,
}

impl Keys<'_> {
    fn k(&self, key: &str) -> String {
        format!("{}.{key}", self.arch)
    }
    fn req(&self, key: &str, max: u64) -> Result<usize> {
        let k = self.k(key);
        self.f
            .uint(&k, max)?
            .map(|v| v as usize)
            .ok_or_else(|| self.f.key_err(&k, "missing"))
    }
    fn opt(&self, key: &str, max: u64) -> Result<Option<usize>> {
        Ok(self.f.uint(&self.k(key), max)?.map(|v| v as usize))
    }
    /// A float key, or `default` with an assumption noted.
    fn float_or(&mut self, key: &str, default: f32, why: &str) -> Result<f32> {
        let k = self.k(key);
        Ok(match self.f.float(&k)? {
            Some(v) => v,
            None => {
                self.assumptions
                    .push(format!("{k} absent: using {default} ({why})"));
                default
            }
        })
    }
}

/// Reads the architecture and hyper-parameters. Tensor shapes decide the vocabulary size and
/// the FFN widths (the keys are cross-checked against them).
pub fn read_config(f: &GgufFile) -> Result<GgufConfig> {
    let arch = f
        .string("general.architecture")?
        .ok_or_else(|| f.key_err("general.architecture", "missing"))?;
    if !ARCHES.contains(&arch) {
        return Err(f.key_err(
            "general.architecture",
            format!(
                "unsupported architecture `{arch}` (this engine runs granitehybrid and granite)"
            ),
        ));
    }
    let mut k = Keys {
        f,
        arch,
        assumptions: Vec::new(),
    };
    let h = k.req("embedding_length", WIDTH)?;
    let layers = k.req("block_count", MAX_LAYERS as u64)?;
    if h == 0 || layers == 0 {
        return Err(f.key_err(
            &k.k("embedding_length"),
            "embedding_length and block_count must be ≥ 1",
        ));
    }
    let (layer_types, n_heads, n_kv) = layer_kinds(&mut k, layers)?;
    let head_dim = h
        .checked_div(n_heads)
        .filter(|_| h.is_multiple_of(n_heads))
        .ok_or_else(|| {
            f.key_err(
                &k.k("attention.head_count"),
                format!("{n_heads} does not divide embedding_length {h}"),
            )
        })?;
    let rope = position(&mut k, head_dim)?;
    let attn_scale = match f.float(&k.k("attention.scale"))? {
        Some(s) if s != 0.0 => s,
        _ => {
            let s = 1.0 / (head_dim as f32).sqrt();
            k.assumptions.push(format!(
                "{} absent: softmax scale 1/√head_dim = {s} (llama.cpp's default)",
                k.k("attention.scale")
            ));
            s
        }
    };
    let vocab = tensor_dim(f, "token_embd.weight", 1)?;
    if let Some(v) = k.opt("vocab_size", 1 << 24)?.filter(|&v| v != vocab) {
        return Err(f.key_err(
            &k.k("vocab_size"),
            format!("{v} but token_embd.weight has {vocab} rows"),
        ));
    }
    let experts = k.opt("expert_count", 1 << 12)?.unwrap_or(0);
    let used = k.opt("expert_used_count", 1 << 12)?.unwrap_or(0);
    let shared = shared_width(&mut k, experts > 0)?;
    let mut cfg = ModelConfig {
        vocab_size: vocab,
        hidden_size: h,
        num_hidden_layers: layers,
        layer_types,
        num_attention_heads: n_heads,
        num_key_value_heads: n_kv,
        head_dim,
        attention_bias: false,
        attention_multiplier: attn_scale,
        position_embedding: rope,
        max_position_embeddings: k.opt("context_length", u32::MAX.into())?.unwrap_or(4096),
        rms_norm_eps: f
            .float(&k.k("attention.layer_norm_rms_epsilon"))?
            .ok_or_else(|| f.key_err(&k.k("attention.layer_norm_rms_epsilon"), "missing"))?,
        embedding_multiplier: k.float_or("embedding_scale", 1.0, "no embedding multiplier")?,
        residual_multiplier: k.float_or("residual_scale", 1.0, "no residual multiplier")?,
        logits_scaling: k.float_or("logit_scale", 1.0, "logits not divided")?,
        num_local_experts: experts,
        num_experts_per_tok: used,
        intermediate_size: k.opt("feed_forward_length", WIDTH)?.unwrap_or(0),
        shared_intermediate_size: shared,
        mamba_n_heads: 0,
        mamba_d_head: 0,
        mamba_n_groups: 1,
        mamba_d_state: 0,
        mamba_d_conv: 4,
        mamba_expand: 2,
        mamba_chunk_size: 256,
        mamba_conv_bias: f.tensor_exists_in_layers("ssm_conv1d.bias"),
        mamba_proj_bias: f.tensor_exists_in_layers("ssm_in.bias"),
        time_step_limit: None,
        tie_word_embeddings: f.tensor("output.weight").is_none(),
        bos_token_id: f
            .uint("tokenizer.ggml.bos_token_id", u32::MAX.into())?
            .map(|v| v as u32),
        eos_token_ids: f
            .uint("tokenizer.ggml.eos_token_id", u32::MAX.into())?
            .map(|v| v as u32)
            .into_iter()
            .collect(),
        pad_token_id: f
            .uint("tokenizer.ggml.padding_token_id", u32::MAX.into())?
            .map(|v| v as u32),
    };
    if cfg.has_mamba() {
        mamba(&mut k, &mut cfg)?;
    }
    if cfg.max_position_embeddings == 1 << 20 && rope == PositionEmbedding::None {
        k.assumptions.push(format!(
            "{} = 1048576 is the converter's value for NoPE models, not a trained context length",
            k.k("context_length")
        ));
    }
    let empty = Map::new();
    validate(&cfg, &Fields::new(&empty, f.path()))?;
    Ok(GgufConfig {
        arch: arch.to_string(),
        config: cfg,
        assumptions: k.assumptions,
    })
}

/// Layer kinds from `attention.head_count_kv` (0 = Mamba layer), the query heads (one value for
/// every layer, scalar or array) and the single KV head count of the attention layers.
fn layer_kinds(k: &mut Keys, layers: usize) -> Result<(Vec<LayerKind>, usize, usize)> {
    let (hk, kvk) = (k.k("attention.head_count"), k.k("attention.head_count_kv"));
    let heads =
        k.f.uint_array(&hk, layers, 1 << 12)?
            .ok_or_else(|| k.f.key_err(&hk, "missing"))?;
    let kv = match k.f.uint_array(&kvk, layers, 1 << 12)? {
        Some(kv) => kv,
        None => {
            k.assumptions
                .push(format!("{kvk} absent: as many KV heads as query heads"));
            heads.clone()
        }
    };
    let kinds: Vec<LayerKind> = kv
        .iter()
        .map(|&n| {
            if n == 0 {
                LayerKind::Mamba
            } else {
                LayerKind::Attention
            }
        })
        .collect();
    if k.arch == "granite" && kinds.contains(&LayerKind::Mamba) {
        return Err(k.f.key_err(
            &kvk,
            "a `granite` (attention-only) file has a layer with 0 KV heads",
        ));
    }
    let n_heads = heads[0] as usize;
    if n_heads == 0 || heads.iter().any(|&v| v as usize != n_heads) {
        return Err(k.f.key_err(
            &hk,
            format!("must be one non-zero value for every layer, got {heads:?}"),
        ));
    }
    let mut attn_kv = kv.iter().filter(|&&n| n > 0);
    let n_kv = attn_kv.next().map_or(n_heads, |&n| n as usize);
    if attn_kv.any(|&n| n as usize != n_kv) || !n_heads.is_multiple_of(n_kv) {
        return Err(k.f.key_err(
            &kvk,
            format!("attention layers must share one KV head count dividing {n_heads}, got {kv:?}"),
        ));
    }
    Ok((kinds, n_heads, n_kv))
}

/// RoPE is on iff `rope.scaling.finetuned` is true (llama.cpp's switch; true when absent).
fn position(k: &mut Keys, head_dim: usize) -> Result<PositionEmbedding> {
    let key = k.k("rope.scaling.finetuned");
    let on = match k.f.boolean(&key)? {
        Some(b) => b,
        None => {
            k.assumptions
                .push(format!("{key} absent: RoPE on (llama.cpp's default)"));
            true
        }
    };
    if !on {
        return Ok(PositionEmbedding::None);
    }
    if let Some(d) = k
        .opt("rope.dimension_count", WIDTH)?
        .filter(|&d| d != head_dim)
    {
        return Err(k.f.key_err(
            &k.k("rope.dimension_count"),
            format!("{d} ≠ head_dim {head_dim}: partial RoPE is not supported"),
        ));
    }
    let theta = k.float_or("rope.freq_base", 10_000.0, "llama.cpp's default RoPE base")?;
    Ok(PositionEmbedding::Rope {
        theta: f64::from(theta),
    })
}

/// The shared (or dense) MLP width, from the first layer's gate tensor. MoE files must state
/// it in `expert_shared_feed_forward_length`; for dense files the tensor wins and a differing
/// key is noted.
fn shared_width(k: &mut Keys, moe: bool) -> Result<usize> {
    let name = if moe {
        "blk.0.ffn_gate_shexp.weight"
    } else {
        "blk.0.ffn_gate.weight"
    };
    let width = tensor_dim(k.f, name, 1)?;
    let shared = k.opt("expert_shared_feed_forward_length", WIDTH)?;
    let (key, stated) = match shared {
        Some(v) => ("expert_shared_feed_forward_length", Some(v)),
        None if moe => ("expert_shared_feed_forward_length", None),
        None => ("feed_forward_length", k.opt("feed_forward_length", WIDTH)?),
    };
    match stated {
        Some(v) if v == width => {}
        Some(v) if !moe => k.assumptions.push(format!(
            "{} = {v} but {name} has {width} rows: using {width}",
            k.k(key)
        )),
        other => {
            return Err(k
                .f
                .key_err(&k.k(key), format!("{other:?} but {name} has {width} rows")));
        }
    }
    Ok(width)
}

fn mamba(k: &mut Keys, c: &mut ModelConfig) -> Result<()> {
    let inner = k.req("ssm.inner_size", WIDTH)?;
    c.mamba_n_heads = k.req("ssm.time_step_rank", 1 << 14)?;
    c.mamba_n_groups = k.req("ssm.group_count", 1 << 14)?;
    c.mamba_d_state = k.req("ssm.state_size", 1 << 14)?;
    c.mamba_d_conv = k.req("ssm.conv_kernel", 8)?;
    let ok = c.mamba_n_heads > 0
        && c.mamba_n_groups > 0
        && c.mamba_d_state > 0
        && c.mamba_d_conv > 0
        && inner.is_multiple_of(c.mamba_n_heads)
        && c.mamba_n_heads.is_multiple_of(c.mamba_n_groups)
        && inner.is_multiple_of(c.hidden_size);
    if !ok {
        return Err(k.f.key_err(
            &k.k("ssm.inner_size"),
            format!(
                "inconsistent Mamba sizes: inner {inner}, heads {}, groups {}, state {}, conv {} (inner must be a multiple of heads and of embedding_length {}, heads of groups)",
                c.mamba_n_heads, c.mamba_n_groups, c.mamba_d_state, c.mamba_d_conv, c.hidden_size
            ),
        ));
    }
    c.mamba_d_head = inner / c.mamba_n_heads;
    c.mamba_expand = inner / c.hidden_size;
    k.assumptions.push("Mamba chunk size not stored in GGUF: using 256 (transformers' default; only changes how prefill is split)".into());
    k.assumptions.push(
        "time_step_limit not stored in GGUF: no Δ clamp (transformers' default (0, ∞) is a no-op)"
            .into(),
    );
    Ok(())
}

/// Extent `d` of a tensor that must exist.
fn tensor_dim(f: &GgufFile, name: &str, d: usize) -> Result<usize> {
    let t = f.tensor(name).ok_or_else(|| crate::Error::Tensor {
        file: f.path().to_path_buf(),
        tensor: name.into(),
        msg: "missing from the GGUF file".into(),
    })?;
    Ok(t.ne[d] as usize)
}
