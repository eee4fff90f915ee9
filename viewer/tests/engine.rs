//! The engine backend on the real GPU path (lavapipe on CI), through the worker thread as the
//! window uses it: tokens stream, the tracked KV cache grows with the conversation, the Mamba
//! state bytes stay the same, Stop and New chat work. Uses the dense fixture (random weights:
//! the text is noise) with greedy sampling.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use granite_engine::ChatMessage;
use granite_engine::testing::REQUIRE_BACKEND_ENV;
use granite_engine::{DeviceOptions, MemTag};
use granite_viewer::backend::{GenStats, Probe, Settings};
use granite_viewer::engine_backend;
use granite_viewer::worker::{Command, Event, Worker};

const DENSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dense_rope");

fn next_event(w: &mut Worker, pending: &mut Vec<Event>) -> Event {
    let t0 = Instant::now();
    while pending.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no event from the worker"
        );
        pending.extend(w.drain());
        std::thread::sleep(Duration::from_millis(2));
    }
    pending.remove(0)
}

fn bytes(p: &dyn Probe, tag: MemTag) -> u64 {
    p.memory().iter().find(|m| m.0 == tag).map_or(0, |m| m.1)
}

/// Sends `messages` and returns (streamed text, stats).
fn reply(
    w: &mut Worker,
    q: &mut Vec<Event>,
    messages: Vec<ChatMessage>,
    max: usize,
) -> (String, GenStats) {
    let settings = Settings {
        temperature: 0.0,
        max_tokens: max,
        ..Default::default()
    };
    w.send(Command::Generate { messages, settings });
    let mut text = String::new();
    loop {
        match next_event(w, q) {
            Event::Token(t, _) => text.push_str(&t),
            Event::Done(s) => return (text, s),
            Event::Failed(e) => panic!("generation failed: {e}"),
            _ => {}
        }
    }
}

#[test]
fn engine_streams_and_kv_grows_while_mamba_state_is_fixed() {
    let opts = DeviceOptions {
        backend: std::env::var(REQUIRE_BACKEND_ENV).ok(),
        ..Default::default()
    };
    let mut w = Worker::spawn(engine_backend::opener(opts), Some(PathBuf::from(DENSE)));
    let mut q = Vec::new();
    let probe = loop {
        match next_event(&mut w, &mut q) {
            Event::Loaded { info, probe } => {
                assert_eq!(info.cfg.n_attention_layers(), 2);
                assert!(info.adapter.is_some());
                break probe;
            }
            Event::LoadFailed(e) => panic!("{e}"),
            _ => {}
        }
    };
    let ssm = bytes(&*probe, MemTag::SsmState);
    let conv = bytes(&*probe, MemTag::ConvState);
    assert!(ssm > 0 && conv > 0);
    assert!(bytes(&*probe, MemTag::AttentionWeights) > 0);
    assert_eq!(probe.context_len(), 0);

    let mut messages = vec![ChatMessage::user("Hello there")];
    let (text, stats) = reply(&mut w, &mut q, messages.clone(), 12);
    assert!(stats.gen_tokens > 0 && stats.prompt_tokens > 0, "{stats:?}");
    let ctx1 = probe.context_len();
    assert!(
        ctx1 >= stats.prompt_tokens + stats.gen_tokens - 1,
        "{ctx1} {stats:?}"
    );
    let kv1 = bytes(&*probe, MemTag::KvCache);
    assert!(kv1 > 0);
    // The one conversation holds every cache byte: the engine's per-session figures agree.
    let mine = probe
        .session_memory()
        .expect("the engine reports this conversation");
    assert_eq!(mine.kv_cache, kv1);
    assert_eq!(mine.conv_state, bytes(&*probe, MemTag::ConvState));
    assert_eq!(mine.ssm_state, bytes(&*probe, MemTag::SsmState));
    assert_eq!(mine.tokens as usize, ctx1);
    assert_eq!(
        (
            bytes(&*probe, MemTag::SsmState),
            bytes(&*probe, MemTag::ConvState)
        ),
        (ssm, conv)
    );

    // A long second turn pushes the KV cache past its first block.
    messages.push(ChatMessage::assistant(&text));
    messages.push(ChatMessage::user(
        &"and then the ball at Netherfield ".repeat(60),
    ));
    let (_, stats2) = reply(&mut w, &mut q, messages, 4);
    let ctx2 = probe.context_len();
    assert!(ctx2 > ctx1 + 200, "context {ctx1} -> {ctx2}");
    assert!(
        stats2.prompt_tokens < ctx2,
        "the first turn was not reused from the cache"
    );
    let kv2 = bytes(&*probe, MemTag::KvCache);
    assert!(kv2 > kv1, "KV cache did not grow: {kv1} -> {kv2}");
    assert_eq!(
        (
            bytes(&*probe, MemTag::SsmState),
            bytes(&*probe, MemTag::ConvState)
        ),
        (ssm, conv)
    );

    // Kernel timing: per family with timestamps, or a reason.
    let timed_settings = Settings {
        temperature: 0.0,
        max_tokens: 3,
        time_kernels: true,
        ..Default::default()
    };
    w.send(Command::Generate {
        messages: vec![ChatMessage::user("Time this")],
        settings: timed_settings,
    });
    loop {
        match next_event(&mut w, &mut q) {
            Event::Done(_) => break,
            Event::Failed(e) => panic!("{e}"),
            _ => {}
        }
    }
    eprintln!("kernel times: {:?}", probe.kernel_times());
    match probe.kernel_times() {
        Ok(list) => {
            assert!(!list.is_empty());
            assert!(
                list.iter().all(|(_, ms)| ms.is_finite() && *ms >= 0.0),
                "{list:?}"
            );
        }
        Err(why) => assert!(why.contains("timestamp"), "{why}"),
    }

    // Stop before the worker even starts: the reply ends at once, flagged as stopped.
    w.send(Command::NewChat);
    w.send(Command::Generate {
        messages: vec![ChatMessage::user("Again")],
        settings: Settings {
            temperature: 0.0,
            max_tokens: 200,
            ..Default::default()
        },
    });
    w.stop();
    let stats3 = loop {
        match next_event(&mut w, &mut q) {
            Event::Done(s) => break s,
            Event::Failed(e) => panic!("{e}"),
            _ => {}
        }
    };
    assert!(stats3.stopped && stats3.gen_tokens <= 1, "{stats3:?}");
    assert!(
        probe.context_len() < ctx1 + 5,
        "New chat did not empty the conversation"
    );
}

/// A model folder without a chat template opens in plain-completion mode: the window says so,
/// and a message is continued as text instead of failing.
#[test]
fn a_model_without_a_chat_template_opens_for_plain_completion() {
    let dir = std::env::temp_dir().join(format!("granite-viewer-plain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(DENSE).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let tc = dir.join("tokenizer_config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tc).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(&tc, v.to_string()).unwrap();
    let _ = std::fs::remove_file(dir.join("chat_template.jinja"));
    let opts = DeviceOptions {
        backend: std::env::var(REQUIRE_BACKEND_ENV).ok(),
        ..Default::default()
    };
    let mut w = Worker::spawn(engine_backend::opener(opts), Some(dir.clone()));
    let mut q = Vec::new();
    loop {
        match next_event(&mut w, &mut q) {
            Event::Loaded { info, .. } => {
                assert!(!info.chat);
                assert!(
                    info.backend_label.contains("plain completion"),
                    "{}",
                    info.backend_label
                );
                break;
            }
            Event::LoadFailed(e) => panic!("{e}"),
            _ => {}
        }
    }
    let (_, stats) = reply(
        &mut w,
        &mut q,
        vec![ChatMessage::user("Once upon a time")],
        5,
    );
    assert!(stats.prompt_tokens > 0 && stats.gen_tokens > 0, "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
