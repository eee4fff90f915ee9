//! `granite chat`: interactive multi-turn chat in the terminal. Each turn only prefills the new
//! tokens: the conversation's caches are kept between turns.
use std::io::{BufRead, Write};
use std::ops::ControlFlow;

use clap::Args;
use granite_engine::chat_session::ChatSession;
use granite_engine::generate::Generator;

use super::gpu_args::GpuArgs;
use super::loaded::Loaded;
use super::model_arg::ModelArg;
use super::sampling_args::SamplingArgs;

#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Maximum context length of the conversation (default: the model's limit, at most 8192).
    #[arg(long)]
    context: Option<usize>,
}

pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let opts = args.sampling.options()?;
    let loaded = Loaded::open(&args.model, &args.gpu)?;
    let generator = Generator::new(
        &loaded.model,
        args.context.unwrap_or(loaded.default_context()),
    )?;
    let mut chat = ChatSession::new(generator, &loaded.tokenizer, args.system.as_deref())?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!("chat — /clear starts over, /quit or Ctrl-D leaves");
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        if interactive {
            eprint!("> ");
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" => break,
            "/clear" => {
                chat.clear()?;
                continue;
            }
            _ => {}
        }
        let reply = chat.send(line, &opts, |ev| {
            let _ = out.write_all(ev.text.as_bytes());
            let _ = out.flush();
            ControlFlow::Continue(())
        })?;
        writeln!(out)?;
        if interactive {
            eprintln!(
                "[reused {} cached tokens; {} new prompt tokens at {:.1} tok/s; {} generated at {:.1} tok/s]",
                chat.reused_tokens,
                reply.prompt_tokens,
                reply.prompt_tok_per_s(),
                reply.token_ids.len(),
                reply.gen_tok_per_s()
            );
        }
    }
    Ok(())
}
