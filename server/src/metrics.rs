//! Counters the scheduler and the handlers update, and the Prometheus text `/metrics` serves.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use granite_engine::Engine;

#[derive(Default)]
pub struct Metrics {
    /// Admitted and generating (set by the scheduler).
    pub running: AtomicU64,
    /// Accepted but waiting for a slot (submitted, not yet admitted or gone).
    pub queued: AtomicU64,
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Finished sessions kept for their prompt cache, and the caches' bytes.
    pub idle_sessions: AtomicU64,
    pub idle_bytes: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    /// The Prometheus text exposition of these figures and the engine's live memory.
    pub fn render(&self, engine: &Engine) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP granite_{name} {help}\n# TYPE granite_{name} {kind}"
            );
            let _ = writeln!(out, "granite_{name} {value}");
        };
        let get = |c: &AtomicU64| c.load(Relaxed);
        let report = engine.memory();
        let figures = [
            (
                "requests_running",
                "gauge",
                "Requests generating now.",
                get(&self.running),
            ),
            (
                "requests_queued",
                "gauge",
                "Requests waiting for a slot.",
                get(&self.queued),
            ),
            (
                "requests_total",
                "counter",
                "Generation requests accepted.",
                get(&self.requests),
            ),
            (
                "requests_rejected_total",
                "counter",
                "Requests refused because the queue was full.",
                get(&self.rejected),
            ),
            (
                "prompt_tokens_total",
                "counter",
                "Prompt tokens of finished requests.",
                get(&self.prompt_tokens),
            ),
            (
                "cached_prompt_tokens_total",
                "counter",
                "Prompt tokens served from the prompt cache.",
                get(&self.cached_tokens),
            ),
            (
                "generated_tokens_total",
                "counter",
                "Tokens generated.",
                get(&self.generated_tokens),
            ),
            (
                "idle_sessions",
                "gauge",
                "Finished sessions kept for the prompt cache.",
                get(&self.idle_sessions),
            ),
            (
                "idle_session_bytes",
                "gauge",
                "GPU bytes held by the prompt cache's sessions.",
                get(&self.idle_bytes),
            ),
            (
                "open_sessions",
                "gauge",
                "Sessions holding caches (running and idle).",
                report.sessions.len() as u64,
            ),
        ];
        for (name, kind, help, value) in figures {
            metric(name, kind, help, value);
        }
        let _ = writeln!(
            out,
            "# HELP granite_memory_bytes Live GPU bytes per category."
        );
        let _ = writeln!(out, "# TYPE granite_memory_bytes gauge");
        for (tag, bytes) in &report.categories {
            let label = tag.label().to_lowercase().replace(' ', "_");
            let _ = writeln!(out, "granite_memory_bytes{{category=\"{label}\"}} {bytes}");
        }
        out
    }
}
