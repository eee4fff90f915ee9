//! Grouped-query attention (§4.3) with an f16 KV cache.
//!
//! q `[T, nQ·hd]`, k and v `[T, nKV·hd]` come as row views of the projection outputs (no copies).
//! A call rotates q and k in place (RoPE models only), appends k and v to the cache as f16, then
//! attends causally over the cache: `s = (q·k) · scale` with `scale = attention_multiplier`
//! (not 1/√hd), softmax in f32, query head `a` reading kv head `a / (nQ/nKV)`.
//! Prefill runs a flash-attention kernel over the cached prefix plus the new tokens; decode
//! splits each sequence's context over workgroups and merges their partial softmaxes.
mod attend;
mod cache;
mod write;

pub use attend::{decode_chunk, flash_decode, flash_prefill};
pub use cache::{KvCache, KvConfig};
pub use write::{Positions, TABLE_MAX, kv_append, kv_append_each, rope, rope_inv_freq};

use super::ensure;
use crate::Result;
use crate::gpu::{Recorder, Rows};

/// Shape and constants of one attention mixer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnDims {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Softmax scale: config `attention_multiplier` (1/head_dim in the releases).
    pub scale: f32,
    /// `Some(rope_theta)` when `position_embedding_type == "rope"`; None for NoPE (hybrids).
    pub rope_theta: Option<f32>,
}

impl AttnDims {
    /// Checks the dims against themselves and against the cache they will use.
    pub fn check(&self, cache: &KvCache) -> Result<()> {
        let c = cache.config();
        ensure(
            self.n_kv_heads > 0 && self.n_heads.is_multiple_of(self.n_kv_heads),
            || {
                format!(
                    "attention: {} query heads are not a multiple of {} kv heads",
                    self.n_heads, self.n_kv_heads
                )
            },
        )?;
        ensure(
            self.n_kv_heads == c.n_kv_heads && self.head_dim == c.head_dim,
            || {
                format!(
                    "attention: {} kv heads × {} dims, but the cache holds {} × {}",
                    self.n_kv_heads, self.head_dim, c.n_kv_heads, c.head_dim
                )
            },
        )?;
        ensure(self.scale.is_finite(), || {
            format!("attention: scale {}", self.scale)
        })
    }
}

/// A prefill (or any multi-token chunk) of `n_tok` tokens of sequence `seq` in cache layer
/// `layer`, continuing after whatever the sequence already holds: RoPE (if enabled; q and k are
/// rotated in place) → append k, v → attention over cache + new tokens into `out` `[T, nQ·hd]`.
#[allow(clippy::too_many_arguments)]
pub fn attention_prefill(
    rec: &mut Recorder,
    q: Rows,
    k: Rows,
    v: Rows,
    out: Rows,
    cache: &mut KvCache,
    layer: usize,
    seq: usize,
    n_tok: usize,
    d: &AttnDims,
) -> Result<()> {
    d.check(cache)?;
    let pos0 = write::cache_len(cache, layer, seq)?;
    // Context limit and growth first, so a refused call records nothing else.
    cache.reserve(rec, layer, seq, pos0 + n_tok)?;
    if n_tok == 0 {
        return Ok(());
    }
    if let Some(theta) = d.rope_theta {
        let at = Positions::From(pos0);
        rope(rec, q, n_tok, d.n_heads, d.head_dim, at, theta)?;
        rope(rec, k, n_tok, d.n_kv_heads, d.head_dim, at, theta)?;
    }
    kv_append(rec, k, v, cache, layer, seq, n_tok)?;
    flash_prefill(rec, q, out, cache, layer, seq, pos0, n_tok, d)
}

/// One decode step: row `b` of q, k, v is the next token of sequence `seqs[b]` (distinct).
/// RoPE at each sequence's own position → append → split-context attention into `out` row `b`.
#[allow(clippy::too_many_arguments)]
pub fn attention_decode(
    rec: &mut Recorder,
    q: Rows,
    k: Rows,
    v: Rows,
    out: Rows,
    cache: &mut KvCache,
    layer: usize,
    seqs: &[usize],
    d: &AttnDims,
) -> Result<()> {
    d.check(cache)?;
    write::check_distinct(seqs)?;
    let mut pos = Vec::with_capacity(seqs.len());
    for &s in seqs {
        pos.push(write::cache_len(cache, layer, s)?);
    }
    for (&s, &p) in seqs.iter().zip(&pos) {
        cache.reserve(rec, layer, s, p + 1)?;
    }
    if seqs.is_empty() {
        return Ok(());
    }
    if let Some(theta) = d.rope_theta {
        let at = Positions::Each(&pos);
        rope(rec, q, seqs.len(), d.n_heads, d.head_dim, at, theta)?;
        rope(rec, k, seqs.len(), d.n_kv_heads, d.head_dim, at, theta)?;
    }
    kv_append_each(rec, k, v, cache, layer, seqs)?;
    flash_decode(rec, q, out, cache, layer, seqs, d, None)
}
