//! The catalogue of bad inputs: each runs the real `granite` binary on a broken model folder or
//! bad arguments and checks the exit code, that the message names what is wrong, and that
//! nothing panicked.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/moe_nope")
}

/// A private copy of the moe_nope fixture to break.
fn copy_fixture() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "granite-bad-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

/// Runs granite; asserts failure, no panic, and that stderr contains every `needle`.
#[track_caller]
fn fails(args: &[&str], needles: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_granite"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "granite {args:?} succeeded; stderr: {err}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "granite {args:?}: exit code; stderr: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "granite {args:?} panicked: {err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "granite {args:?}: stderr lacks {n:?}: {err}"
        );
    }
}

fn inspect(dir: &Path, needles: &[&str]) {
    fails(&["inspect", "--model", dir.to_str().unwrap()], needles);
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, serde_json::to_string(&v).unwrap()).unwrap();
}

/// The safetensors header (JSON) and the data after it.
fn read_st(dir: &Path) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    read_st_path(&dir.join("model.safetensors"))
}

fn write_st(dir: &Path, header: &serde_json::Map<String, serde_json::Value>, data: &[u8]) {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    std::fs::write(dir.join("model.safetensors"), out).unwrap();
}

const EMB: &str = "model.embed_tokens.weight";

#[test]
fn missing_folder() {
    inspect(
        Path::new("/nonexistent/granite-model"),
        &["/nonexistent/granite-model", "does not exist"],
    );
}

#[test]
fn missing_config() {
    let d = copy_fixture();
    std::fs::remove_file(d.join("config.json")).unwrap();
    inspect(&d, &["config.json"]);
}

#[test]
fn invalid_config_json() {
    let d = copy_fixture();
    std::fs::write(d.join("config.json"), "{ \"hidden_size\": 48, ").unwrap();
    inspect(&d, &["config.json"]);
}

#[test]
fn wrong_model_type() {
    let d = copy_fixture();
    edit_config(&d, |v| v["model_type"] = "llama".into());
    inspect(&d, &["model_type", "llama"]);
}

#[test]
fn zero_heads() {
    let d = copy_fixture();
    edit_config(&d, |v| v["num_attention_heads"] = 0.into());
    inspect(&d, &["num_attention_heads"]);
}

#[test]
fn mismatched_dims() {
    let d = copy_fixture();
    edit_config(&d, |v| v["num_attention_heads"] = 5.into()); // 48 is not divisible by 5
    inspect(&d, &["num_attention_heads"]);
}

#[test]
fn unknown_layer_type() {
    let d = copy_fixture();
    edit_config(&d, |v| v["layer_types"][1] = "retention".into());
    inspect(&d, &["layer_types", "retention"]);
}

#[test]
fn missing_tensor() {
    let d = copy_fixture();
    let (mut h, data) = read_st(&d);
    // Renamed, so the data still covers the file and only the name is missing.
    let t = h.remove("model.layers.1.mamba.D").unwrap();
    h.insert("model.layers.1.mamba.D_old".into(), t);
    write_st(&d, &h, &data);
    inspect(&d, &["model.layers.1.mamba.D", "model.safetensors"]);
}

#[test]
fn wrong_shape() {
    let d = copy_fixture();
    edit_config(&d, |v| v["vocab_size"] = 500.into());
    inspect(&d, &[EMB, "shape"]);
}

#[test]
fn wrong_dtype() {
    let d = copy_fixture();
    let (mut h, data) = read_st(&d);
    h[EMB]["dtype"] = "I16".into();
    write_st(&d, &h, &data);
    inspect(&d, &[EMB, "I16"]);
}

#[test]
fn truncated_file() {
    let d = copy_fixture();
    let p = d.join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 1000]).unwrap();
    inspect(&d, &["model.safetensors"]);
}

#[test]
fn header_length_larger_than_file() {
    let d = copy_fixture();
    let p = d.join("model.safetensors");
    let mut bytes = std::fs::read(&p).unwrap();
    let too_long = bytes.len() as u64 * 2;
    bytes[..8].copy_from_slice(&too_long.to_le_bytes());
    std::fs::write(&p, bytes).unwrap();
    inspect(&d, &["model.safetensors", "header"]);
}

#[test]
fn absurdly_large_header() {
    let d = copy_fixture();
    let p = d.join("model.safetensors");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(&p, bytes).unwrap();
    inspect(&d, &["model.safetensors", "header"]);
}

#[test]
fn non_utf8_header() {
    let d = copy_fixture();
    let p = d.join("model.safetensors");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[12] = 0xff;
    bytes[13] = 0xfe;
    std::fs::write(&p, bytes).unwrap();
    inspect(&d, &["model.safetensors", "UTF-8"]);
}

#[test]
fn offsets_out_of_bounds() {
    let d = copy_fixture();
    let (mut h, data) = read_st(&d);
    let n = data.len() as u64;
    h[EMB]["data_offsets"] = serde_json::json!([n, n + 49152]);
    write_st(&d, &h, &data);
    inspect(&d, &["model.safetensors", EMB]);
}

#[test]
fn overlapping_offsets() {
    let d = copy_fixture();
    let (mut h, data) = read_st(&d);
    let name = "model.layers.0.block_sparse_moe.input_linear.weight";
    h[name]["data_offsets"] = serde_json::json!([49152 - 2, 64512 - 2]);
    write_st(&d, &h, &data);
    inspect(&d, &["model.safetensors", "overlap"]);
}

#[test]
fn index_names_missing_shard() {
    let d = copy_fixture();
    std::fs::rename(
        d.join("model.safetensors"),
        d.join("model-00001-of-00002.safetensors"),
    )
    .unwrap();
    let (h, _) = read_st_path(&d.join("model-00001-of-00002.safetensors"));
    let mut map = serde_json::Map::new();
    for (i, k) in h.keys().filter(|k| *k != "__metadata__").enumerate() {
        let shard = if i % 2 == 0 {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(k.clone(), shard.into());
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    inspect(&d, &["model-00002-of-00002.safetensors"]);
}

fn read_st_path(p: &Path) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    let bytes = std::fs::read(p).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

// ---- cases that get as far as the tokenizer, the template, the prompt or the sampler ----

fn dense() -> PathBuf {
    let d = copy_fixture();
    for e in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dense_rope"))
            .unwrap()
    {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
    }
    d
}

fn generate(dir: &Path, extra: &[&str], needles: &[&str]) {
    let mut args = vec!["generate", "--model", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    fails(&args, needles);
}

#[test]
fn missing_tokenizer() {
    let d = dense();
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    generate(&d, &["--prompt", "hi"], &["tokenizer.json"]);
}

#[test]
fn corrupt_tokenizer() {
    let d = dense();
    std::fs::write(d.join("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", ").unwrap();
    generate(&d, &["--prompt", "hi"], &["tokenizer.json"]);
}

#[test]
fn chat_template_syntax_error() {
    let d = dense();
    let p = d.join("tokenizer_config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["chat_template"] = "{% for m in messages %}{{ m.content }".into();
    std::fs::write(&p, v.to_string()).unwrap();
    generate(
        &d,
        &["--chat", "--prompt", "hi"],
        &["chat template", "tokenizer_config.json"],
    );
}

#[test]
fn token_id_past_vocabulary() {
    generate(
        &dense(),
        &["--token-ids", "1,2,9999"],
        &["9999", "vocabulary"],
    );
}

#[test]
fn empty_prompt() {
    generate(&dense(), &["--prompt", ""], &["empty"]);
}

#[test]
fn prompt_longer_than_context() {
    let long = "the quick brown fox jumps over the lazy dog ".repeat(20);
    generate(
        &dense(),
        &["--context", "16", "--prompt", &long],
        &["context limit of 16", "prompt is"],
    );
}

#[test]
fn zero_max_new_tokens() {
    generate(
        &dense(),
        &["--max-new-tokens", "0", "--prompt", "hi"],
        &["max-new-tokens"],
    );
}

#[test]
fn negative_or_nan_temperature() {
    generate(
        &dense(),
        &["--temperature", "-0.5", "--prompt", "hi"],
        &["temperature", "-0.5"],
    );
    generate(
        &dense(),
        &["--temperature", "NaN", "--prompt", "hi"],
        &["temperature", "NaN"],
    );
}

#[test]
fn top_p_outside_unit_interval() {
    generate(
        &dense(),
        &["--top-p", "0", "--prompt", "hi"],
        &["top-p", "(0, 1]"],
    );
    generate(
        &dense(),
        &["--top-p", "1.5", "--prompt", "hi"],
        &["top-p", "1.5"],
    );
    // The bench's sampled generation tests check the same, before loading anything.
    fails(
        &[
            "bench",
            "--model",
            dense().to_str().unwrap(),
            "--top-p",
            "1.5",
        ],
        &["top-p", "1.5"],
    );
}

#[test]
fn gpu_memory_budget_too_small() {
    generate(
        &dense(),
        &["--gpu-memory", "1", "--prompt", "hi"],
        &["out of GPU memory", "needs", "limit is 1048576 bytes"],
    );
}
