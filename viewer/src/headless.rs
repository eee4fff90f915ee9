//! `--screenshot FILE --prompt TEXT`: a script the window runs by itself, one step per frame:
//! wait for the model, send the prompt, wait for the reply to finish, let the layout settle,
//! capture the window, save it as PNG and close. The outcome is read by `main` for the exit
//! code.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::ViewerApp;

/// `None` while running; then `Ok` with the saved file or `Err` with the reason.
pub type Outcome = Arc<Mutex<Option<Result<PathBuf, String>>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitModel,
    WaitReply,
    /// Frames left before capturing, so the final layout and scroll position are painted.
    Settle(u32),
    Capturing,
    Closing,
}

pub struct Script {
    prompt: String,
    file: PathBuf,
    phase: Phase,
    deadline: Instant,
    outcome: Outcome,
}

impl Script {
    pub fn new(prompt: String, file: PathBuf, timeout: Duration) -> Self {
        Self {
            prompt,
            file,
            phase: Phase::WaitModel,
            deadline: Instant::now() + timeout,
            outcome: Arc::new(Mutex::new(None)),
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }

    fn finish(&mut self, ctx: &egui::Context, r: Result<PathBuf, String>) {
        if let Ok(mut o) = self.outcome.lock()
            && o.is_none()
        {
            *o = Some(r);
        }
        self.phase = Phase::Closing;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    /// One step, called at the end of every frame.
    pub fn advance(&mut self, app: &mut ViewerApp, ctx: &egui::Context) {
        ctx.request_repaint_after(Duration::from_millis(50));
        if self.phase != Phase::Closing && Instant::now() > self.deadline {
            let r = Err(format!("timed out in phase {:?}", self.phase));
            return self.finish(ctx, r);
        }
        match self.phase {
            Phase::WaitModel => {
                if let (None, Some(e)) = (&app.loading, &app.error) {
                    let r = Err(e.clone());
                    return self.finish(ctx, r);
                }
                if app.is_ready() {
                    app.send(&self.prompt);
                    self.phase = Phase::WaitReply;
                }
            }
            Phase::WaitReply => {
                if !app.generating {
                    if let Some(e) = &app.error {
                        let r = Err(format!("generation failed: {e}"));
                        return self.finish(ctx, r);
                    }
                    self.phase = Phase::Settle(5);
                }
            }
            Phase::Settle(0) => {
                self.phase = Phase::Capturing;
                let file = self.file.clone();
                let outcome = self.outcome.clone();
                let ctx2 = ctx.clone();
                ctx.request_screenshot(move |img| {
                    let r = save_png(&img, &file).map(|()| file);
                    if let Ok(mut o) = outcome.lock() {
                        *o = Some(r);
                    }
                    ctx2.request_repaint();
                });
            }
            Phase::Settle(n) => {
                ctx.request_repaint();
                self.phase = Phase::Settle(n - 1);
            }
            Phase::Capturing => {
                let done = self.outcome.lock().map(|o| o.is_some()).unwrap_or(true);
                if done {
                    self.phase = Phase::Closing;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            Phase::Closing => {}
        }
    }
}

/// Writes an egui screenshot as an RGBA PNG.
pub fn save_png(img: &egui::ColorImage, file: &std::path::Path) -> Result<(), String> {
    let [w, h] = img.size;
    let bytes: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    let buf = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "screenshot has an inconsistent size".to_string())?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    buf.save_with_format(file, image::ImageFormat::Png)
        .map_err(|e| format!("{}: {e}", file.display()))
}
