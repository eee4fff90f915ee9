//! Routed mixture of experts on the GPU against the CPU reference: the decode and the prefill
//! expert paths at awkward sizes, the input norm and the deferred expert sum fused into other
//! kernels, expert stacks split into several parts by a forced small binding limit, and
//! prefill == decode token by token.
use granite_engine::gpu::{F16Matrix, Gpu, GpuOptions, MemTag, Recorder, Tensor};
use granite_engine::kernels::linear::{Epilogue, Input, InputNorm, linear};
use granite_engine::kernels::moe::{
    MoeDims, MoeOptions, MoePath, MoeScratch, MoeWeights, moe_forward,
};
use granite_engine::reference::moe::MoeRef;
use granite_engine::reference::norm::rmsnorm;
use granite_engine::testing::{
    REQUIRE_BACKEND_ENV, Rng, assert_close, for_each_path, gpus_with_fused_norms, poison,
};

struct Case {
    dims: MoeDims,
    router: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    weights: MoeWeights,
}

fn make_case(gpu: &Gpu, dims: MoeDims, seed: u64) -> Case {
    let MoeDims {
        hidden: h,
        n_experts: e,
        inter: i,
        ..
    } = dims;
    let mut rng = Rng::new(seed);
    let (rb, router) = rng.f16_vec(e * h, 1.0);
    let (ib, input) = rng.f16_vec(e * 2 * i * h, 0.6);
    let (ob, output) = rng.f16_vec(e * h * i, 0.6);
    let weights = MoeWeights::from_f16(gpu, dims, &rb, &ib, &ob).unwrap();
    Case {
        dims,
        router,
        input,
        output,
        weights,
    }
}

impl Case {
    fn reference(&self) -> MoeRef<'_> {
        MoeRef {
            hidden: self.dims.hidden,
            n_experts: self.dims.n_experts,
            top_k: self.dims.top_k,
            inter: self.dims.inter,
            router: &self.router,
            input: &self.input,
            output: &self.output,
        }
    }

    /// Runs the GPU MoE on `v [T, H]` with `out` starting as `y0`.
    fn run(
        &self,
        gpu: &Gpu,
        scratch: &mut MoeScratch,
        v: &[f32],
        y0: &[f32],
        opts: MoeOptions,
    ) -> Vec<f32> {
        self.run_normed(gpu, scratch, v, None, y0, opts).unwrap()
    }

    /// [`Case::run`] on `rmsnorm(v) ⊙ g` computed by the MoE kernels themselves when `g` is given.
    fn run_normed(
        &self,
        gpu: &Gpu,
        scratch: &mut MoeScratch,
        v: &[f32],
        g: Option<&[f32]>,
        y0: &[f32],
        opts: MoeOptions,
    ) -> granite_engine::Result<Vec<f32>> {
        let h = self.dims.hidden;
        let n_tok = v.len() / h;
        let vt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, h], v, "v")?;
        let ot = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, h], y0, "out")?;
        let gt = g
            .map(|g| Tensor::from_f32(gpu, MemTag::Norms, &[h], g, "g"))
            .transpose()?;
        let input = Input {
            x: vt.rows(h, 0),
            norm: gt.as_ref().map(|weight| InputNorm {
                weight,
                eps: 1e-5,
                gate: None,
            }),
        };
        let mut rec = Recorder::new(gpu);
        moe_forward(
            &mut rec,
            scratch,
            &self.weights,
            input,
            ot.rows(h, 0),
            n_tok,
            opts,
        )?;
        rec.run()?;
        ot.read(gpu)
    }
}

const SIZES: &[(usize, usize, usize, usize)] = &[
    // (E, k, H, I)
    (3, 1, 20, 12),
    (5, 2, 33, 17),
    (9, 3, 70, 40),
    (4, 3, 45, 24),
    (3, 3, 64, 32),
    // Fewer expert rows than a matvec row group; H a multiple of 8 (whole-vec4 x reads).
    (2, 2, 16, 3),
    // Rows long enough for several column steps per lane with 32-lane subgroups, both products.
    (3, 2, 1064, 1040),
    // More experts than a workgroup has invocations (each ranks several).
    (70, 5, 24, 16),
];

/// One random case per entry of [`SIZES`], seeded from `seed` upwards.
fn cases(gpu: &Gpu, seed: u64) -> Vec<Case> {
    SIZES
        .iter()
        .enumerate()
        // One expert's rows must fit one binding (the split test shrinks it to 12 KiB).
        .filter(|&(_, &(_, _, h, i))| (2 * i * h * 2) as u64 <= gpu.max_binding)
        .map(|(ci, &(e, k, h, i))| {
            let dims = MoeDims {
                hidden: h,
                n_experts: e,
                top_k: k,
                inter: i,
            };
            make_case(gpu, dims, seed + ci as u64)
        })
        .collect()
}

/// Both paths against the reference at each T, and prefill == decode.
/// Returns how many cases had an expert stack split into several parts.
fn check_paths(gpu: &Gpu, what: &str) -> usize {
    let mut scratch = MoeScratch::new();
    let mut split = 0;
    for (ci, case) in cases(gpu, 11).into_iter().enumerate() {
        let (dims, h) = (case.dims, case.dims.hidden);
        split +=
            (case.weights.input.parts.len() > 1 || case.weights.output.parts.len() > 1) as usize;
        let mut rng = Rng::new(100 + ci as u64);
        for n_tok in [1usize, 2, 5, 67, 100] {
            let v = rng.vec(n_tok * h, 1.0);
            let want = case.reference().forward(&v, n_tok);
            let nan = vec![f32::NAN; n_tok * h];
            let mut got = Vec::new();
            for path in [MoePath::Decode, MoePath::Prefill] {
                let opts = MoeOptions {
                    path,
                    ..Default::default()
                };
                // Rows the other path left in the scratch must not stand in for skipped ones.
                for buf in scratch.buffers() {
                    poison(gpu, buf);
                }
                let y = case.run(gpu, &mut scratch, &v, &nan, opts);
                let tag = format!("moe {dims:?} T={n_tok} {path:?} [{what}]");
                assert_close(&tag, &y, &want, 2e-5);
                got.push(y);
            }
            // Same routing, same slot order; only the summation order of the products differs.
            let tag = format!("prefill vs decode {dims:?} T={n_tok} [{what}]");
            assert_close(&tag, &got[1], &got[0], 1e-5);
        }
    }
    split
}

/// The decode path normalising its input itself (router and expert products) equals RMSNorm
/// followed by the MoE; the prefill path refuses an input norm instead of ignoring it.
#[test]
fn moe_decode_with_input_norm_matches_rmsnorm_then_moe() {
    for (what, gpu) in gpus_with_fused_norms() {
        let mut scratch = MoeScratch::new();
        for (ci, case) in cases(&gpu, 31).into_iter().enumerate() {
            let (dims, h) = (case.dims, case.dims.hidden);
            let mut rng = Rng::new(200 + ci as u64);
            for n_tok in [1usize, 2] {
                let v = rng.vec(n_tok * h, 4.0);
                let g = rng.vec(h, 1.5);
                let y0 = rng.vec(n_tok * h, 1.0);
                let want = case
                    .reference()
                    .forward(&rmsnorm(&v, &g, n_tok, 1e-5), n_tok);
                let want: Vec<f32> = want.iter().zip(&y0).map(|(m, y)| y + 0.5 * m).collect();
                let opts = MoeOptions {
                    alpha: 0.5,
                    accumulate: true,
                    ..Default::default()
                };
                let got = case
                    .run_normed(&gpu, &mut scratch, &v, Some(&g), &y0, opts)
                    .unwrap();
                assert_close(
                    &format!("normed moe {dims:?} T={n_tok} [{what}]"),
                    &got,
                    &want,
                    2e-5,
                );
                let opts = MoeOptions {
                    path: MoePath::Prefill,
                    ..opts
                };
                let refused = case.run_normed(&gpu, &mut scratch, &v, Some(&g), &y0, opts);
                assert!(refused.is_err(), "prefill path took an input norm [{what}]");
            }
        }
    }
}

/// Decode with `defer_sum`: the experts' weighted sum comes back and a following product into
/// the same rows adds it in its epilogue (the shared MLP's down product in the model); the
/// prefill path still adds it itself.
#[test]
fn deferred_expert_sum_joins_the_next_product() {
    for_each_path(|what, gpu| {
        let mut scratch = MoeScratch::new();
        for (ci, case) in cases(gpu, 51).into_iter().enumerate() {
            let (dims, h) = (case.dims, case.dims.hidden);
            let mut rng = Rng::new(300 + ci as u64);
            let cols = 11 + ci;
            let (wbits, wvals) = rng.f16_vec(h * cols, 0.5);
            let down = F16Matrix::from_f16(gpu, MemTag::Scratch, h, cols, &wbits, "down").unwrap();
            for n_tok in [1usize, 2] {
                let v = rng.vec(n_tok * h, 1.0);
                let act = rng.vec(n_tok * cols, 1.0);
                let y0 = rng.vec(n_tok * h, 1.0);
                let vt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, h], &v, "v").unwrap();
                let at = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &act, "a").unwrap();
                let ot = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, h], &y0, "out").unwrap();
                let opts = MoeOptions {
                    alpha: 0.5,
                    accumulate: true,
                    defer_sum: true,
                    ..Default::default()
                };
                let mut rec = Recorder::new(gpu);
                let (vr, or) = (vt.rows(h, 0), ot.rows(h, 0));
                let sum = moe_forward(&mut rec, &mut scratch, &case.weights, vr, or, n_tok, opts)
                    .unwrap()
                    .expect("a decode step defers its sum");
                let ep = Epilogue {
                    alpha: 0.5,
                    accumulate: true,
                    experts: Some(&sum),
                    ..Default::default()
                };
                linear(&mut rec, &down, at.rows(cols, 0), ot.rows(h, 0), n_tok, ep).unwrap();
                rec.run().unwrap();
                let moe = case.reference().forward(&v, n_tok);
                let want: Vec<f32> = (0..n_tok * h)
                    .map(|j| {
                        let (t, r) = (j / h, j % h);
                        let dot: f64 = (0..cols)
                            .map(|c| wvals[r * cols + c] as f64 * act[t * cols + c] as f64)
                            .sum();
                        y0[j] + 0.5 * (dot as f32 + moe[j])
                    })
                    .collect();
                let tag = format!("deferred sum {dims:?} T={n_tok} [{what}]");
                assert_close(&tag, &ot.read(gpu).unwrap(), &want, 2e-5);
                let prefill = MoeOptions {
                    path: MoePath::Prefill,
                    ..opts
                };
                let mut rec = Recorder::new(gpu);
                let kept = moe_forward(
                    &mut rec,
                    &mut scratch,
                    &case.weights,
                    vr,
                    or,
                    n_tok,
                    prefill,
                );
                assert!(kept.unwrap().is_none(), "prefill deferred its sum [{what}]");
            }
        }
    });
}

#[test]
fn moe_paths_match_reference() {
    for_each_path(|path, gpu| {
        check_paths(gpu, path);
    });
}

/// A forced 12 KiB binding limit splits every expert stack into several parts (and the scratch
/// into several token chunks); both paths must still match.
#[test]
fn moe_expert_stack_split_into_parts() {
    // The fused decode path (top-k inside the expert product) on each part too.
    for (no_features, fused) in [(true, None), (false, None), (false, Some(true))] {
        let gpu = granite_engine::testing::context(GpuOptions {
            no_f16: no_features,
            no_subgroups: no_features,
            max_binding_override: Some(12 << 10),
            backend: std::env::var(REQUIRE_BACKEND_ENV).ok(),
            fused_norms: fused,
            // Fused as on a GPU, in a GPU's layout too (CPU drivers default to lane rows).
            lane_rows: fused.map(|_| false),
            ..Default::default()
        });
        if !no_features && !gpu.paths.f16 && !gpu.paths.subgroups {
            continue; // no feature path on this adapter
        }
        let what = match (no_features, gpu.paths.fused_norms) {
            (true, _) => "split portable",
            (false, false) => "split features",
            (false, true) => "split features, fused",
        };
        let split = check_paths(&gpu, what);
        assert!(
            split >= 4,
            "{what}: only {split} cases had a split expert stack"
        );
    }
}

#[test]
fn moe_alpha_accumulate_and_scratch_reuse() {
    for_each_path(|path, gpu| {
        let dims = MoeDims {
            hidden: 37,
            n_experts: 6,
            top_k: 2,
            inter: 20,
        };
        let case = make_case(gpu, dims, 77);
        let mut scratch = MoeScratch::new();
        let mut rng = Rng::new(78);
        for n_tok in [1usize, 3, 9] {
            let v = rng.vec(n_tok * dims.hidden, 1.0);
            let y0 = rng.vec(n_tok * dims.hidden, 1.0);
            let opts = MoeOptions {
                alpha: 0.22,
                accumulate: true,
                ..Default::default()
            };
            let got = case.run(gpu, &mut scratch, &v, &y0, opts);
            let moe = case.reference().forward(&v, n_tok);
            let want: Vec<f32> = y0.iter().zip(&moe).map(|(a, m)| a + 0.22 * m).collect();
            assert_close(
                &format!("moe accumulate T={n_tok} [{path}]"),
                &got,
                &want,
                2e-5,
            );
        }
        // A second decode step of the same size allocates nothing.
        let before = scratch.bytes();
        let v = rng.vec(dims.hidden, 1.0);
        case.run(gpu, &mut scratch, &v, &v, MoeOptions::default());
        assert_eq!(scratch.bytes(), before);
    });
}

#[test]
fn moe_weights_reject_bad_shapes() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let dims = MoeDims {
        hidden: 8,
        n_experts: 2,
        top_k: 3,
        inter: 8,
    };
    let z = |n: usize| vec![0u16; n];
    let err = MoeWeights::from_f16(&gpu, dims, &z(16), &z(256), &z(128))
        .err()
        .unwrap();
    assert!(err.to_string().contains("top_k"), "{err}");
    let dims = MoeDims { top_k: 1, ..dims };
    let err = MoeWeights::from_f16(&gpu, dims, &z(16), &z(255), &z(128))
        .err()
        .unwrap();
    assert!(err.to_string().contains("input_linear"), "{err}");
}
