//! Command-line interface: argument definitions and dispatch to one module per subcommand.
mod bench;
mod bench_print;
mod bench_sessions;
mod chat;
mod devices;
mod generate;
mod gpu_args;
mod inspect;
mod loaded;
mod logits;
mod model_arg;
mod sampling_args;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "granite",
    version,
    about = "Granite 4.0 hybrid (Mamba-2 + attention + MoE) inference on any GPU via wgpu",
    long_about = "Runs IBM Granite 4.0 models (granite-4.0-h-small, h-tiny, h-micro, micro, h-1b, h-350m, 1b, 350m) \
from a Hugging Face model folder, entirely on the GPU through WGSL compute shaders: Vulkan, Metal, DX12 or GL."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every GPU adapter with its backend, driver, optional features and limits.
    Devices(devices::DevicesArgs),
    /// Architecture, parameters and bytes by category, and cache memory per session by context length.
    Inspect(inspect::InspectArgs),
    /// Stream a continuation of a prompt (raw text, chat-templated, or token ids).
    Generate(generate::GenerateArgs),
    /// Interactive multi-turn chat in the terminal (reads turns from stdin).
    Chat(chat::ChatArgs),
    /// Argmax at every position and the last logit rows of one prefill, as JSON.
    Logits(logits::LogitsArgs),
    /// Prompt-processing and generation speed, bytes per token and bandwidth fraction (llama-bench style).
    Bench(bench::BenchArgs),
    /// Serve the model over an OpenAI-compatible HTTP API (chat, completions, metrics).
    Serve(serve::ServeArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices(a) => devices::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Chat(a) => chat::run(a),
        Command::Logits(a) => logits::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => serve::run(a),
    }
}
