//! The scheduler thread's loop: admit, step every running job once, repeat.
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, TryRecvError};

use granite_engine::{Engine, Event, Input, Session, SessionOptions};

use super::cache::IdleSessions;
use super::{Job, JobEvent, Limits};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// A job with its session.
struct Running {
    job: Job,
    session: Session,
    /// Prompt tokens the prompt cache supplied (for token prompts; chat reports its own).
    cached: usize,
    /// Its prompt is not all in the caches yet.
    prefilling: bool,
}

pub struct Loop {
    engine: Engine,
    limits: Limits,
    metrics: Arc<Metrics>,
    rx: Receiver<Job>,
    waiting: VecDeque<Job>,
    running: Vec<Running>,
    idle: IdleSessions,
}

/// What became of a job after a step.
enum After {
    GoesOn,
    /// Finished; its session may serve the prompt cache.
    Finished(bool),
}

impl Loop {
    pub fn new(engine: Engine, limits: Limits, metrics: Arc<Metrics>, rx: Receiver<Job>) -> Self {
        Loop {
            engine,
            limits,
            metrics,
            rx,
            waiting: VecDeque::new(),
            running: Vec::new(),
            idle: IdleSessions::new(limits.cache_memory),
        }
    }

    pub fn run(mut self) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                // Nothing to do: sleep until a job comes (or every handle is gone).
                match self.rx.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            loop {
                match self.rx.try_recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) if self.running.is_empty() => return,
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            self.admit();
            self.iterate();
            self.publish();
        }
    }

    /// Starts waiting jobs while slots are free; drops those whose client left.
    fn admit(&mut self) {
        let before = self.waiting.len();
        self.waiting.retain(|j| !j.events.is_closed());
        let gone = before - self.waiting.len();
        self.metrics.queued.fetch_sub(gone as u64, Relaxed);
        while self.running.len() < self.limits.max_sessions {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            self.metrics.queued.fetch_sub(1, Relaxed);
            match self.start(&job) {
                Ok((session, cached)) => self.running.push(Running {
                    job,
                    session,
                    cached,
                    prefilling: true,
                }),
                Err(e) => {
                    let _ = job.events.send(JobEvent::Failed(e));
                }
            }
            self.metrics
                .running
                .store(self.running.len() as u64, Relaxed);
        }
    }

    /// A session for `job` (from the prompt cache when one holds a prefix), started on it.
    fn start(&mut self, job: &Job) -> Result<(Session, usize), ApiError> {
        let engine_err = |e: granite_engine::Error| ApiError::from_engine(&e);
        let (mut session, cached) = match self.idle.take_prefix(&job.prompt) {
            Some(hit) => hit,
            None => (self.new_session().map_err(engine_err)?, 0),
        };
        let input = match &job.input {
            // Token prompts append: feed only what the cached conversation lacks.
            Input::Tokens(_) => Input::Tokens(job.prompt[cached..].to_vec()),
            chat => chat.clone(),
        };
        if let Err(e) = session.start(&input, &job.opts) {
            // Refused before any GPU work: its caches are intact (or emptied), still reusable.
            self.idle.put(session);
            return Err(engine_err(e));
        }
        let cached = if matches!(input, Input::Tokens(_)) {
            cached
        } else {
            0
        };
        Ok((session, cached))
    }

    /// A new session; when the GPU is out of memory, idle sessions give theirs back first.
    fn new_session(&mut self) -> granite_engine::Result<Session> {
        let opts = SessionOptions {
            context: Some(self.limits.context),
        };
        loop {
            match self.engine.session(&opts) {
                Err(granite_engine::Error::OutOfMemory(_)) if self.idle.evict_oldest() => {}
                r => return r,
            }
        }
    }

    /// One step of every running job; at most one of them prefills.
    fn iterate(&mut self) {
        let plan = plan_round(self.running.iter().map(|r| r.prefilling));
        let mut finished = Vec::new();
        for (i, r) in self.running.iter_mut().enumerate() {
            if !plan[i] {
                continue;
            }
            if let After::Finished(reusable) = step(r, &self.metrics) {
                finished.push((i, reusable));
            }
        }
        // Removed last first, so the indices stay right and the rest keep their order.
        for (i, reusable) in finished.into_iter().rev() {
            let r = self.running.remove(i);
            if reusable {
                self.idle.put(r.session);
            }
        }
        self.metrics
            .running
            .store(self.running.len() as u64, Relaxed);
    }

    fn publish(&self) {
        let m = &self.metrics;
        m.running.store(self.running.len() as u64, Relaxed);
        m.idle_sessions.store(self.idle.len() as u64, Relaxed);
        m.idle_bytes.store(self.idle.bytes(), Relaxed);
    }
}

/// Which running jobs (in admission order, each still prefilling or not) step this round:
/// every one that decodes, and of those still prefilling only the oldest, so a long prompt
/// delays the others by one chunk per round and prompts are prefilled first come, first served.
fn plan_round(prefilling: impl Iterator<Item = bool>) -> Vec<bool> {
    let mut prefill_taken = false;
    prefilling
        .map(|p| {
            let go = !(p && prefill_taken);
            prefill_taken |= p;
            go
        })
        .collect()
}

/// Advances one job by one step and passes on what came of it.
fn step(r: &mut Running, metrics: &Metrics) -> After {
    if r.job.events.is_closed() {
        // The client left: stop now. The session's conversation is cut short, so it is
        // not kept for the prompt cache.
        r.session.cancel();
        return After::Finished(false);
    }
    let event = match r.session.step() {
        None => return After::Finished(false),
        Some(Err(e)) => JobEvent::Failed(ApiError::from_engine(&e)),
        Some(Ok(Event::Prefill { done, total })) => {
            r.prefilling = done < total;
            JobEvent::Prefill
        }
        Some(Ok(Event::Token(t))) => {
            r.prefilling = false;
            Metrics::add(&metrics.generated_tokens, 1);
            JobEvent::Token(t)
        }
        Some(Ok(Event::Done(mut outcome))) => {
            let cached = r.cached.max(outcome.cached_tokens);
            outcome.cached_tokens = cached;
            Metrics::add(&metrics.prompt_tokens, r.job.prompt.len());
            Metrics::add(&metrics.cached_tokens, cached);
            JobEvent::Done { outcome, cached }
        }
    };
    let end = match &event {
        JobEvent::Done { .. } => Some(true),
        JobEvent::Failed(_) => Some(false),
        _ => None,
    };
    let _ = r.job.events.send(event);
    end.map_or(After::GoesOn, After::Finished)
}

#[cfg(test)]
mod tests {
    use super::plan_round;

    #[test]
    fn every_decoding_job_steps_and_only_the_oldest_prefilling_one() {
        let plan = |p: &[bool]| plan_round(p.iter().copied());
        assert_eq!(
            plan(&[false, true, true, false, true]),
            [true, true, false, true, false]
        );
        assert_eq!(plan(&[true, true]), [true, false]);
        assert_eq!(plan(&[false, false]), [true, true]);
        assert_eq!(plan(&[]), Vec::<bool>::new());
    }
}
