//! Step-wise generation: [`Generator::begin`] checks a request and queues its prompt, and
//! [`Generator::advance`] runs one prefill chunk or one decode step per call and says what
//! came of it (the front door's `Stream` drives the two to the end).
use std::time::Instant;

use super::{GenerateOptions, Generator, Outcome, StopReason, TokenEvent};
use crate::model::LogitRows;
use crate::model_files::{StreamDecoder, Tokenizer};
use crate::{Error, Result};

/// What one [`Generator::advance`] produced.
#[derive(Clone, Debug)]
pub enum Event {
    /// A prefill chunk ran: `done` of `total` prompt tokens are in the caches.
    Prefill { done: usize, total: usize },
    /// A generated token.
    Token(TokenEvent),
    /// The generation ended; no more events follow.
    Done(Outcome),
}

enum Phase {
    /// Prompt ids still to feed, from `done` on.
    Prefill { ids: Vec<u32>, done: usize },
    /// `next` is the id sampled by the last submission (None: sample one more step first).
    Decode { next: Option<u32> },
    /// The last token was streamed; the next call reports `Done`.
    Stopping(StopReason),
    Finished,
}

/// One generation in progress on a [`Generator`] (pass it back to the same generator).
pub struct Decoding {
    opts: GenerateOptions,
    phase: Phase,
    decoder: StreamDecoder,
    ids: Vec<u32>,
    text: String,
    prompt_tokens: usize,
    started: Instant,
    prompt_secs: f64,
    decode_started: Option<Instant>,
}

impl Decoding {
    /// The last token was streamed (a stop string, the token limit); `Done` comes next.
    pub fn is_stopping(&self) -> bool {
        matches!(self.phase, Phase::Stopping(_))
    }
}

impl Generator {
    /// Checks `opts` and `prompt` and queues the prompt (after any pending sampled token) for
    /// the following [`advance`](Self::advance) calls. Nothing runs on the GPU yet.
    pub fn begin(&mut self, prompt: &[u32], opts: &GenerateOptions) -> Result<Decoding> {
        opts.sampling.validate()?;
        if opts.max_new_tokens == 0 {
            return Err(Error::Input("max_new_tokens must be at least 1".into()));
        }
        if prompt.is_empty() && self.pending.is_none() {
            return Err(Error::Input(
                "the prompt is empty: give at least one token".into(),
            ));
        }
        let ids = self.take_input(prompt)?;
        Ok(Decoding {
            opts: opts.clone(),
            phase: Phase::Prefill { ids, done: 0 },
            decoder: StreamDecoder::new(false),
            ids: Vec::new(),
            text: String::new(),
            prompt_tokens: prompt.len(),
            started: Instant::now(),
            prompt_secs: 0.0,
            decode_started: None,
        })
    }

    /// Runs the next piece of `d`: one prefill chunk or one decode step. Returns `None` once
    /// `d` has finished. On an error the generation ends (the caches keep what ran).
    pub fn advance(
        &mut self,
        d: &mut Decoding,
        tokenizer: Option<&Tokenizer>,
    ) -> Result<Option<Event>> {
        let r = self.advance_inner(d, tokenizer);
        if r.is_err() {
            d.phase = Phase::Finished;
            self.drop_ahead()?;
        }
        r
    }

    /// Ends `d` now (the caller stopped reading) and returns what it generated.
    pub fn cancel(&mut self, d: &mut Decoding) -> Result<Outcome> {
        self.finish(d, StopReason::Cancelled)
    }

    fn advance_inner(
        &mut self,
        d: &mut Decoding,
        tokenizer: Option<&Tokenizer>,
    ) -> Result<Option<Event>> {
        match &mut d.phase {
            Phase::Finished => Ok(None),
            Phase::Stopping(stop) => {
                let stop = *stop;
                self.finish(d, stop).map(|o| Some(Event::Done(o)))
            }
            Phase::Prefill { ids, done } => {
                let total = ids.len();
                let end = (*done + self.scratch.max_tokens).min(total);
                let chunk = ids[*done..end].to_vec();
                *done = end;
                let last = end == total;
                let sampling = last.then_some(&d.opts.sampling);
                let rows = if last {
                    LogitRows::Last
                } else {
                    LogitRows::None
                };
                let first = self.feed_chunk(&chunk, rows, sampling)?;
                if last {
                    d.prompt_secs = d.started.elapsed().as_secs_f64();
                    d.decode_started = Some(Instant::now());
                    d.phase = Phase::Decode { next: first };
                }
                Ok(Some(Event::Prefill { done: end, total }))
            }
            Phase::Decode { next } => {
                let id = match next.take() {
                    Some(id) => id,
                    None => {
                        if self.tokens.len() + 1 >= self.max_context {
                            return Err(Error::Input(format!(
                                "the conversation reached the context limit of {} tokens",
                                self.max_context
                            )));
                        }
                        let more = d.ids.len() + 1 < d.opts.max_new_tokens;
                        self.step(&d.opts.sampling, more)?
                    }
                };
                self.token(d, id, tokenizer).map(Some)
            }
        }
    }

    /// Streams the sampled `id` and decides whether the generation goes on.
    fn token(&mut self, d: &mut Decoding, id: u32, tok: Option<&Tokenizer>) -> Result<Event> {
        self.pending = Some(id);
        d.ids.push(id);
        let index = d.ids.len() - 1;
        if d.opts.stop_at_eos && self.is_eos(id, tok) {
            return self.finish(d, StopReason::Eos).map(Event::Done);
        }
        let piece = match tok.filter(|_| d.opts.detokenize) {
            Some(t) => d.decoder.push(t, id)?.unwrap_or_default(),
            None => String::new(),
        };
        let before = d.text.len();
        d.text.push_str(&piece);
        let cut = d
            .opts
            .stop_strings
            .iter()
            .filter_map(|s| d.text.find(s.as_str()))
            .min();
        let (text, stop) = match cut {
            Some(cut) => {
                d.text.truncate(cut);
                let text = d.text[before.min(cut)..].to_string();
                (text, Some(StopReason::StopString))
            }
            None if d.ids.len() == d.opts.max_new_tokens => (piece, Some(StopReason::MaxTokens)),
            None => (piece, None),
        };
        d.phase = match stop {
            Some(stop) => Phase::Stopping(stop),
            None => Phase::Decode { next: None },
        };
        Ok(Event::Token(TokenEvent { id, text, index }))
    }

    fn finish(&mut self, d: &mut Decoding, stop: StopReason) -> Result<Outcome> {
        d.phase = Phase::Finished;
        self.drop_ahead()?;
        Ok(Outcome {
            token_ids: std::mem::take(&mut d.ids),
            text: std::mem::take(&mut d.text),
            stop,
            prompt_tokens: d.prompt_tokens,
            cached_tokens: 0,
            prompt_secs: d.prompt_secs,
            generated_secs: d.decode_started.map_or(0.0, |t| t.elapsed().as_secs_f64()),
        })
    }

    fn is_eos(&self, id: u32, tokenizer: Option<&Tokenizer>) -> bool {
        self.model.cfg.eos_token_ids.contains(&id) || tokenizer.is_some_and(|t| t.is_eos(id))
    }
}
