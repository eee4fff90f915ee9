//! Host dequantisers for the block formats Granite GGUFs contain (spec §4.2), exactly as ggml
//! defines them: the order of f32 operations follows gguf-py's reference so results are
//! bit-identical to it. Until the quantized GPU formats exist, quantized tensors are expanded
//! to f16 on upload, so a quantized file runs at f16 memory cost.
use half::{bf16, f16};

use super::types::GgmlType;

/// An f16 scale field; NaN/Inf scales are rejected (checklist item 16).
fn scale(b: &[u8], at: usize, what: &str) -> Result<f32, String> {
    let v = f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32();
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{what} scale is {v}"))
    }
}

/// Decodes `src` (whole blocks of `ty`) into `out` (one f32 per element). Errors name the
/// block whose scale or value is not finite.
pub fn dequantize(ty: GgmlType, src: &[u8], out: &mut [f32]) -> Result<(), String> {
    let (block, bytes) = (ty.block as usize, ty.bytes as usize);
    if !src.len().is_multiple_of(bytes) || src.len() / bytes * block != out.len() {
        return Err(format!(
            "{} bytes of {ty} do not hold {} values",
            src.len(),
            out.len()
        ));
    }
    let blocks = src.chunks_exact(bytes).zip(out.chunks_exact_mut(block));
    for (i, (b, o)) in blocks.enumerate() {
        let r = match ty.id {
            GgmlType::F32 => float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]), o),
            GgmlType::F16 => float(f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(), o),
            GgmlType::BF16 => float(
                bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
                o,
            ),
            GgmlType::Q8_0 => q8_0(b, o),
            GgmlType::Q4_0 => q4_0(b, o),
            GgmlType::Q4_K => q4_k(b, o, false),
            GgmlType::Q5_K => q4_k(b, o, true),
            GgmlType::Q6_K => q6_k(b, o),
            _ => return Err(format!("type {ty} is not supported by this engine yet")),
        };
        r.map_err(|e| format!("block {i}: {e}"))?;
    }
    Ok(())
}

fn float(v: f32, o: &mut [f32]) -> Result<(), String> {
    o[0] = v;
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("value is {v}"))
    }
}

fn q8_0(b: &[u8], o: &mut [f32]) -> Result<(), String> {
    let d = scale(b, 0, "d")?;
    for (o, &q) in o.iter_mut().zip(&b[2..34]) {
        *o = d * f32::from(q as i8);
    }
    Ok(())
}

fn q4_0(b: &[u8], o: &mut [f32]) -> Result<(), String> {
    let d = scale(b, 0, "d")?;
    for (j, &q) in b[2..18].iter().enumerate() {
        o[j] = d * f32::from((q & 15) as i8 - 8);
        o[j + 16] = d * f32::from((q >> 4) as i8 - 8);
    }
    Ok(())
}

/// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block's 12 packed bytes.
fn scale_min_k4(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q4_K, and Q5_K when `five` (the qh bytes sit between the scales and the nibbles).
fn q4_k(b: &[u8], o: &mut [f32], five: bool) -> Result<(), String> {
    let (d, dmin) = (scale(b, 0, "d")?, scale(b, 2, "dmin")?);
    let scales = &b[4..16];
    let (qh, qs) = if five {
        (&b[16..48], &b[48..176])
    } else {
        (&b[0..0], &b[16..144])
    };
    for (e, o) in o.iter_mut().enumerate() {
        let (c, r) = (e / 64, e % 64);
        let (half, l) = (r / 32, r % 32);
        let mut q = (qs[32 * c + l] >> (4 * half)) & 15;
        if five {
            q |= ((qh[l] >> (e / 32)) & 1) << 4;
        }
        let (sc, m) = scale_min_k4(scales, 2 * c + half);
        *o = (d * f32::from(sc)) * f32::from(q) - dmin * f32::from(m);
    }
    Ok(())
}

fn q6_k(b: &[u8], o: &mut [f32]) -> Result<(), String> {
    let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = scale(b, 208, "d")?;
    for (e, o) in o.iter_mut().enumerate() {
        let (h, r) = (e / 128, e % 128);
        let low = (ql[64 * h + r % 64] >> if r < 64 { 0 } else { 4 }) & 15;
        let high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
        let q = i16::from(low | (high << 4)) - 32;
        *o = (d * f32::from(sc[e / 16] as i8)) * f32::from(q);
    }
    Ok(())
}
