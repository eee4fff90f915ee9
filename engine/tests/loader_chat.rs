//! Chat-template rendering: transformers' environment (trim/lstrip blocks, tojson, extras,
//! Python string methods) and template errors.
mod loader_common;

use std::path::Path;

use granite_engine::model_files::chat::{ContentPart, FunctionCall, MessageContent, ToolCall};
use granite_engine::model_files::pyfmt::{float_repr, strftime};
use granite_engine::model_files::{ChatMessage, ChatOptions, ChatTemplate, Tokenizer};
use loader_common::*;
use serde_json::json;

/// A Granite-like template written for these tests, using block tags without `-` so that
/// trim_blocks/lstrip_blocks matter.
const TEMPLATE: &str = r#"{% set ns = namespace(system='') %}
{% if messages[0].role == 'system' %}
    {% set ns.system = messages[0].content.strip() %}
{% endif %}
{% if tools %}
    {% for t in tools %}
        {% set ns.system = ns.system + '\n' + (t | tojson) %}
    {% endfor %}
{% endif %}
<|start_of_role|>system<|end_of_role|>{{ ns.system or 'Default system.' }}{{ eos_token }}
{% for m in messages %}
    {% if m.role == 'system' and loop.first %}{% continue %}{% endif %}
    {% if m.content is string %}
        {% set text = m.content %}
    {% elif m.content %}
        {% set text = m.content | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('\n') %}
    {% else %}
        {% set text = '' %}
    {% endif %}
    {% if m.role.startswith('tool') %}
<|start_of_role|>user<|end_of_role|><tool_response>{{ text }}</tool_response>{{ eos_token }}
    {% else %}
<|start_of_role|>{{ m.role }}<|end_of_role|>{{ text }}
        {%- for c in m.tool_calls or [] %}<tool_call>{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}</tool_call>{% endfor %}
{{ eos_token }}
    {% endif %}
{% endfor %}
{% if add_generation_prompt %}
<|start_of_role|>assistant<|end_of_role|>
{%- endif %}"#;

fn template() -> ChatTemplate {
    let mut t = ChatTemplate::new(TEMPLATE, Path::new("/m/tokenizer_config.json")).unwrap();
    t.special_tokens
        .push(("eos_token".into(), "<|end_of_text|>".into()));
    t
}

#[test]
fn multi_turn_with_generation_prompt() {
    let msgs = [
        ChatMessage::system("  Be brief.  "),
        ChatMessage::user("Hi"),
        ChatMessage::assistant("Hello!"),
        ChatMessage::user("Bye"),
    ];
    let opts = ChatOptions {
        add_generation_prompt: true,
        ..Default::default()
    };
    let want = "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n\
                <|start_of_role|>user<|end_of_role|>Hi<|end_of_text|>\n\
                <|start_of_role|>assistant<|end_of_role|>Hello!<|end_of_text|>\n\
                <|start_of_role|>user<|end_of_role|>Bye<|end_of_text|>\n\
                <|start_of_role|>assistant<|end_of_role|>";
    assert_eq!(template().render(&msgs, &opts).unwrap(), want);
    let no_gen = template().render(&msgs, &ChatOptions::default()).unwrap();
    assert_eq!(
        no_gen,
        want.trim_end_matches("<|start_of_role|>assistant<|end_of_role|>")
    );
}

#[test]
fn default_system_parts_and_tool_calls() {
    let msgs = vec![
        ChatMessage {
            role: "user".into(),
            content: Some(MessageContent::Parts(vec![
                ContentPart {
                    kind: "text".into(),
                    text: Some("a".into()),
                },
                ContentPart {
                    kind: "image".into(),
                    text: None,
                },
                ContentPart {
                    kind: "text".into(),
                    text: Some("b".into()),
                },
            ])),
            tool_calls: None,
        },
        ChatMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: Some(vec![ToolCall {
                kind: Some("function".into()),
                id: None,
                function: FunctionCall {
                    name: "f".into(),
                    arguments: json!({"z": 1, "a": "é<&>"}),
                },
            }]),
        },
        ChatMessage::tool("42"),
    ];
    let want = "<|start_of_role|>system<|end_of_role|>Default system.<|end_of_text|>\n\
                <|start_of_role|>user<|end_of_role|>a\nb<|end_of_text|>\n\
                <|start_of_role|>assistant<|end_of_role|><tool_call>{\"name\": \"f\", \"arguments\": {\"z\": 1, \"a\": \"é<&>\"}}</tool_call><|end_of_text|>\n\
                <|start_of_role|>user<|end_of_role|><tool_response>42</tool_response><|end_of_text|>\n";
    assert_eq!(
        template().render(&msgs, &ChatOptions::default()).unwrap(),
        want
    );
}

#[test]
fn tools_are_dumped_like_python_json() {
    let tool = json!({"type": "function", "function": {"name": "get_weather",
        "description": "Wetter für <city> & 'co'\n\"quoted\"",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "z": 1.0, "a": 1e-05, "big": 1e16, "n": null, "b": true, "neg": -3, "e": [], "o": {}}});
    let opts = ChatOptions {
        tools: Some(vec![tool]),
        ..Default::default()
    };
    let out = template().render(&[ChatMessage::user("x")], &opts).unwrap();
    let want = r#"{"type": "function", "function": {"name": "get_weather", "description": "Wetter für <city> & 'co'\n\"quoted\"", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "z": 1.0, "a": 1e-05, "big": 1e+16, "n": null, "b": true, "neg": -3, "e": [], "o": {}}}"#;
    assert!(out.contains(&format!("\n{want}<|end_of_text|>")), "{out}");
}

fn render_one(src: &str) -> String {
    let t = ChatTemplate::new(src, Path::new("chat_template.jinja")).unwrap();
    t.render(&[ChatMessage::user("u")], &ChatOptions::default())
        .unwrap()
}

#[test]
fn tojson_options() {
    let t = ChatTemplate::new("{{ tools[0] | tojson(indent=2) }}", Path::new("t")).unwrap();
    let opts = ChatOptions {
        tools: Some(vec![json!({"b": [1, 2], "a": {}})]),
        ..Default::default()
    };
    let out = t.render(&[], &opts).unwrap();
    assert_eq!(out, "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": {}\n}");
    let t = ChatTemplate::new(
        "{{ tools[0] | tojson(sort_keys=true, separators=[',', ':']) }}",
        Path::new("t"),
    )
    .unwrap();
    assert_eq!(t.render(&[], &opts).unwrap(), "{\"a\":{},\"b\":[1,2]}");
    assert_eq!(
        render_one("{{ 'é😀\u{1}' | tojson(ensure_ascii=true) }}"),
        r#""\u00e9\ud83d\ude00\u0001""#
    );
    assert_eq!(render_one("{{ 'é' | tojson }}"), "\"é\"");
}

#[test]
fn extras_and_python_methods() {
    let year: i64 = render_one("{{ strftime_now('%Y') }}").parse().unwrap();
    assert!(year >= 2025, "{year}");
    assert_eq!(
        render_one("{{ '  a b '.strip().split(' ') | join('|') }}"),
        "a|b"
    );
    assert_eq!(
        render_one(
            "{% for m in messages %}{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}{% endfor %}"
        ),
        "role=user;content=u;"
    );
    assert_eq!(
        render_one("{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }}"),
        "True True False",
        "printed like Python"
    );
}

#[test]
fn raise_exception_is_a_template_error() {
    let t = ChatTemplate::new(
        "{{ raise_exception('Only user and assistant roles!') }}",
        Path::new("/m/tokenizer_config.json"),
    )
    .unwrap();
    assert_err_contains(
        t.render(&[ChatMessage::user("u")], &ChatOptions::default()),
        &[
            "chat template",
            "tokenizer_config.json",
            "Only user and assistant roles!",
        ],
    );
}

#[test]
fn syntax_error_names_file_and_line() {
    let src = "{% for m in messages %}\n{{ m.content }\n{% endfor %}";
    let err = assert_err_contains(
        ChatTemplate::new(src, Path::new("/m/tokenizer_config.json")),
        &["tokenizer_config.json", "line 2", "syntax error"],
    );
    assert!(err.starts_with("chat template:"), "{err}");
    assert_err_contains(
        ChatTemplate::new("{% if %}", Path::new("x/chat_template.jinja")),
        &["chat_template.jinja", "line 1"],
    );
    // Undefined attribute of an undefined value is an error at render time, naming the file.
    let t = ChatTemplate::new("{{ nothing.here }}", Path::new("/m/tokenizer_config.json")).unwrap();
    assert_err_contains(
        t.render(&[], &ChatOptions::default()),
        &["tokenizer_config.json", "line 1"],
    );
}

#[test]
fn from_tokenizer_passes_special_tokens_and_requires_a_template() {
    let dir = TempDir::new("chat");
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
    let tc = json!({"bos_token": "<|end_of_text|>", "eos_token": {"content": "<|end_of_text|>"},
                    "chat_template": "{{ bos_token }}|{{ eos_token }}|{{ messages | length }}"});
    std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    let t = ChatTemplate::from_tokenizer(&tok).unwrap();
    assert_eq!(
        t.render(&[ChatMessage::user("a")], &ChatOptions::default())
            .unwrap(),
        "<|end_of_text|>|<|end_of_text|>|1"
    );
    std::fs::write(dir.join("tokenizer_config.json"), "{}").unwrap();
    let tok = Tokenizer::load(dir.path(), None).unwrap();
    assert_err_contains(
        ChatTemplate::from_tokenizer(&tok),
        &["tokenizer_config.json", "no chat_template"],
    );
}

#[test]
fn chat_message_serde_roundtrip() {
    let v = json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                   {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}]);
    let msgs: Vec<ChatMessage> = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&msgs).unwrap(), v);
}

#[test]
fn python_float_repr() {
    let cases = [
        (1.0, "1.0"),
        (0.5, "0.5"),
        (100.0, "100.0"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (123456789.123, "123456789.123"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (1.5e-7, "1.5e-07"),
        (1e22, "1e+22"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (f64::INFINITY, "Infinity"),
        (f64::NAN, "NaN"),
    ];
    for (x, want) in cases {
        assert_eq!(float_repr(x), want, "{x:e}");
    }
}

#[test]
fn strftime_directives() {
    // 2023-11-14 22:13:20 UTC, a Tuesday, day 318.
    let t = 1_700_000_000;
    assert_eq!(strftime(t, "%Y-%m-%d %H:%M:%S"), "2023-11-14 22:13:20");
    assert_eq!(strftime(t, "%B %d, %Y"), "November 14, 2023");
    assert_eq!(
        strftime(t, "%A %a %b %j %I%p %y %-m/%-d %% %Q"),
        "Tuesday Tue Nov 318 10PM 23 11/14 % %Q"
    );
    assert_eq!(strftime(0, "%F %T %u %w"), "1970-01-01 00:00:00 4 4");
    assert_eq!(strftime(951_782_400, "%F"), "2000-02-29");
}
