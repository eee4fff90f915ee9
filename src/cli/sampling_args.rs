//! Sampling flags shared by `generate` and `chat`. A flag not given takes the model's own
//! default from its `generation_config.json` (greedy, 128 tokens, when the file sets nothing).
use clap::Args;
use granite_engine::{Engine, GenerateOptions};

#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Sampling (defaults: the model's generation_config.json)")]
pub struct SamplingArgs {
    /// Most tokens to generate [model default, else 128].
    #[arg(long, short = 'n')]
    pub max_new_tokens: Option<usize>,
    /// Sampling temperature; 0 means greedy (always the most likely token) [model default:
    /// greedy unless its generation_config.json has do_sample].
    #[arg(long, short = 't', allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    /// Keep only the K most likely tokens (0: off) [model default; 50 when it samples and names
    /// none, as in transformers].
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Keep the smallest set of tokens whose probability reaches P, in (0, 1] (1: off) [model
    /// default, else 1].
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Divide positive logits (multiply negative ones) of tokens already seen by this (1: off)
    /// [model default, else 1].
    #[arg(long, allow_negative_numbers = true)]
    pub repetition_penalty: Option<f32>,
    /// Random seed: the same seed gives the same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the text contains this string (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    /// Checks the flags given, before any model is opened.
    pub fn check(&self) -> anyhow::Result<()> {
        self.apply(GenerateOptions::default()).map(|_| ())
    }

    /// The model's defaults with the flags given applied over them.
    pub fn options(&self, engine: &Engine) -> anyhow::Result<GenerateOptions> {
        self.apply(engine.default_options())
    }

    fn apply(&self, defaults: GenerateOptions) -> anyhow::Result<GenerateOptions> {
        let mut o = defaults;
        let s = &mut o.sampling;
        s.temperature = self.temperature.unwrap_or(s.temperature);
        s.top_k = self.top_k.unwrap_or(s.top_k);
        s.top_p = self.top_p.unwrap_or(s.top_p);
        s.repetition_penalty = self.repetition_penalty.unwrap_or(s.repetition_penalty);
        s.seed = self.seed;
        s.validate()?;
        o.max_new_tokens = self.max_new_tokens.unwrap_or(o.max_new_tokens);
        if o.max_new_tokens == 0 {
            anyhow::bail!("--max-new-tokens must be at least 1");
        }
        o.stop_strings = self.stop.clone();
        Ok(o)
    }
}
