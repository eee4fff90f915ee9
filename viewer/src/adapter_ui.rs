//! The adapter panel: which adapter and backend the engine computes on, the driver, the optional
//! features in use (f16, subgroups, timestamps) and the limits that bound model sizes.
use crate::backend::ModelInfo;
use crate::figures::format_bytes;

pub fn show(ui: &mut egui::Ui, model: Option<&ModelInfo>) {
    egui::CollapsingHeader::new("Adapter")
        .default_open(false)
        .show(ui, |ui| body(ui, model));
}

fn body(ui: &mut egui::Ui, model: Option<&ModelInfo>) {
    let Some(model) = model else {
        ui.weak("No model open.");
        return;
    };
    let Some(a) = &model.adapter else {
        ui.weak(format!(
            "No engine device ({}), and no adapter found on this machine.",
            model.backend_label
        ));
        return;
    };
    if model.backend_label.starts_with("fake") {
        ui.weak("The fake backend opens no device: this is the adapter the engine would use.");
    }
    egui::Grid::new("adapter_info")
        .num_columns(2)
        .spacing([12.0, 2.0])
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in [
                ("adapter", a.name.as_str()),
                ("backend", a.backend.as_str()),
                ("device type", a.device_type.as_str()),
                ("driver", a.driver.as_str()),
                ("driver info", a.driver_info.as_str()),
            ] {
                ui.label(k);
                ui.label(if v.is_empty() { "-" } else { v });
                ui.end_row();
            }
            for (name, on, note) in &a.features {
                ui.label(name);
                let state = if *on { "in use" } else { "not used" };
                if note.is_empty() {
                    ui.label(state);
                } else {
                    ui.label(format!("{state} · {note}"));
                }
                ui.end_row();
            }
            for (name, v) in &a.limits {
                ui.label(name);
                if name.ends_with("_size") && *v >= 1024 {
                    ui.label(format!("{} ({v})", format_bytes(*v)));
                } else {
                    ui.label(v.to_string());
                }
                ui.end_row();
            }
        });
}
