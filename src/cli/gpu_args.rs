//! Adapter selection and kernel paths, shared by every command that runs the model.
use clap::Args;
use granite_engine::DeviceOptions;

#[derive(Args, Clone, Debug, Default)]
pub struct GpuArgs {
    /// Use only this backend: vulkan, metal, dx12 or gl.
    #[arg(long)]
    pub backend: Option<String>,
    /// Use the first adapter whose name contains this text (case-insensitive); see `granite devices`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Do not use SHADER_F16 even if the adapter has it (the portable path).
    #[arg(long)]
    pub no_f16: bool,
    /// Do not use subgroup operations even if the adapter has them (the portable path).
    #[arg(long)]
    pub no_subgroups: bool,
    /// Apply each layer's RMSNorm inside the decode products that read it (on/off). Default:
    /// on, except on CPU drivers (lavapipe, llvmpipe), where the separate dispatch is cheaper.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub fused_norms: Option<bool>,
    /// Give each invocation of the matrix products whole weight rows (on) instead of splitting
    /// rows over a subgroup's lanes and shared tiles (off). Default: on for CPU drivers
    /// (lavapipe, llvmpipe), where it is ~2× faster, off on GPUs.
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub lane_rows: Option<bool>,
    /// GPU memory budget in MiB: refuse to load a model (weights + caches at the session's
    /// context + scratch) that would need more. Default: no budget beyond the adapter's own
    /// per-buffer limits (wgpu cannot tell how much memory an adapter has).
    #[arg(long, value_name = "MIB", env = "GRANITE_GPU_MEMORY_MIB")]
    pub gpu_memory: Option<u64>,
}

impl GpuArgs {
    pub fn options(&self) -> DeviceOptions {
        DeviceOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            no_f16: self.no_f16,
            no_subgroups: self.no_subgroups,
            fused_norms: self.fused_norms,
            lane_rows: self.lane_rows,
            memory_budget: self.gpu_memory.map(|m| m << 20),
        }
    }
}
