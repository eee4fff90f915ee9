//! Shared helpers of the loader tests: temporary model folders, safetensors writing, tiny
//! configs and a tiny byte-level BPE tokenizer.
#![allow(dead_code)]

pub mod config;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use granite_engine::model_files::{ModelConfig, expected_tensors};
use serde_json::{Value, json};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "granite-loader-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tensor to write: name, dtype string, shape, raw little-endian bytes.
pub struct RawTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl RawTensor {
    pub fn new(name: &str, dtype: &str, shape: &[usize], data: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
            data,
        }
    }
    pub fn bf16(name: &str, shape: &[usize], values: &[f32]) -> Self {
        let data = values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
            .collect();
        Self::new(name, "BF16", shape, data)
    }
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(name, "F32", shape, data)
    }
    pub fn f16(name: &str, shape: &[usize], values: &[f32]) -> Self {
        let data = values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
            .collect();
        Self::new(name, "F16", shape, data)
    }
}

/// The bytes of a well-formed safetensors file (header padded to 8 bytes with spaces).
pub fn safetensors_bytes(tensors: &[RawTensor]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0usize;
    for t in tensors {
        header.insert(
            t.name.clone(),
            json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.data.len()]}),
        );
        offset += t.data.len();
    }
    let mut h = serde_json::to_string(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    raw_file(
        h.as_bytes(),
        &tensors
            .iter()
            .flat_map(|t| t.data.clone())
            .collect::<Vec<_>>(),
    )
}

/// Header length prefix + header bytes + data, with no checks (for malformed files).
pub fn raw_file(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A tiny hybrid config: 4 layers (mamba, attention, mamba, attention), MoE 4 experts top-2.
pub fn tiny_hybrid() -> Value {
    json!({
        "architectures": ["GraniteMoeHybridForCausalLM"],
        "model_type": "granitemoehybrid",
        "vocab_size": 64,
        "hidden_size": 16,
        "num_hidden_layers": 4,
        "layer_types": ["mamba", "attention", "mamba", "attention"],
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "attention_bias": false,
        "attention_multiplier": 0.25,
        "position_embedding_type": "nope",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "hidden_act": "silu",
        "embedding_multiplier": 12.0,
        "residual_multiplier": 0.22,
        "logits_scaling": 6.0,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "intermediate_size": 8,
        "shared_intermediate_size": 12,
        "mamba_n_heads": 4,
        "mamba_d_head": 8,
        "mamba_n_groups": 1,
        "mamba_d_state": 8,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
        "mamba_chunk_size": 256,
        "mamba_conv_bias": true,
        "mamba_proj_bias": false,
        "tie_word_embeddings": true,
        "bos_token_id": 60,
        "eos_token_id": 60,
        "pad_token_id": 61,
        "torch_dtype": "bfloat16",
        "init_method": "mup"
    })
}

/// A tiny dense (all-attention, RoPE, no experts) config with leftover mamba values.
pub fn tiny_dense() -> Value {
    let mut c = tiny_hybrid();
    let o = c.as_object_mut().unwrap();
    o.insert("layer_types".into(), json!(["attention", "attention"]));
    o.insert("num_hidden_layers".into(), json!(2));
    o.insert("num_local_experts".into(), json!(0));
    o.insert("num_experts_per_tok".into(), json!(0));
    o.insert("position_embedding_type".into(), json!("rope"));
    o.insert("rope_theta".into(), json!(10000000.0));
    // Leftovers that do not satisfy the mamba constraints: must be ignored.
    o.insert("mamba_d_head".into(), json!(40));
    o.insert("mamba_d_state".into(), json!(256));
    o.insert("mamba_n_heads".into(), json!(128));
    c
}

pub fn parse_config(v: &Value) -> ModelConfig {
    ModelConfig::from_json_str(&v.to_string(), Path::new("config.json")).expect("valid config")
}

/// Tensors for every expected name of `cfg` with random BF16 values (A_log/D/dt_bias in F32).
pub fn model_tensors(cfg: &ModelConfig) -> Vec<RawTensor> {
    expected_tensors(cfg)
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let n: usize = spec.shape.iter().product();
            let v = values(n, i as u64);
            if spec.name.ends_with("A_log") || spec.name.ends_with(".D") {
                RawTensor::f32(&spec.name, &spec.shape, &v)
            } else {
                RawTensor::bf16(&spec.name, &spec.shape, &v)
            }
        })
        .collect()
}

/// Writes config.json and model.safetensors for `config` into `dir`.
pub fn write_model(dir: &Path, config: &Value) -> ModelConfig {
    let cfg = parse_config(config);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(&model_tensors(&cfg)),
    )
    .unwrap();
    cfg
}

/// GPT-2's byte → printable-char map used by byte-level BPE.
pub fn byte_to_char() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = vec!['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        map[b as usize] = if printable.contains(&b) {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    map
}

/// Added tokens of the tiny tokenizer: (id, content, special).
pub const ADDED: [(u32, &str, bool); 5] = [
    (257, "<|end_of_text|>", true),
    (258, "<|start_of_role|>", true),
    (259, "<|end_of_role|>", true),
    (260, "<tool_call>", false),
    (261, "<|pad|>", true),
];

/// A byte-level BPE tokenizer.json: ids 0..255 are the bytes, 256 is the merge "he".
pub fn tiny_tokenizer_json() -> Value {
    let map = byte_to_char();
    let mut vocab = serde_json::Map::new();
    for (b, c) in map.iter().enumerate() {
        vocab.insert(c.to_string(), json!(b));
    }
    vocab.insert("he".into(), json!(256));
    let added: Vec<Value> = ADDED
        .iter()
        .map(|(id, content, special)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": special})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": [["h", "e"]]}
    })
}

/// The fixtures folder of the worktree (`tests/fixtures` at the repository root).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A crashing input the fuzzer wrote, kept byte for byte in `tests/fixtures/fuzz-regressions/`.
pub fn regression(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("fuzz-regressions").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that `err`'s message contains every one of `needles`.
pub fn assert_err_contains<T: std::fmt::Debug>(
    r: Result<T, granite_engine::Error>,
    needles: &[&str],
) -> String {
    let msg = match r {
        Ok(v) => panic!("expected an error containing {needles:?}, got Ok({v:?})"),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
    }
    msg
}
