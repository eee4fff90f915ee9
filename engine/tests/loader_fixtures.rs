//! The reference fixtures (tests/fixtures, written by transformers): every config and
//! checkpoint loads, the tokenizer reproduces the prompt ids, the chat template reproduces
//! transformers' rendered strings exactly, and streaming decode reproduces the UTF-8 strings.
mod loader_common;

use granite_engine::model_files::inspect::{weights_from_config, weights_from_headers};
use granite_engine::model_files::{
    ChatOptions, ChatTemplate, LayerKind, ModelConfig, ModelWeights, Tokenizer,
};
use loader_common::fixtures_dir;
use serde_json::Value;

const MODELS: [&str; 4] = ["moe_nope", "dense_rope", "attn_only", "mamba_groups"];

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn every_fixture_loads_and_counts_match() {
    for name in MODELS {
        let dir = fixtures_dir().join(name);
        let cfg = ModelConfig::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let w = ModelWeights::open(&dir, &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            weights_from_headers(&cfg, w.infos()),
            weights_from_config(&cfg),
            "{name}: header counts differ from config formulas"
        );
        assert_eq!(cfg.vocab_size, 512, "{name}");
    }
}

#[test]
fn fixture_configs_have_the_documented_shape() {
    let load = |n: &str| ModelConfig::load(&fixtures_dir().join(n)).unwrap();
    use LayerKind::*;
    let m = load("moe_nope");
    assert_eq!(m.layer_types, vec![Mamba, Mamba, Attention, Mamba]);
    assert_eq!(m.rope_theta(), None, "rope_theta must be ignored for NoPE");
    assert!(m.has_experts() && m.tie_word_embeddings);
    let d = load("dense_rope");
    assert_eq!(
        (d.rope_theta(), d.num_key_value_heads, d.tie_word_embeddings),
        (Some(1e4), 1, false)
    );
    let a = load("attn_only");
    assert_eq!((a.rope_theta(), a.head_dim), (Some(1e7), 6));
    let g = load("mamba_groups");
    assert_eq!(
        (g.mamba_n_groups, g.d_inner(), g.mamba_chunk_size),
        (2, 112, 12)
    );
    assert_eq!(g.dt_clamp(), Some((0.05, 0.5)));
}

#[test]
fn transformers5_config_variants_parse_identically() {
    for name in ["moe_nope", "dense_rope", "attn_only"] {
        let variant = fixtures_dir().join(format!("config_variants/{name}.transformers5.json"));
        let a = ModelConfig::from_file(&variant).unwrap_or_else(|e| panic!("{e}"));
        let mut b = ModelConfig::load(&fixtures_dir().join(name)).unwrap();
        // The released layout has no time_step_limit; transformers 5 writes its (0, inf) default.
        assert_eq!(a.dt_clamp(), None, "{name}");
        b.time_step_limit = a.time_step_limit;
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn tokenizer_reproduces_prompt_ids() {
    for name in MODELS {
        let dir = fixtures_dir().join(name);
        let cfg = ModelConfig::load(&dir).unwrap();
        let tok = Tokenizer::load(&dir, Some(&cfg)).unwrap();
        let expected = read_json(&dir.join("expected.json"));
        let got = tok
            .encode(expected["prompt_text"].as_str().unwrap())
            .unwrap();
        assert_eq!(got, ids(&expected["prompt_ids"]), "{name}");
        assert!(tok.is_eos(461) && !tok.add_bos_token, "{name}");
        assert_eq!(
            tok.decode(&got, false).unwrap(),
            expected["prompt_text"].as_str().unwrap()
        );
    }
}

#[test]
fn chat_template_matches_transformers() {
    let dir = fixtures_dir().join("moe_nope");
    let tok = Tokenizer::load(&dir, None).unwrap();
    let tmpl = ChatTemplate::from_tokenizer(&tok).unwrap();
    let fixture = read_json(&fixtures_dir().join("chat_template.json"));
    let convs = fixture["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 13);
    for conv in convs {
        let name = conv["name"].as_str().unwrap();
        let list = |k: &str| conv[k].as_array().cloned();
        let opts = ChatOptions {
            tools: list("tools"),
            documents: list("documents"),
            add_generation_prompt: conv["add_generation_prompt"].as_bool().unwrap(),
            ..Default::default()
        };
        let got = tmpl
            .render_json(conv["messages"].as_array().unwrap(), &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, conv["expected"].as_str().unwrap(), "{name}");
        assert_eq!(tok.encode(&got).unwrap(), ids(&conv["ids"]), "{name}: ids");
    }
}

#[test]
fn typed_messages_render_like_json_messages() {
    let dir = fixtures_dir().join("moe_nope");
    let tok = Tokenizer::load(&dir, None).unwrap();
    let tmpl = ChatTemplate::from_tokenizer(&tok).unwrap();
    let fixture = read_json(&fixtures_dir().join("chat_template.json"));
    for conv in fixture["conversations"].as_array().unwrap() {
        let msgs: Vec<granite_engine::model_files::ChatMessage> =
            serde_json::from_value(conv["messages"].clone()).unwrap();
        let opts = ChatOptions {
            tools: conv["tools"].as_array().cloned(),
            documents: conv["documents"].as_array().cloned(),
            add_generation_prompt: conv["add_generation_prompt"].as_bool().unwrap(),
            ..Default::default()
        };
        assert_eq!(
            tmpl.render(&msgs, &opts).unwrap(),
            conv["expected"].as_str().unwrap()
        );
    }
}

#[test]
fn utf8_strings_stream_and_decode() {
    let dir = fixtures_dir().join("moe_nope");
    let tok = Tokenizer::load(&dir, None).unwrap();
    let fixture = read_json(&fixtures_dir().join("chat_template.json"));
    for s in fixture["utf8_strings"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        let want = ids(&s["ids"]);
        assert_eq!(tok.encode(text).unwrap(), want, "{text}");
        assert_eq!(
            tok.decode(&want, true).unwrap(),
            s["decode_skip_special"].as_str().unwrap()
        );
        let mut d = tok.stream_decoder(false);
        let mut out = String::new();
        for &id in &want {
            if let Some(piece) = d.push(&tok, id).unwrap() {
                assert!(!piece.contains('\u{FFFD}'), "{text}: piece {piece:?}");
                out.push_str(&piece);
            }
        }
        assert_eq!(
            d.flush(&tok).unwrap(),
            None,
            "{text}: nothing held back at the end"
        );
        assert_eq!(out, text);
    }
}
