//! The whole Mamba-2 mixer against the CPU reference (engine/src/reference/mamba.rs), on every
//! kernel path, at awkward sizes: prefill (chunked and sequential) and per-slot decode; bad
//! shapes are errors; every Mamba shader fits the portable workgroup memory.
mod mamba_common;

use granite_engine::gpu::{MemTag, Recorder, Tensor};
use granite_engine::kernels::mamba::{self, MambaDims, MambaScratch, MambaState, PrefillScan};
use granite_engine::reference::mamba as cpu;
use granite_engine::testing::assert_close;
use mamba_common::*;

#[test]
fn mixer_prefill_matches_cpu() {
    for_each_path(|path, gpu| {
        let cases = [
            (3, 5, 7, 1, 2, 5, 1),
            (4, 8, 9, 2, 3, 6, 11),
            (6, 16, 16, 2, 4, 16, 40),
            (5, 12, 10, 1, 4, 9, 2),
        ];
        for (i, &(nh, p, n, g, k, q, n_tok)) in cases.iter().enumerate() {
            let mut d = dims(nh, p, n, g, k, q);
            if i % 2 == 1 {
                d.time_step_limit = Some((0.05, 0.5));
            }
            if i == 2 {
                // transformers' default (0, ∞): a clamp that never bites.
                d.time_step_limit = Some((0.0, f32::INFINITY));
            }
            let m = mixer_case(gpu, d, n_tok, 80 + i as u64);
            let (want, want_c, want_s) = m.cpu();
            for how in [PrefillScan::Chunked, PrefillScan::Sequential] {
                let state = m.state(gpu, 3, 2);
                let scratch = MambaScratch::new(gpu, &d, n_tok).unwrap();
                let out = poisoned(gpu, &[n_tok, d.d_inner()]);
                let mut rec = Recorder::new(gpu);
                m.prefill(&mut rec, &state, 2, &scratch, &out, 0, n_tok, how, &d);
                rec.run().unwrap();
                let what = format!("mixer {how:?} nH={nh} G={g} K={k} Q={q} T={n_tok} [{path}]");
                assert_close(&what, &out.read(gpu).unwrap(), &want, 2e-4);
                let (c, s) = state.read_slot(gpu, 2).unwrap();
                assert_eq!(c, want_c, "{what}: conv state");
                assert_close(&what, &s, &want_s, 1e-4);
            }
        }
    });
}

#[test]
fn mixer_decode_matches_cpu_per_slot() {
    for_each_path(|path, gpu| {
        let mut d = dims(4, 6, 10, 2, 4, 8);
        d.time_step_limit = Some((0.05, 0.5));
        let slots = [2usize, 0, 3];
        let m = mixer_case(gpu, d, slots.len(), 90);
        let (state, init) = random_slots(gpu, &d, 4, 91);
        let scratch = MambaScratch::new(gpu, &d, slots.len()).unwrap();
        let out = poisoned(gpu, &[slots.len(), d.d_inner()]);
        let sb = slots_buf(gpu, &slots.map(|s| s as u32));
        let mut rec = Recorder::new(gpu);
        mamba::mamba_mixer_decode(
            &mut rec,
            &d,
            &m.w,
            m.x.rows(),
            slots.len(),
            &sb,
            &state,
            &scratch,
            mamba::DecodeSteps::all(out.rows(d.d_inner(), 0)),
        )
        .unwrap();
        rec.run().unwrap();
        let got = out.read(gpu).unwrap();
        let (w, di) = (d.in_proj_dim(), d.d_inner());
        let mut want_states = init.clone();
        for (s, &slot) in slots.iter().enumerate() {
            let (c, ss) = &mut want_states[slot];
            let want = cpu::mixer(&d, &m.hw, &m.x.data[s * w..(s + 1) * w], c, ss);
            let what = format!("decode seq {s} [{path}]");
            assert_close(&what, &got[s * di..(s + 1) * di], &want, 2e-4);
        }
        for (slot, (c, ss)) in want_states.iter().enumerate() {
            let (gc, gs) = state.read_slot(gpu, slot).unwrap();
            assert_eq!(&gc, c, "decode conv state slot {slot} [{path}]");
            assert_close(&format!("decode ssm slot {slot} [{path}]"), &gs, ss, 1e-5);
        }
    });
}

#[test]
fn bad_shapes_are_errors() {
    for_each_path(|_, gpu| {
        let d = dims(3, 5, 7, 1, 4, 8);
        let m = mixer_case(gpu, d, 4, 130);
        let state = MambaState::new(gpu, &d, 1).unwrap();
        let scratch = MambaScratch::new(gpu, &d, 4).unwrap();
        let out = Tensor::zeros(gpu, MemTag::Scratch, &[4, d.d_inner()], "o").unwrap();
        let mut rec = Recorder::new(gpu);
        let call = |rec: &mut Recorder, n, slot, d: &MambaDims| {
            mamba::mamba_mixer_prefill(
                rec,
                d,
                &m.w,
                m.x.rows(),
                n,
                &state,
                slot,
                &scratch,
                out.rows(d.d_inner(), 0),
                PrefillScan::Chunked,
            )
        };
        assert!(call(&mut rec, 5, 0, &d).is_err(), "too many tokens");
        assert!(call(&mut rec, 4, 1, &d).is_err(), "slot out of range");
        let mut bad = d;
        bad.n_groups = 2;
        assert!(
            call(&mut rec, 4, 0, &bad).is_err(),
            "heads not divisible by groups"
        );
        bad = d;
        bad.d_state = 300;
        assert!(call(&mut rec, 4, 0, &bad).is_err(), "d_state too large");
    });
}

/// Every variant of every Mamba shader stays within the portable 16 KiB of workgroup memory
/// (lavapipe allows 32 KiB, so running the tests there would not catch an overflow).
#[test]
fn mamba_shaders_fit_portable_workgroup_memory() {
    use granite_engine::gpu::shaders::{SHADERS, Variant, flags_used};
    for (name, src) in SHADERS.iter().filter(|(n, _)| n.starts_with("mamba_")) {
        // Includes count: the SSD stages take their CPU tiling from `ssd_tile`.
        let flags: Vec<&'static str> = flags_used(src).into_iter().collect();
        for mask in 0..(1u32 << flags.len()) {
            let set: std::collections::BTreeSet<_> = (0..flags.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| flags[i])
                .collect();
            for sg in [4u32, 8, 32, 64] {
                let consts = if set.contains("SUBGROUPS") {
                    vec![("SUBGROUP_SIZE", sg)]
                } else {
                    vec![]
                };
                let v = Variant {
                    shader: name,
                    flags: set.clone(),
                    consts,
                };
                let module = naga::front::wgsl::parse_str(&v.wgsl().unwrap()).unwrap();
                let bytes: u32 = module
                    .global_variables
                    .iter()
                    .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
                    .map(|(_, g)| module.types[g.ty].inner.size(module.to_ctx()))
                    .sum();
                assert!(
                    bytes <= 16384,
                    "{name} {set:?}: {bytes} bytes of workgroup memory"
                );
            }
        }
    }
}
