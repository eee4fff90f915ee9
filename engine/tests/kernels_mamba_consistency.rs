//! The consistency properties of the Mamba-2 mixer as a recurrent layer, on every kernel path:
//! chunked prefill + decode = decode steps, continuation = whole prompt, Q independence,
//! bit-exact snapshots.
mod mamba_common;

use granite_engine::gpu::Recorder;
use granite_engine::kernels::mamba::{self, MambaDims, MambaScratch, PrefillScan};
use granite_engine::testing::assert_close;
use mamba_common::*;

/// Chunked prefill of N tokens then one decode step = N+1 decode steps from the same non-zero
/// state (outputs, conv and SSM states), for N up to a few thousand; and the chunked result for
/// two chunk lengths agrees.
#[test]
fn prefill_then_decode_equals_decode_steps() {
    for_each_path(|path, gpu| {
        for (i, &(nh, p, n, g, q, n_tok)) in [(3, 5, 7, 1, 16, 37), (2, 4, 8, 2, 64, 2500)]
            .iter()
            .enumerate()
        {
            let d = dims(nh, p, n, g, 4, q);
            let m = mixer_case(gpu, d, n_tok + 1, 100 + i as u64);
            let di = d.d_inner();
            let sb = slots_buf(gpu, &[1]);
            let scratch = MambaScratch::new(gpu, &d, n_tok + 1).unwrap();
            // A: chunked prefill of n_tok tokens, then one decode step.
            let run_prefill = |d: &MambaDims| {
                let sc = MambaScratch::new(gpu, d, n_tok + 1).unwrap();
                let state = m.state(gpu, 2, 1);
                let out = poisoned(gpu, &[n_tok + 1, di]);
                let mut rec = Recorder::new(gpu);
                m.prefill(
                    &mut rec,
                    &state,
                    1,
                    &sc,
                    &out,
                    0,
                    n_tok,
                    PrefillScan::Chunked,
                    d,
                );
                mamba::mamba_mixer_decode(
                    &mut rec,
                    d,
                    &m.w,
                    m.x.rows_from(n_tok),
                    1,
                    &sb,
                    &state,
                    &sc,
                    mamba::DecodeSteps::all(out.rows(di, n_tok * di)),
                )
                .unwrap();
                rec.run().unwrap();
                (out.read(gpu).unwrap(), state.read_slot(gpu, 1).unwrap())
            };
            let (ya, (ca, sa)) = run_prefill(&d);
            // B: n_tok + 1 decode steps, recorded into one submission.
            let state = m.state(gpu, 2, 1);
            let out = poisoned(gpu, &[n_tok + 1, di]);
            let mut rec = Recorder::new(gpu);
            for t in 0..=n_tok {
                mamba::mamba_mixer_decode(
                    &mut rec,
                    &d,
                    &m.w,
                    m.x.rows_from(t),
                    1,
                    &sb,
                    &state,
                    &scratch,
                    mamba::DecodeSteps::all(out.rows(di, t * di)),
                )
                .unwrap();
            }
            rec.run().unwrap();
            let yb = out.read(gpu).unwrap();
            let (cb, sbs) = state.read_slot(gpu, 1).unwrap();
            let what = format!("prefill {n_tok}+1 vs decode steps Q={q} [{path}]");
            assert_close(&what, &ya, &yb, 5e-4);
            assert_eq!(ca, cb, "{what}: conv state");
            assert_close(&what, &sa, &sbs, 2e-4);
            // Another chunk length (not a divisor of the first) gives the same result.
            let mut d2 = d;
            d2.chunk = q / 2 + 3;
            let (y2, (_, s2)) = run_prefill(&d2);
            assert_close(&format!("{what} Q={} vs Q={q}", d2.chunk), &y2, &ya, 5e-4);
            assert_close(&format!("{what} Q={} state", d2.chunk), &s2, &sa, 2e-4);
        }
    });
}

/// Prefill of a continuation from the state a first prefill left equals prefill of the whole
/// text: outputs of the continuation and the final states.
#[test]
fn continuation_equals_whole_prompt() {
    for_each_path(|path, gpu| {
        let d = dims(4, 6, 9, 2, 4, 8);
        let (n1, n2) = (19, 2); // the second part shorter than K−1: the conv state shifts
        for (split_at, n_tot) in [(n1, n1 + n2), (30, 75)] {
            let m = mixer_case(gpu, d, n_tot, 110 + split_at as u64);
            for how in [PrefillScan::Chunked, PrefillScan::Sequential] {
                let scratch = MambaScratch::new(gpu, &d, n_tot).unwrap();
                let whole = poisoned(gpu, &[n_tot, d.d_inner()]);
                let parts = poisoned(gpu, &[n_tot, d.d_inner()]);
                let s_whole = m.state(gpu, 2, 0);
                let s_parts = m.state(gpu, 2, 1);
                let mut rec = Recorder::new(gpu);
                m.prefill(&mut rec, &s_whole, 0, &scratch, &whole, 0, n_tot, how, &d);
                m.prefill(
                    &mut rec, &s_parts, 1, &scratch, &parts, 0, split_at, how, &d,
                );
                let rest = n_tot - split_at;
                m.prefill(
                    &mut rec, &s_parts, 1, &scratch, &parts, split_at, rest, how, &d,
                );
                rec.run().unwrap();
                let what = format!("continuation {how:?} at {split_at} of {n_tot} [{path}]");
                let di = d.d_inner();
                assert_close(
                    &what,
                    &parts.read(gpu).unwrap()[split_at * di..],
                    &whole.read(gpu).unwrap()[split_at * di..],
                    2e-4,
                );
                let (cw, sw) = s_whole.read_slot(gpu, 0).unwrap();
                let (cp, sp) = s_parts.read_slot(gpu, 1).unwrap();
                assert_eq!(cw, cp, "{what}: conv state");
                assert_close(&what, &sp, &sw, 1e-4);
            }
        }
    });
}

#[test]
fn snapshot_restore_and_slot_copies_are_exact() {
    for_each_path(|path, gpu| {
        let d = dims(3, 5, 7, 1, 4, 8);
        let m = mixer_case(gpu, d, 12, 120);
        let state = m.state(gpu, 3, 1);
        let scratch = MambaScratch::new(gpu, &d, 12).unwrap();
        let out = poisoned(gpu, &[12, d.d_inner()]);
        let snap = state.alloc_snapshot(gpu).unwrap();
        // Tokens start .. start + n of the prefill into slot 1.
        let prefill = |rec: &mut Recorder, start: usize, n: usize| {
            m.prefill(
                rec,
                &state,
                1,
                &scratch,
                &out,
                start,
                n,
                PrefillScan::Chunked,
                &d,
            )
        };
        let mut rec = Recorder::new(gpu);
        prefill(&mut rec, 0, 5);
        state.snapshot(&mut rec, 1, &snap).unwrap();
        rec.run().unwrap();
        let before = state.read_slot(gpu, 1).unwrap();
        // Modify the slot, then restore it.
        let mut rec = Recorder::new(gpu);
        prefill(&mut rec, 5, 7);
        rec.run().unwrap();
        assert_ne!(state.read_slot(gpu, 1).unwrap().1, before.1);
        let mut rec = Recorder::new(gpu);
        state.restore(&mut rec, &snap, 1).unwrap();
        rec.run().unwrap();
        assert_eq!(state.read_slot(gpu, 1).unwrap(), before, "restore [{path}]");
        // Fork into slot 2, clear slot 1.
        let mut rec = Recorder::new(gpu);
        state.copy_slot(&mut rec, 1, 2).unwrap();
        state.zero(&mut rec, 1).unwrap();
        rec.run().unwrap();
        assert_eq!(
            state.read_slot(gpu, 2).unwrap(),
            before,
            "copy_slot [{path}]"
        );
        let (c, s) = state.read_slot(gpu, 1).unwrap();
        assert!(c.iter().chain(&s).all(|&v| v == 0.0), "zero [{path}]");
        assert!(state.read_slot(gpu, 0).unwrap().1.iter().all(|&v| v == 0.0));
    });
}
