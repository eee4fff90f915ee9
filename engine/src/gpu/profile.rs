//! Per-kernel-family GPU time for `--profile`: with TIMESTAMP_QUERY every dispatch of a profiled
//! submission runs in its own compute pass with begin/end timestamps; without it only dispatch
//! counts and wall time are known.
use std::sync::{Arc, Mutex};

use super::{Gpu, Readback};
use crate::Result;

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
    /// Buffer barriers the submissions imply (from what each dispatch binds and how).
    pub barriers: u64,
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

    /// Adds one submission: its dispatch counts per family and, when `timed`, the seconds of
    /// each timed dispatch (`secs[i]` belongs to `families[i]`).
    pub(crate) fn add_submission(
        &mut self,
        timed: bool,
        counts: &[(&'static str, u32)],
        families: &[&'static str],
        secs: &[f64],
    ) {
        self.submissions += 1;
        self.timed = timed;
        for &(family, n) in counts {
            let t: f64 = families
                .iter()
                .zip(secs)
                .filter(|(f, _)| **f == family)
                .map(|(_, s)| s)
                .sum();
            self.add(family, n as u64, t);
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
    readback: Readback,
}

impl Timestamps {
    pub fn new(gpu: &Gpu, n: u32) -> Timestamps {
        let n = n.clamp(1, MAX_TIMED) * 2;
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: n,
        });
        Timestamps {
            set,
            resolve: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: n as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: Readback::new(gpu, n as u64 * 8, "timestamps"),
        }
    }

    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder, n: u32) {
        enc.resolve_query_set(&self.set, 0..n * 2, &self.resolve, 0);
        self.readback
            .encode_copy(enc, &self.resolve, 0, n as u64 * 16);
    }

    /// Seconds per timed dispatch, after the submission has completed.
    pub fn read(&self, gpu: &Gpu, n: u32) -> Result<Vec<f64>> {
        let period = gpu.queue.get_timestamp_period() as f64 * 1e-9;
        let ticks: Vec<u64> = self.readback.read(gpu, 2 * n as usize)?;
        Ok(ticks
            .chunks(2)
            .map(|p| p[1].saturating_sub(p[0]) as f64 * period)
            .collect())
    }
}
