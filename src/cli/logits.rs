//! `granite logits`: one prefill over token ids; the argmax at every position and the logits of
//! the last N positions, as JSON (for comparing against a reference implementation).
use clap::Args;
use granite_engine::SessionOptions;

use super::gpu_args::GpuArgs;
use super::loaded;
use super::model_arg::ModelArg;

#[derive(Args)]
pub struct LogitsArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    gpu: GpuArgs,
    /// Token ids to feed (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    token_ids: Vec<u32>,
    /// How many final positions to print full logit rows for.
    #[arg(long, default_value_t = 1)]
    last: usize,
    /// JSON output (the only format; accepted for explicitness).
    #[arg(long)]
    json: bool,
}

pub fn run(args: LogitsArgs) -> anyhow::Result<()> {
    if args.token_ids.is_empty() {
        anyhow::bail!("--token-ids is empty");
    }
    let n = args.token_ids.len();
    let engine = loaded::open(&args.model, &args.gpu, false, Some(n))?;
    let mut session = engine.session(&SessionOptions { context: Some(n) })?;
    let rows = session.logits(&args.token_ids)?;
    let argmax: Vec<usize> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0
        })
        .collect();
    let last = &rows[rows.len().saturating_sub(args.last)..];
    println!(
        "{}",
        serde_json::json!({ "argmax": argmax, "logits": last })
    );
    Ok(())
}
