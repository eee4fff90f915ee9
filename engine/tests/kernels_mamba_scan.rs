//! Mamba-2 sequential SSM scan kernels against the CPU reference
//! (engine/src/reference/mamba.rs), on every kernel path, at awkward sizes: the token-by-token
//! prefill scan into one state slot and the per-slot decode step.
mod mamba_common;

use granite_engine::gpu::Recorder;
use granite_engine::kernels::mamba::{MambaState, scan};
use granite_engine::reference::mamba as cpu;
use granite_engine::testing::assert_close;
use mamba_common::*;

#[test]
fn ssm_sequential_scan_matches_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(nh, p, n, g, n_tok, lim)) in [
            (3, 5, 7, 1, 1, false),
            (4, 16, 16, 2, 9, true),
            (6, 8, 33, 3, 20, false),
            (2, 3, 256, 1, 5, false),
            // d_state and d_inner multiples of 4: the vec4 kernel, at the largest d_state.
            (2, 4, 256, 1, 5, false),
        ]
        .iter()
        .enumerate()
        {
            let mut d = dims(nh, p, n, g, 4, 8);
            if lim {
                d.time_step_limit = Some((0.1, 0.3));
            }
            let c = ssm_case(gpu, d, n_tok, 40 + i as u64);
            let state = MambaState::new(gpu, &d, 2).unwrap();
            state
                .write_slot(gpu, 1, &vec![0.0; d.conv_state_len()], &c.init)
                .unwrap();
            let y = poisoned(gpu, &[n_tok, d.d_inner()]);
            let mut rec = Recorder::new(gpu);
            let (_, _, dt) = split(&d, &c.x);
            scan::ssm_scan_sequential(&mut rec, &d, &c.w, c.act_rows(), dt, n_tok, &state, 1, &y)
                .unwrap();
            rec.run().unwrap();
            let (want_y, want_s) = c.cpu_sequential();
            let what = format!("sequential scan nH={nh} P={p} N={n} G={g} T={n_tok} [{path}]");
            assert_close(&what, &y.read(gpu).unwrap(), &want_y, 1e-4);
            assert_close(&what, &state.read_slot(gpu, 1).unwrap().1, &want_s, 1e-4);
            assert!(state.read_slot(gpu, 0).unwrap().1.iter().all(|&v| v == 0.0));
        }
    });
}

#[test]
fn ssm_step_matches_cpu_per_slot() {
    for_each_path(|path, gpu| {
        let mut d = dims(5, 6, 12, 1, 4, 8);
        d.time_step_limit = Some((0.05, 0.5));
        let slots = [1u32, 3, 0];
        let c = ssm_case(gpu, d, slots.len(), 50);
        let (state, init) = random_slots(gpu, &d, 4, 51);
        let y = poisoned(gpu, &[slots.len(), d.d_inner()]);
        let sb = slots_buf(gpu, &slots);
        let mut rec = Recorder::new(gpu);
        let (_, _, dt) = split(&d, &c.x);
        scan::ssm_step(
            &mut rec,
            &d,
            &c.w,
            c.act_rows(),
            dt,
            slots.len(),
            &sb,
            &state,
            &y,
        )
        .unwrap();
        rec.run().unwrap();
        let got = y.read(gpu).unwrap();
        let (cd, di, nh) = (d.conv_dim(), d.d_inner(), d.n_heads);
        let dt_raw = c.dt_raw();
        let mut want_states: Vec<Vec<f32>> = init.into_iter().map(|(_, ss)| ss).collect();
        for (s, &slot) in slots.iter().enumerate() {
            let want = cpu::ssm_sequential(
                &d,
                &c.act[s * cd..(s + 1) * cd],
                &dt_raw[s * nh..(s + 1) * nh],
                &c.hw.dt_bias,
                &c.hw.a(),
                &c.hw.d,
                &mut want_states[slot as usize],
            );
            assert_close(
                &format!("ssm step seq {s} [{path}]"),
                &got[s * di..(s + 1) * di],
                &want,
                1e-4,
            );
        }
        for (s, want) in want_states.iter().enumerate() {
            let what = format!("ssm step state slot {s} [{path}]");
            assert_close(&what, &state.read_slot(gpu, s).unwrap().1, want, 1e-5);
        }
    });
}
