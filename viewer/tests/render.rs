//! Renders the window with egui's wgpu renderer (lavapipe on CI) after a reply and checks the
//! pixels: the cache bar shows the KV cache and the SSM state in their colours, and the layer
//! map shows both layer kinds.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use granite_engine::MemTag;
use granite_viewer::ViewerApp;
use granite_viewer::cli::FIXTURE_MODEL;
use granite_viewer::fake::FakeBackend;
use granite_viewer::layers_ui::{ATTENTION_COLOR, MAMBA_COLOR};
use granite_viewer::memory_ui::tag_color;

fn count(img: &image::RgbaImage, c: egui::Color32) -> usize {
    img.pixels()
        .filter(|p| p.0 == [c.r(), c.g(), c.b(), 255])
        .count()
}

#[test]
fn window_renders_transcript_bars_and_layer_map() {
    let app = ViewerApp::new(
        FakeBackend::opener(Duration::from_millis(1), false),
        PathBuf::from(FIXTURE_MODEL),
    );
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    let t0 = Instant::now();
    while !h.state().is_ready() {
        assert!(t0.elapsed() < Duration::from_secs(20), "model never loaded");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(2);
    let before = h.render().expect("wgpu render");
    let kv_before = count(&before, tag_color(MemTag::KvCache));
    let ssm_before = count(&before, tag_color(MemTag::SsmState));

    h.state_mut().send("Hello");
    while h.state().generating {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "reply never finished"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
    h.get_by_label_contains("It is a truth");
    let img = h.render().expect("wgpu render");
    assert_eq!((img.width(), img.height()), (1280, 800));
    // The legend swatches are there from the start; the cache bar gains a KV segment.
    let kv = count(&img, tag_color(MemTag::KvCache));
    assert!(
        kv > kv_before + 100,
        "no KV cache segment drawn: {kv_before} -> {kv}"
    );
    assert!(ssm_before > 500, "no SSM state segment drawn: {ssm_before}");
    assert!(count(&img, tag_color(MemTag::SsmState)) > 500);
    assert!(
        count(&img, MAMBA_COLOR) > 100,
        "no Mamba cells in the layer map"
    );
    assert!(
        count(&img, ATTENTION_COLOR) > 50,
        "no attention cell in the layer map"
    );
    if let Ok(dir) = std::env::var("VIEWER_RENDER_OUT") {
        img.save(PathBuf::from(dir).join("viewer-kittest.png"))
            .unwrap();
    }
}
