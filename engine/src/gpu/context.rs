//! The GPU context: one adapter, one device, the features and limits we actually use.
//!
//! We ask for the adapter's own limits (wgpu's defaults cap storage bindings far below what
//! Granite's tensors need) and for every optional feature that speeds a kernel up. Each feature is
//! only an accelerator: every kernel family has a portable path that needs none of them.
use std::sync::Arc;

use super::bind_groups::{BindGroupCache, ParamsBuffer};
use super::memory::MemoryTracker;
use super::pipelines::PipelineCache;
use crate::{Error, Result};

/// How to pick and configure the adapter. `Default` gives the best adapter with every feature.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Restrict to one backend (`vulkan`, `metal`, `dx12`, `gl`).
    pub backend: Option<String>,
    /// Pick the first adapter whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Force the portable f16 path (weights read as packed u32 pairs).
    pub no_f16: bool,
    /// Force the portable reduction path (workgroup memory instead of subgroup builtins).
    pub no_subgroups: bool,
    /// Pretend storage bindings are at most this many bytes; tests use it to exercise splitting.
    pub max_binding_override: Option<u64>,
    /// Refuse to hold more than this many bytes of GPU buffers in total. wgpu does not report
    /// an adapter's memory size, so this is the budget the out-of-memory pre-check uses.
    pub memory_limit: Option<u64>,
    /// Force the RMSNorm fusion into decode products on or off (default: on except on CPU
    /// drivers; see [`KernelPaths::fused_norms`]).
    pub fused_norms: Option<bool>,
    /// Force the products' layout: each invocation walks whole weight rows (on) or rows are
    /// split over a subgroup's lanes and shared tiles (off). Default: on only on CPU drivers
    /// (see [`KernelPaths::lane_rows`]).
    pub lane_rows: Option<bool>,
}

/// What the kernels may use. Decided once, at device creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KernelPaths {
    pub f16: bool,
    /// Subgroup reductions, only when the adapter has one fixed subgroup size (then it is
    /// baked into the shaders as a constant).
    pub subgroups: bool,
    pub subgroup_size: u32,
    pub timestamps: bool,
    /// Decode products normalise their input themselves instead of after an RMSNorm dispatch.
    /// Off on CPU drivers: there every activation load is a loop over lanes, and loading the
    /// norm weight beside each one costs more than the dispatch it saves.
    pub fused_norms: bool,
    /// Products give each invocation whole weight rows: decode products 4 rows each instead of
    /// a subgroup per row group, prompts 16 rows × 32 tokens each (`matmul_rows`; experts'
    /// tiles `moe_mm_rows`) instead of tiles shared through workgroup memory. On CPU drivers only: there the lanes then read
    /// the same activations and stream rows of their own, with no reduction and no barrier
    /// (h-350m on lavapipe: decode 2×, prefill 1.8×); on a GPU, lanes reading rows of their
    /// own would break the coalescing of weight reads.
    pub lane_rows: bool,
}

impl KernelPaths {
    /// The paths the kernels take on an adapter with `info` and `features` (those the device
    /// was, or would be, opened with) under `opts`.
    pub fn choose(info: &wgpu::AdapterInfo, features: wgpu::Features, opts: &GpuOptions) -> Self {
        let fixed_subgroup = info.subgroup_min_size == info.subgroup_max_size
            && info.subgroup_min_size.is_power_of_two()
            && (4..=64).contains(&info.subgroup_min_size);
        KernelPaths {
            f16: features.contains(wgpu::Features::SHADER_F16) && !opts.no_f16,
            subgroups: features.contains(wgpu::Features::SUBGROUP)
                && fixed_subgroup
                && !opts.no_subgroups,
            subgroup_size: info.subgroup_min_size,
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            fused_norms: opts.fused_norms.unwrap_or(!cpu_driver(info)),
            lane_rows: opts.lane_rows.unwrap_or(cpu_driver(info)),
        }
    }
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub paths: KernelPaths,
    /// Largest byte range one storage binding may cover (possibly forced smaller for tests).
    pub max_binding: u64,
    /// Total bytes of buffers this process may hold, if limited (see [`GpuOptions::memory_limit`]).
    pub memory_limit: Option<u64>,
    pub memory: Arc<MemoryTracker>,
    pub(crate) pipelines: PipelineCache,
    lost: Arc<std::sync::Mutex<Option<String>>>,
    /// Bytes passed to `write` since the last flush (see [`Gpu::write`]).
    pub(crate) unflushed: std::sync::atomic::AtomicU64,
    /// Bind groups reused across submissions, and the uniform buffer of their parameters.
    pub(crate) bind_groups: Arc<BindGroupCache>,
    pub(crate) params: ParamsBuffer,
    /// Host nanoseconds spent recording, encoding and submitting (see [`Gpu::host_seconds`]).
    pub(crate) host_ns: std::sync::atomic::AtomicU64,
    pub(crate) dispatches: std::sync::atomic::AtomicU64,
    /// A test harness's check of each dispatch (see [`Gpu::check_dispatches`]).
    pub(crate) dispatch_check: std::sync::OnceLock<super::DispatchCheck>,
}

pub fn parse_backend(name: &str) -> Result<wgpu::Backends> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => wgpu::Backends::VULKAN,
        "metal" => wgpu::Backends::METAL,
        "dx12" | "d3d12" => wgpu::Backends::DX12,
        "gl" | "gles" | "opengl" => wgpu::Backends::GL,
        other => {
            return Err(Error::Input(format!(
                "unknown backend `{other}`: expected vulkan, metal, dx12 or gl"
            )));
        }
    })
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter the instance can see, on the requested backends.
pub fn enumerate_adapters(backend: Option<&str>) -> Result<Vec<wgpu::Adapter>> {
    let backends = match backend {
        Some(b) => parse_backend(b)?,
        None => wgpu::Backends::all(),
    };
    Ok(pollster::block_on(
        instance(backends).enumerate_adapters(backends),
    ))
}

/// Whether the adapter is a CPU driver (lavapipe, llvmpipe): loads cost per vector component
/// and dispatches are cheap, so several kernels pick other tilings and paths there.
pub fn cpu_driver(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// Higher is better: discrete GPUs first, CPU rasterizers last; Vulkan/Metal/DX12 before GL.
fn adapter_rank(info: &wgpu::AdapterInfo) -> (u32, u32) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        _ => 0,
    };
    (device, backend)
}

fn pick_adapter(opts: &GpuOptions) -> Result<wgpu::Adapter> {
    let mut adapters = enumerate_adapters(opts.backend.as_deref())?;
    if let Some(want) = &opts.adapter {
        let want = want.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want));
    }
    adapters.sort_by_key(|a| std::cmp::Reverse(adapter_rank(&a.get_info())));
    adapters.into_iter().next().ok_or_else(|| {
        Error::Gpu(format!(
            "no GPU adapter found (backend: {}, adapter filter: {}); \
             run `granite devices` to list adapters, or install a Vulkan driver \
             (on Debian without a GPU: apt-get install mesa-vulkan-drivers)",
            opts.backend.as_deref().unwrap_or("any"),
            opts.adapter.as_deref().unwrap_or("none")
        ))
    })
}

impl Gpu {
    pub fn new(opts: &GpuOptions) -> Result<Arc<Gpu>> {
        let adapter = pick_adapter(opts)?;
        Self::from_adapter(adapter, opts)
    }

    pub fn from_adapter(adapter: wgpu::Adapter, opts: &GpuOptions) -> Result<Arc<Gpu>> {
        let info = adapter.get_info();
        let offered = adapter.features();
        let want = wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::PIPELINE_CACHE;
        let features = offered & want;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("granite"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Gpu(format!("cannot open device on `{}`: {e}", info.name)))?;

        let paths = KernelPaths::choose(&info, features, opts);
        let max_binding = opts
            .max_binding_override
            .unwrap_or(u64::MAX)
            .min(limits.max_storage_buffer_binding_size)
            .min(limits.max_buffer_size);

        let lost = Arc::new(std::sync::Mutex::new(None));
        let lost_cb = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut l) = lost_cb.lock() {
                *l = Some(format!("{reason:?}: {msg}"));
            }
        });
        let pipelines = PipelineCache::new(&device, &adapter, features);
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            paths,
            max_binding,
            memory_limit: opts.memory_limit,
            memory: Arc::new(MemoryTracker::default()),
            pipelines,
            lost,
            unflushed: Default::default(),
            host_ns: Default::default(),
            dispatches: Default::default(),
            bind_groups: Default::default(),
            params: Default::default(),
            dispatch_check: Default::default(),
        }))
    }

    /// Blocks until all submitted work is done; a lost device becomes an error instead of a hang.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        self.check_lost()
    }

    /// Whether kernels should use their CPU tiling (`CPU` variants: large per-invocation blocks,
    /// since on a CPU driver every loaded vector is a loop and register spills are cheap). Not
    /// through GL, whose shader compiler takes minutes over the unrolled accumulators.
    pub fn cpu_tiles(&self) -> bool {
        cpu_driver(&self.info) && self.info.backend != wgpu::Backend::Gl
    }

    /// Host time spent so far from the creation of each [`super::Recorder`] to its submission
    /// (the launchers' recording plus encoding): what a fast GPU waits for between tokens.
    pub fn host_seconds(&self) -> f64 {
        self.host_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9
    }

    /// Dispatches encoded so far: on a GPU each costs microseconds however small, so their
    /// number per token bounds decode there.
    pub fn dispatches(&self) -> u64 {
        self.dispatches.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn check_lost(&self) -> Result<()> {
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(msg) => Err(Error::Gpu(format!("device lost: {msg}"))),
            None => Ok(()),
        }
    }

    /// One line for logs and the viewer: adapter, backend, paths.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}) f16:{} subgroups:{}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            if self.paths.f16 { "on" } else { "off" },
            if self.paths.subgroups {
                format!("{}", self.paths.subgroup_size)
            } else {
                "off".into()
            }
        )
    }
}
