//! `granite chat`: interactive multi-turn chat in the terminal. Each turn only prefills the new
//! tokens: the conversation's caches are kept between turns.
use std::io::{BufRead, Write};
use std::ops::ControlFlow;

use clap::Args;
use granite_engine::{ChatMessage, Input, SessionOptions};

use super::gpu_args::GpuArgs;
use super::loaded;
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
    args.sampling.check()?;
    let engine = loaded::open(&args.model, &args.gpu, true, args.context)?;
    let opts = args.sampling.options(&engine)?;
    let mut session = engine.session(&SessionOptions {
        context: args.context,
    })?;
    let system: Vec<ChatMessage> = args.system.iter().map(|s| ChatMessage::system(s)).collect();
    let mut messages = system.clone();
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
                session.reset()?;
                messages = system.clone();
                continue;
            }
            _ => {}
        }
        messages.push(ChatMessage::user(line));
        let input = Input::chat(messages.clone());
        let reply = session.generate(&input, &opts)?.run(|ev| {
            let _ = out.write_all(ev.text.as_bytes());
            let _ = out.flush();
            ControlFlow::Continue(())
        });
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                messages.pop();
                return Err(e.into());
            }
        };
        messages.push(ChatMessage::assistant(&reply.text));
        writeln!(out)?;
        if interactive {
            eprintln!(
                "[reused {} cached tokens; {} new prompt tokens at {:.1} tok/s; {} generated at {:.1} tok/s]",
                reply.cached_tokens,
                reply.prompt_tokens,
                reply.prompt_tok_per_s(),
                reply.token_ids.len(),
                reply.gen_tok_per_s()
            );
        }
    }
    Ok(())
}
