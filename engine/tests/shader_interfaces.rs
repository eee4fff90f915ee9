//! The launchers' statements of their shader interfaces (flags, `Params` layout, bindings and
//! their access) against naga's reflection of the WGSL (see `testing::interface`).
//!
//! Every GPU context of the test harness checks every dispatch recorded on it, so each kernel
//! test checks the variants it runs. Here: whole models on every kernel path, so that every
//! entry point of every shader is checked at least once, and planted mismatches — taken from
//! a real launcher's interface and changed one aspect at a time — that the check must reject.
mod attention_common;
mod mamba_common;

use std::collections::BTreeSet;
use std::path::Path;

use granite_engine::gpu::shaders::SHADERS;
use granite_engine::gpu::shaders::{F16, SUBGROUPS};
use granite_engine::gpu::{
    Access, DispatchInterface, Field, Gpu, MemTag, Recorder, Scalar, Tensor,
};
use granite_engine::kernels::elementwise::axpy;
use granite_engine::kernels::mamba::{self, MambaScratch, MambaState};
use granite_engine::kernels::rmsnorm::rmsnorm;
use granite_engine::kernels::sampling::SamplingParams;
use granite_engine::reference::attention::RefKvSeq;
use granite_engine::testing::interface::{self, checked, mismatches, mismatches_with};
use granite_engine::testing::{Rng, gpus, gpus_with_fused_norms};
use granite_engine::{
    Device, Engine, GenerateOptions, Input, ModelSource, OpenOptions, SessionOptions,
};

/// The reference models of the CLI's tests (tests/fixtures): MoE, dense with RoPE,
/// attention-only and Mamba with groups, so together they run every layer kind.
const FIXTURES: [&str; 4] = ["moe_nope", "dense_rope", "attn_only", "mamba_groups"];

/// Every `@compute` entry point of a shader file, by name (both branches of any `#if`).
fn entry_points(src: &str) -> BTreeSet<String> {
    src.split("@compute")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("fn ").nth(1)?.split('(').next()?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Prefill (every row's logits), greedy decode and sampled decode of one fixture model. The
/// long prompt takes the MoE's grouped-by-expert path (`moe_route`, `moe_mm`), the short
/// one the small prompt tiles (`SMALL`).
fn run_fixture(gpu: &std::sync::Arc<Gpu>, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    let device = Device::from_gpu(gpu.clone());
    let source = ModelSource::path(&dir);
    let engine = Engine::open_on(&device, &source, &OpenOptions::default()).expect("fixture loads");
    let session = || {
        let opts = SessionOptions { context: Some(512) };
        engine.session(&opts).expect("session")
    };
    let prompt: Vec<u32> = (0..100).map(|i| (i * 7 + 3) % 200).collect();
    session().logits(&prompt).expect("prefill");
    let sampled = SamplingParams {
        temperature: 0.8,
        top_k: 20,
        top_p: 0.9,
        repetition_penalty: 1.1,
        seed: 1,
    };
    // Plain greedy takes the many-workgroup argmax; the rest the one-workgroup sampler.
    for (sampling, prompt) in [
        (SamplingParams::default(), &prompt[..10]),
        (sampled, &prompt),
    ] {
        let opts = GenerateOptions {
            max_new_tokens: 3,
            sampling,
            stop_strings: vec![],
            stop_at_eos: false,
            detokenize: false,
        };
        let mut s = session();
        let stream = s.generate(&Input::Tokens(prompt.to_vec()), &opts);
        stream
            .expect("generation starts")
            .run(|_| std::ops::ControlFlow::Continue(()))
            .expect("generation");
    }
}

/// The launchers a model's generation does not run: axpy, batched Mamba decode (the
/// unfused conv step), state slots zeroed, saved, restored and forked, and the bandwidth
/// probe.
fn run_other_launchers(gpu: &Gpu) {
    let a = Tensor::from_f32(gpu, MemTag::Scratch, &[64], &[1.0; 64], "a").unwrap();
    let out = Tensor::zeros(gpu, MemTag::Scratch, &[64], "out").unwrap();
    let mut rec = Recorder::new(gpu);
    axpy(&mut rec, &a, &out, 64, 2.0, 1.0).unwrap();
    let d = mamba_common::dims(4, 6, 10, 2, 4, 8);
    let slots = [1u32, 0];
    let m = mamba_common::mixer_case(gpu, d, slots.len(), 1);
    let state = MambaState::new(gpu, &d, 2).unwrap();
    let scratch = MambaScratch::new(gpu, &d, slots.len()).unwrap();
    let y = Tensor::zeros(gpu, MemTag::Scratch, &[slots.len(), d.d_inner()], "y").unwrap();
    let sb = mamba_common::slots_buf(gpu, &slots);
    let steps = mamba::DecodeSteps::all(y.rows(d.d_inner(), 0));
    let (x, n) = (m.x.rows(), slots.len());
    mamba::mamba_mixer_decode(&mut rec, &d, &m.w, x, n, &sb, &state, &scratch, steps).unwrap();
    let snap = state.alloc_snapshot(gpu).unwrap();
    state.zero(&mut rec, 0).unwrap();
    state.snapshot(&mut rec, 1, &snap).unwrap();
    state.restore(&mut rec, &snap, 0).unwrap();
    state.copy_slot(&mut rec, 0, 1).unwrap();
    rec.run().unwrap();
    granite_engine::bench::measure(gpu, 1 << 20, 1).expect("bandwidth probe");
    // The attention kernels' head-dim classes (the fixtures' heads are smaller).
    let mut rng = Rng::new(5);
    for hd in [64, 128, 256] {
        let d = attention_common::dims(hd, 2, 1, false);
        let mut kv = attention_common::cache(&d, 1, 1, 32, 16);
        let mut reference = RefKvSeq::default();
        let what = format!("head dim {hd}");
        attention_common::prefill_step(gpu, &mut rng, &mut kv, &mut reference, 0, 5, &d, &what);
        attention_common::decode_step(gpu, &mut rng, &mut kv, &mut reference, 0, &d, &what);
    }
}

/// Whether this run cannot set `flag` of `shader` on `gpu`, and why: the feature paths where
/// the adapter lacks the feature, the GPU tilings where it takes the CPU ones (lavapipe; the
/// GL run of scripts/test.sh takes them).
fn unreached(gpu: &Gpu, shader: &str, flag: &str) -> bool {
    match (shader, flag) {
        (_, F16) => !gpu.paths.f16,
        (_, SUBGROUPS) => !gpu.paths.subgroups,
        ("matmul", "WIDE" | "T32") | ("moe_mm", "WIDE") => gpu.cpu_tiles(),
        // Read by matvec_x.wgsl, which moe_matvec includes; only Mamba's out_proj (the
        // linear launcher) has a gated norm.
        ("moe_matvec", "GATED") => true,
        _ => false,
    }
}

#[test]
fn every_entry_point_and_flag_of_every_shader_is_checked_against_its_launcher() {
    for (_, gpu) in gpus().into_iter().chain(gpus_with_fused_norms()) {
        for name in FIXTURES {
            run_fixture(&gpu, name);
        }
        run_other_launchers(&gpu);
    }
    let all = checked();
    let seen: BTreeSet<(&str, &str)> = all.iter().map(|d| (d.variant.shader, d.entry)).collect();
    let missing: Vec<String> = SHADERS
        .iter()
        .flat_map(|(shader, src)| entry_points(src).into_iter().map(move |e| (*shader, e)))
        .filter(|(s, e)| !seen.contains(&(*s, e.as_str())))
        .map(|(s, e)| format!("{s}::{e}"))
        .collect();
    assert!(
        missing.is_empty(),
        "entry points no launcher dispatched here, so never checked: {missing:?}"
    );
    let gpus = gpus();
    let mut unset = Vec::new();
    for (shader, _) in SHADERS.iter().filter(|(s, _)| *s != "common") {
        let set: BTreeSet<&str> = all
            .iter()
            .filter(|d| d.variant.shader == *shader)
            .flat_map(|d| d.variant.flags.iter().copied())
            .collect();
        for flag in interface::flags_read(shader) {
            if !set.contains(flag) && !gpus.iter().all(|(_, g)| unreached(g, shader, flag)) {
                unset.push(format!("{shader}: {flag}"));
            }
        }
    }
    assert!(
        unset.is_empty(),
        "flags no launcher set here, so never checked: {unset:?}"
    );
}

/// The interface the rmsnorm launcher states, as the harness recorded it.
fn rmsnorm_interface() -> DispatchInterface {
    let (_, gpu) = gpus().remove(0);
    let (n, dim) = (3, 64);
    let x = Tensor::from_f32(&gpu, MemTag::Scratch, &[n, dim], &vec![1.0; n * dim], "x").unwrap();
    let w = Tensor::from_f32(&gpu, MemTag::Scratch, &[dim], &vec![1.0; dim], "w").unwrap();
    let y = Tensor::zeros(&gpu, MemTag::Scratch, &[n, dim], "y").unwrap();
    let mut rec = Recorder::new(&gpu);
    rmsnorm(&mut rec, &x, &w, &y, n, 1e-5).unwrap();
    rec.run().unwrap();
    let found = checked()
        .into_iter()
        .find(|d| d.variant.shader == "rmsnorm");
    let d = found.expect("the rmsnorm dispatch was checked");
    assert!(mismatches(&d).is_empty(), "the real interface matches");
    d
}

/// `d` with its parameter fields changed by `f` (leaked: the interface holds a static slice).
fn with_fields(d: &DispatchInterface, f: impl FnOnce(&mut Vec<Field>)) -> DispatchInterface {
    let mut fields = d.params.to_vec();
    f(&mut fields);
    DispatchInterface {
        params: Vec::leak(fields),
        ..d.clone()
    }
}

#[track_caller]
fn assert_rejected(d: &DispatchInterface, wgsl: Option<&str>, want: &str) {
    let bad = match wgsl {
        Some(text) => mismatches_with(d, text),
        None => mismatches(d),
    };
    assert!(
        bad.iter().any(|m| m.contains(want)),
        "expected a mismatch mentioning `{want}`, got {bad:?}"
    );
}

#[test]
fn planted_params_drift_is_rejected() {
    let d = rmsnorm_interface();
    // A field moved by 4 bytes (a field inserted before it on one side only).
    let moved = with_fields(&d, |f| f[1].offset += 4);
    assert_rejected(&moved, None, moved.params[1].name);
    // A field whose type drifted (an f32 the shader reads as u32, or the reverse).
    let retyped = with_fields(&d, |f| {
        f[1].scalar = match f[1].scalar {
            Scalar::F32 => Scalar::U32,
            _ => Scalar::F32,
        }
    });
    assert_rejected(&retyped, None, retyped.params[1].name);
    // A field renamed on one side.
    let renamed = with_fields(&d, |f| f[0].name = "not_in_the_shader");
    assert_rejected(&renamed, None, "not_in_the_shader");
    // A field dropped: the block is smaller than the WGSL struct.
    let mut short = with_fields(&d, |f| {
        f.pop();
    });
    short.params_size -= 4;
    assert_rejected(&short, None, "bytes in Rust");
}

#[test]
fn planted_flag_and_binding_mismatches_are_rejected() {
    let d = rmsnorm_interface();
    // A misspelled flag: no `#if` reads it.
    let mut flagged = d.clone();
    flagged.variant.flags.insert("NROM");
    assert_rejected(&flagged, None, "`NROM`");
    // The launcher writes a binding the shader declares `read`.
    let mut writes = d.clone();
    writes.binds[0].1 = Access::ReadWrite;
    assert_rejected(&writes, None, "binding 1");
    // The shader declares a read-only input `read_write`.
    let wgsl = d.variant.wgsl().unwrap();
    let planted = wgsl.replacen("var<storage, read> x", "var<storage, read_write> x", 1);
    assert_ne!(
        planted, wgsl,
        "rmsnorm.wgsl declares `var<storage, read> x`"
    );
    assert_rejected(&d, Some(&planted), "binding 1 (`x`)");
    // A binding shifted past the ones the shader declares, and one left unbound.
    let mut shifted = d.clone();
    shifted.binds.last_mut().unwrap().0 += 5;
    assert_rejected(&shifted, None, "no storage binding there");
    assert_rejected(&shifted, None, "not bound");
}
