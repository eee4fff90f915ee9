//! The Mamba-2 chunked SSD prefill against the CPU references (engine/src/reference/mamba.rs),
//! on every kernel path, at awkward sizes: each stage fed the CPU's intermediate results, then
//! all stages on the GPU against the token-by-token recurrence.
mod mamba_common;

use granite_engine::gpu::Recorder;
use granite_engine::kernels::mamba::{
    MambaScratch, MambaState,
    ssd::{self, MicroTile},
};
use granite_engine::reference::mamba as cpu;
use granite_engine::testing::assert_close;
use mamba_common::*;

/// Rows of `width` floats padded with zeros to `stride`.
fn pad_rows(v: &[f32], width: usize, stride: usize) -> Vec<f32> {
    v.chunks(width)
        .flat_map(|r| {
            r.iter()
                .copied()
                .chain(std::iter::repeat_n(0.0, stride - width))
        })
        .collect()
}

/// Transposes each consecutive `[rows, cols]` block of `v` to `[cols, rows]`.
fn transpose_blocks(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for (b, blk) in v.chunks(rows * cols).enumerate() {
        for r in 0..rows {
            for c in 0..cols {
                out[b * rows * cols + c * rows + r] = blk[r * cols + c];
            }
        }
    }
    out
}

/// Each SSD stage against its CPU stage, fed the CPU's intermediate results so that a failure
/// names the stage.
#[test]
fn ssd_stages_match_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(nh, p, n, g, q, n_tok)) in [
            (3, 5, 7, 1, 5, 13),
            (4, 16, 16, 2, 16, 16),
            (6, 9, 11, 2, 7, 30),
            (2, 40, 20, 1, 70, 75),
            (2, 33, 130, 2, 12, 12),
            (2, 20, 100, 1, 150, 151),
            (1, 70, 9, 1, 20, 41),
            (2, 32, 24, 2, 20, 45),
            (1, 64, 12, 1, 33, 70),
        ]
        .iter()
        .enumerate()
        {
            let mut d = dims(nh, p, n, g, 4, q);
            if i == 2 {
                d.time_step_limit = Some((0.1, 0.4));
            }
            let c = ssm_case(gpu, d, n_tok, 60 + i as u64);
            let what =
                |s: &str| format!("ssd {s} nH={nh} P={p} N={n} G={g} Q={q} T={n_tok} [{path}]");
            let (qe, nc) = ssd::chunking(&d, n_tok);
            let (dt_h, lam_h) = cpu::ssd_dt(&d, &c.dt_raw(), &c.hw.dt_bias, &c.hw.a(), n_tok, qe);
            let cb_h = cpu::ssd_cb(&d, &c.act, n_tok, qe);
            let sloc_h = cpu::ssd_chunk_states(&d, &c.act, &dt_h, &lam_h, n_tok, qe);
            let (sprev_h, fin_h) = cpu::ssd_scan_chunks(&d, &lam_h, &sloc_h, &c.init, n_tok, qe);
            let y_h = cpu::ssd_out(
                &d, &c.act, &dt_h, &lam_h, &cb_h, &sprev_h, &c.hw.d, n_tok, qe,
            );

            // The GPU keeps CB transposed and the chunk states n-major.
            let cbt_h = pad_rows(&transpose_blocks(&cb_h, qe, qe), qe, ssd::cb_stride(qe));
            let sloc_t = transpose_blocks(&sloc_h, p, n);
            let sprev_t = transpose_blocks(&sprev_h, p, n);
            let decay_h: Vec<f32> = (0..nh * nc)
                .map(|e| {
                    let (h, ch) = (e / nc, e % nc);
                    lam_h[h * n_tok + ((ch + 1) * qe).min(n_tok) - 1].exp()
                })
                .collect();

            // Stage 1.
            let dt_t = poisoned(gpu, &[nh, n_tok]);
            let lam_t = poisoned(gpu, &[nh, n_tok]);
            let decay_t = poisoned(gpu, &[nh, nc]);
            let mut rec = Recorder::new(gpu);
            let (_, _, dtv) = split(&d, &c.x);
            ssd::ssd_dt(&mut rec, &d, &c.w, dtv, n_tok, &dt_t, &lam_t, &decay_t).unwrap();
            rec.run().unwrap();
            assert_close(&what("Δ"), &dt_t.read(gpu).unwrap(), &dt_h, 1e-5);
            assert_close(&what("Λ"), &lam_t.read(gpu).unwrap(), &lam_h, 1e-5);
            assert_close(&what("α"), &decay_t.read(gpu).unwrap(), &decay_h, 1e-5);

            // Stage 2 (only j ≤ i < len is specified).
            let cs = ssd::cb_stride(qe);
            let cb_t = poisoned(gpu, &[nc, g, qe, cs]);
            let mut rec = Recorder::new(gpu);
            ssd::ssd_cb(&mut rec, &d, &c.act_t, n_tok, &cb_t).unwrap();
            rec.run().unwrap();
            let got = cb_t.read(gpu).unwrap();
            let mask = |v: &[f32]| -> Vec<f32> {
                let mut out = Vec::new();
                for ch in 0..nc {
                    let len = qe.min(n_tok - ch * qe);
                    for gi in 0..g {
                        for a in 0..len {
                            for b in 0..=a {
                                out.push(v[((ch * g + gi) * qe + b) * cs + a]);
                            }
                        }
                    }
                }
                out
            };
            assert_close(&what("CB"), &mask(&got), &mask(&cbt_h), 1e-5);

            // Stage 3, from the CPU's Δ and Λ.
            let dt_c = dense(gpu, &[nh, n_tok], &dt_h);
            let lam_c = dense(gpu, &[nh, n_tok], &lam_h);
            for micro in [MicroTile::M8, MicroTile::M16] {
                let st_t = poisoned(gpu, &[nc, d.ssm_state_len()]);
                let mut rec = Recorder::new(gpu);
                ssd::ssd_chunk_states(&mut rec, &d, &c.act_t, &dt_c, &lam_c, n_tok, &st_t, micro)
                    .unwrap();
                rec.run().unwrap();
                let got = st_t.read(gpu).unwrap();
                assert_close(
                    &what(&format!("chunk states {micro:?}")),
                    &got,
                    &sloc_t,
                    1e-5,
                );
            }

            // Stage 4, from the CPU's chunk-local states and a non-zero start.
            let st_c = dense(gpu, &[nc, d.ssm_state_len()], &sloc_t);
            let decay_c = dense(gpu, &[nh, nc], &decay_h);
            let state = MambaState::new(gpu, &d, 2).unwrap();
            state
                .write_slot(gpu, 1, &vec![0.0; d.conv_state_len()], &c.init)
                .unwrap();
            let mut rec = Recorder::new(gpu);
            ssd::ssd_scan_chunks(&mut rec, &d, &decay_c, n_tok, &st_c, &state, 1).unwrap();
            rec.run().unwrap();
            assert_close(
                &what("states entering chunks"),
                &st_c.read(gpu).unwrap(),
                &sprev_t,
                1e-5,
            );
            assert_close(
                &what("final state"),
                &state.read_slot(gpu, 1).unwrap().1,
                &fin_h,
                1e-5,
            );

            // Stage 5, from the CPU's CB and entering states.
            let cb_c = dense(gpu, &[nc, g, qe, cs], &cbt_h);
            let sp_c = dense(gpu, &[nc, d.ssm_state_len()], &sprev_t);
            for micro in [MicroTile::M8, MicroTile::M16] {
                let y_t = poisoned(gpu, &[n_tok, d.d_inner()]);
                let mut rec = Recorder::new(gpu);
                ssd::ssd_out(
                    &mut rec, &d, &c.w, &c.act_t, &dt_c, &lam_c, &cb_c, &sp_c, n_tok, &y_t, micro,
                )
                .unwrap();
                rec.run().unwrap();
                let got = y_t.read(gpu).unwrap();
                assert_close(&what(&format!("y {micro:?}")), &got, &y_h, 1e-5);
            }
        }
    });
}

/// The chunked SSD (all stages on the GPU) equals the token-by-token recurrence on the CPU,
/// at T = 1, Q−1, Q, Q+1 and many chunks, with groups and the Δ clamp.
#[test]
fn ssd_prefill_matches_sequential_cpu() {
    for_each_path(|path, gpu| {
        let mut i = 0;
        for &(nh, p, n, g, q) in &[(3, 5, 7, 1, 8), (4, 6, 16, 2, 5), (6, 16, 12, 3, 16)] {
            for n_tok in [1, q - 1, q, q + 1, 7 * q + 3] {
                i += 1;
                let mut d = dims(nh, p, n, g, 4, q);
                if i % 3 == 0 {
                    d.time_step_limit = Some((0.1, 0.4));
                }
                let c = ssm_case(gpu, d, n_tok, 70 + i);
                let state = MambaState::new(gpu, &d, 1).unwrap();
                state
                    .write_slot(gpu, 0, &vec![0.0; d.conv_state_len()], &c.init)
                    .unwrap();
                let mut scratch = MambaScratch::new(gpu, &d, n_tok).unwrap();
                // Both register tilings, whatever the adapter.
                scratch.micro = if i % 2 == 0 {
                    MicroTile::M8
                } else {
                    MicroTile::M16
                };
                let y = poisoned(gpu, &[n_tok, d.d_inner()]);
                let mut rec = Recorder::new(gpu);
                let (_, _, dt) = split(&d, &c.x);
                ssd::ssd_prefill(
                    &mut rec, &d, &c.w, &c.act_t, dt, n_tok, &state, 0, &scratch, &y,
                )
                .unwrap();
                rec.run().unwrap();
                let (want_y, want_s) = c.cpu_sequential();
                let what = format!(
                    "chunked SSD nH={nh} G={g} Q={q} T={n_tok} {:?} [{path}]",
                    scratch.micro
                );
                assert_close(&what, &y.read(gpu).unwrap(), &want_y, 1e-4);
                assert_close(&what, &state.read_slot(gpu, 0).unwrap().1, &want_s, 1e-4);
            }
        }
    });
}
