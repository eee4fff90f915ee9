//! The shapes of past GGUF parser and vocabulary bugs (gguf-notes §1.8) as regression inputs:
//! each ends in an error naming what is wrong, never a panic, an abort or an allocation larger
//! than the file.
mod gguf_common;
mod loader_common;

use gguf_common::model::{Out, fixture};
use gguf_common::{T, V, open_err, rejects_w, valid};
use granite_engine::model_files::gguf::{self, container::parse};
use loader_common::TempDir;

#[test]
fn cve_shapes_end_in_errors() {
    // #1: string length 2^64 - 1 (kv count 2^63 and an array of 2^62 UINT64: item3, item4).
    rejects_w(
        &valid().kv("s", V::Raw(8, u64::MAX.to_le_bytes().to_vec())),
        "over the limit",
    );
    // #3: two tensors whose padded sizes sum past 2^64: rejected by the extent cap first.
    rejects_w(
        &valid().tensor(T {
            name: "h".into(),
            ne: vec![1 << 40, 1 << 23],
            ty: 0,
            data: vec![],
            offset: None,
        }),
        "overflows",
    );
    // #6: a 1 GiB string in a 200-byte file; alignment 2^30; type id -1.
    rejects_w(
        &valid().kv("s", V::Raw(8, (1u64 << 30).to_le_bytes().to_vec())),
        "over the limit",
    );
    rejects_w(
        &valid().kv("general.alignment", V::U32(1 << 30)),
        "power of two",
    );
    rejects_w(
        &valid().tensor(T {
            name: "t".into(),
            ne: vec![1],
            ty: u32::MAX,
            data: vec![0; 4],
            offset: None,
        }),
        "unknown",
    );
    // #18: string length ≥ 2^63 must not wrap into a backwards seek.
    rejects_w(
        &valid().kv("s", V::Raw(8, (1u64 << 63).to_le_bytes().to_vec())),
        "over the limit",
    );
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let b = valid().bytes();
    let end = parse(&b).unwrap().tensors.last().unwrap().data.end;
    for n in 0..end {
        assert!(parse(&b[..n]).is_err(), "accepted a file cut at {n} bytes");
    }
}

#[test]
fn vocabulary_regressions() {
    let w = fixture("moe_nope", Out::F16);
    // CVE rows 11–14: arrays of different lengths, special ids out of range, empty vocab,
    // duplicate tokens, malformed merges.
    let e = open_err(
        &w.clone()
            .set_kv("tokenizer.ggml.token_type", V::I32Arr(vec![1; 10])),
    );
    assert!(
        e.contains("token_type") && e.contains("expected 512"),
        "{e}"
    );
    for id in [512u32, u32::MAX] {
        let e = open_err(&w.clone().set_kv("tokenizer.ggml.bos_token_id", V::U32(id)));
        assert!(
            e.contains("bos_token_id") && e.contains("not a token id"),
            "{e}"
        );
    }
    let e = open_err(
        &w.clone()
            .set_kv("tokenizer.ggml.tokens", V::StrArr(vec![]))
            .set_kv("tokenizer.ggml.token_type", V::I32Arr(vec![])),
    );
    assert!(e.contains("empty"), "{e}");
    let mut toks = match &w
        .kvs
        .iter()
        .find(|(k, _)| k == "tokenizer.ggml.tokens")
        .unwrap()
        .1
    {
        V::StrArr(t) => t.clone(),
        _ => unreachable!(),
    };
    toks[5] = toks[6].clone();
    let e = open_err(
        &w.clone()
            .set_kv("tokenizer.ggml.tokens", V::StrArr(toks.clone())),
    );
    assert!(e.contains("appears twice"), "{e}");
    toks[5] = String::new();
    let e = open_err(&w.clone().set_kv("tokenizer.ggml.tokens", V::StrArr(toks)));
    assert!(e.contains("token 5 is an empty string"), "{e}");
    let e = open_err(
        &w.clone()
            .set_kv("tokenizer.ggml.merges", V::StrArr(vec!["ab".into()])),
    );
    assert!(e.contains("merges[0]"), "{e}");
    let e = open_err(
        &w.clone()
            .set_kv("tokenizer.ggml.token_type", V::I32Arr(vec![9; 512])),
    );
    assert!(e.contains("token_type"), "{e}");
    // A narrower element type is read as what it declares (row 10): UINT8 types work.
    let types = match &w
        .kvs
        .iter()
        .find(|(k, _)| k == "tokenizer.ggml.token_type")
        .unwrap()
        .1
    {
        V::I32Arr(t) => t.iter().map(|&v| v as u8).collect(),
        _ => unreachable!(),
    };
    let dir = TempDir::new("gguf-u8");
    let p = dir.join("m.gguf");
    w.set_kv("tokenizer.ggml.token_type", V::U8Arr(types))
        .write(&p);
    assert!(gguf::open(&p).is_ok());
    let e = open_err(
        &fixture("moe_nope", Out::F16).set_kv("tokenizer.ggml.pre", V::Str("qwen2".into())),
    );
    assert!(e.contains("unsupported tokenizer"), "{e}");
}
