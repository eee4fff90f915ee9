//! Attention prefill against the CPU reference, on every kernel path, at awkward sizes: RoPE,
//! flash prefill (fresh and continued, then a decode step), head dims that only partly fill
//! their tile class.
mod attention_common;

use attention_common::*;
use granite_engine::gpu::{MemTag, Recorder, Rows, Tensor};
use granite_engine::kernels::attention::{Positions, attention_prefill, rope};
use granite_engine::reference::attention::{RefKvSeq, rope as ref_rope};
use granite_engine::testing::{Rng, assert_close, for_each_path};

/// `r` without its first `n` rows.
fn skip(r: Rows<'_>, n: usize) -> Rows<'_> {
    Rows {
        offset: r.offset + n * r.stride,
        ..r
    }
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
