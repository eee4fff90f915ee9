//! Bytes as `model.safetensors.index.json`, next to the two valid shards of a tiny model, →
//! `ModelWeights::open_unchecked` and, when that succeeds, `ModelWeights::open` with the tiny
//! config. Success must mean every listed tensor is readable from the shard the index names;
//! failure must name the index, a shard or a tensor.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use granite_engine::model_files::{ModelConfig, ModelWeights};
use granite_fuzz::{TINY_CONFIG, TINY_SHARDS, safetensors_bytes, scratch_dir, write};
use libfuzzer_sys::fuzz_target;

fn setup() -> (PathBuf, ModelConfig) {
    let dir = scratch_dir("index");
    for (name, tensors) in TINY_SHARDS {
        write(&dir.join(name), &safetensors_bytes(tensors));
    }
    write(&dir.join("config.json"), TINY_CONFIG.as_bytes());
    let cfg = ModelConfig::load(&dir).expect("harness: tiny config");
    (dir, cfg)
}

fuzz_target!(|data: &[u8]| {
    static SETUP: OnceLock<(PathBuf, ModelConfig)> = OnceLock::new();
    let (dir, cfg) = SETUP.get_or_init(setup);
    write(&dir.join("model.safetensors.index.json"), data);

    match ModelWeights::open_unchecked(dir) {
        Ok(w) => {
            // Only the two shards exist, and open_unchecked cross-checked the map.
            let json: serde_json::Value = serde_json::from_slice(data).expect("accepted bad JSON");
            let map = json["weight_map"]
                .as_object()
                .expect("accepted without weight_map");
            for (name, shard) in map {
                let t = w.get(name).expect("listed tensor not readable");
                assert_eq!(t.file.file_name().unwrap().to_str(), shard.as_str());
                assert_eq!(t.bytes.len(), t.numel() * t.dtype.size());
            }
            assert!(
                w.files().all(|f| f.starts_with(dir)),
                "opened a file outside the folder"
            );
            for info in w.infos() {
                w.get(&info.name).expect("header entry not readable");
            }
            if let Err(e) = ModelWeights::open(dir, cfg) {
                let msg = e.to_string();
                assert!(msg.contains("safetensors"), "unnamed file: {msg}");
            }
        }
        Err(e) => {
            let msg = e.to_string();
            // The index, a shard (or whatever file the index points at) in the model folder.
            assert!(
                msg.contains(&dir.display().to_string()),
                "error names no file: {msg}"
            );
        }
    }
});
