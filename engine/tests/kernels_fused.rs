//! The f16 linear products with work fused in (the SwiGLU epilogue, RMSNorm and Mamba's gated
//! norm applied as the input is read) against the unfused CPU references, on every kernel path
//! the adapter offers, at awkward sizes.
use granite_engine::gpu::{F16Matrix, MemTag, Recorder, Tensor};
use granite_engine::kernels::linear::{Epilogue, Input, InputNorm, linear, linear_swiglu};
use granite_engine::reference::linear::linear as cpu_linear;
use granite_engine::reference::norm::rmsnorm as rmsnorm_ref;
use granite_engine::testing::{Rng, assert_close, for_each_path, gpus_with_fused_norms, poison};

/// The gated MLP input `silu(W_gate·x) ⊙ (W_up·x)`: fused into the matrix-vector kernel for one
/// or two tokens, through the product and the activation kernel otherwise.
#[test]
fn linear_swiglu_matches_cpu() {
    for_each_path(|path, gpu| {
        for (i, &(width, cols, n_tok)) in
            [(1, 8, 1), (5, 13, 2), (37, 64, 1), (33, 72, 2), (20, 40, 5)]
                .iter()
                .enumerate()
        {
            let rows = 2 * width;
            let mut rng = Rng::new(90 + i as u64);
            let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
            let x = rng.vec(n_tok * cols, 1.0);
            let w = F16Matrix::from_f16(gpu, MemTag::Scratch, rows, cols, &wbits, "w").unwrap();
            let xt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &x, "x").unwrap();
            let tmp = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, rows], "tmp").unwrap();
            let yt = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, width], "y").unwrap();
            poison(gpu, &tmp.buf);
            poison(gpu, &yt.buf);
            let mut rec = Recorder::new(gpu);
            linear_swiglu(&mut rec, &w, xt.rows(cols, 0), &tmp, &yt, n_tok).unwrap();
            rec.run().unwrap();
            let gu = cpu_linear(&wvals, rows, cols, &x, n_tok);
            let want: Vec<f32> = (0..n_tok * width)
                .map(|j| {
                    let (t, r) = (j / width, j % width);
                    let (g, u) = (gu[t * rows + r], gu[t * rows + width + r]);
                    g / (1.0 + (-g).exp()) * u
                })
                .collect();
            assert_close(
                &format!("linear_swiglu {width}x{cols} T={n_tok} [{path}]"),
                &yt.read(gpu).unwrap(),
                &want,
                1e-4,
            );
        }
        // An odd [gate; up] row count, and output rows narrower than the product, are errors
        // (both used to overlap one token's outputs with the next one's).
        let w = F16Matrix::from_f16(gpu, MemTag::Scratch, 5, 8, &[0; 40], "odd").unwrap();
        let xt = Tensor::zeros(gpu, MemTag::Scratch, &[2, 8], "x").unwrap();
        let tmp = Tensor::zeros(gpu, MemTag::Scratch, &[2, 6], "tmp").unwrap();
        let yt = Tensor::zeros(gpu, MemTag::Scratch, &[2, 3], "y").unwrap();
        let mut rec = Recorder::new(gpu);
        let odd = linear_swiglu(&mut rec, &w, xt.rows(8, 0), &tmp, &yt, 2);
        assert!(odd.is_err(), "[{path}] odd gate/up rows accepted");
        let narrow = linear(
            &mut rec,
            &w,
            xt.rows(8, 0),
            tmp.rows(4, 0),
            2,
            Epilogue::default(),
        );
        assert!(
            narrow.is_err(),
            "[{path}] 5 outputs per row into rows of 4 accepted"
        );
    });
}

/// Decode products that apply their input's RMSNorm as they read it (plain, with bias and
/// accumulation, and gated) equal RMSNorm followed by the product; more tokens than the
/// matrix-vector kernel takes are refused rather than silently left unnormalised.
#[test]
fn linear_with_input_norm_matches_rmsnorm_then_linear() {
    for (path, gpu) in gpus_with_fused_norms() {
        let gpu = &*gpu;
        for (i, &(rows, cols, n_tok, glu)) in [
            (7, 13, 1, false),
            (70, 64, 2, false),
            (5, 1000, 1, false),
            (66, 72, 2, true),
            (12, 29, 1, true),
            // Long rows: several column steps per lane even with 32-lane subgroups.
            (34, 1100, 1, true),
        ]
        .iter()
        .enumerate()
        {
            let mut rng = Rng::new(140 + i as u64);
            let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
            let x = rng.vec(n_tok * cols, 4.0);
            let g = rng.vec(cols, 1.5);
            let b = rng.vec(rows, 1.0);
            let w = F16Matrix::from_f16(gpu, MemTag::Scratch, rows, cols, &wbits, "w").unwrap();
            let xt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &x, "x").unwrap();
            let gt = Tensor::from_f32(gpu, MemTag::Norms, &[cols], &g, "g").unwrap();
            let bt = Tensor::from_f32(gpu, MemTag::Scratch, &[rows], &b, "b").unwrap();
            let out_cols = if glu { rows / 2 } else { rows };
            let y0 = rng.vec(n_tok * out_cols, 1.0);
            let yt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, out_cols], &y0, "y").unwrap();
            let tmp = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, rows], "tmp").unwrap();
            let input = Input {
                x: xt.rows(cols, 0),
                norm: Some(InputNorm {
                    weight: &gt,
                    eps: 1e-5,
                    gate: None,
                }),
            };
            let mut rec = Recorder::new(gpu);
            let ep = Epilogue {
                alpha: 0.75,
                accumulate: true,
                bias: Some(&bt),
                ..Default::default()
            };
            if glu {
                poison(gpu, &yt.buf);
                linear_swiglu(&mut rec, &w, input, &tmp, &yt, n_tok).unwrap();
            } else {
                linear(&mut rec, &w, input, yt.rows(rows, 0), n_tok, ep).unwrap();
            }
            rec.run().unwrap();
            let u = rmsnorm_ref(&x, &g, n_tok, 1e-5);
            let prod = cpu_linear(&wvals, rows, cols, &u, n_tok);
            let want: Vec<f32> = (0..n_tok * out_cols)
                .map(|j| {
                    let (t, r) = (j / out_cols, j % out_cols);
                    if glu {
                        let (a, c) = (prod[t * rows + r], prod[t * rows + out_cols + r]);
                        a / (1.0 + (-a).exp()) * c
                    } else {
                        y0[j] + 0.75 * (prod[j] + b[r])
                    }
                })
                .collect();
            assert_close(
                &format!("normed linear {rows}x{cols} T={n_tok} glu={glu} [{path}]"),
                &yt.read(gpu).unwrap(),
                &want,
                1e-4,
            );
        }
        let (xt, w) = (
            Tensor::zeros(gpu, MemTag::Scratch, &[3, 8], "x").unwrap(),
            F16Matrix::from_f16(gpu, MemTag::Scratch, 4, 8, &[0; 32], "w").unwrap(),
        );
        let (gt, yt) = (
            Tensor::zeros(gpu, MemTag::Norms, &[8], "g").unwrap(),
            Tensor::zeros(gpu, MemTag::Scratch, &[3, 4], "y").unwrap(),
        );
        let input = Input {
            x: xt.rows(8, 0),
            norm: Some(InputNorm {
                weight: &gt,
                eps: 1e-5,
                gate: None,
            }),
        };
        let mut rec = Recorder::new(gpu);
        let err = linear(&mut rec, &w, input, yt.rows(4, 0), 3, Epilogue::default());
        assert!(
            err.is_err(),
            "[{path}] a normed input over 3 tokens was accepted"
        );
    }
}

/// Mamba's out_proj reading the SSM output `y` with the gated norm applied on the fly:
/// `W · (g ⊙ rmsnorm(y ⊙ silu(z)))`, z read from wider in_proj rows at an offset, with whole-vec4
/// and scalar loads.
#[test]
fn linear_with_gated_input_norm_matches_cpu() {
    for (path, gpu) in gpus_with_fused_norms() {
        let gpu = &*gpu;
        for (i, &(rows, cols, n_tok, zw, zo)) in [
            (9, 24, 1, 60, 0),
            (7, 13, 2, 40, 3),
            (40, 64, 2, 150, 2),
            (12, 1048, 1, 1100, 4),
        ]
        .iter()
        .enumerate()
        {
            let mut rng = Rng::new(170 + i as u64);
            let (wbits, wvals) = rng.f16_vec(rows * cols, 0.5);
            let y = rng.vec(n_tok * cols, 2.0);
            let zrows = rng.vec(n_tok * zw, 3.0);
            let g = rng.vec(cols, 1.5);
            let w = F16Matrix::from_f16(gpu, MemTag::Scratch, rows, cols, &wbits, "w").unwrap();
            let yt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, cols], &y, "y").unwrap();
            let zt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, zw], &zrows, "z").unwrap();
            let gt = Tensor::from_f32(gpu, MemTag::Norms, &[cols], &g, "g").unwrap();
            let out = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, rows], "out").unwrap();
            poison(gpu, &out.buf);
            let norm = InputNorm {
                weight: &gt,
                eps: 1e-5,
                gate: Some(zt.rows(zw, zo)),
            };
            let input = Input {
                x: yt.rows(cols, 0),
                norm: Some(norm),
            };
            let mut rec = Recorder::new(gpu);
            linear(
                &mut rec,
                &w,
                input,
                out.rows(rows, 0),
                n_tok,
                Epilogue::default(),
            )
            .unwrap();
            rec.run().unwrap();
            let gated: Vec<f32> = (0..n_tok * cols)
                .map(|j| {
                    let z = zrows[(j / cols) * zw + zo + j % cols] as f64;
                    (y[j] as f64 * z / (1.0 + (-z).exp())) as f32
                })
                .collect();
            let u = rmsnorm_ref(&gated, &g, n_tok, 1e-5);
            assert_close(
                &format!("gated-norm linear {rows}x{cols} T={n_tok} z at {zo}/{zw} [{path}]"),
                &out.read(gpu).unwrap(),
                &cpu_linear(&wvals, rows, cols, &u, n_tok),
                1e-4,
            );
        }
    }
}
