//! Everything that talks to wgpu: the device, tracked buffers, pipelines, command recording.
pub mod barriers;
mod bind;
mod bind_groups;
mod context;
mod memory;
mod pipelines;
mod profile;
mod readback;
mod recorder;
pub mod shaders;
mod tensor;
mod uniform;

pub use bind::{Access, Bind, DispatchCheck, DispatchInterface};
pub use context::{Gpu, GpuOptions, KernelPaths, cpu_driver, enumerate_adapters, parse_backend};
pub use memory::{GpuBuffer, MemTag, MemoryTracker};
pub use pipelines::Pipeline;
pub use profile::{FamilyTime, Profile, SharedProfile};
pub use readback::Readback;
pub use recorder::{DispatchCounts, Encoded, Recorder, grid};
pub use tensor::{F16Matrix, MatPart, Rows, Tensor};
pub(crate) use uniform::uniform;
pub use uniform::{Field, FieldType, Scalar, Uniform};
pub use wgpu::Features as wgpu_features;
