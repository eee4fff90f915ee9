//! A Mamba layer's small parameters: as read from the checkpoint (host, f32) and on the GPU.
use super::{MambaDims, ensure};
use crate::Result;
use crate::gpu::{Gpu, MemTag, Tensor};

/// The per-layer parameters on the host, all f32 (`a_log` as stored; A = −exp(A_log)).
#[derive(Clone, Debug)]
pub struct MambaHostWeights {
    /// `[conv_dim, K]`, tap K−1 multiplies the current token.
    pub conv_w: Vec<f32>,
    pub conv_b: Vec<f32>,
    pub dt_bias: Vec<f32>,
    pub a_log: Vec<f32>,
    pub d: Vec<f32>,
    /// `[Di]`
    pub norm_w: Vec<f32>,
}

impl MambaHostWeights {
    /// A = −exp(A_log) per head, in f32 as the GPU weights hold it.
    pub fn a(&self) -> Vec<f32> {
        self.a_log.iter().map(|&v| -v.exp()).collect()
    }
}

/// One layer's mixer parameters on the GPU, all f32 (they are small).
pub struct MambaLayerWeights {
    /// `[conv_dim, K]`, tap K−1 multiplies the current token.
    pub conv_w: Tensor,
    /// `[conv_dim]` (zeros when the checkpoint has no conv bias).
    pub conv_b: Tensor,
    /// `[nH]`
    pub dt_bias: Tensor,
    /// `[nH]` A = −exp(A_log), precomputed (GGUF's `ssm_a` is already this).
    pub a: Tensor,
    /// `[nH]`
    pub d: Tensor,
    /// `[Di]`
    pub norm_w: Tensor,
}

impl MambaLayerWeights {
    pub fn upload(gpu: &Gpu, dims: &MambaDims, w: &MambaHostWeights) -> Result<Self> {
        let (cd, k, nh, di) = (dims.conv_dim(), dims.d_conv, dims.n_heads, dims.d_inner());
        let t = |shape: &[usize], data: &[f32], label| {
            Tensor::from_f32(gpu, MemTag::MambaWeights, shape, data, label)
        };
        Ok(MambaLayerWeights {
            conv_w: t(&[cd, k], &w.conv_w, "mamba.conv1d.weight")?,
            conv_b: t(&[cd], &w.conv_b, "mamba.conv1d.bias")?,
            dt_bias: t(&[nh], &w.dt_bias, "mamba.dt_bias")?,
            a: t(&[nh], &w.a(), "mamba.A")?,
            d: t(&[nh], &w.d, "mamba.D")?,
            norm_w: t(&[di], &w.norm_w, "mamba.norm.weight")?,
        })
    }

    pub(super) fn check(&self, dims: &MambaDims) -> Result<()> {
        let (cd, nh) = (dims.conv_dim(), dims.n_heads);
        let ok = self.conv_w.numel() == cd * dims.d_conv
            && self.conv_b.numel() == cd
            && self.dt_bias.numel() == nh
            && self.a.numel() == nh
            && self.d.numel() == nh
            && self.norm_w.numel() == dims.d_inner();
        ensure(ok, || format!("mamba: layer weights do not match {dims:?}"))
    }
}
