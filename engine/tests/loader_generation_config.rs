//! `generation_config.json` → the default generation options, with transformers' semantics.
use std::path::Path;

use granite_engine::GenerationDefaults;

fn parse(text: &str) -> granite_engine::Result<GenerationDefaults> {
    GenerationDefaults::parse(text, Path::new("generation_config.json"))
}

#[test]
fn sampling_fields_become_the_default_options() {
    let d = parse(
        r#"{"do_sample": true, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1,
            "max_new_tokens": 64, "eos_token_id": 0, "transformers_version": "5.24.0"}"#,
    )
    .unwrap();
    let o = d.options();
    assert_eq!(o.sampling.temperature, 0.7);
    assert_eq!(o.sampling.top_p, 0.9);
    assert_eq!(
        o.sampling.top_k, 50,
        "transformers' top_k default when sampling"
    );
    assert_eq!(o.sampling.repetition_penalty, 1.1);
    assert_eq!(o.max_new_tokens, 64);
}

#[test]
fn without_do_sample_decoding_is_greedy() {
    for text in [
        r#"{"temperature": 0.7, "top_p": 0.5}"#,
        r#"{"do_sample": false, "temperature": 0.7}"#,
        "{}",
    ] {
        let o = parse(text).unwrap().options();
        assert_eq!(o.sampling.temperature, 0.0, "{text}");
        assert_eq!(o.max_new_tokens, 128, "{text}");
    }
    let o = parse(r#"{"repetition_penalty": 1.3}"#).unwrap().options();
    assert_eq!(
        o.sampling.repetition_penalty, 1.3,
        "greedy decoding keeps the penalty"
    );
}

#[test]
fn bad_values_name_the_field() {
    for (text, field) in [
        (r#"{"do_sample": "yes"}"#, "do_sample"),
        (r#"{"temperature": "hot"}"#, "temperature"),
        (r#"{"top_k": -1}"#, "top_k"),
        (r#"{"max_new_tokens": 1.5}"#, "max_new_tokens"),
        (r#"{"do_sample": true, "top_p": 0}"#, "top"),
        (r#"{"do_sample": true, "temperature": -1}"#, "temperature"),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(field), "{text}: {e}");
        assert!(e.contains("generation_config.json"), "{text}: {e}");
    }
    let e = parse("[1, 2]").unwrap_err().to_string();
    assert!(e.contains("JSON object"), "{e}");
    let e = parse("{\"do_sample\": tru").unwrap_err().to_string();
    assert!(e.contains("JSON"), "{e}");
}

#[test]
fn a_folder_without_the_file_has_no_defaults() {
    let dir = std::env::temp_dir().join(format!("granite-gencfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        GenerationDefaults::load(&dir).unwrap(),
        GenerationDefaults::default()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
