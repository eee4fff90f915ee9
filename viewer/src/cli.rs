//! Command-line options of `granite-viewer` and the model folders it falls back on.
use std::path::{Path, PathBuf};

use clap::Parser;

/// The model shipped with the repository.
pub const BUNDLED_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/granite-austen");
/// A small real Granite config (random weights) the fake backend falls back on.
pub const FIXTURE_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/moe_nope");

#[derive(Parser, Debug, Clone)]
#[command(
    name = "granite-viewer",
    version,
    about = "Chat with a Granite 4.0 hybrid model and watch GPU memory per layer type: the KV cache \
             of the attention layers grows with every token, the Mamba-2 state does not."
)]
pub struct Args {
    /// Model folder (config.json, *.safetensors, tokenizer.json). Default: the bundled
    /// assets/granite-austen.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Send --prompt, wait for the whole reply, save a PNG of the window to FILE and exit
    /// (exit status 0 when the file was written). Needs a display; use xvfb-run without one.
    #[arg(long, value_name = "FILE", requires = "prompt")]
    pub screenshot: Option<PathBuf>,

    /// The message to send with --screenshot.
    #[arg(long, value_name = "TEXT", requires = "screenshot")]
    pub prompt: Option<String>,

    /// Use the fake backend: canned tokens and simulated cache growth, no GPU inference. For
    /// tests and documentation screenshots only. Without --model it reads the bundled model's
    /// config, or a test fixture's when the bundled model is absent.
    #[arg(long)]
    pub fake: bool,

    /// Pause per fake token, in milliseconds (with --fake).
    #[arg(long, value_name = "MS", default_value_t = 40, requires = "fake")]
    pub fake_delay_ms: u64,

    /// Initial sampling temperature (0 = greedy); the window can change it. Default: the
    /// model's generation_config.json (greedy when it does not sample).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,

    /// Initial top-p. Default: the model's generation_config.json, else 1.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,

    /// Initial limit of tokens per reply. Default: the model's generation_config.json, else 128.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<usize>,

    /// GPU backend for the engine: vulkan, metal, dx12 or gl (default: the best available).
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,

    /// Use the first adapter whose name contains NAME (case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,

    /// Give up on --screenshot after this many seconds (exit status 1).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,

    /// Window size in logical pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1280x800", value_parser = parse_size)]
    pub size: (f32, f32),
}

fn parse_size(s: &str) -> Result<(f32, f32), String> {
    let bad = || format!("`{s}` is not a size like 1280x800");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: f32 = w.trim().parse().map_err(|_| bad())?;
    let h: f32 = h.trim().parse().map_err(|_| bad())?;
    if !(200.0..=10000.0).contains(&w) || !(200.0..=10000.0).contains(&h) {
        return Err(format!("{s}: each side must be between 200 and 10000"));
    }
    Ok((w, h))
}

/// The model folder to open: --model, else the bundled model, else (fake backend only) the
/// test fixture.
pub fn model_dir(args: &Args) -> PathBuf {
    let dir = match &args.model {
        Some(m) => m.clone(),
        None => {
            let bundled = PathBuf::from(BUNDLED_MODEL);
            if args.fake && !bundled.join("config.json").is_file() {
                PathBuf::from(FIXTURE_MODEL)
            } else {
                bundled
            }
        }
    };
    // Shown in the model field: without the `viewer/..` detour when the folder exists.
    dir.canonicalize().unwrap_or(dir)
}

/// The sampling settings the flags pin (the others follow the model's defaults), checked.
pub fn settings(args: &Args) -> Result<crate::backend::Pinned, String> {
    if let Some(t) = args.temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        return Err(format!("--temperature must be in [0, 2], got {t}"));
    }
    if let Some(p) = args.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(format!("--top-p must be in (0, 1], got {p}"));
    }
    if args.max_tokens == Some(0) {
        return Err("--max-tokens must be at least 1".into());
    }
    Ok(crate::backend::Pinned {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
    })
}

/// The engine's device options from --backend and --adapter.
pub fn device_options(args: &Args) -> Result<granite_engine::DeviceOptions, String> {
    let opts = granite_engine::DeviceOptions {
        backend: args.backend.clone(),
        adapter: args.adapter.clone(),
        ..Default::default()
    };
    opts.check().map_err(|e| e.to_string())?;
    Ok(opts)
}

/// A quick check before the window opens, so a wrong --model fails on the terminal with the
/// reason instead of in a window.
pub fn check_model_dir(dir: &Path) -> Result<(), String> {
    let source = granite_engine::ModelSource::Path(dir.to_path_buf());
    granite_engine::describe(&source)
        .map(|_| ())
        .map_err(|e| format!("not a Granite 4.0 hybrid model folder: {e}"))
}
