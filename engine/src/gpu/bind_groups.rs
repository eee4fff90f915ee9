//! Bind groups made once and reused by every later submission that binds the same buffers.
//!
//! A decode step records the same few hundred dispatches on the same buffers every token, and
//! creating their bind groups was most of the host's work per token. The parameters of every
//! dispatch live in one persistent uniform buffer ([`ParamsBuffer`]) rewritten at each
//! submission, so a bind group only depends on the pipeline, the byte range of its parameters
//! and its storage buffers, and the same step hits the same entries.
//!
//! Cached bind groups keep their buffers alive, so freeing a tracked buffer evicts every entry
//! that binds it ([`BindGroupCache::evict`], called from the buffer's drop): memory is returned
//! when the engine lets go of it, not when the cache happens to be cleared.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::Gpu;
use super::bind::{Bind, numbered};

/// Entries beyond this clear the cache (many distinct shapes of calls, e.g. prompts of many
/// lengths); a decode step needs a few hundred.
const MAX_ENTRIES: usize = 1 << 14;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    pipeline: wgpu::ComputePipeline,
    /// Byte range of the dispatch's parameters in the [`ParamsBuffer`] it was made for.
    params: Option<(wgpu::Buffer, u64, u64)>,
    binds: Vec<Bind>,
}

impl Key {
    fn binds_buffer(&self, buffer: &wgpu::Buffer) -> bool {
        self.params.as_ref().is_some_and(|(b, _, _)| b == buffer)
            || self.binds.iter().any(|b| &b.buffer == buffer)
    }
}

#[derive(Default)]
pub(crate) struct BindGroupCache {
    map: Mutex<HashMap<Key, wgpu::BindGroup>>,
}

impl std::fmt::Debug for BindGroupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BindGroupCache({} entries)", self.len())
    }
}

impl BindGroupCache {
    /// The bind group of `pipeline` with `params` at binding 0 (if any) and `binds` from 1.
    pub fn get(
        &self,
        device: &wgpu::Device,
        pipeline: &wgpu::ComputePipeline,
        params: Option<(&wgpu::Buffer, u64, u64)>,
        binds: &[Bind],
    ) -> wgpu::BindGroup {
        let key = Key {
            pipeline: pipeline.clone(),
            params: params.map(|(b, off, size)| (b.clone(), off, size)),
            binds: binds.to_vec(),
        };
        let mut map = self.lock();
        if let Some(bg) = map.get(&key) {
            return bg.clone();
        }
        let bg = create(device, pipeline, params, binds);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, bg.clone());
        bg
    }

    /// Forgets every bind group that binds `buffer` (it is being freed).
    pub fn evict(&self, buffer: &wgpu::Buffer) {
        self.lock().retain(|k, _| !k.binds_buffer(buffer));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, wgpu::BindGroup>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn create(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    params: Option<(&wgpu::Buffer, u64, u64)>,
    binds: &[Bind],
) -> wgpu::BindGroup {
    let mut entries = Vec::with_capacity(binds.len() + 1);
    if let Some((buffer, offset, size)) = params {
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        });
    }
    for (binding, b) in numbered(binds) {
        entries.push(wgpu::BindGroupEntry {
            binding,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &b.buffer,
                offset: b.offset,
                size: b.size.and_then(wgpu::BufferSize::new),
            }),
        });
    }
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// The uniform buffer holding every dispatch's parameters, rewritten by each submission. Its
/// lock is held from the write to the submit, so two threads' submissions cannot interleave
/// their parameters; queue order makes a rewrite wait for the submissions before it. Encoding
/// (which only needs the buffer's identity, for the bind groups) happens outside the lock, so a
/// step can be encoded while another is being submitted or run.
#[derive(Default)]
pub(crate) struct ParamsBuffer {
    buffer: Mutex<Option<wgpu::Buffer>>,
}

impl ParamsBuffer {
    /// The buffer, grown to hold `bytes` (a replaced buffer's bind groups are evicted; work
    /// encoded against it keeps it alive and still writes its parameters there).
    pub fn current(
        &self,
        device: &wgpu::Device,
        cache: &BindGroupCache,
        bytes: u64,
    ) -> wgpu::Buffer {
        let mut guard = self.serialize();
        if guard.as_ref().is_none_or(|b| b.size() < bytes) {
            if let Some(old) = guard.take() {
                cache.evict(&old);
            }
            *guard = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: bytes.next_power_of_two().max(64 << 10),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        guard.as_ref().expect("just created").clone()
    }

    /// Held from a submission's parameter write to its submit.
    pub fn serialize(&self) -> MutexGuard<'_, Option<wgpu::Buffer>> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Gpu {
    /// How many bind groups are cached for reuse (for tests of the cache).
    pub fn cached_bind_groups(&self) -> usize {
        self.bind_groups.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::gpu::{MemTag, Recorder, Tensor};
    use crate::kernels::elementwise::axpy;

    #[test]
    fn bind_groups_are_reused_with_fresh_parameters_and_evicted_with_their_buffers() {
        let gpu = crate::testing::fresh_gpu();
        let n = 1000;
        let data: Vec<f32> = (0..n).map(|i| i as f32 - 300.0).collect();
        let a = Tensor::from_f32(&gpu, MemTag::Scratch, &[n], &data, "a").unwrap();
        let out = Tensor::zeros(&gpu, MemTag::Scratch, &[n], "out").unwrap();
        for alpha in [1.0f32, -2.0, 0.5] {
            // out = alpha·a, then out += 3·a: two dispatches on the same buffers whose
            // parameters differ, and differ again at every submission.
            let mut rec = Recorder::new(&gpu);
            axpy(&mut rec, &a, &out, n, alpha, 0.0).unwrap();
            axpy(&mut rec, &a, &out, n, 3.0, 1.0).unwrap();
            rec.run().unwrap();
            let got = out.read(&gpu).unwrap();
            for (i, (g, x)) in got.iter().zip(&data).enumerate() {
                assert_eq!(*g, (alpha + 3.0) * x, "alpha {alpha}, element {i}");
            }
            assert_eq!(gpu.cached_bind_groups(), 2, "alpha {alpha}");
        }
        drop(out);
        assert_eq!(
            gpu.cached_bind_groups(),
            0,
            "freeing a bound buffer evicts its groups"
        );
    }
}
