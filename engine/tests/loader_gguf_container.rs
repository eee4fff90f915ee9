//! The GGUF container parser against every item of the validation checklist (gguf-notes §1.7)
//! and the shapes of past GGUF parser CVEs (§1.8): each malformed input must be an error with
//! a message naming what is wrong, never a panic or a huge allocation.
mod gguf_common;

use gguf_common::{T, V, Writer, rejects, rejects_w, valid};
use granite_engine::model_files::gguf::container::parse;

/// Byte position just after the fixed 24-byte header.
const KV0: usize = 24;

#[test]
fn valid_file_parses_with_tensors_in_place() {
    let bytes = valid().bytes();
    let c = parse(&bytes).unwrap();
    assert_eq!(
        (c.version, c.alignment, c.tensors.len(), c.kvs.len()),
        (3, 32, 2, 2)
    );
    let a = c.tensor("a.weight").unwrap();
    assert_eq!(
        &bytes[a.data.clone()],
        &[1f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(c.tensor("b.weight").unwrap().dims(), &[8, 2]);
    assert_eq!(c.data_start % 32, 0);
    // Version 2 has the same layout.
    assert!(
        parse(
            &Writer {
                version: 2,
                ..valid()
            }
            .bytes()
        )
        .is_ok()
    );
}

#[test]
fn item1_short_file_and_bad_magic() {
    rejects(&valid().bytes()[..23], "too short");
    rejects(&[], "too short");
    rejects_w(
        &Writer {
            magic: *b"GGML",
            ..valid()
        },
        "not a GGUF file",
    );
}

#[test]
fn item2_versions() {
    rejects_w(
        &Writer {
            version: 1,
            ..valid()
        },
        "GGUFv1 unsupported",
    );
    rejects_w(
        &Writer {
            version: 3u32.swap_bytes(),
            ..valid()
        },
        "big-endian GGUF unsupported",
    );
    rejects_w(
        &Writer {
            version: 4,
            ..valid()
        },
        "version 4 unsupported",
    );
    rejects_w(
        &Writer {
            version: 0,
            ..valid()
        },
        "version 0 unsupported",
    );
}

#[test]
fn item3_counts_against_caps_and_file_size() {
    rejects_w(
        &Writer {
            tensor_count: Some(65_537),
            ..valid()
        },
        "exceeds the limit",
    );
    rejects_w(
        &Writer {
            kv_count: Some(1 << 63),
            ..valid()
        },
        "exceeds the limit",
    );
    rejects_w(
        &Writer {
            kv_count: Some(60_000),
            ..valid()
        },
        "remain in the file",
    );
    rejects_w(
        &Writer {
            tensor_count: Some(60_000),
            ..valid()
        },
        "remain in the file",
    );
}

#[test]
fn item4_string_lengths() {
    // Key longer than the file.
    let mut b = valid().bytes();
    b[KV0..KV0 + 8].copy_from_slice(&(u64::MAX).to_le_bytes());
    rejects(&b, "over the limit");
    b[KV0..KV0 + 8].copy_from_slice(&(60_000u64).to_le_bytes());
    rejects(&b, "remain in the file");
    // Value over 64 MiB (declared; the file is tiny).
    rejects_w(
        &valid().kv("x", V::Raw(8, (1u64 << 30).to_le_bytes().to_vec())),
        "over the limit",
    );
    rejects_w(
        &valid().kv("x", V::Raw(8, (1000u64).to_le_bytes().to_vec())),
        "remain in the file",
    );
    // Tensor name of 64 bytes.
    rejects_w(
        &valid().tensor(T::f32(&"n".repeat(64), &[1], &[0.0])),
        "must be 1 to 63 bytes",
    );
    rejects_w(
        &valid().tensor(T::f32("", &[1], &[0.0])),
        "must be 1 to 63 bytes",
    );
    assert!(
        parse(
            &valid()
                .tensor(T::f32(&"n".repeat(63), &[1], &[0.0]))
                .bytes()
        )
        .is_ok()
    );
    // Arrays over 64 Mi elements, or longer than the file.
    let mut arr = 10u32.to_le_bytes().to_vec();
    arr.extend((1u64 << 62).to_le_bytes());
    rejects_w(&valid().kv("x", V::Raw(9, arr)), "over the limit");
    let mut arr = 10u32.to_le_bytes().to_vec();
    arr.extend((1000u64).to_le_bytes());
    rejects_w(&valid().kv("x", V::Raw(9, arr)), "remain in the file");
}

#[test]
fn item5_keys() {
    rejects_w(
        &valid().kv("general.name", V::Str("again".into())),
        "appears twice",
    );
    rejects_w(&valid().kv("", V::U32(1)), "empty or contains NUL");
    rejects_w(&valid().kv("a\0b", V::U32(1)), "empty or contains NUL");
    let mut w = valid();
    w.kvs[1].0 = "gen\u{e9}ral".into();
    let mut b = w.bytes();
    let at = b.windows(2).position(|p| p == [0xc3, 0xa9]).unwrap();
    b[at] = 0xff;
    rejects(&b, "not valid UTF-8");
}

#[test]
fn item6_value_and_element_types() {
    rejects_w(&valid().kv("x", V::Raw(13, vec![0; 8])), "value type 13");
    rejects_w(
        &valid().kv("x", V::Raw(u32::MAX, vec![0; 8])),
        "not a GGUF value type",
    );
    let mut arr = 13u32.to_le_bytes().to_vec();
    arr.extend(1u64.to_le_bytes());
    rejects_w(&valid().kv("x", V::Raw(9, arr)), "array element type 13");
    // Nested arrays, 10 000 deep (recursion would overflow the stack).
    let mut nested = Vec::new();
    for _ in 0..10_000 {
        nested.extend(9u32.to_le_bytes());
        nested.extend(1u64.to_le_bytes());
    }
    rejects_w(&valid().kv("x", V::Raw(9, nested)), "nested arrays");
}

#[test]
fn item7_bool_byte() {
    rejects_w(&valid().kv("x", V::Raw(7, vec![2])), "must be 0 or 1");
    let mut arr = 7u32.to_le_bytes().to_vec();
    arr.extend(2u64.to_le_bytes());
    arr.extend([1, 255]);
    rejects_w(&valid().kv("x", V::Raw(9, arr)), "must be 0 or 1");
}

#[test]
fn item8_alignment() {
    for a in [0u32, 3, 48, 1 << 21, 1 << 30] {
        rejects_w(&valid().kv("general.alignment", V::U32(a)), "power of two");
    }
    rejects_w(
        &valid().kv("general.alignment", V::I32(32)),
        "must be UINT32",
    );
    rejects_w(
        &valid().kv("general.alignment", V::Str("32".into())),
        "must be UINT32",
    );
    let w = Writer {
        alignment: 64,
        ..valid()
    }
    .kv("general.alignment", V::U32(64));
    assert_eq!(parse(&w.bytes()).unwrap().alignment, 64);
    let w = Writer {
        alignment: 1,
        ..valid()
    }
    .kv("general.alignment", V::U32(1));
    assert!(parse(&w.bytes()).is_ok());
}

#[test]
fn item9_tensor_names_unique_and_utf8() {
    rejects_w(
        &valid().tensor(T::f32("a.weight", &[1], &[0.0])),
        "tensor `a.weight` appears twice",
    );
    let mut b = valid().tensor(T::f32("zz", &[1], &[0.0])).bytes();
    let at = b.windows(2).position(|p| p == b"zz").unwrap();
    b[at] = 0xc3;
    rejects(&b, "not valid UTF-8");
}

fn with_ne(ne: &[u64]) -> Writer {
    valid().tensor(T {
        name: "c".into(),
        ne: ne.to_vec(),
        ty: 0,
        data: vec![0; 4],
        offset: None,
    })
}

#[test]
fn item10_dimension_count() {
    for n in [0usize, 5, 9] {
        rejects_w(&with_ne(&vec![1; n]), &format!("{n} dimensions"));
    }
    // n_dims = u32::MAX: patch the count of tensor "c".
    let mut b = with_ne(&[1]).bytes();
    let at = b
        .windows(9)
        .position(|p| p == [1, 0, 0, 0, 0, 0, 0, 0, b'c'])
        .unwrap()
        + 9;
    b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    rejects(&b, "4294967295 dimensions");
}

#[test]
fn item11_extents() {
    rejects_w(&with_ne(&[4, 0]), "extent 1 is 0");
    rejects_w(&with_ne(&[(1 << 40) + 1]), "must be 1 to 2^40");
    rejects_w(&with_ne(&[1 << 63]), "must be 1 to 2^40");
    rejects_w(&with_ne(&[u64::MAX, 2]), "must be 1 to 2^40");
}

#[test]
fn item12_sizes_overflow_or_exceed_the_file() {
    // 2^40 · 2^40 elements overflow u64 bytes; 2^32 · 2^32 F32 too (CVE-2026-33298 shape).
    rejects_w(&with_ne(&[1 << 40, 1 << 40]), "overflows");
    rejects_w(&with_ne(&[1 << 32, 1 << 32]), "overflows");
    rejects_w(&with_ne(&[1 << 20, 1 << 10]), "past the end of the file");
}

#[test]
fn item13_types() {
    for (id, needle) in [
        (4u32, "type id 4"),
        (31, "type id 31"),
        (40, "type id 40"),
        (u32::MAX, "type id 4294967295"),
    ] {
        rejects_w(
            &valid().tensor(T {
                name: "q".into(),
                ne: vec![32],
                ty: id,
                data: vec![0; 34],
                offset: None,
            }),
            needle,
        );
    }
    // Q8_0 rows must be whole blocks of 32.
    rejects_w(
        &valid().tensor(T {
            name: "q".into(),
            ne: vec![16],
            ty: 8,
            data: vec![0; 34],
            offset: None,
        }),
        "not a multiple of the Q8_0 block size 32",
    );
}

fn with_offset(i: usize, off: u64) -> Writer {
    let mut w = valid();
    w.tensors[i].offset = Some(off);
    w
}

#[test]
fn item14_offsets() {
    rejects_w(&with_offset(1, 33), "not a multiple of the alignment");
    rejects_w(&with_offset(1, 0), "without gaps or overlaps"); // overlaps a.weight
    rejects_w(&with_offset(1, 64), "without gaps or overlaps"); // gap
    rejects_w(&with_offset(0, 32), "without gaps or overlaps"); // out of order
    // A tensor whose data ends one byte past the end of the file (CVE-2026-7482 shape).
    let c = parse(&valid().bytes()).unwrap();
    let end = c.tensor("b.weight").unwrap().data.end;
    rejects(&valid().bytes()[..end - 1], "past the end of the file");
    assert!(
        parse(&valid().bytes()[..end]).is_ok(),
        "a file may end right after the last tensor"
    );
    // Offset far past EOF.
    rejects_w(&with_offset(1, 1 << 40), "without gaps or overlaps");
}

#[test]
fn item15_data_section_inside_the_file() {
    let w = Writer {
        tensors: vec![],
        ..valid()
    }
    .kv("pad", V::Str("x".repeat(5)));
    let b = w.bytes();
    let c = parse(&b).unwrap();
    assert!(c.data_start <= b.len());
    // Header ends at a non-aligned position and the file stops there: no room for padding.
    let unpadded = b.iter().rposition(|&x| x == b'x').unwrap() + 1;
    let w1 = Writer {
        tensors: vec![T::f32("z", &[1], &[0.0])],
        ..w
    };
    let bytes = w1.bytes();
    let info_end = bytes.len() - 32; // the only tensor's 4 bytes padded to 32
    assert!(unpadded < info_end);
    rejects(&bytes[..info_end - 1], "past the end of the file");
}

#[test]
fn split_files_are_rejected_clearly() {
    rejects_w(
        &valid().kv("split.count", V::U32(3)),
        "split GGUF not supported yet",
    );
    assert!(parse(&valid().kv("split.count", V::U32(1)).bytes()).is_ok());
}
