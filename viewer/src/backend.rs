//! The seam between the window and whatever produces tokens: the real engine
//! ([`crate::engine_backend`]) or the deterministic [`crate::fake::FakeBackend`] used by tests and
//! docs.
//!
//! A backend lives on the worker thread ([`crate::worker`]) and is only ever called from there,
//! so it may borrow from locals of that thread (the engine's `Generator<'m>` borrows its model).
//! The window reads the figures that change while tokens stream (GPU memory, context length)
//! through a [`Probe`], which is cheap and safe to call from the UI thread at any time.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use granite_engine::MemTag;
use granite_engine::{ChatMessage, ModelConfig, SessionMemory};

use crate::adapter::AdapterInfo;

/// Sampling settings of one reply, as the settings panel edits them.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// 0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: usize,
    /// Time each kernel family with GPU timestamps (slower: every submission waits).
    pub time_kernels: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.9,
            max_tokens: 128,
            time_kernels: false,
        }
    }
}

/// Sampling settings given on the command line: they stay as given when a model with its own
/// defaults is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pinned {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<usize>,
}

impl Pinned {
    /// `settings` with the model's `defaults` (temperature, top-p, tokens) where not pinned.
    pub fn apply(&self, settings: &mut Settings, defaults: Option<(f32, f32, usize)>) {
        let (t, p, n) =
            defaults.unwrap_or((settings.temperature, settings.top_p, settings.max_tokens));
        settings.temperature = self.temperature.unwrap_or(t);
        settings.top_p = self.top_p.unwrap_or(p);
        settings.max_tokens = self.max_tokens.unwrap_or(n);
    }
}

/// Timing of one finished (or stopped) reply.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenStats {
    pub prompt_tokens: usize,
    pub prompt_secs: f64,
    pub gen_tokens: usize,
    /// Tokens decoded within `gen_secs` (the engine samples the first token in the prefill).
    pub decode_tokens: usize,
    pub gen_secs: f64,
    /// The reply ended because Stop was pressed.
    pub stopped: bool,
}

impl GenStats {
    pub fn prompt_tok_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_secs.max(1e-9)
    }
    pub fn gen_tok_s(&self) -> f64 {
        self.decode_tokens as f64 / self.gen_secs.max(1e-9)
    }
}

/// What is known about the loaded model before any token is generated.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// Folder name, for the title bar.
    pub name: String,
    pub dir: PathBuf,
    pub cfg: ModelConfig,
    /// GPU bytes of each layer's weights (engine storage: f16, SSM vectors f32).
    pub layer_weight_bytes: Vec<u64>,
    /// `None` when the backend opened no GPU device.
    pub adapter: Option<AdapterInfo>,
    /// Which backend this is, shown next to the model name ("engine", "fake: canned tokens").
    pub backend_label: String,
    /// Whether the model chats (has a chat template); without one the window continues plain
    /// text: each message is appended to the text so far and the model continues it.
    pub chat: bool,
    /// The sampling the model's generation_config.json recommends (temperature, top-p, tokens
    /// per reply), which the settings panel takes unless flags pinned them.
    pub defaults: Option<(f32, f32, usize)>,
}

/// Time spent per kernel family in the last reply, or why that is not available.
pub type KernelTimes = Result<Vec<(String, f64)>, String>;

/// Live figures, readable from the UI thread while the worker is generating.
pub trait Probe: Send + Sync {
    /// Live bytes per tag, every tag of [`MemTag::ALL`] in order.
    fn memory(&self) -> Vec<(MemTag, u64)>;
    /// Tokens held in the current conversation's caches.
    fn context_len(&self) -> usize;
    /// Milliseconds per kernel family of the last reply (timestamp queries), or the reason
    /// there are none.
    fn kernel_times(&self) -> KernelTimes;
    /// The caches this conversation holds, as the engine accounts them (None: not known).
    fn session_memory(&self) -> Option<SessionMemory> {
        None
    }
}

/// One model, opened, on the worker thread.
pub trait Backend {
    fn model_info(&self) -> ModelInfo;
    fn probe(&self) -> Arc<dyn Probe>;
    /// Generates the assistant's reply to `messages` (system prompt, earlier turns, and the new
    /// user turn last), calling `on_text` with each newly decoded piece of text. Polls `stop`
    /// between tokens and returns early (with `stopped` set) when it is raised.
    fn generate(
        &mut self,
        messages: &[ChatMessage],
        settings: &Settings,
        stop: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<GenStats, String>;
    /// Forgets the conversation: caches back to empty.
    fn new_chat(&mut self) -> Result<(), String>;
}

/// Opens the model folder `dir` and hands the backend to `serve`, which runs until the window
/// wants another model or quits. The backend may borrow from the opener's stack.
/// Returns an error (with the reason, for the status bar) when the folder cannot be opened.
pub type Opener =
    Arc<dyn Fn(&Path, &mut dyn FnMut(&mut dyn Backend)) -> Result<(), String> + Send + Sync>;
