//! A generation in progress: an iterator of [`Event`]s, one GPU step per item.
use std::ops::ControlFlow;

use super::session::Session;
use crate::Result;
use crate::generate::{Decoding, Event, Outcome, TokenEvent};
use crate::model_files::ChatMessage;

/// Streams one generation of a [`Session`]. Each `next()` runs one prefill chunk or one decode
/// step; the last item is [`Event::Done`] with the outcome. Dropping the stream early stops the
/// generation: the tokens generated so far stay in the conversation (and in a chat transcript).
pub struct Stream<'s> {
    session: &'s mut Session,
    decoding: Decoding,
    /// Prompt tokens the caches already held.
    cached: usize,
    /// Add the reply to the session's chat transcript when it ends.
    chat: bool,
}

impl<'s> Stream<'s> {
    pub(crate) fn new(
        session: &'s mut Session,
        decoding: Decoding,
        cached: usize,
        chat: bool,
    ) -> Self {
        Stream {
            session,
            decoding,
            cached,
            chat,
        }
    }

    /// Ends the generation now and returns what it produced.
    pub fn cancel(mut self) -> Result<Outcome> {
        self.stop()
    }

    /// Runs to the end, calling `on_token` with each token; `Break` stops the generation.
    pub fn run(
        mut self,
        mut on_token: impl FnMut(&TokenEvent) -> ControlFlow<()>,
    ) -> Result<Outcome> {
        while let Some(event) = self.next() {
            match event? {
                // Once a stop string or the token limit ended the generation, its `Done`
                // follows without GPU work and keeps that stop reason.
                Event::Token(t) => {
                    if on_token(&t).is_break() && !self.decoding.is_stopping() {
                        return self.stop();
                    }
                }
                Event::Done(outcome) => return Ok(outcome),
                Event::Prefill { .. } => {}
            }
        }
        Err(crate::Error::Input(
            "the generation had already ended".into(),
        ))
    }

    fn stop(&mut self) -> Result<Outcome> {
        let outcome = self.session.generator.cancel(&mut self.decoding);
        self.ended(outcome)
    }

    fn ended(&mut self, outcome: Result<Outcome>) -> Result<Outcome> {
        self.session.update_stats();
        let mut outcome = outcome?;
        outcome.cached_tokens = self.cached;
        if self.chat {
            let reply = ChatMessage::assistant(&outcome.text);
            self.session.messages.push(reply);
        }
        Ok(outcome)
    }
}

impl Iterator for Stream<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        let tokenizer = &self.session.shared.tokenizer;
        let event = self
            .session
            .generator
            .advance(&mut self.decoding, Some(tokenizer));
        match event {
            Ok(Some(Event::Done(outcome))) => Some(self.ended(Ok(outcome)).map(Event::Done)),
            Ok(Some(e)) => {
                self.session.update_stats();
                Some(Ok(e))
            }
            Ok(None) => None,
            Err(e) => {
                self.session.update_stats();
                Some(Err(e))
            }
        }
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        if !self.decoding.is_finished() {
            let _ = self.stop();
        }
    }
}
