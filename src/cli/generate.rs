//! `granite generate`: stream a continuation of a prompt (raw, chat-templated, or token ids).
use std::io::Write;
use std::ops::ControlFlow;

use clap::Args;
use granite_engine::generate::Generator;
use granite_engine::model_files::{ChatMessage, ChatOptions, ChatTemplate};

use super::gpu_args::GpuArgs;
use super::loaded::Loaded;
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
    let opts = args.sampling.options()?;
    let loaded = Loaded::open(&args.model, &args.gpu)?;
    let ids = match (&args.token_ids, &args.prompt) {
        (Some(ids), _) => ids.clone(),
        (None, Some(p)) if args.chat => {
            let template = ChatTemplate::from_tokenizer(&loaded.tokenizer)?;
            let mut msgs: Vec<ChatMessage> =
                args.system.iter().map(|s| ChatMessage::system(s)).collect();
            msgs.push(ChatMessage::user(p));
            let text = template.render(
                &msgs,
                &ChatOptions {
                    add_generation_prompt: true,
                    ..Default::default()
                },
            )?;
            loaded.tokenizer.encode(&text)?
        }
        (None, Some(p)) => loaded.tokenizer.encode(p)?,
        (None, None) => anyhow::bail!("give a prompt with --prompt TEXT or --token-ids 1,2,3"),
    };
    if ids.is_empty() {
        anyhow::bail!("the prompt is empty (it encodes to no tokens)");
    }
    let mut generator = Generator::new(
        &loaded.model,
        args.context.unwrap_or(loaded.default_context()),
    )?;
    let mut stdout = std::io::stdout().lock();
    let out = generator.generate(&ids, &opts, Some(&loaded.tokenizer), |ev| {
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
