//! Snapshots of a conversation (its caches, tokens and repetition history, copied on the GPU)
//! and forks: a second conversation that starts where this one is, without prefilling again.
use super::Generator;
use crate::Result;
use crate::gpu::{GpuBuffer, MemTag, Recorder};
use crate::model::State;

/// A conversation's caches and tokens at one point; restoring it continues from there.
pub struct GeneratorSnapshot {
    state: State,
    tokens: Vec<u32>,
    pending: Option<u32>,
    history: GpuBuffer,
}

impl GeneratorSnapshot {
    /// GPU bytes the snapshot holds.
    pub fn bytes(&self) -> u64 {
        self.state.bytes() + self.history.size()
    }

    /// Tokens in the snapshot's conversation (as [`Generator::len`] counts them).
    pub fn len(&self) -> usize {
        self.tokens.len() + self.pending.is_some() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Generator {
    /// Copies the conversation's caches and tokens (one submission of buffer copies).
    pub fn snapshot(&mut self) -> Result<GeneratorSnapshot> {
        self.drop_ahead()?;
        let gpu = self.model.gpu.clone();
        let mut rec = Recorder::new(&gpu);
        let state = self.state.duplicate(&mut rec, &self.model)?;
        let history = copy_buffer(&mut rec, &self.history, "snapshot token history")?;
        rec.submit()?;
        Ok(GeneratorSnapshot {
            state,
            tokens: self.tokens.clone(),
            pending: self.pending,
            history,
        })
    }

    /// Makes the conversation what `snap` holds (the snapshot stays usable).
    pub fn restore(&mut self, snap: &GeneratorSnapshot) -> Result<()> {
        self.drop_ahead()?;
        if snap.state.max_context != self.max_context {
            return Err(crate::Error::Input(format!(
                "the snapshot was taken of a {}-token conversation, this one holds {}",
                snap.state.max_context, self.max_context
            )));
        }
        let gpu = self.model.gpu.clone();
        let mut rec = Recorder::new(&gpu);
        self.state = snap.state.duplicate(&mut rec, &self.model)?;
        rec.copy(&snap.history, 0, &self.history, 0, snap.history.size());
        rec.submit()?;
        self.tokens = snap.tokens.clone();
        self.pending = snap.pending;
        Ok(())
    }

    /// A new conversation holding a copy of this one's caches and tokens.
    pub fn fork(&mut self) -> Result<Generator> {
        let snap = self.snapshot()?;
        let mut other = Generator::with_caches(self.model.clone(), snap.state, snap.history)?;
        other.tokens = snap.tokens;
        other.pending = snap.pending;
        Ok(other)
    }
}

fn copy_buffer(rec: &mut Recorder, src: &GpuBuffer, label: &str) -> Result<GpuBuffer> {
    let dst = rec.gpu().alloc(MemTag::Scratch, src.size(), label)?;
    rec.copy(src, 0, &dst, 0, src.size());
    Ok(dst)
}
