//! Drives the whole window with egui_kittest against the fake backend: sending a prompt, tokens
//! streaming into the transcript, the KV-cache figure growing with the context while the SSM
//! state stays put, Stop, New chat, opening folders, the layer map and its comparison.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{AccessKitNode, NodeT, Queryable};
use granite_engine::ModelConfig;
use granite_engine::inspect::kv_bytes_per_token_per_layer;
use granite_viewer::ViewerApp;
use granite_viewer::cli::FIXTURE_MODEL;
use granite_viewer::fake::{FakeBackend, REPLY};
use granite_viewer::figures::parse_bytes;

fn app(dir: &str, delay_ms: u64) -> ViewerApp {
    ViewerApp::new(
        FakeBackend::opener(Duration::from_millis(delay_ms), false),
        PathBuf::from(dir),
    )
}

fn harness(app: ViewerApp) -> Harness<'static, ViewerApp> {
    Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app)
}

/// Steps frames (a few ms apart) until `done`, failing after 20 s.
fn step_until(
    h: &mut Harness<'static, ViewerApp>,
    what: &str,
    mut done: impl FnMut(&mut Harness<'static, ViewerApp>) -> bool,
) {
    let t0 = Instant::now();
    loop {
        h.step();
        if done(h) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// The text a node shows: AccessKit keeps a label's text in `value`.
fn text(n: &AccessKitNode<'_>) -> Option<String> {
    if n.role() == egui::accesskit::Role::Label {
        n.value()
    } else {
        n.label()
    }
}

/// A memory figure as the legend shows it ("KV cache: 3.12 KiB"), in bytes.
fn figure(h: &Harness<'static, ViewerApp>, tag: &str) -> f64 {
    let prefix = format!("{tag}: ");
    let node = h.get_by_label_contains(&prefix);
    let label = text(&node.accesskit_node()).unwrap_or_default();
    let bytes = label.split_once(&prefix).map(|x| x.1).unwrap_or_default();
    parse_bytes(bytes).unwrap_or_else(|| panic!("cannot read bytes from `{label}`"))
}

/// The latest assistant text on screen (a label starting like the canned reply).
fn reply_on_screen(h: &Harness<'static, ViewerApp>) -> Option<String> {
    // The Label nodes, not the per-line text runs under them.
    h.query_all_by(|n| {
        n.role() == egui::accesskit::Role::Label && text(n).is_some_and(|l| l.starts_with("It is"))
    })
    .last()
    .and_then(|n| text(&n.accesskit_node()))
}

fn wait_ready(h: &mut Harness<'static, ViewerApp>) {
    step_until(h, "model loaded", |h| h.state().is_ready());
    h.run_steps(2);
}

fn send(h: &mut Harness<'static, ViewerApp>, text: &str) {
    h.get_by_label("Message").focus();
    h.step();
    h.get_by_label("Message").type_text(text);
    h.step();
    h.get_by_label("Send").click();
    h.step();
}

#[test]
fn prompt_streams_tokens_kv_grows_ssm_constant() {
    let mut h = harness(app(FIXTURE_MODEL, 15));
    wait_ready(&mut h);
    let cfg = ModelConfig::load(FIXTURE_MODEL.as_ref()).unwrap();
    let kv_per_token =
        (kv_bytes_per_token_per_layer(&cfg) * cfg.n_attention_layers() as u64) as f64;
    assert_eq!(figure(&h, "KV cache"), 0.0);
    let ssm = figure(&h, "SSM state");
    let conv = figure(&h, "conv state");
    assert!(ssm > 0.0 && conv > 0.0);

    let mut kv_seen = vec![0.0];
    let mut partial_seen = false;
    for (turn, prompt) in ["Tell me about hybrids", "And the memory?"]
        .iter()
        .enumerate()
    {
        send(&mut h, prompt);
        assert!(h.state().generating, "Send did not start a reply");
        h.get_by_label(prompt);
        step_until(&mut h, "reply finished", |h| {
            let kv = figure(h, "KV cache");
            assert!(
                kv >= *kv_seen.last().unwrap(),
                "KV cache shrank: {kv_seen:?} then {kv}"
            );
            kv_seen.push(kv);
            assert_eq!(figure(h, "SSM state"), ssm, "SSM state changed");
            assert_eq!(figure(h, "conv state"), conv, "conv state changed");
            if let Some(text) = reply_on_screen(h)
                && text.len() < REPLY.len()
                && h.state().generating
            {
                partial_seen = true;
            }
            !h.state().generating
        });
        h.run_steps(2);
        assert_eq!(reply_on_screen(&h).as_deref(), Some(REPLY), "turn {turn}");
        let context = h.state().probe.as_ref().unwrap().context_len() as f64;
        let kv = figure(&h, "KV cache");
        assert!(
            (kv - kv_per_token * context).abs() <= 0.01 * kv,
            "KV cache {kv} B for {context} tokens of {kv_per_token} B"
        );
    }
    assert!(partial_seen, "never saw a reply half-way through streaming");
    let mut distinct = kv_seen.clone();
    distinct.dedup();
    assert!(distinct.len() >= 6, "KV figure barely moved: {distinct:?}");
    // Both turns and their replies are in the transcript.
    assert_eq!(h.state().turns.len(), 4);
    h.get_by_label_contains("last reply: prompt");
    assert_eq!(
        h.query_all_by_label_contains(" tokens at ").count(),
        2,
        "speed note per reply"
    );

    h.get_by_label("New chat").click();
    step_until(&mut h, "caches emptied", |h| figure(h, "KV cache") == 0.0);
    assert_eq!(figure(&h, "SSM state"), ssm);
    assert!(h.state().turns.is_empty());
}

#[test]
fn stop_ends_the_reply_early() {
    let mut h = harness(app(FIXTURE_MODEL, 40));
    wait_ready(&mut h);
    send(&mut h, "Go on");
    step_until(&mut h, "first token", |h| reply_on_screen(h).is_some());
    h.get_by_label("Stop").click();
    step_until(&mut h, "reply stopped", |h| !h.state().generating);
    let reply = h.state().turns.last().unwrap().clone();
    assert!(
        reply.text.len() < REPLY.len(),
        "not stopped: {}",
        reply.text
    );
    assert!(reply.note.unwrap_or_default().starts_with("stopped"));
    // The window still works after a stop; Enter sends too.
    h.get_by_label("Message").focus();
    h.step();
    h.get_by_label("Message").type_text("Again");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    assert!(h.state().generating, "Enter did not send");
    assert!(h.state().input.is_empty());
    step_until(&mut h, "second reply", |h| !h.state().generating);
    assert_eq!(h.state().turns.len(), 4);
}

#[test]
fn bad_folder_is_reported_and_another_can_be_opened() {
    let mut h = harness(app("/nonexistent/model", 1));
    step_until(&mut h, "load error", |h| h.state().error.is_some());
    h.get_by_label_contains("cannot open model");
    assert!(!h.state().is_ready());

    h.get_by_label("Model folder:").focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label("Model folder:").type_text(FIXTURE_MODEL);
    h.step();
    h.get_by_label("Open").click();
    step_until(&mut h, "model loaded", |h| h.state().is_ready());
    assert!(h.state().error.is_none());
    h.get_by_label_contains("4 layers: 3 Mamba-2 + 1 attention");
}

#[test]
fn layer_map_hover_and_all_attention_comparison() {
    let mut h = harness(app(FIXTURE_MODEL, 1));
    wait_ready(&mut h);
    for (i, kind) in ["Mamba-2", "Mamba-2", "attention", "Mamba-2"]
        .iter()
        .enumerate()
    {
        h.get_by_label(&format!("layer {i}: {kind}"));
    }
    h.get_by_label("layer 2: attention").hover();
    step_until(&mut h, "tooltip", |h| {
        h.query_by_label_contains("KV cache 0 B (64 B per token")
            .is_some()
    });

    h.get_by_label("Compare: the same model with every layer attention")
        .click();
    h.run_steps(2);
    // moe_nope at 128k tokens: 1 attention layer holds 8 MiB of KV; 4 would hold 32 MiB.
    h.get_by_label("128k tokens");
    h.get_by_label("32.0 MiB");
    h.get_by_label("24.0 MiB saved (4.0×)");
}
