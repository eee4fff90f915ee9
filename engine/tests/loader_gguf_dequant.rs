//! The host dequantisers against gguf-py's reference `dequantize` (values in
//! tests/data/gguf_dequant_ref.bin, written by scripts/make_gguf_dequant_reference.py):
//! random blocks, subnormal, zero, negative and ±65504 scales, all-zero blocks. Bit-exact.
use granite_engine::model_files::gguf::dequant::dequantize;
use granite_engine::model_files::gguf::types::GgmlType;

fn u32_at(b: &[u8], at: &mut usize) -> usize {
    let v = u32::from_le_bytes(b[*at..*at + 4].try_into().unwrap());
    *at += 4;
    v as usize
}

#[test]
fn blocks_match_the_gguf_py_reference_bit_for_bit() {
    let data = include_bytes!("data/gguf_dequant_ref.bin");
    let mut at = 0;
    let mut per_type = std::collections::BTreeMap::new();
    while at < data.len() {
        let ty = GgmlType::from_id(u32_at(data, &mut at) as u32).unwrap();
        let n = u32_at(data, &mut at);
        let block = &data[at..at + n];
        at += n;
        let count = u32_at(data, &mut at);
        let want: Vec<f32> = data[at..at + 4 * count]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        at += 4 * count;
        let mut got = vec![f32::NAN; count];
        dequantize(ty, block, &mut got).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{ty} element {i}: {g} vs reference {w}"
            );
        }
        *per_type.entry(ty.name).or_insert(0) += 1;
    }
    let names: Vec<_> = per_type.keys().copied().collect();
    assert_eq!(names, ["Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q8_0"]);
    assert!(per_type.values().all(|&n| n == 10));
}

#[test]
fn non_finite_scales_and_values_are_errors_naming_the_block() {
    let q8 = GgmlType::from_id(8).unwrap();
    let mut blocks = vec![0u8; 68];
    blocks[34..36].copy_from_slice(&0x7c00u16.to_le_bytes()); // +Inf scale in block 1
    let err = dequantize(q8, &blocks, &mut [0.0; 64]).unwrap_err();
    assert!(err.contains("block 1") && err.contains("inf"), "{err}");
    let q6 = GgmlType::from_id(14).unwrap();
    let mut b = vec![0u8; 210];
    b[208..210].copy_from_slice(&0x7e00u16.to_le_bytes()); // NaN
    assert!(
        dequantize(q6, &b, &mut [0.0; 256])
            .unwrap_err()
            .contains("NaN")
    );
    let f16 = GgmlType::from_id(1).unwrap();
    let err = dequantize(f16, &[0, 0, 0, 0x7c], &mut [0.0; 2]).unwrap_err();
    assert!(err.contains("block 1"), "{err}");
}

#[test]
fn unsupported_types_and_wrong_lengths_are_errors() {
    let q2 = GgmlType::from_id(10).unwrap();
    let err = dequantize(q2, &[0; 84], &mut [0.0; 256]).unwrap_err();
    assert!(
        err.contains("Q2_K") && err.contains("not supported"),
        "{err}"
    );
    let q8 = GgmlType::from_id(8).unwrap();
    assert!(dequantize(q8, &[0; 33], &mut [0.0; 32]).is_err());
    assert!(dequantize(q8, &[0; 34], &mut [0.0; 31]).is_err());
}
