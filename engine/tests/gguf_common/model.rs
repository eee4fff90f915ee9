//! Turns a safetensors reference fixture into a GGUF file the way llama.cpp's converter does
//! (spec §2.5–2.6, §3.1): q/k rows permuted for ggml's RoPE pairing, A stored as −exp(A_log),
//! gate/up split, conv weights reshaped, vocabulary padded with UNUSED "[PAD<id>]" tokens,
//! CONTROL for special or "<|…|>" added tokens. Matrices are F16 or Q8_0 (F16 when ne0 is not
//! a multiple of 32, as the converter falls back); norms and SSM vectors stay F32.
use std::path::Path;

use granite_engine::model_files::{LayerKind, ModelConfig, ModelWeights};
use serde_json::Value;

use super::{T, V, Writer, f16_bits, quantize_q8_0};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Out {
    F16,
    /// BF16 matrices: the released weights bit for bit.
    Bf16,
    Q8_0,
}

fn matrix(name: String, ne: &[u64], x: &[f32], out: Out) -> T {
    let (ty, data) = if out == Out::Q8_0 && ne[0].is_multiple_of(32) {
        (8, quantize_q8_0(x))
    } else if out == Out::Bf16 {
        let bf16 = |v: &f32| ((v.to_bits() >> 16) as u16).to_le_bytes();
        (30, x.iter().flat_map(bf16).collect())
    } else {
        (
            1,
            x.iter().flat_map(|v| f16_bits(*v).to_le_bytes()).collect(),
        )
    };
    T {
        name,
        ne: ne.to_vec(),
        ty,
        data,
        offset: None,
    }
}

/// Rows `[r0, r0 + n)` of a row-major matrix with `cols` columns.
fn rows(x: &[f32], cols: usize, r0: usize, n: usize) -> &[f32] {
    &x[r0 * cols..(r0 + n) * cols]
}

/// The converter's q/k permutation: GGUF row h·hd + 2i + s holds HF row h·hd + s·hd/2 + i.
fn permute(x: &[f32], cols: usize, hd: usize) -> Vec<f32> {
    let n_rows = x.len() / cols;
    let mut out = vec![0f32; x.len()];
    for g in 0..n_rows {
        let (h, j) = (g / hd, g % hd);
        let (i, s) = (j / 2, j % 2);
        let src = h * hd + s * hd / 2 + i;
        out[g * cols..(g + 1) * cols].copy_from_slice(rows(x, cols, src, 1));
    }
    out
}

/// The fixture's tensors as GGUF tensors.
fn tensors(cfg: &ModelConfig, w: &ModelWeights, out: Out) -> Vec<T> {
    let get = |n: &str| w.tensor(n).unwrap().f32_vec().unwrap();
    let (h, v) = (cfg.hidden_size as u64, cfg.vocab_size as u64);
    let mut t = vec![
        matrix(
            "token_embd.weight".into(),
            &[h, v],
            &get("model.embed_tokens.weight"),
            out,
        ),
        T::f32("output_norm.weight", &[h], &get("model.norm.weight")),
    ];
    if !cfg.tie_word_embeddings {
        t.push(matrix(
            "output.weight".into(),
            &[h, v],
            &get("lm_head.weight"),
            out,
        ));
    }
    for (l, kind) in cfg.layer_types.iter().enumerate() {
        let p = |n: &str| get(&format!("model.layers.{l}.{n}"));
        let b = |n: &str| format!("blk.{l}.{n}");
        t.push(T::f32(
            &b("attn_norm.weight"),
            &[h],
            &p("input_layernorm.weight"),
        ));
        t.push(T::f32(
            &b("ffn_norm.weight"),
            &[h],
            &p("post_attention_layernorm.weight"),
        ));
        match kind {
            LayerKind::Attention => {
                let (q, kv, hd) = (cfg.q_dim() as u64, cfg.kv_dim() as u64, cfg.head_dim);
                let pq = permute(&p("self_attn.q_proj.weight"), h as usize, hd);
                let pk = permute(&p("self_attn.k_proj.weight"), h as usize, hd);
                t.push(matrix(b("attn_q.weight"), &[h, q], &pq, out));
                t.push(matrix(b("attn_k.weight"), &[h, kv], &pk, out));
                t.push(matrix(
                    b("attn_v.weight"),
                    &[h, kv],
                    &p("self_attn.v_proj.weight"),
                    out,
                ));
                t.push(matrix(
                    b("attn_output.weight"),
                    &[q, h],
                    &p("self_attn.o_proj.weight"),
                    out,
                ));
            }
            LayerKind::Mamba => {
                let (di, nh, conv, g) = (
                    cfg.d_inner() as u64,
                    cfg.mamba_n_heads as u64,
                    cfg.conv_dim() as u64,
                    cfg.mamba_n_groups as u64,
                );
                let a: Vec<f32> = p("mamba.A_log").iter().map(|x| -x.exp()).collect();
                t.push(matrix(
                    b("ssm_in.weight"),
                    &[h, cfg.in_proj_rows() as u64],
                    &p("mamba.in_proj.weight"),
                    out,
                ));
                t.push(T::f32(
                    &b("ssm_conv1d.weight"),
                    &[cfg.mamba_d_conv as u64, conv],
                    &p("mamba.conv1d.weight"),
                ));
                t.push(T::f32(
                    &b("ssm_conv1d.bias"),
                    &[conv],
                    &p("mamba.conv1d.bias"),
                ));
                t.push(T::f32(&b("ssm_dt.bias"), &[nh], &p("mamba.dt_bias")));
                t.push(T::f32(&b("ssm_a"), &[1, nh], &a));
                t.push(T::f32(&b("ssm_d"), &[1, nh], &p("mamba.D")));
                t.push(T::f32(
                    &b("ssm_norm.weight"),
                    &[di / g, g],
                    &p("mamba.norm.weight"),
                ));
                t.push(matrix(
                    b("ssm_out.weight"),
                    &[di, h],
                    &p("mamba.out_proj.weight"),
                    out,
                ));
            }
        }
        let s = cfg.shared_intermediate_size;
        let moe = cfg.has_experts();
        let sh = |n: &str| {
            if moe {
                b(&format!("ffn_{n}_shexp.weight"))
            } else {
                b(&format!("ffn_{n}.weight"))
            }
        };
        let inp = p("shared_mlp.input_linear.weight");
        let hu = h as usize;
        t.push(matrix(
            sh("gate"),
            &[h, s as u64],
            rows(&inp, hu, 0, s),
            out,
        ));
        t.push(matrix(sh("up"), &[h, s as u64], rows(&inp, hu, s, s), out));
        t.push(matrix(
            sh("down"),
            &[s as u64, h],
            &p("shared_mlp.output_linear.weight"),
            out,
        ));
        if moe {
            let (e, i) = (cfg.num_local_experts, cfg.intermediate_size);
            let x = p("block_sparse_moe.input_linear.weight");
            let half = |k: usize| -> Vec<f32> {
                (0..e)
                    .flat_map(|ex| rows(&x, hu, ex * 2 * i + k * i, i).to_vec())
                    .collect()
            };
            let ne = [h, i as u64, e as u64];
            t.push(T::f32(
                &b("ffn_gate_inp.weight"),
                &[h, e as u64],
                &p("block_sparse_moe.router.layer.weight"),
            ));
            t.push(matrix(b("ffn_gate_exps.weight"), &ne, &half(0), out));
            t.push(matrix(b("ffn_up_exps.weight"), &ne, &half(1), out));
            t.push(matrix(
                b("ffn_down_exps.weight"),
                &[i as u64, h, e as u64],
                &p("block_sparse_moe.output_linear.weight"),
                out,
            ));
        }
    }
    t
}

/// `tokenizer.ggml.*` keys from a tokenizer.json, padded to `vocab` tokens.
pub fn tokenizer_kvs(tok: &Value, vocab: usize) -> Vec<(String, V)> {
    let mut tokens = vec![String::new(); vocab];
    let mut types = vec![5i32; vocab];
    for (s, id) in tok["model"]["vocab"].as_object().unwrap() {
        let id = id.as_u64().unwrap() as usize;
        tokens[id] = s.clone();
        types[id] = 1;
    }
    for a in tok["added_tokens"].as_array().unwrap() {
        let id = a["id"].as_u64().unwrap() as usize;
        let s = a["content"].as_str().unwrap();
        tokens[id] = s.to_string();
        let looks_special = s.starts_with("<|") && s.ends_with("|>");
        types[id] = if a["special"].as_bool().unwrap() || looks_special {
            3
        } else {
            4
        };
    }
    for (id, t) in tokens.iter_mut().enumerate() {
        if t.is_empty() {
            *t = format!("[PAD{id}]");
        }
    }
    let merges = tok["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            Value::String(s) => s.clone(),
            Value::Array(p) => format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()),
            _ => panic!("merge {m}"),
        });
    let end = tokens.iter().position(|t| t == "<|end_of_text|>").unwrap() as u32;
    let pad = tokens.iter().position(|t| t == "<|pad|>").unwrap() as u32;
    vec![
        ("tokenizer.ggml.model".into(), V::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), V::Str("dbrx".into())),
        ("tokenizer.ggml.tokens".into(), V::StrArr(tokens)),
        ("tokenizer.ggml.token_type".into(), V::I32Arr(types)),
        ("tokenizer.ggml.merges".into(), V::StrArr(merges.collect())),
        ("tokenizer.ggml.bos_token_id".into(), V::U32(end)),
        ("tokenizer.ggml.eos_token_id".into(), V::U32(end)),
        ("tokenizer.ggml.padding_token_id".into(), V::U32(pad)),
        ("tokenizer.ggml.add_bos_token".into(), V::Bool(false)),
    ]
}

/// The metadata the converter writes for `cfg`.
pub fn model_kvs(cfg: &ModelConfig, out: Out) -> Vec<(String, V)> {
    let arch = if cfg.has_mamba() {
        "granitehybrid"
    } else {
        "granite"
    };
    let u = |v: usize| V::U32(v as u32);
    let kv: Vec<i32> = cfg
        .layer_types
        .iter()
        .map(|k| match k {
            LayerKind::Mamba => 0,
            LayerKind::Attention => cfg.num_key_value_heads as i32,
        })
        .collect();
    let mut kvs: Vec<(&str, V)> = vec![
        ("context_length", u(cfg.max_position_embeddings)),
        ("embedding_length", u(cfg.hidden_size)),
        ("block_count", u(cfg.num_hidden_layers)),
        (
            "feed_forward_length",
            u(if cfg.has_experts() {
                cfg.intermediate_size
            } else {
                cfg.shared_intermediate_size
            }),
        ),
        (
            "expert_shared_feed_forward_length",
            u(cfg.shared_intermediate_size),
        ),
        ("expert_count", u(cfg.num_local_experts)),
        ("expert_used_count", u(cfg.num_experts_per_tok)),
        ("attention.head_count", u(cfg.num_attention_heads)),
        ("attention.head_count_kv", V::I32Arr(kv)),
        ("attention.layer_norm_rms_epsilon", V::F32(cfg.rms_norm_eps)),
        ("attention.scale", V::F32(cfg.attention_multiplier)),
        ("embedding_scale", V::F32(cfg.embedding_multiplier)),
        ("residual_scale", V::F32(cfg.residual_multiplier)),
        ("logit_scale", V::F32(cfg.logits_scaling)),
        ("rope.dimension_count", u(cfg.head_dim)),
        (
            "rope.scaling.finetuned",
            V::Bool(cfg.rope_theta().is_some()),
        ),
        ("vocab_size", u(cfg.vocab_size)),
        ("ssm.conv_kernel", u(cfg.mamba_d_conv)),
        ("ssm.state_size", u(cfg.mamba_d_state)),
        ("ssm.group_count", u(cfg.mamba_n_groups)),
        ("ssm.inner_size", u(cfg.d_inner())),
        ("ssm.time_step_rank", u(cfg.mamba_n_heads)),
    ];
    if let Some(theta) = cfg.rope_theta() {
        kvs.push(("rope.freq_base", V::F32(theta as f32)));
    }
    let mut out_kvs = vec![
        ("general.architecture".to_string(), V::Str(arch.into())),
        (
            "general.file_type".to_string(),
            V::U32(match out {
                Out::F16 => 1,
                Out::Bf16 => 32,
                Out::Q8_0 => 7,
            }),
        ),
    ];
    out_kvs.extend(kvs.into_iter().map(|(k, v)| (format!("{arch}.{k}"), v)));
    out_kvs
}

/// A GGUF writer holding the fixture in `dir`.
pub fn from_fixture(dir: &Path, out: Out) -> Writer {
    let cfg = ModelConfig::load(dir).unwrap();
    let w = ModelWeights::open(dir, &cfg).unwrap();
    let tok: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer.json")).unwrap())
            .unwrap();
    let tc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer_config.json")).unwrap())
            .unwrap();
    let mut kvs = model_kvs(&cfg, out);
    kvs.extend(tokenizer_kvs(&tok, cfg.vocab_size));
    if let Some(t) = tc["chat_template"].as_str() {
        kvs.push(("tokenizer.chat_template".into(), V::Str(t.into())));
    }
    Writer {
        kvs,
        tensors: tensors(&cfg, &w, out),
        ..Writer::default()
    }
}

/// The fixture `name` of tests/fixtures as a GGUF writer.
pub fn fixture(name: &str, out: Out) -> Writer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    from_fixture(&dir, out)
}
