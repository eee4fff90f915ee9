//! A model opened through the engine's front door, with load warnings printed.
use granite_engine::{Engine, OpenOptions};

use super::gpu_args::GpuArgs;
use super::model_arg::ModelArg;

/// Opens the model for sessions of `context` tokens (None: the default). With `chat`, a model
/// without a usable chat template is refused before the GPU is touched.
pub fn open(
    model: &ModelArg,
    gpu: &GpuArgs,
    chat: bool,
    context: Option<usize>,
) -> anyhow::Result<Engine> {
    let engine = Engine::open(
        &model.source()?,
        &OpenOptions {
            device: gpu.options(),
            context,
            progress: true,
            require_chat_template: chat,
        },
    )?;
    for (name, n) in &engine.info().f16_overflows {
        eprintln!("warning: {name}: {n} values exceed the f16 range and were saturated to ±65504");
    }
    Ok(engine)
}
