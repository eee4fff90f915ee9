//! `granite bench`: prompt processing (ppN) and generation (tgN) speed in the spirit of
//! llama-bench, with the bytes each decoded token must read and how close decode gets to the
//! adapter's memory bandwidth, measured by the bench itself in the same run.
use std::ops::ControlFlow;
use std::time::Instant;

use clap::Args;
use granite_engine::{
    Bandwidth, Engine, GenerateOptions, Input, ModelConfig, OpenOptions, Profile, SamplingParams,
    Session, SessionOptions, TensorCategory, inspect,
};
use serde::Serialize;

use super::gpu_args::GpuArgs;
use super::model_arg::ModelArg;
use super::{bench_print, bench_sessions};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    gpu: GpuArgs,
    /// Prompt lengths to test (comma-separated); 0 skips prompt processing.
    #[arg(short = 'p', long, value_delimiter = ',', default_values_t = [512usize])]
    prompt: Vec<usize>,
    /// Tokens to generate per generation test (comma-separated); 0 skips generation.
    #[arg(short = 'n', long = "gen", value_delimiter = ',', default_values_t = [128usize])]
    gen_tokens: Vec<usize>,
    /// Repetitions of each test.
    #[arg(short = 'r', long, default_value_t = 3)]
    reps: usize,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Time each kernel family (GPU timestamps where supported) and count dispatches per token.
    #[arg(long)]
    profile: bool,
    /// Generation tests sample with this temperature (0: greedy, the default), to time the
    /// sampler the chat window uses (e.g. `--temperature 0.7 --top-p 0.9`).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Generation tests keep the smallest set of tokens whose probability reaches P (1: off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f32,
    /// Generation tests keep only the K most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: u32,
    /// Also decode with this many sessions at once (comma-separated, e.g. 1,8,32): aggregate
    /// tok/s and cache memory per session, each session generating the first --gen count.
    #[arg(long, value_delimiter = ',')]
    sessions: Vec<usize>,
}

impl BenchArgs {
    fn sampling(&self) -> anyhow::Result<SamplingParams> {
        let p = SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            ..Default::default()
        };
        p.validate()?;
        Ok(p)
    }
}

#[derive(Serialize)]
pub(super) struct TestResult {
    pub(super) test: String,
    pub(super) tokens: usize,
    pub(super) tok_s_mean: f64,
    pub(super) tok_s_std: f64,
    /// Decode only: bytes read per token (active weights + recurrent state read and written + KV).
    pub(super) bytes_per_token: Option<u64>,
    pub(super) achieved_gb_s: Option<f64>,
    pub(super) fraction_of_copy: Option<f64>,
    pub(super) fraction_of_read: Option<f64>,
    /// Host milliseconds per token spent recording, encoding and submitting GPU work: the floor
    /// under the time per token on a GPU faster than that.
    pub(super) host_ms_per_token: f64,
    /// Dispatches per prompt (pp) or per decoded token (tg; none for tg1).
    pub(super) dispatches: Option<f64>,
    pub(super) profile: Option<Profile>,
}

#[derive(Serialize)]
pub(super) struct Report {
    pub(super) model: String,
    /// How generation tests pick tokens.
    pub(super) sampling: String,
    pub(super) shape: String,
    pub(super) adapter: String,
    pub(super) backend: String,
    pub(super) driver: String,
    pub(super) f16: bool,
    pub(super) subgroups: bool,
    /// RMSNorm applied inside the decode products (`--fused-norms`).
    pub(super) fused_norms: bool,
    /// Whole weight rows per invocation (`--lane-rows`).
    pub(super) lane_rows: bool,
    pub(super) bandwidth: Bandwidth,
    pub(super) results: Vec<TestResult>,
    pub(super) sessions: Vec<bench_sessions::SessionsResult>,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    (m, var.sqrt())
}

/// Bytes one decode step reads at context `ctx`: every active weight once (the embedding table
/// only when it doubles as the LM head), the Mamba states read and written, and the KV cache.
fn bytes_per_token(cfg: &ModelConfig, ctx: u64) -> u64 {
    let w = inspect::weights_from_config(cfg);
    let emb = w.category(TensorCategory::TokenEmbeddings).active_bytes;
    let weights = w.total.active_bytes - if cfg.tie_word_embeddings { 0 } else { emb };
    let cache = inspect::cache_figures(cfg, ctx);
    weights + 2 * (cache.conv_state_bytes + cache.ssm_state_bytes) + cache.kv_bytes
}

/// Deterministic prompt ids spread over the vocabulary.
fn prompt_ids(n: usize, vocab: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i as u64 * 2_654_435_761 + 17) % vocab as u64) as u32)
        .collect()
}

/// `n` tokens whatever comes, as ids only: the bench times the model, not the detokenizer.
fn bench_options(n: usize, sampling: &SamplingParams) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: n,
        stop_at_eos: false,
        sampling: sampling.clone(),
        detokenize: false,
        ..Default::default()
    }
}

fn session(engine: &Engine, context: usize) -> anyhow::Result<Session> {
    Ok(engine.session(&SessionOptions {
        context: Some(context),
    })?)
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let sampling = args.sampling()?;
    let engine = Engine::open(
        &args.model.source()?,
        &OpenOptions {
            device: args.gpu.options(),
            progress: !args.json,
            ..Default::default()
        },
    )?;
    let device = engine.device().clone();
    let bw = device.bandwidth(256 << 20, 3)?;
    let vocab = engine.config().vocab_size;
    let reps = args.reps.max(1);
    let mut results = Vec::new();
    for &p in args.prompt.iter().filter(|&&p| p > 0) {
        let ids = Input::Tokens(prompt_ids(p, vocab));
        let mut session = session(&engine, p + 1)?;
        session.feed(&ids)?; // warm-up: compiles every pipeline
        let mut rates = Vec::new();
        let c0 = device.counters();
        for _ in 0..reps {
            session.reset()?;
            let t = Instant::now();
            session.feed(&ids)?;
            rates.push(p as f64 / t.elapsed().as_secs_f64());
        }
        let c1 = device.counters();
        let host_ms_per_token = (c1.host_seconds - c0.host_seconds) * 1e3 / (reps * p) as f64;
        let dispatches = Some((c1.dispatches - c0.dispatches) as f64 / reps as f64);
        let (m, s) = mean_std(&rates);
        let prof = args
            .profile
            .then(|| profiled(&mut session, &ids, None, &sampling))
            .transpose()?;
        results.push(TestResult {
            test: format!("pp{p}"),
            tokens: p,
            tok_s_mean: m,
            tok_s_std: s,
            bytes_per_token: None,
            achieved_gb_s: None,
            fraction_of_copy: None,
            fraction_of_read: None,
            host_ms_per_token,
            dispatches,
            profile: prof,
        });
    }
    for &n in args.gen_tokens.iter().filter(|&&n| n > 0) {
        let prompt = Input::Tokens(prompt_ids(8, vocab));
        let mut session = session(&engine, n + 16)?;
        let opts = bench_options(n, &sampling);
        let (mut rates, mut host_ms) = (Vec::new(), Vec::new());
        let mut decode_dispatches = 0;
        for rep in 0..=reps {
            session.reset()?;
            let c0 = device.counters();
            let out = session
                .generate(&prompt, &opts)?
                .run(|_| ControlFlow::Continue(()))?;
            let c1 = device.counters();
            if rep > 0 {
                rates.push(out.gen_tok_per_s());
                // Includes the short prompt's submission: n + 1 submissions in all.
                host_ms.push((c1.host_seconds - c0.host_seconds) * 1e3 / (n + 1) as f64);
                decode_dispatches += c1.dispatches - c0.dispatches;
            }
        }
        // The n − 1 decode steps: less the prompt's submission (a generation of one token).
        session.reset()?;
        let d0 = device.counters().dispatches;
        let one = GenerateOptions {
            max_new_tokens: 1,
            ..opts.clone()
        };
        session
            .generate(&prompt, &one)?
            .run(|_| ControlFlow::Continue(()))?;
        let prompt_dispatches = (device.counters().dispatches - d0) as f64;
        let dispatches = (n > 1)
            .then(|| (decode_dispatches as f64 / reps as f64 - prompt_dispatches) / (n - 1) as f64);
        let host_ms_per_token = mean_std(&host_ms).0;
        let (m, s) = mean_std(&rates);
        let bpt = bytes_per_token(engine.config(), (8 + n / 2) as u64);
        let gbs = bpt as f64 * m / 1e9;
        let prof = args
            .profile
            .then(|| profiled(&mut session, &prompt, Some(n.min(8)), &sampling))
            .transpose()?;
        results.push(TestResult {
            test: format!("tg{n}"),
            tokens: n,
            tok_s_mean: m,
            tok_s_std: s,
            bytes_per_token: Some(bpt),
            achieved_gb_s: Some(gbs),
            fraction_of_copy: Some(gbs / bw.copy_gb_s),
            fraction_of_read: Some(gbs / bw.read_gb_s),
            host_ms_per_token,
            dispatches,
            profile: prof,
        });
    }
    let n = args.gen_tokens.first().copied().unwrap_or(128).max(1);
    let opts = bench_options(n, &sampling);
    let sessions = bench_sessions::run(&engine, &args.sessions, n, &opts, |i| {
        prompt_ids(8 + i, vocab)[i..].to_vec()
    })?;
    let cfg = engine.config();
    let dev = engine.device_info();
    let report = Report {
        model: engine.info().source.clone(),
        sampling: if sampling.temperature == 0.0 {
            "greedy".into()
        } else {
            format!(
                "temperature {}, top-k {}, top-p {}",
                sampling.temperature, sampling.top_k, sampling.top_p
            )
        },
        shape: format!(
            "hidden {}, {} layers ({} Mamba-2, {} attention), {} experts top-{}, vocab {}",
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.n_mamba_layers(),
            cfg.n_attention_layers(),
            cfg.num_local_experts,
            cfg.num_experts_per_tok,
            cfg.vocab_size
        ),
        adapter: dev.name,
        backend: dev.backend,
        driver: format!("{} {}", dev.driver, dev.driver_info),
        f16: dev.paths.f16,
        subgroups: dev.paths.subgroups,
        fused_norms: dev.paths.fused_norms,
        lane_rows: dev.paths.lane_rows,
        bandwidth: bw,
        results,
        sessions,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        bench_print::print_markdown(&report);
    }
    Ok(())
}

/// One more run with per-dispatch timing: a prefill of `input`, or `decode` generated tokens.
fn profiled(
    session: &mut Session,
    input: &Input,
    decode: Option<usize>,
    sampling: &SamplingParams,
) -> anyhow::Result<Profile> {
    session.reset()?;
    let Some(n) = decode else {
        session.set_profiling(true);
        let res = session.feed(input);
        let profile = session.take_profile().unwrap_or_default();
        session.set_profiling(false);
        res?;
        return Ok(profile);
    };
    // Prefill all but the last prompt token unprofiled; from then on every submission is one
    // decode step (the last prompt token's included).
    let Input::Tokens(ids) = input else {
        anyhow::bail!("a profiled decode needs a prompt of token ids");
    };
    session.feed(&Input::Tokens(ids[..ids.len() - 1].to_vec()))?;
    session.set_profiling(true);
    let opts = bench_options(n, sampling);
    let last = Input::Tokens(ids[ids.len() - 1..].to_vec());
    let res = session
        .generate(&last, &opts)
        .and_then(|s| s.run(|_| ControlFlow::Continue(())));
    let profile = session.take_profile().unwrap_or_default();
    session.set_profiling(false);
    res?;
    Ok(profile)
}
