//! What the adapter panel shows: the adapter the engine computes on, the features the kernels
//! use, and the limits that matter for model sizes. wgpu reports no total VRAM, so none is
//! shown; the largest single buffer is the closest honest figure.
use granite_engine::gpu::{Gpu, KernelPaths};

#[derive(Clone, Debug, PartialEq)]
pub struct AdapterInfo {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// (feature, in use, note) for the optional features the kernels can use.
    pub features: Vec<(String, bool, String)>,
    /// (limit name, value).
    pub limits: Vec<(String, u64)>,
    pub max_buffer_size: u64,
    /// Whether the device was opened with TIMESTAMP_QUERY.
    pub timestamps: bool,
}

fn limits_list(l: &wgpu::Limits) -> Vec<(String, u64)> {
    [
        ("max_buffer_size", l.max_buffer_size),
        (
            "max_storage_buffer_binding_size",
            l.max_storage_buffer_binding_size,
        ),
        (
            "max_storage_buffers_per_shader_stage",
            l.max_storage_buffers_per_shader_stage.into(),
        ),
        (
            "max_compute_workgroup_storage_size",
            l.max_compute_workgroup_storage_size.into(),
        ),
        (
            "max_compute_invocations_per_workgroup",
            l.max_compute_invocations_per_workgroup.into(),
        ),
        (
            "max_compute_workgroups_per_dimension",
            l.max_compute_workgroups_per_dimension.into(),
        ),
        ("max_bind_groups", l.max_bind_groups.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn base(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> AdapterInfo {
    AdapterInfo {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        features: Vec::new(),
        limits: limits_list(limits),
        max_buffer_size: limits.max_buffer_size,
        timestamps: false,
    }
}

fn subgroup_note(info: &wgpu::AdapterInfo) -> String {
    if info.subgroup_min_size == info.subgroup_max_size {
        format!("size {}", info.subgroup_min_size)
    } else {
        format!(
            "sizes {}..{}",
            info.subgroup_min_size, info.subgroup_max_size
        )
    }
}

impl AdapterInfo {
    /// The engine's device: the kernel paths it actually chose.
    pub fn from_gpu(gpu: &Gpu) -> Self {
        let mut a = base(&gpu.info, &gpu.limits);
        a.features = features_in_use(&gpu.info, &gpu.paths);
        a.timestamps = gpu.paths.timestamps;
        a
    }

    /// An adapter seen without opening a device (the fake backend shows the machine's real
    /// adapter): features are what the engine would use, given what the adapter offers.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let offered = adapter.features();
        let paths = KernelPaths {
            f16: offered.contains(wgpu::Features::SHADER_F16),
            subgroups: offered.contains(wgpu::Features::SUBGROUP)
                && info.subgroup_min_size == info.subgroup_max_size,
            subgroup_size: info.subgroup_min_size,
            timestamps: offered.contains(wgpu::Features::TIMESTAMP_QUERY),
            fused_norms: !granite_engine::gpu::cpu_driver(&info),
            lane_rows: granite_engine::gpu::cpu_driver(&info),
        };
        let mut a = base(&info, &adapter.limits());
        a.features = features_in_use(&info, &paths);
        a.timestamps = paths.timestamps;
        a
    }

    /// The first adapter the engine would pick, or `None` on a machine without one.
    pub fn probe_machine() -> Option<Self> {
        let adapters = granite_engine::gpu::enumerate_adapters(None).ok()?;
        let best = adapters.iter().max_by_key(|a| {
            let i = a.get_info();
            let dev = match i.device_type {
                wgpu::DeviceType::DiscreteGpu => 4,
                wgpu::DeviceType::IntegratedGpu => 3,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Cpu => 1,
                wgpu::DeviceType::Other => 0,
            };
            (dev, i.backend != wgpu::Backend::Gl)
        })?;
        Some(Self::from_adapter(best))
    }
}

fn features_in_use(info: &wgpu::AdapterInfo, paths: &KernelPaths) -> Vec<(String, bool, String)> {
    vec![
        (
            "f16 (SHADER_F16)".into(),
            paths.f16,
            if paths.f16 {
                "f16 arithmetic in kernels".into()
            } else {
                "portable path: f16 unpacked from u32 pairs".into()
            },
        ),
        (
            "subgroups (SUBGROUP)".into(),
            paths.subgroups,
            if paths.subgroups {
                format!("subgroup reductions, {}", subgroup_note(info))
            } else {
                format!("workgroup-memory reductions ({})", subgroup_note(info))
            },
        ),
        (
            "timestamps (TIMESTAMP_QUERY)".into(),
            paths.timestamps,
            String::new(),
        ),
    ]
}
