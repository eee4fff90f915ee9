//! Bytes as `tokenizer_config.json` next to a tiny valid tokenizer.json → `Tokenizer::load`,
//! `ChatTemplate::from_tokenizer`, rendering a small conversation with tools and documents,
//! and encoding the prompt. A hostile template must fail with a clear error (fuel limit,
//! recursion limit), never hang, crash or exhaust memory; every error must name the file.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use granite_engine::model_files::{ChatTemplate, Tokenizer};
use granite_fuzz::{assert_names, conversation, scratch_dir, tiny_tokenizer_json, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = scratch_dir("tok");
        write(
            &dir.join("tokenizer.json"),
            tiny_tokenizer_json().as_bytes(),
        );
        dir
    });
    write(&dir.join("tokenizer_config.json"), data);

    let tok = match Tokenizer::load(dir, None) {
        Ok(t) => t,
        Err(e) => return assert_names(&e, "tokenizer_config.json"),
    };
    assert!(
        tok.is_eos(257),
        "<|end_of_text|> must always end generation"
    );
    let template = match ChatTemplate::from_tokenizer(&tok) {
        Ok(t) => t,
        Err(e) => return assert_names(&e, "tokenizer_config.json"),
    };
    let (messages, opts) = conversation();
    match template.render(&messages, &opts) {
        Ok(prompt) => {
            tok.encode(&prompt).expect("encode the prompt");
        }
        Err(e) => assert_names(&e, "tokenizer_config.json"),
    }
});
