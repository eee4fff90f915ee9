//! `granite serve`: the model behind an OpenAI-compatible HTTP API (see the server crate).
use clap::Args;
use granite_server::{Limits, ServeOptions};

use super::gpu_args::GpuArgs;
use super::loaded;
use super::model_arg::ModelArg;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    gpu: GpuArgs,
    /// Address to listen on. Anything but loopback is reachable from other machines: give
    /// --api-key then.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on /v1/*.
    #[arg(long, env = "GRANITE_API_KEY")]
    api_key: Option<String>,
    /// Requests generating at once; later ones wait in the queue.
    #[arg(long, default_value_t = 8)]
    max_sessions: usize,
    /// Requests that may wait for a slot; beyond that a request gets 429.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Tokens per conversation (default: the model's limit, at most 8192).
    #[arg(long)]
    ctx_size: Option<usize>,
    /// GPU bytes of finished conversations kept so a next turn prefills only its new tokens.
    #[arg(long, default_value_t = 1 << 30)]
    cache_memory: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.max_sessions == 0 {
        anyhow::bail!("--max-sessions must be at least 1");
    }
    let engine = loaded::open(&args.model, &args.gpu, false, args.ctx_size)?;
    let limits = Limits {
        max_sessions: args.max_sessions,
        queue: args.queue,
        cache_memory: args.cache_memory,
        context: engine.info().default_context,
    };
    let opts = ServeOptions {
        host: args.host,
        port: args.port,
        api_key: args.api_key,
        limits,
    };
    granite_server::serve(engine, opts)?;
    Ok(())
}
