//! GGUF files written from the reference fixtures (tests/gguf_common/model.rs) run on the GPU
//! against transformers' outputs in expected.json: F16 and BF16 to the fixture tolerances (argmax at
//! every position, logits ≤ 1e-2 × max|ref|, the same greedy continuation); Q8_0 with the same
//! argmax where the reference top-2 margin is ≥ 0.5 and the same greedy continuation up to the
//! first step where it is not. The fixtures' logits are of order 1, so no position has a
//! margin of 0.5; Q8_0 is also held to a relative rule that does bite here: the same argmax
//! where the margin is ≥ 10 % of max|ref|, logits within 5e-2 × max|ref|. (Only rows whose
//! length is a multiple of 32 can be Q8_0, as in the converter: in `moe_nope` the Mamba
//! out_proj.) `mamba_groups` is left out: its `time_step_limit` has no GGUF key.
mod gguf_common;
mod loader_common;

use gguf_common::model::{Out, from_fixture};

use granite_engine::testing::gpus;
use granite_engine::{
    Device, Engine, GenerateOptions, Input, ModelSource, OpenOptions, SamplingParams, Session,
    SessionOptions,
};
use loader_common::{TempDir, fixtures_dir};
use serde_json::Value;

fn nums(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    nums(v).into_iter().map(|x| x as u32).collect()
}

fn argmax(row: &[f32]) -> u32 {
    let best =
        row.iter().enumerate().fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        );
    best.0 as u32
}

fn session(engine: &Engine) -> Session {
    let opts = SessionOptions {
        context: Some(4096),
    };
    engine.session(&opts).unwrap()
}

fn greedy_ids(engine: &Engine, prompt: &[u32]) -> Vec<u32> {
    let opts = GenerateOptions {
        max_new_tokens: 20,
        sampling: SamplingParams {
            temperature: 0.0,
            ..Default::default()
        },
        stop_strings: vec![],
        stop_at_eos: false,
        detokenize: false,
    };
    let mut s = session(engine);
    let stream = s.generate(&Input::Tokens(prompt.to_vec()), &opts).unwrap();
    stream
        .run(|_| std::ops::ControlFlow::Continue(()))
        .unwrap()
        .token_ids
}

/// Opens the fixture written as a GGUF file through the front door and compares with
/// expected.json.
fn check(name: &str, out: Out) {
    let dir = fixtures_dir().join(name);
    let exp: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let tmp = TempDir::new("gguf-logits");
    let path = tmp.join(&format!("{name}.gguf"));
    from_fixture(&dir, out).write(&path);
    let strict = out != Out::Q8_0;
    let prompt = ids(&exp["prompt_ids"]);
    let (want_argmax, gaps) = (ids(&exp["argmax"]), nums(&exp["prompt_top2_gaps"]));
    let max_abs = exp["max_abs_logit"].as_f64().unwrap() as f32;
    let (label, gpu) = gpus().into_iter().next().unwrap();
    let source = ModelSource::path(&path);
    let engine = Engine::open_on(&Device::from_gpu(gpu), &source, &OpenOptions::default()).unwrap();
    let rows = session(&engine).logits(&prompt).unwrap();
    let mut checked = 0;
    let sure_gap = |g: f64| g >= 0.5 || g >= 0.1 * f64::from(max_abs);
    for (pos, row) in rows.iter().enumerate() {
        if strict || sure_gap(gaps[pos]) {
            assert_eq!(
                argmax(row),
                want_argmax[pos],
                "{name} {out:?} [{label}]: argmax at {pos}"
            );
            checked += 1;
        }
    }
    let greedy = greedy_ids(&engine, &prompt);
    let want = ids(&exp["greedy_ids"]);
    let tol = if strict { 1e-2 } else { 5e-2 };
    let positions = ids(&exp["logits_positions"]);
    for (k, pos) in positions.into_iter().map(|p| p as usize).enumerate() {
        let err = rows[pos]
            .iter()
            .zip(nums(&exp["logits"][k]))
            .map(|(a, b)| (a - b as f32).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err <= tol * max_abs,
            "{name} {out:?} [{label}]: logits at {pos}: error {err} > {tol} × {max_abs}"
        );
    }
    if strict {
        assert_eq!(checked, prompt.len());
        assert_eq!(greedy, want, "{name} [{label}]: greedy continuation");
    } else {
        assert!(
            checked > 0,
            "{name}: no position has a margin the rule checks"
        );
        let sure = nums(&exp["greedy_top2_gaps"])
            .iter()
            .take_while(|&&g| sure_gap(g))
            .count();
        assert_eq!(
            greedy[..sure],
            want[..sure],
            "{name} Q8_0 [{label}]: greedy up to step {sure}"
        );
    }
}

#[test]
fn moe_nope_f16_gguf_matches_transformers() {
    check("moe_nope", Out::F16);
}

#[test]
fn dense_rope_f16_gguf_matches_transformers() {
    check("dense_rope", Out::F16);
}

#[test]
fn attn_only_f16_gguf_matches_transformers() {
    check("attn_only", Out::F16);
}

#[test]
fn moe_nope_bf16_gguf_matches_transformers() {
    check("moe_nope", Out::Bf16);
}

#[test]
fn moe_nope_q8_0_gguf_keeps_the_confident_argmax() {
    check("moe_nope", Out::Q8_0);
}
