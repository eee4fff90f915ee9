//! Mamba-2 conv and gated-norm kernels against the CPU references
//! (engine/src/reference/mamba.rs), on every kernel path, at awkward sizes: the causal conv in
//! prefill and as a per-slot decode step, decode's in_proj with the conv step in its epilogue,
//! and the gated RMSNorm.
mod mamba_common;

use granite_engine::gpu::{F16Matrix, Gpu, MemTag, Recorder};
use granite_engine::kernels::linear::{Epilogue, linear};
use granite_engine::kernels::mamba::{self, MambaDims, MambaLayerWeights, MambaState, conv, norm};
use granite_engine::reference::mamba as cpu;
use granite_engine::testing::{Rng, assert_close};
use mamba_common::*;

/// A state of `n` slots with random contents; returns it and each slot's conv state.
fn random_slots(gpu: &Gpu, rng: &mut Rng, d: &MambaDims, n: usize) -> (MambaState, Vec<Vec<f32>>) {
    let state = MambaState::new(gpu, d, n).unwrap();
    let init = (0..n)
        .map(|slot| {
            let (c, m) = random_state(rng, d);
            state.write_slot(gpu, slot, &c, &m).unwrap();
            c
        })
        .collect();
    (state, init)
}

#[test]
fn conv_prefill_matches_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(k, n_tok, g)) in [(2, 1, 1), (4, 1, 2), (4, 2, 1), (3, 7, 2), (4, 33, 1)]
            .iter()
            .enumerate()
        {
            let d = dims(4, 5, 7, g, k, 8);
            let mut rng = Rng::new(10 + i as u64);
            let hw = host_weights(&mut rng, &d);
            let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
            let x = InProj::new(gpu, &d, &mut rng, n_tok);
            let (state, init) = random_slots(gpu, &mut rng, &d, 3);
            let out = poisoned(gpu, &[n_tok, d.conv_dim()]);
            let mut rec = Recorder::new(gpu);
            let (_, xbc, _) = split(&d, &x);
            conv::conv_prefill(&mut rec, &d, &w, xbc, n_tok, &state, 1, &out).unwrap();
            rec.run().unwrap();
            let (_, xbc_h, _) = cpu::split_in_proj(&d, &x.data);
            let mut st = init[1].clone();
            let want = cpu::conv(&d, &xbc_h, &hw.conv_w, &hw.conv_b, &mut st);
            let what = format!("conv K={k} T={n_tok} G={g} [{path}]");
            assert_close(&what, &out.read(gpu).unwrap(), &want, 1e-5);
            for (s, init) in init.iter().enumerate() {
                let (c, _) = state.read_slot(gpu, s).unwrap();
                let want = if s == 1 { &st } else { init };
                assert_eq!(&c, want, "{what}: conv state of slot {s}");
            }
        }
    });
}

#[test]
fn conv_step_matches_cpu_per_slot() {
    for_each_path(|path, gpu| {
        let d = dims(4, 6, 9, 2, 4, 8);
        let mut rng = Rng::new(21);
        let hw = host_weights(&mut rng, &d);
        let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
        let slots = [2u32, 0, 3];
        let x = InProj::new(gpu, &d, &mut rng, slots.len());
        let (state, init) = random_slots(gpu, &mut rng, &d, 4);
        let out = poisoned(gpu, &[slots.len(), d.conv_dim()]);
        let mut rec = Recorder::new(gpu);
        let (_, xbc, _) = split(&d, &x);
        let sb = slots_buf(gpu, &slots);
        conv::conv_step(&mut rec, &d, &w, xbc, slots.len(), &sb, &state, &out).unwrap();
        rec.run().unwrap();
        let (_, xbc_h, _) = cpu::split_in_proj(&d, &x.data);
        let got = out.read(gpu).unwrap();
        let cd = d.conv_dim();
        let mut want_states = init.clone();
        for (s, &slot) in slots.iter().enumerate() {
            let st = &mut want_states[slot as usize];
            let want = cpu::conv(&d, &xbc_h[s * cd..(s + 1) * cd], &hw.conv_w, &hw.conv_b, st);
            assert_close(
                &format!("conv step seq {s} [{path}]"),
                &got[s * cd..(s + 1) * cd],
                &want,
                1e-5,
            );
        }
        for (s, want) in want_states.iter().enumerate() {
            let (c, _) = state.read_slot(gpu, s).unwrap();
            assert_eq!(&c, want, "conv step state slot {s} [{path}]");
        }
    });
}

/// Decode's in_proj with the conv step in its epilogue: z and dt rows are the plain product,
/// xBC rows leave activated, and only the chosen state slot shifts — at several K and widths.
#[test]
fn in_proj_with_conv_epilogue_matches_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(hidden, k)) in [(13usize, 4usize), (16, 2), (24, 3)].iter().enumerate() {
            let d = MambaDims {
                hidden,
                ..dims(3, 5, 6, 1, k, 8)
            };
            let mut rng = Rng::new(60 + i as u64);
            let hw = host_weights(&mut rng, &d);
            let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
            let rows = d.in_proj_dim();
            let (wbits, wvals) = rng.f16_vec(rows * hidden, 0.5);
            let proj =
                F16Matrix::from_f16(gpu, MemTag::Scratch, rows, hidden, &wbits, "in_proj").unwrap();
            let x = rng.vec(hidden, 1.0);
            let xt = dense(gpu, &[1, hidden], &x);
            let (state, init) = random_slots(gpu, &mut rng, &d, 2);
            let y = poisoned(gpu, &[1, rows]);
            let ep = Epilogue {
                conv: Some(mamba::conv_epilogue(&d, &w, &state, 1).unwrap()),
                ..Default::default()
            };
            let mut rec = Recorder::new(gpu);
            linear(&mut rec, &proj, xt.rows(hidden, 0), y.rows(rows, 0), 1, ep).unwrap();
            rec.run().unwrap();
            let plain: Vec<f32> = (0..rows)
                .map(|r| {
                    (0..hidden)
                        .map(|c| wvals[r * hidden + c] as f64 * x[c] as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            let (z, xbc, dt) = cpu::split_in_proj(&d, &plain);
            let mut want_state = init[1].clone();
            let act = cpu::conv(&d, &xbc, &hw.conv_w, &hw.conv_b, &mut want_state);
            let want = [z, act, dt].concat();
            let what = format!("in_proj + conv H={hidden} K={k} [{path}]");
            assert_close(&what, &y.read(gpu).unwrap(), &want, 1e-4);
            let (c1, _) = state.read_slot(gpu, 1).unwrap();
            assert_close(&format!("{what}: state"), &c1, &want_state, 1e-6);
            let (c0, _) = state.read_slot(gpu, 0).unwrap();
            assert_eq!(c0, init[0], "{what}: the other slot changed");
        }
    });
}

#[test]
fn gated_norm_matches_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(nh, p, g, n_tok)) in [(3, 5, 1, 1), (4, 7, 2, 3), (6, 16, 3, 2), (40, 16, 1, 2)]
            .iter()
            .enumerate()
        {
            let mut d = dims(nh, p, 4, g, 4, 8);
            d.eps = 1e-3;
            let mut rng = Rng::new(30 + i as u64);
            let hw = host_weights(&mut rng, &d);
            let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
            // The last two cases have every row start at a multiple of 4 (the vec4 kernel).
            let aligned = i >= 2;
            let data = rng.vec(n_tok * d.in_proj_dim(), 1.0);
            let x = if aligned {
                let stride = d.in_proj_dim().div_ceil(4) * 4 + 4;
                InProj::upload_strided(gpu, &d, data, stride, 8)
            } else {
                InProj::upload(gpu, &d, data)
            };
            let di = d.d_inner();
            let y = rng.vec(n_tok * di, 2.0);
            let yt = dense(gpu, &[n_tok, di], &y);
            // Output into a strided view, as the lead might for a fused buffer.
            let (os, oo) = if aligned { (di + 4, 4) } else { (di + 2, 1) };
            let out = poisoned(gpu, &[n_tok * os + oo]);
            let mut rec = Recorder::new(gpu);
            let (z, _, _) = split(&d, &x);
            norm::gated_norm(&mut rec, &d, &yt, z, &w.norm_w, n_tok, out.rows(os, oo)).unwrap();
            rec.run().unwrap();
            let (zh, _, _) = cpu::split_in_proj(&d, &x.data);
            let want = cpu::gated_norm(&d, &y, &zh, &hw.norm_w);
            let all = out.read(gpu).unwrap();
            let got: Vec<f32> = (0..n_tok)
                .flat_map(|t| all[oo + t * os..][..di].to_vec())
                .collect();
            assert_close(
                &format!("gated norm nH={nh} G={g} [{path}]"),
                &got,
                &want,
                1e-5,
            );
        }
    });
}
