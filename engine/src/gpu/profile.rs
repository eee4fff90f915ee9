//! Per-kernel-family GPU time for `--profile`: with TIMESTAMP_QUERY every dispatch of a profiled
//! submission runs in its own compute pass with begin/end timestamps; without it only dispatch
//! counts and wall time are known.
use std::sync::{Arc, Mutex};

use super::Gpu;
use crate::{Error, Result};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FamilyTime {
    pub family: &'static str,
    pub dispatches: u64,
    /// GPU seconds, when timestamps are available.
    pub seconds: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Profile {
    pub families: Vec<FamilyTime>,
    pub submissions: u64,
    /// False when the adapter has no timestamp queries (then `seconds` stay 0).
    pub timed: bool,
}

pub type SharedProfile = Arc<Mutex<Profile>>;

impl Profile {
    pub fn add(&mut self, family: &'static str, dispatches: u64, seconds: f64) {
        match self.families.iter_mut().find(|f| f.family == family) {
            Some(f) => {
                f.dispatches += dispatches;
                f.seconds += seconds;
            }
            None => self.families.push(FamilyTime {
                family,
                dispatches,
                seconds,
            }),
        }
    }

    pub fn total_dispatches(&self) -> u64 {
        self.families.iter().map(|f| f.dispatches).sum()
    }
}

/// Most timed dispatches per submission (two queries each; wgpu allows 4096 per set).
pub const MAX_TIMED: u32 = 2048;

pub(crate) struct Timestamps {
    pub set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl Timestamps {
    pub fn new(gpu: &Gpu, n: u32) -> Timestamps {
        let n = n.clamp(1, MAX_TIMED) * 2;
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: n,
        });
        let buf = |usage| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: n as u64 * 8,
                usage,
                mapped_at_creation: false,
            })
        };
        Timestamps {
            set,
            resolve: buf(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buf(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
        }
    }

    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder, n: u32) {
        enc.resolve_query_set(&self.set, 0..n * 2, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, n as u64 * 16);
    }

    /// Seconds per timed dispatch, after the submission has completed.
    pub fn read(&self, gpu: &Gpu, n: u32) -> Result<Vec<f64>> {
        let slice = self.readback.slice(..n as u64 * 16);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        gpu.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("timestamp readback never completed".into()))?
            .map_err(|e| Error::Gpu(format!("timestamp readback: {e}")))?;
        let period = gpu.queue.get_timestamp_period() as f64 * 1e-9;
        let ticks: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("timestamp readback: {e}")))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        self.readback.unmap();
        Ok(ticks
            .chunks(2)
            .map(|p| p[1].saturating_sub(p[0]) as f64 * period)
            .collect())
    }
}
