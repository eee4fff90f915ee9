//! What chat and completions share: turning a job's events into SSE chunks (a keep-alive
//! comment per prefill chunk, `data: [DONE]` at the end) or waiting for its outcome, and the
//! `usage` and `finish_reason` fields.
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use granite_engine::{Outcome, StopReason};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::ApiError;
use crate::scheduler::JobEvent;

/// The chunks one endpoint streams.
pub trait Chunks: Send + 'static {
    /// Before any token (the chat's role delta).
    fn opening(&mut self) -> Vec<Value>;
    /// Newly generated text (never empty).
    fn text(&mut self, text: &str) -> Vec<Value>;
    /// The finish chunk, and the usage chunk when asked for.
    fn closing(&mut self, outcome: &Outcome, cached: usize) -> Vec<Value>;
}

fn data(v: &Value) -> Event {
    Event::default().data(v.to_string())
}

/// Where a stream stands between chunks.
struct Progress<C> {
    rx: UnboundedReceiver<JobEvent>,
    chunks: C,
    opened: bool,
}

/// Streams a job as server-sent events. Dropping the response (the client left) drops the
/// receiver, which the scheduler sees as a cancellation.
pub fn sse<C: Chunks>(rx: UnboundedReceiver<JobEvent>, chunks: C) -> Response {
    let start = Progress {
        rx,
        chunks,
        opened: false,
    };
    let events = stream::unfold(Some(start), |p| async move {
        let mut p = p?;
        if !p.opened {
            p.opened = true;
            let out: Vec<Event> = p.chunks.opening().iter().map(data).collect();
            return Some((out, Some(p)));
        }
        let (out, done) = match p.rx.recv().await {
            Some(JobEvent::Prefill) => (vec![Event::default().comment("keep-alive")], false),
            Some(JobEvent::Token(t)) if t.text.is_empty() => (Vec::new(), false),
            Some(JobEvent::Token(t)) => (p.chunks.text(&t.text).iter().map(data).collect(), false),
            Some(JobEvent::Done { outcome, cached }) => (
                p.chunks
                    .closing(&outcome, cached)
                    .iter()
                    .map(data)
                    .collect(),
                true,
            ),
            Some(JobEvent::Failed(e)) => (vec![data(&e.body())], true),
            None => (
                vec![data(&ApiError::internal("the scheduler stopped").body())],
                true,
            ),
        };
        if done {
            let mut out = out;
            out.push(Event::default().data("[DONE]"));
            return Some((out, None));
        }
        Some((out, Some(p)))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok::<_, Infallible>)));
    // While a request waits in the queue nothing else is sent: keep proxies from closing it.
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_secs(10))
        .text("keep-alive");
    Sse::new(events).keep_alive(keep_alive).into_response()
}

/// Waits for a job's outcome (a non-streamed response).
pub async fn collect(mut rx: UnboundedReceiver<JobEvent>) -> Result<(Outcome, usize), ApiError> {
    while let Some(event) = rx.recv().await {
        match event {
            JobEvent::Done { outcome, cached } => return Ok((outcome, cached)),
            JobEvent::Failed(e) => return Err(e),
            JobEvent::Prefill | JobEvent::Token(_) => {}
        }
    }
    Err(ApiError::internal("the scheduler stopped"))
}

/// OpenAI's `usage`: prompt tokens include the cached ones.
pub fn usage(prompt: usize, outcome: &Outcome, cached: usize) -> Value {
    let completion = outcome.token_ids.len();
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::Eos | StopReason::StopString | StopReason::Cancelled => "stop",
    }
}
