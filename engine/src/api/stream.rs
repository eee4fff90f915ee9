//! A generation in progress, borrowed from its session: an iterator of [`Event`]s, one GPU
//! step per item.
use std::ops::ControlFlow;

use super::session::Session;
use crate::generate::{Event, Outcome, TokenEvent};
use crate::{Error, Result};

/// Streams one generation of a [`Session`] (see [`Session::generate`]). Each `next()` runs one
/// prefill chunk or one decode step; the last item is [`Event::Done`] with the outcome.
/// Dropping the stream early stops the generation: the tokens generated so far stay in the
/// conversation (and in a chat transcript).
pub struct Stream<'s> {
    session: &'s mut Session,
}

impl<'s> Stream<'s> {
    pub(crate) fn new(session: &'s mut Session) -> Self {
        Stream { session }
    }

    /// Ends the generation now and returns what it produced.
    pub fn cancel(self) -> Result<Outcome> {
        self.session
            .cancel()
            .unwrap_or_else(|| Err(Error::Input("the generation had already ended".into())))
    }

    /// Runs to the end, calling `on_token` with each token; `Break` stops the generation.
    pub fn run(self, mut on_token: impl FnMut(&TokenEvent) -> ControlFlow<()>) -> Result<Outcome> {
        while let Some(event) = self.session.step() {
            match event? {
                // Once a stop string or the token limit ended the generation, its `Done`
                // follows without GPU work and keeps that stop reason.
                Event::Token(t) => {
                    if on_token(&t).is_break() && !self.session.is_stopping() {
                        return self.cancel();
                    }
                }
                Event::Done(outcome) => return Ok(outcome),
                Event::Prefill { .. } => {}
            }
        }
        Err(Error::Input("the generation had already ended".into()))
    }
}

impl Iterator for Stream<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        self.session.step()
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        self.session.cancel();
    }
}
