//! `POST /v1/chat/completions`: the whole conversation in, one assistant message out (streamed
//! or not), with Granite's `<tool_call>` blocks returned as `tool_calls`.
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use granite_engine::{ChatOptions, Input, Outcome};
use serde_json::{Value, json};

use super::Shared;
use super::stream::{self, Chunks, finish_reason, usage};
use crate::error::ApiError;
use crate::request::{ChatRequest, parse};
use crate::tool_calls::{self, Call, Piece, ToolCallParser};

/// An error becomes its OpenAI-shaped JSON response (`ApiError` is `IntoResponse`).
pub async fn handler(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse(&body.map_err(ApiError::from_body)?)?;
    req.check()?;
    state.check_model(&req.common.model)?;
    let options = ChatOptions {
        tools: req.template_tools(),
        add_generation_prompt: true,
        ..ChatOptions::default()
    };
    let (messages, opts) = (req.messages.clone(), options.clone());
    let prompt = state
        .blocking(move |e| e.encode(&e.render_chat(&messages, &opts)?))
        .await?;
    let context = state.scheduler.limits().context;
    let generation = req.common.generate_options(
        req.max_tokens(),
        prompt.len(),
        context,
        &state.model_sampling(),
    )?;
    let input = Input::Chat {
        messages: req.messages.clone(),
        options,
    };
    let n_prompt = prompt.len();
    let rx = state.submit(input, prompt, generation)?;
    let head = Head {
        id: state.response_id("chatcmpl"),
        created: super::unix_time(),
        model: state.model_id.clone(),
    };
    let tools = req.template_tools().is_some();
    if req.common.stream {
        let chunks = ChatChunks {
            head,
            prompt: n_prompt,
            include_usage: req.common.include_usage(),
            parser: tools.then(ToolCallParser::default),
            calls: 0,
        };
        return Ok(stream::sse(rx, chunks));
    }
    let (outcome, cached) = stream::collect(rx).await?;
    Ok(Json(message(&head, &outcome, cached, n_prompt, tools)).into_response())
}

/// What every response and chunk of one request repeats.
struct Head {
    id: String,
    created: u64,
    model: String,
}

impl Head {
    fn wrap(&self, object: &str, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": choices,
        })
    }
}

fn call_json(head: &Head, index: usize, call: &Call) -> Value {
    json!({
        "index": index,
        "id": format!("call_{}_{index}", head.id),
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    })
}

/// The non-streamed response.
fn message(head: &Head, outcome: &Outcome, cached: usize, prompt: usize, tools: bool) -> Value {
    let (text, calls) = if tools {
        tool_calls::split(&outcome.text)
    } else {
        (outcome.text.clone(), Vec::new())
    };
    let mut message = json!({"role": "assistant", "content": text});
    let mut finish = finish_reason(outcome.stop);
    if !calls.is_empty() {
        let text = text.trim();
        message["content"] = if text.is_empty() {
            Value::Null
        } else {
            text.into()
        };
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| call_json(head, i, c))
            .collect();
        message["tool_calls"] = calls.into();
        finish = "tool_calls";
    }
    let choice =
        json!([{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}]);
    let mut out = head.wrap("chat.completion", choice);
    out["usage"] = usage(prompt, outcome, cached);
    out
}

/// The streamed response's chunks.
struct ChatChunks {
    head: Head,
    prompt: usize,
    include_usage: bool,
    /// Present when the request gave tools.
    parser: Option<ToolCallParser>,
    calls: usize,
}

impl ChatChunks {
    fn delta(&self, delta: Value, finish: Option<&str>) -> Value {
        let choice =
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        self.head.wrap("chat.completion.chunk", choice)
    }

    fn pieces(&mut self, pieces: Vec<Piece>) -> Vec<Value> {
        let mut out = Vec::new();
        for p in pieces {
            match p {
                // Once a call was made, the blank lines between calls are not content.
                Piece::Text(t) if self.calls > 0 && t.trim().is_empty() => {}
                Piece::Text(t) => out.push(self.delta(json!({"content": t}), None)),
                Piece::Call(c) => {
                    let call = call_json(&self.head, self.calls, &c);
                    self.calls += 1;
                    out.push(self.delta(json!({"tool_calls": [call]}), None));
                }
            }
        }
        out
    }
}

impl Chunks for ChatChunks {
    fn opening(&mut self) -> Vec<Value> {
        vec![self.delta(json!({"role": "assistant", "content": ""}), None)]
    }

    fn text(&mut self, text: &str) -> Vec<Value> {
        match self.parser.as_mut() {
            Some(p) => {
                let pieces = p.push(text);
                self.pieces(pieces)
            }
            None => vec![self.delta(json!({"content": text}), None)],
        }
    }

    fn closing(&mut self, outcome: &Outcome, cached: usize) -> Vec<Value> {
        let rest = self
            .parser
            .as_mut()
            .map(ToolCallParser::finish)
            .unwrap_or_default();
        let mut out = self.pieces(rest);
        let finish = if self.calls > 0 {
            "tool_calls"
        } else {
            finish_reason(outcome.stop)
        };
        out.push(self.delta(json!({}), Some(finish)));
        if self.include_usage {
            let mut last = self.head.wrap("chat.completion.chunk", json!([]));
            last["usage"] = usage(self.prompt, outcome, cached);
            out.push(last);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use granite_engine::StopReason;

    fn outcome(text: &str) -> Outcome {
        Outcome {
            token_ids: vec![1, 2, 3],
            text: text.into(),
            stop: StopReason::Eos,
            prompt_tokens: 10,
            cached_tokens: 0,
            prompt_secs: 0.0,
            generated_secs: 0.0,
        }
    }

    fn head() -> Head {
        Head {
            id: "chatcmpl-1".into(),
            created: 0,
            model: "m".into(),
        }
    }

    const REPLY: &str = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bath\"}}\n</tool_call>";

    #[test]
    fn a_tool_call_reply_becomes_tool_calls_with_finish_reason_tool_calls() {
        let m = message(&head(), &outcome(REPLY), 4, 12, true);
        let choice = &m["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], r#"{"city":"Bath"}"#);
        assert_eq!(call["type"], "function");
        assert_eq!(m["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
        // Without tools in the request the same text is plain content.
        let plain = message(&head(), &outcome(REPLY), 0, 12, false);
        assert_eq!(plain["choices"][0]["message"]["content"], REPLY);
        assert_eq!(plain["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn streamed_tool_calls_carry_index_id_name_and_whole_arguments() {
        let mut c = ChatChunks {
            head: head(),
            prompt: 12,
            include_usage: true,
            parser: Some(ToolCallParser::default()),
            calls: 0,
        };
        let mut chunks = c.opening();
        for piece in [
            "Checking",
            " <tool",
            "_call>\n{\"name\": \"get_weather\", ",
            "\"arguments\": {\"city\": \"Bath\"}}\n</tool_call>",
        ] {
            chunks.extend(c.text(piece));
        }
        chunks.extend(c.closing(&outcome(REPLY), 0));
        let deltas: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| &c["delta"])
            .collect();
        assert_eq!(deltas[0]["role"], "assistant");
        let text: String = deltas
            .iter()
            .filter_map(|d| d["content"].as_str())
            .collect();
        assert_eq!(text, "Checking ");
        let calls: Vec<&Value> = deltas.iter().filter_map(|d| d.get("tool_calls")).collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0][0]["index"], 0);
        assert_eq!(calls[0][0]["id"], "call_chatcmpl-1_0");
        assert_eq!(calls[0][0]["function"]["arguments"], r#"{"city":"Bath"}"#);
        let finish = &chunks[chunks.len() - 2]["choices"][0]["finish_reason"];
        assert_eq!(finish, "tool_calls");
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
    }
}
