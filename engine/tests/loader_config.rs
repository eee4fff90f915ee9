//! config.json parsing: both layer-list keys, defaults, RoPE/NoPE, time_step_limit, shapes.
mod loader_common;

use std::path::Path;

use granite_engine::model_files::{LayerKind, ModelConfig, PositionEmbedding};
use loader_common::config::{bad, parse, with, without};
use loader_common::*;
use serde_json::{Value, json};

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
