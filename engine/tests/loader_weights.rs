//! Weights: synthetic model folders (single file and sharded), every malformed safetensors
//! case, config-vs-checkpoint validation, and the f16/f32 conversions.
mod loader_common;

use granite_engine::model_files::safetensors::{self, MAX_HEADER_BYTES};
use granite_engine::model_files::{
    Dtype, ModelWeights, TensorView, to_f16_into, to_f16_rows, to_f32_vec,
};
use loader_common::*;
use serde_json::json;

fn open_bytes(bytes: &[u8]) -> Result<Vec<safetensors::TensorInfo>, granite_engine::Error> {
    let dir = TempDir::new("st");
    let path = dir.join("model.safetensors");
    std::fs::write(&path, bytes).unwrap();
    safetensors::SafetensorsFile::open(&path).map(|f| f.tensors().to_vec())
}

fn two_tensors() -> Vec<RawTensor> {
    vec![
        RawTensor::bf16("a", &[2, 3], &values(6, 1)),
        RawTensor::f32("b", &[4], &values(4, 2)),
    ]
}

#[test]
fn tied_hybrid_model_loads() {
    let dir = TempDir::new("tied");
    let cfg = write_model(dir.path(), &tiny_hybrid());
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    let e = w.get("model.embed_tokens.weight").unwrap();
    assert_eq!((e.dtype, e.shape), (Dtype::BF16, &[64usize, 16][..]));
    assert_eq!(e.bytes.len(), 64 * 16 * 2);
    assert!(e.file.ends_with("model.safetensors"));
    assert_eq!(w.lm_head(&cfg).unwrap().name, "model.embed_tokens.weight");
    let a = to_f32_vec(&w.get("model.layers.0.mamba.A_log").unwrap()).unwrap();
    assert_eq!(a.len(), 4);
}

#[test]
fn dense_model_loads() {
    let dir = TempDir::new("dense");
    let cfg = write_model(dir.path(), &tiny_dense());
    ModelWeights::open(dir.path(), &cfg).unwrap();
}

#[test]
fn untied_model_needs_lm_head() {
    let dir = TempDir::new("untied");
    let mut v = tiny_hybrid();
    v["tie_word_embeddings"] = json!(false);
    let cfg = write_model(dir.path(), &v);
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.lm_head(&cfg).unwrap().name, "lm_head.weight");
    // Same weights without lm_head.
    let tensors: Vec<_> = model_tensors(&cfg)
        .into_iter()
        .filter(|t| t.name != "lm_head.weight")
        .collect();
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["lm_head.weight", "model.safetensors", "missing"],
    );
}

#[test]
fn tied_model_ignores_present_lm_head() {
    let dir = TempDir::new("tiedextra");
    let cfg = parse_config(&tiny_hybrid());
    let mut tensors = model_tensors(&cfg);
    tensors.push(RawTensor::bf16(
        "lm_head.weight",
        &[64, 16],
        &values(64 * 16, 9),
    ));
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.lm_head(&cfg).unwrap().name, "model.embed_tokens.weight");
}

fn write_modified(
    dir: &TempDir,
    f: impl FnOnce(&mut Vec<RawTensor>),
) -> granite_engine::model_files::ModelConfig {
    let cfg = parse_config(&tiny_hybrid());
    let mut tensors = model_tensors(&cfg);
    f(&mut tensors);
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&tensors)).unwrap();
    cfg
}

#[test]
fn missing_tensor_is_named() {
    let dir = TempDir::new("missing");
    let cfg = write_modified(&dir, |t| {
        t.retain(|t| t.name != "model.layers.1.self_attn.k_proj.weight")
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.layers.1.self_attn.k_proj.weight",
            "model.safetensors",
        ],
    );
}

#[test]
fn wrong_shape_is_named() {
    let dir = TempDir::new("shape");
    let cfg = write_modified(&dir, |t| {
        let x = t
            .iter_mut()
            .find(|t| t.name == "model.layers.2.mamba.in_proj.weight")
            .unwrap();
        *x = RawTensor::bf16(&x.name.clone(), &[16, 84], &values(84 * 16, 3));
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.layers.2.mamba.in_proj.weight",
            "[16, 84]",
            "[84, 16]",
        ],
    );
}

#[test]
fn wrong_dtype_is_named() {
    let dir = TempDir::new("dtype");
    let cfg = write_modified(&dir, |t| {
        let x = t
            .iter_mut()
            .find(|t| t.name == "model.norm.weight")
            .unwrap();
        *x = RawTensor::new("model.norm.weight", "I32", &[16], vec![0; 64]);
    });
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.norm.weight", "I32", "not supported"],
    );
}

#[test]
fn valid_file_parses_with_absolute_offsets() {
    let infos = open_bytes(&safetensors_bytes(&two_tensors())).unwrap();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[1].start, infos[0].start + 12);
    assert_eq!(infos[1].len, 16);
}

#[test]
fn truncated_files() {
    assert_err_contains(
        open_bytes(&[]),
        &["model.safetensors", "truncated", "0 bytes"],
    );
    assert_err_contains(open_bytes(&[1, 2, 3]), &["truncated"]);
    let full = safetensors_bytes(&two_tensors());
    // Cut inside the header.
    assert_err_contains(
        open_bytes(&full[..20]),
        &["header length", "larger than the file"],
    );
    // Cut inside the data.
    assert_err_contains(
        open_bytes(&full[..full.len() - 3]),
        &["tensor `b`", "out of bounds"],
    );
}

#[test]
fn absurd_header_length() {
    let mut bytes = (MAX_HEADER_BYTES + 1).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_err_contains(open_bytes(&bytes), &["exceeds the limit"]);
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_err_contains(open_bytes(&bytes), &["exceeds the limit"]);
}

#[test]
fn non_utf8_and_non_json_headers() {
    assert_err_contains(
        open_bytes(&raw_file(b"{\"a\xff\": 1}", &[])),
        &["not valid UTF-8"],
    );
    assert_err_contains(open_bytes(&raw_file(b"{\"a\": ", &[])), &["not valid JSON"]);
    assert_err_contains(
        open_bytes(&raw_file(b"[1, 2]", &[])),
        &["not a JSON object"],
    );
}

#[test]
fn bad_entries() {
    let entry = |e: serde_json::Value| raw_file(json!({ "t": e }).to_string().as_bytes(), &[0; 8]);
    let cases = [
        (
            json!({"dtype": "Q4", "shape": [4], "data_offsets": [0, 8]}),
            "unknown dtype",
        ),
        (json!({"shape": [4], "data_offsets": [0, 8]}), "dtype"),
        (
            json!({"dtype": "F16", "shape": [-1], "data_offsets": [0, 8]}),
            "shape",
        ),
        (
            json!({"dtype": "F16", "shape": [4], "data_offsets": [0]}),
            "data_offsets",
        ),
        (
            json!({"dtype": "F16", "shape": [3], "data_offsets": [0, 8]}),
            "needs 6",
        ),
        (
            json!({"dtype": "F16", "shape": [4], "data_offsets": [8, 0]}),
            "data_offsets",
        ),
        (
            json!({"dtype": "F16", "shape": [4, 1u64 << 62], "data_offsets": [0, 8]}),
            "overflows",
        ),
        (json!("nope"), "must be an object"),
    ];
    for (e, needle) in cases {
        assert_err_contains(open_bytes(&entry(e)), &["tensor `t`", needle]);
    }
}

#[test]
fn overlap_gap_and_trailing_bytes() {
    let header = |a: [u64; 2], b: [u64; 2]| {
        json!({"a": {"dtype": "U8", "shape": [4], "data_offsets": a},
               "b": {"dtype": "U8", "shape": [4], "data_offsets": b}})
        .to_string()
    };
    let overlap = raw_file(header([0, 4], [2, 6]).as_bytes(), &[0; 6]);
    assert_err_contains(open_bytes(&overlap), &["overlaps"]);
    let gap = raw_file(header([0, 4], [6, 10]).as_bytes(), &[0; 10]);
    assert_err_contains(
        open_bytes(&gap),
        &["tensor `b`", "2 unused bytes", "do not cover"],
    );
    let late_start = raw_file(header([2, 6], [6, 10]).as_bytes(), &[0; 10]);
    assert_err_contains(
        open_bytes(&late_start),
        &["tensor `a`", "start of the data"],
    );
    let trailing = raw_file(header([0, 4], [4, 8]).as_bytes(), &[0; 11]);
    assert_err_contains(open_bytes(&trailing), &["3 trailing bytes"]);
}

/// Writes the tiny model as two shards plus an index.
fn write_sharded(dir: &TempDir) -> granite_engine::model_files::ModelConfig {
    let cfg = parse_config(&tiny_hybrid());
    std::fs::write(dir.join("config.json"), tiny_hybrid().to_string()).unwrap();
    let tensors = model_tensors(&cfg);
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut map = serde_json::Map::new();
    for (part, name) in [first, second].iter().zip(names) {
        for t in part.iter() {
            map.insert(t.name.clone(), json!(name));
        }
    }
    let to_owned = |p: &[RawTensor]| -> Vec<RawTensor> {
        p.iter()
            .map(|t| RawTensor::new(&t.name, &t.dtype, &t.shape, t.data.clone()))
            .collect()
    };
    std::fs::write(dir.join(names[0]), safetensors_bytes(&to_owned(first))).unwrap();
    std::fs::write(dir.join(names[1]), safetensors_bytes(&to_owned(second))).unwrap();
    let index = json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    cfg
}

#[test]
fn sharded_model_loads() {
    let dir = TempDir::new("sharded");
    let cfg = write_sharded(&dir);
    let w = ModelWeights::open(dir.path(), &cfg).unwrap();
    assert_eq!(w.files().count(), 2);
    let last = w
        .get("model.layers.3.shared_mlp.output_linear.weight")
        .unwrap();
    assert!(last.file.ends_with("model-00002-of-00002.safetensors"));
}

#[test]
fn index_naming_a_missing_shard() {
    let dir = TempDir::new("noshard");
    let cfg = write_sharded(&dir);
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &[
            "model.safetensors.index.json",
            "model-00002-of-00002.safetensors",
            "does not exist",
        ],
    );
}

#[test]
fn index_problems() {
    let dir = TempDir::new("badindex");
    let cfg = write_sharded(&dir);
    let index_path = dir.join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    // A tensor listed for a shard that does not hold it.
    index["weight_map"]["model.norm.weight"] = json!("model-00002-of-00002.safetensors");
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.norm.weight", "not present"],
    );
    index["weight_map"]["model.norm.weight"] = json!("../model-00001-of-00002.safetensors");
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["not a plain file name"],
    );
    std::fs::write(&index_path, "{\"metadata\": {}}").unwrap();
    assert_err_contains(ModelWeights::open(dir.path(), &cfg), &["weight_map"]);
}

#[test]
fn folder_without_weights() {
    let dir = TempDir::new("empty");
    let cfg = parse_config(&tiny_hybrid());
    assert_err_contains(
        ModelWeights::open(dir.path(), &cfg),
        &["model.safetensors.index.json"],
    );
}

fn view<'a>(dtype: Dtype, shape: &'a [usize], bytes: &'a [u8]) -> TensorView<'a> {
    TensorView {
        name: "t",
        dtype,
        shape,
        bytes,
        file: std::path::Path::new("x.safetensors"),
    }
}

fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::bf16::from_f32(*x).to_bits().to_le_bytes())
        .collect()
}

#[test]
fn bf16_to_f16_exact_and_saturating() {
    // 1e5 and 70000 overflow f16; ±inf saturate too; NaN stays NaN; small values round
    // into f16 subnormals; 65280 (the largest bf16 below 65504) is exact.
    let src = [
        1.0,
        -2.5,
        0.0078125,
        1e5,
        -70000.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        65280.0,
        1e-6,
        f32::NAN,
    ];
    let bytes = bf16_bytes(&src);
    let shape = [src.len()];
    let mut out = vec![0u16; src.len()];
    let overflow = to_f16_into(&view(Dtype::BF16, &shape, &bytes), &mut out).unwrap();
    assert_eq!(overflow, 4);
    let back: Vec<f32> = out
        .iter()
        .map(|b| half::f16::from_bits(*b).to_f32())
        .collect();
    assert_eq!(&back[..3], &[1.0, -2.5, 0.0078125]);
    assert_eq!(
        &back[3..8],
        &[65504.0, -65504.0, 65504.0, -65504.0, 65280.0]
    );
    let bf = half::bf16::from_f32(1e-6).to_f32();
    assert_eq!(back[8], half::f16::from_f32(bf).to_f32());
    assert!(back[9].is_nan());
}

/// The converter agrees with `half`'s correctly rounded f32 → f16 on every BF16 bit pattern
/// and on many F32 patterns, except that overflow saturates instead of giving ±inf.
#[test]
fn f16_rounding_matches_half_exhaustively() {
    use granite_engine::model_files::convert::f32_to_f16_saturating;
    let check = |x: f32| {
        let (got, sat) = f32_to_f16_saturating(x);
        let want = half::f16::from_f32(x);
        if want.is_nan() {
            assert!(half::f16::from_bits(got).is_nan(), "{x:e}");
        } else if want.is_infinite() {
            assert!(
                sat && got & 0x7fff == 0x7bff && (got >> 15 == 1) == x.is_sign_negative(),
                "{x:e}"
            );
        } else {
            assert!(
                !sat && got == want.to_bits(),
                "{x:e}: {got:#x} vs {:#x}",
                want.to_bits()
            );
        }
    };
    for bits in 0..=u16::MAX {
        check(half::bf16::from_bits(bits).to_f32());
    }
    let mut s = 0x9e3779b97f4a7c15u64;
    for _ in 0..2_000_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        check(f32::from_bits(s as u32));
    }
    // Ties round to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
    check(1.0 + 2f32.powi(-11));
    check(65520.0);
    check(2f32.powi(-25));
    check(2f32.powi(-25) * 1.5);
}

#[test]
fn f32_and_f16_sources() {
    let src = [0.1f32, 65519.0, 65520.0, -1e9];
    let bytes: Vec<u8> = src.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = vec![0u16; 4];
    let overflow = to_f16_into(&view(Dtype::F32, &[4], &bytes), &mut out).unwrap();
    assert_eq!(
        overflow, 2,
        "65519 rounds to 65504; 65520 and -1e9 overflow"
    );
    assert_eq!(out[0], half::f16::from_f32(0.1).to_bits());
    assert_eq!(out[1], 0x7BFF);
    assert_eq!(&out[2..], &[0x7BFF, 0xFBFF]);
    let f16_bits: Vec<u8> = [0x3C00u16, 0x7C00]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    let mut out = vec![0u16; 2];
    assert_eq!(
        to_f16_into(&view(Dtype::F16, &[2], &f16_bits), &mut out).unwrap(),
        0
    );
    assert_eq!(out, vec![0x3C00, 0x7C00], "F16 is copied bit for bit");
}

#[test]
fn row_ranges_and_errors() {
    let vals: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let bytes = bf16_bytes(&vals);
    let shape = [2, 3, 4];
    let v = view(Dtype::BF16, &shape, &bytes);
    assert_eq!((v.row_len(), v.n_rows()), (4, 6));
    let mut out = vec![0u16; 8];
    to_f16_rows(&v, 2, 2, &mut out).unwrap();
    let got: Vec<f32> = out
        .iter()
        .map(|b| half::f16::from_bits(*b).to_f32())
        .collect();
    assert_eq!(got, (8..16).map(|i| i as f32).collect::<Vec<_>>());
    assert_err_contains(to_f16_rows(&v, 5, 2, &mut out), &["rows 5..7", "6 rows"]);
    assert_err_contains(to_f16_rows(&v, usize::MAX, 2, &mut out), &["`t`"]);
    let mut small = vec![0u16; 3];
    assert_err_contains(to_f16_into(&v, &mut small), &["destination holds 3"]);
    let i32v = view(Dtype::I32, &[1], &[0, 0, 0, 0]);
    assert_err_contains(to_f16_into(&i32v, &mut [0u16; 1]), &["I32"]);
    assert_err_contains(to_f32_vec(&i32v), &["I32"]);
}

#[test]
fn to_f32_all_dtypes() {
    let vals = [1.5f32, -3.0, 0.25];
    let bf = bf16_bytes(&vals);
    let f16: Vec<u8> = vals
        .iter()
        .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
        .collect();
    let f32b: Vec<u8> = vals.iter().flat_map(|x| x.to_le_bytes()).collect();
    for (dt, b) in [(Dtype::BF16, &bf), (Dtype::F16, &f16), (Dtype::F32, &f32b)] {
        assert_eq!(
            to_f32_vec(&view(dt, &[3], b)).unwrap(),
            vals.to_vec(),
            "{dt}"
        );
    }
}
