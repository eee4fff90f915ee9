//! Generation: prefill a prompt, then decode token by token with streaming, on top of one
//! conversation's caches. The CLI, the viewer and a future server all drive this API.
//!
//! Each decode step is one command submission (the whole model plus sampling) and one 8-byte
//! readback: the sampled token id. A step reads its input id where the previous step's sampling
//! wrote it on the GPU, so the host records and encodes step t + 1 while the GPU runs step t
//! (on a fast GPU the host's encoding is a third of a token's time); the id is read back only
//! to stream it and test the stop conditions, and an encoded step that turns out not to be
//! needed is dropped and its position rewound.
use std::ops::ControlFlow;
use std::time::Instant;

use crate::gpu::{Encoded, GpuBuffer, MemTag, Recorder, SharedProfile};
use crate::kernels::sampling::{Sampler, SamplingParams};
use crate::model::{LogitRows, Model, Scratch, State};
use crate::model_files::Tokenizer;
use crate::{Error, Result};

mod step;

pub use crate::model::{GPU_PREFILL_CHUNK, PREFILL_CHUNK, prefill_chunk};

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: SamplingParams,
    /// Stop when the decoded text contains any of these (the stop string is not emitted).
    pub stop_strings: Vec<String>,
    /// Stop on the model's end-of-text token(s).
    pub stop_at_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 128,
            sampling: SamplingParams::default(),
            stop_strings: Vec::new(),
            stop_at_eos: true,
        }
    }
}

/// One generated token, as it streams.
#[derive(Clone, Debug)]
pub struct TokenEvent<'a> {
    pub id: u32,
    /// Newly complete text (may be empty while a multi-byte character is split across tokens).
    pub text: &'a str,
    /// 0 for the first generated token.
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Eos,
    StopString,
    MaxTokens,
    Cancelled,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub token_ids: Vec<u32>,
    pub text: String,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub prompt_secs: f64,
    pub generated_secs: f64,
}

impl Outcome {
    pub fn prompt_tok_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_secs.max(1e-9)
    }
    /// Decode speed: the first token comes out of the prefill submission, so it is not counted.
    pub fn gen_tok_per_s(&self) -> f64 {
        self.token_ids.len().saturating_sub(1) as f64 / self.generated_secs.max(1e-9)
    }
}

/// One conversation on one model: its caches, the tokens in them, and the sampler's buffers.
pub struct Generator<'m> {
    model: &'m Model,
    state: State,
    scratch: Scratch,
    /// Every token id fed through the model so far (the cache's contents), on the host.
    tokens: Vec<u32>,
    /// Sampled but not yet fed: becomes the first input of the next call.
    pending: Option<u32>,
    /// History of ids for the repetition penalty, on the GPU.
    history: GpuBuffer,
    sampler: Sampler,
    max_context: usize,
    profile: Option<SharedProfile>,
}

impl<'m> Generator<'m> {
    /// `max_context` tokens at most (capped by the model's limit); caches grow as needed.
    pub fn new(model: &'m Model, max_context: usize) -> Result<Self> {
        let max_context = max_context.min(model.context_limit()).max(1);
        let gpu = &model.gpu;
        Ok(Generator {
            model,
            state: model.new_state(max_context)?,
            scratch: model.new_scratch(prefill_chunk(gpu), PREFILL_CHUNK)?,
            tokens: Vec::new(),
            pending: None,
            history: gpu.alloc(MemTag::Scratch, (max_context * 4) as u64, "token history")?,
            sampler: Sampler::new(gpu, model.cfg.vocab_size)?,
            max_context,
            profile: None,
        })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Tokens in the conversation so far, including a sampled token not yet fed.
    pub fn tokens(&self) -> Vec<u32> {
        self.tokens.iter().copied().chain(self.pending).collect()
    }

    /// Times every following submission per kernel family into `profile` (slower: it waits).
    pub fn set_profile(&mut self, profile: Option<SharedProfile>) {
        self.profile = profile;
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Forgets the conversation (caches reset to empty).
    pub fn reset(&mut self) -> Result<()> {
        self.state = self.model.new_state(self.max_context)?;
        self.tokens.clear();
        self.pending = None;
        Ok(())
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let vocab = self.model.cfg.vocab_size;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::Input(format!(
                "token id {bad} is out of range: the vocabulary has {vocab} entries (0..{})",
                vocab - 1
            )));
        }
        let total = self.tokens.len() + self.pending.is_some() as usize + ids.len();
        if total > self.max_context {
            return Err(Error::Input(format!(
                "the prompt is {} tokens; with the {} tokens already in the conversation that is {total}, \
                 past the context limit of {} tokens",
                ids.len(),
                total - ids.len(),
                self.max_context
            )));
        }
        Ok(())
    }

    /// Feeds `ids` (after any pending token) through the model in chunks of at most
    /// [`prefill_chunk`] tokens ([`PREFILL_CHUNK`] when every row's logits are kept); the last
    /// chunk writes `last_logits` rows and, with `sampling`, also samples the next token in the
    /// same submission and returns it (the only readback).
    fn feed(
        &mut self,
        ids: &[u32],
        last_logits: LogitRows,
        sampling: Option<&SamplingParams>,
    ) -> Result<Option<u32>> {
        let mut all: Vec<u32> = self.pending.take().into_iter().collect();
        all.extend_from_slice(ids);
        let gpu = self.model.gpu.clone();
        let vocab = self.model.cfg.vocab_size;
        let size = match last_logits {
            LogitRows::All => self.scratch.max_logit_rows,
            _ => self.scratch.max_tokens,
        };
        let n_chunks = all.len().div_ceil(size);
        for (i, chunk) in all.chunks(size).enumerate() {
            let last = i + 1 == n_chunks;
            gpu.write(&self.scratch.ids, 0, bytemuck::cast_slice(chunk));
            gpu.write(
                &self.history,
                (self.tokens.len() * 4) as u64,
                bytemuck::cast_slice(chunk),
            );
            let mut rec = Recorder::profiled(&gpu, self.profile.clone());
            let rows = if last { last_logits } else { LogitRows::None };
            self.model
                .forward(&mut rec, &mut self.state, &self.scratch, chunk.len(), rows)?;
            self.tokens.extend_from_slice(chunk);
            if let (true, Some(params)) = (last, sampling) {
                let step = self.tokens.len() as u64;
                let logits = self.scratch.logits.rows(vocab, 0);
                let hist = self.tokens.len();
                self.sampler
                    .record(&mut rec, logits, params, step, &self.history, hist)?;
                rec.submit()?;
                return Ok(Some(self.sampler.read(&gpu)?));
            }
            rec.submit()?;
        }
        Ok(None)
    }

    /// Appends tokens to the conversation without generating (e.g. a new user turn).
    pub fn prefill(&mut self, ids: &[u32]) -> Result<()> {
        self.check_ids(ids)?;
        self.feed(ids, LogitRows::Last, None)?;
        self.model.gpu.wait()
    }

    /// Logits (already divided by `logits_scaling`) at every position of `ids`, fed after the
    /// current conversation. Returns one row per id.
    pub fn logits_all(&mut self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.check_ids(ids)?;
        let vocab = self.model.cfg.vocab_size;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PREFILL_CHUNK) {
            self.feed(chunk, LogitRows::All, None)?;
            let flat: Vec<f32> =
                self.model
                    .gpu
                    .read(&self.scratch.logits.buf, 0, chunk.len() * vocab)?;
            out.extend(flat.chunks(vocab).map(|r| r.to_vec()));
        }
        Ok(out)
    }

    /// Prefills `prompt` after the current conversation, then generates up to
    /// `opts.max_new_tokens`, calling `on_token` for each token (return `Break` to stop).
    /// The generated tokens stay in the conversation, so a following call continues it.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        tokenizer: Option<&Tokenizer>,
        mut on_token: impl FnMut(TokenEvent) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        opts.sampling.validate()?;
        if opts.max_new_tokens == 0 {
            return Err(Error::Input("--max-new-tokens must be at least 1".into()));
        }
        if prompt.is_empty() && self.tokens.is_empty() && self.pending.is_none() {
            return Err(Error::Input(
                "the prompt is empty: give at least one token".into(),
            ));
        }
        self.check_ids(prompt)?;
        let t0 = Instant::now();
        let first = self.feed(prompt, LogitRows::Last, Some(&opts.sampling))?;
        let prompt_secs = t0.elapsed().as_secs_f64();
        let t_gen = Instant::now();
        let mut ahead = None;
        let decoded = self.decode(first, opts, tokenizer, &mut on_token, &mut ahead);
        if ahead.take().is_some() {
            self.rewind(self.state.pos - 1)?;
        }
        let (ids, text, stop) = decoded?;
        Ok(Outcome {
            token_ids: ids,
            text,
            stop,
            prompt_tokens: prompt.len(),
            prompt_secs,
            generated_secs: t_gen.elapsed().as_secs_f64(),
        })
    }

    /// Streams tokens from the first sampled one until a stop condition. `ahead` holds a step
    /// encoded before its input id was known; the caller rewinds it if it is left unsubmitted.
    fn decode(
        &mut self,
        mut next: Option<u32>,
        opts: &GenerateOptions,
        tokenizer: Option<&Tokenizer>,
        on_token: &mut impl FnMut(TokenEvent) -> ControlFlow<()>,
        ahead: &mut Option<Encoded<'m>>,
    ) -> Result<(Vec<u32>, String, StopReason)> {
        let mut decoder = tokenizer.map(|t| t.stream_decoder(false));
        let (mut ids, mut text) = (Vec::new(), String::new());
        let mut stop = StopReason::MaxTokens;
        let mut index = 0;
        while let Some(id) = next.take() {
            self.pending = Some(id);
            ids.push(id);
            if opts.stop_at_eos && self.is_eos(id, tokenizer) {
                stop = StopReason::Eos;
                break;
            }
            let piece = match decoder.as_mut() {
                Some(d) => d.push(id)?.unwrap_or_default(),
                None => String::new(),
            };
            let before = text.len();
            text.push_str(&piece);
            if let Some(cut) = opts
                .stop_strings
                .iter()
                .filter_map(|s| text.find(s.as_str()))
                .min()
            {
                text.truncate(cut);
                let _ = on_token(TokenEvent {
                    id,
                    text: &text[before.min(cut)..],
                    index,
                });
                stop = StopReason::StopString;
                break;
            }
            if on_token(TokenEvent {
                id,
                text: &piece,
                index,
            })
            .is_break()
            {
                stop = StopReason::Cancelled;
                break;
            }
            index += 1;
            if index == opts.max_new_tokens {
                break;
            }
            if self.tokens.len() + 1 >= self.max_context {
                return Err(Error::Input(format!(
                    "the conversation reached the context limit of {} tokens",
                    self.max_context
                )));
            }
            let more = index + 1 < opts.max_new_tokens;
            next = Some(self.step(&opts.sampling, ahead, more)?);
        }
        Ok((ids, text, stop))
    }

    fn is_eos(&self, id: u32, tokenizer: Option<&Tokenizer>) -> bool {
        self.model.cfg.eos_token_ids.contains(&id) || tokenizer.is_some_and(|t| t.is_eos(id))
    }
}
