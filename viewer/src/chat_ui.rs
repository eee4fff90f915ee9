//! The chat: the transcript of user and assistant turns, the input bar with Send and Stop, and
//! the settings panel (system prompt, sampling, New chat).
use crate::app::{Role, ViewerApp};

pub fn settings_panel(app: &mut ViewerApp, ui: &mut egui::Ui) {
    ui.add_space(4.0);
    ui.heading("Chat");
    if ui
        .add_enabled(app.is_ready(), egui::Button::new("New chat"))
        .on_hover_text("Forget the conversation and empty the caches")
        .clicked()
    {
        app.new_chat();
    }
    ui.add_space(6.0);
    let label = ui.label("System prompt");
    ui.add(
        egui::TextEdit::multiline(&mut app.system_prompt)
            .desired_rows(4)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    ui.weak("Used from the next message on.");
    ui.add_space(8.0);
    ui.strong("Sampling");
    let s = &mut app.settings;
    ui.add(egui::Slider::new(&mut s.temperature, 0.0..=2.0).text("temperature"));
    ui.add(egui::Slider::new(&mut s.top_p, 0.05..=1.0).text("top-p"));
    ui.horizontal(|ui| {
        let label = ui.label("max tokens");
        ui.add(egui::DragValue::new(&mut s.max_tokens).range(1..=8192))
            .labelled_by(label.id);
    });
    if s.temperature == 0.0 {
        ui.weak("temperature 0: greedy");
    }
}

pub fn input_bar(app: &mut ViewerApp, ui: &mut egui::Ui) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        let ready = app.is_ready() && !app.generating;
        let label = ui.label("Message");
        let send_w = 120.0;
        let field = ui
            .add_sized(
                [ui.available_width() - send_w, 48.0],
                egui::TextEdit::multiline(&mut app.input)
                    .id_salt("message")
                    .hint_text("Message (Enter sends, Shift+Enter for a new line)")
                    .return_key(egui::KeyboardShortcut::new(
                        egui::Modifiers::SHIFT,
                        egui::Key::Enter,
                    )),
            )
            .labelled_by(label.id);
        let enter = (field.has_focus() || field.lost_focus())
            && ui.input(|i| i.key_pressed(egui::Key::Enter) && !i.modifiers.shift);
        let send = ui.add_enabled(ready, egui::Button::new("Send")).clicked() || (enter && ready);
        if send {
            let text = std::mem::take(&mut app.input);
            app.send(&text);
        }
        if ui
            .add_enabled(app.generating, egui::Button::new("Stop"))
            .clicked()
        {
            app.stop();
        }
    });
    ui.add_space(4.0);
}

pub fn transcript(app: &mut ViewerApp, ui: &mut egui::Ui) {
    if app.turns.is_empty() {
        ui.centered_and_justified(|ui| {
            ui.weak(if app.is_ready() {
                "Type a message below. Watch the KV cache grow and the Mamba state stay put."
            } else {
                "Open a model folder to start."
            });
        });
        return;
    }
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for turn in &app.turns {
                let (who, fill) = match turn.role {
                    Role::User => ("You", ui.visuals().faint_bg_color),
                    Role::Assistant => ("Assistant", ui.visuals().extreme_bg_color),
                };
                egui::Frame::group(ui.style()).fill(fill).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.strong(who);
                        if turn.streaming {
                            ui.spinner();
                        }
                    });
                    let text = if turn.text.is_empty() && turn.streaming {
                        "..."
                    } else {
                        &turn.text
                    };
                    ui.add(egui::Label::new(text).wrap());
                    if let Some(n) = &turn.note {
                        ui.weak(n);
                    }
                });
                ui.add_space(4.0);
            }
        });
}
