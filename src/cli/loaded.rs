//! A model folder opened on the GPU with its tokenizer, with load warnings printed.
use granite_engine::model::{Model, precheck};
use granite_engine::model_files::{ChatTemplate, ModelConfig, ModelWeights, Tokenizer};

use super::gpu_args::GpuArgs;
use super::model_arg::ModelArg;

pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
}

impl Loaded {
    /// Checks everything that can be checked on the host first (config, every tensor's header,
    /// tokenizer, chat template when `chat`), then the memory budget for a session of `context`
    /// tokens (None: the default), and only then uploads the weights.
    pub fn open(
        model: &ModelArg,
        gpu: &GpuArgs,
        chat: bool,
        context: Option<usize>,
    ) -> anyhow::Result<Loaded> {
        let dir = model.dir()?;
        let cfg = ModelConfig::load(&dir)?;
        ModelWeights::open(&dir, &cfg)?;
        let tokenizer = Tokenizer::load(&dir, Some(&cfg))?;
        if chat {
            ChatTemplate::from_tokenizer(&tokenizer)?;
        }
        let gpu = gpu.open()?;
        let context = context.unwrap_or_else(|| default_context(&cfg));
        let what = format!("{} with a {context}-token session", dir.display());
        precheck(&gpu, &cfg, context, &what)?;
        let model = Model::load(gpu, &dir, true)?;
        for (name, n) in &model.upload_report.overflows {
            eprintln!(
                "warning: {name}: {n} values exceed the f16 range and were saturated to ±65504"
            );
        }
        Ok(Loaded { model, tokenizer })
    }

    /// Context for a session when the user gives none.
    pub fn default_context(&self) -> usize {
        default_context(&self.model.cfg)
    }
}

/// The model's limit, capped so the cache allocation stays modest unless asked for.
fn default_context(cfg: &ModelConfig) -> usize {
    cfg.max_position_embeddings.min(8192)
}
