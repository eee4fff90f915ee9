//! Regression tests for what fuzzing the config.json loader found (see fuzz/README.md), plus
//! the hostile-input cases the fuzz targets check for. Crashing inputs the fuzzer wrote are
//! kept byte for byte in tests/fixtures/fuzz-regressions/. Each case must end in an `Error`
//! whose message names the file and the field or value at fault: never a panic, an abort on a
//! huge allocation, a hang or a silently wrong value.
mod loader_common;

use std::path::Path;

use granite_engine::Error;
use granite_engine::model_files::{ModelConfig, inspect};
use loader_common::*;
use serde_json::json;

fn config(text: &str) -> Result<ModelConfig, Error> {
    ModelConfig::from_json_str(text, Path::new("config.json"))
}

fn config_with(key: &str, value: serde_json::Value) -> Result<ModelConfig, Error> {
    let mut v = tiny_hybrid();
    v[key] = value;
    config(&v.to_string())
}

/// Fuzzer find (config_json): a valid config with a huge `max_position_embeddings` made the
/// `inspect` cache figures at that context overflow (`attempt to multiply with overflow` with
/// debug assertions, a wrapped, wrong byte count in release).
#[test]
fn huge_max_position_embeddings_saturates_inspect_figures() {
    for file in [
        "config_json-max_position_embeddings-overflow-1.json",
        "config_json-max_position_embeddings-overflow-2.json",
    ] {
        let text = String::from_utf8(regression(file)).unwrap();
        let cfg = config(&text).unwrap();
        let ctx = cfg.max_position_embeddings as u64;
        assert!(ctx > 1 << 60, "{file}");
        let report = inspect::report(&cfg, &[4096, ctx]);
        if cfg.n_attention_layers() > 0 {
            assert_eq!(
                report.cache[1].kv_bytes,
                u64::MAX,
                "{file}: saturates, not wraps"
            );
            assert_eq!(report.cache[1].total_bytes, u64::MAX);
        }
        assert_eq!(report.cache[1].all_attention_kv_bytes, u64::MAX);
        assert!(report.cache[0].kv_bytes < u64::MAX);
    }
    // And straight from a user-chosen context (`granite inspect --context`).
    let cfg = config(&tiny_hybrid().to_string()).unwrap();
    let c = inspect::cache_figures(&cfg, u64::MAX);
    assert_eq!((c.kv_bytes, c.total_bytes), (u64::MAX, u64::MAX));
}

/// Review find: `num_hidden_layers` sized an allocation (the default all-mamba layer list)
/// before its sanity limit was checked: 2^40 aborted on a 1 TiB allocation, 2^64-1 panicked
/// with "capacity overflow".
#[test]
fn huge_num_hidden_layers_is_a_field_error_not_an_allocation() {
    for n in ["1099511627776", "18446744073709551615", "4097"] {
        let text = format!(r#"{{"model_type": "granitemoehybrid", "num_hidden_layers": {n}}}"#);
        assert_err_contains(
            config(&text),
            &["config.json", "num_hidden_layers", n, "sanity limit 4096"],
        );
    }
    // With an explicit list the length check catches it, also without allocating.
    assert_err_contains(
        config_with("num_hidden_layers", json!(1u64 << 40)),
        &["config.json", "num_hidden_layers"],
    );
}

/// The issue's example: dimensions near 2^62 are errors naming the field, not overflow panics
/// in the derived sizes.
#[test]
fn huge_dimensions_are_field_errors() {
    let big = 1u64 << 62;
    for key in [
        "hidden_size",
        "vocab_size",
        "intermediate_size",
        "shared_intermediate_size",
        "num_attention_heads",
        "num_key_value_heads",
        "num_local_experts",
        "mamba_n_heads",
        "mamba_d_state",
        "mamba_n_groups",
        "mamba_expand",
        "mamba_d_conv",
    ] {
        assert_err_contains(
            config_with(key, json!(big)),
            &["config.json", &format!("field `{key}`"), "sanity limit"],
        );
    }
    assert_err_contains(
        config_with("hidden_size", json!(big)),
        &[
            "config.json",
            "field `hidden_size`",
            "4611686018427387904",
            "sanity limit",
        ],
    );
    // mamba_d_head = "auto" with hidden_size·mamba_expand beyond usize saturates, then fails.
    let mut v = tiny_hybrid();
    v["mamba_d_head"] = json!("auto");
    v["hidden_size"] = json!(u64::MAX);
    assert_err_contains(config(&v.to_string()), &["config.json", "mamba_d_head"]);
}

/// Review find: `time_step_limit` values that pass `min ≤ max` in f64 but are meaningless for
/// the Δ clamp: a negative max gave the clamp (0, max) with min > max (f32::clamp panics on
/// that), and a min beyond f32 became +∞, clamping every Δ to +∞.
#[test]
fn time_step_limit_must_be_a_usable_clamp() {
    for (limit, needle) in [
        (json!([-2.0, -1.0]), "max must be ≥ 0"),
        (json!([-1.0, -0.5]), "max must be ≥ 0"),
        (json!([1e300, null]), "finite f32"),
        (json!([1e39, 1e40]), "finite f32"),
    ] {
        assert_err_contains(
            config_with("time_step_limit", limit.clone()),
            &["config.json", "field `time_step_limit`", needle],
        );
    }
    // Still accepted: negative min (no lower bound), a max beyond f32 (no upper bound).
    let c = config_with("time_step_limit", json!([-1.0, 1e300])).unwrap();
    assert_eq!(c.dt_clamp(), None);
    let c = config_with("time_step_limit", json!([0.5, 0.5])).unwrap();
    assert_eq!(c.dt_clamp(), Some((0.5, 0.5)));
}
