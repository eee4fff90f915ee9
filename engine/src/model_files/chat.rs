//! Renders the model's Jinja chat template with minijinja the way transformers'
//! `apply_chat_template` does, so the prompt tokens match the reference exactly:
//! `trim_blocks` + `lstrip_blocks`, variables `messages`, `tools`, `documents`,
//! `add_generation_prompt` and the special-token strings, the extras `raise_exception` and
//! `strftime_now`, a Python-compatible `tojson`, and Python string/dict methods (`.strip()`,
//! `.items()`, …) through minijinja-contrib's pycompat. JSON objects keep their key order, as
//! Python dicts do.
use std::path::{Path, PathBuf};

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, syntax::SyntaxConfig};
use serde::{Deserialize, Serialize};

use super::chat_filters::{JsonMap, raise_exception, strftime_now, tojson};
use super::tokenizer::Tokenizer;
use crate::{Error, Result};

pub use super::chat_filters::to_value;

/// One chat turn, serialized like the dicts transformers passes (absent fields are omitted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// A string, or a list of typed parts (`{"type": "text", "text": ...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub function: FunctionCall,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON object, or a string already holding JSON.
    pub arguments: serde_json::Value,
}

impl ChatMessage {
    pub fn new(role: &str, text: &str) -> Self {
        Self {
            role: role.into(),
            content: Some(MessageContent::Text(text.into())),
            tool_calls: None,
        }
    }
    pub fn system(text: &str) -> Self {
        Self::new("system", text)
    }
    pub fn user(text: &str) -> Self {
        Self::new("user", text)
    }
    pub fn assistant(text: &str) -> Self {
        Self::new("assistant", text)
    }
    pub fn tool(text: &str) -> Self {
        Self::new("tool", text)
    }
}

/// Everything besides the messages. `None` tools/documents are passed as `none`, like
/// transformers does.
#[derive(Clone, Debug, Default)]
pub struct ChatOptions {
    pub tools: Option<Vec<serde_json::Value>>,
    pub documents: Option<Vec<serde_json::Value>>,
    pub add_generation_prompt: bool,
    /// Extra template variables (transformers' `**kwargs`), e.g. `{"thinking": true}`.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

const NAME: &str = "chat_template";

/// The work one render may do, in minijinja fuel (one per instruction, plus one per 64 bytes of
/// data produced). A hostile template (10^10 loop iterations, exponential macro recursion,
/// gigabyte strings) stops with an "out of fuel" error instead of hanging or exhausting memory
/// (at most ~10^6 instructions or ~64 MB of produced data). The Granite template spends about
/// 60 per message, so even ten thousand messages fit.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Stack of the thread a template renders on. minijinja prints, compares and drops values
/// recursively, and within [`TEMPLATE_FUEL`] a template can nest a list ~120 000 deep (about
/// 8.5 fuel per level: `{% set ns.x = [ns.x] %}` in a loop). Printing that takes ~50 MB of
/// stack, which would overflow (and abort) a default 2–8 MiB thread. The reservation is only
/// touched by such templates.
const RENDER_STACK_BYTES: usize = 256 << 20;

/// Most bytes a render may write: 8 MiB, about 2 million tokens of prompt. minijinja charges
/// fuel for output only after a whole `{{ … }}` is written, and a lazily repeated list
/// (`(range(100000) | list) * 1000`) or a list sharing its items costs almost no fuel to build
/// but gigabytes to print, so the output itself is capped.
const MAX_PROMPT_BYTES: usize = 8 << 20;

/// Prints `{{ … }}` values like minijinja does, after checking that printing a container stays
/// within [`MAX_PROMPT_BYTES`]: minijinja keeps iterating a container after the output refused
/// a write, and a lazily repeated list has up to 10^8 items.
fn bounded_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    let mut budget = MAX_PROMPT_BYTES;
    if value.as_object().is_some() && !fits_printed(value, &mut budget) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "printing this value would exceed the prompt limit of {MAX_PROMPT_BYTES} bytes"
            ),
        ));
    }
    minijinja::escape_formatter(out, state, value)
}

/// Takes from `budget` what printing `v` writes at least (a string its quoted length, any other
/// scalar one byte, a container two per item for the separators, shared items each time they
/// appear); false once it runs out. It stops there, so it visits at most `budget / 2` items.
fn fits_printed(v: &Value, budget: &mut usize) -> bool {
    use minijinja::value::ObjectRepr;
    let Some(obj) = v.as_object() else {
        let cost = v.as_str().map_or(1, |s| s.len() + 2);
        return match budget.checked_sub(cost) {
            Some(left) => {
                *budget = left;
                true
            }
            None => false,
        };
    };
    let repr = obj.repr();
    // Objects without a length are printed without being iterated.
    let len = match (repr, obj.enumerator_len()) {
        (ObjectRepr::Seq | ObjectRepr::Iterable | ObjectRepr::Map, Some(len)) => len,
        _ => return fits_printed(&Value::from(()), budget),
    };
    match budget.checked_sub(len.saturating_mul(2).saturating_add(2)) {
        Some(left) => *budget = left,
        None => return false,
    }
    if repr == ObjectRepr::Map {
        obj.try_iter_pairs()
            .into_iter()
            .flatten()
            .all(|(k, v)| fits_printed(&k, budget) && fits_printed(&v, budget))
    } else {
        obj.try_iter()
            .into_iter()
            .flatten()
            .all(|item| fits_printed(&item, budget))
    }
}

/// The render target: refuses writes beyond [`MAX_PROMPT_BYTES`], which stops the render.
#[derive(Default)]
struct CappedOutput {
    buf: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + bytes.len() > MAX_PROMPT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("prompt too large"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A compiled chat template plus the special-token strings it receives.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    file: PathBuf,
    /// `bos_token`, `eos_token`, `pad_token`, `unk_token` variables (when known).
    pub special_tokens: Vec<(String, String)>,
}

impl ChatTemplate {
    /// Compiles `source`; `file` (tokenizer_config.json or chat_template.jinja) is named in
    /// errors. A syntax error is [`Error::Template`] with the line.
    pub fn new(source: &str, file: &Path) -> Result<Self> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| template_err(file, &e))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_formatter(bounded_formatter);
        // `{:#?}` of a deeply nested value is quadratic in its depth and is built before any
        // fuel is charged; transformers' sandbox has no `debug()` and templates never pprint.
        env.remove_filter("pprint");
        env.remove_global("debug");
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| template_err(file, &e))?;
        Ok(Self {
            env,
            file: file.to_path_buf(),
            special_tokens: Vec::new(),
        })
    }

    /// The tokenizer's template with its special-token strings.
    pub fn from_tokenizer(tok: &Tokenizer) -> Result<Self> {
        let Some(src) = &tok.chat_template else {
            let dir = tok.path().parent().unwrap_or(Path::new("."));
            return Err(Error::Template(format!(
                "{}: no chat_template (and no chat_template.jinja in {})",
                dir.join("tokenizer_config.json").display(),
                dir.display()
            )));
        };
        let mut t = Self::new(&src.text, &src.file)?;
        for (name, value) in [
            ("bos_token", &tok.bos_token),
            ("eos_token", &tok.eos_token),
            ("pad_token", &tok.pad_token),
            ("unk_token", &tok.unk_token),
        ] {
            if let Some(v) = value {
                t.special_tokens.push((name.into(), v.clone()));
            }
        }
        Ok(t)
    }

    /// Renders typed messages.
    pub fn render(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<String> {
        let msgs = serde_json::to_value(messages)
            .map_err(|e| Error::Template(format!("cannot convert messages: {e}")))?;
        self.render_value(&msgs, opts)
    }

    /// Renders messages given as JSON (a list of objects with any extra keys).
    pub fn render_json(
        &self,
        messages: &[serde_json::Value],
        opts: &ChatOptions,
    ) -> Result<String> {
        self.render_value(&serde_json::Value::Array(messages.to_vec()), opts)
    }

    fn render_value(&self, messages: &serde_json::Value, opts: &ChatOptions) -> Result<String> {
        let list = |v: &Option<Vec<serde_json::Value>>| match v {
            Some(items) => to_value(&serde_json::Value::Array(items.clone())),
            None => Value::from(()),
        };
        let mut ctx: Vec<(String, Value)> = self
            .special_tokens
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        ctx.extend(opts.extra.iter().map(|(k, v)| (k.clone(), to_value(v))));
        ctx.push(("messages".into(), to_value(messages)));
        ctx.push(("tools".into(), list(&opts.tools)));
        ctx.push(("documents".into(), list(&opts.documents)));
        ctx.push((
            "add_generation_prompt".into(),
            Value::from(opts.add_generation_prompt),
        ));
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| template_err(&self.file, &e))?;
        let ctx = Value::from_object(JsonMap(ctx));
        std::thread::scope(|scope| {
            let render = std::thread::Builder::new()
                .name("chat-template".into())
                .stack_size(RENDER_STACK_BYTES)
                // The error is converted on this thread too: minijinja's carries the template's
                // locals (debug info), whose drop may recurse as deeply as printing.
                .spawn_scoped(scope, || {
                    let mut out = CappedOutput::default();
                    match tmpl.render_captured_to(ctx, &mut out) {
                        Ok(_) => String::from_utf8(out.buf).map_err(|e| {
                            Error::Template(format!("{}: chat_template: {e}", self.file.display()))
                        }),
                        Err(_) if out.overflowed => Err(Error::Template(format!(
                            "{}: chat_template: the rendered prompt exceeds the limit of \
                             {MAX_PROMPT_BYTES} bytes",
                            self.file.display()
                        ))),
                        Err(e) => Err(template_err(&self.file, &e)),
                    }
                })
                .map_err(|e| {
                    Error::Template(format!(
                        "{}: cannot start the render thread: {e}",
                        self.file.display()
                    ))
                })?;
            render
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

fn template_err(file: &Path, e: &minijinja::Error) -> Error {
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    Error::Template(format!(
        "{}: chat_template{line}: {}{detail}",
        file.display(),
        e.kind()
    ))
}
