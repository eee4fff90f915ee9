//! The bundled default model (`assets/granite-austen`) against transformers' greedy output for
//! the prompts in tests/fixtures/default_model_golden.json (prompt ids from our tokenizer, the
//! continuation token for token, the decoded text), and the CLI printing it.
use std::ops::ControlFlow;
use std::path::Path;

use granite_engine::testing::gpus;
use granite_engine::{
    ChatMessage, Device, Engine, GenerateOptions, Input, ModelSource, OpenOptions, SessionOptions,
};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled model opened through the front door on each kernel path the adapter offers.
fn engines() -> Vec<(&'static str, Engine)> {
    let source = ModelSource::path(root().join("assets/granite-austen"));
    gpus()
        .into_iter()
        .map(|(path, gpu)| {
            let device = Device::from_gpu(gpu);
            let engine = Engine::open_on(&device, &source, &OpenOptions::default()).unwrap();
            (path, engine)
        })
        .collect()
}

fn session(engine: &Engine, context: usize) -> granite_engine::Session {
    let opts = SessionOptions {
        context: Some(context),
    };
    engine.session(&opts).unwrap()
}

fn run(
    s: &mut granite_engine::Session,
    input: &Input,
    o: &GenerateOptions,
) -> granite_engine::Outcome {
    let stream = s.generate(input, o).unwrap();
    stream.run(|_| ControlFlow::Continue(())).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn greedy_continuations_match_transformers() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/default_model_golden.json")).unwrap(),
    )
    .unwrap();
    for (path, engine) in engines() {
        for case in golden["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let prompt = ids(&case["prompt_ids"]);
            if case["kind"] == "raw" {
                assert_eq!(
                    engine
                        .encode(case["prompt_text"].as_str().unwrap())
                        .unwrap(),
                    prompt,
                    "{name}: tokenizer"
                );
            }
            let want = ids(&case["greedy_ids"]);
            let opts = GenerateOptions {
                max_new_tokens: want.len(),
                stop_at_eos: true,
                ..Default::default()
            };
            let out = run(&mut session(&engine, 1024), &Input::Tokens(prompt), &opts);
            assert_eq!(out.token_ids, want, "{name} [{path}]: greedy ids");
            if !case["stopped_on_eos"].as_bool().unwrap() {
                assert_eq!(
                    out.text,
                    case["greedy_text"].as_str().unwrap(),
                    "{name} [{path}]: text"
                );
            }
        }
    }
}

/// Runs `granite generate ARGS` and returns its stdout; fails the test on a non-zero exit.
fn granite_generate(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_granite"))
        .arg("generate")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    out.stdout
}

#[test]
fn cli_generate_prints_english_and_chat_stops() {
    let prompt = ["--prompt", "It was a fine morning, and", "-n", "12"];
    let out = granite_generate(&[&prompt[..], &["--temperature", "0"]].concat());
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with(" the two ladies"), "{text}");
    let question = "Will you dance with me this evening, Miss Bennet?";
    let chat = [
        "--chat",
        "--prompt",
        question,
        "-n",
        "64",
        "--temperature",
        "0",
        "--json",
    ];
    let v: Value = serde_json::from_slice(&granite_generate(&chat)).unwrap();
    assert_eq!(
        v["stop"], "eos",
        "the chat reply should end with <|end_of_text|>: {v}"
    );
    assert!(!v["text"].as_str().unwrap().is_empty());
}

fn generate_json(extra: &[&str]) -> Value {
    let prompt = [
        "--prompt",
        "It was a fine morning, and",
        "-n",
        "16",
        "--json",
    ];
    serde_json::from_slice(&granite_generate(&[&prompt[..], extra].concat())).unwrap()
}

/// The bundled model's generation_config.json (sampling at temperature 0.7, top-p 0.9,
/// repetition penalty 1.1) is the default; flags override it.
#[test]
fn cli_defaults_come_from_generation_config_and_flags_override() {
    let default = generate_json(&[]);
    let spelled_out = generate_json(&[
        "--temperature",
        "0.7",
        "--top-p",
        "0.9",
        "--top-k",
        "50",
        "--repetition-penalty",
        "1.1",
    ]);
    let greedy = generate_json(&["--temperature", "0", "--repetition-penalty", "1"]);
    assert_eq!(
        default["token_ids"], spelled_out["token_ids"],
        "defaults = the file's values"
    );
    assert_ne!(
        default["token_ids"], greedy["token_ids"],
        "the defaults sample"
    );
    let want: Vec<u32> = serde_json::from_str::<Value>(
        &std::fs::read_to_string(root().join("tests/fixtures/default_model_golden.json")).unwrap(),
    )
    .unwrap()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "raw" && c["prompt_text"] == "It was a fine morning, and")
        .map(|c| ids(&c["greedy_ids"]))
        .expect("the golden file has this prompt");
    let n = want.len().min(16);
    assert_eq!(
        ids(&greedy["token_ids"])[..n],
        want[..n],
        "--temperature 0 is greedy"
    );
}

/// `granite chat` driven through stdin: two turns, the second reusing the first's caches.
#[test]
fn cli_chat_answers_two_turns_from_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_granite"))
        .args(["chat", "-n", "24"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Good morning, Mr. Darcy.\nShall we walk to Meryton?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "two replies: {text}"
    );
}

/// Chat turn 2 reuses turn 1's caches (only the new tokens are prefilled) and gives exactly what
/// a fresh prefill of the whole conversation gives.
#[test]
fn chat_turn_two_reuses_state_and_equals_fresh_prefill() {
    let (path, engine) = engines().remove(0);
    let opts = GenerateOptions {
        max_new_tokens: 20,
        ..Default::default()
    };
    let mut chat = session(&engine, 2048);
    let mut messages = vec![
        ChatMessage::system("You are Miss Bennet."),
        ChatMessage::user("Good morning."),
    ];
    let turn1 = run(&mut chat, &Input::chat(messages.clone()), &opts);
    assert_eq!(turn1.cached_tokens, 0);
    messages.push(ChatMessage::assistant(&turn1.text));
    assert_eq!(
        chat.messages(),
        &messages[..],
        "the transcript holds the reply"
    );
    messages.push(ChatMessage::user("Shall we walk to Meryton?"));
    let turn2 = run(&mut chat, &Input::chat(messages.clone()), &opts);
    assert!(
        turn2.cached_tokens > 10,
        "[{path}] turn 2 reused only {} cached tokens",
        turn2.cached_tokens
    );
    let rendered = engine.render_chat(
        &messages,
        &granite_engine::ChatOptions {
            add_generation_prompt: true,
            ..Default::default()
        },
    );
    let all = engine.encode(&rendered.unwrap()).unwrap();
    assert_eq!(
        turn2.prompt_tokens,
        all.len() - turn2.cached_tokens,
        "[{path}] only new tokens fed"
    );

    // The same conversation prefilled from scratch in a fresh session.
    let again = run(&mut session(&engine, 2048), &Input::chat(messages), &opts);
    assert_eq!(again.cached_tokens, 0);
    assert_eq!(
        turn2.token_ids, again.token_ids,
        "[{path}] turn 2 with reused caches vs a fresh prefill"
    );
}
