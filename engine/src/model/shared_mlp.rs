//! The always-on shared MLP (also the whole FFN of dense variants):
//! `shared(v) = W_out · (silu(W_in,gate · v) ⊙ W_in,up · v)`, with `input_linear` holding the
//! gate rows first, then the up rows.
use crate::Result;
use crate::gpu::{F16Matrix, MemTag, Recorder, Rows};
use crate::kernels::linear::{Epilogue, Input, linear, linear_swiglu};
use crate::kernels::moe::ExpertSum;

use super::scratch::Scratch;
use super::upload::Uploader;

pub struct SharedMlp {
    /// `[2S, H]`: gate rows then up rows.
    input_linear: F16Matrix,
    /// `[H, S]`
    output_linear: F16Matrix,
    width: usize,
}

impl SharedMlp {
    pub(crate) fn load(up: &mut Uploader, layer: usize) -> Result<SharedMlp> {
        let p = format!("model.layers.{layer}.shared_mlp");
        let input_linear =
            up.matrix(&[&format!("{p}.input_linear.weight")], MemTag::SharedMlp, 1)?;
        let output_linear = up.matrix(
            &[&format!("{p}.output_linear.weight")],
            MemTag::SharedMlp,
            1,
        )?;
        let width = input_linear.rows / 2;
        Ok(SharedMlp {
            input_linear,
            output_linear,
            width,
        })
    }

    /// First half of `h += alpha · shared(v)`: the gated activations of `n_tok` rows of the
    /// normed input `v`, into the scratch.
    pub fn gate_up(&self, rec: &mut Recorder, v: Input, n_tok: usize, s: &Scratch) -> Result<()> {
        linear_swiglu(rec, &self.input_linear, v, &s.ffn_in, &s.ffn_act, n_tok)
    }

    /// Second half: `h += alpha · down(activations)`, plus the routed experts' weighted sum
    /// when the MoE layer left it to this product.
    pub fn down(
        &self,
        rec: &mut Recorder,
        h: Rows,
        n_tok: usize,
        alpha: f32,
        experts: Option<&ExpertSum>,
        s: &Scratch,
    ) -> Result<()> {
        let ep = Epilogue {
            alpha,
            accumulate: true,
            experts,
            ..Default::default()
        };
        linear(
            rec,
            &self.output_linear,
            s.ffn_act.rows(self.width, 0),
            h,
            n_tok,
            ep,
        )
    }
}
