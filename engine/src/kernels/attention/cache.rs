//! The KV cache: per attention layer, f16 K and V for a fixed number of sequence slots.
//!
//! Layout of one layer's K (and V) buffer: `[slot][cap][n_kv][ld]` halves with `ld` = head_dim
//! rounded up to 8 (zero padding), so kernels read whole 8-half blocks and a whole decode batch
//! binds one buffer. `cap` is shared by the slots of a layer and grows in blocks of `block`
//! tokens up to `max_ctx`: growing allocates a bigger buffer and copies each slot's rows on the
//! GPU, so `MemTag::KvCache` shows the cache growing with the context. Lengths are host-side and
//! advance when an append is recorded (recording is in order, so later ops see them).
use super::super::ensure;
use crate::gpu::{GpuBuffer, MemTag, Recorder};
use crate::{Error, Result};

/// Shape of a KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvConfig {
    /// Attention layers (the cache's own index, not the model's layer index).
    pub layers: usize,
    /// Sequence slots (independent conversations decoded together).
    pub seqs: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Most tokens one sequence may hold (the context limit).
    pub max_ctx: usize,
    /// Growth step in tokens.
    pub block: usize,
}

struct Layer {
    /// `(K, V)`, absent until the first append.
    bufs: Option<(GpuBuffer, GpuBuffer)>,
    cap: usize,
    lens: Vec<usize>,
}

pub struct KvCache {
    cfg: KvConfig,
    ld: usize,
    layers: Vec<Layer>,
    /// Scratch for the split decode's partial results, shared by all layers.
    partials: Option<GpuBuffer>,
}

impl KvCache {
    /// An empty cache; nothing is allocated until the first append.
    pub fn new(cfg: KvConfig) -> Result<KvCache> {
        ensure(
            cfg.layers > 0 && cfg.seqs > 0 && cfg.n_kv_heads > 0 && cfg.block > 0,
            || format!("KV cache: layers, seqs, n_kv_heads and block must be > 0 ({cfg:?})"),
        )?;
        ensure((1..=256).contains(&cfg.head_dim), || {
            format!("KV cache: head_dim {} outside 1..=256", cfg.head_dim)
        })?;
        ensure(
            cfg.max_ctx > 0 && cfg.max_ctx < u32::MAX as usize / 2,
            || format!("KV cache: context limit {} out of range", cfg.max_ctx),
        )?;
        let layers = (0..cfg.layers)
            .map(|_| Layer {
                bufs: None,
                cap: 0,
                lens: vec![0; cfg.seqs],
            })
            .collect();
        Ok(KvCache {
            cfg,
            ld: cfg.head_dim.div_ceil(8) * 8,
            layers,
            partials: None,
        })
    }

    pub fn config(&self) -> &KvConfig {
        &self.cfg
    }

    /// Halves per (token, kv head) row in the buffers (head_dim rounded up to 8).
    pub fn row_halves(&self) -> usize {
        self.ld
    }

    /// Bytes of one token of one slot (K or V).
    fn token_bytes(&self) -> u64 {
        (self.cfg.n_kv_heads * self.ld * 2) as u64
    }

    fn check(&self, layer: usize, seq: usize) -> Result<()> {
        ensure(layer < self.cfg.layers && seq < self.cfg.seqs, || {
            format!(
                "KV cache: layer {layer} / sequence {seq} out of range ({} layers, {} sequences)",
                self.cfg.layers, self.cfg.seqs
            )
        })
    }

    /// Tokens stored for `seq` in `layer`.
    pub fn len(&self, layer: usize, seq: usize) -> usize {
        self.layers[layer].lens[seq]
    }

    /// Token rows per slot currently allocated in `layer`.
    pub fn capacity(&self, layer: usize) -> usize {
        self.layers[layer].cap
    }

    /// Whether every layer holds `len` tokens per slot without growing. Growing records copies
    /// of the old rows into the recording, which then must not be discarded.
    pub fn holds_without_growing(&self, len: usize) -> bool {
        self.layers.iter().all(|l| l.bufs.is_some() && len <= l.cap)
    }

    /// Bytes held by the K/V buffers (not the decode scratch).
    pub fn bytes(&self) -> u64 {
        let per = self.cfg.seqs as u64 * self.token_bytes() * 2;
        self.layers.iter().map(|l| l.cap as u64 * per).sum()
    }

    /// `layer`'s K and V buffers (None before the first append), e.g. for inspection in tests.
    pub fn buffers(&self, layer: usize) -> Option<(&GpuBuffer, &GpuBuffer)> {
        self.layers[layer].bufs.as_ref().map(|(k, v)| (k, v))
    }

    pub(crate) fn bufs(&self, layer: usize) -> Result<(&GpuBuffer, &GpuBuffer)> {
        self.buffers(layer)
            .ok_or_else(|| Error::Input(format!("KV cache: layer {layer} holds no tokens yet")))
    }

    /// Makes room for `seq` to hold `len` tokens in `layer`, growing the layer's buffers (in
    /// blocks, up to the context limit) and copying the old rows on the GPU.
    pub fn reserve(
        &mut self,
        rec: &mut Recorder,
        layer: usize,
        seq: usize,
        len: usize,
    ) -> Result<()> {
        self.check(layer, seq)?;
        ensure(len <= self.cfg.max_ctx, || {
            format!(
                "context full: sequence {seq} would hold {len} tokens, the context limit is {}",
                self.cfg.max_ctx
            )
        })?;
        if len <= self.layers[layer].cap {
            return Ok(());
        }
        let cap = len.div_ceil(self.cfg.block).saturating_mul(self.cfg.block);
        let cap = cap.min(self.cfg.max_ctx);
        let gpu = rec.gpu();
        let tb = self.token_bytes();
        let bytes = self.cfg.seqs as u64 * cap as u64 * tb;
        if bytes > gpu.max_binding {
            return Err(Error::OutOfMemory(format!(
                "KV cache layer {layer}: {} sequences × {cap} tokens need {bytes} bytes in one \
                 binding, the adapter allows {} (use fewer sequences or a shorter context)",
                self.cfg.seqs, gpu.max_binding
            )));
        }
        let k = gpu.alloc(MemTag::KvCache, bytes, "kv cache K")?;
        let v = gpu.alloc(MemTag::KvCache, bytes, "kv cache V")?;
        let l = &mut self.layers[layer];
        if let Some((ok, ov)) = &l.bufs {
            for (s, &n) in l.lens.iter().enumerate() {
                let (src, dst) = (s as u64 * l.cap as u64 * tb, s as u64 * cap as u64 * tb);
                rec.copy(ok, src, &k, dst, n as u64 * tb);
                rec.copy(ov, src, &v, dst, n as u64 * tb);
            }
        }
        l.bufs = Some((k, v));
        l.cap = cap;
        Ok(())
    }

    /// Sets `seq`'s length in `layer` (after an append was recorded).
    pub(crate) fn set_len(&mut self, layer: usize, seq: usize, len: usize) {
        self.layers[layer].lens[seq] = len;
    }

    /// Forgets everything of `seq` after its first `len` tokens, in every layer (regenerate,
    /// edit a turn). Buffers keep their size.
    pub fn truncate(&mut self, seq: usize, len: usize) -> Result<()> {
        self.check(0, seq)?;
        for (i, l) in self.layers.iter_mut().enumerate() {
            ensure(len <= l.lens[seq], || {
                format!(
                    "KV cache: cannot truncate sequence {seq} to {len} tokens, layer {i} holds {}",
                    l.lens[seq]
                )
            })?;
        }
        for l in &mut self.layers {
            l.lens[seq] = len;
        }
        Ok(())
    }

    /// Makes `dst` a copy of `src` in every layer (fork a conversation, keep a snapshot).
    /// Copies go through a scratch buffer: WebGPU forbids copying within one buffer.
    pub fn copy_seq(&mut self, rec: &mut Recorder, src: usize, dst: usize) -> Result<()> {
        self.check(0, src)?;
        self.check(0, dst)?;
        if src == dst {
            return Ok(());
        }
        let tb = self.token_bytes();
        let most = self.layers.iter().map(|l| l.lens[src]).max().unwrap_or(0) as u64 * tb;
        if most == 0 {
            for l in &mut self.layers {
                l.lens[dst] = 0;
            }
            return Ok(());
        }
        let tmp = rec.gpu().alloc(MemTag::Scratch, most, "kv copy")?;
        for l in &mut self.layers {
            let n = l.lens[src] as u64 * tb;
            if let Some((k, v)) = &l.bufs {
                let (s_off, d_off) = (
                    src as u64 * l.cap as u64 * tb,
                    dst as u64 * l.cap as u64 * tb,
                );
                for b in [k, v] {
                    rec.copy(b, s_off, &tmp, 0, n);
                    rec.copy(&tmp, 0, b, d_off, n);
                }
            }
            l.lens[dst] = l.lens[src];
        }
        Ok(())
    }

    /// A copy of every sequence's rows in new buffers of the same capacity, recorded into
    /// `rec` (snapshots and forks of a conversation).
    pub fn duplicate(&self, rec: &mut Recorder) -> Result<KvCache> {
        let mut out = KvCache::new(self.cfg)?;
        let tb = self.token_bytes();
        for (src, dst) in self.layers.iter().zip(&mut out.layers) {
            let Some((k, v)) = &src.bufs else { continue };
            let gpu = rec.gpu();
            let nk = gpu.alloc(MemTag::KvCache, k.size(), "kv cache K")?;
            let nv = gpu.alloc(MemTag::KvCache, v.size(), "kv cache V")?;
            for (s, &n) in src.lens.iter().enumerate() {
                let off = s as u64 * src.cap as u64 * tb;
                rec.copy(k, off, &nk, off, n as u64 * tb);
                rec.copy(v, off, &nv, off, n as u64 * tb);
            }
            dst.bufs = Some((nk, nv));
            dst.cap = src.cap;
            dst.lens = src.lens.clone();
        }
        Ok(out)
    }

    /// The decode scratch, at least `floats` long (grown as needed).
    pub(crate) fn partials(&mut self, rec: &Recorder, floats: usize) -> Result<GpuBuffer> {
        let bytes = floats as u64 * 4;
        let gpu = rec.gpu();
        if bytes > gpu.max_binding {
            return Err(Error::OutOfMemory(format!(
                "attention decode: partial results need {bytes} bytes in one binding, the \
                 adapter allows {} (decode fewer sequences at once)",
                gpu.max_binding
            )));
        }
        match &self.partials {
            Some(b) if b.size() >= bytes => Ok(b.clone()),
            _ => {
                // Powers of two, so a context growing token by token reallocates rarely.
                let size = bytes.next_power_of_two().max(1 << 16).min(gpu.max_binding);
                let b = gpu.alloc(MemTag::Scratch, size, "attention partials")?;
                self.partials = Some(b.clone());
                Ok(b)
            }
        }
    }
}
