//! Attention decode against the CPU reference, on every kernel path, at awkward sizes: split
//! decode after a prefill, batched over several sequences (also more than one dispatch's table
//! holds), and over a long context.
mod attention_common;

use attention_common::*;
use granite_engine::gpu::{Recorder, Rows};
use granite_engine::kernels::attention::{TABLE_MAX, flash_decode, kv_append};
use granite_engine::reference::attention::{RefKvSeq, causal_attention};
use granite_engine::testing::{Rng, assert_close, for_each_path};

/// Prefill `n` tokens, then decode `steps` tokens one by one; each decode output must equal the
/// reference (which is a prefill of the full sequence at its last position).
#[test]
fn decode_after_prefill_matches_reference() {
    for_each_path(|path, gpu| {
        for d in [
            dims(64, 6, 2, true),
            dims(128, 4, 4, false),
            dims(6, 5, 1, true),
            dims(14, 16, 1, false),
        ] {
            let mut rng = Rng::new(d.head_dim as u64);
            let mut kv = cache(&d, 2, 1, 400, 16);
            let mut reference = RefKvSeq::default();
            prefill_step(
                gpu,
                &mut rng,
                &mut kv,
                &mut reference,
                0,
                30,
                &d,
                "decode prefix",
            );
            for step in 0..4 {
                let what = format!(
                    "decode hd={} {}/{} step {step} [{path}]",
                    d.head_dim, d.n_heads, d.n_kv_heads
                );
                decode_step(gpu, &mut rng, &mut kv, &mut reference, 0, &d, &what);
            }
            assert_eq!((kv.len(0, 0), kv.capacity(0)), (34, 48));
            assert_eq!(kv.len(1, 0), 0, "layer 1 untouched");
        }
    });
}

/// Several sequences of different lengths decoded in one call (one query row per sequence).
#[test]
fn batched_decode_of_several_sequences() {
    for_each_path(|path, gpu| {
        let d = dims(64, 6, 2, true);
        let mut rng = Rng::new(77);
        let mut kv = cache(&d, 1, 4, 300, 16);
        let mut refs = vec![RefKvSeq::default(); 4];
        for (s, n) in [(0usize, 9usize), (1, 70), (3, 1)] {
            prefill_step(
                gpu,
                &mut rng,
                &mut kv,
                &mut refs[s],
                s,
                n,
                &d,
                "batch prefix",
            );
        }
        // Slot 2 starts empty: its first token is decoded in the batch too.
        let seqs = [3usize, 0, 2, 1];
        for step in 0..2 {
            let what = format!("batched decode step {step} [{path}]");
            decode_batch(gpu, &mut rng, &mut kv, &seqs, &d, &what, |s, q, k, v| {
                refs[s].forward(q, k, v, 1, &d)
            });
        }
    });
}

/// More sequences than one dispatch's table holds (TABLE_MAX = 32): RoPE, append and decode
/// all split the batch.
#[test]
fn decode_batch_larger_than_one_table() {
    for_each_path(|path, gpu| {
        let d = dims(8, 4, 2, true);
        let n = TABLE_MAX + 3;
        let mut rng = Rng::new(35);
        let mut kv = cache(&d, 1, n, 64, 8);
        let mut refs = vec![RefKvSeq::default(); n];
        for (s, r) in refs.iter_mut().enumerate() {
            prefill_step(gpu, &mut rng, &mut kv, r, s, 1 + s % 5, &d, "many prefix");
        }
        let seqs: Vec<usize> = (0..n).rev().collect();
        let what = format!("decode of {n} seqs [{path}]");
        decode_batch(gpu, &mut rng, &mut kv, &seqs, &d, &what, |s, q, k, v| {
            refs[s].forward(q, k, v, 1, &d)
        });
        for s in 0..n {
            assert_eq!(kv.len(0, s), 2 + s % 5);
        }
    });
}

/// A 3000-token context with tiny dims: many chunks, so the split and the reduce both matter;
/// also chunk sizes that are not powers of two and chunks longer than one sub-block.
#[test]
fn decode_long_context_split() {
    for_each_path(|path, gpu| {
        let d = dims(8, 3, 1, false);
        let n = 3000;
        let mut rng = Rng::new(9);
        let mut kv = cache(&d, 1, 1, 4096, 256);
        let qkv = Qkv::new(gpu, &mut rng, n, &d);
        let mut rec = Recorder::new(gpu);
        kv_append(&mut rec, qkv.k(), qkv.v(), &mut kv, 0, 0, n).unwrap();
        rec.run().unwrap();
        assert_eq!(kv.capacity(0), 3072);
        let keys = granite_engine::reference::attention::round_f16(&qkv.k);
        let values = granite_engine::reference::attention::round_f16(&qkv.v);
        // The query of the last token (position n − 1) over all n keys.
        let hq = d.n_heads * d.head_dim;
        let q_last = &qkv.q[(n - 1) * hq..];
        let want = causal_attention(q_last, &keys, &values, n - 1, 1, &d);
        let q_rows = Rows {
            offset: qkv.q().offset + (n - 1) * qkv.width,
            ..qkv.q()
        };
        for chunk in [None, Some(100), Some(700), Some(3000), Some(1)] {
            let out = Out::new(gpu, 1, &d);
            let mut rec = Recorder::new(gpu);
            flash_decode(&mut rec, q_rows, out.rows(), &mut kv, 0, &[0], &d, chunk).unwrap();
            rec.run().unwrap();
            let what = format!("decode 3000 chunk {chunk:?} [{path}]");
            assert_close(&what, &out.read(gpu), &want, TOL);
        }
    });
}
