//! One thread owns the engine and every session. Handlers submit [`Job`]s through a channel
//! and read their events from another; the thread advances every running job by one step per
//! iteration (a token, or one prefill chunk for at most one job still prefilling, so a long
//! prompt never stalls the others for more than a chunk) and admits waiting jobs between
//! iterations. When the engine learns to decode many sessions in one submission, the same
//! iteration becomes one batched step.
mod cache;
mod run;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;

use granite_engine::{Engine, GenerateOptions, Input, Outcome, TokenEvent};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// One generation request, as the scheduler runs it.
pub struct Job {
    /// A chat (the whole conversation) or token ids.
    pub input: Input,
    /// The full prompt's ids: what the prompt cache is matched against.
    pub prompt: Vec<u32>,
    pub opts: GenerateOptions,
    /// Where events go; once the client is gone (the receiver dropped) the job is cancelled.
    pub events: UnboundedSender<JobEvent>,
}

#[derive(Debug)]
pub enum JobEvent {
    /// A prefill chunk ran (the streams send keep-alives on these).
    Prefill,
    Token(TokenEvent),
    /// The generation ended; `cached` prompt tokens came from the prompt cache.
    Done {
        outcome: Outcome,
        cached: usize,
    },
    Failed(ApiError),
}

/// How many run at once, how many wait, and what the prompt cache may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sessions: usize,
    pub queue: usize,
    /// Bytes of idle sessions' caches kept for reuse.
    pub cache_memory: u64,
    /// Tokens per session.
    pub context: usize,
}

/// The handlers' side: submit jobs, refused when the queue is full.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::Sender<Job>,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl Scheduler {
    /// Starts the scheduler thread; it ends when every handle is dropped.
    pub fn start(engine: Engine, limits: Limits, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let state = run::Loop::new(engine, limits, metrics.clone(), rx);
        std::thread::Builder::new()
            .name("granite-scheduler".into())
            .spawn(move || state.run())?;
        Ok(Scheduler {
            tx,
            limits,
            metrics,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Queues `job`, or refuses it (429) when every slot and queue place is taken.
    pub fn submit(&self, job: Job) -> Result<(), ApiError> {
        let m = &self.metrics;
        let cap = (self.limits.max_sessions + self.limits.queue) as u64;
        // Counted as queued from here until the scheduler admits or drops it.
        let queued = m.queued.fetch_add(1, Relaxed) + 1;
        if queued + m.running.load(Relaxed) > cap {
            m.queued.fetch_sub(1, Relaxed);
            m.rejected.fetch_add(1, Relaxed);
            return Err(ApiError::queue_full());
        }
        m.requests.fetch_add(1, Relaxed);
        self.tx.send(job).map_err(|_| {
            m.queued.fetch_sub(1, Relaxed);
            ApiError::internal("the scheduler has stopped")
        })
    }
}
