//! The real backend: the granite engine on the GPU, through its front door. One device for the
//! viewer's lifetime; each opened folder is an [`Engine`] with one [`Session`] whose caches
//! hold the conversation (only each turn's new tokens are prefilled).
//!
//! Memory figures come straight from the engine's live accounting: the KV cache grows (in
//! blocks) as the conversation does, the Mamba state is allocated once.
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use granite_engine::{
    ChatMessage, Device, DeviceOptions, Engine, Event, GenerateOptions, Input, MemTag,
    MessageContent, ModelSource, OpenOptions, Profile, SamplingParams, Session, SessionMemory,
    SessionOptions, StopReason,
};

use crate::adapter::AdapterInfo;
use crate::backend::{Backend, GenStats, KernelTimes, ModelInfo, Opener, Probe, Settings};
use crate::figures;

/// Longest conversation a session allows (the model's own limit when lower).
pub const MAX_CONTEXT: usize = 8192;

struct EngineProbe {
    engine: Engine,
    session: u64,
    kernels: Mutex<KernelTimes>,
}

impl Probe for EngineProbe {
    fn memory(&self) -> Vec<(MemTag, u64)> {
        self.engine.memory().categories
    }
    fn context_len(&self) -> usize {
        self.session_memory().map_or(0, |s| s.tokens as usize)
    }
    fn session_memory(&self) -> Option<SessionMemory> {
        let sessions = self.engine.memory().sessions;
        sessions.into_iter().find(|s| s.session == self.session)
    }
    fn kernel_times(&self) -> KernelTimes {
        self.kernels
            .lock()
            .map(|k| k.clone())
            .unwrap_or_else(|_| Err("profile unavailable".into()))
    }
}

struct EngineBackend {
    info: ModelInfo,
    /// The model's own generation options; the window's settings override some of them.
    defaults: GenerateOptions,
    session: Session,
    probe: Arc<EngineProbe>,
    timestamps: bool,
    replies: u64,
}

fn text_of(m: &ChatMessage) -> String {
    match &m.content {
        Some(MessageContent::Text(t)) => t.clone(),
        Some(MessageContent::Parts(p)) => p
            .iter()
            .filter_map(|x| x.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    }
}

fn profile_to_times(p: &Profile) -> KernelTimes {
    if !p.timed {
        return Err("the device took no timestamps".into());
    }
    let mut v: Vec<(String, f64)> = p
        .families
        .iter()
        .map(|f| (format!("{} ({}×)", f.family, f.dispatches), f.seconds * 1e3))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(v)
}

impl EngineBackend {
    /// Streams the reply to `input`, polling `stop` between steps.
    fn stream(
        &mut self,
        input: &Input,
        opts: &GenerateOptions,
        stop: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> granite_engine::Result<granite_engine::Outcome> {
        let mut stream = self.session.generate(input, opts)?;
        loop {
            if stop.load(Ordering::Relaxed) {
                return stream.cancel();
            }
            match stream.next() {
                Some(Ok(Event::Token(t))) if !t.text.is_empty() => on_text(&t.text),
                Some(Ok(Event::Done(outcome))) => return Ok(outcome),
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) => {}
                None => return stream.cancel(),
            }
        }
    }
}

impl Backend for EngineBackend {
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
        let Some((last, history)) = messages.split_last().filter(|(m, _)| m.role == "user") else {
            return Err("the conversation must end with a user turn".into());
        };
        self.replies += 1;
        let d = &self.defaults;
        let opts = GenerateOptions {
            max_new_tokens: settings.max_tokens.max(1),
            sampling: SamplingParams {
                temperature: settings.temperature,
                top_p: settings.top_p,
                seed: self.replies,
                ..d.sampling.clone()
            },
            ..d.clone()
        };
        let profiling = settings.time_kernels && self.timestamps;
        self.session.set_profiling(profiling);
        // The window owns the transcript; the session re-renders it and reuses whatever prefix
        // of it the caches already hold.
        let input = if self.info.chat {
            let mut conversation = history.to_vec();
            conversation.push(ChatMessage::user(&text_of(last)));
            Input::chat(conversation)
        } else {
            // Plain completion: the message continues the text the session holds.
            Input::Text(text_of(last))
        };
        let out = self.stream(&input, &opts, stop, on_text);
        if let Some(p) = self.session.take_profile()
            && let Ok(mut k) = self.probe.kernels.lock()
        {
            *k = profile_to_times(&p);
        }
        self.session.set_profiling(false);
        let out = out.map_err(|e| e.to_string())?;
        Ok(GenStats {
            prompt_tokens: out.prompt_tokens,
            prompt_secs: out.prompt_secs,
            gen_tokens: out.token_ids.len(),
            decode_tokens: out.token_ids.len().saturating_sub(1),
            gen_secs: out.generated_secs,
            stopped: out.stop == StopReason::Cancelled,
        })
    }

    fn new_chat(&mut self) -> Result<(), String> {
        self.session.reset().map_err(|e| e.to_string())
    }
}

fn serve_model(
    device: &Device,
    dir: &Path,
    serve: &mut dyn FnMut(&mut dyn Backend),
) -> Result<(), String> {
    let fail = |e: granite_engine::Error| format!("cannot open model: {e}");
    let opts = OpenOptions {
        context: Some(MAX_CONTEXT),
        ..Default::default()
    };
    let engine =
        Engine::open_on(device, &ModelSource::Path(dir.to_path_buf()), &opts).map_err(fail)?;
    let session = engine.session(&SessionOptions::default()).map_err(fail)?;
    let device_info = engine.device_info();
    let timestamps = device_info.paths.timestamps;
    let kernels = if timestamps {
        Err("tick \"time kernels\" and send a message".into())
    } else {
        Err("the adapter has no timestamp queries".into())
    };
    let cfg = engine.config().clone();
    let defaults = engine.default_options();
    let s = &defaults.sampling;
    let mut backend = EngineBackend {
        info: ModelInfo {
            name: engine.info().name.clone(),
            dir: dir.to_path_buf(),
            layer_weight_bytes: figures::layer_weight_bytes(&cfg),
            cfg,
            adapter: Some(AdapterInfo::from_device(&device_info)),
            backend_label: if engine.has_chat_template() {
                format!("engine on {}", device_info.name)
            } else {
                format!(
                    "engine on {} — plain completion: the model has no chat template",
                    device_info.name
                )
            },
            chat: engine.has_chat_template(),
            defaults: Some((s.temperature, s.top_p, defaults.max_new_tokens)),
        },
        defaults: defaults.clone(),
        probe: Arc::new(EngineProbe {
            session: session.id(),
            engine,
            kernels: Mutex::new(kernels),
        }),
        session,
        timestamps,
        replies: 0,
    };
    serve(&mut backend);
    Ok(())
}

/// An [`Opener`] that loads models with the engine on one device, opened at the first use and
/// kept for the viewer's lifetime.
pub fn opener(options: DeviceOptions) -> Opener {
    let device: Mutex<Option<Device>> = Mutex::new(None);
    Arc::new(move |dir, serve| {
        let device = {
            let mut d = device
                .lock()
                .map_err(|_| "the GPU device lock is poisoned".to_string())?;
            match d.as_ref() {
                Some(g) => g.clone(),
                None => {
                    let g =
                        Device::open(&options).map_err(|e| format!("cannot open the GPU: {e}"))?;
                    *d = Some(g.clone());
                    g
                }
            }
        };
        serve_model(&device, dir, serve)
    })
}
