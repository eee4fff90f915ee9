//! Bytes → `ModelConfig::from_json_str`, then everything derived from an accepted config: the
//! dimension helpers, `expected_tensors`, the `inspect` figures (at the usual contexts and at
//! the model's own max_position_embeddings) and their JSON. Nothing may panic (debug assertions
//! catch arithmetic overflow), an accepted config must be internally consistent, and a rejected
//! one must name config.json.
#![no_main]
use std::collections::HashSet;
use std::path::Path;

use granite_engine::model_files::{
    LayerKind, ModelConfig, PositionEmbedding, expected_tensors, inspect,
};
use granite_fuzz::assert_names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = match ModelConfig::from_json_str(text, Path::new("config.json")) {
        Ok(cfg) => cfg,
        Err(e) => return assert_names(&e, "config.json"),
    };

    let n = cfg.num_hidden_layers;
    assert_eq!(cfg.layer_types.len(), n);
    assert_eq!(cfg.n_attention_layers() + cfg.n_mamba_layers(), n);
    assert_eq!(cfg.head_dim * cfg.num_attention_heads, cfg.hidden_size);
    assert!(cfg.head_dim > 0 && cfg.num_key_value_heads > 0);
    assert_eq!(cfg.num_attention_heads % cfg.num_key_value_heads, 0);
    assert!(cfg.q_dim() > 0 && cfg.kv_dim() > 0);
    if cfg.has_experts() {
        assert!((1..=cfg.num_local_experts).contains(&cfg.num_experts_per_tok));
    }
    if cfg.has_mamba() {
        assert_eq!(
            Some(cfg.d_inner()),
            cfg.mamba_expand.checked_mul(cfg.hidden_size)
        );
        assert!(
            cfg.in_proj_rows() < usize::MAX / 4,
            "in_proj_rows saturated"
        );
        assert_eq!(cfg.mamba_n_heads % cfg.mamba_n_groups, 0);
    }
    for v in [cfg.rms_norm_eps, cfg.logits_scaling] {
        assert!(v.is_finite() && v > 0.0);
    }
    for v in [
        cfg.attention_multiplier,
        cfg.embedding_multiplier,
        cfg.residual_multiplier,
    ] {
        assert!(v.is_finite() && v >= 0.0);
    }
    if let PositionEmbedding::Rope { theta } = cfg.position_embedding {
        assert!(theta.is_finite() && theta > 0.0);
    }
    if let Some((lo, hi)) = cfg.dt_clamp() {
        assert!(
            lo.is_finite() && lo >= 0.0 && lo <= hi,
            "dt clamp ({lo}, {hi})"
        );
        let _ = 1.0f32.clamp(lo, hi);
    }

    let specs = expected_tensors(&cfg);
    let mut names = HashSet::new();
    for s in &specs {
        assert!(names.insert(s.name.as_str()), "duplicate tensor {}", s.name);
        let bytes = s.shape.iter().try_fold(4usize, |a, &d| a.checked_mul(d));
        assert!(
            bytes.is_some(),
            "{} {:?}: f32 byte size overflows",
            s.name,
            s.shape
        );
        assert!(
            s.shape.iter().all(|&d| d > 0),
            "{} {:?}: empty dim",
            s.name,
            s.shape
        );
    }
    for (i, kind) in cfg.layer_types.iter().enumerate() {
        let mixer = if *kind == LayerKind::Mamba {
            ".mamba."
        } else {
            ".self_attn."
        };
        let prefix = format!("model.layers.{i}.");
        assert!(
            specs
                .iter()
                .any(|s| s.name.starts_with(&prefix) && s.name.contains(mixer))
        );
    }

    let contexts = [0, 1, 4096, 131072, cfg.max_position_embeddings as u64];
    let report = inspect::report(&cfg, &contexts);
    assert_eq!(report.n_layers, n);
    let total = report.weights.total;
    assert!(total.active_params <= total.params && total.bytes >= total.params);
    serde_json::to_string(&report).expect("report to JSON");
    serde_json::to_string(&cfg).expect("config to JSON");
});
