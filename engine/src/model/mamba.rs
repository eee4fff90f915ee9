//! The Mamba-2 mixer of one layer: `in_proj → conv + SSD scan + gated norm → out_proj`, the
//! middle part being the kernels of [`crate::kernels::mamba`].
use crate::Result;
use crate::gpu::{F16Matrix, MemTag, Recorder};
use crate::kernels::linear::{Epilogue, Input, fuses_conv, fuses_norm, linear};
use crate::kernels::mamba::{
    DecodeSteps, MambaDims, MambaHostWeights, MambaLayerWeights, MambaState, PrefillScan,
    conv_epilogue, gated_norm_input, mamba_mixer_decode, mamba_mixer_prefill,
};
use crate::model_files::ModelConfig;

use super::scratch::Scratch;
use super::state::{CONVERSATION_SLOT, State};
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
        debug_assert!(self.dims.in_proj_dim() <= s.mixer_in_width);
        // Decoding, in_proj runs the conv step in its epilogue: one dispatch fewer.
        let conv_done = n_tok == 1 && fuses_conv(rec.gpu());
        let st = &state.mamba[self.slot];
        let conv = conv_done
            .then(|| conv_epilogue(&self.dims, &self.w, st, CONVERSATION_SLOT))
            .transpose()?;
        let ep = Epilogue {
            bias: self.in_bias.as_ref(),
            conv,
            ..Default::default()
        };
        let zxbcdt = s.mixer_in.rows(s.mixer_in_width, 0);
        linear(rec, &self.in_proj, x, zxbcdt, n_tok, ep)?;
        let y = self.ssm(rec, state, s, n_tok, conv_done)?;
        let ep = Epilogue {
            alpha: residual,
            accumulate: true,
            bias: self.out_bias.as_ref(),
            ..Default::default()
        };
        let h = s.h.rows(self.dims.hidden, 0);
        linear(rec, &self.out_proj, y, h, n_tok, ep)
    }

    /// conv (unless in_proj did it) + SSD scan + gated norm over the in_proj output in the
    /// scratch, giving out_proj's input. Decoding on GPUs with one norm group, out_proj applies
    /// the gate and the norm itself as it reads the SSM output (one dispatch fewer).
    fn ssm<'s>(
        &'s self,
        rec: &mut Recorder,
        state: &'s State,
        s: &'s Scratch,
        n_tok: usize,
        conv_done: bool,
    ) -> Result<Input<'s>> {
        let (d, w) = (&self.dims, &self.w);
        let (st, slots): (&MambaState, _) = (&state.mamba[self.slot], &state.slots);
        let scratch = s
            .mamba
            .as_ref()
            .ok_or_else(|| crate::Error::Input("mamba scratch missing".into()))?;
        let zxbcdt = s.mixer_in.rows(s.mixer_in_width, 0);
        let y = s.mixer_out.rows(s.mixer_out_width, 0);
        if n_tok > 1 {
            let scan = PrefillScan::Chunked;
            mamba_mixer_prefill(rec, d, w, zxbcdt, n_tok, st, 0, scratch, y, scan)?;
            return Ok(y.into());
        }
        let gated = gated_norm_input(d, w, scratch, zxbcdt).filter(|_| fuses_norm(rec.gpu(), 1));
        let steps = DecodeSteps {
            conv_done,
            out: gated.is_none().then_some(y),
        };
        mamba_mixer_decode(rec, d, w, zxbcdt, 1, slots, st, scratch, steps)?;
        Ok(gated.unwrap_or(y.into()))
    }
}
