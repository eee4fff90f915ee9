//! A deterministic stand-in for the engine, for tests and documentation screenshots only:
//! canned tokens at a fixed pace, a KV-cache figure that grows by the model's real per-token
//! KV size, and Mamba conv/SSM figures that stay fixed. The model's layers and weight bytes come
//! from a real `config.json` (the engine's inspect formulas), so the layer map is genuine; no GPU
//! work happens.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use granite_engine::MemTag;
use granite_engine::MessageContent;
use granite_engine::inspect::{self, cache_figures, kv_bytes_per_token_per_layer};
use granite_engine::{ChatMessage, ModelConfig, TensorCategory};

use crate::adapter::AdapterInfo;
use crate::backend::{Backend, GenStats, KernelTimes, ModelInfo, Opener, Probe, Settings};
use crate::figures;

/// The canned reply, one token per word.
pub const REPLY: &str = "It is a truth universally acknowledged, that a hybrid model in possession \
of a long context must be in want of a small state. The Mamba layers keep a fixed state, while \
the attention layers remember every token they have seen, and so their cache grows with the \
conversation.";

/// Prompt tokens a message costs in the fake: its words plus the role markers.
fn message_tokens(m: &ChatMessage) -> usize {
    let words = match &m.content {
        Some(MessageContent::Text(t)) => t.split_whitespace().count(),
        Some(MessageContent::Parts(p)) => p
            .iter()
            .filter_map(|x| x.text.as_deref())
            .map(|t| t.split_whitespace().count())
            .sum(),
        None => 0,
    };
    words + 4
}

struct FakeProbe {
    fixed: Vec<(MemTag, u64)>,
    kv_per_token: u64,
    context: AtomicUsize,
}

impl Probe for FakeProbe {
    fn memory(&self) -> Vec<(MemTag, u64)> {
        let ctx = self.context.load(Ordering::Relaxed) as u64;
        self.fixed
            .iter()
            .map(|&(tag, b)| match tag {
                MemTag::KvCache => (tag, self.kv_per_token * ctx),
                _ => (tag, b),
            })
            .collect()
    }
    fn context_len(&self) -> usize {
        self.context.load(Ordering::Relaxed)
    }
    fn kernel_times(&self) -> KernelTimes {
        Err("the fake backend runs no GPU kernels".into())
    }
}

/// Weight, state and scratch bytes as the engine would allocate them (KV filled in live).
fn fixed_memory(cfg: &ModelConfig) -> Vec<(MemTag, u64)> {
    let w = inspect::weights_from_config(cfg);
    let cat = |c: TensorCategory| w.category(c).bytes;
    let cache = cache_figures(cfg, 0);
    let scratch = 256 * (8 * cfg.hidden_size as u64 + cfg.vocab_size as u64) * 4;
    MemTag::ALL
        .iter()
        .map(|&tag| {
            let b = match tag {
                MemTag::TokenEmbeddings => cat(TensorCategory::TokenEmbeddings),
                MemTag::AttentionWeights => cat(TensorCategory::Attention),
                MemTag::MambaWeights => cat(TensorCategory::Mamba),
                MemTag::RoutedExperts => {
                    cat(TensorCategory::RoutedExperts) + cat(TensorCategory::Router)
                }
                MemTag::SharedMlp => cat(TensorCategory::SharedMlp),
                MemTag::Norms => cat(TensorCategory::Norms),
                MemTag::LmHead => cat(TensorCategory::LmHead),
                MemTag::KvCache => 0,
                MemTag::SsmState => cache.ssm_state_bytes,
                MemTag::ConvState => cache.conv_state_bytes,
                MemTag::Scratch => scratch,
            };
            (tag, b)
        })
        .collect()
}

pub struct FakeBackend {
    info: ModelInfo,
    probe: Arc<FakeProbe>,
    /// Pause per generated token (prefill takes two).
    delay: Duration,
    /// Messages already "in the cache".
    cached_messages: usize,
}

impl FakeBackend {
    /// Reads `<dir>/config.json`; a folder without a valid one is an error naming the file.
    pub fn new(dir: &Path, adapter: Option<AdapterInfo>, delay: Duration) -> Result<Self, String> {
        let cfg = ModelConfig::load(dir).map_err(|e| format!("cannot open model: {e}"))?;
        let probe = Arc::new(FakeProbe {
            fixed: fixed_memory(&cfg),
            kv_per_token: kv_bytes_per_token_per_layer(&cfg) * cfg.n_attention_layers() as u64,
            context: AtomicUsize::new(0),
        });
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let info = ModelInfo {
            name,
            dir: dir.to_path_buf(),
            layer_weight_bytes: figures::layer_weight_bytes(&cfg),
            cfg,
            adapter,
            backend_label: "fake backend: canned tokens, no GPU work".into(),
            defaults: None,
            chat: true,
        };
        Ok(Self {
            info,
            probe,
            delay,
            cached_messages: 0,
        })
    }

    /// An [`Opener`] for the worker, with the machine's real adapter in the adapter panel.
    pub fn opener(delay: Duration, probe_adapter: bool) -> Opener {
        Arc::new(move |dir, serve| {
            let adapter = if probe_adapter {
                AdapterInfo::probe_machine()
            } else {
                None
            };
            let mut b = FakeBackend::new(dir, adapter, delay)?;
            serve(&mut b);
            Ok(())
        })
    }
}

impl Backend for FakeBackend {
    fn model_info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn probe(&self) -> Arc<dyn Probe> {
        self.probe.clone()
    }

    fn generate(
        &mut self,
        messages: &[ChatMessage],
        settings: &Settings,
        stop: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<GenStats, String> {
        if messages.last().is_none_or(|m| m.role != "user") {
            return Err("the conversation must end with a user turn".into());
        }
        if messages.len() < self.cached_messages {
            self.new_chat()?;
        }
        let t0 = Instant::now();
        let prompt_tokens: usize = messages[self.cached_messages..]
            .iter()
            .map(message_tokens)
            .sum();
        std::thread::sleep(self.delay * 2);
        self.probe
            .context
            .fetch_add(prompt_tokens, Ordering::Relaxed);
        let prompt_secs = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let mut stats = GenStats {
            prompt_tokens,
            prompt_secs,
            ..Default::default()
        };
        for (i, word) in REPLY.split(' ').take(settings.max_tokens).enumerate() {
            if stop.load(Ordering::Relaxed) {
                stats.stopped = true;
                break;
            }
            std::thread::sleep(self.delay);
            self.probe.context.fetch_add(1, Ordering::Relaxed);
            stats.gen_tokens += 1;
            stats.decode_tokens += 1;
            let piece = if i == 0 {
                word.to_string()
            } else {
                format!(" {word}")
            };
            on_text(&piece);
        }
        stats.gen_secs = t1.elapsed().as_secs_f64();
        // The reply joins the cached conversation.
        self.cached_messages = messages.len() + 1;
        Ok(stats)
    }

    fn new_chat(&mut self) -> Result<(), String> {
        self.cached_messages = 0;
        self.probe.context.store(0, Ordering::Relaxed);
        Ok(())
    }
}
