//! An opened model: weights on the GPU, tokenizer and chat template on the host. Sessions
//! (conversations) are opened on it; every figure a front end shows comes from here.
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;

use super::device::{Device, DeviceInfo, DeviceOptions};
use super::host::{GgufReport, HostFiles, Origin, Weights};
use super::memory::{MemoryReport, SessionStats};
use super::session::{Session, SessionOptions};
use super::source::ModelSource;
use crate::generate::GenerateOptions;
use crate::model::{Model, precheck};
use crate::model_files::inspect::{self, InspectReport};
use crate::model_files::{
    ChatMessage, ChatOptions, ChatTemplate, GenerationDefaults, ModelConfig, Tokenizer,
};
use crate::{Error, Result};

/// How to open a model.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The adapter and kernel paths (ignored by [`Engine::open_on`], which takes a device).
    pub device: DeviceOptions,
    /// The context a session gets when it names none, and the one the memory pre-check plans
    /// for: default the model's limit, at most 8192.
    pub context: Option<usize>,
    /// Draw a progress bar on stderr while weights upload.
    pub progress: bool,
    /// Refuse a model without a usable chat template (before the GPU is touched).
    pub require_chat_template: bool,
}

/// What a front end shows about an opened model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// The folder's name, for titles.
    pub name: String,
    /// Where it came from.
    pub source: String,
    pub config: ModelConfig,
    /// Layers, parameters, bytes per category, cache per session (as `granite inspect`).
    pub figures: InspectReport,
    /// Why chat is unavailable (no or a broken chat template), if it is.
    pub chat_template_error: Option<String>,
    /// Weights whose values overflowed f16 and were saturated: (tensor, count).
    pub f16_overflows: Vec<(String, usize)>,
    /// The context sessions get by default.
    pub default_context: usize,
    /// The sampling `generation_config.json` recommends (see [`Engine::default_options`]).
    pub generation: GenerationDefaults,
    /// For a GGUF file: its metadata, tensor types and what had to be assumed.
    pub gguf: Option<GgufReport>,
}

pub(crate) struct Shared {
    pub model: Arc<Model>,
    pub tokenizer: Tokenizer,
    pub template: std::result::Result<ChatTemplate, String>,
    pub info: ModelInfo,
    pub device: Device,
    pub sessions: Mutex<Vec<Weak<SessionStats>>>,
    pub next_id: std::sync::atomic::AtomicU64,
}

/// An opened model. Cheap to clone: clones share the model.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

/// The model's own limit, capped so a session's caches stay modest unless asked for.
fn default_context(cfg: &ModelConfig) -> usize {
    cfg.max_position_embeddings.min(8192)
}

impl Engine {
    /// Opens the model on the adapter `opts.device` picks. Everything that can be checked on
    /// the host (config, every tensor's header, tokenizer) is checked before the GPU is
    /// touched, and the memory budget before any weight is uploaded.
    pub fn open(source: &ModelSource, opts: &OpenOptions) -> Result<Engine> {
        let host = HostFiles::read(source, opts.require_chat_template)?;
        let device = Device::open(&opts.device)?;
        Engine::load(&device, host, opts)
    }

    /// Opens the model on an already opened device (several models may share one).
    pub fn open_on(device: &Device, source: &ModelSource, opts: &OpenOptions) -> Result<Engine> {
        Engine::load(
            device,
            HostFiles::read(source, opts.require_chat_template)?,
            opts,
        )
    }

    fn load(device: &Device, host: HostFiles, opts: &OpenOptions) -> Result<Engine> {
        let HostFiles {
            source,
            cfg,
            weights,
            generation,
            tokenizer,
            template,
            gguf,
        } = host;
        let context = opts
            .context
            .unwrap_or_else(|| default_context(&cfg))
            .min(cfg.max_position_embeddings)
            .max(1);
        let gpu = device.gpu.clone();
        let what = format!("{source} with a {context}-token session");
        precheck(&gpu, &cfg, context, &what)?;
        let model = Model::from_weights(gpu, cfg.clone(), &weights, opts.progress)?;
        drop(weights);
        let info = ModelInfo {
            name: source.name(),
            source: source.to_string(),
            figures: inspect::report(&cfg, &[context as u64]),
            chat_template_error: template.as_ref().err().cloned(),
            f16_overflows: model.upload_report.overflows.clone(),
            default_context: context,
            generation,
            gguf,
            config: cfg,
        };
        Ok(Engine {
            shared: Arc::new(Shared {
                model: Arc::new(model),
                tokenizer,
                template,
                info,
                device: device.clone(),
                sessions: Mutex::new(Vec::new()),
                next_id: 0.into(),
            }),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    pub fn config(&self) -> &ModelConfig {
        &self.shared.info.config
    }

    pub fn device(&self) -> &Device {
        &self.shared.device
    }

    pub fn device_info(&self) -> DeviceInfo {
        self.shared.device.info()
    }

    /// The generation options the model's `generation_config.json` recommends: what front
    /// ends start from before their flags or a request's fields override them.
    pub fn default_options(&self) -> GenerateOptions {
        self.shared.info.generation.options()
    }

    /// A new, empty conversation.
    pub fn session(&self, opts: &SessionOptions) -> Result<Session> {
        Session::new(self.shared.clone(), opts)
    }

    /// Live GPU bytes per category, and each open session's caches.
    pub fn memory(&self) -> MemoryReport {
        let sessions = {
            let mut list = self
                .shared
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            list.retain(|w| w.strong_count() > 0);
            list.iter()
                .filter_map(Weak::upgrade)
                .map(|s| s.report())
                .collect()
        };
        let categories = self.shared.device.memory();
        MemoryReport {
            total: categories.iter().map(|(_, b)| b).sum(),
            budget: self.shared.device.memory_budget(),
            categories,
            sessions,
        }
    }

    /// Token ids of `text`, as the model's tokenizer encodes it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.shared.tokenizer.encode(text)
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.shared.tokenizer.decode(ids, skip_special_tokens)
    }

    /// Whether the model has a usable chat template (see [`ModelInfo::chat_template_error`]).
    pub fn has_chat_template(&self) -> bool {
        self.shared.template.is_ok()
    }

    /// The conversation rendered with the model's chat template.
    pub fn render_chat(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<String> {
        self.shared.template()?.render(messages, opts)
    }
}

impl Shared {
    pub fn template(&self) -> Result<&ChatTemplate> {
        self.template
            .as_ref()
            .map_err(|e| Error::Template(format!("this model cannot chat: {e}")))
    }
}

/// What [`describe`] finds in a model's files without a GPU.
#[derive(Clone, Debug, Serialize)]
pub struct Description {
    /// Where the model came from.
    pub model: String,
    pub config: ModelConfig,
    #[serde(flatten)]
    pub report: InspectReport,
    /// The weight figures counted from the safetensors headers instead of the config (none for
    /// a GGUF file, whose types are in `gguf`).
    pub weights_from_headers: Option<inspect::WeightFigures>,
    /// For a GGUF file: its metadata, tensor types and what had to be assumed.
    pub gguf: Option<GgufReport>,
}

/// Reads and checks a model's config and every tensor header (no GPU): what `granite inspect`
/// prints, with the per-session cache at each of `contexts` tokens.
pub fn describe_at(source: &ModelSource, contexts: &[u64]) -> Result<Description> {
    let w = Weights::read(source)?;
    let (from_headers, gguf) = match w.origin {
        Origin::Files(_) => (
            Some(inspect::weights_from_headers(&w.cfg, w.weights.infos())),
            None,
        ),
        Origin::Gguf(report, _) => (None, Some(report)),
    };
    Ok(Description {
        model: source.to_string(),
        report: inspect::report(&w.cfg, contexts),
        weights_from_headers: from_headers,
        gguf,
        config: w.cfg,
    })
}

/// [`describe_at`] without cache figures.
pub fn describe(source: &ModelSource) -> Result<Description> {
    describe_at(source, &[])
}
