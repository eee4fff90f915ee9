//! RoPE (in place on q / k rows) and the KV cache append (f32 → f16 into the cache rows).
use super::KvCache;
use crate::Result;
use crate::gpu::{Bind, Recorder, Rows, grid, uniform};
use crate::kernels::ensure;

/// Tokens per dispatch when every token has its own position / cache row (the table lives in
/// the uniform block); longer lists are split into several dispatches.
pub const TABLE_MAX: usize = 32;

/// Where the rows' tokens sit in their sequences.
#[derive(Clone, Copy, Debug)]
pub enum Positions<'a> {
    /// Token `t` is at position `p0 + t` (one sequence, a prefill).
    From(usize),
    /// Token `t` is at position `list[t]` (one token per sequence, a decode).
    Each(&'a [usize]),
}

uniform! {
    struct RopeParams {
        n_tok: u32,
        n_heads: u32,
        half_dim: u32,
        head_dim: u32,
        stride: u32,
        offset: u32,
        pos0: u32,
        use_table: u32,
        pos: [u32; TABLE_MAX],
        inv_freq: [f32; 128],
    }
}

/// Positions go through f32 (as in transformers), exact below 2^24.
const MAX_POS: usize = 1 << 24;

/// `inv_freq[i] = 1 / θ^(2i / hd)` for `i < hd / 2`, in f32 as transformers computes it
/// (`1.0 / (base ** (arange(0, dim, 2).float() / dim))`). The launcher uploads these numbers
/// and the CPU reference uses them too, so kernel and reference agree on them bit for bit.
pub fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| {
            let e = (2 * i) as f32 / head_dim as f32;
            1.0f32 / ((theta as f64).powf(e as f64) as f32)
        })
        .collect()
}

/// Rotates `n_heads` heads of `n_tok` rows of `x` in place (HF rotate-half, θ = `theta`).
pub fn rope(
    rec: &mut Recorder,
    x: Rows,
    n_tok: usize,
    n_heads: usize,
    head_dim: usize,
    positions: Positions,
    theta: f32,
) -> Result<()> {
    ensure(
        head_dim.is_multiple_of(2) && (2..=256).contains(&head_dim),
        || format!("rope: head_dim {head_dim} must be even and at most 256"),
    )?;
    ensure(theta.is_finite() && theta > 0.0, || {
        format!("rope: θ = {theta} must be positive")
    })?;
    ensure(x.fits(n_tok, n_heads * head_dim), || {
        format!(
            "rope: rows ({} floats, stride {}, offset {}) too small for {n_tok}×{n_heads}×{head_dim}",
            x.t.numel(),
            x.stride,
            x.offset
        )
    })?;
    let inv = rope_inv_freq(head_dim, theta);
    let mut inv_freq = [0.0f32; 128];
    inv_freq[..inv.len()].copy_from_slice(&inv);
    let mut params = RopeParams {
        n_tok: 0,
        n_heads: n_heads as u32,
        half_dim: (head_dim / 2) as u32,
        head_dim: head_dim as u32,
        stride: x.stride as u32,
        offset: 0,
        pos0: 0,
        use_table: 0,
        pos: [0; TABLE_MAX],
        inv_freq,
    };
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("rope", &[]), "rope")?;
    let launch = |rec: &mut Recorder, params: &RopeParams| {
        let n = params.n_tok as usize * n_heads * head_dim / 2;
        let groups = grid(gpu, n.div_ceil(64) as u32);
        rec.dispatch(
            &pipeline,
            "rope",
            params,
            vec![Bind::write(&x.t.buf)],
            groups,
        );
    };
    match positions {
        Positions::From(p0) => {
            ensure(p0 + n_tok <= MAX_POS, || {
                format!("rope: position {} past 2^24", p0 + n_tok)
            })?;
            params.n_tok = n_tok as u32;
            params.offset = x.offset as u32;
            params.pos0 = p0 as u32;
            launch(rec, &params);
        }
        Positions::Each(list) => {
            ensure(list.len() == n_tok, || {
                format!("rope: {} positions for {n_tok} tokens", list.len())
            })?;
            ensure(list.iter().all(|&p| p < MAX_POS), || {
                "rope: position past 2^24".to_string()
            })?;
            params.use_table = 1;
            for (i, chunk) in list.chunks(TABLE_MAX).enumerate() {
                params.n_tok = chunk.len() as u32;
                params.offset = (x.offset + i * TABLE_MAX * x.stride) as u32;
                for (slot, &p) in params.pos.iter_mut().zip(chunk) {
                    *slot = p as u32;
                }
                launch(rec, &params);
            }
        }
    }
    Ok(())
}

uniform! {
    struct AppendParams {
        n_tok: u32,
        n_kv: u32,
        head_dim: u32,
        ld2: u32,
        k_stride: u32,
        k_off: u32,
        v_stride: u32,
        v_off: u32,
        cap: u32,
        slot: u32,
        pos0: u32,
        use_table: u32,
        tab: [u32; 2 * TABLE_MAX],
    }
}

fn check_kv_rows(k: Rows, v: Rows, n_tok: usize, width: usize) -> Result<()> {
    ensure(k.fits(n_tok, width) && v.fits(n_tok, width), || {
        format!("kv append: k or v rows too small for {n_tok} tokens × {width} floats")
    })
}

fn append_params(cache: &KvCache, layer: usize, k: Rows, v: Rows) -> AppendParams {
    let c = cache.config();
    AppendParams {
        n_tok: 0,
        n_kv: c.n_kv_heads as u32,
        head_dim: c.head_dim as u32,
        ld2: (cache.row_halves() / 2) as u32,
        k_stride: k.stride as u32,
        k_off: k.offset as u32,
        v_stride: v.stride as u32,
        v_off: v.offset as u32,
        cap: cache.capacity(layer) as u32,
        slot: 0,
        pos0: 0,
        use_table: 0,
        tab: [0; 2 * TABLE_MAX],
    }
}

fn launch_append(
    rec: &mut Recorder,
    cache: &KvCache,
    layer: usize,
    k: Rows,
    v: Rows,
    params: &AppendParams,
) -> Result<()> {
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("attention_kv", &[]), "kv_append")?;
    let (kc, vc) = cache.bufs(layer)?;
    let n = params.n_tok as usize * params.n_kv as usize * params.ld2 as usize;
    let binds = vec![
        Bind::read(&k.t.buf),
        Bind::read(&v.t.buf),
        Bind::write(kc),
        Bind::write(vc),
    ];
    let groups = grid(gpu, n.div_ceil(64) as u32);
    rec.dispatch(&pipeline, "attention", params, binds, groups);
    Ok(())
}

/// Stores `n_tok` rows of k and v (`[T, n_kv · hd]` each, k already rotated) after the
/// `len` tokens `seq` holds in `layer`, growing the cache if needed.
pub fn kv_append(
    rec: &mut Recorder,
    k: Rows,
    v: Rows,
    cache: &mut KvCache,
    layer: usize,
    seq: usize,
    n_tok: usize,
) -> Result<()> {
    let c = *cache.config();
    check_kv_rows(k, v, n_tok, c.n_kv_heads * c.head_dim)?;
    cache.reserve(rec, layer, seq, cache_len(cache, layer, seq)? + n_tok)?;
    if n_tok == 0 {
        return Ok(());
    }
    let pos0 = cache.len(layer, seq);
    let mut params = append_params(cache, layer, k, v);
    params.n_tok = n_tok as u32;
    params.slot = seq as u32;
    params.pos0 = pos0 as u32;
    launch_append(rec, cache, layer, k, v, &params)?;
    cache.set_len(layer, seq, pos0 + n_tok);
    Ok(())
}

/// Stores one row of k and v per sequence: row `b` after the tokens of `seqs[b]` (decode).
pub fn kv_append_each(
    rec: &mut Recorder,
    k: Rows,
    v: Rows,
    cache: &mut KvCache,
    layer: usize,
    seqs: &[usize],
) -> Result<()> {
    let c = *cache.config();
    check_kv_rows(k, v, seqs.len(), c.n_kv_heads * c.head_dim)?;
    check_distinct(seqs)?;
    for &s in seqs {
        cache.reserve(rec, layer, s, cache_len(cache, layer, s)? + 1)?;
    }
    for (i, chunk) in seqs.chunks(TABLE_MAX).enumerate() {
        let (k_i, v_i) = (
            Rows {
                offset: k.offset + i * TABLE_MAX * k.stride,
                ..k
            },
            Rows {
                offset: v.offset + i * TABLE_MAX * v.stride,
                ..v
            },
        );
        let mut params = append_params(cache, layer, k_i, v_i);
        params.n_tok = chunk.len() as u32;
        params.use_table = 1;
        for (b, &s) in chunk.iter().enumerate() {
            params.tab[2 * b] = s as u32;
            params.tab[2 * b + 1] = cache.len(layer, s) as u32;
        }
        launch_append(rec, cache, layer, k_i, v_i, &params)?;
    }
    for &s in seqs {
        cache.set_len(layer, s, cache.len(layer, s) + 1);
    }
    Ok(())
}

/// `cache.len` with the layer / sequence checked.
pub(crate) fn cache_len(cache: &KvCache, layer: usize, seq: usize) -> Result<usize> {
    let c = cache.config();
    ensure(layer < c.layers && seq < c.seqs, || {
        format!(
            "KV cache: layer {layer} / sequence {seq} out of range ({} layers, {} sequences)",
            c.layers, c.seqs
        )
    })?;
    Ok(cache.len(layer, seq))
}

pub(crate) fn check_distinct(seqs: &[usize]) -> Result<()> {
    for (i, s) in seqs.iter().enumerate() {
        ensure(!seqs[..i].contains(s), || {
            format!("attention: sequence {s} appears twice in one decode batch")
        })?;
    }
    Ok(())
}
