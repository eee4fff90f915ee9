//! Routed mixture of experts (HF `GraniteMoeHybridMoE`), entirely on the GPU:
//! router logits (the `linear` launcher) → top-k + softmax over the k (`moe_topk`) → expert
//! SwiGLU products → gate-weighted sum over the k slots in a fixed order (`moe_combine`), which
//! can add `alpha · moe` into the output. The caller adds the shared MLP.
//!
//! Two expert paths, chosen by token count:
//! * decode (few tokens): matrix-vector products that read the chosen ids from the GPU and only
//!   the chosen experts' weights (`moe_matvec`, gate/up + SwiGLU in one dispatch, down in one).
//!   Where dispatches cost more than loads (`fuses_norm`: GPUs), the gate/up product ranks the
//!   router logits itself and writes the ids and gates (`TOPK`), one dispatch fewer per layer;
//! * prefill: assignments grouped by expert on the GPU (`moe_route`: counts, exclusive scan,
//!   stable gather) and tiled grouped products per expert (`moe_mm`).
//!
//! Both write one output row per (token, slot), so no float atomics are needed and the result is
//! deterministic. Expert stacks larger than one binding are split into parts on expert
//! boundaries; each dispatch handles the experts of one part.
mod experts;
mod gating;

use super::ensure;
use super::linear::{Epilogue, Input, fuses_norm, linear, uses_matvec};
use crate::Result;
use crate::gpu::{F16Matrix, Gpu, GpuBuffer, MemTag, Recorder, Rows, Tensor};
use experts::{experts_decode, experts_prefill};
use gating::combine;
pub use gating::router_topk;

/// Shape of one MoE layer: hidden size, experts, experts per token, expert width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoeDims {
    pub hidden: usize,
    pub n_experts: usize,
    pub top_k: usize,
    pub inter: usize,
}

/// The routed experts of one layer, f16.
/// `router [E, H]`; `input [E·2I, H]` (per expert I gate rows then I up rows), split with
/// `row_group = 2I`; `output [E·H, I]`, split with `row_group = H`.
pub struct MoeWeights {
    pub router: F16Matrix,
    pub input: F16Matrix,
    pub output: F16Matrix,
    pub dims: MoeDims,
}

impl MoeWeights {
    /// Checks the shapes against `dims` and that no expert straddles two parts.
    pub fn new(
        router: F16Matrix,
        input: F16Matrix,
        output: F16Matrix,
        dims: MoeDims,
    ) -> Result<MoeWeights> {
        let MoeDims {
            hidden: h,
            n_experts: e,
            top_k: k,
            inter: i,
        } = dims;
        ensure(
            h > 0 && i > 0 && k > 0 && k <= e && e <= MAX_EXPERTS,
            || format!("moe: bad dims {dims:?} (need 0 < top_k ≤ n_experts ≤ {MAX_EXPERTS})"),
        )?;
        let shapes = [
            ("router", &router, e, h, 1),
            ("input_linear", &input, e * 2 * i, h, 2 * i),
            ("output_linear", &output, e * h, i, h),
        ];
        for (name, m, rows, cols, group) in shapes {
            ensure(m.rows == rows && m.cols == cols, || {
                format!(
                    "moe {name}: weight is {}×{}, expected {rows}×{cols} for {dims:?}",
                    m.rows, m.cols
                )
            })?;
            for part in &m.parts {
                ensure(part.row0 % group == 0 && part.rows % group == 0, || {
                    format!(
                        "moe {name}: part at row {} ({} rows) splits an expert ({group} rows)",
                        part.row0, part.rows
                    )
                })?;
            }
        }
        Ok(MoeWeights {
            router,
            input,
            output,
            dims,
        })
    }

    /// Uploads dense f16 weights (`[E, H]`, `[E, 2I, H]`, `[E, H, I]`), e.g. for tests.
    pub fn from_f16(
        gpu: &Gpu,
        dims: MoeDims,
        router: &[u16],
        input: &[u16],
        output: &[u16],
    ) -> Result<MoeWeights> {
        let MoeDims {
            hidden: h,
            n_experts: e,
            inter: i,
            ..
        } = dims;
        let up = |data: &[u16], rows: usize, cols: usize, group: usize, label: &str| {
            ensure(data.len() == rows * cols, || {
                format!("moe {label}: {} values, expected {rows}×{cols}", data.len())
            })?;
            F16Matrix::upload(
                gpu,
                MemTag::RoutedExperts,
                rows,
                cols,
                group,
                label,
                |r0, n, out| {
                    out.copy_from_slice(&data[r0 * cols..(r0 + n) * cols]);
                    Ok(())
                },
            )
        };
        let router = up(router, e, h, 1, "moe router")?;
        let input = up(input, e * 2 * i, h, 2 * i, "moe input_linear")?;
        let output = up(output, e * h, i, h, "moe output_linear")?;
        MoeWeights::new(router, input, output, dims)
    }
}

/// Which expert path `moe_forward` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MoePath {
    /// Decode up to [`DECODE_MAX_TOKENS`] tokens (on CPU adapters also while the experts
    /// average few tokens each), prefill above.
    #[default]
    Auto,
    Decode,
    Prefill,
}

/// `out = (accumulate ? out : 0) + alpha · moe(v)`.
#[derive(Clone, Copy, Debug)]
pub struct MoeOptions {
    pub alpha: f32,
    pub accumulate: bool,
    pub path: MoePath,
    /// With `accumulate`: where the experts ran the decode path over tokens few enough for the
    /// matrix-vector kernel, skip the weighted-sum dispatch and return it as an [`ExpertSum`]
    /// for the next product into `out` to add in its epilogue.
    pub defer_sum: bool,
}

impl Default for MoeOptions {
    fn default() -> Self {
        MoeOptions {
            alpha: 1.0,
            accumulate: false,
            path: MoePath::Auto,
            defer_sum: false,
        }
    }
}

/// `alpha · Σ_j gates[t, j] · ys[t·k + j, r]`, still to be added to row r of token t's output
/// (see [`MoeOptions::defer_sum`]).
#[derive(Clone, Debug)]
pub struct ExpertSum {
    /// `[T, k]`
    pub gates: GpuBuffer,
    /// `[T·k, hidden]`
    pub ys: GpuBuffer,
    pub top_k: usize,
    pub hidden: usize,
    pub n_tok: usize,
    pub alpha: f32,
}

/// Token counts up to this take the decode path: each (token, slot) reads its expert's weights
/// once, which beats the tiled product while few tokens share an expert.
pub const DECODE_MAX_TOKENS: usize = 4;
/// On CPU adapters (arithmetic-bound, where a 64-position tile costs as much with 3 positions as
/// with 64) the decode path also wins while experts average fewer positions than this. At 24
/// per expert (h-tiny, 256-token prefill calls on lavapipe, lane rows) it ran 1.29× faster
/// than the grouped product (5.31 vs 4.12 t/s).
const CPU_DECODE_MAX_PER_EXPERT: usize = 32;

fn few_per_expert(gpu: &crate::gpu::Gpu, n_assign: usize, n_experts: usize) -> bool {
    crate::gpu::cpu_driver(&gpu.info) && n_assign < CPU_DECODE_MAX_PER_EXPERT * n_experts
}

/// `moe_route` gives each invocation of its one workgroup one expert.
pub const MAX_EXPERTS: usize = 256;
/// Tokens per pass: bounds the per-(token, slot) scratch (`T·k·H` floats).
const CHUNK_TOKENS: usize = 512;
/// Positions per expert tile in `moe_mm.wgsl`, rows per tile.
pub(crate) const BM: usize = 64;
pub(crate) const BN: usize = 64;

/// Scratch buffers of `moe_forward`, kept between calls so a decode step allocates nothing.
/// One scratch can serve every layer of a model (buffers grow to the largest use).
#[derive(Default)]
pub struct MoeScratch {
    bufs: Option<Bufs>,
}

pub(crate) struct Bufs {
    pub(crate) dims: MoeDims,
    pub(crate) cap: usize,
    pub(crate) logits: Tensor,   // [cap, E]
    pub(crate) ids: GpuBuffer,   // [cap·k] u32
    pub(crate) gates: GpuBuffer, // [cap·k] f32
    pub(crate) act: Tensor,      // [cap·k, I]
    pub(crate) ys: GpuBuffer,    // [cap·k, H]
    pub(crate) route: GpuBuffer, // see moe_route.wgsl
}

impl MoeScratch {
    pub fn new() -> MoeScratch {
        MoeScratch::default()
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> u64 {
        self.buffers().iter().map(|x| x.size()).sum()
    }

    /// The buffers currently held (none before the first call). Every call writes whatever
    /// it reads of them first, so tests may fill them with garbage between calls.
    pub fn buffers(&self) -> Vec<&GpuBuffer> {
        self.bufs.as_ref().map_or(Vec::new(), |b| {
            vec![&b.logits.buf, &b.ids, &b.gates, &b.act.buf, &b.ys, &b.route]
        })
    }

    fn get(&mut self, gpu: &Gpu, dims: MoeDims, cap: usize) -> Result<&Bufs> {
        let fits = self
            .bufs
            .as_ref()
            .is_some_and(|b| b.dims == dims && b.cap >= cap);
        if !fits {
            let MoeDims {
                hidden: h,
                n_experts: e,
                top_k: k,
                inter: i,
            } = dims;
            let f = |n: usize, label| gpu.alloc(MemTag::Scratch, (n * 4) as u64, label);
            let route_len = 2 * e + 2 + cap * k + (cap * k).div_ceil(BM) + e;
            self.bufs = None; // free before allocating the larger set
            self.bufs = Some(Bufs {
                dims,
                cap,
                logits: Tensor::zeros(gpu, MemTag::Scratch, &[cap, e], "moe logits")?,
                ids: f(cap * k, "moe ids")?,
                gates: f(cap * k, "moe gates")?,
                act: Tensor::zeros(gpu, MemTag::Scratch, &[cap * k, i], "moe act")?,
                ys: f(cap * k * h, "moe slot outputs")?,
                route: f(route_len, "moe route")?,
            });
        }
        Ok(self.bufs.as_ref().expect("allocated above"))
    }
}

/// `out = (accumulate ? out : 0) + alpha · moe(v)` for `n_tok` rows of `v` (each `hidden` floats;
/// with a norm, the router and the experts normalise them as they read them). `out` may be
/// `v`'s buffer: a token's rows are read before its output is written. Records dispatches
/// only; never reads back. Returns the weighted sum instead of adding it where
/// `opts.defer_sum` allows.
pub fn moe_forward<'a>(
    rec: &mut Recorder,
    scratch: &mut MoeScratch,
    w: &MoeWeights,
    v: impl Into<Input<'a>>,
    out: Rows,
    n_tok: usize,
    opts: MoeOptions,
) -> Result<Option<ExpertSum>> {
    let input = v.into();
    let (v, d) = (input.x, w.dims);
    ensure(v.fits(n_tok, d.hidden) && out.fits(n_tok, d.hidden), || {
        format!("moe: v / out too small for {n_tok}×{}", d.hidden)
    })?;
    if n_tok == 0 {
        return Ok(None);
    }
    let decode = match opts.path {
        MoePath::Auto => {
            n_tok <= DECODE_MAX_TOKENS || few_per_expert(rec.gpu(), n_tok * d.top_k, d.n_experts)
        }
        MoePath::Decode => true,
        MoePath::Prefill => false,
    };
    let gpu = rec.gpu();
    ensure(
        input.norm.is_none() || (decode && fuses_norm(gpu, n_tok)),
        || format!("moe: an input norm over {n_tok} tokens must be applied by rmsnorm first"),
    )?;
    ensure(input.norm.is_none_or(|n| n.gate.is_none()), || {
        "moe: a gated input norm is for Mamba's out_proj only".into()
    })?;
    // Keep each scratch buffer within one binding (and decode slots within one grid dimension).
    let per_tok = (d.top_k * d.hidden.max(d.inter).max(d.n_experts) * 4) as u64;
    let mut chunk = CHUNK_TOKENS.min((gpu.max_binding / per_tok).max(1) as usize);
    if decode {
        let max_z = gpu.limits.max_compute_workgroups_per_dimension as usize;
        chunk = chunk.min((max_z / d.top_k).max(1));
    }
    let chunk = chunk.min(n_tok);
    let bufs = scratch.get(gpu, d, chunk)?;
    for c0 in (0..n_tok).step_by(chunk) {
        let n = chunk.min(n_tok - c0);
        let vc = Input {
            x: Rows {
                offset: v.offset + c0 * v.stride,
                ..v
            },
            ..input
        };
        let oc = Rows {
            offset: out.offset + c0 * out.stride,
            ..out
        };
        let logits = bufs.logits.rows(d.n_experts, 0);
        linear(rec, &w.router, vc, logits, n, Epilogue::default())?;
        // Where dispatches cost more than loads, the expert product picks the top-k itself.
        let fused_topk = decode && fuses_norm(gpu, n);
        if !fused_topk {
            router_topk(rec, logits, n, d.n_experts, d.top_k, &bufs.ids, &bufs.gates)?;
        }
        if decode {
            experts_decode(rec, w, bufs, vc, n, fused_topk)?;
        } else {
            experts_prefill(rec, w, bufs, vc.x, n)?;
        }
        if opts.defer_sum && opts.accumulate && decode && n == n_tok && uses_matvec(n_tok) {
            return Ok(Some(ExpertSum {
                gates: bufs.gates.clone(),
                ys: bufs.ys.clone(),
                top_k: d.top_k,
                hidden: d.hidden,
                n_tok,
                alpha: opts.alpha,
            }));
        }
        combine(rec, d, bufs, oc, n, opts)?;
    }
    Ok(None)
}
