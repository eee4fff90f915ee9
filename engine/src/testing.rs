//! Kernel test harness: random inputs, poisoned outputs, comparison against CPU references, and
//! one GPU context per kernel path so every test runs on the portable and the feature paths.
//!
//! Public so the engine's and the CLI's integration tests share it; not used by the engine,
//! and compiled only with the `testing` feature.
pub mod interface;
mod reflect;

use std::sync::{Arc, OnceLock};

use crate::gpu::{Gpu, GpuBuffer, GpuOptions};

/// Set to a backend name (e.g. `vulkan`) to make the tests fail when that backend is absent,
/// instead of quietly running on whatever adapter exists. CI sets it.
pub const REQUIRE_BACKEND_ENV: &str = "GRANITE_REQUIRE_BACKEND";

/// A context for `opts` as every test gets one: on the required backend, if one is set, and
/// checking each dispatch's shader interface.
pub fn context(opts: GpuOptions) -> Arc<Gpu> {
    let gpu = Gpu::new(&opts).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
    if let Ok(want) = std::env::var(REQUIRE_BACKEND_ENV) {
        let got = format!("{:?}", gpu.info.backend).to_lowercase();
        assert_eq!(
            got,
            want.to_lowercase(),
            "{REQUIRE_BACKEND_ENV}={want} but the adapter is {}",
            gpu.describe()
        );
    }
    // Every dispatch a test records is checked against its shader's interface.
    gpu.check_dispatches(interface::check);
    gpu
}

/// A context of its own on the default adapter, for tests that count what a context holds.
pub fn fresh_gpu() -> Arc<Gpu> {
    context(GpuOptions {
        backend: std::env::var(REQUIRE_BACKEND_ENV).ok(),
        ..Default::default()
    })
}

/// The kernel paths to test on this machine: always the portable one, plus the feature path
/// when the adapter offers f16 or subgroups. Contexts are shared by all tests of a process.
pub fn gpus() -> Vec<(&'static str, Arc<Gpu>)> {
    static CTX: OnceLock<Vec<(&'static str, Arc<Gpu>)>> = OnceLock::new();
    CTX.get_or_init(|| open_paths(false)).clone()
}

/// The portable and feature paths as a GPU runs them: each RMSNorm fused into the decode
/// products that read it and rows split over lanes and tiles (CPU drivers default to neither;
/// see `KernelPaths`). On CPU drivers also the feature path with fused norms and lane rows.
pub fn gpus_with_fused_norms() -> Vec<(&'static str, Arc<Gpu>)> {
    static CTX: OnceLock<Vec<(&'static str, Arc<Gpu>)>> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut v = open_paths(true);
        if crate::gpu::cpu_driver(&v[0].1.info) {
            let lane_rows = context(GpuOptions {
                backend: std::env::var(REQUIRE_BACKEND_ENV).ok(),
                fused_norms: Some(true),
                lane_rows: Some(true),
                ..Default::default()
            });
            v.push(("features, lane rows", lane_rows));
        }
        v
    })
    .clone()
}

fn open_paths(gpu_paths: bool) -> Vec<(&'static str, Arc<Gpu>)> {
    let backend = std::env::var(REQUIRE_BACKEND_ENV).ok();
    let fused_norms = gpu_paths.then_some(true);
    let lane_rows = gpu_paths.then_some(false);
    let portable = context(GpuOptions {
        backend: backend.clone(),
        no_f16: true,
        no_subgroups: true,
        fused_norms,
        lane_rows,
        ..Default::default()
    });
    let mut v = vec![("portable", portable)];
    let features = context(GpuOptions {
        backend,
        fused_norms,
        lane_rows,
        ..Default::default()
    });
    if features.paths.f16 || features.paths.subgroups {
        v.push(("features", features));
    }
    v
}

/// Runs `f` once per kernel path, naming the path in any panic message.
pub fn for_each_path(mut f: impl FnMut(&str, &Gpu)) {
    for (name, gpu) in gpus() {
        eprintln!("-- path {name}: {}", gpu.describe());
        f(name, &gpu);
    }
}

/// Fills a buffer with quiet NaNs so any element a kernel forgets to write fails the check.
pub fn poison(gpu: &Gpu, buf: &GpuBuffer) {
    let n = (buf.size() / 4) as usize;
    gpu.write(buf, 0, bytemuck::cast_slice(&vec![0x7fc0_0000u32; n]));
}

/// Asserts every element is finite and `max|got − want| ≤ tol · max(1, max|want|)`.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().position(|v| !v.is_finite()) {
        panic!(
            "{what}: element {i} is {} (not written, or overflow); want {}",
            got[i], want[i]
        );
    }
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let (i, err) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold(
            (0, 0.0f32),
            |best, (i, e)| if e > best.1 { (i, e) } else { best },
        );
    assert!(
        err <= tol * scale,
        "{what}: max abs error {err} at {i} (got {}, want {}), allowed {} (tol {tol} × scale {scale})",
        got[i],
        want[i],
        tol * scale
    );
}

/// A small deterministic generator (xorshift64*), so tests need no RNG crate and reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
    /// Random f16 bits plus the exact f32 values they hold (for CPU references).
    pub fn f16_vec(&mut self, n: usize, scale: f32) -> (Vec<u16>, Vec<f32>) {
        let bits: Vec<u16> = (0..n)
            .map(|_| half::f16::from_f32(self.uniform() * scale).to_bits())
            .collect();
        let vals = bits
            .iter()
            .map(|&b| half::f16::from_bits(b).to_f32())
            .collect();
        (bits, vals)
    }
}
