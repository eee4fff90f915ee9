//! What the adapter panel shows: the adapter the engine computes on, the features the kernels
//! use, and the limits that matter for model sizes. wgpu reports no total VRAM, so none is
//! shown; the largest single buffer is the closest honest figure.
use granite_engine::{DeviceInfo, KernelPaths};

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

fn limits_list(d: &DeviceInfo) -> Vec<(String, u64)> {
    [
        ("max_buffer_size", d.max_buffer_size),
        (
            "max_storage_buffer_binding_size",
            d.max_storage_buffer_binding_size,
        ),
        (
            "max_storage_buffers_per_shader_stage",
            d.max_storage_buffers_per_shader_stage.into(),
        ),
        (
            "max_compute_workgroup_storage_size",
            d.max_compute_workgroup_storage_size.into(),
        ),
        (
            "max_compute_invocations_per_workgroup",
            d.max_compute_invocations_per_workgroup.into(),
        ),
        (
            "max_compute_workgroups_per_dimension",
            d.max_compute_workgroups_per_dimension.into(),
        ),
        ("max_bind_groups", d.max_bind_groups.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn subgroup_note(d: &DeviceInfo) -> String {
    let [min, max] = d.subgroup_size;
    if min == max {
        format!("size {min}")
    } else {
        format!("sizes {min}..{max}")
    }
}

impl AdapterInfo {
    /// An adapter as the engine describes it: for an opened device the kernel paths it chose,
    /// for a listed adapter the ones it would choose.
    pub fn from_device(d: &DeviceInfo) -> Self {
        AdapterInfo {
            name: d.name.clone(),
            backend: d.backend.clone(),
            device_type: d.device_type.clone(),
            driver: d.driver.clone(),
            driver_info: d.driver_info.clone(),
            features: features_in_use(d, &d.paths),
            limits: limits_list(d),
            max_buffer_size: d.max_buffer_size,
            timestamps: d.paths.timestamps,
        }
    }

    /// The first adapter the engine would pick, or `None` on a machine without one.
    pub fn probe_machine() -> Option<Self> {
        let devices = granite_engine::devices(None).ok()?;
        let best = devices.iter().max_by_key(|d| d.rank())?;
        Some(Self::from_device(best))
    }
}

fn features_in_use(info: &DeviceInfo, paths: &KernelPaths) -> Vec<(String, bool, String)> {
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
