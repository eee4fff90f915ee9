//! GPU adapters as the front ends see them: what the machine offers ([`devices`]) and an
//! opened device ([`Device`]) that one or more models share.
use std::sync::Arc;

use serde::Serialize;

use crate::Result;
use crate::bench::{self, Bandwidth};
use crate::gpu::{
    Gpu, GpuOptions, KernelPaths, MemTag, cpu_driver, enumerate_adapters, parse_backend,
};

/// How to pick and configure the adapter. `Default` gives the best adapter with every feature.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// Restrict to one backend (`vulkan`, `metal`, `dx12`, `gl`).
    pub backend: Option<String>,
    /// Pick the first adapter whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Force the portable path: weights unpacked from u32 pairs, no f16 arithmetic.
    pub no_f16: bool,
    /// Force the portable reductions (workgroup memory instead of subgroup builtins).
    pub no_subgroups: bool,
    /// RMSNorm inside the decode products on or off (default: on except on CPU drivers).
    pub fused_norms: Option<bool>,
    /// Whole weight rows per invocation on or off (default: on only on CPU drivers).
    pub lane_rows: Option<bool>,
    /// Refuse to hold more than this many bytes of GPU buffers (wgpu cannot tell how much
    /// memory an adapter has, so this is the budget planning checks against).
    pub memory_budget: Option<u64>,
}

impl DeviceOptions {
    /// Checks what can be checked without an adapter (the backend's name).
    pub fn check(&self) -> Result<()> {
        if let Some(b) = &self.backend {
            parse_backend(b)?;
        }
        Ok(())
    }

    fn gpu_options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            no_f16: self.no_f16,
            no_subgroups: self.no_subgroups,
            max_binding_override: None,
            memory_limit: self.memory_budget,
            fused_norms: self.fused_norms,
            lane_rows: self.lane_rows,
        }
    }
}

/// One adapter: what it is, what it offers, and (for an opened device) which kernel paths the
/// engine chose on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// A CPU driver (lavapipe, llvmpipe, SwiftShader): the engine picks CPU-friendly kernels.
    pub cpu_driver: bool,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub subgroup_size: [u32; 2],
    pub timestamp_query: bool,
    pub pipeline_cache: bool,
    /// The kernel paths in use (an opened device) or that the engine would use (a listing).
    pub paths: KernelPaths,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_bind_groups: u32,
}

impl DeviceInfo {
    fn new(info: &wgpu::AdapterInfo, f: wgpu::Features, l: &wgpu::Limits, p: KernelPaths) -> Self {
        DeviceInfo {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            cpu_driver: cpu_driver(info),
            shader_f16: f.contains(wgpu::Features::SHADER_F16),
            subgroups: f.contains(wgpu::Features::SUBGROUP),
            subgroup_size: [info.subgroup_min_size, info.subgroup_max_size],
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
            pipeline_cache: f.contains(wgpu::Features::PIPELINE_CACHE),
            paths: p,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_bind_groups: l.max_bind_groups,
        }
    }

    /// An adapter seen without opening it: the paths are what the engine would choose.
    fn from_adapter(adapter: &wgpu::Adapter) -> Self {
        let (info, f) = (adapter.get_info(), adapter.features());
        let paths = KernelPaths::choose(&info, f, &GpuOptions::default());
        DeviceInfo::new(&info, f, &adapter.limits(), paths)
    }

    /// Preference order of [`Device::open`] when no adapter is named: discrete GPUs first, GL
    /// last.
    pub fn rank(&self) -> (u8, bool) {
        let dev = match self.device_type.as_str() {
            "DiscreteGpu" => 4,
            "IntegratedGpu" => 3,
            "VirtualGpu" => 2,
            "Cpu" => 1,
            _ => 0,
        };
        (dev, self.backend != "Gl")
    }
}

/// Every adapter the machine offers (of one backend, if given), without opening any.
pub fn devices(backend: Option<&str>) -> Result<Vec<DeviceInfo>> {
    Ok(enumerate_adapters(backend)?
        .iter()
        .map(DeviceInfo::from_adapter)
        .collect())
}

/// An opened GPU device. Cheap to clone; models opened on it share it.
#[derive(Clone)]
pub struct Device {
    pub(crate) gpu: Arc<Gpu>,
}

impl Device {
    pub fn open(opts: &DeviceOptions) -> Result<Device> {
        Ok(Device {
            gpu: Gpu::new(&opts.gpu_options())?,
        })
    }

    /// A device around a GPU context opened by the test harness (which opens one per kernel
    /// path the adapter offers).
    #[cfg(feature = "testing")]
    pub fn from_gpu(gpu: Arc<Gpu>) -> Device {
        Device { gpu }
    }

    pub fn info(&self) -> DeviceInfo {
        let g = &self.gpu;
        DeviceInfo::new(&g.info, g.device.features(), &g.limits, g.paths)
    }

    /// Live GPU bytes per category, every [`MemTag`] in order.
    pub fn memory(&self) -> Vec<(MemTag, u64)> {
        self.gpu.memory.snapshot()
    }

    /// The memory budget the device was opened with, if any.
    pub fn memory_budget(&self) -> Option<u64> {
        self.gpu.memory_limit
    }

    /// Copy and read bandwidth of this device, measured now over buffers of `bytes` (the roof
    /// `granite bench` compares decode with).
    pub fn bandwidth(&self, bytes: u64, reps: usize) -> Result<Bandwidth> {
        bench::measure(&self.gpu, bytes, reps)
    }

    /// Work counters since the device was opened: host seconds spent recording and submitting,
    /// and dispatches submitted.
    pub fn counters(&self) -> Counters {
        Counters {
            host_seconds: self.gpu.host_seconds(),
            dispatches: self.gpu.dispatches(),
        }
    }

    /// A one-line description: adapter, backend, kernel paths.
    pub fn describe(&self) -> String {
        self.gpu.describe()
    }
}

/// See [`Device::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counters {
    pub host_seconds: f64,
    pub dispatches: u64,
}
