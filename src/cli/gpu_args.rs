//! Adapter selection and kernel paths, shared by every command that runs the model.
use clap::Args;
use granite_engine::gpu::{Gpu, GpuOptions};
use std::sync::Arc;

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
}

impl GpuArgs {
    pub fn open(&self) -> anyhow::Result<Arc<Gpu>> {
        Ok(Gpu::new(&GpuOptions {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
            no_f16: self.no_f16,
            no_subgroups: self.no_subgroups,
            max_binding_override: None,
        })?)
    }
}
