//! Weights: the f16/f32 conversions of tensor views (saturating, correctly rounded, by row
//! ranges) and their errors.
mod loader_common;

use granite_engine::model_files::{Dtype, TensorView, to_f16_into, to_f16_rows, to_f32_vec};
use loader_common::*;

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
