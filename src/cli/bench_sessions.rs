//! `granite bench --sessions 1,8,32`: aggregate decode speed with B conversations generating at
//! once (each stepped in turn, as `granite serve` steps them), and the cache memory each holds.
use std::time::Instant;

use granite_engine::{Engine, Event, GenerateOptions, Input, SessionOptions};
use serde::Serialize;

#[derive(Serialize)]
pub struct SessionsResult {
    pub sessions: usize,
    /// Tokens each session generates.
    pub tokens: usize,
    /// Generated tokens of all sessions per second of decoding.
    pub aggregate_tok_s: f64,
    /// The aggregate divided by the one-session figure of the same run (when measured).
    pub vs_one: Option<f64>,
    /// Cache bytes (KV + conv + SSM state) of one session at the end, from the engine.
    pub cache_bytes_per_session: u64,
}

/// Runs B sessions at once for each B: every session prefills its own 8-token prompt (not
/// timed), then all decode `n` tokens, one step of each per round.
pub fn run(
    engine: &Engine,
    counts: &[usize],
    n: usize,
    opts: &GenerateOptions,
    prompt: impl Fn(usize) -> Vec<u32>,
) -> anyhow::Result<Vec<SessionsResult>> {
    let mut out: Vec<SessionsResult> = Vec::new();
    for &b in counts.iter().filter(|&&b| b > 0) {
        let context = Some(8 + n + 16);
        let mut sessions = (0..b)
            .map(|_| engine.session(&SessionOptions { context }))
            .collect::<granite_engine::Result<Vec<_>>>()?;
        for (i, s) in sessions.iter_mut().enumerate() {
            s.start(&Input::Tokens(prompt(i)), opts)?;
            // The prompt's chunk and the first token come from the prefill submission.
            while let Some(event) = s.step() {
                if matches!(event?, Event::Token(_) | Event::Done(_)) {
                    break;
                }
            }
        }
        let t = Instant::now();
        let mut generated = 0;
        let mut running = b;
        while running > 0 {
            running = 0;
            for s in sessions.iter_mut().filter(|s| s.is_generating()) {
                match s.step().transpose()? {
                    Some(Event::Token(_)) => generated += 1,
                    Some(Event::Done(_)) | None => continue,
                    Some(Event::Prefill { .. }) => {}
                }
                running += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64().max(1e-9);
        let aggregate = generated as f64 / secs;
        let one = out
            .iter()
            .find(|r| r.sessions == 1)
            .map(|r| r.aggregate_tok_s);
        out.push(SessionsResult {
            sessions: b,
            tokens: n,
            aggregate_tok_s: aggregate,
            vs_one: one.map(|o| aggregate / o),
            cache_bytes_per_session: sessions[0].memory().total(),
        });
    }
    Ok(out)
}

pub fn print(results: &[SessionsResult]) {
    if results.is_empty() {
        return;
    }
    println!("\n| sessions | tokens each | aggregate t/s | vs one session | cache per session |");
    println!("|---:|---:|---:|---:|---:|");
    for r in results {
        let vs = r.vs_one.map_or("–".into(), |v| format!("{v:.2}×"));
        println!(
            "| {} | {} | {:.2} | {vs} | {:.2} MiB |",
            r.sessions,
            r.tokens,
            r.aggregate_tok_s,
            r.cache_bytes_per_session as f64 / (1 << 20) as f64
        );
    }
}
