//! The reference fixtures written as GGUF files the way llama.cpp's converter writes them
//! (tests/gguf_common/model.rs): `gguf::open` gives back the fixture's config, every tensor in
//! our layout (q/k un-permuted, A_log from A, gate|up restacked) and a tokenizer that encodes
//! like tokenizer.json; broken model-level inputs are errors naming the tensor or key.
mod gguf_common;
mod loader_common;

use std::path::PathBuf;

use gguf_common::model::{Out, fixture, from_fixture};
use gguf_common::{V, Writer, open_err};
use granite_engine::model_files::gguf::{self, GgufModel};
use granite_engine::model_files::{ModelConfig, ModelWeights, Tokenizer, to_f16_rows};
use loader_common::{TempDir, fixtures_dir};

const MODELS: [&str; 4] = ["moe_nope", "dense_rope", "attn_only", "mamba_groups"];

fn write(w: &Writer, dir: &TempDir, name: &str) -> PathBuf {
    let p = dir.join(name);
    w.write(&p);
    p
}

/// The config fields a GGUF file carries, with the ones it cannot carry set to the file's.
fn comparable(st: &ModelConfig, g: &ModelConfig) -> ModelConfig {
    let mut c = st.clone();
    c.mamba_chunk_size = g.mamba_chunk_size;
    c.time_step_limit = g.time_step_limit;
    c.bos_token_id = g.bos_token_id;
    c.eos_token_ids = g.eos_token_ids.clone();
    c.pad_token_id = g.pad_token_id;
    if !c.has_mamba() {
        // Dense configs carry meaningless mamba leftovers; GGUF `granite` files none.
        for (dst, src) in [
            (&mut c.mamba_n_heads, g.mamba_n_heads),
            (&mut c.mamba_d_head, g.mamba_d_head),
            (&mut c.mamba_n_groups, g.mamba_n_groups),
            (&mut c.mamba_d_state, g.mamba_d_state),
            (&mut c.mamba_d_conv, g.mamba_d_conv),
            (&mut c.mamba_expand, g.mamba_expand),
        ] {
            *dst = src;
        }
        c.mamba_conv_bias = g.mamba_conv_bias;
        c.intermediate_size = g.intermediate_size;
    }
    c
}

fn open_fixture(name: &str, out: Out, tmp: &TempDir) -> (PathBuf, GgufModel) {
    let dir = fixtures_dir().join(name);
    let path = write(&from_fixture(&dir, out), tmp, &format!("{name}.gguf"));
    let m = gguf::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    (dir, m)
}

#[test]
fn configs_come_back_from_the_metadata() {
    let tmp = TempDir::new("gguf-cfg");
    for name in MODELS {
        let (dir, g) = open_fixture(name, Out::F16, &tmp);
        let st = ModelConfig::load(&dir).unwrap();
        assert_eq!(comparable(&st, &g.config), g.config, "{name}");
        let want_arch = if st.has_mamba() {
            "granitehybrid"
        } else {
            "granite"
        };
        assert_eq!(g.arch, want_arch);
        let joined = g.assumptions.join("\n");
        assert_eq!(
            st.has_mamba(),
            joined.contains("chunk size"),
            "{name}: {joined}"
        );
    }
}

/// Every tensor read through the GGUF backing equals the safetensors one: matrices as f16
/// bits, F32 vectors exactly, A_log to f32 rounding of ln(exp(·)).
#[test]
fn tensors_come_back_in_our_layout() {
    let tmp = TempDir::new("gguf-tensors");
    for (name, out) in MODELS
        .map(|m| (m, Out::F16))
        .into_iter()
        .chain([("moe_nope", Out::Bf16)])
    {
        let (dir, g) = open_fixture(name, out, &tmp);
        let st = ModelWeights::open(&dir, &g.config).unwrap();
        let gw = ModelWeights::from_gguf(g.weights);
        for spec in granite_engine::model_files::expected_tensors(&g.config) {
            let (a, b) = (st.get(&spec.name).unwrap(), gw.tensor(&spec.name).unwrap());
            assert_eq!(b.shape(), a.shape, "{name} {}", spec.name);
            let small = spec.shape.len() == 1
                || spec.name.contains("conv1d")
                || spec.name.contains("router");
            if spec.name.ends_with("A_log") {
                let (x, y) = (a_f32(&st, &spec.name), b.f32_vec().unwrap());
                for (p, q) in x.iter().zip(&y) {
                    assert!(
                        (p - q).abs() <= 1e-6 * p.abs().max(1.0),
                        "{name} {}: {p} vs {q}",
                        spec.name
                    );
                }
            } else if small {
                assert_eq!(
                    a_f32(&st, &spec.name),
                    b.f32_vec().unwrap(),
                    "{name} {}",
                    spec.name
                );
            } else {
                let n = a.n_rows() * a.row_len();
                let (mut x, mut y) = (vec![0u16; n], vec![0u16; n]);
                to_f16_rows(&a, 0, a.n_rows(), &mut x).unwrap();
                b.f16_rows(0, b.n_rows(), &mut y).unwrap();
                assert!(x == y, "{name} {}: f16 values differ", spec.name);
            }
        }
    }
}

fn a_f32(w: &ModelWeights, name: &str) -> Vec<f32> {
    w.tensor(name).unwrap().f32_vec().unwrap()
}

#[test]
fn tokenizer_encodes_like_tokenizer_json() {
    let tmp = TempDir::new("gguf-tok");
    let (dir, g) = open_fixture("moe_nope", Out::F16, &tmp);
    let cfg = ModelConfig::load(&dir).unwrap();
    let want = Tokenizer::load(&dir, Some(&cfg)).unwrap();
    let text = "<|start_of_role|>user<|end_of_role|>Héllo wörld! I'LL pay 1234567 ¥ for 東京 🎉\n\n  \t\
                <tool_call>{\"x\": 1}</tool_call><think>ok</think>Ünïcödé — ελληνικά, русский, العربية<|end_of_text|>";
    let ids = want.encode(text).unwrap();
    assert_eq!(g.tokenizer.encode(text).unwrap(), ids);
    assert!(
        ids.contains(&468) && ids.contains(&474) && ids.contains(&461),
        "special tokens matched whole"
    );
    for skip in [false, true] {
        assert_eq!(
            g.tokenizer.decode(&ids, skip).unwrap(),
            want.decode(&ids, skip).unwrap(),
            "skip={skip}"
        );
    }
    assert_eq!(
        (g.tokenizer.bos_id, g.tokenizer.add_bos_token),
        (Some(461), false)
    );
    assert!(g.tokenizer.is_eos(461));
    let tc = want.chat_template.as_ref().unwrap();
    assert_eq!(g.tokenizer.chat_template.as_ref().unwrap().text, tc.text);
}

#[test]
fn quantized_files_open_with_q8_0_where_rows_allow() {
    let tmp = TempDir::new("gguf-q8");
    let (_, g) = open_fixture("moe_nope", Out::Q8_0, &tmp);
    let q8: usize = g
        .summary
        .types
        .iter()
        .filter(|t| t.ty == "Q8_0")
        .map(|t| t.tensors)
        .sum();
    assert_eq!(
        q8, 3,
        "ssm_out of the 3 mamba layers (ne0 = 96); other rows are not whole blocks"
    );
    let w = ModelWeights::from_gguf(g.weights);
    let t = w.tensor("model.layers.0.mamba.out_proj.weight").unwrap();
    let mut out = vec![0u16; t.n_rows() * t.row_len()];
    t.f16_rows(0, t.n_rows(), &mut out).unwrap();
    assert!(out.iter().any(|&b| b != 0));
}

#[test]
fn a_folder_with_one_gguf_opens_and_two_are_an_error() {
    let tmp = TempDir::new("gguf-folder");
    let w = from_fixture(&fixtures_dir().join("attn_only"), Out::F16);
    write(&w, &tmp, "a.gguf");
    assert!(gguf::is_gguf_path(tmp.path()));
    assert_eq!(gguf::open(tmp.path()).unwrap().arch, "granite");
    write(&w, &tmp, "b.gguf");
    let e = gguf::open(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("2 .gguf files"), "{e}");
    assert!(!gguf::is_gguf_path(&fixtures_dir().join("attn_only")));
}

#[test]
fn model_level_errors_name_the_key_or_tensor() {
    let w = fixture("moe_nope", Out::F16);
    let e = open_err(
        &w.clone()
            .set_kv("general.architecture", V::Str("llama".into())),
    );
    assert!(e.contains("unsupported architecture `llama`"), "{e}");
    let mut missing = w.clone();
    missing.tensors.retain(|t| t.name != "blk.2.attn_k.weight");
    let e = open_err(&missing);
    assert!(
        e.contains("blk.2.attn_k.weight") && e.contains("missing"),
        "{e}"
    );
    let mut shape = w.clone();
    shape
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.0.ssm_a")
        .unwrap()
        .ne = vec![6];
    let e = open_err(&shape);
    assert!(e.contains("blk.0.ssm_a") && e.contains("shape [6]"), "{e}");
    let e = open_err(
        &w.clone()
            .set_kv("granitehybrid.attention.head_count", V::U32(5)),
    );
    assert!(e.contains("head_count"), "{e}");
    let e = open_err(
        &w.clone()
            .set_kv("granitehybrid.ssm.time_step_rank", V::U32(7)),
    );
    assert!(e.contains("ssm.inner_size"), "{e}");
    let e = open_err(
        &w.clone()
            .set_kv("granitehybrid.rope.scaling.finetuned", V::U32(1)),
    );
    assert!(e.contains("must be BOOL"), "{e}");
}

#[test]
fn unsupported_tensor_types_are_named() {
    let mut w = fixture("moe_nope", Out::F16);
    let t = w
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.0.ssm_out.weight")
        .unwrap();
    // ssm_out is [96, 48]: 48 rows of 96 → as Q4_1 (32-element blocks of 20 bytes).
    (t.ty, t.data) = (3, vec![0; 48 * 3 * 20]);
    let e = open_err(&w);
    assert!(
        e.contains("blk.0.ssm_out.weight") && e.contains("Q4_1") && e.contains("not supported"),
        "{e}"
    );
    let mut w = fixture("moe_nope", Out::F16);
    let t = w
        .tensors
        .iter_mut()
        .find(|t| t.name == "blk.0.ssm_dt.bias")
        .unwrap();
    (t.ty, t.data, t.ne) = (8, vec![0; 34], vec![32]);
    let e = open_err(&w);
    assert!(e.contains("blk.0.ssm_dt.bias"), "{e}");
}

/// Writes the GGUF fuzz seeds (`fuzz/corpus/gguf/seed-*`) when GGUF_FUZZ_SEEDS names the
/// folder: the smallest fixture as a whole model, and the same file cut after its header.
#[test]
#[ignore = "writes the fuzz seed corpus; run by hand"]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("GGUF_FUZZ_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let w = from_fixture(&fixtures_dir().join("attn_only"), Out::F16);
    w.write(&dir.join("seed-attn_only-f16.gguf"));
    let mut q8 = from_fixture(&fixtures_dir().join("moe_nope"), Out::Q8_0);
    q8.tensors
        .retain(|t| !t.name.starts_with("blk.") || t.name.starts_with("blk.0."));
    q8.write(&dir.join("seed-moe_nope-layer0-q8_0.gguf"));
    let header_only = Writer {
        tensors: vec![],
        ..w
    };
    header_only.write(&dir.join("seed-attn_only-metadata.gguf"));
}

#[test]
fn inspect_text_lists_metadata_types_and_assumptions() {
    let tmp = TempDir::new("gguf-inspect");
    let (_, g) = open_fixture("moe_nope", Out::Q8_0, &tmp);
    let text = g.summary.text(&g.assumptions);
    for needle in [
        "general.architecture = \"granitehybrid\"",
        "tokenizer.ggml.tokens = [512 × STRING]",
        "Mamba: Q8_0 ×3",
        "RoutedExperts: F16 ×",
        "chunk size not stored in GGUF",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// A read big enough to be split over threads gives what row-by-row reads give, with the
/// saturated values of every thread counted (a BF16 embedding of 40 000 × 36 values, some of
/// them beyond the f16 range).
#[test]
fn big_reads_split_over_threads_equal_row_reads() {
    let (h, v) = (36usize, 40_000usize);
    let mut values: Vec<f32> = (0..h * v)
        .map(|i| ((i % 977) as f32 - 488.0) * 0.01)
        .collect();
    let planted = [0, 1, h * v / 3, h * v / 2 + 7, h * v - 1];
    for &i in &planted {
        values[i] = 1e6;
    }
    let mut w = fixture("attn_only", Out::F16).set_kv("granite.vocab_size", V::U32(v as u32));
    let embd = w
        .tensors
        .iter_mut()
        .find(|t| t.name == "token_embd.weight")
        .unwrap();
    embd.ne = vec![h as u64, v as u64];
    embd.ty = 30;
    embd.data = values
        .iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let tmp = TempDir::new("gguf-big");
    let g = gguf::open(&write(&w, &tmp, "big.gguf")).unwrap();
    let weights = ModelWeights::from_gguf(g.weights);
    let t = weights.tensor("model.embed_tokens.weight").unwrap();
    let mut all = vec![0u16; h * v];
    assert_eq!(t.f16_rows(0, v, &mut all).unwrap(), planted.len());
    let mut row = vec![0u16; h];
    for r in [0, 1, v / 3, v / 2, v - 1] {
        t.f16_rows(r, 1, &mut row).unwrap();
        assert_eq!(row, all[r * h..(r + 1) * h], "row {r}");
    }
    let serial: Vec<u16> = (0..v)
        .flat_map(|r| {
            t.f16_rows(r, 1, &mut row).unwrap();
            row.clone()
        })
        .collect();
    assert!(serial == all, "split read differs from row reads");
}
