//! The attention KV cache, on every kernel path: the f16 append and growth by blocks, the
//! context limit, truncate/copy, and its memory accounting.
mod attention_common;

use attention_common::*;
use granite_engine::Error;
use granite_engine::gpu::{GpuOptions, MemTag, Recorder};
use granite_engine::kernels::attention::{attention_decode, attention_prefill, kv_append};
use granite_engine::reference::attention::RefKvSeq;
use granite_engine::testing::{Rng, for_each_path};

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
    let gpu = granite_engine::testing::context(GpuOptions {
        backend: std::env::var(granite_engine::testing::REQUIRE_BACKEND_ENV).ok(),
        ..Default::default()
    });
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
