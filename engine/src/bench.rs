//! Memory-bandwidth probes for `granite bench`: the roof that decode speed is measured against,
//! taken on the same adapter in the same run (a buffer-to-buffer copy and a read-only kernel).
use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use crate::Result;
use crate::gpu::{Bind, Gpu, MemTag, Recorder, grid};

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Bandwidth {
    /// Bytes moved per second by `copy_buffer_to_buffer` (counting read + write).
    pub copy_gb_s: f64,
    /// Bytes read per second by a kernel that only reads.
    pub read_gb_s: f64,
    pub probe_bytes: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_vec: u32,
    per_thread: u32,
    _p: [u32; 2],
}

/// Best of `reps` timed runs of `f` (each submits and waits), in seconds.
fn best_of(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up: pipeline compilation, first-touch allocation
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Measures copy and read bandwidth with buffers of `bytes` (capped by the binding limit).
pub fn measure(gpu: &Gpu, bytes: u64, reps: usize) -> Result<Bandwidth> {
    let bytes = bytes.min(gpu.max_binding).max(1 << 20) / 16 * 16;
    let a = gpu.alloc(MemTag::Scratch, bytes, "bandwidth src")?;
    let b = gpu.alloc(MemTag::Scratch, bytes, "bandwidth dst")?;
    let copy = best_of(reps, || {
        let mut rec = Recorder::new(gpu);
        rec.copy(&a, 0, &b, 0, bytes);
        rec.run()
    })?;
    let n_vec = (bytes / 16) as u32;
    let groups = 1024u32.min(n_vec.div_ceil(256));
    let per_thread = n_vec.div_ceil(groups * 256);
    let sink = gpu.alloc(MemTag::Scratch, groups as u64 * 256 * 4, "bandwidth sink")?;
    let pipeline = gpu.pipeline(&gpu.variant("bandwidth", &[]), "read_all")?;
    let read = best_of(reps, || {
        let mut rec = Recorder::new(gpu);
        let params = Params {
            n_vec,
            per_thread,
            _p: [0; 2],
        };
        rec.dispatch(
            &pipeline,
            "bandwidth",
            &params,
            vec![Bind::whole(&a), Bind::whole(&sink)],
            grid(gpu, groups),
        );
        rec.run()
    })?;
    Ok(Bandwidth {
        copy_gb_s: 2.0 * bytes as f64 / copy / 1e9,
        read_gb_s: bytes as f64 / read / 1e9,
        probe_bytes: bytes,
    })
}
