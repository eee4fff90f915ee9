//! Parsers of the structured `config.json` fields: layer types, RoPE/NoPE, time_step_limit, eos.
use serde_json::Value;

use super::config::{LayerKind, PositionEmbedding, TimeStepLimit};
use super::json::{self, Fields};
use crate::Result;

pub(super) fn parse_layer_types(f: &Fields, n_layers: usize) -> Result<Vec<LayerKind>> {
    let key = if f.get("layer_types").is_some_and(|v| !v.is_null()) {
        "layer_types"
    } else if f.get("layers_block_type").is_some_and(|v| !v.is_null()) {
        "layers_block_type"
    } else {
        // Class default: every layer is a mamba layer.
        return Ok(vec![LayerKind::Mamba; n_layers]);
    };
    let Some(Value::Array(items)) = f.get(key) else {
        return Err(f.err(key, "must be a list of \"mamba\"/\"attention\""));
    };
    if items.len() != n_layers {
        return Err(f.err(
            key,
            format!(
                "has {} entries but num_hidden_layers is {n_layers}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_str() {
            // transformers 5 re-saves them as "linear_attention" / "full_attention".
            Some("mamba" | "linear_attention") => Ok(LayerKind::Mamba),
            Some("attention" | "full_attention") => Ok(LayerKind::Attention),
            _ => Err(f.err(
                &format!("{key}[{i}]"),
                format!("unknown layer type {v} (expected \"mamba\" or \"attention\")"),
            )),
        })
        .collect()
}

/// `"rope"` → RoPE; `"nope"`, null or absent → none. RoPE variants other than the plain one are
/// rejected because the engine does not implement them; they are not checked for NoPE models.
pub(super) fn parse_position_embedding(f: &Fields) -> Result<PositionEmbedding> {
    match f.get("position_embedding_type") {
        None | Some(Value::Null) => return Ok(PositionEmbedding::None),
        Some(Value::String(s)) if s == "nope" => return Ok(PositionEmbedding::None),
        Some(Value::String(s)) if s == "rope" => {}
        Some(v) => {
            return Err(f.err(
                "position_embedding_type",
                format!("unknown value {v} (expected \"rope\", \"nope\" or null)"),
            ));
        }
    }
    let mut theta = f.f64("rope_theta", 10000.0)?;
    for key in ["rope_scaling", "rope_parameters"] {
        match f.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(params)) => {
                let kind = params.get("rope_type").or_else(|| params.get("type"));
                match kind {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) if s == "default" => {}
                    Some(v) => {
                        return Err(f.err(
                            key,
                            format!("RoPE type {v} is not supported (only the default RoPE is implemented)"),
                        ));
                    }
                }
                if let Some(t) = params.get("rope_theta") {
                    theta = json::as_f64(t).ok_or_else(|| {
                        f.err(
                            &format!("{key}.rope_theta"),
                            format!("must be a number, got {t}"),
                        )
                    })?;
                }
            }
            Some(v) => return Err(f.err(key, format!("must be an object or null, got {v}"))),
        }
    }
    if !(theta.is_finite() && theta > 0.0) {
        return Err(f.err(
            "rope_theta",
            format!("must be a positive number, got {theta}"),
        ));
    }
    Ok(PositionEmbedding::Rope { theta })
}

/// `[min, max]`; a null or infinite bound means unbounded on that side.
pub(super) fn parse_time_step_limit(f: &Fields) -> Result<Option<TimeStepLimit>> {
    let v = match f.get("time_step_limit") {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let bad = |why: &str| f.err("time_step_limit", format!("{why}, got {v}"));
    let Value::Array(a) = v else {
        return Err(bad("must be a [min, max] list"));
    };
    if a.len() != 2 {
        return Err(bad("must have exactly two entries [min, max]"));
    }
    let bound = |x: &Value, unbounded: f64| -> Result<f64> {
        match x {
            Value::Null => Ok(unbounded),
            other => json::as_f64(other).ok_or_else(|| bad("entries must be numbers or null")),
        }
    };
    let (min, max) = (bound(&a[0], 0.0)?, bound(&a[1], f64::INFINITY)?);
    if min.is_nan() || max.is_nan() || min > max || min == f64::INFINITY {
        return Err(bad("must satisfy min ≤ max without NaN"));
    }
    // Δ is a softplus output (≥ 0): a negative min is no bound, a negative max is nonsense,
    // and a min beyond f32 would clamp every Δ to +∞.
    let (min, max) = (min.max(0.0) as f32, max as f32);
    if max < 0.0 {
        return Err(bad("max must be ≥ 0 (Δ is non-negative)"));
    }
    if !min.is_finite() {
        return Err(bad("min must be a finite f32"));
    }
    Ok(Some(TimeStepLimit { min, max }))
}

pub(super) fn parse_eos(f: &Fields) -> Result<Vec<u32>> {
    match f.get("eos_token_id") {
        None => Ok(vec![2]),
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json::as_u32(v).ok_or_else(|| {
                    f.err(
                        &format!("eos_token_id[{i}]"),
                        format!("must be a token id, got {v}"),
                    )
                })
            })
            .collect(),
        Some(_) => Ok(vec![f.opt_u32("eos_token_id", None)?.unwrap_or(0)]),
    }
}
