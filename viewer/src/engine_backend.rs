//! The real backend: the granite engine on the GPU. One device for the viewer's lifetime; each
//! opened folder is a [`Model`] with its tokenizer and one [`ChatSession`] whose caches hold the
//! conversation (only each turn's new tokens are prefilled).
//!
//! Memory figures come straight from the device's [`MemoryTracker`], which the engine updates as
//! it allocates: the KV cache grows (in blocks) as the conversation does, the Mamba state is
//! allocated once.
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use granite_engine::chat_session::ChatSession;
use granite_engine::generate::{GenerateOptions, Generator, StopReason};
use granite_engine::gpu::{Gpu, GpuOptions, MemTag, MemoryTracker, Profile, SharedProfile};
use granite_engine::kernels::sampling::SamplingParams;
use granite_engine::model::Model;
use granite_engine::model_files::chat::MessageContent;
use granite_engine::model_files::{ChatMessage, Tokenizer};

use crate::adapter::AdapterInfo;
use crate::backend::{Backend, GenStats, KernelTimes, ModelInfo, Opener, Probe, Settings};
use crate::figures;

/// Longest conversation a session allows (the model's own limit when lower).
pub const MAX_CONTEXT: usize = 8192;

struct EngineProbe {
    memory: Arc<MemoryTracker>,
    context: AtomicUsize,
    kernels: Mutex<KernelTimes>,
}

impl Probe for EngineProbe {
    fn memory(&self) -> Vec<(MemTag, u64)> {
        self.memory.snapshot()
    }
    fn context_len(&self) -> usize {
        self.context.load(Ordering::Relaxed)
    }
    fn kernel_times(&self) -> KernelTimes {
        self.kernels
            .lock()
            .map(|k| k.clone())
            .unwrap_or_else(|_| Err("profile unavailable".into()))
    }
}

struct EngineBackend<'m> {
    info: ModelInfo,
    session: ChatSession<'m>,
    probe: Arc<EngineProbe>,
    gpu: Arc<Gpu>,
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

impl Backend for EngineBackend<'_> {
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
        let opts = GenerateOptions {
            max_new_tokens: settings.max_tokens.max(1),
            sampling: SamplingParams {
                temperature: settings.temperature,
                top_p: settings.top_p,
                seed: self.replies,
                ..Default::default()
            },
            ..Default::default()
        };
        let profile =
            (settings.time_kernels && self.gpu.paths.timestamps).then(SharedProfile::default);
        self.session.generator.set_profile(profile.clone());

        // The window owns the transcript; the session re-renders it and reuses whatever prefix
        // of it the caches already hold.
        self.session.messages = history.to_vec();
        let mut with_user = self.session.messages.clone();
        with_user.push(ChatMessage::user(&text_of(last)));
        let prompt_len = {
            let saved = std::mem::replace(&mut self.session.messages, with_user);
            let n = self.session.render_prompt().map(|ids| ids.len());
            self.session.messages = saved;
            n.map_err(|e| e.to_string())?
        };
        let probe = self.probe.clone();
        let out = self.session.send(&text_of(last), &opts, |ev| {
            // Fed so far: the whole rendered prompt, then each earlier generated token.
            probe
                .context
                .store(prompt_len + ev.index, Ordering::Relaxed);
            if !ev.text.is_empty() {
                on_text(ev.text);
            }
            if stop.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        self.session.generator.set_profile(None);
        self.probe
            .context
            .store(self.session.generator.tokens().len(), Ordering::Relaxed);
        if let Some(p) = profile
            && let Ok(p) = p.lock()
            && let Ok(mut k) = self.probe.kernels.lock()
        {
            *k = profile_to_times(&p);
        }
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
        self.session.clear().map_err(|e| e.to_string())?;
        self.probe.context.store(0, Ordering::Relaxed);
        Ok(())
    }
}

fn serve_model(
    gpu: Arc<Gpu>,
    dir: &Path,
    serve: &mut dyn FnMut(&mut dyn Backend),
) -> Result<(), String> {
    let fail = |e: granite_engine::Error| format!("cannot open model: {e}");
    let model = Model::load(gpu.clone(), dir, false).map_err(fail)?;
    let tokenizer = Tokenizer::load(dir, Some(&model.cfg)).map_err(fail)?;
    let generator = Generator::new(&model, MAX_CONTEXT).map_err(fail)?;
    let session = ChatSession::new(generator, &tokenizer, None).map_err(fail)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let kernels = if gpu.paths.timestamps {
        Err("tick \"time kernels\" and send a message".into())
    } else {
        Err("the adapter has no timestamp queries".into())
    };
    let mut backend = EngineBackend {
        info: ModelInfo {
            name,
            dir: dir.to_path_buf(),
            layer_weight_bytes: figures::layer_weight_bytes(&model.cfg),
            cfg: model.cfg.clone(),
            adapter: Some(AdapterInfo::from_gpu(&gpu)),
            backend_label: format!("engine on {}", gpu.info.name),
        },
        probe: Arc::new(EngineProbe {
            memory: gpu.memory.clone(),
            context: AtomicUsize::new(0),
            kernels: Mutex::new(kernels),
        }),
        session,
        gpu,
        replies: 0,
    };
    serve(&mut backend);
    Ok(())
}

/// An [`Opener`] that loads models with the engine on one device, opened at the first use and
/// kept for the viewer's lifetime.
pub fn opener(options: GpuOptions) -> Opener {
    let device: Mutex<Option<Arc<Gpu>>> = Mutex::new(None);
    Arc::new(move |dir, serve| {
        let gpu = {
            let mut d = device
                .lock()
                .map_err(|_| "the GPU device lock is poisoned".to_string())?;
            match d.as_ref() {
                Some(g) => g.clone(),
                None => {
                    let g = Gpu::new(&options).map_err(|e| format!("cannot open the GPU: {e}"))?;
                    *d = Some(g.clone());
                    g
                }
            }
        };
        serve_model(gpu, dir, serve)
    })
}
