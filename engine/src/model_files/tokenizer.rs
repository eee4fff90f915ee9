//! The tokenizer of a model folder: `tokenizer.json` through the `tokenizers` crate, plus the
//! bits of `tokenizer_config.json` (chat template, special-token strings, `add_bos_token`) and
//! `generation_config.json` (EOS ids) that decide how prompts are built and when to stop.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::ModelConfig;
use super::files::ModelFiles;
use super::json;
use crate::{Error, Result};

/// Granite's end-of-text token: BOS, EOS and the end of every chat turn.
pub const END_OF_TEXT: &str = "<|end_of_text|>";

/// Where the chat template came from (named in template errors).
#[derive(Clone, Debug)]
pub struct ChatTemplateSource {
    pub text: String,
    pub file: PathBuf,
}

/// A loaded tokenizer with the special tokens and EOS set of the model.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    /// Whether a BOS token is prepended by [`Tokenizer::encode`] (`add_bos_token`, default false).
    pub add_bos_token: bool,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
    pub bos_id: Option<u32>,
    /// Every id that ends generation, sorted.
    pub eos_ids: Vec<u32>,
    /// `chat_template.jinja` if present, else `tokenizer_config.json`'s `chat_template`.
    pub chat_template: Option<ChatTemplateSource>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("eos_ids", &self.eos_ids)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json` (required) and, when present, `tokenizer_config.json`,
    /// `chat_template.jinja` and `generation_config.json` from `dir`. `cfg` contributes its
    /// `eos_token_id`s and `bos_token_id`.
    pub fn load(dir: &Path, cfg: Option<&ModelConfig>) -> Result<Self> {
        Self::load_files(&ModelFiles::Dir(dir.to_path_buf()), cfg)
    }

    /// [`Tokenizer::load`] from a model's files, on disk or in memory.
    pub fn load_files(files: &ModelFiles, cfg: Option<&ModelConfig>) -> Result<Self> {
        let path = files.path("tokenizer.json");
        let Some(text) = files.text("tokenizer.json").map_err(|e| Error::Tokenizer {
            path: path.clone(),
            msg: e.to_string(),
        })?
        else {
            return Err(Error::Tokenizer {
                path,
                msg: "file not found (the model folder needs tokenizer.json)".into(),
            });
        };
        let inner: tokenizers::Tokenizer = text.parse().map_err(|e| Error::Tokenizer {
            path: path.clone(),
            msg: format!("cannot parse: {e}"),
        })?;

        let tc_path = files.path("tokenizer_config.json");
        let tc = match read_optional_json(files, "tokenizer_config.json")? {
            None => Value::Null,
            Some(v @ Value::Object(_)) => v,
            Some(v) => {
                let kind = match v {
                    Value::Null => "null",
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    _ => "a scalar",
                };
                return Err(Error::Format {
                    file: tc_path,
                    msg: format!("must be a JSON object, got {kind}"),
                });
            }
        };
        let token = |key: &str| token_string(tc.get(key));
        let (bos_token, eos_token, pad_token, unk_token) = (
            token("bos_token"),
            token("eos_token"),
            token("pad_token"),
            token("unk_token"),
        );
        let add_bos_token = tc
            .get("add_bos_token")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let chat_template = load_template(files, &tc_path, tc.get("chat_template"))?;

        let mut eos = BTreeSet::new();
        if let Some(cfg) = cfg {
            eos.extend(cfg.eos_token_ids.iter().copied());
        }
        if let Some(gen_cfg) = read_optional_json(files, "generation_config.json")? {
            match gen_cfg.get("eos_token_id") {
                Some(Value::Array(a)) => eos.extend(a.iter().filter_map(json::as_u32)),
                Some(v) => eos.extend(json::as_u32(v)),
                None => {}
            }
        }
        eos.extend(eos_token.as_deref().and_then(|t| inner.token_to_id(t)));
        eos.extend(inner.token_to_id(END_OF_TEXT));
        let bos_id = bos_token
            .as_deref()
            .and_then(|t| inner.token_to_id(t))
            .or(cfg.and_then(|c| c.bos_token_id));
        Ok(Self {
            inner,
            path,
            add_bos_token,
            bos_token,
            eos_token,
            pad_token,
            unk_token,
            bos_id,
            eos_ids: eos.into_iter().collect(),
            chat_template,
        })
    }

    fn err(&self, msg: String) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            msg,
        }
    }

    /// Tokenizes text as `apply_chat_template(tokenize=True)` does: added/special tokens in
    /// the text are matched whole, no post-processor template; a BOS is prepended only when
    /// `add_bos_token` is true (false for Granite).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| self.err(format!("encode failed: {e}")))?;
        let mut ids = Vec::with_capacity(enc.get_ids().len() + 1);
        if let (true, Some(bos)) = (self.add_bos_token, self.bos_id) {
            ids.push(bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Decodes ids to text; unknown ids are skipped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.err(format!("decode failed: {e}")))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Vocabulary size including added tokens (may be below the model's padded vocab_size).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_ids.binary_search(&id).is_ok()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying `tokenizers` object.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// A decoder that turns generated ids into text pieces as they arrive.
    pub fn stream_decoder(&self, skip_special_tokens: bool) -> StreamDecoder {
        StreamDecoder::new(skip_special_tokens)
    }
}

/// Incremental detokenizer. Byte-level BPE tokens can end in the middle of a multi-byte UTF-8
/// character; decoding such a prefix yields U+FFFD. So each step decodes a small window of
/// recent tokens and emits only the new text once it no longer ends in U+FFFD, holding back
/// the partial bytes until the tokens completing the character arrive. It holds no borrow of
/// the tokenizer (each call takes it), so a session can keep one between decode steps.
#[derive(Clone, Debug)]
pub struct StreamDecoder {
    ids: Vec<u32>,
    /// Start of the window re-decoded for context (so leading-space handling stays right).
    prefix_offset: usize,
    /// Tokens before this index have already been emitted.
    read_offset: usize,
    skip_special_tokens: bool,
}

impl StreamDecoder {
    pub fn new(skip_special_tokens: bool) -> Self {
        StreamDecoder {
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            skip_special_tokens,
        }
    }

    /// Adds one token; returns the newly completed text, if any.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        self.step(tok, false)
    }

    /// Emits whatever is still held back (possibly with U+FFFD for an incomplete character).
    pub fn flush(&mut self, tok: &Tokenizer) -> Result<Option<String>> {
        self.step(tok, true)
    }

    fn step(&mut self, tok: &Tokenizer, force: bool) -> Result<Option<String>> {
        if self.read_offset >= self.ids.len() {
            return Ok(None);
        }
        let skip = self.skip_special_tokens;
        let prefix = tok.decode(&self.ids[self.prefix_offset..self.read_offset], skip)?;
        let full = tok.decode(&self.ids[self.prefix_offset..], skip)?;
        if !force && (full.len() <= prefix.len() || full.ends_with('\u{FFFD}')) {
            return Ok(None);
        }
        let delta = match full.strip_prefix(prefix.as_str()) {
            Some(rest) => rest.to_string(),
            // A decoder that rewrites earlier text: emit from the first differing character.
            None => {
                let common: usize = full
                    .chars()
                    .zip(prefix.chars())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a.len_utf8())
                    .sum();
                full[common..].to_string()
            }
        };
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok((!delta.is_empty()).then_some(delta))
    }
}

/// A special-token value: a plain string or an AddedToken object `{"content": ...}`.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn read_optional_json(files: &ModelFiles, name: &str) -> Result<Option<Value>> {
    let Some(text) = files.text(name)? else {
        return Ok(None);
    };
    json::parse_python_json(&text)
        .map(Some)
        .map_err(|msg| Error::Format {
            file: files.path(name),
            msg: format!("invalid JSON: {msg}"),
        })
}

/// `chat_template.jinja` (newer transformers save it there, and it takes precedence), else the
/// `chat_template` of tokenizer_config.json: a string, or a list of `{name, template}` from
/// which the one named "default" is used.
fn load_template(
    files: &ModelFiles,
    tc_path: &Path,
    value: Option<&Value>,
) -> Result<Option<ChatTemplateSource>> {
    let jinja = "chat_template.jinja";
    if let Some(text) = files.text(jinja)? {
        let file = files.path(jinja);
        return Ok(Some(ChatTemplateSource { text, file }));
    }
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) => {
            let named = |name: &str| {
                list.iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|t| t.get("template")?.as_str())
            };
            match named("default") {
                Some(t) => t.to_string(),
                None => return Ok(None),
            }
        }
        Some(v) => {
            return Err(Error::Config {
                path: tc_path.to_path_buf(),
                field: "chat_template".into(),
                msg: format!("must be a string or a list of {{name, template}}, got {v}"),
            });
        }
    };
    Ok(Some(ChatTemplateSource {
        text,
        file: tc_path.to_path_buf(),
    }))
}
