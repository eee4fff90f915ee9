//! The front door opens a model from each kind of source and runs it the same way: a model
//! folder, a GGUF file written from that folder, the folder's files held in memory, and the
//! GGUF file held in memory. Each gives transformers' greedy continuation of the fixture.
mod gguf_common;
mod loader_common;

use std::ops::ControlFlow;
use std::path::Path;

use gguf_common::model::{Out, from_fixture};
use granite_engine::testing::gpus;
use granite_engine::{
    Device, Engine, GenerateOptions, Input, ModelSource, OpenOptions, SamplingParams,
    SessionOptions,
};
use loader_common::{TempDir, fixtures_dir};
use serde_json::Value;

fn expected(dir: &Path) -> (Vec<u32>, Vec<u32>) {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let exp: Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    (ids(&exp["prompt_ids"]), ids(&exp["greedy_ids"]))
}

fn greedy(device: &Device, source: &ModelSource, prompt: &[u32], n: usize) -> Vec<u32> {
    let engine = Engine::open_on(device, source, &OpenOptions::default()).unwrap();
    let opts = GenerateOptions {
        max_new_tokens: n,
        sampling: SamplingParams::default(),
        stop_at_eos: false,
        detokenize: false,
        ..Default::default()
    };
    let context = Some(prompt.len() + n + 1);
    let mut session = engine.session(&SessionOptions { context }).unwrap();
    let stream = session
        .generate(&Input::Tokens(prompt.to_vec()), &opts)
        .unwrap();
    stream.run(|_| ControlFlow::Continue(())).unwrap().token_ids
}

/// Every file of a model folder, by name, in memory.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn folder_gguf_and_memory_sources_give_the_same_greedy_continuation() {
    let dir = fixtures_dir().join("moe_nope");
    let (prompt, want) = expected(&dir);
    let tmp = TempDir::new("api-sources");
    let gguf = tmp.0.join("moe_nope-f16.gguf");
    from_fixture(&dir, Out::F16).write(&gguf);
    let (path, gpu) = gpus().remove(0);
    let device = Device::from_gpu(gpu);
    for (label, source) in [
        ("folder", ModelSource::path(&dir)),
        ("gguf", ModelSource::path(&gguf)),
        ("memory", ModelSource::files(files_of(&dir))),
        (
            "gguf in memory",
            ModelSource::files(vec![("m.gguf".into(), std::fs::read(&gguf).unwrap())]),
        ),
    ] {
        let got = greedy(&device, &source, &prompt, want.len());
        assert_eq!(got, want, "{label} [{path}]: greedy continuation");
    }
}

#[test]
fn describe_reports_gguf_metadata_and_reads_memory_sources() {
    let dir = fixtures_dir().join("attn_only");
    let tmp = TempDir::new("api-describe");
    let gguf = tmp.0.join("attn_only.gguf");
    from_fixture(&dir, Out::F16).write(&gguf);
    let folder = granite_engine::describe(&ModelSource::path(&dir)).unwrap();
    let from_gguf = granite_engine::describe(&ModelSource::path(&gguf)).unwrap();
    let report = from_gguf.gguf.expect("a GGUF report");
    assert!(report.text().contains("granite"), "{}", report.text());
    assert!(folder.gguf.is_none() && folder.weights_from_headers.is_some());
    assert_eq!(
        from_gguf.config.num_hidden_layers,
        folder.config.num_hidden_layers
    );
    let memory = granite_engine::describe(&ModelSource::files(files_of(&dir))).unwrap();
    assert_eq!(memory.report, folder.report);
}

#[test]
fn a_memory_source_missing_a_file_names_it() {
    let dir = fixtures_dir().join("attn_only");
    let mut files = files_of(&dir);
    files.retain(|(name, _)| name != "tokenizer.json");
    // `inspect` needs only the config and the weights; opening the model needs the tokenizer.
    granite_engine::describe(&ModelSource::files(files.clone())).unwrap();
    let (_, gpu) = gpus().remove(0);
    let source = ModelSource::files(files.clone());
    let opened = Engine::open_on(&Device::from_gpu(gpu), &source, &OpenOptions::default());
    let Err(e) = opened else {
        panic!("opening without tokenizer.json succeeded");
    };
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
    files.retain(|(name, _)| !name.ends_with(".safetensors"));
    let Err(e) = granite_engine::describe(&ModelSource::files(files)) else {
        panic!("describe without weights succeeded");
    };
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn files_in_memory_with_several_gguf_files_and_no_config_are_refused() {
    let dir = fixtures_dir().join("attn_only");
    let tmp = TempDir::new("api-two-gguf");
    let gguf = tmp.0.join("a.gguf");
    from_fixture(&dir, Out::F16).write(&gguf);
    let bytes = std::fs::read(&gguf).unwrap();
    let two = vec![("a.gguf".into(), bytes.clone()), ("b.gguf".into(), bytes)];
    let Err(e) = granite_engine::describe(&ModelSource::files(two)) else {
        panic!("two GGUF files were accepted");
    };
    assert!(e.to_string().contains("a.gguf, b.gguf"), "{e}");
    let broken = vec![("m.gguf".into(), b"GGUF\x03\x00\x00\x00".to_vec())];
    let Err(e) = granite_engine::describe(&ModelSource::files(broken)) else {
        panic!("a truncated GGUF was accepted");
    };
    assert!(e.to_string().contains("m.gguf"), "{e}");
}
