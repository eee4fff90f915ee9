//! config.json parsing: both layer-list keys, defaults, RoPE/NoPE, time_step_limit, and every
//! malformed case named in the issue (the error must name config.json and the field).
mod loader_common;

use std::path::Path;

use granite_engine::model_files::{LayerKind, ModelConfig, PositionEmbedding};
use loader_common::*;
use serde_json::{Value, json};

fn parse(v: &Value) -> Result<ModelConfig, granite_engine::Error> {
    ModelConfig::from_json_str(&v.to_string(), Path::new("/m/config.json"))
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v.as_object_mut().unwrap().insert(key.into(), val);
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

fn bad(v: Value, field: &str, extra: &[&str]) -> String {
    let mut needles = vec!["config.json", field];
    needles.extend_from_slice(extra);
    assert_err_contains(parse(&v), &needles)
}

#[test]
fn tiny_hybrid_parses_with_derived_dims() {
    let c = parse(&tiny_hybrid()).unwrap();
    use LayerKind::*;
    assert_eq!(c.layer_types, vec![Mamba, Attention, Mamba, Attention]);
    assert_eq!((c.head_dim, c.q_dim(), c.kv_dim()), (4, 16, 8));
    assert_eq!((c.d_inner(), c.conv_dim(), c.in_proj_rows()), (32, 48, 84));
    assert_eq!((c.n_attention_layers(), c.n_mamba_layers()), (2, 2));
    assert!(c.has_experts() && c.has_mamba());
    assert_eq!(c.position_embedding, PositionEmbedding::None);
    assert_eq!(c.eos_token_ids, vec![60]);
    assert_eq!((c.bos_token_id, c.pad_token_id), (Some(60), Some(61)));
    assert_eq!(c.time_step_limit, None);
    assert_eq!(c.dt_clamp(), None);
}

#[test]
fn older_layers_block_type_key_is_accepted() {
    let v = without(tiny_hybrid(), "layer_types");
    let v = with(
        v,
        "layers_block_type",
        json!(["attention", "mamba", "mamba", "mamba"]),
    );
    let c = parse(&v).unwrap();
    assert_eq!(c.layer_types[0], LayerKind::Attention);
    assert_eq!(c.n_mamba_layers(), 3);
}

#[test]
fn absent_keys_take_class_defaults() {
    let c = parse(&json!({"model_type": "granitemoehybrid"})).unwrap();
    assert_eq!(c.layer_types, vec![LayerKind::Mamba; 32]);
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.num_hidden_layers),
        (32000, 4096, 32)
    );
    assert_eq!((c.num_attention_heads, c.num_key_value_heads), (32, 32));
    assert_eq!(c.rms_norm_eps, 1e-6);
    assert_eq!((c.num_local_experts, c.num_experts_per_tok), (8, 2));
    assert_eq!(
        (c.intermediate_size, c.shared_intermediate_size),
        (11008, 1024)
    );
    assert_eq!(
        (c.mamba_n_heads, c.mamba_d_head, c.mamba_d_state),
        (128, 64, 256)
    );
    assert!(c.mamba_conv_bias && !c.mamba_proj_bias && !c.tie_word_embeddings);
    assert_eq!(
        (c.bos_token_id, c.eos_token_ids.clone()),
        (Some(1), vec![2])
    );
    assert_eq!(c.pad_token_id, None);
}

#[test]
fn kv_heads_null_defaults_to_heads_and_d_head_auto() {
    let v = with(tiny_hybrid(), "num_key_value_heads", Value::Null);
    let v = with(v, "mamba_d_head", json!("auto"));
    let c = parse(&v).unwrap();
    assert_eq!(c.num_key_value_heads, 4);
    assert_eq!(c.mamba_d_head, 8);
}

#[test]
fn eos_may_be_a_list_or_null() {
    let c = parse(&with(tiny_hybrid(), "eos_token_id", json!([60, 62]))).unwrap();
    assert_eq!(c.eos_token_ids, vec![60, 62]);
    let c = parse(&with(tiny_hybrid(), "eos_token_id", Value::Null)).unwrap();
    assert!(c.eos_token_ids.is_empty());
    bad(
        with(tiny_hybrid(), "eos_token_id", json!([1, "x"])),
        "eos_token_id[1]",
        &[],
    );
}

#[test]
fn rope_variants() {
    let c = parse(&tiny_dense()).unwrap();
    assert_eq!(c.rope_theta(), Some(1e7));
    let v = without(tiny_dense(), "rope_theta");
    let v = with(
        v,
        "rope_parameters",
        json!({"rope_type": "default", "rope_theta": 500000.0}),
    );
    assert_eq!(parse(&v).unwrap().rope_theta(), Some(5e5));
    let v = with(tiny_dense(), "rope_scaling", json!({"type": "default"}));
    assert!(parse(&v).is_ok());
    bad(
        with(
            tiny_dense(),
            "rope_scaling",
            json!({"type": "linear", "factor": 2.0}),
        ),
        "rope_scaling",
        &["linear"],
    );
    bad(
        with(
            tiny_dense(),
            "rope_parameters",
            json!({"rope_type": "yarn"}),
        ),
        "rope_parameters",
        &["yarn"],
    );
    // NoPE models ignore RoPE settings entirely.
    let v = with(tiny_hybrid(), "rope_scaling", json!({"type": "linear"}));
    assert_eq!(
        parse(&v).unwrap().position_embedding,
        PositionEmbedding::None
    );
    for pe in [Value::Null, json!("nope")] {
        let c = parse(&with(tiny_dense(), "position_embedding_type", pe)).unwrap();
        assert_eq!(c.rope_theta(), None);
    }
    bad(
        with(tiny_hybrid(), "position_embedding_type", json!("alibi")),
        "position_embedding_type",
        &["alibi"],
    );
}

#[test]
fn time_step_limit_forms() {
    // Python's json.dump writes Infinity literally.
    let text = tiny_hybrid()
        .to_string()
        .replacen('{', "{\"time_step_limit\": [0.0, Infinity],", 1);
    let c = ModelConfig::from_json_str(&text, Path::new("config.json")).unwrap();
    let l = c.time_step_limit.unwrap();
    assert_eq!((l.min, l.max), (0.0, f32::INFINITY));
    assert_eq!(c.dt_clamp(), None, "(0, inf) is no clamp");
    let c = parse(&with(
        tiny_hybrid(),
        "time_step_limit",
        json!([0.001, 100.0]),
    ))
    .unwrap();
    assert_eq!(c.dt_clamp(), Some((0.001, 100.0)));
    let c = parse(&with(tiny_hybrid(), "time_step_limit", json!([null, 5]))).unwrap();
    assert_eq!(c.dt_clamp(), Some((0.0, 5.0)));
    bad(
        with(tiny_hybrid(), "time_step_limit", json!([2.0, 1.0])),
        "time_step_limit",
        &[],
    );
    bad(
        with(tiny_hybrid(), "time_step_limit", json!([1.0])),
        "time_step_limit",
        &[],
    );
    bad(
        with(tiny_hybrid(), "time_step_limit", json!("wide")),
        "time_step_limit",
        &[],
    );
}

#[test]
fn dense_config_ignores_leftover_mamba_fields() {
    let c = parse(&tiny_dense()).unwrap();
    assert!(!c.has_mamba() && !c.has_experts());
    assert_eq!(c.n_attention_layers(), 2);
}

#[test]
fn unknown_extra_fields_are_ignored() {
    let v = with(tiny_hybrid(), "some_future_key", json!({"x": [1, 2]}));
    assert!(parse(&v).is_ok());
}

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

/// The spec §1.2 H-Small / H-Tiny / H-350M numbers give the §3 in_proj shapes.
#[test]
fn released_model_shapes() {
    let cases = [
        (4096, 128, 64, 16768),
        (1536, 48, 64, 6448),
        (2048, 64, 64, 8512),
        (768, 48, 32, 3376),
    ];
    for (hidden, nh, p, rows) in cases {
        let v = json!({"model_type": "granitemoehybrid", "hidden_size": hidden, "num_attention_heads": hidden / 64,
                       "mamba_n_heads": nh, "mamba_d_head": p, "mamba_d_state": 128, "num_hidden_layers": 2});
        assert_eq!(parse(&v).unwrap().in_proj_rows(), rows, "hidden {hidden}");
    }
}
