//! Cache and weight figures per layer, and the "what if every layer were attention" comparison,
//! all from the engine's inspect formulas so the viewer and `granite inspect` agree.
use granite_engine::inspect::{self, cache_figures, kv_bytes_per_token_per_layer};
use granite_engine::{LayerKind, ModelConfig};

/// The feed-forward part of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ffn {
    /// Routed experts (plus the shared MLP).
    Moe { experts: usize, top_k: usize },
    /// Only the shared MLP.
    Dense,
}

pub fn ffn(cfg: &ModelConfig) -> Ffn {
    if cfg.has_experts() {
        Ffn::Moe {
            experts: cfg.num_local_experts,
            top_k: cfg.num_experts_per_tok,
        }
    } else {
        Ffn::Dense
    }
}

/// (conv state, SSM state) bytes of one Mamba layer: fixed, whatever the context.
pub fn mamba_state_bytes_per_layer(cfg: &ModelConfig) -> (u64, u64) {
    let n = cfg.n_mamba_layers() as u64;
    if n == 0 {
        return (0, 0);
    }
    let c = cache_figures(cfg, 0);
    (c.conv_state_bytes / n, c.ssm_state_bytes / n)
}

/// Cache bytes of one layer of kind `kind` holding `context` tokens.
pub fn layer_cache_bytes(cfg: &ModelConfig, kind: LayerKind, context: u64) -> u64 {
    match kind {
        LayerKind::Attention => kv_bytes_per_token_per_layer(cfg) * context,
        LayerKind::Mamba => {
            let (conv, ssm) = mamba_state_bytes_per_layer(cfg);
            conv + ssm
        }
    }
}

/// The hybrid's caches against the same model with every layer attention, at one context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub context: u64,
    /// KV + conv + SSM state of the model as it is.
    pub hybrid: u64,
    /// KV of every layer, had each been attention with the same heads.
    pub all_attention: u64,
}

impl Comparison {
    pub fn at(cfg: &ModelConfig, context: u64) -> Self {
        let c = cache_figures(cfg, context);
        Self {
            context,
            hybrid: c.total_bytes,
            all_attention: c.all_attention_kv_bytes,
        }
    }
    /// Bytes saved by the hybrid (negative when the recurrent state outweighs the KV).
    pub fn saving(&self) -> i128 {
        self.all_attention as i128 - self.hybrid as i128
    }
    /// all-attention / hybrid, when the hybrid holds anything.
    pub fn ratio(&self) -> Option<f64> {
        (self.hybrid > 0).then(|| self.all_attention as f64 / self.hybrid as f64)
    }
}

/// Per-layer weight bytes from the config (what the engine uploads: f16, SSM vectors f32).
pub fn layer_weight_bytes(cfg: &ModelConfig) -> Vec<u64> {
    inspect::weights_from_config(cfg)
        .layers
        .iter()
        .map(|l| l.count.bytes)
        .collect()
}

/// "1.23 MiB": three significant digits, binary units.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// Inverse of [`format_bytes`] (approximately), for tests reading figures off the screen.
pub fn parse_bytes(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let v: f64 = parts.next()?.parse().ok()?;
    let mult = match parts.next()? {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        _ => return None,
    };
    Some(v * mult)
}

/// A round number ≥ `x` from the 1-2-5 series (bar scales that rescale rarely).
pub fn nice_ceiling(x: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if s >= x {
                return s;
            }
        }
        if step > u64::MAX / 10 {
            return u64::MAX;
        }
        step *= 10;
    }
}

/// "131072" → 128k-style labels for context lengths.
pub fn format_tokens(n: u64) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{}k", n / 1024)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.00 KiB");
        assert_eq!(format_bytes(1536 * 1024), "1.50 MiB");
        assert_eq!(format_bytes(200 * 1024 * 1024 * 1024), "200 GiB");
        for b in [5u64, 2048, 3_000_000, 7_000_000_000] {
            let back = parse_bytes(&format_bytes(b)).unwrap();
            assert!((back - b as f64).abs() / (b as f64) < 0.01, "{b} vs {back}");
        }
        assert_eq!(parse_bytes("12 apples"), None);
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(500), 500);
        assert_eq!(nice_ceiling(501), 1000);
        assert_eq!(format_tokens(131072), "128k");
        assert_eq!(format_tokens(100), "100");
    }
}
