//! `granite generate`: stream a continuation of a prompt (raw, chat-templated, or token ids).
use std::io::Write;
use std::ops::ControlFlow;

use clap::Args;
use granite_engine::{ChatMessage, Input, SessionOptions};

use super::gpu_args::GpuArgs;
use super::loaded;
use super::model_arg::ModelArg;
use super::sampling_args::SamplingArgs;

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// The prompt text.
    #[arg(long, short = 'p', conflicts_with = "token_ids")]
    prompt: Option<String>,
    /// Wrap the prompt in the model's chat template as a user turn.
    #[arg(long)]
    chat: bool,
    /// System prompt for --chat.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Feed these token ids directly (comma-separated) instead of a text prompt.
    #[arg(long, value_delimiter = ',')]
    token_ids: Option<Vec<u32>>,
    /// Print {"token_ids": [...], "text": "..."} at the end instead of streaming text.
    #[arg(long)]
    json: bool,
    /// Maximum context length of the session (default: the model's limit, at most 8192).
    #[arg(long)]
    context: Option<usize>,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    args.sampling.check()?;
    let input = match (&args.token_ids, &args.prompt) {
        (Some(ids), _) => Input::Tokens(ids.clone()),
        (None, Some(p)) if args.chat => {
            let mut msgs: Vec<ChatMessage> =
                args.system.iter().map(|s| ChatMessage::system(s)).collect();
            msgs.push(ChatMessage::user(p));
            Input::chat(msgs)
        }
        (None, Some(p)) => Input::Text(p.clone()),
        (None, None) => anyhow::bail!("give a prompt with --prompt TEXT or --token-ids 1,2,3"),
    };
    let engine = loaded::open(&args.model, &args.gpu, args.chat, args.context)?;
    let opts = args.sampling.options(&engine)?;
    let mut session = engine.session(&SessionOptions {
        context: args.context,
    })?;
    let mut stdout = std::io::stdout().lock();
    let out = session.generate(&input, &opts)?.run(|ev| {
        if !args.json {
            let _ = stdout.write_all(ev.text.as_bytes());
            let _ = stdout.flush();
        }
        ControlFlow::Continue(())
    })?;
    if args.json {
        let json =
            serde_json::json!({ "token_ids": out.token_ids, "text": out.text, "stop": out.stop });
        writeln!(stdout, "{json}")?;
    } else {
        writeln!(stdout)?;
        eprintln!(
            "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s, stop: {:?}]",
            out.prompt_tokens,
            out.prompt_tok_per_s(),
            out.token_ids.len(),
            out.gen_tok_per_s(),
            out.stop
        );
    }
    Ok(())
}
