//! Which kernel a dense product takes ([`Kernel`]), and the tiling of the tiled products
//! (matmul.wgsl, moe_mm.wgsl): `SMALL` for short prompts, `CPU` on CPU drivers, `WIDE` on GPUs
//! whose limits allow it, else the portable 64×64 tiling of 64 invocations.
use super::linear::{LANE_ROWS, matvec_rows_per_workgroup, uses_matvec};
use crate::gpu::{Gpu, grid};

/// matmul.wgsl's matmul_rows (prefill with lane rows): rows per workgroup (R_WG × ROWS) and
/// tokens per invocation (TB).
const ROWS_KERNEL_ROWS: u32 = 16 * 16;
const ROWS_KERNEL_TOKENS: u32 = 32;

/// The kernel that runs a product over some tokens.
pub(crate) enum Kernel {
    /// matvec.wgsl, one token per grid row z (≤ MATVEC_MAX_TOKENS tokens).
    Matvec,
    /// matmul.wgsl's `matmul_rows`: prompts with lane rows (CPU drivers).
    Rows,
    /// matmul.wgsl's tiled `matmul`, with its tiling flags and tokens per tile.
    Tiled(&'static [&'static str], u32),
}

impl Kernel {
    pub(crate) fn pick(gpu: &Gpu, rows: usize, n_tok: usize) -> Kernel {
        if uses_matvec(n_tok) {
            Kernel::Matvec
        } else if gpu.paths.lane_rows {
            Kernel::Rows
        } else {
            let (flags, tile_tokens) = matmul_tiles(gpu, rows, n_tok);
            Kernel::Tiled(flags, tile_tokens)
        }
    }

    /// Shader file and entry point.
    pub(crate) fn entry(&self) -> (&'static str, &'static str) {
        match self {
            Kernel::Matvec => ("matvec", "matvec"),
            Kernel::Rows => ("matmul", "matmul_rows"),
            Kernel::Tiled(..) => ("matmul", "matmul"),
        }
    }

    pub(crate) fn flags(&self, gpu: &Gpu) -> Vec<&'static str> {
        match self {
            Kernel::Matvec if gpu.paths.lane_rows => vec![LANE_ROWS],
            Kernel::Tiled(flags, _) => flags.to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn groups(&self, gpu: &Gpu, rows: u32, n_tok: u32) -> [u32; 3] {
        match *self {
            Kernel::Matvec => {
                let [gx, gy, _] = grid(gpu, rows.div_ceil(matvec_rows_per_workgroup(gpu)));
                [gx, gy, n_tok]
            }
            Kernel::Rows => [
                rows.div_ceil(ROWS_KERNEL_ROWS),
                n_tok.div_ceil(ROWS_KERNEL_TOKENS),
                1,
            ],
            Kernel::Tiled(_, tile_tokens) => [rows.div_ceil(64), n_tok.div_ceil(tile_tokens), 1],
        }
    }
}

/// Token counts up to this use matmul.wgsl's 16-token tiles (SMALL), so a 10-token prompt does
/// not pay for 64 (or 32).
const MATMUL_SMALL_TOKENS: usize = 16;
/// Invocations per workgroup of the WIDE tiling (128 with 32-token tiles).
const WIDE_INVOCATIONS: u32 = 256;
/// Workgroup memory of the WIDE variants: tiles of K = 32 columns (8 vec4 + 1 of padding per
/// row) of 64 tokens and 64 weight rows; moe_mm has a second weight tile (GLU) and two
/// 64-entry row tables plus a 4-word header.
const WIDE_TILE_BYTES: u32 = 64 * 9 * 16;
const MATMUL_WIDE_BYTES: u32 = 2 * WIDE_TILE_BYTES;
pub(crate) const MOE_MM_WIDE_BYTES: u32 = 3 * WIDE_TILE_BYTES + 2 * 64 * 4 + 16;
/// Below this many 64-token workgroups, WIDE products use 32-token tiles: a product with few
/// rows (h-350m's out_proj: 768 rows × 256 tokens = 48 tiles) otherwise leaves most of a big
/// GPU's ~100+ multiprocessors idle.
const WIDE_MIN_WORKGROUPS: u32 = 128;

/// Whether the tiled products take their WIDE tiling: 256 invocations of 4×4 outputs, K in
/// steps of 32, next step's loads overlapping this step's arithmetic. A GPU hides memory
/// latency with many resident warps, and the 64-invocation tiling left 1–3 per multiprocessor
/// (prefill at ~1% of an H200's f32 rate). Everything but CPU drivers' own tiling gets it
/// (GL on llvmpipe too, which is how it is tested without a GPU), where the workgroup fits.
pub(crate) fn wide_tiles(gpu: &Gpu, workgroup_bytes: u32) -> bool {
    let l = &gpu.limits;
    !gpu.cpu_tiles()
        && l.max_compute_invocations_per_workgroup >= WIDE_INVOCATIONS
        && l.max_compute_workgroup_size_x >= WIDE_INVOCATIONS
        && l.max_compute_workgroup_storage_size >= workgroup_bytes
}

/// matmul.wgsl's tiling flags for a product of `rows` rows over `n_tok` tokens, and the tokens
/// per tile (the dispatch grid's y step).
pub(crate) fn matmul_tiles(gpu: &Gpu, rows: usize, n_tok: usize) -> (&'static [&'static str], u32) {
    if n_tok <= MATMUL_SMALL_TOKENS {
        return (&["SMALL"], 16);
    }
    if gpu.cpu_tiles() {
        return (&["CPU"], 64);
    }
    if !wide_tiles(gpu, MATMUL_WIDE_BYTES) {
        return (&[], 64);
    }
    let groups = rows.div_ceil(64) * n_tok.div_ceil(64);
    if n_tok <= 32 || groups < WIDE_MIN_WORKGROUPS as usize {
        (&["WIDE", "T32"], 32)
    } else {
        (&["WIDE"], 64)
    }
}
