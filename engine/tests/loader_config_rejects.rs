//! Malformed config.json cases from the issue: each error must name config.json and the field.
mod loader_common;

use std::path::Path;

use granite_engine::model_files::ModelConfig;
use loader_common::config::{bad, parse, with, without};
use loader_common::*;
use serde_json::{Value, json};

#[test]
fn model_type_must_be_granitemoehybrid() {
    bad(
        with(tiny_hybrid(), "model_type", json!("llama")),
        "model_type",
        &["llama"],
    );
    bad(
        without(tiny_hybrid(), "model_type"),
        "model_type",
        &["missing"],
    );
}

#[test]
fn zero_dims_are_rejected() {
    for key in [
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
    ] {
        let v = with(tiny_hybrid(), key, json!(0));
        let v = if key == "num_hidden_layers" {
            with(v, "layer_types", json!([]))
        } else {
            v
        };
        bad(v, key, &["greater than 0"]);
    }
    for key in ["mamba_n_heads", "mamba_d_state", "mamba_n_groups"] {
        bad(with(tiny_hybrid(), key, json!(0)), key, &[]);
    }
    bad(
        with(tiny_hybrid(), "mamba_d_conv", json!(0)),
        "mamba_d_conv",
        &["at least 1"],
    );
}

#[test]
fn head_divisibility() {
    bad(
        with(tiny_hybrid(), "num_attention_heads", json!(5)),
        "num_attention_heads",
        &["divisible"],
    );
    bad(
        with(tiny_hybrid(), "num_key_value_heads", json!(3)),
        "num_key_value_heads",
        &["divide"],
    );
    bad(with(tiny_hybrid(), "head_dim", json!(8)), "head_dim", &[]);
    assert!(parse(&with(tiny_hybrid(), "head_dim", json!(4))).is_ok());
}

#[test]
fn layer_types_problems() {
    bad(
        with(tiny_hybrid(), "layer_types", json!(["mamba", "attention"])),
        "layer_types",
        &["2 entries", "4"],
    );
    bad(
        with(
            tiny_hybrid(),
            "layer_types",
            json!(["mamba", "attention", "mlp", "mamba"]),
        ),
        "layer_types[2]",
        &["mlp"],
    );
    bad(
        with(tiny_hybrid(), "layer_types", json!("mamba")),
        "layer_types",
        &[],
    );
}

#[test]
fn mamba_consistency() {
    bad(
        with(tiny_hybrid(), "mamba_d_head", json!(7)),
        "mamba_d_head",
        &["mamba_expand"],
    );
    let v = with(
        with(tiny_hybrid(), "mamba_n_heads", json!(5)),
        "mamba_d_head",
        json!("auto"),
    );
    bad(v, "mamba_d_head", &["auto"]);
    bad(
        with(tiny_hybrid(), "mamba_n_groups", json!(3)),
        "mamba_n_groups",
        &["divisible"],
    );
}

#[test]
fn expert_counts() {
    bad(
        with(tiny_hybrid(), "num_experts_per_tok", json!(5)),
        "num_experts_per_tok",
        &["between 1 and"],
    );
    bad(
        with(tiny_hybrid(), "num_experts_per_tok", json!(0)),
        "num_experts_per_tok",
        &[],
    );
    bad(
        with(tiny_hybrid(), "intermediate_size", json!(0)),
        "intermediate_size",
        &[],
    );
}

#[test]
fn multipliers_and_eps() {
    for key in [
        "attention_multiplier",
        "embedding_multiplier",
        "residual_multiplier",
        "logits_scaling",
    ] {
        bad(with(tiny_hybrid(), key, json!(-1.0)), key, &["-1"]);
    }
    let text = tiny_hybrid().to_string().replace(
        "\"residual_multiplier\":0.22",
        "\"residual_multiplier\":NaN",
    );
    assert_err_contains(
        ModelConfig::from_json_str(&text, Path::new("config.json")),
        &["residual_multiplier", "NaN"],
    );
    bad(
        with(tiny_hybrid(), "rms_norm_eps", json!(0.0)),
        "rms_norm_eps",
        &[],
    );
    bad(
        with(tiny_hybrid(), "rms_norm_eps", json!(-1e-5)),
        "rms_norm_eps",
        &[],
    );
    bad(
        with(tiny_hybrid(), "logits_scaling", json!(0)),
        "logits_scaling",
        &[],
    );
}

#[test]
fn types_and_activation() {
    bad(
        with(tiny_hybrid(), "hidden_size", json!("16")),
        "hidden_size",
        &["integer"],
    );
    bad(
        with(tiny_hybrid(), "hidden_size", json!(16.5)),
        "hidden_size",
        &[],
    );
    bad(
        with(tiny_hybrid(), "hidden_size", Value::Null),
        "hidden_size",
        &[],
    );
    bad(
        with(tiny_hybrid(), "tie_word_embeddings", json!(1)),
        "tie_word_embeddings",
        &[],
    );
    bad(
        with(tiny_hybrid(), "hidden_act", json!("gelu")),
        "hidden_act",
        &["gelu"],
    );
    bad(
        with(tiny_hybrid(), "hidden_size", json!(1u64 << 40)),
        "hidden_size",
        &["sanity limit"],
    );
}

#[test]
fn not_json_or_not_object() {
    assert_err_contains(
        ModelConfig::from_json_str("{", Path::new("/m/config.json")),
        &["config.json", "JSON"],
    );
    assert_err_contains(
        ModelConfig::from_json_str("[1]", Path::new("/m/config.json")),
        &["config.json", "object"],
    );
    assert_err_contains(
        ModelConfig::load(Path::new("/nonexistent-granite-dir")),
        &["config.json"],
    );
}
