//! Compute pipelines, built once per process per (shader, entry point, flags, constants).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::shaders::Variant;
use super::{DispatchCheck, Gpu};
use crate::{Error, Result};

/// A compiled kernel and what it was built from (the interface checks read the latter).
#[derive(Debug)]
pub struct Pipeline {
    pub(crate) raw: wgpu::ComputePipeline,
    pub variant: Variant,
    pub entry: &'static str,
}

pub(crate) struct PipelineCache {
    built: Mutex<HashMap<(Variant, &'static str), Arc<Pipeline>>>,
    /// The driver-level cache (wgpu PIPELINE_CACHE) where the adapter has one.
    driver_cache: Option<wgpu::PipelineCache>,
}

impl PipelineCache {
    pub(crate) fn new(
        device: &wgpu::Device,
        _adapter: &wgpu::Adapter,
        features: wgpu::Features,
    ) -> Self {
        let driver_cache = features.contains(wgpu::Features::PIPELINE_CACHE).then(|| {
            // SAFETY: no data is passed in, so there is nothing the driver could misread.
            unsafe {
                device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                    label: Some("granite"),
                    data: None,
                    fallback: true,
                })
            }
        });
        PipelineCache {
            built: Mutex::new(HashMap::new()),
            driver_cache,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.built.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Gpu {
    /// The pipeline for `entry` in `variant`, compiled on first use.
    pub fn pipeline(&self, variant: &Variant, entry: &'static str) -> Result<Arc<Pipeline>> {
        let key = (variant.clone(), entry);
        if let Some(p) = self
            .pipelines
            .built
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(p);
        }
        let wgsl = variant.wgsl().map_err(Error::Gpu)?;
        let label = format!("{}::{entry}", variant.shader);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        };
        // SAFETY: our own shaders, and every loop in them ends: trip counts are Params fields
        // or constants and every step is a non-zero constant or a launcher-checked Params
        // field (engine/tests/shader_loops.rs audits this). wgpu's loop bounding (a 64-bit counter
        // and a break test added to every loop) made lavapipe's prompt products 1.3× slower.
        // Bounds checks stay on.
        let module = unsafe {
            self.device
                .create_shader_module_trusted(desc, shader_checks())
        };
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    zero_initialize_workgroup_memory: !variant
                        .flags
                        .contains(super::shaders::NO_ZERO_INIT),
                    ..Default::default()
                },
                cache: self.pipelines.driver_cache.as_ref(),
            });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!(
                "building kernel `{label}` {:?}: {err}",
                variant.flags
            )));
        }
        let pipeline = Arc::new(Pipeline {
            raw: pipeline,
            variant: variant.clone(),
            entry,
        });
        if let Ok(mut m) = self.pipelines.built.lock() {
            m.insert(key, pipeline.clone());
        }
        Ok(pipeline)
    }

    /// Has `check` look at every dispatch recorded on this context from now on (test
    /// harnesses: see `testing::interface`). The first check installed stays.
    pub fn check_dispatches(&self, check: DispatchCheck) {
        let _ = self.dispatch_check.set(check);
    }

    /// How many distinct pipelines this process has built (for tests of the cache).
    pub fn pipelines_built(&self) -> usize {
        self.pipelines.len()
    }

    /// The variant of `shader` this device runs: F16 / SUBGROUPS flags as its paths allow.
    pub fn variant(&self, shader: &'static str, consts: &[(&'static str, u32)]) -> Variant {
        let mut flags = std::collections::BTreeSet::new();
        if self.paths.f16 {
            flags.insert(super::shaders::F16);
        }
        let mut consts = consts.to_vec();
        if self.paths.subgroups {
            flags.insert(super::shaders::SUBGROUPS);
            consts.push(("SUBGROUP_SIZE", self.paths.subgroup_size));
        }
        Variant {
            shader,
            flags,
            consts,
        }
    }
}

/// wgpu's default runtime checks, less loop bounding (see [`Gpu::pipeline`]).
fn shader_checks() -> wgpu::ShaderRuntimeChecks {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = false;
    checks
}
