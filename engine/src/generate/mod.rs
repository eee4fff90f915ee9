//! Generation on one conversation's caches: prefill a prompt in chunks, then decode token by
//! token. The work is step-wise ([`Generator::begin`] / [`Generator::advance`]): each call
//! runs one prefill chunk or one decode step and returns what it produced, so a front end (or a
//! scheduler of many sessions) decides when the next bounded piece of GPU work runs.
//!
//! Each decode step is one command submission (the whole model plus sampling) and one 8-byte
//! readback: the sampled token id. A step reads its input id where the previous step's sampling
//! wrote it on the GPU, so the host records and encodes step t + 1 while the GPU runs step t
//! (on a fast GPU the host's encoding is a third of a token's time); the id is read back only
//! to stream it and test the stop conditions, and an encoded step that turns out not to be
//! needed is dropped and its position rewound.
use std::sync::Arc;

use crate::gpu::{Encoded, GpuBuffer, MemTag, Recorder, SharedProfile};
use crate::kernels::sampling::{Sampler, SamplingParams};
use crate::model::{LogitRows, Model, PREFILL_CHUNK, Scratch, State, prefill_chunk};
use crate::{Error, Result};

mod decode;
mod fork;
mod step;

pub use decode::{Decoding, Event};
pub use fork::GeneratorSnapshot;

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: SamplingParams,
    /// Stop when the decoded text contains any of these (the stop string is not emitted).
    pub stop_strings: Vec<String>,
    /// Stop on the model's end-of-text token(s).
    pub stop_at_eos: bool,
    /// Turn tokens into text as they stream (off: events carry ids only, as a bench or a
    /// client of token ids needs; stop strings then never match).
    pub detokenize: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 128,
            sampling: SamplingParams::default(),
            stop_strings: Vec::new(),
            stop_at_eos: true,
            detokenize: true,
        }
    }
}

/// One generated token, as it streams.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenEvent {
    pub id: u32,
    /// Newly complete text (may be empty while a multi-byte character is split across tokens).
    pub text: String,
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
    /// Prompt tokens fed (prefilled) for this generation.
    pub prompt_tokens: usize,
    /// Prompt tokens that were already in the caches and not prefilled again (a chat turn
    /// that extends the conversation).
    pub cached_tokens: usize,
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
pub struct Generator {
    model: Arc<Model>,
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
    /// A decode step encoded before its input id was known (see `step.rs`); its position is
    /// rewound when it turns out not to be needed.
    ahead: Option<Encoded>,
}

impl Generator {
    /// `max_context` tokens at most (capped by the model's limit); caches grow as needed.
    pub fn new(model: Arc<Model>, max_context: usize) -> Result<Self> {
        let max_context = max_context.min(model.context_limit()).max(1);
        let state = model.new_state(max_context)?;
        let history = model
            .gpu
            .alloc(MemTag::Scratch, (max_context * 4) as u64, "token history")?;
        Self::with_caches(model, state, history)
    }

    /// A conversation on caches and a token history already filled (a fork); the context is
    /// the caches'.
    fn with_caches(model: Arc<Model>, state: State, history: GpuBuffer) -> Result<Self> {
        let gpu = model.gpu.clone();
        Ok(Generator {
            max_context: state.max_context,
            state,
            scratch: model.new_scratch(prefill_chunk(&gpu), PREFILL_CHUNK)?,
            tokens: Vec::new(),
            pending: None,
            history,
            sampler: Sampler::new(&gpu, model.cfg.vocab_size)?,
            profile: None,
            ahead: None,
            model,
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tokens in the conversation so far, including a sampled token not yet fed.
    pub fn tokens(&self) -> Vec<u32> {
        self.tokens.iter().copied().chain(self.pending).collect()
    }

    /// How many [`tokens`](Self::tokens) there are, without collecting them.
    pub fn len(&self) -> usize {
        self.tokens.len() + self.pending.is_some() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Times every following submission per kernel family into `profile` (slower: it waits).
    pub fn set_profile(&mut self, profile: Option<SharedProfile>) {
        self.profile = profile;
    }

    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// GPU bytes of this conversation's caches: (KV cache, conv state, SSM state). Its
    /// activation scratch is counted under [`MemTag::Scratch`] only.
    pub fn cache_bytes(&self) -> [u64; 3] {
        let kv = self.state.kv.as_ref().map_or(0, |kv| kv.bytes());
        let conv = self.state.mamba.iter().map(|m| m.conv.buf.size()).sum();
        let ssm = self.state.mamba.iter().map(|m| m.ssm.buf.size()).sum();
        [kv, conv, ssm]
    }

    /// Forgets the conversation (caches reset to empty).
    pub fn reset(&mut self) -> Result<()> {
        self.ahead = None;
        self.state = self.model.new_state(self.max_context)?;
        self.tokens.clear();
        self.pending = None;
        Ok(())
    }

    /// Drops a step encoded ahead and rewinds its position (it never reached the GPU).
    fn drop_ahead(&mut self) -> Result<()> {
        if self.ahead.take().is_some() {
            self.rewind(self.state.pos - 1)?;
        }
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
        let total = self.len() + ids.len();
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

    /// Feeds one chunk (at most the scratch's size) through the model, writing `rows` of
    /// logits; with `sampling`, also samples the next token in the same submission and returns
    /// it (the only readback).
    fn feed_chunk(
        &mut self,
        chunk: &[u32],
        rows: LogitRows,
        sampling: Option<&SamplingParams>,
    ) -> Result<Option<u32>> {
        let gpu = self.model.gpu.clone();
        gpu.write(&self.scratch.ids, 0, bytemuck::cast_slice(chunk));
        gpu.write(
            &self.history,
            (self.tokens.len() * 4) as u64,
            bytemuck::cast_slice(chunk),
        );
        let mut rec = Recorder::profiled(&gpu, self.profile.clone());
        self.model
            .forward(&mut rec, &mut self.state, &self.scratch, chunk.len(), rows)?;
        self.tokens.extend_from_slice(chunk);
        let Some(params) = sampling else {
            rec.submit()?;
            return Ok(None);
        };
        let step = self.tokens.len() as u64;
        let logits = self.scratch.logits.rows(self.model.cfg.vocab_size, 0);
        let hist = self.tokens.len();
        self.sampler
            .record(&mut rec, logits, params, step, &self.history, hist)?;
        rec.submit()?;
        Ok(Some(self.sampler.read(&gpu)?))
    }

    /// The ids to feed next: a pending sampled token first, then `ids`.
    fn take_input(&mut self, ids: &[u32]) -> Result<Vec<u32>> {
        self.drop_ahead()?;
        self.check_ids(ids)?;
        let mut all: Vec<u32> = self.pending.take().into_iter().collect();
        all.extend_from_slice(ids);
        Ok(all)
    }

    /// Appends tokens to the conversation without generating (e.g. a new user turn).
    pub fn prefill(&mut self, ids: &[u32]) -> Result<()> {
        let all = self.take_input(ids)?;
        let size = self.scratch.max_tokens;
        let n = all.len().div_ceil(size);
        for (i, chunk) in all.chunks(size).enumerate() {
            let rows = if i + 1 == n {
                LogitRows::Last
            } else {
                LogitRows::None
            };
            self.feed_chunk(chunk, rows, None)?;
        }
        self.model.gpu.wait()
    }

    /// Logits (already divided by `logits_scaling`) at every position of `ids`, fed after the
    /// current conversation. Returns one row per id.
    pub fn logits_all(&mut self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        let all = self.take_input(ids)?;
        let skip = all.len() - ids.len(); // the pending token's row is not asked for
        let vocab = self.model.cfg.vocab_size;
        let mut out = Vec::with_capacity(all.len());
        for chunk in all.chunks(self.scratch.max_logit_rows) {
            self.feed_chunk(chunk, LogitRows::All, None)?;
            let flat: Vec<f32> =
                self.model
                    .gpu
                    .read(&self.scratch.logits.buf, 0, chunk.len() * vocab)?;
            out.extend(flat.chunks(vocab).map(|r| r.to_vec()));
        }
        Ok(out.split_off(skip))
    }
}
