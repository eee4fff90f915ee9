//! The window's state and its layout: model bar on top, chat settings on the left, memory,
//! layer map, speed and adapter on the right, the transcript and input in the middle. Events
//! from the worker are applied at the start of every frame; nothing here blocks.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use granite_engine::ChatMessage;

use crate::backend::{ModelInfo, Opener, Pinned, Probe, Settings};
use crate::headless::Script;
use crate::layers_ui::LayerView;
use crate::memory_ui::MemoryView;
use crate::speed_ui::SpeedHistory;
use crate::worker::{Command, Event, Worker};
use crate::{adapter_ui, chat_ui, layers_ui, memory_ui, speed_ui};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Clone, Debug)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// Still receiving tokens.
    pub streaming: bool,
    /// A note shown under the turn (stopped, error, speed).
    pub note: Option<String>,
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant.";

pub struct ViewerApp {
    worker: Worker,
    pub model: Option<ModelInfo>,
    pub probe: Option<Arc<dyn Probe>>,
    /// The folder being opened, while the worker loads it.
    pub loading: Option<PathBuf>,
    /// The last error (load or generation), shown in the top bar until the next success.
    pub error: Option<String>,
    pub model_path: String,
    pub system_prompt: String,
    pub settings: Settings,
    /// Settings the command line fixed; the rest follow each opened model's defaults.
    pub pinned: Pinned,
    pub turns: Vec<Turn>,
    pub input: String,
    pub generating: bool,
    /// After New chat during a reply: drop that reply's remaining events.
    discarding: bool,
    pub speed: SpeedHistory,
    pub memory_view: MemoryView,
    pub layer_view: LayerView,
    pub script: Option<Script>,
}

impl ViewerApp {
    /// Starts the worker, which opens `model_dir` right away.
    pub fn new(opener: Opener, model_dir: PathBuf) -> Self {
        let worker = Worker::spawn(opener, Some(model_dir.clone()));
        Self {
            worker,
            model: None,
            probe: None,
            loading: Some(model_dir.clone()),
            error: None,
            model_path: model_dir.display().to_string(),
            system_prompt: DEFAULT_SYSTEM_PROMPT.into(),
            settings: Settings::default(),
            pinned: Pinned::default(),
            turns: Vec::new(),
            input: String::new(),
            generating: false,
            discarding: false,
            speed: SpeedHistory::default(),
            memory_view: MemoryView::default(),
            layer_view: LayerView::default(),
            script: None,
        }
    }

    pub fn with_script(mut self, script: Script) -> Self {
        self.layer_view.compare = true;
        self.script = Some(script);
        self
    }

    pub fn is_ready(&self) -> bool {
        self.model.is_some() && self.loading.is_none()
    }

    pub fn open(&mut self, dir: PathBuf) {
        self.worker.stop();
        self.worker.send(Command::Open(dir));
    }

    /// Sends `text` as the next user turn; ignored while a reply streams or no model is open.
    pub fn send(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() || self.generating || !self.is_ready() {
            return;
        }
        self.turns.push(Turn {
            role: Role::User,
            text: text.to_string(),
            streaming: false,
            note: None,
        });
        let mut messages = Vec::new();
        if !self.system_prompt.trim().is_empty() {
            messages.push(ChatMessage::system(self.system_prompt.trim()));
        }
        messages.extend(self.turns.iter().map(|t| match t.role {
            Role::User => ChatMessage::user(&t.text),
            Role::Assistant => ChatMessage::assistant(&t.text),
        }));
        self.turns.push(Turn {
            role: Role::Assistant,
            text: String::new(),
            streaming: true,
            note: None,
        });
        self.generating = true;
        self.error = None;
        self.speed.reply_started();
        self.worker.send(Command::Generate {
            messages,
            settings: self.settings.clone(),
        });
    }

    pub fn stop(&self) {
        self.worker.stop();
    }

    pub fn new_chat(&mut self) {
        if self.generating {
            self.worker.stop();
            self.discarding = true;
            self.generating = false;
        }
        self.turns.clear();
        self.memory_view.reset();
        self.worker.send(Command::NewChat);
    }

    fn finish_reply(&mut self, note: Option<String>) {
        if let Some(t) = self.turns.last_mut()
            && t.streaming
        {
            t.streaming = false;
            t.note = note;
        }
        self.generating = false;
    }

    /// Applies every pending worker event.
    pub fn poll(&mut self) {
        for ev in self.worker.drain() {
            match ev {
                Event::Loading(dir) => {
                    self.loading = Some(dir);
                    self.model = None;
                    self.probe = None;
                }
                Event::Loaded { info, probe } => {
                    self.loading = None;
                    self.error = None;
                    self.model_path = info.dir.display().to_string();
                    self.pinned.apply(&mut self.settings, info.defaults);
                    self.model = Some(*info);
                    self.probe = Some(probe);
                    self.turns.clear();
                    self.generating = false;
                    self.discarding = false;
                    self.memory_view.reset();
                }
                Event::LoadFailed(e) => {
                    self.loading = None;
                    self.error = Some(e);
                    self.generating = false;
                }
                Event::Token(t, at) if !self.discarding => {
                    if let Some(turn) = self.turns.last_mut().filter(|t| t.streaming) {
                        turn.text.push_str(&t);
                    }
                    self.speed.token(at);
                }
                Event::Done(stats) if !self.discarding => {
                    self.speed.reply_done(&stats);
                    let mut note = format!(
                        "{} prompt tokens at {:.1} tok/s · {} tokens at {:.1} tok/s",
                        stats.prompt_tokens,
                        stats.prompt_tok_s(),
                        stats.gen_tokens,
                        stats.gen_tok_s()
                    );
                    if stats.stopped {
                        note = format!("stopped · {note}");
                    }
                    self.finish_reply(Some(note));
                }
                Event::Failed(e) if !self.discarding => {
                    self.finish_reply(Some(format!("error: {e}")));
                    self.error = Some(e);
                }
                Event::Done(_) | Event::Failed(_) => self.discarding = false,
                Event::Token(..) => {}
                Event::ChatCleared => {}
            }
        }
    }

    /// The whole window. Tests call this through egui_kittest; eframe through [`eframe::App`].
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.worker.waker().set(ui.ctx());
        self.poll();
        if self.generating || self.loading.is_some() {
            // Memory and speed figures move between token events too.
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }

        egui::Panel::top("model_bar").show(ui, |ui| self.model_bar(ui));
        egui::Panel::left("chat_settings")
            .resizable(false)
            .exact_size(240.0)
            .show(ui, |ui| chat_ui::settings_panel(self, ui));
        egui::Panel::right("gpu_panels")
            .resizable(true)
            .default_size(500.0)
            .show(ui, |ui| self.right_panel(ui));
        egui::Panel::bottom("input").show(ui, |ui| chat_ui::input_bar(self, ui));
        egui::CentralPanel::default().show(ui, |ui| chat_ui::transcript(self, ui));

        if let Some(mut script) = self.script.take() {
            script.advance(self, ui.ctx());
            self.script = Some(script);
        }
    }

    fn model_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Granite viewer");
            ui.separator();
            match (&self.model, &self.loading) {
                (_, Some(dir)) => {
                    ui.spinner();
                    ui.label(format!("Opening {} ...", dir.display()));
                }
                (Some(m), None) => {
                    ui.strong(&m.name);
                    ui.label(model_summary(m));
                    ui.weak(format!("({})", m.backend_label));
                }
                (None, None) => {
                    ui.label("No model open");
                }
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Model folder:");
            let field = ui
                .add(egui::TextEdit::singleline(&mut self.model_path).desired_width(420.0))
                .labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let busy = self.loading.is_some();
            if (ui.add_enabled(!busy, egui::Button::new("Open")).clicked() || enter)
                && !self.model_path.trim().is_empty()
            {
                self.open(PathBuf::from(self.model_path.trim()));
            }
            if let Some(e) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        });
        ui.add_space(2.0);
    }

    fn right_panel(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            let mem = self.probe.as_ref().map(|p| p.memory()).unwrap_or_default();
            let context = self.probe.as_ref().map_or(0, |p| p.context_len());
            let session = self.probe.as_ref().and_then(|p| p.session_memory());
            memory_ui::show(
                ui,
                &mut self.memory_view,
                self.model.as_ref(),
                &mem,
                context,
                session,
            );
            ui.separator();
            layers_ui::show(ui, &mut self.layer_view, self.model.as_ref(), context);
            ui.separator();
            let kernels = self.probe.as_ref().map(|p| p.kernel_times());
            speed_ui::show(ui, &self.speed, kernels, &mut self.settings.time_kernels);
            ui.separator();
            adapter_ui::show(ui, self.model.as_ref());
        });
    }
}

/// "4 layers: 3 Mamba-2 + 1 attention · MoE 4 experts top-2 · hidden 48"
pub fn model_summary(m: &ModelInfo) -> String {
    let c = &m.cfg;
    let ffn = if c.has_experts() {
        format!(
            "MoE {} experts, top-{}",
            c.num_local_experts, c.num_experts_per_tok
        )
    } else {
        "dense FFN".into()
    };
    format!(
        "{} layers: {} Mamba-2 + {} attention · {ffn} · hidden {}",
        c.num_hidden_layers,
        c.n_mamba_layers(),
        c.n_attention_layers(),
        c.hidden_size
    )
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}
