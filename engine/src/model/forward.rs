//! One forward call over `n_tok` new tokens of a conversation, recorded into a [`Recorder`]:
//!
//! ```text
//! h = embed(ids) · embedding_multiplier
//! for each layer:  h += residual_multiplier · mixer(rmsnorm(h))
//!                  h += residual_multiplier · (shared_mlp(v) + moe(v)),  v = rmsnorm(h)
//! logits = lm_head(rmsnorm(h)) / logits_scaling          (only the rows asked for)
//! ```
//! Residual adds are fused into the epilogue of each output projection; where
//! [`fuses_norm`] allows, a layer's RMSNorms are applied by the decode products that read them.
use super::{Mixer, Model, Scratch, State};
use crate::Result;
use crate::gpu::{Recorder, Tensor};
use crate::kernels::embedding::embed;
use crate::kernels::ensure;
use crate::kernels::linear::{Epilogue, Input, InputNorm, fuses_norm, linear};
use crate::kernels::rmsnorm::rmsnorm;

/// Which positions of the call get logits (written to `scratch.logits`, one row each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitRows {
    /// No logits (a prefill chunk that is not the last one).
    None,
    /// The last position only (generation).
    Last,
    /// Every position of the call (`granite logits`); needs `n_tok ≤ scratch.max_logit_rows`.
    All,
}

impl Model {
    /// Records the forward pass of the `n_tok` tokens already written to `scratch.ids`, at the
    /// conversation's current position, and advances the position.
    pub fn forward(
        &self,
        rec: &mut Recorder,
        state: &mut State,
        s: &Scratch,
        n_tok: usize,
        logits: LogitRows,
    ) -> Result<()> {
        let cfg = &self.cfg;
        let hdim = cfg.hidden_size;
        ensure(n_tok >= 1 && n_tok <= s.max_tokens, || {
            format!("forward: {n_tok} tokens, scratch holds {}", s.max_tokens)
        })?;
        embed(
            rec,
            &self.embed,
            &s.ids,
            n_tok,
            &s.h,
            cfg.embedding_multiplier,
        )?;
        let res = cfg.residual_multiplier;
        let fused = fuses_norm(rec.gpu(), n_tok);
        for layer in &self.layers {
            let x = self.normed(rec, s, &layer.input_norm, n_tok, fused)?;
            match &layer.mixer {
                Mixer::Mamba(m) => m.forward(rec, state, s, x, n_tok, res)?,
                Mixer::Attention(a) => a.forward(rec, state, s, x, n_tok, res)?,
            }
            // With fused norms `v` is `h` itself: every reader of `v` runs before the first
            // add into `h`.
            let v = self.normed(rec, s, &layer.post_norm, n_tok, fused)?;
            layer.shared_mlp.gate_up(rec, v, n_tok, s)?;
            let experts = match &layer.moe {
                Some(moe) => moe.forward(rec, s, v, n_tok, res)?,
                None => None,
            };
            let h = s.h.rows(hdim, 0);
            layer
                .shared_mlp
                .down(rec, h, n_tok, res, experts.as_ref(), s)?;
        }
        state.pos += n_tok;
        let (first, rows) = match logits {
            LogitRows::None => return Ok(()),
            LogitRows::Last => (n_tok - 1, 1),
            LogitRows::All => (0, n_tok),
        };
        ensure(rows <= s.max_logit_rows, || {
            format!(
                "forward: {rows} logit rows, scratch holds {}",
                s.max_logit_rows
            )
        })?;
        let input = if fuses_norm(rec.gpu(), rows) {
            // The LM head applies the final norm to the residual rows as it reads them.
            let norm = InputNorm {
                weight: &self.final_norm,
                eps: cfg.rms_norm_eps,
                gate: None,
            };
            Input {
                x: s.h.rows(hdim, first * hdim),
                norm: Some(norm),
            }
        } else {
            // Normalise only the rows that need logits, into `u` (free at this point).
            self.final_norm_rows(rec, first, rows, s)?;
            s.u.rows(hdim, 0).into()
        };
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        let ep = Epilogue {
            alpha: 1.0 / cfg.logits_scaling,
            accumulate: false,
            bias: None,
            ..Default::default()
        };
        linear(rec, head, input, s.logits.rows(cfg.vocab_size, 0), rows, ep)
    }
}

impl Model {
    /// `rmsnorm(h)` as the next product's input: the residual rows with the norm for the
    /// product to apply (`fused`), or the rows of `u` after an RMSNorm dispatch.
    fn normed<'s>(
        &self,
        rec: &mut Recorder,
        s: &'s Scratch,
        weight: &'s Tensor,
        n_tok: usize,
        fused: bool,
    ) -> Result<Input<'s>> {
        let (hdim, eps) = (self.cfg.hidden_size, self.cfg.rms_norm_eps);
        if fused {
            let norm = InputNorm {
                weight,
                eps,
                gate: None,
            };
            return Ok(Input {
                x: s.h.rows(hdim, 0),
                norm: Some(norm),
            });
        }
        rmsnorm(rec, &s.h, weight, &s.u, n_tok, eps)?;
        Ok(s.u.rows(hdim, 0).into())
    }

    /// Final RMSNorm of residual rows `first..first+rows` into `s.u[0..rows]`.
    fn final_norm_rows(
        &self,
        rec: &mut Recorder,
        first: usize,
        rows: usize,
        s: &Scratch,
    ) -> Result<()> {
        let (hdim, eps) = (self.cfg.hidden_size, self.cfg.rms_norm_eps);
        if first == 0 {
            return rmsnorm(rec, &s.h, &self.final_norm, &s.u, rows, eps);
        }
        // rmsnorm reads from row 0, so move the wanted rows to the front of a free buffer.
        ensure(s.mixer_out.numel() >= rows * hdim, || {
            "forward: scratch too small for the final norm".into()
        })?;
        rec.copy(
            &s.h.buf,
            (first * hdim * 4) as u64,
            &s.mixer_out.buf,
            0,
            (rows * hdim * 4) as u64,
        );
        rmsnorm(rec, &s.mixer_out, &self.final_norm, &s.u, rows, eps)
    }
}
