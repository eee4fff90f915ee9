//! Sampling flags shared by `generate` and `chat`.
use clap::Args;
use granite_engine::{GenerateOptions, SamplingParams};

#[derive(Args, Clone, Debug)]
pub struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(long, short = 'n', default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 means greedy (always the most likely token).
    #[arg(
        long,
        short = 't',
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub temperature: f32,
    /// Keep only the K most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    pub top_k: u32,
    /// Keep the smallest set of tokens whose probability reaches P, in (0, 1] (1: off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub top_p: f32,
    /// Divide positive logits (multiply negative ones) of tokens already seen by this (1: off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub repetition_penalty: f32,
    /// Random seed: the same seed gives the same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the text contains this string (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    pub fn options(&self) -> anyhow::Result<GenerateOptions> {
        let sampling = SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
        };
        sampling.validate()?;
        if self.max_new_tokens == 0 {
            anyhow::bail!("--max-new-tokens must be at least 1");
        }
        Ok(GenerateOptions {
            max_new_tokens: self.max_new_tokens,
            sampling,
            stop_strings: self.stop.clone(),
            stop_at_eos: true,
            detokenize: true,
        })
    }
}
