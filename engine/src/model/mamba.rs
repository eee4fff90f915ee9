//! The Mamba-2 mixer of one layer: `in_proj → conv + SSD scan + gated norm → out_proj`, the
//! middle part being the kernels of [`crate::kernels::mamba`].
use crate::Result;
use crate::gpu::{F16Matrix, MemTag, Recorder};
use crate::kernels::linear::fuses_norm;
use crate::kernels::linear::{Epilogue, Input, linear};
use crate::kernels::mamba::{
    MambaDims, MambaLayerWeights, MambaState, PrefillScan, gated_norm_input, mamba_mixer_decode,
    mamba_mixer_prefill,
};
use crate::model_files::ModelConfig;
use crate::reference::mamba::MambaHostWeights;

use super::scratch::Scratch;
use super::state::State;
use super::upload::Uploader;

pub(crate) struct MambaMixer {
    in_proj: F16Matrix,
    out_proj: F16Matrix,
    in_bias: Option<crate::gpu::Tensor>,
    out_bias: Option<crate::gpu::Tensor>,
    w: MambaLayerWeights,
    pub dims: MambaDims,
    /// Index of this layer's state in [`State::mamba`].
    pub slot: usize,
}

pub(crate) fn dims(cfg: &ModelConfig) -> MambaDims {
    MambaDims {
        hidden: cfg.hidden_size,
        n_heads: cfg.mamba_n_heads,
        head_dim: cfg.mamba_d_head,
        d_state: cfg.mamba_d_state,
        n_groups: cfg.mamba_n_groups,
        d_conv: cfg.mamba_d_conv,
        chunk: cfg.mamba_chunk_size,
        time_step_limit: cfg.dt_clamp(),
        eps: cfg.rms_norm_eps,
    }
}

impl MambaMixer {
    pub fn load(
        up: &mut Uploader,
        cfg: &ModelConfig,
        layer: usize,
        slot: usize,
    ) -> Result<MambaMixer> {
        let p = format!("model.layers.{layer}.mamba");
        let dims = dims(cfg);
        let in_proj = up.matrix(&[&format!("{p}.in_proj.weight")], MemTag::MambaWeights, 1)?;
        let out_proj = up.matrix(&[&format!("{p}.out_proj.weight")], MemTag::MambaWeights, 1)?;
        let (in_bias, out_bias) = if cfg.mamba_proj_bias {
            (
                Some(up.vector(&format!("{p}.in_proj.bias"), MemTag::MambaWeights)?),
                Some(up.vector(&format!("{p}.out_proj.bias"), MemTag::MambaWeights)?),
            )
        } else {
            (None, None)
        };
        let conv_b = if cfg.mamba_conv_bias {
            up.host_f32(&format!("{p}.conv1d.bias"))?
        } else {
            vec![0.0; dims.conv_dim()]
        };
        let host = MambaHostWeights {
            // [conv_dim, 1, K] on disk: the same floats as [conv_dim, K].
            conv_w: up.host_f32(&format!("{p}.conv1d.weight"))?,
            conv_b,
            dt_bias: up.host_f32(&format!("{p}.dt_bias"))?,
            a_log: up.host_f32(&format!("{p}.A_log"))?,
            d: up.host_f32(&format!("{p}.D"))?,
            norm_w: up.host_f32(&format!("{p}.norm.weight"))?,
        };
        let w = MambaLayerWeights::upload(up.gpu, &dims, &host)?;
        Ok(MambaMixer {
            in_proj,
            out_proj,
            in_bias,
            out_bias,
            w,
            dims,
            slot,
        })
    }

    /// `h += residual · out_proj(mixer(in_proj(x)))` for `n_tok` rows of the normed input `x`.
    pub fn forward(
        &self,
        rec: &mut Recorder,
        state: &State,
        s: &Scratch,
        x: Input,
        n_tok: usize,
        residual: f32,
    ) -> Result<()> {
        let width = self.dims.in_proj_dim();
        let zxbcdt = s.mixer_in.rows(s.mixer_in_width, 0);
        let ep = Epilogue {
            bias: self.in_bias.as_ref(),
            ..Default::default()
        };
        linear(rec, &self.in_proj, x, zxbcdt, n_tok, ep)?;
        let st: &MambaState = &state.mamba[self.slot];
        let scratch = s
            .mamba
            .as_ref()
            .ok_or_else(|| crate::Error::Input("mamba scratch missing".into()))?;
        let y = s.mixer_out.rows(s.mixer_out_width, 0);
        debug_assert!(width <= s.mixer_in_width);
        let ep = Epilogue {
            alpha: residual,
            accumulate: true,
            bias: self.out_bias.as_ref(),
        };
        let h = s.h.rows(self.dims.hidden, 0);
        let (d, w) = (&self.dims, &self.w);
        if n_tok > 1 {
            let scan = PrefillScan::Chunked;
            mamba_mixer_prefill(rec, d, w, zxbcdt, n_tok, st, 0, scratch, y, scan)?;
            return linear(rec, &self.out_proj, y, h, n_tok, ep);
        }
        let slots = &state.slots;
        // On GPUs out_proj applies the gate and the norm as it reads the SSM output.
        if fuses_norm(rec.gpu(), n_tok)
            && let Some(y) = gated_norm_input(d, w, scratch, zxbcdt)
        {
            mamba_mixer_decode(rec, d, w, zxbcdt, 1, slots, st, scratch, None)?;
            return linear(rec, &self.out_proj, y, h, n_tok, ep);
        }
        mamba_mixer_decode(rec, d, w, zxbcdt, 1, slots, st, scratch, Some(y))?;
        linear(rec, &self.out_proj, y, h, n_tok, ep)
    }
}
