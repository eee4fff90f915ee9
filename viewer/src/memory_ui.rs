//! Live GPU memory per category, from the engine's tracked allocations: one stacked bar of
//! everything against its sum, one of the conversation's caches against a round scale that
//! only grows (so the KV cache is seen growing and the Mamba state is seen not to), and a
//! legend with every figure.
use egui::{Color32, Rect, Sense, Stroke, StrokeKind, vec2};
use granite_engine::{MemTag, SessionMemory};

use crate::backend::ModelInfo;
use crate::figures::{format_bytes, mamba_state_bytes_per_layer, nice_ceiling};

#[derive(Default)]
pub struct MemoryView {
    /// Scale of the cache bar: a round number at or above the largest cache total seen.
    cache_scale: u64,
}

impl MemoryView {
    pub fn reset(&mut self) {
        self.cache_scale = 0;
    }
}

pub fn tag_color(tag: MemTag) -> Color32 {
    match tag {
        MemTag::TokenEmbeddings => Color32::from_rgb(0x5b, 0x8d, 0xd6),
        MemTag::AttentionWeights => Color32::from_rgb(0xe0, 0x9a, 0x3c),
        MemTag::MambaWeights => Color32::from_rgb(0x2f, 0xa7, 0x9a),
        MemTag::RoutedExperts => Color32::from_rgb(0x9a, 0x6c, 0xd0),
        MemTag::SharedMlp => Color32::from_rgb(0xc7, 0x7d, 0xbb),
        MemTag::Norms => Color32::from_rgb(0x9a, 0x9a, 0x70),
        MemTag::LmHead => Color32::from_rgb(0x3f, 0x6a, 0xa8),
        MemTag::KvCache => Color32::from_rgb(0xe8, 0x4f, 0x3d),
        MemTag::SsmState => Color32::from_rgb(0x46, 0xc4, 0x5a),
        MemTag::ConvState => Color32::from_rgb(0xa6, 0xd8, 0x54),
        MemTag::Scratch => Color32::from_rgb(0x80, 0x80, 0x80),
    }
}

/// A horizontal bar of `parts` stacked left to right, `scale` bytes wide; hover names a part.
fn stacked_bar(ui: &mut egui::Ui, parts: &[(MemTag, u64)], scale: u64, height: f32) {
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(vec2(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let scale = scale.max(1) as f32;
    let mut x = rect.left();
    let mut hovered = None;
    for &(tag, bytes) in parts.iter().filter(|p| p.1 > 0) {
        let w = rect.width() * bytes as f32 / scale;
        let seg = Rect::from_min_max(
            egui::pos2(x, rect.top()),
            egui::pos2((x + w).min(rect.right()), rect.bottom()),
        );
        painter.rect_filled(seg, 0.0, tag_color(tag));
        if response.hover_pos().is_some_and(|p| seg.contains(p)) {
            hovered = Some((tag, bytes));
        }
        x += w;
    }
    painter.rect_stroke(
        rect,
        2.0,
        Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color),
        StrokeKind::Inside,
    );
    if let Some((tag, bytes)) = hovered {
        response.on_hover_text(format!(
            "{}: {} ({:.1}% of the bar)",
            tag.label(),
            format_bytes(bytes),
            100.0 * bytes as f32 / scale
        ));
    }
}

/// Byte labels at 0, ¼, ½, ¾ and all of `scale` under a bar.
fn scale_ticks(ui: &mut egui::Ui, scale: u64) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(vec2(width, 14.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let font = egui::FontId::proportional(10.0);
    let color = ui.visuals().weak_text_color();
    for i in 0..=4u64 {
        let x = rect.left() + rect.width() * i as f32 / 4.0;
        let align = match i {
            0 => egui::Align2::LEFT_TOP,
            4 => egui::Align2::RIGHT_TOP,
            _ => egui::Align2::CENTER_TOP,
        };
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, rect.top() + 3.0)],
            Stroke::new(1.0, color),
        );
        let label = format_bytes(scale / 4 * i + if i == 4 { scale % 4 } else { 0 });
        painter.text(
            egui::pos2(x, rect.top() + 3.0),
            align,
            label,
            font.clone(),
            color,
        );
    }
}

/// The legend line of one tag, also what tests read: "KV cache: 3.12 KiB".
pub fn legend_text(tag: MemTag, bytes: u64) -> String {
    format!("{}: {}", tag.label(), format_bytes(bytes))
}

pub fn show(
    ui: &mut egui::Ui,
    view: &mut MemoryView,
    model: Option<&ModelInfo>,
    mem: &[(MemTag, u64)],
    context: usize,
    session: Option<SessionMemory>,
) {
    ui.heading("GPU memory");
    let Some(model) = model.filter(|_| !mem.is_empty()) else {
        ui.weak("No model open.");
        return;
    };
    let total: u64 = mem.iter().map(|m| m.1).sum();
    ui.label(format!(
        "All tracked buffers: {} · context {context} tokens",
        format_bytes(total)
    ));
    stacked_bar(ui, mem, total, 20.0);
    scale_ticks(ui, total);
    let max_buffer = model.adapter.as_ref().map_or_else(
        || "unknown (no engine device)".to_string(),
        |a| format_bytes(a.max_buffer_size),
    );
    ui.weak(format!(
        "Scale: the sum above. wgpu reports no total VRAM; the adapter's largest buffer: {max_buffer}."
    ));

    ui.add_space(6.0);
    let caches: Vec<(MemTag, u64)> = mem.iter().copied().filter(|m| m.0.is_cache()).collect();
    let cache_total: u64 = caches.iter().map(|m| m.1).sum();
    view.cache_scale = view.cache_scale.max(nice_ceiling(cache_total.max(1)));
    ui.label(format!(
        "Conversation caches: {} (scale {})",
        format_bytes(cache_total),
        format_bytes(view.cache_scale)
    ));
    stacked_bar(ui, &caches, view.cache_scale, 20.0);
    scale_ticks(ui, view.cache_scale);
    let cfg = &model.cfg;
    let kv_per_token = granite_engine::inspect::kv_bytes_per_token_per_layer(cfg)
        * cfg.n_attention_layers() as u64;
    let kv_alloc = mem
        .iter()
        .find(|m| m.0 == MemTag::KvCache)
        .map_or(0, |m| m.1);
    ui.weak(format!(
        "KV in use: {} for {context} tokens; allocated: {} (the engine grows it in blocks).",
        format_bytes(kv_per_token * context as u64),
        format_bytes(kv_alloc)
    ));
    if let Some(s) = session {
        ui.label(format!(
            "This conversation: {} (KV {} · conv state {} · SSM state {})",
            format_bytes(s.total()),
            format_bytes(s.kv_cache),
            format_bytes(s.conv_state),
            format_bytes(s.ssm_state)
        ));
    }

    ui.add_space(4.0);
    egui::Grid::new("memory_legend")
        .num_columns(4)
        .spacing([6.0, 2.0])
        .show(ui, |ui| {
            for (i, &(tag, bytes)) in mem.iter().enumerate() {
                let (r, _) = ui.allocate_exact_size(vec2(10.0, 10.0), Sense::hover());
                ui.painter().rect_filled(r, 2.0, tag_color(tag));
                ui.label(legend_text(tag, bytes));
                if i % 2 == 1 {
                    ui.end_row();
                }
            }
        });
    let (conv, ssm) = mamba_state_bytes_per_layer(cfg);
    ui.weak(format!(
        "KV cache grows {} per token ({}); Mamba state stays {} ({} × {} conv + {} SSM).",
        format_bytes(kv_per_token),
        plural(cfg.n_attention_layers(), "attention layer"),
        format_bytes((conv + ssm) * cfg.n_mamba_layers() as u64),
        plural(cfg.n_mamba_layers(), "layer"),
        format_bytes(conv),
        format_bytes(ssm),
    ));
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
