//! Inspect figures: the released models' parameter counts (spec §1.3) and cache sizes (§6)
//! from config formulas, and the cross-check against counts from safetensors headers.
mod loader_common;

use granite_engine::model_files::inspect::{
    self, cache_figures, weights_from_config, weights_from_headers,
};
use granite_engine::model_files::{ModelWeights, TensorCategory};
use loader_common::*;
use serde_json::{Value, json};

/// A released-shape config (spec §1.2); attention at `attn`, everything else mamba.
#[allow(clippy::too_many_arguments)]
fn released(
    h: usize,
    layers: usize,
    attn: &[usize],
    heads: usize,
    kv: usize,
    nh: usize,
    p: usize,
    e: usize,
    k: usize,
    i: usize,
    s: usize,
) -> Value {
    let types: Vec<&str> = (0..layers)
        .map(|l| {
            if attn.contains(&l) {
                "attention"
            } else {
                "mamba"
            }
        })
        .collect();
    json!({"model_type": "granitemoehybrid", "vocab_size": 100352, "hidden_size": h, "num_hidden_layers": layers,
           "layer_types": types, "num_attention_heads": heads, "num_key_value_heads": kv,
           "mamba_n_heads": nh, "mamba_d_head": p, "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_d_conv": 4,
           "num_local_experts": e, "num_experts_per_tok": k, "intermediate_size": i, "shared_intermediate_size": s,
           "tie_word_embeddings": true, "position_embedding_type": "nope"})
}

const HYB: [usize; 4] = [5, 15, 25, 35];

fn billions(x: u64) -> f64 {
    (x as f64 / 1e7).round() / 100.0
}

#[test]
fn released_parameter_counts_match_spec() {
    let all: Vec<usize> = (0..40).collect();
    let cases = [
        (
            "H-Small",
            released(4096, 40, &HYB, 32, 8, 128, 64, 72, 10, 768, 1536),
            32.21,
            8.80,
        ),
        (
            "H-Tiny",
            released(1536, 40, &HYB, 12, 4, 48, 64, 64, 6, 512, 1024),
            6.94,
            1.47,
        ),
        (
            "H-Micro",
            released(2048, 40, &HYB, 32, 8, 64, 64, 0, 0, 8192, 8192),
            3.19,
            3.19,
        ),
        (
            "H-1B",
            released(1536, 40, &HYB, 12, 4, 48, 64, 0, 0, 4096, 4096),
            1.46,
            1.46,
        ),
        (
            "H-350M",
            released(768, 32, &[10, 13, 17, 27], 12, 4, 48, 32, 0, 0, 2048, 2048),
            0.34,
            0.34,
        ),
        (
            "Micro",
            released(2560, 40, &all, 40, 8, 128, 40, 0, 0, 8192, 8192),
            3.40,
            3.40,
        ),
    ];
    for (name, v, total, active) in cases {
        let cfg = parse_config(&v);
        let f = weights_from_config(&cfg);
        assert_eq!(billions(f.total.params), total, "{name} total");
        assert_eq!(billions(f.total.active_params), active, "{name} active");
        assert_eq!(f.category(TensorCategory::LmHead).params, 0, "{name}: tied");
        let per_layer: u64 = f.layers.iter().map(|l| l.count.params).sum();
        let global = f.category(TensorCategory::TokenEmbeddings).params + cfg.hidden_size as u64;
        assert_eq!(
            per_layer + global,
            f.total.params,
            "{name}: layers + embedding + final norm"
        );
    }
    // bf16 size of H-Small ≈ 60.0 GiB (spec §1.3); the f16 storage has the same 2 bytes/param
    // apart from the f32 SSM vectors.
    let f = weights_from_config(&parse_config(&released(
        4096, 40, &HYB, 32, 8, 128, 64, 72, 10, 768, 1536,
    )));
    let gib = f.total.bytes as f64 / (1u64 << 30) as f64;
    assert!((gib - 60.0).abs() < 0.05, "{gib}");
    assert_eq!(
        f.total.bytes,
        2 * f.total.params + 2 * 36 * 3 * 128,
        "A_log/D/dt_bias at 4 bytes"
    );
}

#[test]
fn cache_figures_match_spec() {
    let small = parse_config(&released(4096, 40, &HYB, 32, 8, 128, 64, 72, 10, 768, 1536));
    let c = cache_figures(&small, 131072);
    assert_eq!(inspect::kv_bytes_per_token_per_layer(&small), 4096);
    assert_eq!(c.kv_bytes, 2 << 30, "KV @128k = 2 GiB");
    assert_eq!(c.conv_state_bytes, 36 * 25_344 * 4);
    assert_eq!(c.ssm_state_bytes, 36 * 1_048_576 * 4);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    assert!(
        (gib(c.total_bytes) - 2.14).abs() < 0.005,
        "{}",
        gib(c.total_bytes)
    );
    assert_eq!(c.all_attention_kv_bytes, 20 << 30);
    let tiny = parse_config(&released(1536, 40, &HYB, 12, 4, 48, 64, 64, 6, 512, 1024));
    let c = cache_figures(&tiny, 131072);
    assert!((gib(c.total_bytes) - 1.05).abs() < 0.005);
    let dense = parse_config(&tiny_dense());
    let c = cache_figures(&dense, 10);
    assert_eq!(
        (c.conv_state_bytes, c.ssm_state_bytes),
        (0, 0),
        "no mamba layer, no state"
    );
    assert_eq!(c.kv_bytes, c.all_attention_kv_bytes);
}

#[test]
fn header_counts_cross_check_config_formulas() {
    let mut untied_biased = tiny_hybrid();
    untied_biased["tie_word_embeddings"] = json!(false);
    untied_biased["attention_bias"] = json!(true);
    untied_biased["mamba_proj_bias"] = json!(true);
    untied_biased["mamba_conv_bias"] = json!(false);
    for v in [tiny_hybrid(), tiny_dense(), untied_biased] {
        let dir = TempDir::new("inspect");
        let cfg = write_model(dir.path(), &v);
        let w = ModelWeights::open(dir.path(), &cfg).unwrap();
        let from_headers = weights_from_headers(&cfg, w.infos());
        assert_eq!(from_headers, weights_from_config(&cfg));
        assert_eq!(from_headers.category(TensorCategory::Other).params, 0);
    }
}

#[test]
fn active_params_count_top_k_experts_only() {
    let cfg = parse_config(&tiny_hybrid());
    let f = weights_from_config(&cfg);
    let experts = f.category(TensorCategory::RoutedExperts);
    assert_eq!(experts.params, 4 * 4 * 3 * 8 * 16, "4 layers · E·3·I·H");
    assert_eq!(experts.active_params, experts.params / 2, "top-2 of 4");
    let router = f.category(TensorCategory::Router);
    assert_eq!(router.active_params, router.params);
    assert_eq!(
        f.total.params - f.total.active_params,
        experts.params - experts.active_params
    );
}

#[test]
fn unknown_and_tied_lm_head_tensors_are_not_counted() {
    let dir = TempDir::new("extra");
    let cfg = parse_config(&tiny_hybrid());
    let mut tensors = model_tensors(&cfg);
    tensors.push(RawTensor::bf16(
        "lm_head.weight",
        &[64, 16],
        &values(64 * 16, 1),
    ));
    tensors.push(RawTensor::bf16(
        "model.layers.0.extra.weight",
        &[3],
        &values(3, 1),
    ));
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    let f = weights_from_headers(&cfg, w.infos());
    assert_eq!(f.category(TensorCategory::Other).params, 3);
    assert_eq!(f.total, weights_from_config(&cfg).total);
}

#[test]
fn report_serializes() {
    let cfg = parse_config(&tiny_hybrid());
    let r = inspect::report(&cfg, &[0, 4096]);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["n_mamba_layers"], 2);
    assert_eq!(v["storage"]["weight_bytes_per_param"], 2);
    assert_eq!(v["cache"][1]["context"], 4096);
    assert_eq!(
        v["weights"]["categories"][0]["category"],
        "token_embeddings"
    );
    assert_eq!(v["weights"]["layers"][1]["kind"], "attention");
    assert!(v["weights"]["total"]["params"].as_u64().unwrap() > 0);
    assert_eq!(
        r.recurrent_state_bytes,
        r.cache[1].conv_state_bytes + r.cache[1].ssm_state_bytes
    );
}
