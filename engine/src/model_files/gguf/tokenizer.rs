//! The `tokenizer.ggml.*` keys rebuilt into a `tokenizers` tokenizer (spec §3.2): a
//! tokenizer.json is synthesised in memory (byte-level BPE with the cl100k split the `dbrx`
//! pre-tokenizer names) so the folder path and the GGUF path share one loader.
use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::file::GgufFile;
use crate::model_files::tokenizer::{ChatTemplateSource, END_OF_TEXT, Tokenizer};
use crate::{Error, Result};

/// The split regex of llama.cpp's `dbrx` / `llama-bpe` / `smaug-bpe` pre-tokenizers (cl100k).
const CL100K: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const PRE_TOKENIZERS: [&str; 3] = ["dbrx", "llama-bpe", "smaug-bpe"];

/// ggml token types.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

fn err(f: &GgufFile, msg: String) -> Error {
    Error::Tokenizer {
        path: f.path().to_path_buf(),
        msg,
    }
}

impl Tokenizer {
    /// Builds the tokenizer, special ids and chat template stored in a GGUF file.
    pub fn from_gguf(f: &GgufFile) -> Result<Tokenizer> {
        let model = f.string("tokenizer.ggml.model")?.unwrap_or("");
        let pre = f.string("tokenizer.ggml.pre")?.unwrap_or("");
        if model != "gpt2" || !PRE_TOKENIZERS.contains(&pre) {
            return Err(err(
                f,
                format!(
                    "unsupported tokenizer: tokenizer.ggml.model = {model:?}, pre = {pre:?} (supported: gpt2 with {PRE_TOKENIZERS:?})"
                ),
            ));
        }
        let tokens = f
            .str_array("tokenizer.ggml.tokens")?
            .ok_or_else(|| err(f, "tokenizer.ggml.tokens missing".into()))?;
        if tokens.is_empty() {
            return Err(err(f, "tokenizer.ggml.tokens is empty".into()));
        }
        let types = f
            .uint_array("tokenizer.ggml.token_type", tokens.len(), 6)?
            .ok_or_else(|| err(f, "tokenizer.ggml.token_type missing".into()))?;
        if let Some(i) = types.iter().position(|&t| t == 0) {
            return Err(err(
                f,
                format!("tokenizer.ggml.token_type[{i}] = 0 (types are 1..=6)"),
            ));
        }
        let merges = f.str_array("tokenizer.ggml.merges")?.unwrap_or_default();
        let json = tokenizer_json(f, &tokens, &types, &merges)?;
        let bytes = serde_json::to_vec(&json)
            .map_err(|e| err(f, format!("cannot build tokenizer.json: {e}")))?;
        let inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| err(f, format!("cannot build the tokenizer: {e}")))?;
        let id = |key: &str| -> Result<Option<u32>> {
            match f.uint(key, u32::MAX.into())? {
                Some(v) if v as usize >= tokens.len() => Err(f.key_err(
                    key,
                    format!("{v} is not a token id (vocabulary of {})", tokens.len()),
                )),
                v => Ok(v.map(|v| v as u32)),
            }
        };
        let (bos_id, eos_id) = (
            id("tokenizer.ggml.bos_token_id")?,
            id("tokenizer.ggml.eos_token_id")?,
        );
        let (pad_id, unk_id) = (
            id("tokenizer.ggml.padding_token_id")?,
            id("tokenizer.ggml.unknown_token_id")?,
        );
        let eot_id = id("tokenizer.ggml.eot_token_id")?;
        let text = |i: Option<u32>| i.map(|i| tokens[i as usize].to_string());
        let mut eos: BTreeSet<u32> = eos_id.into_iter().chain(eot_id).collect();
        eos.extend(inner.token_to_id(END_OF_TEXT));
        let chat_template = f
            .string("tokenizer.chat_template")?
            .map(|t| ChatTemplateSource {
                text: t.to_string(),
                file: f.path().to_path_buf(),
            });
        Ok(Tokenizer {
            inner,
            path: f.path().to_path_buf(),
            add_bos_token: f.boolean("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
            bos_token: text(bos_id),
            eos_token: text(eos_id),
            pad_token: text(pad_id),
            unk_token: text(unk_id),
            bos_id,
            eos_ids: eos.into_iter().collect(),
            chat_template,
        })
    }
}

/// The in-memory tokenizer.json: vocab and merges from the file, CONTROL tokens as special
/// added tokens, USER_DEFINED as non-special added tokens.
fn tokenizer_json(f: &GgufFile, tokens: &[&str], types: &[u64], merges: &[&str]) -> Result<Value> {
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, (&tok, &ty)) in tokens.iter().zip(types).enumerate() {
        if tok.is_empty() {
            return Err(err(f, format!("token {id} is an empty string")));
        }
        if vocab.insert(tok.to_string(), json!(id)).is_some() {
            return Err(err(
                f,
                format!("token {tok:?} (id {id}) appears twice in tokenizer.ggml.tokens"),
            ));
        }
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(json!({
                "id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty == CONTROL,
            }));
        }
    }
    let mut pairs = Vec::with_capacity(merges.len());
    let mut seen = HashSet::new();
    for (i, m) in merges.iter().enumerate() {
        let Some((a, b)) = m
            .split_once(' ')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains(' '))
        else {
            return Err(err(
                f,
                format!(
                    "tokenizer.ggml.merges[{i}] = {m:?} is not two tokens separated by one space"
                ),
            ));
        };
        if !seen.insert(*m) {
            return Err(err(
                f,
                format!("tokenizer.ggml.merges[{i}] = {m:?} appears twice"),
            ));
        }
        pairs.push(json!([a, b]));
    }
    let byte_level = |trim: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": trim, "use_regex": false});
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CL100K}, "behavior": "Isolated", "invert": false},
            byte_level(true),
        ]},
        "post_processor": null,
        "decoder": byte_level(true),
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": pairs,
        },
    }))
}
