//! A small persistent host-readable buffer: a step copies its result there in its own command
//! buffer, so reading it back costs one map and no extra submission or allocation.
use super::{Gpu, GpuBuffer, Recorder};
use crate::{Error, Result};

pub struct Readback {
    buffer: wgpu::Buffer,
}

impl Readback {
    pub fn new(gpu: &Gpu, bytes: u64, label: &str) -> Readback {
        Readback {
            buffer: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.div_ceil(4).max(1) * 4,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// Records a copy of `src[offset..offset + size]` to the start of this buffer.
    pub fn record_copy(&self, rec: &mut Recorder, src: &GpuBuffer, offset: u64, size: u64) {
        rec.copy_raw(src.raw(), offset, &self.buffer, 0, size);
    }

    /// Encodes a copy of `src[offset..offset + size]` to the start of this buffer.
    pub(crate) fn encode_copy(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) {
        enc.copy_buffer_to_buffer(src, offset, &self.buffer, 0, size);
    }

    /// Waits for the submissions so far and reads the first `n` values.
    pub fn read<T: bytemuck::Pod>(&self, gpu: &Gpu, n: usize) -> Result<Vec<T>> {
        let bytes = (n * std::mem::size_of::<T>()) as u64;
        let slice = self.buffer.slice(..(bytes.div_ceil(4) * 4).max(4));
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        gpu.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("readback callback never ran".into()))?
            .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
        let values = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("readback mapping failed: {e}")))?;
            bytemuck::pod_collect_to_vec(&view[..bytes as usize])
        };
        self.buffer.unmap();
        Ok(values)
    }
}
