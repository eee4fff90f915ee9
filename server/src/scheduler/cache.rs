//! The prompt cache: finished sessions kept idle, least recently used first out, within a
//! byte budget. A new request takes the one whose tokens are the longest strict prefix of its
//! prompt, so only the rest is prefilled.
use granite_engine::Session;

pub struct IdleSessions {
    sessions: Vec<(Session, Vec<u32>)>,
    budget: u64,
}

impl IdleSessions {
    pub fn new(budget: u64) -> Self {
        IdleSessions {
            sessions: Vec::new(),
            budget,
        }
    }

    /// The session whose conversation `prompt` extends the most, with its token count.
    pub fn take_prefix(&mut self, prompt: &[u32]) -> Option<(Session, usize)> {
        let best = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| t.len() < prompt.len() && prompt.starts_with(t))
            .max_by_key(|(_, (_, t))| t.len())
            .map(|(i, _)| i)?;
        let (session, tokens) = self.sessions.remove(best);
        Some((session, tokens.len()))
    }

    /// Keeps `session` as the most recently used; drops the least recently used ones past the
    /// budget (this one too, if it alone is larger).
    pub fn put(&mut self, session: Session) {
        let tokens = session.tokens();
        self.sessions.push((session, tokens));
        while self.bytes() > self.budget && self.evict_oldest() {}
    }

    /// Closes the least recently used session; false when there is none.
    pub fn evict_oldest(&mut self) -> bool {
        if self.sessions.is_empty() {
            return false;
        }
        self.sessions.remove(0).0.close();
        true
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn bytes(&self) -> u64 {
        self.sessions.iter().map(|(s, _)| s.memory().total()).sum()
    }
}
