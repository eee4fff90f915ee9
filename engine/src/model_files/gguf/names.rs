//! Our tensor names → the GGUF tensors that hold them, with the converter's transforms undone
//! (spec §2.5–2.6): q/k rows un-permuted, gate|up and per-expert gate|up restacked, A read back
//! as A_log, reshaped vectors read flat. Every GGUF tensor's shape and type is checked here,
//! before anything is uploaded.
use std::collections::HashMap;

use super::container::TensorInfo;
use super::file::GgufFile;
use crate::model_files::config::ModelConfig;
use crate::model_files::tensors::{self, TensorSpec};
use crate::{Error, Result};

/// How the rows of our tensor come from the GGUF parts (rows are ne0-long in both).
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// The parts' rows one after another.
    Stack,
    /// Per expert e: `per` rows of part 0 (gate), then `per` rows of part 1 (up).
    Experts { per: usize },
    /// ggml's adjacent RoPE pairing back to rotate-half: our row h·hd + s·hd/2 + i is GGUF row
    /// h·hd + 2i + s.
    QkUnpermute { head_dim: usize },
    /// GGUF stores A = −exp(A_log); we hand back A_log = ln(−A) (one f32 rounding).
    NegExpLog,
}

/// One of our tensors, mapped.
#[derive(Clone, Debug)]
pub struct Mapped {
    pub name: String,
    /// Our (PyTorch-order) shape.
    pub shape: Vec<usize>,
    /// Indices into the container's tensors.
    pub parts: Vec<usize>,
    pub layout: Layout,
}

/// (GGUF name, ne padded to 4, layout, float types only)
struct Source {
    parts: Vec<(String, [usize; 4])>,
    layout: Layout,
    float_only: bool,
}

fn src(name: String, ne: &[usize], layout: Layout, float_only: bool) -> Source {
    Source {
        parts: vec![(name, pad(ne))],
        layout,
        float_only,
    }
}

fn pad(ne: &[usize]) -> [usize; 4] {
    let mut out = [1; 4];
    out[..ne.len()].copy_from_slice(ne);
    out
}

/// Where one of our tensors lives in a GGUF file, or `None` for a name we do not know.
fn source(spec: &TensorSpec, c: &ModelConfig) -> Option<Source> {
    let (h, v) = (c.hidden_size, c.vocab_size);
    match spec.name.as_str() {
        tensors::EMBED => {
            return Some(src(
                "token_embd.weight".into(),
                &[h, v],
                Layout::Stack,
                false,
            ));
        }
        tensors::FINAL_NORM => {
            return Some(src("output_norm.weight".into(), &[h], Layout::Stack, true));
        }
        tensors::LM_HEAD => {
            return Some(src("output.weight".into(), &[h, v], Layout::Stack, false));
        }
        _ => {}
    }
    let layer = tensors::layer_of(&spec.name)?;
    let rest = spec.name.strip_prefix(&format!("model.layers.{layer}."))?;
    let b = |n: &str| format!("blk.{layer}.{n}");
    let (q, kv, hd) = (c.q_dim(), c.kv_dim(), c.head_dim);
    let (di, nh, conv, g) = (c.d_inner(), c.mamba_n_heads, c.conv_dim(), c.mamba_n_groups);
    let (e, i, s) = (
        c.num_local_experts,
        c.intermediate_size,
        c.shared_intermediate_size,
    );
    let moe = c.has_experts();
    let sh = |n: &str| {
        if moe {
            b(&format!("ffn_{n}_shexp.weight"))
        } else {
            b(&format!("ffn_{n}.weight"))
        }
    };
    let unperm = Layout::QkUnpermute { head_dim: hd };
    Some(match rest {
        "input_layernorm.weight" => src(b("attn_norm.weight"), &[h], Layout::Stack, true),
        "post_attention_layernorm.weight" => src(b("ffn_norm.weight"), &[h], Layout::Stack, true),
        "self_attn.q_proj.weight" => src(b("attn_q.weight"), &[h, q], unperm, false),
        "self_attn.k_proj.weight" => src(b("attn_k.weight"), &[h, kv], unperm, false),
        "self_attn.v_proj.weight" => src(b("attn_v.weight"), &[h, kv], Layout::Stack, false),
        "self_attn.o_proj.weight" => src(b("attn_output.weight"), &[q, h], Layout::Stack, false),
        "mamba.in_proj.weight" => src(
            b("ssm_in.weight"),
            &[h, c.in_proj_rows()],
            Layout::Stack,
            false,
        ),
        "mamba.in_proj.bias" => src(b("ssm_in.bias"), &[c.in_proj_rows()], Layout::Stack, true),
        "mamba.conv1d.weight" => src(
            b("ssm_conv1d.weight"),
            &[c.mamba_d_conv, conv],
            Layout::Stack,
            true,
        ),
        "mamba.conv1d.bias" => src(b("ssm_conv1d.bias"), &[conv], Layout::Stack, true),
        "mamba.dt_bias" => src(b("ssm_dt.bias"), &[nh], Layout::Stack, true),
        "mamba.A_log" => src(b("ssm_a"), &[1, nh], Layout::NegExpLog, true),
        "mamba.D" => src(b("ssm_d"), &[1, nh], Layout::Stack, true),
        "mamba.norm.weight" => src(
            b("ssm_norm.weight"),
            &[di / g.max(1), g],
            Layout::Stack,
            true,
        ),
        "mamba.out_proj.weight" => src(b("ssm_out.weight"), &[di, h], Layout::Stack, false),
        "mamba.out_proj.bias" => src(b("ssm_out.bias"), &[h], Layout::Stack, true),
        "shared_mlp.input_linear.weight" => Source {
            parts: vec![(sh("gate"), pad(&[h, s])), (sh("up"), pad(&[h, s]))],
            layout: Layout::Stack,
            float_only: false,
        },
        "shared_mlp.output_linear.weight" => src(sh("down"), &[s, h], Layout::Stack, false),
        "block_sparse_moe.router.layer.weight" => {
            src(b("ffn_gate_inp.weight"), &[h, e], Layout::Stack, true)
        }
        "block_sparse_moe.input_linear.weight" => Source {
            parts: vec![
                (b("ffn_gate_exps.weight"), pad(&[h, i, e])),
                (b("ffn_up_exps.weight"), pad(&[h, i, e])),
            ],
            layout: Layout::Experts { per: i },
            float_only: false,
        },
        "block_sparse_moe.output_linear.weight" => {
            src(b("ffn_down_exps.weight"), &[i, h, e], Layout::Stack, false)
        }
        _ => return None,
    })
}

fn tensor_err(f: &GgufFile, tensor: &str, msg: String) -> Error {
    Error::Tensor {
        file: f.path().to_path_buf(),
        tensor: tensor.into(),
        msg,
    }
}

/// Maps every tensor `cfg` implies; checks presence, shape and type of each GGUF part.
/// Returns the map and notes about GGUF tensors the engine does not use.
pub fn plan(f: &GgufFile, cfg: &ModelConfig) -> Result<(HashMap<String, Mapped>, Vec<String>)> {
    let index: HashMap<&str, usize> = f
        .container
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    if cfg.n_attention_layers() > 0 && !cfg.head_dim.is_multiple_of(2) {
        return Err(Error::Format {
            file: f.path().to_path_buf(),
            msg: format!(
                "head_dim {} is odd: the converter's q/k row permutation cannot be undone",
                cfg.head_dim
            ),
        });
    }
    let mut used = vec![false; f.container.tensors.len()];
    let mut out = HashMap::new();
    for spec in tensors::expected_tensors(cfg) {
        let s = source(&spec, cfg)
            .ok_or_else(|| tensor_err(f, &spec.name, "has no GGUF counterpart".into()))?;
        let mut parts = Vec::new();
        for (name, ne) in &s.parts {
            let &idx = index.get(name.as_str()).ok_or_else(|| {
                tensor_err(
                    f,
                    name,
                    format!("missing from the GGUF file (holds our `{}`)", spec.name),
                )
            })?;
            check_part(f, &f.container.tensors[idx], ne, s.float_only)?;
            used[idx] = true;
            parts.push(idx);
        }
        out.insert(
            spec.name.clone(),
            Mapped {
                name: spec.name,
                shape: spec.shape,
                parts,
                layout: s.layout,
            },
        );
    }
    let mut notes = Vec::new();
    for (t, _) in f.container.tensors.iter().zip(&used).filter(|(_, u)| !**u) {
        if t.name.ends_with(".bias") || t.name == "rope_freqs.weight" {
            return Err(tensor_err(
                f,
                &t.name,
                "is not supported by this engine (it would change the results)".into(),
            ));
        }
        notes.push(format!(
            "tensor {} is not used by this engine (ignored)",
            t.name
        ));
    }
    Ok((out, notes))
}

fn check_part(f: &GgufFile, t: &TensorInfo, ne: &[usize; 4], float_only: bool) -> Result<()> {
    let want: Vec<u64> = ne.iter().map(|&n| n as u64).collect();
    if t.ne[..] != want[..] {
        let n = ne.iter().rposition(|&d| d != 1).map_or(1, |p| p + 1);
        return Err(tensor_err(
            f,
            &t.name,
            format!(
                "shape {:?}, but the metadata implies {:?}",
                t.dims(),
                &ne[..n]
            ),
        ));
    }
    if float_only && !t.ty.is_float() {
        return Err(tensor_err(
            f,
            &t.name,
            format!("type {} where only F32, F16 or BF16 is expected", t.ty),
        ));
    }
    if !t.ty.is_decodable() {
        return Err(tensor_err(
            f,
            &t.name,
            format!(
                "type {} (id {}) is not supported by this engine yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)",
                t.ty, t.ty.id
            ),
        ));
    }
    Ok(())
}

impl Mapped {
    /// The GGUF (part, row) holding our row `r`.
    pub fn source_row(&self, r: usize, part_rows: &[usize]) -> (usize, usize) {
        match self.layout {
            Layout::Stack | Layout::NegExpLog => {
                let mut r = r;
                for (p, &n) in part_rows.iter().enumerate() {
                    if r < n {
                        return (p, r);
                    }
                    r -= n;
                }
                (part_rows.len() - 1, r)
            }
            Layout::Experts { per } => {
                let (e, w) = (r / (2 * per), r % (2 * per));
                (w / per, e * per + w % per)
            }
            Layout::QkUnpermute { head_dim } => {
                let half = head_dim / 2;
                if half == 0 {
                    return (0, r);
                }
                let (h, j) = (r / head_dim, r % head_dim);
                (0, h * head_dim + 2 * (j % half) + j / half)
            }
        }
    }
}
