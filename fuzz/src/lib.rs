//! Shared helpers of the fuzz targets: scratch folders, valid safetensors files, a tiny model,
//! a tiny tokenizer and the conversation the chat template is rendered with.
use std::path::{Path, PathBuf};

use granite_engine::model_files::ChatMessage;
use granite_engine::model_files::chat::{ChatOptions, ContentPart, MessageContent};
use serde_json::{Value, json};

/// A scratch folder private to this process, created on first use and reused by every input.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("granite-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `bytes` to `path`, panicking (a harness failure, not a finding) if that fails.
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes)
        .unwrap_or_else(|e| panic!("harness: write {}: {e}", path.display()));
}

/// Bytes per element of a safetensors dtype string (the ones the helpers write).
fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "F32" | "I32" | "U32" => 4,
        "BF16" | "F16" => 2,
        _ => 1,
    }
}

/// A tensor to write: name, safetensors dtype, shape.
pub type TensorDef<'a> = (&'a str, &'a str, &'a [usize]);

/// A well-formed safetensors file holding `tensors` with patterned data.
pub fn safetensors_bytes(tensors: &[TensorDef]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut data = Vec::new();
    for (name, dtype, shape) in tensors {
        let n = shape.iter().product::<usize>() * dtype_size(dtype);
        header.insert(
            name.to_string(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + n]}),
        );
        data.extend((0..n).map(|i| (i * 7 + 3) as u8));
    }
    let mut h = Value::Object(header).to_string();
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// config.json of a one-layer attention model small enough to write in full: vocab 4,
/// hidden 2, one head, no experts, tied embeddings.
pub const TINY_CONFIG: &str = r#"{"model_type": "granitemoehybrid", "vocab_size": 4,
 "hidden_size": 2, "num_hidden_layers": 1, "layer_types": ["attention"],
 "num_attention_heads": 1, "num_key_value_heads": 1, "num_local_experts": 0,
 "num_experts_per_tok": 0, "shared_intermediate_size": 2, "tie_word_embeddings": true,
 "position_embedding_type": "rope", "rope_theta": 10000.0}"#;

/// The shards of the tiny model as (file name, tensors). Every tensor TINY_CONFIG implies.
pub const TINY_SHARDS: [(&str, &[TensorDef]); 2] = [
    (
        "model-00001-of-00002.safetensors",
        &[
            ("model.embed_tokens.weight", "BF16", &[4, 2]),
            ("model.norm.weight", "BF16", &[2]),
            ("model.layers.0.input_layernorm.weight", "BF16", &[2]),
            (
                "model.layers.0.post_attention_layernorm.weight",
                "BF16",
                &[2],
            ),
            ("model.layers.0.self_attn.q_proj.weight", "BF16", &[2, 2]),
            ("model.layers.0.self_attn.k_proj.weight", "BF16", &[2, 2]),
        ],
    ),
    (
        "model-00002-of-00002.safetensors",
        &[
            ("model.layers.0.self_attn.v_proj.weight", "BF16", &[2, 2]),
            ("model.layers.0.self_attn.o_proj.weight", "F32", &[2, 2]),
            (
                "model.layers.0.shared_mlp.input_linear.weight",
                "F16",
                &[4, 2],
            ),
            (
                "model.layers.0.shared_mlp.output_linear.weight",
                "BF16",
                &[2, 2],
            ),
            ("model.layers.0.extra.weight", "U8", &[3]),
        ],
    ),
];

/// A byte-level BPE tokenizer.json (ids 0..255 the bytes, 256 the merge "he") with Granite's
/// special tokens, so a rendered prompt can be encoded.
pub fn tiny_tokenizer_json() -> String {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut vocab = serde_json::Map::new();
    let mut extra = 0;
    for b in 0..256u32 {
        let c = if printable.contains(&b) {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
        vocab.insert(c.to_string(), json!(b));
    }
    vocab.insert("he".into(), json!(256));
    let added: Vec<Value> = [
        "<|end_of_text|>",
        "<|start_of_role|>",
        "<|end_of_role|>",
        "<|pad|>",
        "<|unk|>",
        "<tool_call>",
        "</tool_call>",
    ]
    .iter()
    .enumerate()
    .map(|(i, content)| {
        json!({"id": 257 + i, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    })
    .collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": [["h", "e"]]}
    })
    .to_string()
}

/// A small conversation touching every template branch Granite uses: system, user, an
/// assistant tool call, a tool answer, list content, tools and documents, generation prompt.
pub fn conversation() -> (Vec<ChatMessage>, ChatOptions) {
    let call: granite_engine::model_files::chat::ToolCall = serde_json::from_value(json!({
        "type": "function", "id": "c1",
        "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}
    }))
    .expect("harness: tool call");
    let mut assistant = ChatMessage::assistant("");
    assistant.tool_calls = Some(vec![call]);
    assistant.content = None;
    let mut parts = ChatMessage::user("");
    parts.content = Some(MessageContent::Parts(vec![ContentPart {
        kind: "text".into(),
        text: Some("and tomorrow?".into()),
    }]));
    let messages = vec![
        ChatMessage::system("You are terse."),
        ChatMessage::user("Weather in Zürich? \"quoted\" <tag> & 1.5e-7"),
        assistant,
        ChatMessage::tool("{\"temp\": 21.5}"),
        parts,
    ];
    let opts = ChatOptions {
        tools: Some(vec![json!({
            "type": "function",
            "function": {"name": "get_weather", "description": "Forecast",
                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                         "required": ["city"]}}
        })]),
        documents: Some(vec![json!({"doc_id": 1, "title": "Doc", "text": "Body"})]),
        add_generation_prompt: true,
        extra: serde_json::Map::new(),
    };
    (messages, opts)
}

/// Every failure must name the file it is about.
pub fn assert_names(err: &granite_engine::Error, needle: &str) {
    let msg = err.to_string();
    assert!(
        msg.contains(needle),
        "error message does not name `{needle}`: {msg}"
    );
}
