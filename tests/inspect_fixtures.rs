//! `granite inspect --json` on every fixture (and the bundled model) against an independent count
//! of the parameters in the safetensors headers.
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Parameters per file, read straight from the safetensors header (8-byte length + JSON).
fn header_params(dir: &Path, tied: bool) -> (u64, u64) {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let (mut total, mut experts) = (0u64, 0u64);
    for (name, t) in &header {
        if name == "__metadata__" || (tied && name == "lm_head.weight") {
            continue;
        }
        let numel: u64 = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .product();
        total += numel;
        if name.contains("block_sparse_moe.input_linear")
            || name.contains("block_sparse_moe.output_linear")
        {
            experts += numel;
        }
    }
    (total, experts)
}

#[test]
fn inspect_figures_match_the_safetensors_headers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        "tests/fixtures/moe_nope",
        "tests/fixtures/dense_rope",
        "tests/fixtures/attn_only",
        "tests/fixtures/mamba_groups",
        "assets/granite-austen",
    ];
    for d in dirs {
        let dir = root.join(d);
        let out = Command::new(env!("CARGO_BIN_EXE_granite"))
            .args(["inspect", "--json", "--model"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{d}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let cfg = &v["config"];
        let tied = cfg["tie_word_embeddings"].as_bool().unwrap();
        let (total, experts) = header_params(&dir, tied);
        let got = v["weights"]["total"]["params"].as_u64().unwrap();
        assert_eq!(got, total, "{d}: total parameters, inspect vs header count");
        assert_eq!(
            v["weights_from_headers"]["total"]["params"]
                .as_u64()
                .unwrap(),
            total,
            "{d}: inspect's own header count"
        );
        // Active = everything but the unchosen experts.
        let (e, k) = (
            cfg["num_local_experts"].as_u64().unwrap(),
            cfg["num_experts_per_tok"].as_u64().unwrap(),
        );
        let active = (experts * k)
            .checked_div(e)
            .map_or(total, |routed| total - experts + routed);
        assert_eq!(
            v["weights"]["total"]["active_params"].as_u64().unwrap(),
            active,
            "{d}: active parameters"
        );
        // The cache table: KV grows with the context, recurrent state does not.
        let c = v["cache"].as_array().unwrap();
        assert!(c.len() >= 2);
        assert!(
            c[1]["kv_bytes"].as_u64() > c[0]["kv_bytes"].as_u64()
                || cfg["layer_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|t| t == "mamba")
        );
        assert_eq!(
            c[0]["ssm_state_bytes"], c[1]["ssm_state_bytes"],
            "{d}: SSM state must not depend on the context"
        );
    }
}
