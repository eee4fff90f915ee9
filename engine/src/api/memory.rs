//! Live GPU memory as front ends show it: bytes per category for the whole device, and each
//! session's caches.
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::gpu::MemTag;

/// See [`crate::Engine::memory`].
#[derive(Clone, Debug, Serialize)]
pub struct MemoryReport {
    /// Every [`MemTag`] in order, with its live bytes.
    pub categories: Vec<(MemTag, u64)>,
    pub total: u64,
    /// The budget the device was opened with, if any.
    pub budget: Option<u64>,
    /// Each open session's caches, by session id.
    pub sessions: Vec<SessionMemory>,
}

/// The caches one session holds (its activation scratch is counted under
/// [`MemTag::Scratch`]; snapshots it took are their own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionMemory {
    pub session: u64,
    /// Tokens in the session's caches.
    pub tokens: u64,
    pub kv_cache: u64,
    pub conv_state: u64,
    pub ssm_state: u64,
}

impl SessionMemory {
    pub fn total(&self) -> u64 {
        self.kv_cache + self.conv_state + self.ssm_state
    }
}

/// A session's figures, updated by the session as it runs and read by the engine's report.
#[derive(Debug, Default)]
pub(crate) struct SessionStats {
    pub id: u64,
    pub tokens: AtomicU64,
    pub kv: AtomicU64,
    pub conv: AtomicU64,
    pub ssm: AtomicU64,
}

impl SessionStats {
    pub fn set(&self, tokens: usize, [kv, conv, ssm]: [u64; 3]) {
        self.tokens.store(tokens as u64, Ordering::Relaxed);
        self.kv.store(kv, Ordering::Relaxed);
        self.conv.store(conv, Ordering::Relaxed);
        self.ssm.store(ssm, Ordering::Relaxed);
    }

    pub fn report(&self) -> SessionMemory {
        SessionMemory {
            session: self.id,
            tokens: self.tokens.load(Ordering::Relaxed),
            kv_cache: self.kv.load(Ordering::Relaxed),
            conv_state: self.conv.load(Ordering::Relaxed),
            ssm_state: self.ssm.load(Ordering::Relaxed),
        }
    }
}
