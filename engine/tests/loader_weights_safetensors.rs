//! Weights: every malformed safetensors case, and the absolute offsets of a valid file.
mod loader_common;

use granite_engine::model_files::safetensors::{self, MAX_HEADER_BYTES};
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
