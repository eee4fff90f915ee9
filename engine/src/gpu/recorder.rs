//! Records kernel dispatches and copies, then encodes them into one command buffer.
//!
//! Recording is deferred: launchers push [`Op`]s with their small parameter structs, and
//! [`Recorder::submit`] packs every parameter block into one uniform buffer, builds the bind
//! groups and encodes a single compute pass. A whole decode step is therefore one submission.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::barriers::{self, Use};
use super::bind::{Access, Bind, DispatchInterface};
use super::pipelines::Pipeline;
use super::profile::{MAX_TIMED, SharedProfile, Timestamps};
use super::{Gpu, GpuBuffer, Uniform};
use crate::Result;

enum Op {
    Dispatch {
        pipeline: Arc<Pipeline>,
        family: &'static str,
        /// Byte range of this dispatch's parameters in the uniform block, if it has any.
        params: Option<(u64, u64)>,
        binds: Vec<Bind>,
        groups: [u32; 3],
    },
    Copy {
        src: wgpu::Buffer,
        src_off: u64,
        dst: wgpu::Buffer,
        dst_off: u64,
        size: u64,
    },
}

pub struct Recorder<'g> {
    gpu: &'g Gpu,
    ops: Vec<Op>,
    params: Vec<u8>,
    profile: Option<SharedProfile>,
    started: std::time::Instant,
}

/// How many dispatches each kernel family issued in one submission (for `--profile`).
pub type DispatchCounts = Vec<(&'static str, u32)>;

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Self::profiled(gpu, None)
    }

    /// A recorder whose submission is timed per dispatch into `profile` (it waits for the GPU).
    pub fn profiled(gpu: &'g Gpu, profile: Option<SharedProfile>) -> Self {
        Recorder {
            gpu,
            ops: Vec::new(),
            params: Vec::new(),
            profile,
            started: std::time::Instant::now(),
        }
    }

    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    /// Queues one dispatch. Binding 0 is `params` (a uniform struct) when non-empty; the storage
    /// bindings follow from binding 1 in order (each one after the previous, see [`Bind::at`]).
    pub fn dispatch<P: Uniform>(
        &mut self,
        pipeline: &Arc<Pipeline>,
        family: &'static str,
        params: &P,
        binds: Vec<Bind>,
        groups: [u32; 3],
    ) {
        if groups.contains(&0) {
            return; // nothing to do; binding empty ranges would be invalid anyway
        }
        if let Some(check) = self.gpu.dispatch_check.get() {
            check(&DispatchInterface::of::<P>(pipeline, &binds));
        }
        let bytes = bytemuck::bytes_of(params);
        let params = (!bytes.is_empty()).then(|| {
            let align = self.gpu.limits.min_uniform_buffer_offset_alignment as usize;
            let off = self.params.len().div_ceil(align) * align;
            self.params.resize(off, 0);
            self.params.extend_from_slice(bytes);
            // Uniform bindings must be a multiple of 16 bytes.
            self.params.resize(off + bytes.len().div_ceil(16) * 16, 0);
            (off as u64, bytes.len().div_ceil(16) as u64 * 16)
        });
        self.ops.push(Op::Dispatch {
            pipeline: pipeline.clone(),
            family,
            params,
            binds,
            groups,
        });
    }

    pub fn copy(
        &mut self,
        src: &GpuBuffer,
        src_off: u64,
        dst: &GpuBuffer,
        dst_off: u64,
        size: u64,
    ) {
        self.copy_raw(src.raw(), src_off, dst.raw(), dst_off, size);
    }

    pub(crate) fn copy_raw(
        &mut self,
        src: &wgpu::Buffer,
        src_off: u64,
        dst: &wgpu::Buffer,
        dst_off: u64,
        size: u64,
    ) {
        if size > 0 {
            self.ops.push(Op::Copy {
                src: src.clone(),
                src_off,
                dst: dst.clone(),
                dst_off,
                size,
            });
        }
    }

    /// Buffer barriers this recording implies (see [`super::barriers`]).
    pub fn barriers(&self) -> u64 {
        let steps: Vec<Vec<(wgpu::Buffer, Use)>> = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Dispatch { binds, .. } => binds
                    .iter()
                    .map(|b| {
                        let u = match b.access {
                            Access::Read => Use::Read,
                            Access::ReadWrite => Use::ReadWrite,
                        };
                        (b.buffer.clone(), u)
                    })
                    .collect(),
                Op::Copy { src, dst, .. } => {
                    vec![(src.clone(), Use::CopySrc), (dst.clone(), Use::CopyDst)]
                }
            })
            .collect();
        barriers::count(&steps)
    }

    pub fn dispatch_counts(&self) -> DispatchCounts {
        let mut counts: DispatchCounts = Vec::new();
        for op in &self.ops {
            if let Op::Dispatch { family, .. } = op {
                match counts.iter_mut().find(|(f, _)| f == family) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((family, 1)),
                }
            }
        }
        counts
    }

    /// Encodes everything recorded and submits it. Does not wait.
    pub fn submit(self) -> Result<wgpu::SubmissionIndex> {
        let gpu = self.gpu;
        self.encode()?.submit(gpu)
    }

    /// Encodes everything recorded into one command buffer without submitting it, so the host
    /// can prepare a decode step while the GPU still runs the previous one.
    pub fn encode(self) -> Result<Encoded> {
        let gpu = self.gpu;
        let dev = &gpu.device;
        let params_buf = (!self.params.is_empty()).then(|| {
            gpu.params
                .current(dev, &gpu.bind_groups, self.params.len() as u64)
        });
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("granite"),
        });
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        let timed = self.profile.is_some() && gpu.paths.timestamps;
        let n_dispatch = self
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Dispatch { .. }))
            .count() as u32;
        let stamps = timed.then(|| Timestamps::new(gpu, n_dispatch));
        let mut families: Vec<&'static str> = Vec::new();
        for op in &self.ops {
            match op {
                Op::Dispatch {
                    pipeline,
                    family,
                    params,
                    binds,
                    groups,
                    ..
                } => {
                    let params = params
                        .zip(params_buf.as_ref())
                        .map(|((off, size), u)| (u, off, size));
                    let bg = gpu.bind_groups.get(dev, &pipeline.raw, params, binds);
                    // Profiled: one pass per dispatch, bracketed by timestamps.
                    let stamp = stamps
                        .as_ref()
                        .filter(|_| (families.len() as u32) < MAX_TIMED);
                    if let Some(ts) = stamp {
                        drop(pass.take());
                        let i = families.len() as u32;
                        families.push(family);
                        let writes = wgpu::ComputePassTimestampWrites {
                            query_set: &ts.set,
                            beginning_of_pass_write_index: Some(2 * i),
                            end_of_pass_write_index: Some(2 * i + 1),
                        };
                        let desc = wgpu::ComputePassDescriptor {
                            label: Some(family),
                            timestamp_writes: Some(writes),
                        };
                        pass = Some(enc.begin_compute_pass(&desc).forget_lifetime());
                    }
                    let p = pass.get_or_insert_with(|| {
                        enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default())
                            .forget_lifetime()
                    });
                    p.set_pipeline(&pipeline.raw);
                    p.set_bind_group(0, &bg, &[]);
                    p.dispatch_workgroups(groups[0], groups[1], groups[2]);
                }
                Op::Copy {
                    src,
                    src_off,
                    dst,
                    dst_off,
                    size,
                } => {
                    drop(pass.take());
                    enc.copy_buffer_to_buffer(src, *src_off, dst, *dst_off, *size);
                }
            }
        }
        drop(pass);
        if let Some(ts) = &stamps {
            ts.resolve(&mut enc, families.len() as u32);
        }
        let counts = self.dispatch_counts();
        // Counting walks every binding: only when profiling.
        let barriers = self.profile.as_ref().map_or(0, |_| self.barriers());
        let host = self.started.elapsed().as_nanos() as u64;
        gpu.host_ns.fetch_add(host, Ordering::Relaxed);
        gpu.dispatches
            .fetch_add(n_dispatch as u64, Ordering::Relaxed);
        Ok(Encoded {
            cmd: enc.finish(),
            params: params_buf.map(|b| (b, self.params)),
            stamps,
            families,
            counts,
            barriers,
            profile: self.profile,
        })
    }

    /// Submits and blocks until the GPU is done.
    pub fn run(self) -> Result<()> {
        let gpu = self.gpu;
        self.submit()?;
        gpu.wait()
    }
}

/// A recorded step, encoded and ready to submit (see [`Recorder::encode`]). Dropping it
/// discards the work. It holds no borrow of the device, so a session can keep the next decode
/// step encoded between calls.
pub struct Encoded {
    cmd: wgpu::CommandBuffer,
    /// The parameter buffer the bind groups use, and the bytes to write there at submission.
    params: Option<(wgpu::Buffer, Vec<u8>)>,
    stamps: Option<Timestamps>,
    families: Vec<&'static str>,
    counts: DispatchCounts,
    barriers: u64,
    profile: Option<SharedProfile>,
}

impl Encoded {
    /// Writes the parameters and submits on `gpu`, the device it was encoded for. Does not
    /// wait, except to read a profile's timestamps.
    pub fn submit(self, gpu: &Gpu) -> Result<wgpu::SubmissionIndex> {
        let t = std::time::Instant::now();
        let idx = {
            let _serial = gpu.params.serialize();
            if let Some((buf, bytes)) = &self.params {
                gpu.queue.write_buffer(buf, 0, bytes);
            }
            gpu.queue.submit([self.cmd])
        };
        gpu.host_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        gpu.check_lost()?;
        if let Some(profile) = &self.profile {
            let n = self.families.len() as u32;
            let secs = match &self.stamps {
                Some(ts) => ts.read(gpu, n)?,
                None => Vec::new(),
            };
            let mut p = profile
                .lock()
                .map_err(|_| crate::Error::Gpu("profile lock poisoned".into()))?;
            p.add_submission(self.stamps.is_some(), &self.counts, &self.families, &secs);
            p.barriers += self.barriers;
        }
        Ok(idx)
    }
}

/// Splits `n` workgroups into an (x, y) grid within the per-dimension limit. Kernels recover the
/// linear index as `wid.x + wid.y * nwg.x` and must skip indices ≥ n.
pub fn grid(gpu: &Gpu, n: u32) -> [u32; 3] {
    let max = gpu.limits.max_compute_workgroups_per_dimension.max(1);
    if n <= max {
        [n, 1, 1]
    } else {
        let y = n.div_ceil(max);
        [n.div_ceil(y), y, 1]
    }
}
