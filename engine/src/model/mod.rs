//! The Granite 4.0 hybrid model on the GPU: embeddings, a stack of (mixer, FFN) layers where
//! the mixer is Mamba-2 or grouped-query attention, the final norm and the LM head.
//!
//! The forward pass only records kernels (see [`forward`]); the generation loop decides when to
//! submit and what to read back.
mod attention;
mod chunk;
mod forward;
mod mamba;
mod moe;
mod scratch;
mod shared_mlp;
mod state;
mod upload;

use std::path::Path;
use std::sync::Arc;

pub use chunk::{GPU_PREFILL_CHUNK, PREFILL_CHUNK, prefill_chunk};
pub use forward::LogitRows;
pub use scratch::Scratch;
pub use state::State;
pub use upload::UploadReport;

use crate::Result;
use crate::gpu::{F16Matrix, Gpu, MemTag, Tensor};
use crate::model_files::{LayerKind, ModelConfig, ModelWeights};
use attention::AttentionMixer;
use mamba::MambaMixer;
use moe::Moe;
use shared_mlp::SharedMlp;
use upload::Uploader;

pub(crate) enum Mixer {
    Mamba(Box<MambaMixer>),
    Attention(AttentionMixer),
}

pub(crate) struct Layer {
    input_norm: Tensor,
    post_norm: Tensor,
    mixer: Mixer,
    shared_mlp: SharedMlp,
    moe: Option<Moe>,
}

pub struct Model {
    pub gpu: Arc<Gpu>,
    pub cfg: ModelConfig,
    embed: F16Matrix,
    /// `None` when the embeddings are tied.
    lm_head: Option<F16Matrix>,
    final_norm: Tensor,
    layers: Vec<Layer>,
    pub upload_report: UploadReport,
}

/// GPU bytes a session needs: weights (f16, SSM vectors f32), the caches at `context` tokens
/// and the activation scratch of one prefill chunk. Used to refuse early what cannot fit.
pub fn planned_bytes(cfg: &ModelConfig, context: usize, chunk: usize) -> u64 {
    let weights = crate::model_files::inspect::weights_from_config(cfg)
        .total
        .bytes;
    let caches = crate::model_files::inspect::cache_figures(cfg, context as u64).total_bytes;
    let t = chunk as u64;
    let widths = 4 * cfg.hidden_size
        + cfg.in_proj_rows().max(cfg.q_dim() + 2 * cfg.kv_dim())
        + 2 * cfg.d_inner().max(cfg.q_dim())
        + 3 * cfg
            .shared_intermediate_size
            .max(cfg.intermediate_size * cfg.num_experts_per_tok.max(1))
        + cfg.vocab_size;
    weights + caches + 4 * t * widths as u64
}

/// Fails with the numbers when a model with a session of `context` tokens cannot fit in the
/// GPU memory budget.
pub fn precheck(gpu: &Gpu, cfg: &ModelConfig, context: usize, what: &str) -> Result<()> {
    gpu.memory.precheck(
        planned_bytes(cfg, context, prefill_chunk(gpu)),
        gpu.memory_limit,
        what,
    )
}

impl Model {
    /// Reads `config.json`, validates every tensor the config implies, then streams the weights
    /// to the GPU tensor by tensor. A GGUF file, or a folder holding only one, is loaded through
    /// [`Model::from_weights`] (see [`crate::model_files::gguf`]).
    pub fn load(gpu: Arc<Gpu>, dir: &Path, show_progress: bool) -> Result<Model> {
        if crate::model_files::gguf::is_gguf_path(dir) {
            let g = crate::model_files::gguf::open(dir)?;
            let weights = ModelWeights::from_gguf(g.weights);
            return Self::from_weights(gpu, g.config, &weights, show_progress);
        }
        let cfg = ModelConfig::load(dir)?;
        let weights = ModelWeights::open(dir, &cfg)?;
        Self::from_weights(gpu, cfg, &weights, show_progress)
    }

    /// Uploads validated weights (either backing) for `cfg`.
    pub fn from_weights(
        gpu: Arc<Gpu>,
        cfg: ModelConfig,
        weights: &ModelWeights,
        show_progress: bool,
    ) -> Result<Model> {
        let what = format!("the model in {}", weights.dir().display());
        precheck(&gpu, &cfg, 0, &what)?;
        let mut up = Uploader::new(&gpu, weights, show_progress);
        let embed = up.matrix(&["model.embed_tokens.weight"], MemTag::TokenEmbeddings, 1)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        let (mut n_mamba, mut n_attn) = (0, 0);
        for (i, kind) in cfg.layer_types.iter().enumerate() {
            let p = format!("model.layers.{i}");
            let mixer = match kind {
                LayerKind::Mamba => {
                    n_mamba += 1;
                    Mixer::Mamba(Box::new(MambaMixer::load(&mut up, &cfg, i, n_mamba - 1)?))
                }
                LayerKind::Attention => {
                    n_attn += 1;
                    Mixer::Attention(AttentionMixer::load(&mut up, &cfg, i, n_attn - 1)?)
                }
            };
            layers.push(Layer {
                input_norm: up.vector(&format!("{p}.input_layernorm.weight"), MemTag::Norms)?,
                post_norm: up.vector(
                    &format!("{p}.post_attention_layernorm.weight"),
                    MemTag::Norms,
                )?,
                mixer,
                shared_mlp: SharedMlp::load(&mut up, i)?,
                moe: if cfg.has_experts() {
                    Some(Moe::load(&mut up, &cfg, i)?)
                } else {
                    None
                },
            });
        }
        let final_norm = up.vector("model.norm.weight", MemTag::Norms)?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(up.matrix(&["lm_head.weight"], MemTag::LmHead, 1)?)
        };
        let upload_report = up.finish();
        gpu.wait()?;
        Ok(Model {
            gpu,
            cfg,
            embed,
            lm_head,
            final_norm,
            layers,
            upload_report,
        })
    }

    /// Fresh caches for one conversation: KV caches grow with it, Mamba states are fixed.
    pub fn new_state(&self, max_context: usize) -> Result<State> {
        State::new(self, max_context)
    }

    /// Activation buffers for forward calls of up to `max_tokens` tokens and `logit_rows` rows of
    /// logits.
    pub fn new_scratch(&self, max_tokens: usize, logit_rows: usize) -> Result<Scratch> {
        Scratch::new(&self.gpu, &self.cfg, max_tokens, logit_rows)
    }

    /// The longest context a session may reach: the config's `max_position_embeddings`.
    pub fn context_limit(&self) -> usize {
        self.cfg.max_position_embeddings
    }
}
