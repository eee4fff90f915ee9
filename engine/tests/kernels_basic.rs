//! Element-wise ops, RMSNorm, embeddings and the f16 linear products against plain CPU
//! references, on every kernel path the adapter offers, at awkward sizes. The products with
//! fused prologues and epilogues are in kernels_fused.rs.
use granite_engine::gpu::{F16Matrix, Gpu, GpuOptions, MemTag, Recorder, Tensor};
use granite_engine::kernels::elementwise::{axpy, swiglu};
use granite_engine::kernels::embedding::embed;
use granite_engine::kernels::linear::{Epilogue, linear};
use granite_engine::kernels::rmsnorm::rmsnorm;
use granite_engine::reference::linear::linear as cpu_linear;
use granite_engine::reference::norm::rmsnorm as rmsnorm_ref;
use granite_engine::testing::{Rng, assert_close, for_each_path, gpus_with_fused_norms, poison};

fn check_linear(gpu: &Gpu, path: &str, rows: usize, cols: usize, n_tok: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
    let x = rng.vec(n_tok * cols, 1.0);
    let w = F16Matrix::from_f16(gpu, MemTag::Scratch, rows, cols, &wbits, "w").unwrap();
    let xt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &x, "x").unwrap();
    let yt = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, rows], "y").unwrap();
    poison(gpu, &yt.buf);
    let mut rec = Recorder::new(gpu);
    linear(
        &mut rec,
        &w,
        xt.rows(cols, 0),
        yt.rows(rows, 0),
        n_tok,
        Epilogue::default(),
    )
    .unwrap();
    rec.run().unwrap();
    let want = cpu_linear(&wvals, rows, cols, &x, n_tok);
    assert_close(
        &format!("linear {rows}x{cols} T={n_tok} [{path}]"),
        &yt.read(gpu).unwrap(),
        &want,
        1e-4,
    );
}

/// Rows × cols × tokens, awkward on purpose: matrix-vector (≤ 2 tokens), short (SMALL tiles)
/// and long prompts, rows and columns off every tile and vector width.
const AWKWARD: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (37, 64, 1),
    (50, 128, 2),
    (7, 13, 1),
    (33, 70, 2),
    (129, 257, 1),
    (300, 96, 3),
    (70, 72, 16),
    (65, 129, 67),
    (200, 40, 130),
    // GPU tiling (kernels::tiling; GL runs it here): 32-token tiles for few workgroups,
    // 64-token ones from 128 workgroups; K not a multiple of the 32-column step.
    (131, 200, 70),
    (2700, 200, 130),
];

#[test]
fn linear_awkward_sizes() {
    for_each_path(|path, gpu| {
        for (i, &(rows, cols, n_tok)) in AWKWARD.iter().enumerate() {
            check_linear(gpu, path, rows, cols, n_tok, i as u64 + 1);
        }
    });
}

/// The products in the other layout too: CPU drivers default to lane rows (matvec with whole
/// rows per invocation, matmul.wgsl's matmul_rows for prompts), GPUs to rows split over lanes and
/// tiles shared through workgroup memory (see `KernelPaths::lane_rows`).
#[test]
fn linear_awkward_sizes_in_each_layout() {
    for (path, gpu) in gpus_with_fused_norms() {
        for (i, &(rows, cols, n_tok)) in AWKWARD.iter().enumerate() {
            check_linear(&gpu, path, rows, cols, n_tok, i as u64 + 40);
        }
    }
}

#[test]
fn linear_epilogue_bias_scale_accumulate() {
    for_each_path(|path, gpu| {
        for n_tok in [1usize, 5, 40] {
            let (rows, cols) = (37, 45);
            let mut rng = Rng::new(99 + n_tok as u64);
            let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
            let x = rng.vec(n_tok * cols, 1.0);
            let bias = rng.vec(rows, 1.0);
            let y0 = rng.vec(n_tok * rows, 1.0);
            let w = F16Matrix::from_f16(gpu, MemTag::Scratch, rows, cols, &wbits, "w").unwrap();
            let xt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &x, "x").unwrap();
            let bt = Tensor::from_f32(gpu, MemTag::Scratch, &[rows], &bias, "b").unwrap();
            let yt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, rows], &y0, "y").unwrap();
            let ep = Epilogue {
                alpha: 0.25,
                accumulate: true,
                bias: Some(&bt),
                ..Default::default()
            };
            let mut rec = Recorder::new(gpu);
            linear(&mut rec, &w, xt.rows(cols, 0), yt.rows(rows, 0), n_tok, ep).unwrap();
            rec.run().unwrap();
            let prod = cpu_linear(&wvals, rows, cols, &x, n_tok);
            let want: Vec<f32> = (0..n_tok * rows)
                .map(|i| y0[i] + 0.25 * (prod[i] + bias[i % rows]))
                .collect();
            assert_close(
                &format!("linear epilogue T={n_tok} [{path}]"),
                &yt.read(gpu).unwrap(),
                &want,
                1e-4,
            );
        }
    });
}

/// A weight larger than one storage binding is split into row blocks; force a 1 MiB binding
/// limit so a 3 MiB matrix needs four parts, on the decode kernel and both prefill tile sizes.
#[test]
fn linear_weight_larger_than_binding_limit() {
    for no_features in [true, false] {
        let gpu = granite_engine::testing::context(GpuOptions {
            no_f16: no_features,
            no_subgroups: no_features,
            max_binding_override: Some(1 << 20),
            backend: std::env::var(granite_engine::testing::REQUIRE_BACKEND_ENV).ok(),
            ..Default::default()
        });
        let (rows, cols) = (1500, 1040); // 1500 × 1040 × 2 B ≈ 3 MiB
        let mut rng = Rng::new(7);
        let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
        let w = F16Matrix::from_f16(&gpu, MemTag::Scratch, rows, cols, &wbits, "big").unwrap();
        assert!(
            w.parts.len() >= 3,
            "expected the matrix to be split, got {} parts",
            w.parts.len()
        );
        assert!(w.parts.iter().all(|p| p.buf.size() <= 1 << 20));
        for n_tok in [1usize, 9, 70] {
            let x = rng.vec(n_tok * cols, 1.0);
            let xt = Tensor::from_f32(&gpu, MemTag::Scratch, &[n_tok, cols], &x, "x").unwrap();
            let yt = Tensor::zeros(&gpu, MemTag::Scratch, &[n_tok, rows], "y").unwrap();
            poison(&gpu, &yt.buf);
            let mut rec = Recorder::new(&gpu);
            linear(
                &mut rec,
                &w,
                xt.rows(cols, 0),
                yt.rows(rows, 0),
                n_tok,
                Epilogue::default(),
            )
            .unwrap();
            rec.run().unwrap();
            let want = cpu_linear(&wvals, rows, cols, &x, n_tok);
            assert_close(
                &format!("split linear T={n_tok}"),
                &yt.read(&gpu).unwrap(),
                &want,
                1e-4,
            );
        }
    }
}

#[test]
fn rmsnorm_matches_cpu() {
    for_each_path(|path, gpu| {
        for &(n, n_tok) in &[(1usize, 1usize), (45, 3), (257, 2), (1000, 5)] {
            let mut rng = Rng::new(n as u64);
            let x = rng.vec(n * n_tok, 3.0);
            let w = rng.vec(n, 1.0);
            let xt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, n], &x, "x").unwrap();
            let wt = Tensor::from_f32(gpu, MemTag::Norms, &[n], &w, "w").unwrap();
            let yt = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, n], "y").unwrap();
            poison(gpu, &yt.buf);
            let mut rec = Recorder::new(gpu);
            rmsnorm(&mut rec, &xt, &wt, &yt, n_tok, 1e-5).unwrap();
            rec.run().unwrap();
            let want = rmsnorm_ref(&x, &w, n_tok, 1e-5);
            assert_close(
                &format!("rmsnorm n={n} T={n_tok} [{path}]"),
                &yt.read(gpu).unwrap(),
                &want,
                1e-5,
            );
        }
    });
}

#[test]
fn axpy_and_swiglu_match_cpu() {
    for_each_path(|path, gpu| {
        let mut rng = Rng::new(5);
        let n = 1000;
        let a = rng.vec(n, 2.0);
        let o = rng.vec(n, 2.0);
        let at = Tensor::from_f32(gpu, MemTag::Scratch, &[n], &a, "a").unwrap();
        let ot = Tensor::from_f32(gpu, MemTag::Scratch, &[n], &o, "o").unwrap();
        let mut rec = Recorder::new(gpu);
        axpy(&mut rec, &at, &ot, n, 0.22, 1.0).unwrap();
        rec.run().unwrap();
        let want: Vec<f32> = (0..n).map(|i| o[i] + 0.22 * a[i]).collect();
        assert_close(
            &format!("axpy [{path}]"),
            &ot.read(gpu).unwrap(),
            &want,
            1e-6,
        );

        let (s, n_tok) = (37, 3);
        let g = rng.vec(n_tok * 2 * s, 4.0);
        let gt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, 2 * s], &g, "g").unwrap();
        let out = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, s], "out").unwrap();
        poison(gpu, &out.buf);
        let mut rec = Recorder::new(gpu);
        swiglu(&mut rec, &gt, &out, s, n_tok).unwrap();
        rec.run().unwrap();
        let silu = |v: f32| v / (1.0 + (-v).exp());
        let want: Vec<f32> = (0..n_tok * s)
            .map(|i| silu(g[(i / s) * 2 * s + i % s]) * g[(i / s) * 2 * s + s + i % s])
            .collect();
        assert_close(
            &format!("swiglu [{path}]"),
            &out.read(gpu).unwrap(),
            &want,
            1e-5,
        );
    });
}

#[test]
fn memory_accounting_tracks_live_buffers() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let before = gpu.memory.bytes(MemTag::KvCache);
    let t = Tensor::zeros(&gpu, MemTag::KvCache, &[1000], "kv").unwrap();
    assert_eq!(gpu.memory.bytes(MemTag::KvCache) - before, 4000);
    drop(t);
    assert_eq!(gpu.memory.bytes(MemTag::KvCache), before);
}

#[test]
fn pipelines_are_built_once() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let v = gpu.variant("rmsnorm", &[]);
    let a = gpu.pipeline(&v, "rmsnorm").unwrap();
    let n = gpu.pipelines_built();
    let b = gpu.pipeline(&v, "rmsnorm").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(gpu.pipelines_built(), n);
}

/// Lookup from a table split into several parts, ids spread over all of them.
#[test]
fn embedding_lookup_across_parts() {
    for no_features in [true, false] {
        let gpu = granite_engine::testing::context(GpuOptions {
            no_f16: no_features,
            no_subgroups: no_features,
            max_binding_override: Some(4096),
            backend: std::env::var(granite_engine::testing::REQUIRE_BACKEND_ENV).ok(),
            ..Default::default()
        });
        let (vocab, hidden) = (301, 45);
        let mut rng = Rng::new(11);
        let (bits, vals) = rng.f16_vec(vocab * hidden, 1.0);
        let table = F16Matrix::from_f16(&gpu, MemTag::TokenEmbeddings, vocab, hidden, &bits, "emb")
            .unwrap();
        assert!(table.parts.len() > 3);
        let ids: Vec<u32> = vec![0, 300, 17, 150, 17, 299, 64, 1];
        let idb = gpu.upload(MemTag::Scratch, &ids, "ids").unwrap();
        let out = Tensor::zeros(&gpu, MemTag::Scratch, &[ids.len(), hidden], "out").unwrap();
        poison(&gpu, &out.buf);
        let mut rec = Recorder::new(&gpu);
        embed(&mut rec, &table, &idb, ids.len(), &out, 12.0).unwrap();
        rec.run().unwrap();
        let want: Vec<f32> = ids
            .iter()
            .flat_map(|&id| {
                vals[id as usize * hidden..(id as usize + 1) * hidden]
                    .iter()
                    .map(|v| v * 12.0)
            })
            .collect();
        assert_close("embedding", &out.read(&gpu).unwrap(), &want, 1e-6);
    }
}

#[test]
fn bandwidth_probe_reports_positive_figures() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let bw = granite_engine::bench::measure(&gpu, 4 << 20, 2).unwrap();
    assert!(bw.copy_gb_s > 0.0 && bw.copy_gb_s.is_finite(), "{bw:?}");
    // The copy roof is the faster of the two copies.
    assert_eq!(
        bw.copy_gb_s,
        bw.buffer_copy_gb_s.max(bw.kernel_copy_gb_s),
        "{bw:?}"
    );
    assert!(
        bw.kernel_copy_gb_s > 0.0 && bw.buffer_copy_gb_s > 0.0,
        "{bw:?}"
    );
    assert!(bw.read_gb_s > 0.0 && bw.read_gb_s.is_finite(), "{bw:?}");
    // The read roof is the faster of the two read patterns.
    assert_eq!(
        bw.read_gb_s,
        bw.read_interleaved_gb_s.max(bw.read_runs_gb_s),
        "{bw:?}"
    );
    eprintln!("{bw:?}");
}

#[test]
fn profiled_submission_times_each_family() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let (rows, cols) = (64, 64);
    let w = F16Matrix::from_f16(
        &gpu,
        MemTag::Scratch,
        rows,
        cols,
        &vec![0x3c00; rows * cols],
        "w",
    )
    .unwrap();
    let x = Tensor::from_f32(&gpu, MemTag::Scratch, &[1, cols], &vec![1.0; cols], "x").unwrap();
    let y = Tensor::zeros(&gpu, MemTag::Scratch, &[1, rows], "y").unwrap();
    let profile = granite_engine::gpu::SharedProfile::default();
    let mut rec = Recorder::profiled(&gpu, Some(profile.clone()));
    let before = gpu.dispatches();
    for _ in 0..3 {
        linear(
            &mut rec,
            &w,
            x.rows(cols, 0),
            y.rows(rows, 0),
            1,
            Epilogue::default(),
        )
        .unwrap();
    }
    rec.run().unwrap();
    // Other tests share the context and may dispatch meanwhile: at least these three count.
    assert!(gpu.dispatches() >= before + 3);
    assert_close(
        "profiled linear",
        &y.read(&gpu).unwrap(),
        &vec![64.0; rows],
        0.0,
    );
    let p = profile.lock().unwrap().clone();
    let lin = p.families.iter().find(|f| f.family == "linear").unwrap();
    assert_eq!(lin.dispatches, 3);
    assert_eq!(p.submissions, 1);
    if gpu.paths.timestamps {
        assert!(p.timed && lin.seconds > 0.0, "{p:?}");
    }
}
