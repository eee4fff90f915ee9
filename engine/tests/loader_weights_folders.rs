//! Weights: synthetic model folders (single file and sharded, tied and untied embeddings),
//! config-vs-checkpoint validation, and the problems of a shard index.
mod loader_common;

use granite_engine::model_files::{Dtype, ModelWeights, to_f32_vec};
use loader_common::*;
use serde_json::json;

#[test]
fn tied_hybrid_model_loads() {
    let dir = TempDir::new("tied");
    let cfg = write_model(dir.path(), &tiny_hybrid());
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    let e = w.get("model.embed_tokens.weight").unwrap();
    assert_eq!((e.dtype, e.shape), (Dtype::BF16, &[64usize, 16][..]));
    assert_eq!(e.bytes.len(), 64 * 16 * 2);
    assert!(e.file.ends_with("model.safetensors"));
    assert_eq!(w.lm_head(&cfg).unwrap().name, "model.embed_tokens.weight");
    let a = to_f32_vec(&w.get("model.layers.0.mamba.A_log").unwrap()).unwrap();
    assert_eq!(a.len(), 4);
}

#[test]
fn dense_model_loads() {
    let dir = TempDir::new("dense");
    let cfg = write_model(dir.path(), &tiny_dense());
    ModelWeights::open(dir.path(), &cfg).unwrap();
}

#[test]
fn untied_model_needs_lm_head() {
    let dir = TempDir::new("untied");
    let mut v = tiny_hybrid();
    v["tie_word_embeddings"] = json!(false);
    let cfg = write_model(dir.path(), &v);
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.lm_head(&cfg).unwrap().name, "lm_head.weight");
    // Same weights without lm_head.
    let tensors: Vec<_> = model_tensors(&cfg)
        .into_iter()
        .filter(|t| t.name != "lm_head.weight")
        .collect();
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["lm_head.weight", "model.safetensors", "missing"],
    );
}

#[test]
fn tied_model_ignores_present_lm_head() {
    let dir = TempDir::new("tiedextra");
    let cfg = parse_config(&tiny_hybrid());
    let mut tensors = model_tensors(&cfg);
    tensors.push(RawTensor::bf16(
        "lm_head.weight",
        &[64, 16],
        &values(64 * 16, 9),
    ));
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.lm_head(&cfg).unwrap().name, "model.embed_tokens.weight");
}

fn write_modified(
    dir: &TempDir,
    f: impl FnOnce(&mut Vec<RawTensor>),
) -> granite_engine::model_files::ModelConfig {
    let cfg = parse_config(&tiny_hybrid());
    let mut tensors = model_tensors(&cfg);
    f(&mut tensors);
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    cfg
}

#[test]
fn missing_tensor_is_named() {
    let dir = TempDir::new("missing");
    let cfg = write_modified(&dir, |t| {
        t.retain(|t| t.name != "model.layers.1.self_attn.k_proj.weight")
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.layers.1.self_attn.k_proj.weight",
            "model.safetensors",
        ],
    );
}

#[test]
fn wrong_shape_is_named() {
    let dir = TempDir::new("shape");
    let cfg = write_modified(&dir, |t| {
        let x = t
            .iter_mut()
            .find(|t| t.name == "model.layers.2.mamba.in_proj.weight")
            .unwrap();
        *x = RawTensor::bf16(&x.name.clone(), &[16, 84], &values(84 * 16, 3));
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.layers.2.mamba.in_proj.weight",
            "[16, 84]",
            "[84, 16]",
        ],
    );
}

#[test]
fn wrong_dtype_is_named() {
    let dir = TempDir::new("dtype");
    let cfg = write_modified(&dir, |t| {
        let x = t
            .iter_mut()
            .find(|t| t.name == "model.norm.weight")
            .unwrap();
        *x = RawTensor::new("model.norm.weight", "I32", &[16], vec![0; 64]);
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.norm.weight", "I32", "not supported"],
    );
}

/// Writes the tiny model as two shards plus an index.
fn write_sharded(dir: &TempDir) -> granite_engine::model_files::ModelConfig {
    let cfg = parse_config(&tiny_hybrid());
    std::fs::write(dir.join("config.json"), tiny_hybrid().to_string()).unwrap();
    let tensors = model_tensors(&cfg);
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut map = serde_json::Map::new();
    for (part, name) in [first, second].iter().zip(names) {
        for t in part.iter() {
            map.insert(t.name.clone(), json!(name));
        }
    }
    let to_owned = |p: &[RawTensor]| -> Vec<RawTensor> {
        p.iter()
            .map(|t| RawTensor::new(&t.name, &t.dtype, &t.shape, t.data.clone()))
            .collect()
    };
    std::fs::write(dir.join(names[0]), safetensors_bytes(&to_owned(first))).unwrap();
    std::fs::write(dir.join(names[1]), safetensors_bytes(&to_owned(second))).unwrap();
    let index = json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    cfg
}

#[test]
fn sharded_model_loads() {
    let dir = TempDir::new("sharded");
    let cfg = write_sharded(&dir);
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.files().count(), 2);
    let last = w
        .get("model.layers.3.shared_mlp.output_linear.weight")
        .unwrap();
    assert!(last.file.ends_with("model-00002-of-00002.safetensors"));
}

#[test]
fn index_naming_a_missing_shard() {
    let dir = TempDir::new("noshard");
    let cfg = write_sharded(&dir);
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.safetensors.index.json",
            "model-00002-of-00002.safetensors",
            "does not exist",
        ],
    );
}

#[test]
fn index_problems() {
    let dir = TempDir::new("badindex");
    let cfg = write_sharded(&dir);
    let index_path = dir.join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    // A tensor listed for a shard that does not hold it.
    index["weight_map"]["model.norm.weight"] = json!("model-00002-of-00002.safetensors");
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.norm.weight", "not present"],
    );
    index["weight_map"]["model.norm.weight"] = json!("../model-00001-of-00002.safetensors");
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["not a plain file name"],
    );
    std::fs::write(&index_path, "{\"metadata\": {}}").unwrap();
    assert_err_contains(ModelWeights::open(dir.path(), &cfg), &["weight_map"]);
}

#[test]
fn folder_without_weights() {
    let dir = TempDir::new("empty");
    let cfg = parse_config(&tiny_hybrid());
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.safetensors.index.json"],
    );
}
