//! CPU reference for the attention mixer's core (§4.3): RoPE (HF rotate-half), the f16 KV cache,
//! causal grouped-query softmax attention with `scale = attention_multiplier`.
//!
//! Layouts: q `[T, n_heads · hd]`, k and v `[T, n_kv · hd]` (head-major inside a token), output
//! `[T, n_heads · hd]`. Math in f64 except where transformers itself works in f32 (the RoPE angle),
//! and K/V rounded to f16 exactly as the GPU cache stores them.
use crate::kernels::attention::{AttnDims, rope_inv_freq};

/// Rotates `n_heads` heads of each of `positions.len()` rows of `x` (row stride `stride`) in
/// place: pairs `(i, i + hd/2)`, angle `f32(pos) · inv_freq[i]` (an f32 product, as in HF), then
/// cos/sin and the rotation in f64.
pub fn rope(
    x: &mut [f32],
    stride: usize,
    n_heads: usize,
    head_dim: usize,
    positions: &[usize],
    theta: f32,
) {
    let half = head_dim / 2;
    let inv = rope_inv_freq(head_dim, theta);
    for (t, &pos) in positions.iter().enumerate() {
        for h in 0..n_heads {
            let base = t * stride + h * head_dim;
            for i in 0..half {
                let angle = (pos as f32 * inv[i]) as f64;
                let (s, c) = angle.sin_cos();
                let (a, b) = (x[base + i] as f64, x[base + i + half] as f64);
                x[base + i] = (a * c - b * s) as f32;
                x[base + i + half] = (b * c + a * s) as f32;
            }
        }
    }
}

/// The value an f32 has once stored in the f16 cache (round to nearest even).
pub fn round_f16(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
}

/// Causal GQA attention of `n_tok` queries at positions `pos0 ..` over cached keys/values
/// `[len, n_kv · hd]` (`len ≥ pos0 + n_tok`): query `t` sees keys `0 ..= pos0 + t`; query head
/// `a` uses kv head `a / (n_heads / n_kv)`. `q` is used as given (already rotated).
pub fn causal_attention(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    pos0: usize,
    n_tok: usize,
    d: &AttnDims,
) -> Vec<f32> {
    let (hd, nq, nkv) = (d.head_dim, d.n_heads, d.n_kv_heads);
    let group = nq / nkv;
    let mut out = vec![0.0f32; n_tok * nq * hd];
    let mut scores = Vec::new();
    for t in 0..n_tok {
        let n_keys = pos0 + t + 1;
        for a in 0..nq {
            let h = a / group;
            let qa = &q[t * nq * hd + a * hd..][..hd];
            scores.clear();
            for j in 0..n_keys {
                let kj = &keys[j * nkv * hd + h * hd..][..hd];
                let dot: f64 = qa.iter().zip(kj).map(|(&x, &y)| x as f64 * y as f64).sum();
                scores.push(dot * d.scale as f64);
            }
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - m).exp();
                sum += *s;
            }
            for i in 0..hd {
                let acc: f64 = (0..n_keys)
                    .map(|j| scores[j] * values[j * nkv * hd + h * hd + i] as f64)
                    .sum();
                out[t * nq * hd + a * hd + i] = (acc / sum) as f32;
            }
        }
    }
    out
}

/// One sequence's attention layer as the GPU launchers run it: rotate q and k (if RoPE), store
/// k and v rounded to f16, attend causally over everything stored so far.
#[derive(Clone, Debug, Default)]
pub struct RefKvSeq {
    /// Stored keys `[len, n_kv · hd]` (rotated, f16-rounded).
    pub keys: Vec<f32>,
    /// Stored values `[len, n_kv · hd]` (f16-rounded).
    pub values: Vec<f32>,
}

impl RefKvSeq {
    /// Tokens stored.
    pub fn len(&self, d: &AttnDims) -> usize {
        self.keys.len() / (d.n_kv_heads * d.head_dim)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Drops everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize, d: &AttnDims) {
        let row = d.n_kv_heads * d.head_dim;
        self.keys.truncate(len * row);
        self.values.truncate(len * row);
    }

    /// Appends `n_tok` tokens (dense q `[T, nq·hd]`, k/v `[T, nkv·hd]`) and returns the
    /// attention output `[T, nq·hd]` for them.
    pub fn forward(
        &mut self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        n_tok: usize,
        d: &AttnDims,
    ) -> Vec<f32> {
        let pos0 = self.len(d);
        let (mut q, mut k) = (q.to_vec(), k.to_vec());
        if let Some(theta) = d.rope_theta {
            let pos: Vec<usize> = (pos0..pos0 + n_tok).collect();
            rope(
                &mut q,
                d.n_heads * d.head_dim,
                d.n_heads,
                d.head_dim,
                &pos,
                theta,
            );
            rope(
                &mut k,
                d.n_kv_heads * d.head_dim,
                d.n_kv_heads,
                d.head_dim,
                &pos,
                theta,
            );
        }
        self.keys.extend(round_f16(&k));
        self.values.extend(round_f16(v));
        causal_attention(&q, &self.keys, &self.values, pos0, n_tok, d)
    }
}
