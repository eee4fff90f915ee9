//! Mamba-2 mixer kernels against the CPU references (engine/src/reference/mamba.rs), on every
//! kernel path, at awkward sizes; plus the consistency properties of a recurrent layer:
//! chunked prefill + decode = decode steps, continuation = whole prompt, Q independence,
//! bit-exact snapshots.
use granite_engine::gpu::{F16Matrix, Gpu, GpuBuffer, MemTag, Recorder, Tensor};
use granite_engine::kernels::linear::{Epilogue, linear};
use granite_engine::kernels::mamba::{
    self, MambaDims, MambaLayerWeights, MambaScratch, MambaState, PrefillScan, conv, norm, scan,
    ssd::{self, MicroTile},
};
use granite_engine::reference::mamba::{self as cpu, MambaHostWeights};
use granite_engine::testing::{Rng, assert_close, gpus, poison};

/// `testing::for_each_path`, but one test at a time on GL: wgpu's GL backend shares one context
/// between threads and gives up ("Could not lock adapter context") when parallel tests hold it
/// for long, so this file's tests serialise there.
fn for_each_path(f: impl FnMut(&str, &Gpu)) {
    static GL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let gl = gpus()
        .iter()
        .any(|(_, g)| g.info.backend == wgpu::Backend::Gl);
    let _guard = gl.then(|| GL.lock().unwrap_or_else(|e| e.into_inner()));
    granite_engine::testing::for_each_path(f);
}

fn dims(nh: usize, p: usize, n: usize, g: usize, k: usize, q: usize) -> MambaDims {
    MambaDims {
        hidden: 8,
        n_heads: nh,
        head_dim: p,
        d_state: n,
        n_groups: g,
        d_conv: k,
        chunk: q,
        time_step_limit: None,
        eps: 1e-5,
    }
}

/// Parameters in the ranges of the fixtures: decays exp(Δ·A) mostly 0.4 … 0.95.
fn host_weights(rng: &mut Rng, d: &MambaDims) -> MambaHostWeights {
    let nh = d.n_heads;
    let pos = |rng: &mut Rng, lo: f32, hi: f32, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| lo + (hi - lo) * 0.5 * (rng.uniform() + 1.0))
            .collect()
    };
    MambaHostWeights {
        conv_w: rng.vec(d.conv_dim() * d.d_conv, 0.6),
        conv_b: rng.vec(d.conv_dim(), 0.2),
        dt_bias: pos(rng, -3.0, -0.5, nh),
        a_log: pos(rng, 0.3f32.ln(), 2.5f32.ln(), nh),
        d: pos(rng, 0.2, 1.5, nh),
        norm_w: pos(rng, 0.6, 1.4, d.d_inner()),
    }
}

/// An in_proj output `[T, in_proj_dim]` stored with a row stride `in_proj_dim + 3` starting 5
/// floats in; the padding is NaN so a kernel reading outside its view fails.
struct InProj {
    data: Vec<f32>,
    t: Tensor,
    stride: usize,
    offset: usize,
}

impl InProj {
    fn new(gpu: &Gpu, d: &MambaDims, rng: &mut Rng, n_tok: usize) -> InProj {
        let w = d.in_proj_dim();
        let data = rng.vec(n_tok * w, 1.0);
        Self::upload(gpu, d, data)
    }
    fn upload(gpu: &Gpu, d: &MambaDims, data: Vec<f32>) -> InProj {
        let w = d.in_proj_dim();
        Self::upload_strided(gpu, d, data, w + 3, 5)
    }
    /// Rows `stride` floats apart from float `offset` (multiples of 4 take the vec4 paths).
    fn upload_strided(
        gpu: &Gpu,
        d: &MambaDims,
        data: Vec<f32>,
        stride: usize,
        offset: usize,
    ) -> InProj {
        let w = d.in_proj_dim();
        let n_tok = data.len() / w;
        let mut padded = vec![f32::NAN; offset + n_tok * stride + 2];
        for t in 0..n_tok {
            padded[offset + t * stride..][..w].copy_from_slice(&data[t * w..][..w]);
        }
        let t = Tensor::from_f32(gpu, MemTag::Scratch, &[padded.len()], &padded, "zxbcdt").unwrap();
        InProj {
            data,
            t,
            stride,
            offset,
        }
    }
    fn rows(&self) -> granite_engine::gpu::Rows<'_> {
        self.t.rows(self.stride, self.offset)
    }
    /// The view of rows `t0..` (for decode steps that take one row of a long prompt).
    fn rows_from(&self, t0: usize) -> granite_engine::gpu::Rows<'_> {
        self.t.rows(self.stride, self.offset + t0 * self.stride)
    }
}

fn random_state(rng: &mut Rng, d: &MambaDims) -> (Vec<f32>, Vec<f32>) {
    (
        rng.vec(d.conv_state_len(), 1.0),
        rng.vec(d.ssm_state_len(), 0.5),
    )
}

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

fn slots_buf(gpu: &Gpu, slots: &[u32]) -> GpuBuffer {
    mamba::upload_slots(gpu, slots).unwrap()
}

fn dense(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(gpu, MemTag::Scratch, shape, data, "t").unwrap()
}

fn poisoned(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let t = Tensor::zeros(gpu, MemTag::Scratch, shape, "out").unwrap();
    poison(gpu, &t.buf);
    t
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

fn split<'a>(
    d: &MambaDims,
    x: &'a InProj,
) -> (
    granite_engine::gpu::Rows<'a>,
    granite_engine::gpu::Rows<'a>,
    granite_engine::gpu::Rows<'a>,
) {
    let r = x.rows();
    let at = |off| x.t.rows(r.stride, r.offset + off);
    (at(d.z_offset()), at(d.xbc_offset()), at(d.dt_offset()))
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

/// GPU inputs of the SSM stage: activated xBC and the in_proj output for dt.
struct SsmCase {
    d: MambaDims,
    hw: MambaHostWeights,
    w: MambaLayerWeights,
    act: Vec<f32>,
    act_t: Tensor,
    x: InProj,
    init: Vec<f32>,
}

fn ssm_case(gpu: &Gpu, d: MambaDims, n_tok: usize, seed: u64) -> SsmCase {
    let mut rng = Rng::new(seed);
    let hw = host_weights(&mut rng, &d);
    let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
    // Post-SiLU activations are ≥ −0.28; a plain uniform is close enough for the scan.
    let act = rng.vec(n_tok * d.conv_dim(), 1.0);
    let act_t = dense(gpu, &[n_tok, d.conv_dim()], &act);
    let x = InProj::new(gpu, &d, &mut rng, n_tok);
    let init = rng.vec(d.ssm_state_len(), 0.5);
    SsmCase {
        d,
        hw,
        w,
        act,
        act_t,
        x,
        init,
    }
}

impl SsmCase {
    fn act_rows(&self) -> granite_engine::gpu::Rows<'_> {
        self.act_t.rows(self.d.conv_dim(), 0)
    }
    fn dt_raw(&self) -> Vec<f32> {
        cpu::split_in_proj(&self.d, &self.x.data).2
    }
    fn cpu_sequential(&self) -> (Vec<f32>, Vec<f32>) {
        let mut st = self.init.clone();
        let y = cpu::ssm_sequential(
            &self.d,
            &self.act,
            &self.dt_raw(),
            &self.hw.dt_bias,
            &self.hw.a(),
            &self.hw.d,
            &mut st,
        );
        (y, st)
    }
}

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
        let state = MambaState::new(gpu, &d, 4).unwrap();
        let mut rng = Rng::new(51);
        let mut init = Vec::new();
        for s in 0..4 {
            let (cs, ss) = random_state(&mut rng, &d);
            state.write_slot(gpu, s, &cs, &ss).unwrap();
            init.push(ss);
        }
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
        let mut want_states = init.clone();
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

/// Everything a test of the whole mixer needs.
struct Mixer {
    d: MambaDims,
    hw: MambaHostWeights,
    w: MambaLayerWeights,
    x: InProj,
    conv0: Vec<f32>,
    ssm0: Vec<f32>,
}

fn mixer_case(gpu: &Gpu, d: MambaDims, n_tok: usize, seed: u64) -> Mixer {
    let mut rng = Rng::new(seed);
    let hw = host_weights(&mut rng, &d);
    let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
    let x = InProj::new(gpu, &d, &mut rng, n_tok);
    let (conv0, ssm0) = random_state(&mut rng, &d);
    Mixer {
        d,
        hw,
        w,
        x,
        conv0,
        ssm0,
    }
}

impl Mixer {
    fn state(&self, gpu: &Gpu, n_slots: usize, slot: usize) -> MambaState {
        let s = MambaState::new(gpu, &self.d, n_slots).unwrap();
        s.write_slot(gpu, slot, &self.conv0, &self.ssm0).unwrap();
        s
    }
    /// Prefill of rows `t0..t0+n` of the in_proj output into `out` rows `t0..`.
    #[allow(clippy::too_many_arguments)]
    fn prefill(
        &self,
        rec: &mut Recorder,
        state: &MambaState,
        slot: usize,
        scratch: &MambaScratch,
        out: &Tensor,
        t0: usize,
        n: usize,
        how: PrefillScan,
        d: &MambaDims,
    ) {
        let di = self.d.d_inner();
        mamba::mamba_mixer_prefill(
            rec,
            d,
            &self.w,
            self.x.rows_from(t0),
            n,
            state,
            slot,
            scratch,
            out.rows(di, t0 * di),
            how,
        )
        .unwrap();
    }
    fn cpu(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (mut c, mut s) = (self.conv0.clone(), self.ssm0.clone());
        let y = cpu::mixer(&self.d, &self.hw, &self.x.data, &mut c, &mut s);
        (y, c, s)
    }
}

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
        let state = MambaState::new(gpu, &d, 4).unwrap();
        let mut rng = Rng::new(91);
        let mut init = Vec::new();
        for s in 0..4 {
            let (c, ss) = random_state(&mut rng, &d);
            state.write_slot(gpu, s, &c, &ss).unwrap();
            init.push((c, ss));
        }
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
        let mut rec = Recorder::new(gpu);
        m.prefill(
            &mut rec,
            &state,
            1,
            &scratch,
            &out,
            0,
            5,
            PrefillScan::Chunked,
            &d,
        );
        state.snapshot(&mut rec, 1, &snap).unwrap();
        rec.run().unwrap();
        let before = state.read_slot(gpu, 1).unwrap();
        // Modify the slot, then restore it.
        let mut rec = Recorder::new(gpu);
        m.prefill(
            &mut rec,
            &state,
            1,
            &scratch,
            &out,
            5,
            7,
            PrefillScan::Chunked,
            &d,
        );
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
