//! One decode step, encoded ahead: a step reads its input id where the previous step's
//! sampling left it on the GPU, so it can be recorded and encoded while the GPU still runs the
//! previous step; the host learns the id only to stream it and test the stop conditions.
use super::Generator;
use crate::Result;
use crate::gpu::{Encoded, Recorder};
use crate::kernels::sampling::SamplingParams;
use crate::model::{LogitRows, State};

impl Generator {
    /// Feeds the pending id and returns the next sampled one. With `more`, the step after this
    /// one is encoded while the GPU runs this one (its input id is the one sampled here) and
    /// kept in `self.ahead`.
    pub(super) fn step(&mut self, sampling: &SamplingParams, more: bool) -> Result<u32> {
        let step = match self.ahead.take() {
            Some(encoded) => encoded,
            None => self.encode_step(sampling)?,
        };
        step.submit(&self.model.gpu)?;
        self.tokens.extend(self.pending.take());
        let kv_room = |s: &State| {
            s.kv.as_ref()
                .is_none_or(|kv| kv.holds_without_growing(s.pos + 1))
        };
        if more && self.state.pos + 2 < self.max_context && kv_room(&self.state) {
            self.ahead = Some(self.encode_step(sampling)?);
        }
        self.sampler.read(&self.model.gpu)
    }

    /// Records and encodes one decode step whose input is the last sampled id, copied on the
    /// GPU from where the sampling wrote it (the host need not know it yet), and which samples
    /// the next id. Advances the position; [`Self::rewind`] undoes that if it is not submitted.
    fn encode_step(&mut self, sampling: &SamplingParams) -> Result<Encoded> {
        let model = self.model.clone();
        let pos = self.state.pos;
        let mut rec = Recorder::profiled(&model.gpu, self.profile.clone());
        rec.copy(&self.sampler.out, 0, &self.scratch.ids, 0, 4);
        rec.copy(&self.sampler.out, 0, &self.history, pos as u64 * 4, 4);
        let recorded = model
            .forward(&mut rec, &mut self.state, &self.scratch, 1, LogitRows::Last)
            .and_then(|()| {
                let logits = self.scratch.logits.rows(model.cfg.vocab_size, 0);
                let n = pos + 1;
                let history = &self.history;
                self.sampler
                    .record(&mut rec, logits, sampling, n as u64, history, n)
            });
        match recorded.and_then(|()| rec.encode()) {
            Ok(encoded) => Ok(encoded),
            Err(e) => {
                if self.state.pos > pos {
                    self.rewind(pos)?;
                }
                Err(e)
            }
        }
    }

    /// Forgets the positions from `pos` on in the host's bookkeeping (the GPU never ran them).
    pub(super) fn rewind(&mut self, pos: usize) -> Result<()> {
        self.state.pos = pos;
        match &mut self.state.kv {
            Some(kv) => kv.truncate(0, pos),
            None => Ok(()),
        }
    }
}
