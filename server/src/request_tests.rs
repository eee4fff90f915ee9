//! Request parsing and checks, without a server.
use super::*;

fn chat(body: &str) -> Result<ChatRequest, ApiError> {
    let r: ChatRequest = parse(body.as_bytes())?;
    r.check()?;
    Ok(r)
}

const MODEL: SamplingParams = SamplingParams {
    temperature: 0.7,
    top_k: 0,
    top_p: 0.9,
    repetition_penalty: 1.1,
    seed: 0,
};

const OK: &str = r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]"#;

fn with(extra: &str) -> String {
    format!("{OK}, {extra}}}")
}

#[test]
fn a_wrong_type_names_its_field_and_unknown_fields_are_ignored() {
    let e = chat(&with(r#""temperature": "hot""#)).unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.param.as_deref()),
        (400, Some("temperature"))
    );
    let e = chat(&with(r#""stop": [1]"#)).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("stop"));
    let e = chat(r#"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let e = chat(r#"{"messages": []}"#).unwrap_err();
    assert!(e.message.contains("model"), "{}", e.message);
    assert!(chat(&with(r#""user": "x", "frobnicate": {"a": 1}"#)).is_ok());
}

#[test]
fn known_fields_that_change_the_answer_are_refused_by_name() {
    for (extra, param) in [
        (r#""n": 2"#, "n"),
        (r#""logprobs": true"#, "logprobs"),
        (
            r#""response_format": {"type": "json_object"}"#,
            "response_format",
        ),
        (r#""presence_penalty": 0.5"#, "presence_penalty"),
        (r#""logit_bias": {"5": 1}"#, "logit_bias"),
        (r#""tool_choice": "required""#, "tool_choice"),
    ] {
        let e = chat(&with(extra)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some(param), "{extra}");
        assert_eq!(e.code, Some("unsupported_parameter"));
    }
    assert!(
        chat(&with(
            r#""n": 1, "logprobs": false, "response_format": {"type": "text"}"#
        ))
        .is_ok()
    );
}

#[test]
fn the_token_limit_is_cut_to_the_room_left_and_a_full_context_is_refused() {
    let r = chat(&with(r#""max_tokens": 1000, "stop": "x", "seed": 3"#)).unwrap();
    let opts = r
        .common
        .generate_options(r.max_tokens(), 100, 128, &MODEL)
        .unwrap();
    assert_eq!(opts.max_new_tokens, 27);
    assert_eq!(
        (opts.stop_strings.as_slice(), opts.sampling.seed),
        (&["x".to_string()][..], 3)
    );
    let e = r
        .common
        .generate_options(r.max_tokens(), 127, 128, &MODEL)
        .unwrap_err();
    assert_eq!(e.code, Some("context_length_exceeded"));
    let r = chat(&with(r#""max_completion_tokens": 5, "max_tokens": 9"#)).unwrap();
    assert_eq!(r.max_tokens(), Some(5));
    let e = r
        .common
        .generate_options(Some(0), 10, 128, &MODEL)
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("max_tokens"));
}

#[test]
fn completion_prompts_are_text_or_ids_one_at_a_time() {
    let p = |s: &str| {
        parse::<CompletionRequest>(format!(r#"{{"model": "m", "prompt": {s}}}"#).as_bytes())
    };
    assert_eq!(
        p(r#""hi""#).unwrap().single_prompt().unwrap(),
        Ok("hi".into())
    );
    assert_eq!(
        p("[1, 2]").unwrap().single_prompt().unwrap(),
        Err(vec![1, 2])
    );
    assert_eq!(p("[[3]]").unwrap().single_prompt().unwrap(), Err(vec![3]));
    assert!(p(r#"["a", "b"]"#).unwrap().single_prompt().is_err());
    assert_eq!(p("true").unwrap_err().param.as_deref(), Some("prompt"));
}
