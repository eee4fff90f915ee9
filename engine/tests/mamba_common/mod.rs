//! Shared helpers of the Mamba-2 kernel tests (`kernels_mamba_*.rs`): dims, random weights and
//! states, the strided in_proj output, the SSM-stage and whole-mixer cases, and a
//! `for_each_path` that serialises on GL.
// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use granite_engine::gpu::{Gpu, GpuBuffer, MemTag, Recorder, Tensor};
use granite_engine::kernels::mamba::{
    self, MambaDims, MambaHostWeights, MambaLayerWeights, MambaScratch, MambaState, PrefillScan,
};
use granite_engine::reference::mamba as cpu;
use granite_engine::testing::{Rng, gpus, poison};

/// `testing::for_each_path`, but one test at a time on GL: wgpu's GL backend shares one context
/// between threads and gives up ("Could not lock adapter context") when parallel tests hold it
/// for long, so the tests of each binary that includes this module serialise there.
pub fn for_each_path(f: impl FnMut(&str, &Gpu)) {
    static GL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let gl = gpus()
        .iter()
        .any(|(_, g)| g.info.backend == wgpu::Backend::Gl);
    let _guard = gl.then(|| GL.lock().unwrap_or_else(|e| e.into_inner()));
    granite_engine::testing::for_each_path(f);
}

pub fn dims(nh: usize, p: usize, n: usize, g: usize, k: usize, q: usize) -> MambaDims {
    MambaDims {
        hidden: 8,
        n_heads: nh,
        head_dim: p,
        d_state: n,
        n_groups: g,
        d_conv: k,
        chunk: q,
        time_step_limit: None,
        eps: 1e-5,
    }
}

/// Parameters in the ranges of the fixtures: decays exp(Δ·A) mostly 0.4 … 0.95.
pub fn host_weights(rng: &mut Rng, d: &MambaDims) -> MambaHostWeights {
    let nh = d.n_heads;
    let pos = |rng: &mut Rng, lo: f32, hi: f32, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| lo + (hi - lo) * 0.5 * (rng.uniform() + 1.0))
            .collect()
    };
    MambaHostWeights {
        conv_w: rng.vec(d.conv_dim() * d.d_conv, 0.6),
        conv_b: rng.vec(d.conv_dim(), 0.2),
        dt_bias: pos(rng, -3.0, -0.5, nh),
        a_log: pos(rng, 0.3f32.ln(), 2.5f32.ln(), nh),
        d: pos(rng, 0.2, 1.5, nh),
        norm_w: pos(rng, 0.6, 1.4, d.d_inner()),
    }
}

/// An in_proj output `[T, in_proj_dim]` stored with a row stride `in_proj_dim + 3` starting 5
/// floats in; the padding is NaN so a kernel reading outside its view fails.
pub struct InProj {
    pub data: Vec<f32>,
    pub t: Tensor,
    pub stride: usize,
    pub offset: usize,
}

impl InProj {
    pub fn new(gpu: &Gpu, d: &MambaDims, rng: &mut Rng, n_tok: usize) -> InProj {
        let w = d.in_proj_dim();
        let data = rng.vec(n_tok * w, 1.0);
        Self::upload(gpu, d, data)
    }
    pub fn upload(gpu: &Gpu, d: &MambaDims, data: Vec<f32>) -> InProj {
        let w = d.in_proj_dim();
        Self::upload_strided(gpu, d, data, w + 3, 5)
    }
    /// Rows `stride` floats apart from float `offset` (multiples of 4 take the vec4 paths).
    pub fn upload_strided(
        gpu: &Gpu,
        d: &MambaDims,
        data: Vec<f32>,
        stride: usize,
        offset: usize,
    ) -> InProj {
        let w = d.in_proj_dim();
        let n_tok = data.len() / w;
        let mut padded = vec![f32::NAN; offset + n_tok * stride + 2];
        for t in 0..n_tok {
            padded[offset + t * stride..][..w].copy_from_slice(&data[t * w..][..w]);
        }
        let t = Tensor::from_f32(gpu, MemTag::Scratch, &[padded.len()], &padded, "zxbcdt").unwrap();
        InProj {
            data,
            t,
            stride,
            offset,
        }
    }
    pub fn rows(&self) -> granite_engine::gpu::Rows<'_> {
        self.t.rows(self.stride, self.offset)
    }
    /// The view of rows `t0..` (for decode steps that take one row of a long prompt).
    pub fn rows_from(&self, t0: usize) -> granite_engine::gpu::Rows<'_> {
        self.t.rows(self.stride, self.offset + t0 * self.stride)
    }
}

pub fn random_state(rng: &mut Rng, d: &MambaDims) -> (Vec<f32>, Vec<f32>) {
    (
        rng.vec(d.conv_state_len(), 1.0),
        rng.vec(d.ssm_state_len(), 0.5),
    )
}

/// One slot's conv and SSM state, as host vectors.
pub type SlotState = (Vec<f32>, Vec<f32>);

/// A state of `n_slots` slots, each written with a random (conv, SSM) state, also returned.
pub fn random_slots(
    gpu: &Gpu,
    d: &MambaDims,
    n_slots: usize,
    seed: u64,
) -> (MambaState, Vec<SlotState>) {
    let state = MambaState::new(gpu, d, n_slots).unwrap();
    let mut rng = Rng::new(seed);
    let mut init = Vec::new();
    for s in 0..n_slots {
        let (c, ss) = random_state(&mut rng, d);
        state.write_slot(gpu, s, &c, &ss).unwrap();
        init.push((c, ss));
    }
    (state, init)
}

pub fn slots_buf(gpu: &Gpu, slots: &[u32]) -> GpuBuffer {
    mamba::upload_slots(gpu, slots).unwrap()
}

pub fn dense(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(gpu, MemTag::Scratch, shape, data, "t").unwrap()
}

pub fn poisoned(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let t = Tensor::zeros(gpu, MemTag::Scratch, shape, "out").unwrap();
    poison(gpu, &t.buf);
    t
}

pub fn split<'a>(
    d: &MambaDims,
    x: &'a InProj,
) -> (
    granite_engine::gpu::Rows<'a>,
    granite_engine::gpu::Rows<'a>,
    granite_engine::gpu::Rows<'a>,
) {
    let r = x.rows();
    let at = |off| x.t.rows(r.stride, r.offset + off);
    (at(d.z_offset()), at(d.xbc_offset()), at(d.dt_offset()))
}

/// GPU inputs of the SSM stage: activated xBC and the in_proj output for dt.
pub struct SsmCase {
    pub d: MambaDims,
    pub hw: MambaHostWeights,
    pub w: MambaLayerWeights,
    pub act: Vec<f32>,
    pub act_t: Tensor,
    pub x: InProj,
    pub init: Vec<f32>,
}

pub fn ssm_case(gpu: &Gpu, d: MambaDims, n_tok: usize, seed: u64) -> SsmCase {
    let mut rng = Rng::new(seed);
    let hw = host_weights(&mut rng, &d);
    let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
    // Post-SiLU activations are ≥ −0.28; a plain uniform is close enough for the scan.
    let act = rng.vec(n_tok * d.conv_dim(), 1.0);
    let act_t = dense(gpu, &[n_tok, d.conv_dim()], &act);
    let x = InProj::new(gpu, &d, &mut rng, n_tok);
    let init = rng.vec(d.ssm_state_len(), 0.5);
    SsmCase {
        d,
        hw,
        w,
        act,
        act_t,
        x,
        init,
    }
}

impl SsmCase {
    pub fn act_rows(&self) -> granite_engine::gpu::Rows<'_> {
        self.act_t.rows(self.d.conv_dim(), 0)
    }
    pub fn dt_raw(&self) -> Vec<f32> {
        cpu::split_in_proj(&self.d, &self.x.data).2
    }
    pub fn cpu_sequential(&self) -> (Vec<f32>, Vec<f32>) {
        let mut st = self.init.clone();
        let y = cpu::ssm_sequential(
            &self.d,
            &self.act,
            &self.dt_raw(),
            &self.hw.dt_bias,
            &self.hw.a(),
            &self.hw.d,
            &mut st,
        );
        (y, st)
    }
}

/// Everything a test of the whole mixer needs.
pub struct Mixer {
    pub d: MambaDims,
    pub hw: MambaHostWeights,
    pub w: MambaLayerWeights,
    pub x: InProj,
    pub conv0: Vec<f32>,
    pub ssm0: Vec<f32>,
}

pub fn mixer_case(gpu: &Gpu, d: MambaDims, n_tok: usize, seed: u64) -> Mixer {
    let mut rng = Rng::new(seed);
    let hw = host_weights(&mut rng, &d);
    let w = MambaLayerWeights::upload(gpu, &d, &hw).unwrap();
    let x = InProj::new(gpu, &d, &mut rng, n_tok);
    let (conv0, ssm0) = random_state(&mut rng, &d);
    Mixer {
        d,
        hw,
        w,
        x,
        conv0,
        ssm0,
    }
}

impl Mixer {
    pub fn state(&self, gpu: &Gpu, n_slots: usize, slot: usize) -> MambaState {
        let s = MambaState::new(gpu, &self.d, n_slots).unwrap();
        s.write_slot(gpu, slot, &self.conv0, &self.ssm0).unwrap();
        s
    }
    /// Prefill of rows `t0..t0+n` of the in_proj output into `out` rows `t0..`.
    #[allow(clippy::too_many_arguments)]
    pub fn prefill(
        &self,
        rec: &mut Recorder,
        state: &MambaState,
        slot: usize,
        scratch: &MambaScratch,
        out: &Tensor,
        t0: usize,
        n: usize,
        how: PrefillScan,
        d: &MambaDims,
    ) {
        let di = self.d.d_inner();
        mamba::mamba_mixer_prefill(
            rec,
            d,
            &self.w,
            self.x.rows_from(t0),
            n,
            state,
            slot,
            scratch,
            out.rows(di, t0 * di),
            how,
        )
        .unwrap();
    }
    pub fn cpu(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (mut c, mut s) = (self.conv0.clone(), self.ssm0.clone());
        let y = cpu::mixer(&self.d, &self.hw, &self.x.data, &mut c, &mut s);
        (y, c, s)
    }
}
