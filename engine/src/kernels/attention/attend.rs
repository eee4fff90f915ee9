//! The attention proper, reading K/V from the cache: the flash-attention prefill kernel and the
//! split-context decode (partials + reduce).
use super::write::{TABLE_MAX, cache_len, check_distinct};
use super::{AttnDims, KvCache};
use crate::Result;
use crate::gpu::shaders::{NO_ZERO_INIT, Variant};
use crate::gpu::{Bind, Gpu, Recorder, Rows, uniform};
use crate::kernels::ensure;

/// The shader variant for a cache row of `ld` halves: the head-dim class flag picks tile sizes.
fn variant(gpu: &Gpu, shader: &'static str, ld: usize) -> Variant {
    let mut v = gpu.variant(shader, &[]);
    // Both kernels write each workgroup variable before reading it.
    v.flags.insert(NO_ZERO_INIT);
    match ld {
        0..=32 => {}
        33..=64 => {
            v.flags.insert("D64");
        }
        65..=128 => {
            v.flags.insert("D128");
        }
        _ => {
            v.flags.insert("D256");
        }
    }
    v
}

fn check_q_out(q: Rows, out: Rows, n_tok: usize, d: &AttnDims) -> Result<()> {
    let width = d.n_heads * d.head_dim;
    ensure(q.fits(n_tok, width) && out.fits(n_tok, width), || {
        format!("attention: q or out rows too small for {n_tok} tokens × {width} floats")
    })?;
    ensure(q.t.buf.raw() != out.t.buf.raw(), || {
        "attention: out must not share a buffer with q".to_string()
    })
}

uniform! {
    struct PrefillParams {
        n_tok: u32,
        n_kv: u32,
        group: u32,
        head_dim: u32,
        hd2: u32,
        ld2: u32,
        pos0: u32,
        row0: u32,
        q_stride: u32,
        q_off: u32,
        o_stride: u32,
        o_off: u32,
        scale: f32,
    }
}

/// Causal attention of `n_tok` queries of `seq` at positions `pos0 ..` (q used as given, i.e.
/// already rotated) over the keys `0 ..= pos0 + t` already in the cache; writes `out`.
#[allow(clippy::too_many_arguments)]
pub fn flash_prefill(
    rec: &mut Recorder,
    q: Rows,
    out: Rows,
    cache: &KvCache,
    layer: usize,
    seq: usize,
    pos0: usize,
    n_tok: usize,
    d: &AttnDims,
) -> Result<()> {
    d.check(cache)?;
    check_q_out(q, out, n_tok, d)?;
    let len = cache_len(cache, layer, seq)?;
    ensure(pos0 + n_tok <= len, || {
        format!(
            "attention prefill: queries up to position {} but sequence {seq} holds {len} tokens",
            pos0 + n_tok
        )
    })?;
    if n_tok == 0 {
        return Ok(());
    }
    let gpu = rec.gpu();
    let ld = cache.row_halves();
    let bq = match ld {
        0..=32 => 64,
        33..=64 => 32,
        65..=128 => 16,
        _ => 8,
    };
    let group = d.n_heads / d.n_kv_heads;
    let tiles = (n_tok * group).div_ceil(bq);
    ensure(
        tiles <= gpu.limits.max_compute_workgroups_per_dimension as usize,
        || format!("attention prefill: {n_tok} tokens in one call is too many, split the prompt"),
    )?;
    let params = PrefillParams {
        n_tok: n_tok as u32,
        n_kv: d.n_kv_heads as u32,
        group: group as u32,
        head_dim: d.head_dim as u32,
        hd2: d.head_dim.div_ceil(2) as u32,
        ld2: (ld / 2) as u32,
        pos0: pos0 as u32,
        row0: (seq * cache.capacity(layer)) as u32,
        q_stride: q.stride as u32,
        q_off: q.offset as u32,
        o_stride: out.stride as u32,
        o_off: out.offset as u32,
        scale: d.scale,
    };
    let pipeline = gpu.pipeline(&variant(gpu, "attention_prefill", ld), "prefill")?;
    let (kc, vc) = cache.bufs(layer)?;
    let binds = vec![
        Bind::read(&q.t.buf),
        Bind::read(kc),
        Bind::read(vc),
        Bind::write(&out.t.buf),
    ];
    let groups = [tiles as u32, d.n_kv_heads as u32, 1];
    rec.dispatch(&pipeline, "attention", &params, binds, groups);
    Ok(())
}

uniform! {
    struct DecodeParams {
        n_q: u32,
        n_kv: u32,
        group: u32,
        head_dim: u32,
        hd8: u32,
        hd2: u32,
        ld8: u32,
        cap: u32,
        chunk: u32,
        n_chunks: u32,
        ml_off: u32,
        q_stride: u32,
        q_off: u32,
        scale: f32,
        g: u32,
        head_blocks: u32,
        tph: u32,
        kt: u32,
        _pad: [u32; 2],
        tab: [u32; 2 * TABLE_MAX],
    }
}

uniform! {
    struct ReduceParams {
        n_q: u32,
        head_dim: u32,
        ld: u32,
        chunk: u32,
        n_chunks: u32,
        ml_off: u32,
        o_stride: u32,
        o_off: u32,
        tab: [u32; 2 * TABLE_MAX],
    }
}

/// Keys per decode workgroup for a context of `len`: at least 64, and at most ~128 chunks, so
/// short contexts still spread over workgroups and long ones keep the partials small.
pub fn decode_chunk(len: usize) -> usize {
    len.div_ceil(128).next_power_of_two().max(64)
}

/// Query heads one decode workgroup handles (the shader's GMAX).
const DECODE_HEADS: usize = 8;

/// One query per sequence (row `b` of q for `seqs[b]`) at its last cached position, over all
/// its cached keys; writes row `b` of `out`. The context is split into chunks of `chunk` keys
/// (`None`: [`decode_chunk`]), one workgroup each, merged by a second kernel.
#[allow(clippy::too_many_arguments)]
pub fn flash_decode(
    rec: &mut Recorder,
    q: Rows,
    out: Rows,
    cache: &mut KvCache,
    layer: usize,
    seqs: &[usize],
    d: &AttnDims,
    chunk: Option<usize>,
) -> Result<()> {
    d.check(cache)?;
    check_q_out(q, out, seqs.len(), d)?;
    check_distinct(seqs)?;
    for &s in seqs {
        ensure(cache_len(cache, layer, s)? > 0, || {
            format!("attention decode: sequence {s} holds no tokens")
        })?;
    }
    ensure(chunk != Some(0), || {
        "attention decode: chunk of 0 keys".to_string()
    })?;
    let gpu = rec.gpu();
    let ld = cache.row_halves();
    let group = d.n_heads / d.n_kv_heads;
    // Groups larger than the shader's GMAX split into equal blocks (12 → 6 + 6, not 8 + 4).
    let head_blocks = group.div_ceil(DECODE_HEADS);
    let g = group.div_ceil(head_blocks);
    let hd8 = d.head_dim.div_ceil(8);
    let kt = if gpu.paths.subgroups {
        hd8.next_power_of_two()
            .min(8)
            .min(gpu.paths.subgroup_size as usize)
    } else {
        1
    };
    let split = gpu.pipeline(&variant(gpu, "attention_decode", ld), "decode")?;
    let reduce = gpu.pipeline(&gpu.variant("attention_reduce", &[]), "reduce")?;
    for (i, batch) in seqs.chunks(TABLE_MAX).enumerate() {
        let lens: Vec<usize> = batch.iter().map(|&s| cache.len(layer, s)).collect();
        let longest = lens.iter().copied().max().unwrap_or(1);
        let chunk = chunk.unwrap_or_else(|| decode_chunk(longest));
        let n_chunks = longest.div_ceil(chunk);
        ensure(
            n_chunks <= gpu.limits.max_compute_workgroups_per_dimension as usize,
            || format!("attention decode: {n_chunks} chunks of {chunk} keys is too many"),
        )?;
        let n_part = batch.len() * d.n_heads * n_chunks;
        let ml_off = n_part * ld;
        let part = cache.partials(rec, ml_off + 2 * n_part)?;
        let mut tab = [0u32; 2 * TABLE_MAX];
        for (b, (&s, &len)) in batch.iter().zip(&lens).enumerate() {
            tab[2 * b] = s as u32;
            tab[2 * b + 1] = len as u32;
        }
        let row = i * TABLE_MAX;
        let params = DecodeParams {
            n_q: d.n_heads as u32,
            n_kv: d.n_kv_heads as u32,
            group: group as u32,
            head_dim: d.head_dim as u32,
            hd8: hd8 as u32,
            hd2: d.head_dim.div_ceil(2) as u32,
            ld8: (ld / 8) as u32,
            cap: cache.capacity(layer) as u32,
            chunk: chunk as u32,
            n_chunks: n_chunks as u32,
            ml_off: ml_off as u32,
            q_stride: q.stride as u32,
            q_off: (q.offset + row * q.stride) as u32,
            scale: d.scale,
            g: g as u32,
            head_blocks: head_blocks as u32,
            tph: (256 / g.next_power_of_two()) as u32,
            kt: kt as u32,
            _pad: [0; 2],
            tab,
        };
        let (kc, vc) = cache.bufs(layer)?;
        let binds = vec![
            Bind::read(&q.t.buf),
            Bind::read(kc),
            Bind::read(vc),
            Bind::write(&part),
        ];
        let groups = [
            n_chunks as u32,
            (d.n_kv_heads * head_blocks) as u32,
            batch.len() as u32,
        ];
        rec.dispatch(&split, "attention", &params, binds, groups);
        let params = ReduceParams {
            n_q: d.n_heads as u32,
            head_dim: d.head_dim as u32,
            ld: ld as u32,
            chunk: chunk as u32,
            n_chunks: n_chunks as u32,
            ml_off: ml_off as u32,
            o_stride: out.stride as u32,
            o_off: (out.offset + row * out.stride) as u32,
            tab,
        };
        let binds = vec![Bind::read(&part), Bind::write(&out.t.buf)];
        let groups = [d.n_heads as u32, batch.len() as u32, 1];
        rec.dispatch(&reduce, "attention", &params, binds, groups);
    }
    Ok(())
}
