//! Tokenizer loading, encoding with added tokens, EOS sets, and streaming decode of
//! multi-byte characters split across byte-level tokens.
mod loader_common;

use granite_engine::model_files::Tokenizer;
use loader_common::*;
use serde_json::json;

fn folder(tokenizer_config: serde_json::Value) -> TempDir {
    let dir = TempDir::new("tok");
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        tokenizer_config.to_string(),
    )
    .unwrap();
    dir
}

fn granite_like_config() -> serde_json::Value {
    json!({
        "add_bos_token": false,
        "bos_token": "<|end_of_text|>",
        "eos_token": {"content": "<|end_of_text|>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "__type": "AddedToken"},
        "pad_token": "<|pad|>",
        "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
        "tokenizer_class": "GPT2Tokenizer"
    })
}

#[test]
fn encode_matches_added_tokens_whole_without_bos() {
    let dir = folder(granite_like_config());
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    let ids = tok
        .encode("<|start_of_role|>he<|end_of_role|><tool_call>A<|end_of_text|>")
        .unwrap();
    assert_eq!(ids, vec![258, 256, 259, 260, b'A' as u32, 257]);
    assert_eq!(tok.encode("hi").unwrap(), vec![b'h' as u32, b'i' as u32]);
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "<|start_of_role|>he<|end_of_role|><tool_call>A<|end_of_text|>"
    );
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "he<tool_call>A",
        "only special tokens are skipped"
    );
    assert_eq!(tok.bos_token.as_deref(), Some("<|end_of_text|>"));
    assert_eq!(tok.eos_token.as_deref(), Some("<|end_of_text|>"));
    assert_eq!(tok.pad_token.as_deref(), Some("<|pad|>"));
    assert_eq!(tok.vocab_size(), 262);
}

#[test]
fn bos_is_prepended_only_when_configured() {
    let mut cfg = granite_like_config();
    cfg["add_bos_token"] = json!(true);
    let dir = folder(cfg);
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    assert_eq!(tok.encode("A").unwrap(), vec![257, b'A' as u32]);
}

#[test]
fn eos_set_merges_all_sources() {
    let dir = folder(granite_like_config());
    std::fs::write(
        dir.join("generation_config.json"),
        json!({"eos_token_id": [5, 6], "bos_token_id": 1}).to_string(),
    )
    .unwrap();
    let cfg = parse_config(&tiny_hybrid()); // eos 60
    let tok = Tokenizer::load(dir.path(), Some(&cfg)).unwrap();
    assert_eq!(tok.eos_ids, vec![5, 6, 60, 257]);
    assert!(tok.is_eos(257) && tok.is_eos(60) && !tok.is_eos(7));
    assert_eq!(tok.bos_id, Some(257));
}

#[test]
fn missing_or_corrupt_files() {
    let dir = TempDir::new("notok");
    assert_err_contains(
        Tokenizer::load(dir.path(), None),
        &["tokenizer.json", "not found"],
    );
    std::fs::write(dir.join("tokenizer.json"), "{\"model\": 3").unwrap();
    assert_err_contains(
        Tokenizer::load(dir.path(), None),
        &["tokenizer.json", "cannot parse"],
    );
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), "{oops").unwrap();
    assert_err_contains(
        Tokenizer::load(dir.path(), None),
        &["tokenizer_config.json", "invalid JSON"],
    );
    // Without tokenizer_config.json: loads, no template, no BOS.
    std::fs::remove_file(dir.join("tokenizer_config.json")).unwrap();
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    assert!(tok.chat_template.is_none() && !tok.add_bos_token);
    assert_eq!(tok.eos_ids, vec![257], "<|end_of_text|> is always an EOS");
}

#[test]
fn chat_template_sources() {
    let mut cfg = granite_like_config();
    cfg["chat_template"] =
        json!([{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]);
    let dir = folder(cfg);
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    assert_eq!(tok.chat_template.as_ref().unwrap().text, "D");
    std::fs::write(dir.join("chat_template.jinja"), "J").unwrap();
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    let src = tok.chat_template.unwrap();
    assert_eq!(src.text, "J");
    assert!(src.file.ends_with("chat_template.jinja"));
}

fn stream(tok: &Tokenizer, ids: &[u32], skip: bool) -> Vec<String> {
    let mut d = tok.stream_decoder(skip);
    let mut pieces = Vec::new();
    for &id in ids {
        if let Some(p) = d.push(tok, id).unwrap() {
            pieces.push(p);
        }
    }
    if let Some(p) = d.flush(tok).unwrap() {
        pieces.push(p);
    }
    pieces
}

#[test]
fn stream_decoder_holds_back_partial_utf8() {
    let dir = folder(granite_like_config());
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    let text = "hé 😀 naïve 日本<|end_of_text|>";
    let ids = tok.encode(text).unwrap();
    assert_eq!(tok.encode("😀").unwrap().len(), 4, "one token per byte");
    let pieces = stream(&tok, &ids, false);
    for p in &pieces {
        assert!(
            !p.contains('\u{FFFD}'),
            "piece {p:?} has a replacement character"
        );
    }
    assert_eq!(pieces.concat(), text);
    // The 4 bytes of 😀 arrive as 4 tokens but come out as one piece.
    assert!(pieces.iter().any(|p| p == "😀"), "{pieces:?}");
    assert_eq!(stream(&tok, &ids, true).concat(), "hé 😀 naïve 日本");
}

#[test]
fn stream_decoder_flushes_incomplete_tail() {
    let dir = folder(granite_like_config());
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    let ids = tok.encode("a€").unwrap(); // € = 3 bytes
    let mut d = tok.stream_decoder(false);
    assert_eq!(d.push(&tok, ids[0]).unwrap().as_deref(), Some("a"));
    assert_eq!(d.push(&tok, ids[1]).unwrap(), None);
    assert_eq!(d.push(&tok, ids[2]).unwrap(), None);
    assert_eq!(d.flush(&tok).unwrap().as_deref(), Some("\u{FFFD}"));
    assert_eq!(d.flush(&tok).unwrap(), None);
}
