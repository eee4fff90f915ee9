//! The per-layer map: one cell per layer, coloured by mixer (Mamba-2 / attention) with a band for
//! the FFN (MoE / dense), each layer's weight and cache bytes on hover, and the comparison with
//! the same model had every layer been attention, at the current context and a chosen one.
use egui::{Color32, Sense, Stroke, StrokeKind, vec2};
use granite_engine::{LayerKind, ModelConfig};

use crate::backend::ModelInfo;
use crate::figures::{self, Comparison, Ffn, format_bytes, format_tokens};

pub const MAMBA_COLOR: Color32 = Color32::from_rgb(0x2f, 0xa7, 0x9a);
pub const ATTENTION_COLOR: Color32 = Color32::from_rgb(0xe0, 0x9a, 0x3c);
pub const MOE_COLOR: Color32 = Color32::from_rgb(0x9a, 0x6c, 0xd0);
pub const DENSE_COLOR: Color32 = Color32::from_rgb(0x90, 0x90, 0x90);

pub struct LayerView {
    /// Show the every-layer-attention comparison.
    pub compare: bool,
    /// The context length of the second comparison row.
    pub chosen_context: u64,
}

impl Default for LayerView {
    fn default() -> Self {
        Self {
            compare: false,
            chosen_context: 128 * 1024,
        }
    }
}

/// The hover text of one layer.
pub fn layer_tooltip(
    cfg: &ModelConfig,
    index: usize,
    weights: u64,
    context: u64,
    compare: bool,
) -> String {
    let kind = cfg.layer_types[index];
    let ffn = match figures::ffn(cfg) {
        Ffn::Moe { experts, top_k } => format!("MoE ({experts} experts, top-{top_k}) + shared MLP"),
        Ffn::Dense => "dense shared MLP".into(),
    };
    let cache = figures::layer_cache_bytes(cfg, kind, context);
    let mut s = match kind {
        LayerKind::Attention => format!(
            "Layer {index}: attention · {ffn}\nweights {}\nKV cache {} ({} per token × {context} tokens)",
            format_bytes(weights),
            format_bytes(cache),
            format_bytes(granite_engine::inspect::kv_bytes_per_token_per_layer(cfg)),
        ),
        LayerKind::Mamba => {
            let (conv, ssm) = figures::mamba_state_bytes_per_layer(cfg);
            format!(
                "Layer {index}: Mamba-2 · {ffn}\nweights {}\nstate {} (conv {} + SSM {}), fixed at any context",
                format_bytes(weights),
                format_bytes(cache),
                format_bytes(conv),
                format_bytes(ssm),
            )
        }
    };
    if compare && kind == LayerKind::Mamba {
        let as_attn = figures::layer_cache_bytes(cfg, LayerKind::Attention, context);
        s.push_str(&format!(
            "\nas attention it would hold {} at {context} tokens",
            format_bytes(as_attn)
        ));
    }
    s
}

fn kind_name(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::Mamba => "Mamba-2",
        LayerKind::Attention => "attention",
    }
}

fn legend_swatch(ui: &mut egui::Ui, color: Color32, text: &str) {
    let (r, _) = ui.allocate_exact_size(vec2(10.0, 10.0), Sense::hover());
    ui.painter().rect_filled(r, 2.0, color);
    ui.label(text);
}

fn cells(ui: &mut egui::Ui, model: &ModelInfo, context: u64, compare: bool) {
    let cfg = &model.cfg;
    let n = cfg.num_hidden_layers;
    let gap = 3.0;
    let cell_w = ((ui.available_width() + gap) / n as f32 - gap).clamp(10.0, 44.0);
    let ffn_color = match figures::ffn(cfg) {
        Ffn::Moe { .. } => MOE_COLOR,
        Ffn::Dense => DENSE_COLOR,
    };
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = vec2(gap, gap);
        for (i, &kind) in cfg.layer_types.iter().enumerate() {
            let (rect, response) = ui.allocate_exact_size(vec2(cell_w, 34.0), Sense::hover());
            let painter = ui.painter_at(rect);
            let (color, letter) = match kind {
                LayerKind::Mamba => (MAMBA_COLOR, "M"),
                LayerKind::Attention => (ATTENTION_COLOR, "A"),
            };
            let band = 7.0;
            let top = egui::Rect::from_min_max(rect.min, egui::pos2(rect.max.x, rect.max.y - band));
            let bottom =
                egui::Rect::from_min_max(egui::pos2(rect.min.x, rect.max.y - band), rect.max);
            painter.rect_filled(top, 2.0, color);
            painter.rect_filled(bottom, 0.0, ffn_color);
            if compare && kind == LayerKind::Mamba {
                // The layer as it would be: an attention outline over the Mamba cell.
                painter.rect_stroke(
                    rect.shrink(1.0),
                    2.0,
                    Stroke::new(2.0, ATTENTION_COLOR),
                    StrokeKind::Inside,
                );
            }
            if cell_w >= 14.0 {
                painter.text(
                    top.center(),
                    egui::Align2::CENTER_CENTER,
                    letter,
                    egui::FontId::monospace(12.0),
                    Color32::BLACK,
                );
            }
            if response.hovered() {
                ui.painter().rect_stroke(
                    rect,
                    2.0,
                    Stroke::new(1.5, Color32::WHITE),
                    StrokeKind::Outside,
                );
            }
            let weights = model.layer_weight_bytes.get(i).copied().unwrap_or(0);
            let name = format!("layer {i}: {}", kind_name(kind));
            response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Cell, true, &name));
            response.on_hover_text(layer_tooltip(cfg, i, weights, context, compare));
        }
    });
}

fn comparison_row(ui: &mut egui::Ui, c: &Comparison) {
    ui.label(format!("{} tokens", format_tokens(c.context)));
    ui.label(format_bytes(c.hybrid));
    ui.label(format_bytes(c.all_attention));
    let saving = c.saving();
    let text = match c.ratio() {
        Some(r) if saving >= 0 => format!("{} saved ({r:.1}×)", format_bytes(saving as u64)),
        _ if saving >= 0 => format!("{} saved", format_bytes(saving as u64)),
        _ => format!("{} more", format_bytes(saving.unsigned_abs() as u64)),
    };
    ui.strong(text);
    ui.end_row();
}

pub fn show(ui: &mut egui::Ui, view: &mut LayerView, model: Option<&ModelInfo>, context: usize) {
    ui.heading("Layers");
    let Some(model) = model else {
        ui.weak("No model open.");
        return;
    };
    let context = context as u64;
    ui.horizontal_wrapped(|ui| {
        legend_swatch(ui, MAMBA_COLOR, "Mamba-2");
        legend_swatch(ui, ATTENTION_COLOR, "attention");
        legend_swatch(ui, MOE_COLOR, "MoE FFN");
        legend_swatch(ui, DENSE_COLOR, "dense FFN");
    });
    cells(ui, model, context, view.compare);
    ui.checkbox(
        &mut view.compare,
        "Compare: the same model with every layer attention",
    );
    if view.compare {
        egui::Grid::new("all_attention")
            .num_columns(4)
            .spacing([10.0, 2.0])
            .striped(true)
            .show(ui, |ui| {
                ui.weak("context");
                ui.weak("hybrid caches");
                ui.weak("all attention");
                ui.weak("difference");
                ui.end_row();
                comparison_row(ui, &Comparison::at(&model.cfg, context));
                comparison_row(ui, &Comparison::at(&model.cfg, view.chosen_context));
            });
        ui.horizontal(|ui| {
            let label = ui.label("chosen context:");
            ui.add(
                egui::DragValue::new(&mut view.chosen_context)
                    .range(1..=16 * 1024 * 1024)
                    .speed(256.0)
                    .suffix(" tokens"),
            )
            .labelled_by(label.id);
            for (name, n) in [("4k", 4096), ("32k", 32768), ("128k", 131072)] {
                if ui.small_button(name).clicked() {
                    view.chosen_context = n;
                }
            }
        });
    }
}
