//! How many tokens one prefill call runs: it sizes the model's activation scratch (planned
//! before any weight is uploaded) and splits the prompts of the generation loop.
use crate::gpu::{Gpu, cpu_driver};

/// Tokens per prefill call: bounds the activation scratch; long prompts run in several calls.
/// Tokens per prefill call on CPU drivers, and rows of logits per `logits_all` call.
pub const PREFILL_CHUNK: usize = 256;
/// Tokens per prefill call on GPUs: 4× the workgroups per matrix product (a 256-token call
/// leaves most of a large GPU idle) and a quarter of the dispatches per prompt.
pub const GPU_PREFILL_CHUNK: usize = 1024;

/// Tokens per prefill call on this adapter.
pub fn prefill_chunk(gpu: &Gpu) -> usize {
    if cpu_driver(&gpu.info) {
        PREFILL_CHUNK
    } else {
        GPU_PREFILL_CHUNK
    }
}
