//! Validation of a parsed [`ModelConfig`]: zero or inconsistent dimensions, bad multipliers,
//! and sanity limits, each reported as [`crate::Error::Config`] naming the JSON key. Mamba
//! fields are only checked when some layer is a mamba layer (dense configs carry leftovers).
use serde_json::Value;

use super::config::ModelConfig;
use super::json::Fields;
use crate::Result;

/// Cross-field checks; each error names the JSON key at fault.
pub(super) fn validate(c: &ModelConfig, f: &Fields) -> Result<()> {
    let nonzero = [
        ("vocab_size", c.vocab_size),
        ("hidden_size", c.hidden_size),
        ("num_hidden_layers", c.num_hidden_layers),
        ("num_attention_heads", c.num_attention_heads),
        ("num_key_value_heads", c.num_key_value_heads),
        ("shared_intermediate_size", c.shared_intermediate_size),
    ];
    for (field, v) in nonzero {
        if v == 0 {
            return Err(f.err(field, "must be greater than 0"));
        }
    }
    check_limits(c, f)?;
    if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(f.err(
            "num_attention_heads",
            format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            ),
        ));
    }
    if let Some(Value::Number(_)) = f.get("head_dim") {
        let hd = f.usize("head_dim", 0)?;
        if hd != c.head_dim {
            return Err(f.err(
                "head_dim",
                format!(
                    "{hd} differs from hidden_size/num_attention_heads = {}; not supported",
                    c.head_dim
                ),
            ));
        }
    }
    if !c.num_attention_heads.is_multiple_of(c.num_key_value_heads) {
        return Err(f.err(
            "num_key_value_heads",
            format!(
                "{} does not divide num_attention_heads {}",
                c.num_key_value_heads, c.num_attention_heads
            ),
        ));
    }
    for (field, v) in [
        ("attention_multiplier", c.attention_multiplier),
        ("embedding_multiplier", c.embedding_multiplier),
        ("residual_multiplier", c.residual_multiplier),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(f.err(
                field,
                format!("must be a finite non-negative number, got {v}"),
            ));
        }
    }
    for (field, v) in [
        ("logits_scaling", c.logits_scaling),
        ("rms_norm_eps", c.rms_norm_eps),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(f.err(field, format!("must be a finite number > 0, got {v}")));
        }
    }
    if c.has_experts() {
        let (e, k) = (c.num_local_experts, c.num_experts_per_tok);
        if k == 0 || k > e {
            return Err(f.err(
                "num_experts_per_tok",
                format!("must be between 1 and num_local_experts = {e}, got {k}"),
            ));
        }
        if c.intermediate_size == 0 {
            return Err(f.err(
                "intermediate_size",
                "must be greater than 0 when num_local_experts > 0",
            ));
        }
    }
    if c.has_mamba() {
        validate_mamba(c, f)?;
    }
    Ok(())
}

fn validate_mamba(c: &ModelConfig, f: &Fields) -> Result<()> {
    for (field, v) in [
        ("mamba_n_heads", c.mamba_n_heads),
        ("mamba_d_head", c.mamba_d_head),
        ("mamba_n_groups", c.mamba_n_groups),
        ("mamba_d_state", c.mamba_d_state),
        ("mamba_expand", c.mamba_expand),
        ("mamba_chunk_size", c.mamba_chunk_size),
    ] {
        if v == 0 {
            return Err(f.err(field, "must be greater than 0"));
        }
    }
    if c.mamba_d_conv < 1 {
        return Err(f.err(
            "mamba_d_conv",
            format!("must be at least 1, got {}", c.mamba_d_conv),
        ));
    }
    let want = c.mamba_expand.checked_mul(c.hidden_size);
    if c.mamba_n_heads.checked_mul(c.mamba_d_head) != want {
        return Err(f.err(
            "mamba_d_head",
            format!(
                "mamba_n_heads·mamba_d_head = {}·{} must equal mamba_expand·hidden_size = {}·{}",
                c.mamba_n_heads, c.mamba_d_head, c.mamba_expand, c.hidden_size
            ),
        ));
    }
    if !c.mamba_n_heads.is_multiple_of(c.mamba_n_groups) {
        return Err(f.err(
            "mamba_n_groups",
            format!(
                "mamba_n_heads {} is not divisible by mamba_n_groups {}",
                c.mamba_n_heads, c.mamba_n_groups
            ),
        ));
    }
    Ok(())
}

/// Most decoder layers accepted; also checked before the layer list is built from it.
pub(super) const MAX_LAYERS: usize = 1 << 12;

/// Upper bounds far above any real model, so that shape and size arithmetic can never
/// overflow on a hostile config.
fn check_limits(c: &ModelConfig, f: &Fields) -> Result<()> {
    const WIDTH: usize = 1 << 20;
    let mut limits = vec![
        ("vocab_size", c.vocab_size, 1 << 24),
        ("hidden_size", c.hidden_size, WIDTH),
        ("num_hidden_layers", c.num_hidden_layers, MAX_LAYERS),
        ("num_attention_heads", c.num_attention_heads, 1 << 12),
        ("num_key_value_heads", c.num_key_value_heads, 1 << 12),
        ("num_local_experts", c.num_local_experts, 1 << 12),
        ("intermediate_size", c.intermediate_size, WIDTH),
        (
            "shared_intermediate_size",
            c.shared_intermediate_size,
            WIDTH,
        ),
    ];
    if c.has_mamba() {
        limits.extend([
            ("mamba_n_heads", c.mamba_n_heads, 1 << 14),
            ("mamba_d_head", c.mamba_d_head, 1 << 14),
            ("mamba_n_groups", c.mamba_n_groups, 1 << 14),
            ("mamba_d_state", c.mamba_d_state, 1 << 14),
            ("mamba_d_conv", c.mamba_d_conv, 1 << 10),
            ("mamba_expand", c.mamba_expand, 1 << 6),
        ]);
    }
    for (field, v, max) in limits {
        if v > max {
            return Err(f.err(field, format!("{v} exceeds the sanity limit {max}")));
        }
    }
    Ok(())
}
