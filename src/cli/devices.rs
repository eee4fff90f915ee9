//! `granite devices`: what the machine offers, so users can pick `--backend` / `--adapter`.
use clap::Args;
use serde::Serialize;

#[derive(Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Only list adapters of this backend (vulkan, metal, dx12, gl).
    #[arg(long)]
    backend: Option<String>,
}

#[derive(Serialize)]
struct Device {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    driver_info: String,
    shader_f16: bool,
    subgroups: bool,
    subgroup_size: [u32; 2],
    timestamp_query: bool,
    pipeline_cache: bool,
    max_storage_buffer_binding_size: u64,
    max_buffer_size: u64,
    max_compute_workgroup_storage_size: u32,
    max_compute_invocations_per_workgroup: u32,
    max_compute_workgroups_per_dimension: u32,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let adapters = granite_engine::gpu::enumerate_adapters(args.backend.as_deref())?;
    let devices: Vec<Device> = adapters
        .iter()
        .map(|a| {
            let (info, f, l) = (a.get_info(), a.features(), a.limits());
            Device {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: info.driver,
                driver_info: info.driver_info,
                shader_f16: f.contains(wgpu_features::SHADER_F16),
                subgroups: f.contains(wgpu_features::SUBGROUP),
                subgroup_size: [info.subgroup_min_size, info.subgroup_max_size],
                timestamp_query: f.contains(wgpu_features::TIMESTAMP_QUERY),
                pipeline_cache: f.contains(wgpu_features::PIPELINE_CACHE),
                max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
                max_buffer_size: l.max_buffer_size,
                max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
                max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
                max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        anyhow::bail!(
            "no GPU adapter found; on Debian without a GPU: apt-get install mesa-vulkan-drivers"
        );
    }
    let yn = |b: bool| if b { "yes" } else { "no" };
    for (i, d) in devices.iter().enumerate() {
        println!(
            "[{i}] {} — {} {} ({} {})",
            d.name, d.backend, d.device_type, d.driver, d.driver_info
        );
        println!(
            "    f16: {}  subgroups: {} (size {}..{})  timestamps: {}  pipeline cache: {}",
            yn(d.shader_f16),
            yn(d.subgroups),
            d.subgroup_size[0],
            d.subgroup_size[1],
            yn(d.timestamp_query),
            yn(d.pipeline_cache)
        );
        println!(
            "    max binding {} MiB, max buffer {} MiB, workgroup storage {} KiB, {} invocations/workgroup, {} workgroups/dim",
            d.max_storage_buffer_binding_size >> 20,
            d.max_buffer_size >> 20,
            d.max_compute_workgroup_storage_size >> 10,
            d.max_compute_invocations_per_workgroup,
            d.max_compute_workgroups_per_dimension
        );
    }
    Ok(())
}

use granite_engine::gpu::wgpu_features;
