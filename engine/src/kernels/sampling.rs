//! Token sampling on the GPU: only the chosen id crosses to the host.
//! (Interim: greedy only; temperature sampling arrives with the sampling kernels.)
use bytemuck::{Pod, Zeroable};

use crate::gpu::{Bind, GpuBuffer, Recorder, Rows};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 → greedy.
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn validate(&self) -> Result<()> {
        if self.temperature.is_nan() || self.temperature < 0.0 || !self.temperature.is_finite() {
            return Err(Error::Input(format!(
                "temperature must be a finite number ≥ 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Input(format!(
                "top-p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if self.repetition_penalty.is_nan()
            || self.repetition_penalty <= 0.0
            || !self.repetition_penalty.is_finite()
        {
            return Err(Error::Input(format!(
                "repetition penalty must be a finite number > 0, got {}",
                self.repetition_penalty
            )));
        }
        if self.temperature > 0.0 || self.repetition_penalty != 1.0 {
            return Err(Error::Input("sampling with temperature > 0 or a repetition penalty is not available yet; use --temperature 0".into()));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    offset: u32,
    _p: [u32; 2],
}

/// Picks the next token from the first row of `logits` into `out[0]`.
pub fn sample(
    rec: &mut Recorder,
    logits: Rows,
    params: &SamplingParams,
    _step: u64,
    _history: &GpuBuffer,
    _history_len: usize,
    out: &GpuBuffer,
) -> Result<()> {
    params.validate()?;
    let gpu = rec.gpu();
    let pipeline = gpu.pipeline(&gpu.variant("sampling_greedy", &[]), "argmax")?;
    let p = Params {
        n: logits.stride as u32,
        offset: logits.offset as u32,
        _p: [0; 2],
    };
    rec.dispatch(
        &pipeline,
        "sampling",
        &p,
        vec![Bind::whole(&logits.t.buf), Bind::whole(out)],
        [1, 1, 1],
    );
    Ok(())
}
