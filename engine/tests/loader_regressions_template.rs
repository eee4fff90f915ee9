//! Regression tests for what fuzzing the tokenizer_config.json loader and the chat template
//! found (see fuzz/README.md), plus the hostile-input cases the fuzz targets check for.
//! Crashing inputs the fuzzer wrote are kept byte for byte in tests/fixtures/fuzz-regressions/.
//! Each case must end in an `Error` whose message names the file and the field or value at
//! fault: never a panic, an abort on a huge allocation, a hang or a silently wrong value; and
//! the hardening leaves the real template's output unchanged.
mod loader_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use granite_engine::Error;
use granite_engine::model_files::chat::ChatOptions;
use granite_engine::model_files::{ChatMessage, ChatTemplate, Tokenizer};
use loader_common::*;
use serde_json::json;

struct TokDir {
    dir: TempDir,
}

impl TokDir {
    fn new(tokenizer_config: &[u8]) -> Self {
        let dir = TempDir::new("regr-tok");
        std::fs::write(
            dir.join("tokenizer.json"),
            tiny_tokenizer_json().to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("tokenizer_config.json"), tokenizer_config).unwrap();
        Self { dir }
    }
    fn with_template(template: &str) -> Self {
        Self::new(
            json!({"chat_template": template, "eos_token": "<|end_of_text|>"})
                .to_string()
                .as_bytes(),
        )
    }
    fn load(&self) -> Result<Tokenizer, Error> {
        Tokenizer::load(self.dir.path(), None)
    }
    fn tc_path(&self) -> PathBuf {
        self.dir.join("tokenizer_config.json")
    }
    /// Loads and renders a short conversation; must return within `limit`.
    fn render(&self, limit: Duration) -> Result<String, Error> {
        let tok = self.load()?;
        let t = ChatTemplate::from_tokenizer(&tok)?;
        let messages = [ChatMessage::system("Be brief."), ChatMessage::user("Hi")];
        let opts = ChatOptions {
            tools: Some(vec![
                json!({"name": "f", "parameters": {"a": [1, 2.5, null]}}),
            ]),
            add_generation_prompt: true,
            ..Default::default()
        };
        let start = Instant::now();
        let r = t.render(&messages, &opts);
        let took = start.elapsed();
        assert!(took < limit, "render took {took:?} (limit {limit:?})");
        r
    }
}

/// Runs `f` on a thread with the default 2 MiB test stack, the smallest a caller may use.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow or panic")
}

const RENDER_LIMIT: Duration = Duration::from_secs(20);

fn assert_template_err(r: Result<String, Error>, file: &Path, needles: &[&str]) -> String {
    let msg = match r {
        Ok(s) => panic!("expected an error, rendered {} bytes", s.len()),
        Err(e) => e.to_string(),
    };
    assert!(
        msg.contains(&file.display().to_string()),
        "{msg:?} lacks the file"
    );
    assert!(msg.contains("chat_template"), "{msg:?}");
    for n in needles {
        assert!(msg.contains(n), "{msg:?} lacks {n:?}");
    }
    msg
}

/// Review find: minijinja ran without fuel, so a template looping 10^10 times (nested
/// `range`s, each capped at 100 000) rendered forever.
#[test]
fn nested_loops_run_out_of_fuel() {
    let d = TokDir::with_template(
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
    );
    assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &["out of fuel"]);
}

/// Review find: a macro calling itself twice per level (2^40 calls within the recursion limit)
/// also rendered forever.
#[test]
fn exponential_macro_recursion_runs_out_of_fuel() {
    let d = TokDir::with_template(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    );
    assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &["out of fuel"]);
}

/// Deep (linear) recursion stops at minijinja's recursion limit with an error, even on a
/// small thread stack.
#[test]
fn deep_macro_recursion_is_an_error_not_a_stack_overflow() {
    let msg = on_small_stack(|| {
        let d = TokDir::with_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &[])
    });
    assert!(msg.contains("recursion"), "{msg}");
}

/// Deeply nested template syntax is rejected by the parser's depth limit.
#[test]
fn deeply_nested_syntax_is_an_error() {
    let msg = on_small_stack(|| {
        let d = TokDir::with_template(&format!(
            "{{{{ {}1{} }}}}",
            "(".repeat(5000),
            ")".repeat(5000)
        ));
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &[])
    });
    assert!(msg.contains("recursion"), "{msg}");
}

/// Review find: a template can nest a list ~120 000 deep within the fuel (`{% set ns.x =
/// [ns.x] %}` in a loop); printing or even dropping it recursed past the thread's stack and
/// aborted the process ("has overflowed its stack"). Renders now run on a thread with a stack
/// sized for what the fuel allows, so these end in output or a clean error, called from a
/// small stack too.
#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    const NEST: &str = "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}";
    let rendered = on_small_stack(|| {
        let mut lens = Vec::new();
        for tail in [
            "",
            "{{ ns.x }}",
            "{{ ns.x | string | length }}",
            "{{ ns.x ~ '' }}",
            "{{ [ns.x] | join }}",
        ] {
            let d = TokDir::with_template(&format!("{NEST}{tail}"));
            lens.push(d.render(RENDER_LIMIT).unwrap().len());
        }
        let d = TokDir::with_template(&format!("{NEST}{{{{ ns.x | tojson }}}}"));
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &["nested too deeply"]);
        // As deep as the fuel allows: out of fuel, and the partial value is dropped cleanly.
        let d = TokDir::with_template(
            "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% for j in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}{{ ns.x }}",
        );
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &["out of fuel"]);
        lens
    });
    assert_eq!(rendered[0], 0);
    assert_eq!(rendered[1], 200_002, "[[[…]]] 100 000 deep");
}

/// Review find: the `pprint` filter and `debug()` function format with `{:#?}`, whose output
/// is quadratic in the nesting depth (a 20 000-deep list ran for minutes towards ~800 MB)
/// and is built before any fuel is charged. Both are disabled; Granite's template uses neither.
#[test]
fn pprint_and_debug_are_not_available() {
    for (t, needle) in [
        ("{{ messages | pprint }}", "pprint"),
        ("{{ debug() }}", "debug"),
    ] {
        let d = TokDir::with_template(t);
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &[needle]);
    }
}

/// Review find: `tojson(indent=N)` allocated N spaces up front (10^12 aborted the process), and
/// a long indent string was repeated per nesting level outside any fuel accounting.
#[test]
fn huge_tojson_indent_is_an_error() {
    for t in [
        "{{ tools | tojson(indent=1000000000000) }}",
        "{{ tools | tojson(indent=' ' * 100000) }}",
    ] {
        let d = TokDir::with_template(t);
        assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &["tojson", "indent"]);
    }
    // Ordinary indents still work.
    let d = TokDir::with_template("{{ tools | tojson(indent=2) }}");
    assert!(d.render(RENDER_LIMIT).unwrap().contains("\n  {"));
}

/// Fuzzer find (tokenizer_config): `{{ (range(100000) | list) * 1000 }}` costs almost no fuel
/// (list repetition is lazy), but printing it wrote ~700 MB over ~15 s before minijinja charged
/// the output, and minijinja keeps iterating the 10^8 items even after the output refuses a
/// write. `{{ … }}` now checks a container's printed size first (without formatting it), and the
/// whole prompt is capped.
#[test]
fn printing_a_lazily_repeated_list_is_capped() {
    let d = TokDir::new(&regression("tokenizer_config-lazy-repeat-timeout.json"));
    let limit = Duration::from_secs(5);
    assert_template_err(
        d.render(limit),
        &d.tc_path(),
        &["would exceed the prompt limit"],
    );
    // Same for a value whose items are shared: 2^40 leaves printed from 40 levels.
    let d = TokDir::with_template(
        "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x }}",
    );
    assert_template_err(
        d.render(limit),
        &d.tc_path(),
        &["would exceed the prompt limit"],
    );
    // Many small outputs stop at the prompt cap.
    let d = TokDir::with_template("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}");
    assert_template_err(
        d.render(limit),
        &d.tc_path(),
        &["rendered prompt exceeds the limit"],
    );
    // Printing ordinary containers still works.
    let d = TokDir::with_template("{{ [1, 'a', {'k': [none, true]}] }}");
    assert_eq!(d.render(limit).unwrap(), "[1, 'a', {'k': [None, True]}]");
}

/// Huge strings and lists are bounded by the fuel or the output cap (minijinja charges for
/// the data a template creates; the prompt it writes is capped).
#[test]
fn huge_strings_and_lists_are_bounded() {
    for t in [
        "{% for i in range(100000) %}{{ 'x' * 90000000 }}{% endfor %}",
        "{% set s = 'ab' * 1000000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
        "{% for i in range(100000) %}{{ range(100000) | list }}{% endfor %}",
        "{% for i in range(100000) %}{{ (range(100000) | list) * 1000 }}{% endfor %}",
    ] {
        let d = TokDir::with_template(t);
        let msg = assert_template_err(d.render(RENDER_LIMIT), &d.tc_path(), &[]);
        assert!(
            msg.contains("out of fuel") || msg.contains("limit"),
            "{t}: {msg}"
        );
    }
    // Lazily repeated lists are fine as long as they are not printed whole.
    let d = TokDir::with_template("{{ ((range(100000) | list) * 1000) | length }}");
    assert_eq!(d.render(RENDER_LIMIT).unwrap(), "100000000");
}

/// The real Granite template with a long conversation stays far below the fuel limit.
#[test]
fn long_conversations_fit_in_the_fuel() {
    let dir = fixtures_dir().join("moe_nope");
    let tok = Tokenizer::load(&dir, None).unwrap();
    let t = ChatTemplate::from_tokenizer(&tok).unwrap();
    let mut messages = vec![ChatMessage::system("You are helpful.")];
    for i in 0..2000 {
        messages.push(ChatMessage::user(&format!(
            "question {i} {}",
            "word ".repeat(50)
        )));
        messages.push(ChatMessage::assistant(&format!("answer {i}")));
    }
    let tools: Vec<_> = (0..50)
        .map(|i| {
            json!({"type": "function", "function": {"name": format!("tool{i}"),
            "description": "d".repeat(500), "parameters": {"type": "object"}}})
        })
        .collect();
    let documents: Vec<_> = (0..20)
        .map(|i| json!({"doc_id": i, "title": "t", "text": "lorem ipsum ".repeat(2000)}))
        .collect();
    let opts = ChatOptions {
        tools: Some(tools),
        documents: Some(documents),
        add_generation_prompt: true,
        ..Default::default()
    };
    let prompt = t.render(&messages, &opts).unwrap();
    assert!(prompt.len() > 1_000_000, "{}", prompt.len());
}

/// Review find: a tokenizer_config.json that is valid JSON but not an object (a list, a
/// number) was silently treated as empty, dropping its chat template and special tokens.
#[test]
fn tokenizer_config_must_be_an_object() {
    for text in ["[1, 2]", "42", "\"chat_template\""] {
        let d = TokDir::new(text.as_bytes());
        assert_err_contains(d.load(), &["tokenizer_config.json", "JSON object"]);
    }
    // `null` is a clear error too, while an absent file stays fine.
    let d = TokDir::new(b"null");
    assert_err_contains(d.load(), &["tokenizer_config.json", "JSON object"]);
    std::fs::remove_file(d.tc_path()).unwrap();
    assert!(d.load().unwrap().chat_template.is_none());
}

/// The hardening (fuel, render thread, disabled pprint/debug, tojson limits) leaves the real
/// template's output byte-identical to transformers' on every reference conversation.
#[test]
fn reference_conversations_render_unchanged() {
    let tok = Tokenizer::load(&fixtures_dir().join("moe_nope"), None).unwrap();
    let t = ChatTemplate::from_tokenizer(&tok).unwrap();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("chat_template.json")).unwrap())
            .unwrap();
    let list = |v: &serde_json::Value| v.as_array().cloned();
    let conversations = reference["conversations"].as_array().unwrap();
    assert!(conversations.len() >= 10);
    for c in conversations {
        let opts = ChatOptions {
            tools: list(&c["tools"]),
            documents: list(&c["documents"]),
            add_generation_prompt: c["add_generation_prompt"].as_bool().unwrap(),
            ..Default::default()
        };
        let out = t
            .render_json(c["messages"].as_array().unwrap(), &opts)
            .unwrap();
        assert_eq!(out, c["expected"].as_str().unwrap(), "{}", c["name"]);
    }
}
