//! Conversion of tensor bytes to what the GPU stores: f16 for weights, f32 for the small SSM
//! vectors. Works on one tensor, or a range of its rows, at a time so the whole model is never
//! held in host memory.
//!
//! BF16 and F32 → F16 round to nearest-even (a single rounding: BF16 → F32 is exact). Values
//! whose magnitude exceeds the f16 range (±65504 after rounding, and ±∞) are **saturated** to
//! ±65504 instead of becoming ±∞, which would turn into NaN inside a matmul; they are counted so
//! the caller can warn. NaN stays NaN. F16 input is copied bit for bit.
use half::{bf16, f16};

use super::safetensors::Dtype;
use super::weights::TensorView;
use crate::{Error, Result};

/// Bits of the largest finite f16 (65504).
pub const F16_MAX_BITS: u16 = 0x7BFF;

fn tensor_err(view: &TensorView, msg: String) -> Error {
    Error::Tensor {
        file: view.file.to_path_buf(),
        tensor: view.name.to_string(),
        msg,
    }
}

/// One f32 → f16 bit pattern, rounded to nearest-even, with saturation; the bool says whether
/// it saturated. Bit arithmetic (F. Giesen's `float_to_half_fast3_rtne`) instead of
/// `half::f16::from_f32` so the per-element loop stays branch-light and fast on big tensors;
/// the loader tests check it against `half` for every BF16 bit pattern.
#[inline]
pub fn f32_to_f16_saturating(x: f32) -> (u16, bool) {
    const F16_SMALLEST_NORMAL_IN_F32: u32 = 113 << 23; // 2^-14
    const F16_OVERFLOW_IN_F32: u32 = 143 << 23; // 2^16
    const DENORM_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let abs = bits & 0x7fff_ffff;
    let h = if abs >= F16_OVERFLOW_IN_F32 {
        if abs > 0x7f80_0000 { 0x7e00 } else { 0x7c00 }
    } else if abs < F16_SMALLEST_NORMAL_IN_F32 {
        // Subnormal or zero: let the FPU round by adding a magic number.
        let magic = f32::from_bits(DENORM_MAGIC);
        (f32::from_bits(abs) + magic)
            .to_bits()
            .wrapping_sub(DENORM_MAGIC) as u16
    } else {
        let mant_odd = (abs >> 13) & 1;
        let rebiased = abs.wrapping_add(((15u32).wrapping_sub(127) << 23).wrapping_add(0xfff));
        (rebiased.wrapping_add(mant_odd) >> 13) as u16
    };
    if h == 0x7c00 {
        (F16_MAX_BITS | sign, true)
    } else {
        (h | sign, false)
    }
}

/// Converts the whole tensor into `out` (length = numel); returns the number of saturated
/// values.
pub fn to_f16_into(view: &TensorView, out: &mut [u16]) -> Result<usize> {
    to_f16_elems(view, 0, view.numel(), out)
}

/// Converts rows `[row_start, row_start + row_count)` (rows of the innermost dimension, see
/// [`TensorView::row_len`]) into `out` (length = row_count · row_len); returns the number of
/// saturated values.
pub fn to_f16_rows(
    view: &TensorView,
    row_start: usize,
    row_count: usize,
    out: &mut [u16],
) -> Result<usize> {
    let row_len = view.row_len();
    let (Some(start), Some(count)) = (
        row_start.checked_mul(row_len),
        row_count.checked_mul(row_len),
    ) else {
        return Err(tensor_err(
            view,
            format!("row range {row_start}+{row_count} overflows"),
        ));
    };
    if row_start
        .checked_add(row_count)
        .is_none_or(|end| end > view.n_rows())
    {
        return Err(tensor_err(
            view,
            format!(
                "rows {row_start}..{} requested but the tensor has {} rows",
                row_start.saturating_add(row_count),
                view.n_rows()
            ),
        ));
    }
    to_f16_elems(view, start, count, out)
}

/// Elements from which a conversion is split over the host's cores: a 13 GB BF16 checkpoint
/// otherwise spends ~25 s of its load converting on one core.
const PARALLEL_ELEMS: usize = 1 << 20;

/// Converts elements `[start, start + count)` into `out` (length = count). Returns how many
/// values overflowed f16 and were saturated.
pub fn to_f16_elems(
    view: &TensorView,
    start: usize,
    count: usize,
    out: &mut [u16],
) -> Result<usize> {
    let src = elem_bytes(view, start, count, out.len())?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if count < PARALLEL_ELEMS || threads == 1 || count == 0 {
        return convert_f16(view, src, out);
    }
    let per = count.div_ceil(threads);
    let width = src.len() / count;
    std::thread::scope(|scope| {
        let jobs: Vec<_> = out
            .chunks_mut(per)
            .zip(src.chunks(per * width))
            .map(|(o, s)| scope.spawn(move || convert_f16(view, s, o)))
            .collect();
        jobs.into_iter().try_fold(0, |sum, job| {
            let n = job
                .join()
                .unwrap_or_else(|_| Err(tensor_err(view, "conversion thread panicked".into())))?;
            Ok(sum + n)
        })
    })
}

fn convert_f16(view: &TensorView, src: &[u8], out: &mut [u16]) -> Result<usize> {
    let mut overflow = 0usize;
    match view.dtype {
        Dtype::F16 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = u16::from_le_bytes([b[0], b[1]]);
            }
        }
        Dtype::BF16 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                // BF16 is the top half of an f32: exact.
                let x = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
                let (bits, sat) = f32_to_f16_saturating(x);
                *o = bits;
                overflow += sat as usize;
            }
        }
        Dtype::F32 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                let (bits, sat) =
                    f32_to_f16_saturating(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                *o = bits;
                overflow += sat as usize;
            }
        }
        other => return Err(unsupported(view, other)),
    }
    Ok(overflow)
}

/// The whole tensor as f32 (exact for all three dtypes). Meant for small vectors: A_log, D,
/// dt_bias, norm weights.
pub fn to_f32_vec(view: &TensorView) -> Result<Vec<f32>> {
    let mut out = vec![0f32; view.numel()];
    to_f32_into(view, &mut out)?;
    Ok(out)
}

/// The whole tensor as f32 into `out` (length = numel).
pub fn to_f32_into(view: &TensorView, out: &mut [f32]) -> Result<()> {
    let src = elem_bytes(view, 0, view.numel(), out.len())?;
    match view.dtype {
        Dtype::F16 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
        Dtype::BF16 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
        Dtype::F32 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        other => return Err(unsupported(view, other)),
    }
    Ok(())
}

fn unsupported(view: &TensorView, dtype: Dtype) -> Error {
    tensor_err(
        view,
        format!("dtype {dtype} is not supported (expected BF16, F16 or F32)"),
    )
}

/// The bytes of elements `[start, start+count)`, after checking the range and `out_len`.
fn elem_bytes<'a>(
    view: &TensorView<'a>,
    start: usize,
    count: usize,
    out_len: usize,
) -> Result<&'a [u8]> {
    if out_len != count {
        return Err(tensor_err(
            view,
            format!("destination holds {out_len} values but {count} were requested"),
        ));
    }
    let size = view.dtype.size();
    let range = start
        .checked_add(count)
        .filter(|&end| end <= view.numel())
        .and_then(|end| Some(start.checked_mul(size)?..end.checked_mul(size)?));
    range.and_then(|r| view.bytes.get(r)).ok_or_else(|| {
        tensor_err(
            view,
            format!(
                "elements {start}..{} requested but the tensor has {}",
                start.saturating_add(count),
                view.numel()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A conversion large enough to be split over threads gives what one thread gives, with the
    /// overflows of every chunk counted (values near the chunk edges of any thread count).
    #[test]
    fn split_conversion_equals_one_thread() {
        let n = 3 * PARALLEL_ELEMS + 12_345;
        let mut values: Vec<f32> = (0..n).map(|i| ((i % 977) as f32 - 488.0) * 0.37).collect();
        for i in [0, 1, n / 7, n / 3, n / 2 + 1, n - 2, n - 1] {
            values[i] = 1e6 * if i % 2 == 0 { 1.0 } else { -1.0 };
        }
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let shape = [n];
        let view = TensorView {
            name: "t",
            dtype: Dtype::BF16,
            shape: &shape,
            bytes: &bytes,
            file: std::path::Path::new("t.safetensors"),
        };
        let (mut split, mut single) = (vec![0u16; n], vec![0u16; n]);
        let over = to_f16_elems(&view, 0, n, &mut split).unwrap();
        let want = convert_f16(&view, &bytes, &mut single).unwrap();
        assert_eq!(over, 7);
        assert_eq!(over, want);
        assert!(split == single, "split conversion differs");
    }
}
