//! Token sampling on the GPU (`shaders/sampling.wgsl`): greedy, temperature, top-k, top-p and
//! repetition penalty with a counter-based RNG, so the same seed gives the same text and only
//! the chosen id (plus a non-finite flag) crosses to the host.
use super::ensure;
use crate::gpu::{Bind, Gpu, GpuBuffer, MemTag, Readback, Recorder, Rows, grid, uniform};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 → greedy (always the most likely token).
    pub temperature: f32,
    /// Keep the k most likely tokens (0: off). Ties at the threshold are all kept.
    pub top_k: u32,
    /// Keep the most likely tokens whose mass reaches p, in (0, 1] (1: off).
    pub top_p: f32,
    /// HF semantics: for ids seen before, logit / penalty if positive, × penalty if not (1: off).
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
        let t = self.temperature;
        if t.is_nan() || t < 0.0 || t.is_infinite() {
            return Err(Error::Input(format!(
                "temperature must be a finite number ≥ 0, got {t}"
            )));
        }
        let p = self.top_p;
        if p.is_nan() || p <= 0.0 || p > 1.0 {
            return Err(Error::Input(format!("top-p must be in (0, 1], got {p}")));
        }
        let r = self.repetition_penalty;
        if r.is_nan() || r <= 0.0 || r.is_infinite() {
            return Err(Error::Input(format!(
                "repetition penalty must be a finite number > 0, got {r}"
            )));
        }
        Ok(())
    }
}

uniform! {
    struct Params {
        n: u32,
        offset: u32,
        hist_len: u32,
        top_k: u32,
        temperature: f32,
        top_p: f32,
        penalty: f32,
        seed_lo: u32,
        seed_hi: u32,
        step_lo: u32,
        step_hi: u32,
        _p: u32,
    }
}

/// The sampler's GPU buffers for one vocabulary size.
pub struct Sampler {
    vocab: usize,
    seen: GpuBuffer,
    /// `[id, non-finite flag]` of the last sampling; the next decode step reads the id here.
    pub out: GpuBuffer,
    readback: Readback,
    /// Per-block (value, id, flag) of the two-dispatch greedy path.
    blocks: GpuBuffer,
}

/// Logits per workgroup of `argmax_blocks` (argmax.wgsl's BLOCK).
const ARGMAX_BLOCK: usize = 256 * 16;

uniform! {
    struct ArgmaxParams {
        n: u32,
        offset: u32,
        n_blocks: u32,
        _p: u32,
    }
}

impl Sampler {
    pub fn new(gpu: &Gpu, vocab: usize) -> Result<Sampler> {
        Ok(Sampler {
            vocab,
            seen: gpu.alloc(
                MemTag::Scratch,
                (vocab.div_ceil(32) * 4) as u64,
                "sampler seen-set",
            )?,
            out: gpu.alloc(MemTag::Scratch, 16, "sampled id")?,
            readback: Readback::new(gpu, 8, "sampled id readback"),
            blocks: gpu.alloc(
                MemTag::Scratch,
                (vocab.div_ceil(ARGMAX_BLOCK) * 16) as u64,
                "argmax blocks",
            )?,
        })
    }

    /// Records sampling from `logits` (one row of `vocab` floats at `logits.offset`), with the
    /// repetition penalty over the first `hist_len` ids of `history`. `step` seeds the draw.
    pub fn record(
        &self,
        rec: &mut Recorder,
        logits: Rows,
        params: &SamplingParams,
        step: u64,
        history: &GpuBuffer,
        hist_len: usize,
    ) -> Result<()> {
        params.validate()?;
        ensure(logits.fits(1, self.vocab), || {
            format!("sample: logits hold fewer than {} floats", self.vocab)
        })?;
        ensure(history.size() >= (hist_len * 4) as u64, || {
            format!("sample: history holds fewer than {hist_len} ids")
        })?;
        if params.temperature == 0.0 && params.repetition_penalty == 1.0 {
            self.record_argmax(rec, logits)?;
            self.readback.record_copy(rec, &self.out, 0, 8);
            return Ok(());
        }
        let gpu = rec.gpu();
        let mut variant = gpu.variant("sampling", &[]);
        // WG1024 also needs its reduction arrays: 24 bytes per invocation.
        let l = &gpu.limits;
        if l.max_compute_invocations_per_workgroup >= 1024
            && l.max_compute_workgroup_size_x >= 1024
            && l.max_compute_workgroup_storage_size >= 24 * 1024
        {
            variant.flags.insert("WG1024");
        }
        let pipeline = gpu.pipeline(&variant, "sample")?;
        let p = Params {
            n: self.vocab as u32,
            offset: logits.offset as u32,
            hist_len: hist_len as u32,
            top_k: params.top_k,
            temperature: params.temperature,
            top_p: params.top_p,
            penalty: params.repetition_penalty,
            seed_lo: params.seed as u32,
            seed_hi: (params.seed >> 32) as u32,
            step_lo: step as u32,
            step_hi: (step >> 32) as u32,
            _p: 0,
        };
        let binds = vec![
            Bind::read(&logits.t.buf),
            Bind::read(history),
            Bind::write(&self.seen),
            Bind::write(&self.out),
        ];
        rec.dispatch(&pipeline, "sampling", &p, binds, [1, 1, 1]);
        // Into the same command buffer: reading the id back needs no submission of its own.
        self.readback.record_copy(rec, &self.out, 0, 8);
        Ok(())
    }

    /// Plain greedy choice over many workgroups, then one that picks among their winners: the
    /// same id as the one-workgroup kernel, in a few microseconds instead of ~150 on a GPU.
    fn record_argmax(&self, rec: &mut Recorder, logits: Rows) -> Result<()> {
        let gpu = rec.gpu();
        let n_blocks = self.vocab.div_ceil(ARGMAX_BLOCK) as u32;
        let p = ArgmaxParams {
            n: self.vocab as u32,
            offset: logits.offset as u32,
            n_blocks,
            _p: 0,
        };
        let variant = gpu.variant("argmax", &[]);
        let blocks = gpu.pipeline(&variant, "argmax_blocks")?;
        let binds = vec![Bind::read(&logits.t.buf), Bind::write(&self.blocks)];
        rec.dispatch(&blocks, "sampling", &p, binds, grid(gpu, n_blocks));
        // Each entry point's layout holds only the bindings it uses.
        let last = gpu.pipeline(&variant, "argmax_final")?;
        let binds = vec![Bind::write(&self.blocks).at(2), Bind::write(&self.out)];
        rec.dispatch(&last, "sampling", &p, binds, [1, 1, 1]);
        Ok(())
    }

    /// The sampled id, after the recorded work was submitted (waits for it); an error if the
    /// logits were not finite (the model diverged), instead of silently picking a token.
    pub fn read(&self, gpu: &Gpu) -> Result<u32> {
        let v: Vec<u32> = self.readback.read(gpu, 2)?;
        if v[1] != 0 {
            return Err(Error::Gpu(
                "the model produced NaN or infinite logits".into(),
            ));
        }
        Ok(v[0])
    }
}
