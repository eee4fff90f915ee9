//! The caches of one conversation: the KV cache of the attention layers (grows with the
//! context) and the conv + SSM state of each Mamba layer (fixed size).
use crate::Result;
use crate::gpu::{GpuBuffer, MemTag, Recorder};
use crate::kernels::attention::{KvCache, KvConfig};
use crate::kernels::mamba::MambaState;

use super::Model;

/// The conversation's slot in each Mamba state (a state holds one sequence here).
pub const CONVERSATION_SLOT: usize = 0;

/// KV cache growth step, in tokens.
pub const KV_BLOCK: usize = 256;

pub struct State {
    /// One Mamba state per Mamba layer, in layer order.
    pub mamba: Vec<MambaState>,
    /// All attention layers' K/V (absent for attention-free models).
    pub kv: Option<KvCache>,
    /// `[0]`: the state slot of this conversation, for the multi-sequence decode kernels.
    pub slots: GpuBuffer,
    /// Tokens in the caches.
    pub pos: usize,
    /// The most tokens the caches may hold.
    pub max_context: usize,
}

impl State {
    pub fn new(model: &Model, max_context: usize) -> Result<State> {
        let cfg = &model.cfg;
        let gpu = &model.gpu;
        let mamba_dims = super::mamba::dims(cfg);
        let mamba = (0..cfg.n_mamba_layers())
            .map(|_| MambaState::new(gpu, &mamba_dims, 1))
            .collect::<Result<Vec<_>>>()?;
        let kv = if cfg.n_attention_layers() > 0 {
            Some(KvCache::new(KvConfig {
                layers: cfg.n_attention_layers(),
                seqs: 1,
                n_kv_heads: cfg.num_key_value_heads,
                head_dim: cfg.head_dim,
                max_ctx: max_context,
                block: KV_BLOCK,
            })?)
        } else {
            None
        };
        let slots = gpu.upload(
            MemTag::Scratch,
            &[CONVERSATION_SLOT as u32; 4],
            "state slots",
        )?;
        Ok(State {
            mamba,
            kv,
            slots,
            pos: 0,
            max_context,
        })
    }

    /// GPU bytes of the caches (KV rows allocated so far, conv and SSM states).
    pub fn bytes(&self) -> u64 {
        let kv = self.kv.as_ref().map_or(0, |kv| kv.bytes());
        let mamba: u64 = self
            .mamba
            .iter()
            .map(|m| m.conv.buf.size() + m.ssm.buf.size())
            .sum();
        kv + mamba + self.slots.size()
    }

    /// A copy of these caches, recorded into `rec` (buffer copies only).
    pub fn duplicate(&self, rec: &mut Recorder, model: &Model) -> Result<State> {
        let mut copy = State::new(model, self.max_context)?;
        for (src, dst) in self.mamba.iter().zip(&copy.mamba) {
            rec.copy(&src.conv.buf, 0, &dst.conv.buf, 0, src.conv.buf.size());
            rec.copy(&src.ssm.buf, 0, &dst.ssm.buf, 0, src.ssm.buf.size());
        }
        if let Some(kv) = &self.kv {
            copy.kv = Some(kv.duplicate(rec)?);
        }
        copy.pos = self.pos;
        Ok(copy)
    }
}
