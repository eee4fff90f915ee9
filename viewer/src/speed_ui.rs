//! Speed: prompt and generation tokens/s of every reply, a live plot over the session, and the
//! time per kernel family when the backend measured it with timestamp queries.
use std::time::Instant;

use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

use crate::backend::{GenStats, KernelTimes};

pub struct SpeedHistory {
    start: Instant,
    /// (seconds since start, tok/s) at the end of each reply.
    pub prompt: Vec<[f64; 2]>,
    /// (seconds since start, running tok/s of the reply in progress), one per token.
    pub generation: Vec<[f64; 2]>,
    pub last: Option<GenStats>,
    reply_first_token: Option<Instant>,
    reply_tokens: usize,
}

impl Default for SpeedHistory {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            prompt: Vec::new(),
            generation: Vec::new(),
            last: None,
            reply_first_token: None,
            reply_tokens: 0,
        }
    }
}

impl SpeedHistory {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn reply_started(&mut self) {
        self.reply_first_token = None;
        self.reply_tokens = 0;
    }

    /// A token was generated at `at` (worker time, so bursts of events that one frame picks up
    /// do not distort the rate): extends the live generation curve.
    pub fn token(&mut self, at: Instant) {
        let first = *self.reply_first_token.get_or_insert(at);
        self.reply_tokens += 1;
        let secs = at.duration_since(first).as_secs_f64();
        if self.reply_tokens > 1 && secs > 0.0 {
            let rate = (self.reply_tokens - 1) as f64 / secs;
            let t = at.duration_since(self.start).as_secs_f64();
            self.generation.push([t, rate]);
        }
    }

    pub fn reply_done(&mut self, s: &GenStats) {
        let t = self.now();
        if s.prompt_tokens > 0 {
            self.prompt.push([t, s.prompt_tok_s()]);
        }
        if s.gen_tokens > 0 {
            self.generation.push([t, s.gen_tok_s()]);
        }
        self.last = Some(*s);
        self.reply_first_token = None;
    }
}

pub fn show(
    ui: &mut egui::Ui,
    speed: &SpeedHistory,
    kernels: Option<KernelTimes>,
    time_kernels: &mut bool,
) {
    ui.heading("Speed");
    match &speed.last {
        Some(s) => ui.label(format!(
            "last reply: prompt {:.1} tok/s ({} tokens) · generation {:.1} tok/s ({} tokens)",
            s.prompt_tok_s(),
            s.prompt_tokens,
            s.gen_tok_s(),
            s.gen_tokens
        )),
        None => ui.weak("No reply yet."),
    };
    Plot::new("speed_plot")
        .height(110.0)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_label("session time (s)")
        .y_axis_label("tok/s")
        .include_y(0.0)
        .allow_scroll(false)
        .allow_zoom(false)
        .allow_drag(false)
        .show(ui, |plot| {
            plot.line(Line::new(
                "generation",
                PlotPoints::from(speed.generation.clone()),
            ));
            plot.add(Points::new("prompt", PlotPoints::from(speed.prompt.clone())).radius(3.0));
        });
    ui.checkbox(time_kernels, "Time kernels (GPU timestamps; slower)")
        .on_hover_text("Measures each kernel family from the next message on");
    match kernels {
        Some(Ok(list)) if !list.is_empty() => {
            ui.strong("Time per kernel family (last reply):");
            egui::Grid::new("kernel_times")
                .num_columns(2)
                .show(ui, |ui| {
                    for (name, ms) in list {
                        ui.label(name);
                        ui.label(format!("{ms:.2} ms"));
                        ui.end_row();
                    }
                });
        }
        other => {
            ui.horizontal_wrapped(|ui| {
                ui.strong("Time per kernel family:");
                ui.label("n/a");
                match other {
                    Some(Err(why)) => ui.weak(format!("({why})")),
                    _ => ui.weak("(no reply timed yet)"),
                };
            });
        }
    }
}
