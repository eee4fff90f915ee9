//! Memory-bandwidth probes for `granite bench`: the roof that decode speed is measured against,
//! taken on the same adapter in the same run (a buffer-to-buffer copy or copy kernel, whichever
//! is faster, and a read-only kernel).
use std::time::Instant;

use crate::Result;
use crate::gpu::{Bind, Gpu, MemTag, Recorder, grid, uniform};

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Bandwidth {
    /// Bytes moved per second by the faster of `copy_buffer_to_buffer` and a copy kernel
    /// (counting read + write): the roof the bench divides by.
    pub copy_gb_s: f64,
    /// The two copies alone.
    pub buffer_copy_gb_s: f64,
    pub kernel_copy_gb_s: f64,
    /// Bytes read per second by a kernel that only reads: the faster of the two patterns below.
    pub read_gb_s: f64,
    /// Neighbouring invocations reading neighbouring 16-byte blocks (what GPUs coalesce).
    pub read_interleaved_gb_s: f64,
    /// Each invocation reading one contiguous run of 8 KiB (what CPU drivers read fastest).
    pub read_runs_gb_s: f64,
    pub probe_bytes: u64,
}

uniform! {
    struct Params {
        n_vec: u32,
        per_thread: u32,
        runs: u32,
        _p: u32,
    }
}

/// Seconds of GPU work each timed submission aims for: a fast GPU moves a probe buffer in
/// ~0.1 ms, less than one submission's round trip, so one operation per submission would time
/// the round trip (an H200 showed 0.7 TB/s of its ~4.3 for a single 256 MiB copy).
const TARGET_SECONDS: f64 = 0.02;
/// At most this many operations per submission.
const MAX_REPEATS: usize = 256;

/// Best per-operation time over `reps` submissions of `n` operations each, where `n` is chosen
/// so one submission takes about [`TARGET_SECONDS`]. `f(n)` records and runs `n` operations.
fn per_op_seconds(reps: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<f64> {
    f(1)?; // warm-up: pipeline compilation, first-touch allocation
    let t = Instant::now();
    f(1)?;
    let one = t.elapsed().as_secs_f64();
    let n = ((TARGET_SECONDS / one.max(1e-9)).ceil() as usize).clamp(1, MAX_REPEATS);
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f(n)?;
        best = best.min(t.elapsed().as_secs_f64() / n as f64);
    }
    Ok(best)
}

/// 16-byte blocks in each invocation's run when `read_all` reads runs (8 KiB).
const RUN_VECS: u32 = 512;

/// Measures copy and read bandwidth with buffers of `bytes` (capped by the binding limit).
pub fn measure(gpu: &Gpu, bytes: u64, reps: usize) -> Result<Bandwidth> {
    let bytes = bytes.min(gpu.max_binding).max(1 << 20) / 16 * 16;
    let a = gpu.alloc(MemTag::Scratch, bytes, "bandwidth src")?;
    let b = gpu.alloc(MemTag::Scratch, bytes, "bandwidth dst")?;
    let copy = per_op_seconds(reps, |n| {
        let mut rec = Recorder::new(gpu);
        for _ in 0..n {
            rec.copy(&a, 0, &b, 0, bytes);
        }
        rec.run()
    })?;
    let n_vec = (bytes / 16) as u32;
    let groups = 1024u32.min(n_vec.div_ceil(256));
    let per_thread = n_vec.div_ceil(groups * 256);
    let sink = gpu.alloc(MemTag::Scratch, groups as u64 * 256 * 4, "bandwidth sink")?;
    let params = Params {
        n_vec,
        per_thread,
        runs: 0,
        _p: 0,
    };
    let kernel =
        |entry: &'static str, params: &Params, groups: u32, binds: &dyn Fn() -> Vec<Bind>| {
            let pipeline = gpu.pipeline(&gpu.variant("bandwidth", &[]), entry)?;
            per_op_seconds(reps, |n| {
                let mut rec = Recorder::new(gpu);
                for _ in 0..n {
                    rec.dispatch(&pipeline, "bandwidth", params, binds(), grid(gpu, groups));
                }
                rec.run()
            })
        };
    let read_binds = || vec![Bind::read(&a), Bind::write(&sink)];
    let interleaved_s = kernel("read_all", &params, groups, &read_binds)?;
    let run_groups = n_vec.div_ceil(RUN_VECS * 256).min(groups);
    let runs_params = Params {
        per_thread: n_vec.div_ceil(run_groups * 256),
        runs: 1,
        ..params
    };
    let runs_s = kernel("read_all", &runs_params, run_groups, &read_binds)?;
    // Layouts hold only the bindings an entry point uses: copy_all skips the sink.
    let copy_binds = || vec![Bind::read(&a), Bind::write(&b).at(3)];
    let shader_copy = kernel("copy_all", &params, groups, &copy_binds)?;
    let gb_s = |seconds: f64| bytes as f64 / seconds / 1e9;
    Ok(Bandwidth {
        copy_gb_s: 2.0 * gb_s(copy.min(shader_copy)),
        buffer_copy_gb_s: 2.0 * gb_s(copy),
        kernel_copy_gb_s: 2.0 * gb_s(shader_copy),
        read_gb_s: gb_s(interleaved_s.min(runs_s)),
        read_interleaved_gb_s: gb_s(interleaved_s),
        read_runs_gb_s: gb_s(runs_s),
        probe_bytes: bytes,
    })
}
