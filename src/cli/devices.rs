//! `granite devices`: what the machine offers, so users can pick `--backend` / `--adapter`.
use clap::Args;

#[derive(Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Only list adapters of this backend (vulkan, metal, dx12, gl).
    #[arg(long)]
    backend: Option<String>,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let devices = granite_engine::devices(args.backend.as_deref())?;
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
