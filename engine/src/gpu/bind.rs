//! The storage bindings of a dispatch, with what the launcher means the kernel to do with each
//! (read it, or read and write it), and the interface a dispatch states to its shader.
use std::sync::Arc;

use super::pipelines::Pipeline;
use super::shaders::Variant;
use super::uniform::Field;
use super::{GpuBuffer, Uniform};

/// How a kernel uses a storage binding: `var<storage, read>` or `var<storage, read_write>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A storage binding: a buffer (or a byte window of it) the kernel reads or writes, at the
/// binding after the previous one unless placed explicitly ([`Bind::at`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bind {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) offset: u64,
    pub(crate) size: Option<u64>,
    pub(crate) binding: Option<u32>,
    pub(crate) access: Access,
}

impl Bind {
    /// The whole of `b`, which the kernel only reads.
    pub fn read(b: &GpuBuffer) -> Bind {
        Self::new(b, Access::Read)
    }

    /// The whole of `b`, which the kernel writes (and may read).
    pub fn write(b: &GpuBuffer) -> Bind {
        Self::new(b, Access::ReadWrite)
    }

    fn new(b: &GpuBuffer, access: Access) -> Bind {
        Bind {
            buffer: b.raw().clone(),
            offset: 0,
            size: None,
            binding: None,
            access,
        }
    }

    /// Only `size` bytes of the buffer from `offset`.
    pub fn window(self, offset: u64, size: u64) -> Bind {
        Bind {
            offset,
            size: Some(size),
            ..self
        }
    }

    /// This binding at `binding` (for kernels whose optional bindings leave gaps).
    pub fn at(self, binding: u32) -> Bind {
        Bind {
            binding: Some(binding),
            ..self
        }
    }

    pub fn access(&self) -> Access {
        self.access
    }
}

/// Each bind with its binding index: its own, or the one after the previous (from 1; binding
/// 0 is the parameter block).
pub(crate) fn numbered(binds: &[Bind]) -> impl Iterator<Item = (u32, &Bind)> {
    binds.iter().scan(1, |next, b| {
        let binding = b.binding.unwrap_or(*next);
        *next = binding + 1;
        Some((binding, b))
    })
}

/// What a dispatch asks of its shader, as its launcher states it: the variant and entry point,
/// the parameter block's layout, and each storage binding's index and access. Handed to the
/// check a test harness installs ([`super::Gpu::check_dispatches`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DispatchInterface {
    pub variant: Variant,
    pub entry: &'static str,
    pub params: &'static [Field],
    pub params_size: usize,
    pub binds: Vec<(u32, Access)>,
}

/// A test harness's check of every dispatch a context records (it panics on a mismatch).
pub type DispatchCheck = fn(&DispatchInterface);

impl DispatchInterface {
    pub(crate) fn of<P: Uniform>(pipeline: &Arc<Pipeline>, binds: &[Bind]) -> Self {
        DispatchInterface {
            variant: pipeline.variant.clone(),
            entry: pipeline.entry,
            params: P::FIELDS,
            params_size: size_of::<P>(),
            binds: numbered(binds).map(|(i, b)| (i, b.access)).collect(),
        }
    }
}
