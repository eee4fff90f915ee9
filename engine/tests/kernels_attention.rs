//! Attention kernels and the KV cache against the CPU reference, on every kernel path, at
//! awkward sizes: RoPE, the f16 append, flash prefill (fresh and continued), split decode
//! (single, batched, long context), cache growth, truncate/copy, the context limit.
use granite_engine::Error;
use granite_engine::gpu::{Gpu, GpuOptions, MemTag, Recorder, Rows, Tensor};
use granite_engine::kernels::attention::{
    AttnDims, KvCache, KvConfig, Positions, TABLE_MAX, attention_decode, attention_prefill,
    flash_decode, kv_append, rope,
};
use granite_engine::reference::attention::{RefKvSeq, causal_attention, rope as ref_rope};
use granite_engine::testing::{Rng, assert_close, for_each_path, poison};

const TOL: f32 = 2e-4;

fn dims(head_dim: usize, n_heads: usize, n_kv_heads: usize, rope: bool) -> AttnDims {
    AttnDims {
        n_heads,
        n_kv_heads,
        head_dim,
        // Large enough that the softmax is far from uniform, so weighting errors show.
        scale: 4.0 / (head_dim as f32).sqrt(),
        rope_theta: rope.then_some(10_000.0),
    }
}

fn cache(d: &AttnDims, layers: usize, seqs: usize, max_ctx: usize, block: usize) -> KvCache {
    KvCache::new(KvConfig {
        layers,
        seqs,
        n_kv_heads: d.n_kv_heads,
        head_dim: d.head_dim,
        max_ctx,
        block,
    })
    .unwrap()
}

/// Random q, k, v for `n_tok` tokens, uploaded as one fused projection output
/// `[T, 1 + (nQ + 2·nKV)·hd + 4]` so the kernels read them through strided, offset views.
struct Qkv {
    t: Tensor,
    width: usize,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    d: AttnDims,
}

impl Qkv {
    fn new(gpu: &Gpu, rng: &mut Rng, n_tok: usize, d: &AttnDims) -> Qkv {
        let (nq, nkv) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
        let (q, k, v) = (
            rng.vec(n_tok * nq, 1.0),
            rng.vec(n_tok * nkv, 1.0),
            rng.vec(n_tok * nkv, 1.0),
        );
        let width = 1 + nq + 2 * nkv + 4;
        let mut fused = rng.vec(n_tok * width, 9.0);
        for t in 0..n_tok {
            let row = &mut fused[t * width + 1..];
            row[..nq].copy_from_slice(&q[t * nq..][..nq]);
            row[nq..nq + nkv].copy_from_slice(&k[t * nkv..][..nkv]);
            row[nq + nkv..nq + 2 * nkv].copy_from_slice(&v[t * nkv..][..nkv]);
        }
        let t = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, width], &fused, "qkv").unwrap();
        Qkv {
            t,
            width,
            q,
            k,
            v,
            d: *d,
        }
    }
    fn q(&self) -> Rows<'_> {
        self.t.rows(self.width, 1)
    }
    fn k(&self) -> Rows<'_> {
        self.t
            .rows(self.width, 1 + self.d.n_heads * self.d.head_dim)
    }
    fn v(&self) -> Rows<'_> {
        let d = &self.d;
        self.t
            .rows(self.width, 1 + (d.n_heads + d.n_kv_heads) * d.head_dim)
    }
}

/// A poisoned output `[T, nQ·hd]` seen with row stride nQ·hd + 3 and offset 2.
struct Out {
    t: Tensor,
    width: usize,
    stride: usize,
}

impl Out {
    fn new(gpu: &Gpu, n_tok: usize, d: &AttnDims) -> Out {
        let width = d.n_heads * d.head_dim;
        let stride = width + 3;
        let t = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, stride], "out").unwrap();
        poison(gpu, &t.buf);
        Out { t, width, stride }
    }
    fn rows(&self) -> Rows<'_> {
        self.t.rows(self.stride, 2)
    }
    fn read(&self, gpu: &Gpu) -> Vec<f32> {
        let all = self.t.read(gpu).unwrap();
        let n_tok = all.len() / self.stride;
        (0..n_tok)
            .flat_map(|t| all[t * self.stride + 2..][..self.width].to_vec())
            .collect()
    }
}

/// `r` without its first `n` rows.
fn skip(r: Rows<'_>, n: usize) -> Rows<'_> {
    Rows {
        offset: r.offset + n * r.stride,
        ..r
    }
}

/// Prefills `n_tok` random tokens into `seq` on the GPU and into `reference`; checks the outputs.
#[allow(clippy::too_many_arguments)]
fn prefill_step(
    gpu: &Gpu,
    rng: &mut Rng,
    kv: &mut KvCache,
    reference: &mut RefKvSeq,
    seq: usize,
    n_tok: usize,
    d: &AttnDims,
    what: &str,
) -> Vec<f32> {
    let qkv = Qkv::new(gpu, rng, n_tok, d);
    let out = Out::new(gpu, n_tok, d);
    let mut rec = Recorder::new(gpu);
    attention_prefill(
        &mut rec,
        qkv.q(),
        qkv.k(),
        qkv.v(),
        out.rows(),
        kv,
        0,
        seq,
        n_tok,
        d,
    )
    .unwrap();
    rec.run().unwrap();
    let got = out.read(gpu);
    let want = reference.forward(&qkv.q, &qkv.k, &qkv.v, n_tok, d);
    assert_close(what, &got, &want, TOL);
    got
}

/// Decodes one random token of `seq` on the GPU and in `reference`; checks the output.
fn decode_step(
    gpu: &Gpu,
    rng: &mut Rng,
    kv: &mut KvCache,
    reference: &mut RefKvSeq,
    seq: usize,
    d: &AttnDims,
    what: &str,
) {
    let qkv = Qkv::new(gpu, rng, 1, d);
    let out = Out::new(gpu, 1, d);
    let mut rec = Recorder::new(gpu);
    let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
    attention_decode(&mut rec, q, k, v, out.rows(), kv, 0, &[seq], d).unwrap();
    rec.run().unwrap();
    let want = reference.forward(&qkv.q, &qkv.k, &qkv.v, 1, d);
    assert_close(what, &out.read(gpu), &want, TOL);
}

#[test]
fn rope_matches_reference() {
    for_each_path(|path, gpu| {
        let mut rng = Rng::new(11);
        for &hd in &[6usize, 8, 14, 64, 128] {
            for (theta, positions) in [
                (10_000.0f32, Positions::From(0)),
                (1.0e7, Positions::From(4093)),
                (
                    1.0e7,
                    Positions::Each(&[0, 1, 131_071, 77_777, 3, 100_000, 5]),
                ),
            ] {
                let n_heads = 3;
                let n_tok = match positions {
                    Positions::From(_) => 37,
                    Positions::Each(l) => l.len(),
                };
                let (stride, off) = (n_heads * hd + 5, 2);
                let x = rng.vec(n_tok * stride, 1.0);
                let t = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, stride], &x, "x").unwrap();
                let mut rec = Recorder::new(gpu);
                rope(
                    &mut rec,
                    t.rows(stride, off),
                    n_tok,
                    n_heads,
                    hd,
                    positions,
                    theta,
                )
                .unwrap();
                rec.run().unwrap();
                let pos: Vec<usize> = match positions {
                    Positions::From(p) => (p..p + n_tok).collect(),
                    Positions::Each(l) => l.to_vec(),
                };
                let mut want = x.clone();
                ref_rope(&mut want[off..], stride, n_heads, hd, &pos, theta);
                assert_close(
                    &format!("rope hd={hd} {positions:?} [{path}]"),
                    &t.read(gpu).unwrap(),
                    &want,
                    2e-6,
                );
            }
        }
    });
}

#[test]
fn kv_append_stores_f16_rows_and_grows_by_blocks() {
    for_each_path(|path, gpu| {
        let d = dims(14, 4, 2, false);
        let mut kv = cache(&d, 1, 2, 100, 16);
        let mut rng = Rng::new(3);
        let (mut ks, mut vs) = (Vec::new(), Vec::new());
        for (n_tok, cap) in [(5usize, 16usize), (13, 32), (30, 48)] {
            let qkv = Qkv::new(gpu, &mut rng, n_tok, &d);
            let mut rec = Recorder::new(gpu);
            kv_append(&mut rec, qkv.k(), qkv.v(), &mut kv, 0, 1, n_tok).unwrap();
            rec.run().unwrap();
            assert_eq!(
                kv.capacity(0),
                cap,
                "capacity after {n_tok} more tokens [{path}]"
            );
            ks.extend(qkv.k);
            vs.extend(qkv.v);
        }
        let len = kv.len(0, 1);
        assert_eq!((len, kv.len(0, 0)), (48, 0));
        let ld = kv.row_halves();
        assert_eq!(ld, 16);
        let (kb, vb) = kv.buffers(0).unwrap();
        for (name, buf, src) in [("K", kb, &ks), ("V", vb, &vs)] {
            let halves: Vec<u16> = gpu.read(buf, 0, 2 * 48 * 2 * ld).unwrap();
            let slot1 = &halves[48 * 2 * ld..];
            for t in 0..len {
                for h in 0..2 {
                    for i in 0..ld {
                        let got = slot1[(t * 2 + h) * ld + i];
                        let want = if i < 14 {
                            half::f16::from_f32(src[t * 28 + h * 14 + i]).to_bits()
                        } else {
                            0
                        };
                        assert_eq!(got, want, "{name} token {t} head {h} half {i} [{path}]");
                    }
                }
            }
        }
    });
}

#[test]
fn prefill_matches_reference_awkward_sizes() {
    for_each_path(|path, gpu| {
        let pairs = [(7usize, 33usize), (33, 130), (130, 1), (1, 7), (21, 130)];
        let mut case = 0;
        for &hd in &[6usize, 8, 14, 64, 128] {
            for &(nq, nkv) in &[(6usize, 2usize), (5, 1), (4, 4)] {
                for rope in [false, true] {
                    let d = dims(hd, nq, nkv, rope);
                    let (ta, tb) = pairs[case % pairs.len()];
                    case += 1;
                    let mut rng = Rng::new(case as u64);
                    let mut kv = cache(&d, 1, 2, 1000, 16);
                    let mut reference = RefKvSeq::default();
                    let what = format!("prefill hd={hd} {nq}/{nkv} rope={rope} [{path}]");
                    prefill_step(gpu, &mut rng, &mut kv, &mut reference, 1, ta, &d, &what);
                    let cap = kv.capacity(0);
                    let what = format!("{what} T={tb} after {ta}");
                    prefill_step(gpu, &mut rng, &mut kv, &mut reference, 1, tb, &d, &what);
                    assert_eq!(kv.len(0, 1), ta + tb);
                    assert!(kv.capacity(0) >= ta + tb && (ta + tb <= cap || kv.capacity(0) > cap));
                    let what = format!("{what}, then decode");
                    decode_step(gpu, &mut rng, &mut kv, &mut reference, 1, &d, &what);
                }
            }
        }
    });
}

#[test]
fn prefill_continuation_equals_one_prefill() {
    for_each_path(|path, gpu| {
        for d in [dims(64, 6, 2, true), dims(14, 5, 1, false)] {
            let (ta, tb) = (40, 29);
            let mut rng = Rng::new(5);
            let all = Qkv::new(gpu, &mut rng, ta + tb, &d);
            let mut kv = cache(&d, 1, 2, 500, 32);
            // Sequence 0: A + B at once. Sequence 1: A, then B as a continuation.
            let whole = Out::new(gpu, ta + tb, &d);
            let (first, second) = (Out::new(gpu, ta, &d), Out::new(gpu, tb, &d));
            let mut rec = Recorder::new(gpu);
            let (q, k, v) = (all.q(), all.k(), all.v());
            // RoPE rotates q and k in place, so the split runs on a second copy of the inputs.
            let copy = Tensor::from_f32(
                gpu,
                MemTag::Scratch,
                &all.t.shape,
                &all.t.read(gpu).unwrap(),
                "c",
            )
            .unwrap();
            let (q2, k2, v2) = (
                Rows { t: &copy, ..q },
                Rows { t: &copy, ..k },
                Rows { t: &copy, ..v },
            );
            attention_prefill(&mut rec, q, k, v, whole.rows(), &mut kv, 0, 0, ta + tb, &d).unwrap();
            attention_prefill(&mut rec, q2, k2, v2, first.rows(), &mut kv, 0, 1, ta, &d).unwrap();
            let (q2, k2, v2) = (skip(q2, ta), skip(k2, ta), skip(v2, ta));
            attention_prefill(&mut rec, q2, k2, v2, second.rows(), &mut kv, 0, 1, tb, &d).unwrap();
            rec.run().unwrap();
            let whole = whole.read(gpu);
            let hw = d.n_heads * d.head_dim;
            assert_close(
                &format!("continuation A [{path}]"),
                &first.read(gpu),
                &whole[..ta * hw],
                1e-5,
            );
            assert_close(
                &format!("continuation B hd={} [{path}]", d.head_dim),
                &second.read(gpu),
                &whole[ta * hw..],
                1e-5,
            );
        }
    });
}

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
            let qkv = Qkv::new(gpu, &mut rng, seqs.len(), &d);
            let out = Out::new(gpu, seqs.len(), &d);
            let mut rec = Recorder::new(gpu);
            let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
            attention_decode(&mut rec, q, k, v, out.rows(), &mut kv, 0, &seqs, &d).unwrap();
            rec.run().unwrap();
            let got = out.read(gpu);
            let (hq, hk) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
            for (b, &s) in seqs.iter().enumerate() {
                let want = refs[s].forward(
                    &qkv.q[b * hq..][..hq],
                    &qkv.k[b * hk..][..hk],
                    &qkv.v[b * hk..][..hk],
                    1,
                    &d,
                );
                let what = format!("batched decode seq {s} step {step} [{path}]");
                assert_close(&what, &got[b * hq..][..hq], &want, TOL);
            }
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
        let qkv = Qkv::new(gpu, &mut rng, n, &d);
        let out = Out::new(gpu, n, &d);
        let mut rec = Recorder::new(gpu);
        let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
        attention_decode(&mut rec, q, k, v, out.rows(), &mut kv, 0, &seqs, &d).unwrap();
        rec.run().unwrap();
        let got = out.read(gpu);
        let (hq, hk) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
        for (b, &s) in seqs.iter().enumerate() {
            let (q, k, v) = (
                &qkv.q[b * hq..][..hq],
                &qkv.k[b * hk..][..hk],
                &qkv.v[b * hk..][..hk],
            );
            let want = refs[s].forward(q, k, v, 1, &d);
            let what = format!("decode of {n} seqs, seq {s} [{path}]");
            assert_close(&what, &got[b * hq..][..hq], &want, TOL);
            assert_eq!(kv.len(0, s), 2 + s % 5);
        }
    });
}

/// Head dims that only partly fill their tile class (40 → 64, 96 → 128) and the largest class.
#[test]
fn unusual_head_dims() {
    for_each_path(|path, gpu| {
        for (hd, nq, nkv) in [(40usize, 12usize, 4usize), (96, 3, 1), (256, 2, 2)] {
            let d = dims(hd, nq, nkv, true);
            let mut rng = Rng::new(hd as u64);
            let mut kv = cache(&d, 1, 1, 100, 16);
            let mut reference = RefKvSeq::default();
            let what = format!("hd={hd} {nq}/{nkv} [{path}]");
            prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 19, &d, &what);
            prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 5, &d, &what);
            decode_step(gpu, &mut rng, &mut kv, &mut reference, 0, &d, &what);
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

#[test]
fn past_the_context_limit_is_an_input_error() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let d = dims(8, 2, 1, false);
    let mut kv = cache(&d, 1, 1, 50, 16);
    let mut rng = Rng::new(1);
    let mut reference = RefKvSeq::default();
    prefill_step(
        &gpu,
        &mut rng,
        &mut kv,
        &mut reference,
        0,
        40,
        &d,
        "limit prefix",
    );
    assert_eq!(kv.capacity(0), 48);
    let qkv = Qkv::new(&gpu, &mut rng, 11, &d);
    let out = Out::new(&gpu, 11, &d);
    let mut rec = Recorder::new(&gpu);
    let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
    let err = attention_prefill(&mut rec, q, k, v, out.rows(), &mut kv, 0, 0, 11, &d).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    assert!(msg.contains("51") && msg.contains("50"), "{msg}");
    assert_eq!(kv.len(0, 0), 40, "a refused call stores nothing");
    // Exactly up to the limit works; capacity stops at the limit, not at the next block.
    prefill_step(
        &gpu,
        &mut rng,
        &mut kv,
        &mut reference,
        0,
        10,
        &d,
        "to the limit",
    );
    assert_eq!(kv.capacity(0), 50);
    let qkv = Qkv::new(&gpu, &mut rng, 1, &d);
    let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
    let err = attention_decode(&mut rec, q, k, v, out.rows(), &mut kv, 0, &[0], &d).unwrap_err();
    assert!(
        matches!(err, Error::Input(ref m) if m.contains("51")),
        "{err:?}"
    );
}

/// Regenerate (truncate, then continue differently) and fork (copy a sequence to another slot).
#[test]
fn truncate_and_copy_sequences() {
    for_each_path(|path, gpu| {
        let d = dims(14, 6, 2, true);
        let mut rng = Rng::new(21);
        let mut kv = cache(&d, 1, 3, 200, 16);
        let mut reference = RefKvSeq::default();
        prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 20, &d, "A");
        prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 9, &d, "B");
        kv.truncate(0, 20).unwrap();
        reference.truncate(20, &d);
        assert!(kv.truncate(0, 21).is_err());
        let what = format!("after truncate [{path}]");
        prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 15, &d, &what);
        let mut rec = Recorder::new(gpu);
        kv.copy_seq(&mut rec, 0, 2).unwrap();
        rec.run().unwrap();
        assert_eq!(kv.len(0, 2), 35);
        let mut fork = reference.clone();
        let what = format!("forked slot [{path}]");
        prefill_step(gpu, &mut rng, &mut kv, &mut fork, 2, 20, &d, &what);
        let what = format!("original after fork [{path}]");
        prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 3, &d, &what);
    });
}

/// The cache's bytes appear under MemTag::KvCache and grow block by block (own device, so
/// other tests' buffers do not disturb the counter).
#[test]
fn cache_memory_is_accounted_and_grows() {
    let gpu = Gpu::new(&GpuOptions {
        backend: std::env::var(granite_engine::testing::REQUIRE_BACKEND_ENV).ok(),
        ..Default::default()
    })
    .unwrap();
    let d = dims(64, 4, 2, false);
    let mut kv = cache(&d, 2, 1, 1000, 128);
    assert_eq!(gpu.memory.bytes(MemTag::KvCache), 0);
    let mut rng = Rng::new(2);
    let per_token = 2 * 2 * 64 * 2; // K and V, 2 kv heads, 64 halves
    for (n, cap) in [(100usize, 128u64), (100, 256), (100, 384)] {
        let qkv = Qkv::new(&gpu, &mut rng, n, &d);
        let mut rec = Recorder::new(&gpu);
        kv_append(&mut rec, qkv.k(), qkv.v(), &mut kv, 0, 0, n).unwrap();
        rec.run().unwrap();
        assert_eq!(kv.bytes(), cap * per_token);
        assert_eq!(gpu.memory.bytes(MemTag::KvCache), cap * per_token);
    }
}
