//! The request bodies of `/v1/chat/completions` and `/v1/completions`: parsed with the path
//! of a badly typed field in the error, checked, and turned into the engine's options. Fields
//! OpenAI defines that change the answer but are not implemented here are refused by name;
//! fields nobody defines are ignored.
use granite_engine::{ChatMessage, GenerateOptions, MessageContent, SamplingParams};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Parses a JSON body into `T`, naming the field at fault when a type is wrong. `T` holds
/// the endpoint's own fields and [`Common`] the shared ones, each read from the same object
/// (serde's `flatten` would lose the field's path in the error).
pub fn parse<T: DeserializeOwned + HasCommon>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let common = typed(&value)?;
    let mut request: T = typed(&value)?;
    *request.common_mut() = common;
    Ok(request)
}

fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            // A missing field is reported at the top level; serde names it in the message.
            "." => ApiError::bad_request(e.inner().to_string()),
            _ => ApiError::invalid(&path, format!("`{path}`: {}", e.inner())),
        }
    })
}

/// A request body with the shared fields.
pub trait HasCommon {
    fn common_mut(&mut self) -> &mut Common;
}

impl HasCommon for ChatRequest {
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl HasCommon for CompletionRequest {
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

/// `stop`: one string or a list.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Debug, Default, Clone)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// What both endpoints share: sampling, limits, stop strings, streaming, and the fields
/// refused by name.
#[derive(Deserialize, Debug, Default)]
pub struct Common {
    pub model: String,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Extensions many servers accept (vLLM, llama.cpp).
    pub top_k: Option<u32>,
    pub repetition_penalty: Option<f32>,
    /// vLLM's extension: generate through end-of-text tokens (benchmarks, load tests).
    #[serde(default)]
    pub ignore_eos: bool,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logit_bias: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize, Debug)]
pub struct ChatRequest {
    #[serde(skip)]
    pub common: Common,
    pub messages: Vec<ChatMessage>,
    pub max_completion_tokens: Option<u32>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    pub response_format: Option<Value>,
}

/// `prompt`: text, token ids, or a one-element list of either.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Ids(Vec<u32>),
    Texts(Vec<String>),
    IdLists(Vec<Vec<u32>>),
}

#[derive(Deserialize, Debug)]
pub struct CompletionRequest {
    #[serde(skip)]
    pub common: Common,
    pub prompt: Prompt,
    pub logprobs: Option<u32>,
    pub echo: Option<bool>,
    pub best_of: Option<u32>,
    pub suffix: Option<String>,
}

const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

impl Common {
    fn refuse_unimplemented(&self) -> Result<(), ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::unsupported("n", "more than one choice"));
        }
        for (name, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if v.is_some_and(|v| v != 0.0) {
                return Err(ApiError::unsupported(name, "a non-zero value"));
            }
        }
        if self.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
            return Err(ApiError::unsupported("logit_bias", "a logit bias"));
        }
        Ok(())
    }

    pub fn stop_strings(&self) -> Result<Vec<String>, ApiError> {
        let stops = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stops.len() > 16 || stops.iter().any(|s| s.is_empty()) {
            return Err(ApiError::invalid(
                "stop",
                "`stop`: at most 16 non-empty strings",
            ));
        }
        Ok(stops)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// The engine's options for a prompt of `prompt` tokens in a `context`-token session:
    /// a prompt that leaves no room is refused; a token limit past the room is cut to it.
    /// Sampling fields the request leaves out follow `model`, the sampling the model's
    /// `generation_config.json` recommends (as vLLM does; without one: greedy).
    pub fn generate_options(
        &self,
        max_tokens: Option<u32>,
        prompt: usize,
        context: usize,
        model: &SamplingParams,
    ) -> Result<GenerateOptions, ApiError> {
        // The session needs one slot past the prompt for each generated token but the last.
        let room = context.saturating_sub(prompt + 1);
        if room == 0 {
            return Err(ApiError::context_exceeded(prompt, context));
        }
        if max_tokens == Some(0) {
            return Err(ApiError::invalid(
                "max_tokens",
                "`max_tokens` must be at least 1",
            ));
        }
        let temperature = self.temperature.unwrap_or(model.temperature);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                "temperature",
                "`temperature` must be in [0, 2]",
            ));
        }
        let sampling = SamplingParams {
            temperature,
            top_k: self.top_k.unwrap_or(model.top_k),
            top_p: self.top_p.unwrap_or(model.top_p),
            repetition_penalty: self.repetition_penalty.unwrap_or(model.repetition_penalty),
            seed: self.seed.map_or_else(random_seed, |s| s as u64),
        };
        sampling.validate().map_err(|e| {
            let param = if e.to_string().starts_with("top-p") {
                "top_p"
            } else {
                "temperature"
            };
            ApiError::invalid(param, e.to_string())
        })?;
        Ok(GenerateOptions {
            max_new_tokens: max_tokens.map_or(room, |m| (m as usize).min(room)),
            sampling,
            stop_strings: self.stop_strings()?,
            stop_at_eos: !self.ignore_eos,
            detokenize: true,
        })
    }
}

/// A seed for a request that names none: different per request, as OpenAI's sampling is.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u128(now.map_or(0, |d| d.as_nanos()));
    h.finish()
}

impl ChatRequest {
    /// Checks what the engine cannot: roles, content kinds, the refused fields.
    pub fn check(&self) -> Result<(), ApiError> {
        self.common.refuse_unimplemented()?;
        if self.top_logprobs.is_some() || self.logprobs == Some(true) {
            return Err(ApiError::unsupported(
                "logprobs",
                "returning log probabilities",
            ));
        }
        let format = self.response_format.as_ref();
        if format.is_some_and(|f| f.get("type").and_then(Value::as_str) != Some("text")) {
            return Err(ApiError::unsupported(
                "response_format",
                "a format other than text",
            ));
        }
        if let Some(c) = &self.tool_choice
            && !(c == "auto" || c == "none")
        {
            return Err(ApiError::unsupported(
                "tool_choice",
                "a choice other than auto or none",
            ));
        }
        self.check_messages()
    }

    fn check_messages(&self) -> Result<(), ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid(
                "messages",
                "`messages` must not be empty",
            ));
        }
        for (i, m) in self.messages.iter().enumerate() {
            if !ROLES.contains(&m.role.as_str()) {
                return Err(ApiError::invalid(
                    &format!("messages[{i}].role"),
                    format!("role `{}` is not one of {ROLES:?}", m.role),
                ));
            }
            if let Some(MessageContent::Parts(parts)) = &m.content
                && parts.iter().any(|p| p.kind != "text")
            {
                return Err(ApiError::unsupported(
                    &format!("messages[{i}].content"),
                    "content other than text",
                ));
            }
        }
        Ok(())
    }

    /// The tools the template should see: none when `tool_choice` is "none".
    pub fn template_tools(&self) -> Option<Vec<Value>> {
        let tools = self.tools.clone().filter(|t| !t.is_empty())?;
        (self.tool_choice.as_ref() != Some(&Value::from("none"))).then_some(tools)
    }

    pub fn max_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.common.max_tokens)
    }
}

impl CompletionRequest {
    pub fn check(&self) -> Result<(), ApiError> {
        self.common.refuse_unimplemented()?;
        if self.logprobs.is_some() {
            return Err(ApiError::unsupported(
                "logprobs",
                "returning log probabilities",
            ));
        }
        if self.echo == Some(true) {
            return Err(ApiError::unsupported("echo", "echoing the prompt"));
        }
        if self.best_of.is_some_and(|b| b != 1) {
            return Err(ApiError::unsupported("best_of", "more than one candidate"));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::unsupported("suffix", "a suffix"));
        }
        Ok(())
    }

    /// The one prompt, as text or ids.
    pub fn single_prompt(&self) -> Result<Result<String, Vec<u32>>, ApiError> {
        let many = || ApiError::unsupported("prompt", "more than one prompt per request");
        match &self.prompt {
            Prompt::Text(t) => Ok(Ok(t.clone())),
            Prompt::Ids(ids) => Ok(Err(ids.clone())),
            Prompt::Texts(v) if v.len() == 1 => Ok(Ok(v[0].clone())),
            Prompt::IdLists(v) if v.len() == 1 => Ok(Err(v[0].clone())),
            _ => Err(many()),
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
