//! Size figures for `inspect` and the viewer, computed from the config alone (closed-form
//! formulas of spec §3/§6) or counted from the safetensors headers by tensor-name pattern, so
//! the two can be cross-checked.
//!
//! Storage assumption (what the engine keeps on the GPU): every weight as f16, 2 bytes per
//! parameter, except `A_log`, `D` and `dt_bias` as f32 (4 bytes); KV cache f16; Mamba conv and
//! SSM states f32. Parameters are "active" when a token uses them: everything except the
//! routed experts that are not chosen (top-k of E count). The embedding table counts fully.
use serde::Serialize;

use super::config::{LayerKind, ModelConfig};
use super::safetensors::TensorInfo;
use super::tensors::{self, TensorCategory};

pub const WEIGHT_BYTES: u64 = 2;
pub const SSM_VECTOR_BYTES: u64 = 4;
pub const KV_BYTES: u64 = 2;
pub const STATE_BYTES: u64 = 4;

/// The storage assumption, spelled out for `--json` readers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageAssumption {
    pub weight_bytes_per_param: u64,
    pub ssm_vector_bytes_per_param: u64,
    pub kv_bytes_per_value: u64,
    pub state_bytes_per_value: u64,
    pub note: &'static str,
}

pub const STORAGE: StorageAssumption = StorageAssumption {
    weight_bytes_per_param: WEIGHT_BYTES,
    ssm_vector_bytes_per_param: SSM_VECTOR_BYTES,
    kv_bytes_per_value: KV_BYTES,
    state_bytes_per_value: STATE_BYTES,
    note: "weights f16 except mamba A_log/D/dt_bias f32; KV cache f16; conv and SSM state f32; \
           tied lm_head shares the embedding",
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub params: u64,
    pub bytes: u64,
    pub active_params: u64,
    pub active_bytes: u64,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.params += o.params;
        self.bytes += o.bytes;
        self.active_params += o.active_params;
        self.active_bytes += o.active_bytes;
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CategoryFigures {
    pub category: TensorCategory,
    #[serde(flatten)]
    pub count: Count,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerFigures {
    pub index: usize,
    pub kind: LayerKind,
    #[serde(flatten)]
    pub count: Count,
}

/// Parameters and GPU bytes of the weights, by category and by layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WeightFigures {
    /// Every category in [`TensorCategory::ALL`] order, zeros included.
    pub categories: Vec<CategoryFigures>,
    pub layers: Vec<LayerFigures>,
    /// Sum over categories except `Other` (tensors the engine does not load).
    pub total: Count,
}

impl WeightFigures {
    fn new(cfg: &ModelConfig) -> Self {
        Self {
            categories: TensorCategory::ALL
                .iter()
                .map(|&category| CategoryFigures {
                    category,
                    count: Count::default(),
                })
                .collect(),
            layers: cfg
                .layer_types
                .iter()
                .enumerate()
                .map(|(index, &kind)| LayerFigures {
                    index,
                    kind,
                    count: Count::default(),
                })
                .collect(),
            total: Count::default(),
        }
    }

    fn add(&mut self, cat: TensorCategory, layer: Option<usize>, c: Count) {
        if let Some(slot) = self.categories.iter_mut().find(|x| x.category == cat) {
            slot.count.add(c);
        }
        if cat == TensorCategory::Other {
            return;
        }
        if let Some(l) = layer.and_then(|l| self.layers.get_mut(l)) {
            l.count.add(c);
        }
        self.total.add(c);
    }

    pub fn category(&self, cat: TensorCategory) -> Count {
        self.categories
            .iter()
            .find(|x| x.category == cat)
            .map(|x| x.count)
            .unwrap_or_default()
    }
}

/// `n` params stored at `bytes_per` bytes, of which a fraction `k/e` is active.
fn count(n: u64, bytes_per: u64, k: u64, e: u64) -> Count {
    let active = if e == 0 {
        n
    } else {
        (n as u128 * k as u128 / e as u128) as u64
    };
    Count {
        params: n,
        bytes: n * bytes_per,
        active_params: active,
        active_bytes: active * bytes_per,
    }
}

fn dense(n: u64) -> Count {
    count(n, WEIGHT_BYTES, 1, 1)
}

/// Figures from the config by formula.
pub fn weights_from_config(cfg: &ModelConfig) -> WeightFigures {
    use TensorCategory::*;
    let u = |x: usize| x as u64;
    let (h, v) = (u(cfg.hidden_size), u(cfg.vocab_size));
    let mut f = WeightFigures::new(cfg);
    f.add(TokenEmbeddings, None, dense(v * h));
    f.add(Norms, None, dense(h));
    if !cfg.tie_word_embeddings {
        f.add(LmHead, None, dense(v * h));
    }
    for (i, kind) in cfg.layer_types.iter().enumerate() {
        f.add(Norms, Some(i), dense(2 * h));
        match kind {
            LayerKind::Attention => {
                let (q, kv) = (u(cfg.q_dim()), u(cfg.kv_dim()));
                let bias = if cfg.attention_bias {
                    q + 2 * kv + h
                } else {
                    0
                };
                f.add(Attention, Some(i), dense(2 * q * h + 2 * kv * h + bias));
            }
            LayerKind::Mamba => {
                let (di, nh, rows) = (
                    u(cfg.d_inner()),
                    u(cfg.mamba_n_heads),
                    u(cfg.in_proj_rows()),
                );
                let conv = u(cfg.conv_dim());
                let mut n = rows * h + conv * u(cfg.mamba_d_conv) + di + h * di;
                n += if cfg.mamba_conv_bias { conv } else { 0 };
                n += if cfg.mamba_proj_bias { rows + h } else { 0 };
                f.add(Mamba, Some(i), dense(n));
                f.add(Mamba, Some(i), count(3 * nh, SSM_VECTOR_BYTES, 1, 1));
            }
        }
        f.add(
            SharedMlp,
            Some(i),
            dense(3 * u(cfg.shared_intermediate_size) * h),
        );
        if cfg.has_experts() {
            let (e, k) = (u(cfg.num_local_experts), u(cfg.num_experts_per_tok));
            f.add(Router, Some(i), dense(e * h));
            let n = 3 * e * u(cfg.intermediate_size) * h;
            f.add(RoutedExperts, Some(i), count(n, WEIGHT_BYTES, k, e));
        }
    }
    f
}

/// Figures counted from safetensors header entries, classified by name. With tied
/// embeddings an `lm_head.weight` in the file is ignored, as the loader does.
pub fn weights_from_headers<'a>(
    cfg: &ModelConfig,
    infos: impl IntoIterator<Item = &'a TensorInfo>,
) -> WeightFigures {
    let mut f = WeightFigures::new(cfg);
    let (e, k) = (cfg.num_local_experts as u64, cfg.num_experts_per_tok as u64);
    for t in infos {
        let cat = tensors::categorize(&t.name);
        if cat == TensorCategory::LmHead && cfg.tie_word_embeddings {
            continue;
        }
        let n = t.numel() as u64;
        let per = if tensors::stored_as_f32(&t.name) {
            SSM_VECTOR_BYTES
        } else {
            WEIGHT_BYTES
        };
        let c = if cat == TensorCategory::RoutedExperts {
            count(n, per, k, e)
        } else {
            count(n, per, 1, 1)
        };
        f.add(cat, tensors::layer_of(&t.name), c);
    }
    f
}

/// Per-session cache size at one context length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CacheFigures {
    pub context: u64,
    /// K and V of every attention layer (f16).
    pub kv_bytes: u64,
    /// (K−1)·conv_dim f32 per mamba layer; independent of context.
    pub conv_state_bytes: u64,
    /// nH·P·N f32 per mamba layer; independent of context.
    pub ssm_state_bytes: u64,
    pub total_bytes: u64,
    /// KV bytes if every layer were attention (same heads), for comparison.
    pub all_attention_kv_bytes: u64,
}

/// KV bytes per token per attention layer: 2 (K,V) · nKV · head_dim · 2 bytes.
pub fn kv_bytes_per_token_per_layer(cfg: &ModelConfig) -> u64 {
    2 * cfg.kv_dim() as u64 * KV_BYTES
}

pub fn cache_figures(cfg: &ModelConfig, context: u64) -> CacheFigures {
    let per_layer = kv_bytes_per_token_per_layer(cfg);
    let n_mamba = cfg.n_mamba_layers() as u64;
    let (conv, ssm) = if n_mamba > 0 {
        let taps = cfg.mamba_d_conv.saturating_sub(1) as u64;
        let state = cfg.d_inner() as u64 * cfg.mamba_d_state as u64;
        (
            taps * cfg.conv_dim() as u64 * STATE_BYTES,
            state * STATE_BYTES,
        )
    } else {
        (0, 0)
    };
    // `context` is arbitrary (a CLI value, or max_position_embeddings): saturate, never wrap.
    let kv = (per_layer * cfg.n_attention_layers() as u64).saturating_mul(context);
    CacheFigures {
        context,
        kv_bytes: kv,
        conv_state_bytes: n_mamba * conv,
        ssm_state_bytes: n_mamba * ssm,
        total_bytes: kv.saturating_add(n_mamba * (conv + ssm)),
        all_attention_kv_bytes: (per_layer * cfg.num_hidden_layers as u64).saturating_mul(context),
    }
}

/// Everything `inspect --json` prints about a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InspectReport {
    pub storage: StorageAssumption,
    pub n_layers: usize,
    pub n_attention_layers: usize,
    pub n_mamba_layers: usize,
    pub weights: WeightFigures,
    pub kv_bytes_per_token: u64,
    /// Conv + SSM state of one session (fixed size).
    pub recurrent_state_bytes: u64,
    pub cache: Vec<CacheFigures>,
}

/// The report from the config, with cache figures at each of `contexts`.
pub fn report(cfg: &ModelConfig, contexts: &[u64]) -> InspectReport {
    let fixed = cache_figures(cfg, 0);
    InspectReport {
        storage: STORAGE,
        n_layers: cfg.num_hidden_layers,
        n_attention_layers: cfg.n_attention_layers(),
        n_mamba_layers: cfg.n_mamba_layers(),
        weights: weights_from_config(cfg),
        kv_bytes_per_token: kv_bytes_per_token_per_layer(cfg) * cfg.n_attention_layers() as u64,
        recurrent_state_bytes: fixed.conv_state_bytes + fixed.ssm_state_bytes,
        cache: contexts.iter().map(|&c| cache_figures(cfg, c)).collect(),
    }
}
