//! GPU sampling against its CPU reference: greedy with ties, exact token agreement for many
//! seeds with temperature / top-k / top-p / repetition penalty, statistics, validation.
use granite_engine::gpu::{Gpu, MemTag, Recorder, Tensor};
use granite_engine::kernels::sampling::{Sampler, SamplingParams};
use granite_engine::reference::sampling as cpu;
use granite_engine::testing::{Rng, for_each_path};

fn run(gpu: &Gpu, logits: &[f32], history: &[u32], p: &SamplingParams, step: u64) -> u32 {
    let n = logits.len();
    let lt = Tensor::from_f32(gpu, MemTag::Scratch, &[n], logits, "logits").unwrap();
    let hist: Vec<u32> = if history.is_empty() {
        vec![0]
    } else {
        history.to_vec()
    };
    let hb = gpu.upload(MemTag::Scratch, &hist, "history").unwrap();
    let s = Sampler::new(gpu, n).unwrap();
    let mut rec = Recorder::new(gpu);
    s.record(&mut rec, lt.rows(n, 0), p, step, &hb, history.len())
        .unwrap();
    rec.submit().unwrap();
    s.read(gpu).unwrap()
}

fn params(
    temperature: f32,
    top_k: u32,
    top_p: f32,
    repetition_penalty: f32,
    seed: u64,
) -> SamplingParams {
    SamplingParams {
        temperature,
        top_k,
        top_p,
        repetition_penalty,
        seed,
    }
}

#[test]
fn greedy_takes_the_lowest_id_among_ties() {
    for_each_path(|path, gpu| {
        let mut logits = Rng::new(3).vec(1000, 2.0);
        logits[700] = 5.0;
        logits[123] = 5.0;
        assert_eq!(
            run(gpu, &logits, &[], &SamplingParams::default(), 0),
            123,
            "[{path}]"
        );
        let logits = Rng::new(4).vec(100_353, 3.0);
        let want = cpu::sample(&logits, &[], &SamplingParams::default(), 0);
        assert_eq!(
            run(gpu, &logits, &[], &SamplingParams::default(), 0),
            want,
            "[{path}] large vocab"
        );
        // Ties in different blocks of the many-workgroup path, then a winner in the last,
        // partial block.
        let mut logits = logits;
        logits[90_000] = 10.0;
        logits[5_000] = 10.0;
        let greedy = SamplingParams::default();
        assert_eq!(run(gpu, &logits, &[], &greedy, 0), 5_000, "[{path}]");
        logits[100_352] = 11.0;
        assert_eq!(run(gpu, &logits, &[], &greedy, 0), 100_352, "[{path}]");
    });
}

/// Over a million logits the final pass of the many-workgroup greedy path folds several blocks
/// per invocation: a tie between blocks 0 and 256 (the same invocation) still goes low.
#[test]
fn greedy_ties_across_many_blocks() {
    let (path, gpu) = granite_engine::testing::gpus().remove(0);
    let n = 256 * 4096 + 5_000;
    let mut logits = Rng::new(5).vec(n, 1.0);
    logits[256 * 4096 + 10] = 4.0;
    logits[100] = 4.0;
    let greedy = SamplingParams::default();
    assert_eq!(run(&gpu, &logits, &[], &greedy, 0), 100, "[{path}]");
}

#[test]
fn sampled_tokens_match_the_cpu_reference() {
    // A vocabulary smaller than a workgroup, and one several times larger.
    for (n, rounds) in [(777, 12u64), (5003, 4)] {
        check_sampling(n, rounds);
    }
}

fn check_sampling(n: usize, rounds: u64) {
    for_each_path(|path, gpu| {
        let logits = Rng::new(9).vec(n, 3.0);
        let history = [5u32, 9, 9, 700, 12];
        for (i, p) in [
            params(1.0, 0, 1.0, 1.0, 1),
            params(0.7, 40, 1.0, 1.0, 2),
            params(1.3, 0, 0.9, 1.0, 3),
            params(0.8, 50, 0.8, 1.3, 4),
            params(0.5, 1, 1.0, 1.0, 5),
        ]
        .iter()
        .enumerate()
        {
            for step in 0..rounds {
                let want = cpu::sample(&logits, &history, p, step);
                let got = run(gpu, &logits, &history, p, step);
                assert_eq!(got, want, "[{path}] n {n} case {i} step {step} {p:?}");
            }
        }
    });
}

#[test]
fn top_k_keeps_only_the_best_and_frequencies_follow_softmax() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let mut logits = vec![-5.0f32; 50];
    logits[7] = 2.0;
    logits[8] = 1.0;
    logits[9] = 0.0;
    logits[10] = -0.5;
    let p = params(1.0, 3, 1.0, 1.0, 42);
    let mut counts = [0usize; 50];
    let draws = 400;
    for step in 0..draws {
        counts[run(&gpu, &logits, &[], &p, step) as usize] += 1;
    }
    assert_eq!(
        counts[7] + counts[8] + counts[9],
        draws as usize,
        "only the top 3 may appear: {counts:?}"
    );
    let z: f32 = [2.0f32, 1.0, 0.0].iter().map(|v| v.exp()).sum();
    let expect7 = 2.0f32.exp() / z; // ≈ 0.665
    let got7 = counts[7] as f32 / draws as f32;
    assert!(
        (got7 - expect7).abs() < 0.08,
        "frequency of the best token {got7}, softmax says {expect7}"
    );
}

#[test]
fn repetition_penalty_changes_the_greedy_choice() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let mut logits = vec![0.0f32; 64];
    logits[10] = 3.0;
    logits[20] = 2.0;
    let greedy = params(0.0, 0, 1.0, 1.0, 0);
    assert_eq!(run(&gpu, &logits, &[10], &greedy, 0), 10);
    let penal = params(0.0, 0, 1.0, 2.0, 0);
    assert_eq!(
        run(&gpu, &logits, &[10, 10, 10], &penal, 0),
        20,
        "3.0 / 2 = 1.5 < 2.0"
    );
}

#[test]
fn same_seed_same_token_different_seed_varies() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    let logits = vec![0.0f32; 300]; // uniform
    let a: Vec<u32> = (0..8)
        .map(|s| run(&gpu, &logits, &[], &params(1.0, 0, 1.0, 1.0, 7), s))
        .collect();
    let b: Vec<u32> = (0..8)
        .map(|s| run(&gpu, &logits, &[], &params(1.0, 0, 1.0, 1.0, 7), s))
        .collect();
    let c: Vec<u32> = (0..8)
        .map(|s| run(&gpu, &logits, &[], &params(1.0, 0, 1.0, 1.0, 8), s))
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn non_finite_logits_are_an_error() {
    let (_, gpu) = granite_engine::testing::gpus().remove(0);
    // Greedy (the many-workgroup path, the bad value in a later block too) and sampled.
    for (n, at, bad, p) in [
        (100, 50, f32::NAN, SamplingParams::default()),
        (10_000, 9_000, f32::INFINITY, SamplingParams::default()),
        (100, 7, f32::NEG_INFINITY, params(0.8, 0, 1.0, 1.0, 0)),
    ] {
        let mut logits = vec![0.0f32; n];
        logits[at] = bad;
        let lt = Tensor::from_f32(&gpu, MemTag::Scratch, &[n], &logits, "logits").unwrap();
        let hb = gpu.upload(MemTag::Scratch, &[0u32], "history").unwrap();
        let s = Sampler::new(&gpu, n).unwrap();
        let mut rec = Recorder::new(&gpu);
        s.record(&mut rec, lt.rows(n, 0), &p, 0, &hb, 0).unwrap();
        rec.submit().unwrap();
        let err = s.read(&gpu).unwrap_err().to_string();
        assert!(err.contains("NaN"), "{bad} at {at} of {n}: {err}");
    }
}

#[test]
fn invalid_parameters_are_rejected_with_the_value() {
    for (p, needle) in [
        (params(-1.0, 0, 1.0, 1.0, 0), "temperature"),
        (params(f32::NAN, 0, 1.0, 1.0, 0), "NaN"),
        (params(1.0, 0, 0.0, 1.0, 0), "top-p"),
        (params(1.0, 0, 1.5, 1.0, 0), "1.5"),
        (params(1.0, 0, 1.0, 0.0, 0), "repetition penalty"),
    ] {
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains(needle), "{err} lacks {needle}");
    }
}
