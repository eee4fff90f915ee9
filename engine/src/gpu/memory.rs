//! Memory accounting: every GPU buffer is allocated through [`Gpu::alloc`] with a [`MemTag`]
//! saying what it holds, so the engine can report live bytes per category (the viewer's bars,
//! `granite inspect`, the out-of-memory pre-check).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Gpu;
use super::bind_groups::BindGroupCache;
use crate::{Error, Result};

/// Staged upload bytes after which [`Gpu::write`] flushes the queue (small in unit tests, so
/// that they cross flushes).
const FLUSH_BYTES: u64 = if cfg!(test) { 1 << 20 } else { 256 << 20 };

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum MemTag {
    TokenEmbeddings,
    AttentionWeights,
    MambaWeights,
    RoutedExperts,
    SharedMlp,
    Norms,
    LmHead,
    KvCache,
    SsmState,
    ConvState,
    Scratch,
}

impl MemTag {
    pub const ALL: [MemTag; 11] = [
        MemTag::TokenEmbeddings,
        MemTag::AttentionWeights,
        MemTag::MambaWeights,
        MemTag::RoutedExperts,
        MemTag::SharedMlp,
        MemTag::Norms,
        MemTag::LmHead,
        MemTag::KvCache,
        MemTag::SsmState,
        MemTag::ConvState,
        MemTag::Scratch,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MemTag::TokenEmbeddings => "token embeddings",
            MemTag::AttentionWeights => "attention weights",
            MemTag::MambaWeights => "Mamba weights",
            MemTag::RoutedExperts => "routed experts",
            MemTag::SharedMlp => "shared MLP",
            MemTag::Norms => "norms",
            MemTag::LmHead => "LM head",
            MemTag::KvCache => "KV cache",
            MemTag::SsmState => "SSM state",
            MemTag::ConvState => "conv state",
            MemTag::Scratch => "scratch",
        }
    }

    pub fn is_cache(self) -> bool {
        matches!(self, MemTag::KvCache | MemTag::SsmState | MemTag::ConvState)
    }
}

/// Live byte counters, one per tag. Cheap to read from any thread.
#[derive(Default, Debug)]
pub struct MemoryTracker {
    bytes: [AtomicU64; 11],
}

impl MemoryTracker {
    fn slot(&self, tag: MemTag) -> &AtomicU64 {
        &self.bytes[tag as usize]
    }

    /// Checks that `planned` more bytes fit in `limit` (if any) before any of them is allocated,
    /// so a model that cannot fit fails at once with the numbers instead of half-way through.
    pub fn precheck(&self, planned: u64, limit: Option<u64>, what: &str) -> Result<()> {
        if let Some(limit) = limit {
            let used = self.total();
            if used + planned > limit {
                return Err(Error::OutOfMemory(format!(
                    "{what} needs {planned} bytes of GPU memory ({:.1} MiB) with {used} bytes already in use; \
                     the limit is {limit} bytes ({:.1} MiB)",
                    planned as f64 / 1048576.0,
                    limit as f64 / 1048576.0
                )));
            }
        }
        Ok(())
    }

    pub fn bytes(&self, tag: MemTag) -> u64 {
        self.slot(tag).load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        MemTag::ALL.iter().map(|&t| self.bytes(t)).sum()
    }

    /// A consistent-enough snapshot for display: (tag, bytes) for every tag.
    pub fn snapshot(&self) -> Vec<(MemTag, u64)> {
        MemTag::ALL.iter().map(|&t| (t, self.bytes(t))).collect()
    }
}

/// A GPU buffer whose bytes count against its tag until the last clone is dropped.
#[derive(Clone, Debug)]
pub struct GpuBuffer(Arc<Tracked>);

#[derive(Debug)]
struct Tracked {
    buffer: wgpu::Buffer,
    tag: MemTag,
    tracker: Arc<MemoryTracker>,
    bind_groups: Arc<BindGroupCache>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // Cached bind groups would otherwise keep the buffer's memory alive.
        self.bind_groups.evict(&self.buffer);
        self.tracker
            .slot(self.tag)
            .fetch_sub(self.buffer.size(), Ordering::Relaxed);
    }
}

impl GpuBuffer {
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.0.buffer
    }
    pub fn size(&self) -> u64 {
        self.0.buffer.size()
    }
    pub fn tag(&self) -> MemTag {
        self.0.tag
    }
}

/// Storage buffers are used for everything: kernels read and write them, and they can be copied
/// to and from (state snapshots, readback).
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// Allocates a zero-filled storage buffer of `bytes` (rounded up to 16) tagged `tag`.
    /// A size the adapter cannot hold, or a driver allocation failure, is an error with numbers.
    pub fn alloc(&self, tag: MemTag, bytes: u64, label: &str) -> Result<GpuBuffer> {
        let size = bytes.max(16).div_ceil(16) * 16;
        if size > self.limits.max_buffer_size {
            return Err(Error::OutOfMemory(format!(
                "`{label}` needs one buffer of {size} bytes; the adapter allows at most {} per buffer",
                self.limits.max_buffer_size
            )));
        }
        if let Some(limit) = self.memory_limit {
            let used = self.memory.total();
            if used + size > limit {
                return Err(Error::OutOfMemory(format!(
                    "allocating `{label}` ({size} bytes) with {used} bytes already in use would pass \
                     the GPU memory limit of {limit} bytes"
                )));
            }
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(Error::OutOfMemory(format!(
                "allocating `{label}` ({size} bytes, {} already in use): {err}",
                self.memory.total()
            )));
        }
        self.memory.slot(tag).fetch_add(size, Ordering::Relaxed);
        Ok(GpuBuffer(Arc::new(Tracked {
            buffer,
            tag,
            tracker: self.memory.clone(),
            bind_groups: self.bind_groups.clone(),
        })))
    }

    /// Allocates and fills a buffer from host data.
    pub fn upload<T: bytemuck::Pod>(
        &self,
        tag: MemTag,
        data: &[T],
        label: &str,
    ) -> Result<GpuBuffer> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buf = self.alloc(tag, bytes.len() as u64, label)?;
        self.write(&buf, 0, bytes);
        Ok(buf)
    }

    /// Writes host bytes at `offset`; pads the tail to a multiple of 4 as wgpu requires.
    ///
    /// wgpu keeps every written byte in a host-side staging buffer until the next submission,
    /// so streaming a model through here would hold all of it in host memory twice over (once
    /// staged, once in the driver). Every [`FLUSH_BYTES`] the queue is submitted and drained.
    pub fn write(&self, buf: &GpuBuffer, offset: u64, bytes: &[u8]) {
        if bytes.len().is_multiple_of(4) {
            self.queue.write_buffer(buf.raw(), offset, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().div_ceil(4) * 4, 0);
            self.queue.write_buffer(buf.raw(), offset, &padded);
        }
        let pending = self
            .unflushed
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if pending + bytes.len() as u64 >= FLUSH_BYTES {
            self.unflushed.store(0, Ordering::Relaxed);
            self.queue.submit(std::iter::empty());
            // A failed wait shows up as a lost device at the next `Gpu::wait`.
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        }
    }

    /// Copies `bytes` from `buf` at `offset` back to the host (blocking).
    pub fn read_bytes(&self, buf: &GpuBuffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.div_ceil(4) * 4;
        let staging = super::Readback::new(self, size, "readback");
        let mut enc = self.device.create_command_encoder(&Default::default());
        staging.encode_copy(&mut enc, buf.raw(), offset, size);
        self.queue.submit([enc.finish()]);
        staging.read(self, bytes as usize)
    }

    pub fn read<T: bytemuck::Pod>(
        &self,
        buf: &GpuBuffer,
        offset_elems: u64,
        n: usize,
    ) -> Result<Vec<T>> {
        let sz = std::mem::size_of::<T>() as u64;
        let bytes = self.read_bytes(buf, offset_elems * sz, n as u64 * sz)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_across_queue_flushes_land() {
        crate::testing::for_each_path(|path, gpu| {
            let chunk = 600 << 10; // bytes; five chunks cross the 1 MiB test threshold twice
            let data: Vec<u32> = (0..5 * chunk as u32 / 4).collect();
            let buf = gpu.alloc(MemTag::Scratch, 5 * chunk, "flush test").unwrap();
            for (i, part) in data.chunks(chunk as usize / 4).enumerate() {
                gpu.write(&buf, i as u64 * chunk, bytemuck::cast_slice(part));
                let pending = gpu.unflushed.load(Ordering::Relaxed);
                assert!(pending < FLUSH_BYTES, "{path}: {pending} bytes left staged");
            }
            let back: Vec<u32> = gpu.read(&buf, 0, data.len()).unwrap();
            assert!(back == data, "{path}: data lost across flushes");
        });
    }
}
