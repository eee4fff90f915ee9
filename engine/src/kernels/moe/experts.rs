//! The expert products of both paths: matrix-vector products over the chosen experts (decode)
//! and grouped tiled products over the expert-sorted assignments (prefill). Each records one
//! dispatch per part of the expert stack; a dispatch only touches the experts of its part.
use super::{BM, BN, Bufs, MoeWeights};
use crate::Result;
use crate::gpu::{Bind, F16Matrix, Gpu, GpuBuffer, Recorder, Rows, grid, uniform};
use crate::kernels::linear::{Input, LANE_ROWS, matvec_rows_per_workgroup, whole_vec4_rows};
use crate::kernels::tiling::{MOE_MM_WIDE_BYTES, wide_tiles};

uniform! {
    /// moe_matvec.wgsl's parameters.
    struct MatvecParams {
        rows: u32,
        cols: u32,
        ld8: u32,
        e0: u32,
        e1: u32,
        top_k: u32,
        x_stride: u32,
        x_off: u32,
        y_stride: u32,
        eps: f32,
        n_experts: u32,
        _p2: u32,
    }
}

uniform! {
    /// moe_mm.wgsl's parameters.
    struct MmParams {
        rows: u32,
        cols: u32,
        ld8: u32,
        e0: u32,
        e1: u32,
        n_experts: u32,
        n_assign: u32,
        top_k: u32,
        x_stride: u32,
        x_off: u32,
        y_stride: u32,
        _p0: u32,
    }
}

/// The variant of an expert kernel, with the SwiGLU epilogue (`GLU`) or without, and `flags`.
fn expert_pipeline(
    gpu: &Gpu,
    (shader, entry): (&'static str, &'static str),
    glu: bool,
    flags: &[&'static str],
) -> Result<std::sync::Arc<crate::gpu::Pipeline>> {
    let mut variant = gpu.variant(shader, &[]);
    if glu {
        variant.flags.insert("GLU");
    }
    variant.flags.extend(flags.iter().copied());
    gpu.pipeline(&variant, entry)
}

/// One expert product over every part of `m` (`per_expert` weight rows per expert, `rows`
/// outputs per expert), reading `x` and writing `y`.
struct ExpertPass<'a> {
    m: &'a F16Matrix,
    glu: bool,
    rows: u32,
    per_expert: usize,
    x: &'a GpuBuffer,
    y: &'a GpuBuffer,
    /// The input's RMSNorm weight and epsilon, applied by the kernel (see `Input`).
    norm: Option<(&'a GpuBuffer, f32)>,
}

/// `fused_topk`: the router's top-k has not run; the gate/up product picks each slot's expert
/// from the router logits in `b.logits` itself and writes `b.ids`, `b.gates` (TOPK).
pub(super) fn experts_decode(
    rec: &mut Recorder,
    w: &MoeWeights,
    b: &Bufs,
    input: Input,
    n: usize,
    fused_topk: bool,
) -> Result<()> {
    let (v, d) = (input.x, w.dims);
    let slots = (n * d.top_k) as u32;
    let up = ExpertPass {
        m: &w.input,
        glu: true,
        rows: d.inter as u32,
        per_expert: 2 * d.inter,
        x: &v.t.buf,
        y: &b.act.buf,
        norm: input.norm.map(|n| (&n.weight.buf, n.eps)),
    };
    let up_rest = [d.top_k, v.stride, v.offset, d.inter];
    let down = ExpertPass {
        m: &w.output,
        glu: false,
        rows: d.hidden as u32,
        per_expert: d.hidden,
        x: &b.act.buf,
        y: &b.ys,
        norm: None,
    };
    let down_rest = [d.top_k, d.inter, 0, d.hidden];
    for (pass, rest) in [(up, up_rest), (down, down_rest)] {
        let gpu = rec.gpu();
        let topk = fused_topk && pass.glu;
        let (x_stride, x_off) = (rest[1], rest[2]);
        let x4 = whole_vec4_rows(pass.m.cols, x_off, x_stride);
        let mut flags = Vec::new();
        if x4 {
            flags.push("X4");
        }
        if pass.norm.is_some() {
            flags.push("NORM");
        }
        if topk {
            flags.push("TOPK");
        }
        if gpu.paths.lane_rows {
            flags.push(LANE_ROWS);
        }
        let pipeline = expert_pipeline(gpu, ("moe_matvec", "moe_matvec"), pass.glu, &flags)?;
        let [gx, gy, _] = grid(gpu, pass.rows.div_ceil(matvec_rows_per_workgroup(gpu)));
        for part in &pass.m.parts {
            let params = MatvecParams {
                rows: pass.rows,
                cols: pass.m.cols as u32,
                ld8: (pass.m.ld / 8) as u32,
                e0: (part.row0 / pass.per_expert) as u32,
                e1: ((part.row0 + part.rows) / pass.per_expert) as u32,
                top_k: rest[0] as u32,
                x_stride: rest[1] as u32,
                x_off: rest[2] as u32,
                y_stride: rest[3] as u32,
                eps: pass.norm.map_or(0.0, |(_, eps)| eps),
                n_experts: d.n_experts as u32,
                _p2: 0,
            };
            let mut binds = vec![
                Bind::read(&part.buf),
                Bind::read(pass.x),
                if topk {
                    Bind::write(&b.ids)
                } else {
                    Bind::read(&b.ids)
                },
                Bind::write(pass.y),
            ];
            if let Some((g, _)) = pass.norm {
                binds.push(Bind::read(g));
            }
            if topk {
                binds.push(Bind::read(&b.logits.buf).at(8));
                binds.push(Bind::write(&b.gates));
            }
            rec.dispatch(&pipeline, "moe", &params, binds, [gx, gy, slots]);
        }
    }
    Ok(())
}

uniform! {
    struct RouteParams {
        n_assign: u32,
        n_experts: u32,
        bm: u32,
        _p: u32,
    }
}

pub(super) fn experts_prefill(
    rec: &mut Recorder,
    w: &MoeWeights,
    b: &Bufs,
    v: Rows,
    n: usize,
) -> Result<()> {
    let d = w.dims;
    let n_assign = n * d.top_k;
    let gpu = rec.gpu();
    let route = gpu.pipeline(&gpu.variant("moe_route", &[]), "moe_route")?;
    let params = RouteParams {
        n_assign: n_assign as u32,
        n_experts: d.n_experts as u32,
        bm: BM as u32,
        _p: 0,
    };
    let binds = vec![Bind::read(&b.ids), Bind::write(&b.route)];
    rec.dispatch(&route, "moe", &params, binds, [1, 1, 1]);

    let up = ExpertPass {
        m: &w.input,
        glu: true,
        rows: d.inter as u32,
        per_expert: 2 * d.inter,
        x: &v.t.buf,
        y: &b.act.buf,
        norm: None,
    };
    let up_x = (v.stride, v.offset, d.inter);
    let down = ExpertPass {
        m: &w.output,
        glu: false,
        rows: d.hidden as u32,
        per_expert: d.hidden,
        x: &b.act.buf,
        y: &b.ys,
        norm: None,
    };
    let down_x = (d.inter, 0, d.hidden);
    for (pass, (x_stride, x_off, y_stride)) in [(up, up_x), (down, down_x)] {
        // moe_mm_rows with lane rows (CPU drivers): 16 invocations × 8 rows per workgroup.
        let (entry, flags, rows_per_wg): (_, &[&str], _) = if gpu.paths.lane_rows {
            ("moe_mm_rows", &[], 128)
        } else if gpu.cpu_tiles() {
            ("moe_mm", &["CPU"], BN as u32)
        } else if wide_tiles(gpu, MOE_MM_WIDE_BYTES) {
            // Same 64×64 tiles and grid, 256 invocations (see kernels::tiling).
            ("moe_mm", &["WIDE"], BN as u32)
        } else {
            ("moe_mm", &[], BN as u32)
        };
        let mut flags = flags.to_vec();
        if whole_vec4_rows(pass.m.cols, x_off, x_stride) {
            flags.push("X4");
        }
        let pipeline = expert_pipeline(gpu, ("moe_mm", entry), pass.glu, &flags)?;
        let gx = pass.rows.div_ceil(rows_per_wg);
        for part in &pass.m.parts {
            let e0 = part.row0 / pass.per_expert;
            let e1 = (part.row0 + part.rows) / pass.per_expert;
            // Tiles of this part's experts: each expert has at most n tokens (distinct experts
            // per token) and Σ ceil(count/BM) ≤ n_assign/BM + experts.
            let ne = e1 - e0;
            let tiles = (ne * n.div_ceil(BM)).min(n_assign.div_ceil(BM) + ne);
            let params = MmParams {
                rows: pass.rows,
                cols: pass.m.cols as u32,
                ld8: (pass.m.ld / 8) as u32,
                e0: e0 as u32,
                e1: e1 as u32,
                n_experts: d.n_experts as u32,
                n_assign: n_assign as u32,
                top_k: d.top_k as u32,
                x_stride: x_stride as u32,
                x_off: x_off as u32,
                y_stride: y_stride as u32,
                _p0: 0,
            };
            let binds = vec![
                Bind::read(&part.buf),
                Bind::read(pass.x),
                Bind::read(&b.route),
                Bind::write(pass.y),
            ];
            rec.dispatch(&pipeline, "moe", &params, binds, [gx, tiles as u32, 1]);
        }
    }
    Ok(())
}
