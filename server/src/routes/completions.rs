//! `POST /v1/completions`: a raw continuation of a prompt given as text or token ids.
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use granite_engine::{Input, Outcome};
use serde_json::{Value, json};

use super::Shared;
use super::stream::{self, Chunks, finish_reason, usage};
use crate::error::ApiError;
use crate::request::{CompletionRequest, parse};

/// An error becomes its OpenAI-shaped JSON response (`ApiError` is `IntoResponse`).
pub async fn handler(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: CompletionRequest = parse(&body.map_err(ApiError::from_body)?)?;
    req.check()?;
    state.check_model(&req.common.model)?;
    let prompt = match req.single_prompt()? {
        Ok(text) => state.blocking(move |e| e.encode(&text)).await?,
        Err(ids) => ids,
    };
    if prompt.is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty"));
    }
    // Checked here, not when the job starts, so a streamed request gets its 400 too.
    let vocab = state.engine.config().vocab_size;
    if let Some(bad) = prompt.iter().find(|&&id| id as usize >= vocab) {
        let msg = format!("token id {bad} is past the vocabulary ({vocab} entries)");
        return Err(ApiError::invalid("prompt", msg));
    }
    let context = state.scheduler.limits().context;
    let generation = req
        .common
        .generate_options(
            req.common.max_tokens.or(Some(16)),
            prompt.len(),
            context,
            &state.model_sampling(),
        )
        .map_err(|mut e| {
            if e.code == Some("context_length_exceeded") {
                e.param = Some("prompt".into());
            }
            e
        })?;
    let n_prompt = prompt.len();
    let rx = state.submit(Input::Tokens(prompt.clone()), prompt, generation)?;
    let head = json!({
        "id": state.response_id("cmpl"),
        "object": "text_completion",
        "created": super::unix_time(),
        "model": state.model_id,
    });
    if req.common.stream {
        let chunks = CompletionChunks {
            head,
            prompt: n_prompt,
            include_usage: req.common.include_usage(),
        };
        return Ok(stream::sse(rx, chunks));
    }
    let (outcome, cached) = stream::collect(rx).await?;
    let mut out = choice(&head, &outcome.text, Some(finish_reason(outcome.stop)));
    out["usage"] = usage(n_prompt, &outcome, cached);
    Ok(Json(out).into_response())
}

fn choice(head: &Value, text: &str, finish: Option<&str>) -> Value {
    let mut out = head.clone();
    out["choices"] = json!([{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]);
    out
}

struct CompletionChunks {
    head: Value,
    prompt: usize,
    include_usage: bool,
}

impl Chunks for CompletionChunks {
    fn opening(&mut self) -> Vec<Value> {
        Vec::new()
    }

    fn text(&mut self, text: &str) -> Vec<Value> {
        vec![choice(&self.head, text, None)]
    }

    fn closing(&mut self, outcome: &Outcome, cached: usize) -> Vec<Value> {
        let mut out = vec![choice(&self.head, "", Some(finish_reason(outcome.stop)))];
        if self.include_usage {
            let mut last = self.head.clone();
            last["choices"] = json!([]);
            last["usage"] = usage(self.prompt, outcome, cached);
            out.push(last);
        }
        out
    }
}
