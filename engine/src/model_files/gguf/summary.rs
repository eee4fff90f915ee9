//! What `inspect FILE.gguf` shows: the metadata scalars used, and the tensor types per
//! category (e.g. `mamba: Q4_K ×56, F32 ×112`).
use std::collections::BTreeMap;

use serde::Serialize;

use super::file::GgufFile;
use super::value::Value;
use crate::model_files::config::ModelConfig;
use crate::model_files::tensors::TensorCategory;

#[derive(Clone, Debug, Serialize)]
pub struct TypeCount {
    pub category: TensorCategory,
    pub ty: String,
    pub tensors: usize,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub version: u32,
    pub alignment: u64,
    pub tensor_count: usize,
    /// Every metadata key with a short rendering of its value (arrays: type and length).
    pub metadata: Vec<(String, String)>,
    pub types: Vec<TypeCount>,
}

impl Summary {
    pub fn new(f: &GgufFile, cfg: &ModelConfig) -> Summary {
        let c = &f.container;
        let metadata = c
            .kvs
            .iter()
            .map(|(k, v)| (k.clone(), render(f, v)))
            .collect();
        let mut types: BTreeMap<(TensorCategory, String), (usize, u64)> = BTreeMap::new();
        for t in &c.tensors {
            let e = types
                .entry((category(&t.name, cfg), t.ty.name.to_string()))
                .or_default();
            e.0 += 1;
            e.1 += t.data.len() as u64;
        }
        Summary {
            version: c.version,
            alignment: c.alignment,
            tensor_count: c.tensors.len(),
            metadata,
            types: types
                .into_iter()
                .map(|((category, ty), (tensors, bytes))| TypeCount {
                    category,
                    ty,
                    tensors,
                    bytes,
                })
                .collect(),
        }
    }
}

fn render(f: &GgufFile, v: &Value) -> String {
    match v {
        Value::Int { v, .. } => v.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Str(r) => {
            let s = String::from_utf8_lossy(&f.bytes()[r.clone()]);
            if s.chars().count() > 60 {
                format!(
                    "{:?}… ({} bytes)",
                    s.chars().take(60).collect::<String>(),
                    r.len()
                )
            } else {
                format!("{s:?}")
            }
        }
        Value::Array(a) => format!("[{} × {}]", a.len, a.elem.name()),
    }
}

/// The category of a GGUF tensor name (ours are classified by `tensors::categorize`).
fn category(name: &str, cfg: &ModelConfig) -> TensorCategory {
    use TensorCategory::*;
    let part = name
        .strip_prefix("blk.")
        .and_then(|r| r.split_once('.'))
        .map(|(_, p)| p);
    match (name, part) {
        ("token_embd.weight", _) => TokenEmbeddings,
        ("output_norm.weight", _) => Norms,
        ("output.weight", _) => LmHead,
        (_, Some(p)) if p.starts_with("attn_norm") || p.starts_with("ffn_norm") => Norms,
        (_, Some(p)) if p.starts_with("attn_") => Attention,
        (_, Some(p)) if p.starts_with("ssm_") => Mamba,
        (_, Some(p)) if p.starts_with("ffn_gate_inp") => Router,
        (_, Some(p)) if p.contains("_exps") => RoutedExperts,
        (_, Some(p)) if p.starts_with("ffn_") && (p.contains("shexp") || !cfg.has_experts()) => {
            SharedMlp
        }
        _ => Other,
    }
}

impl Summary {
    /// The plain-text block `granite inspect FILE.gguf` prints: container facts, metadata,
    /// tensor types per category, then every assumption.
    pub fn text(&self, assumptions: &[String]) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "GGUF v{}, alignment {}, {} tensors\nmetadata:\n",
            self.version, self.alignment, self.tensor_count
        );
        for (k, v) in &self.metadata {
            let _ = writeln!(s, "  {k} = {v}");
        }
        s.push_str("tensor types (stored; quantized types are expanded to f16 on upload):\n");
        for t in &self.types {
            let _ = writeln!(
                s,
                "  {:?}: {} ×{} ({} bytes)",
                t.category, t.ty, t.tensors, t.bytes
            );
        }
        s.push_str("assumptions:\n");
        if assumptions.is_empty() {
            s.push_str("  none\n");
        }
        for a in assumptions {
            let _ = writeln!(s, "  {a}");
        }
        s
    }
}
