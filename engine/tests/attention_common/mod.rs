//! Shared helpers of the attention kernel tests (`kernels_attention_*.rs`): dims and caches,
//! the fused q/k/v input and the strided output, and prefill and decode steps checked against
//! the CPU reference.
// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use granite_engine::gpu::{Gpu, MemTag, Recorder, Rows, Tensor};
use granite_engine::kernels::attention::{
    AttnDims, KvCache, KvConfig, attention_decode, attention_prefill,
};
use granite_engine::reference::attention::RefKvSeq;
use granite_engine::testing::{Rng, assert_close, poison};

pub const TOL: f32 = 2e-4;

pub fn dims(head_dim: usize, n_heads: usize, n_kv_heads: usize, rope: bool) -> AttnDims {
    AttnDims {
        n_heads,
        n_kv_heads,
        head_dim,
        // Large enough that the softmax is far from uniform, so weighting errors show.
        scale: 4.0 / (head_dim as f32).sqrt(),
        rope_theta: rope.then_some(10_000.0),
    }
}

pub fn cache(d: &AttnDims, layers: usize, seqs: usize, max_ctx: usize, block: usize) -> KvCache {
    KvCache::new(KvConfig {
        layers,
        seqs,
        n_kv_heads: d.n_kv_heads,
        head_dim: d.head_dim,
        max_ctx,
        block,
    })
    .unwrap()
}

/// Random q, k, v for `n_tok` tokens, uploaded as one fused projection output
/// `[T, 1 + (nQ + 2·nKV)·hd + 4]` so the kernels read them through strided, offset views.
pub struct Qkv {
    pub t: Tensor,
    pub width: usize,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub d: AttnDims,
}

impl Qkv {
    pub fn new(gpu: &Gpu, rng: &mut Rng, n_tok: usize, d: &AttnDims) -> Qkv {
        let (nq, nkv) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
        let (q, k, v) = (
            rng.vec(n_tok * nq, 1.0),
            rng.vec(n_tok * nkv, 1.0),
            rng.vec(n_tok * nkv, 1.0),
        );
        let width = 1 + nq + 2 * nkv + 4;
        let mut fused = rng.vec(n_tok * width, 9.0);
        for t in 0..n_tok {
            let row = &mut fused[t * width + 1..];
            row[..nq].copy_from_slice(&q[t * nq..][..nq]);
            row[nq..nq + nkv].copy_from_slice(&k[t * nkv..][..nkv]);
            row[nq + nkv..nq + 2 * nkv].copy_from_slice(&v[t * nkv..][..nkv]);
        }
        let t = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, width], &fused, "qkv").unwrap();
        Qkv {
            t,
            width,
            q,
            k,
            v,
            d: *d,
        }
    }
    pub fn q(&self) -> Rows<'_> {
        self.t.rows(self.width, 1)
    }
    pub fn k(&self) -> Rows<'_> {
        self.t
            .rows(self.width, 1 + self.d.n_heads * self.d.head_dim)
    }
    pub fn v(&self) -> Rows<'_> {
        let d = &self.d;
        self.t
            .rows(self.width, 1 + (d.n_heads + d.n_kv_heads) * d.head_dim)
    }
}

/// A poisoned output `[T, nQ·hd]` seen with row stride nQ·hd + 3 and offset 2.
pub struct Out {
    pub t: Tensor,
    pub width: usize,
    pub stride: usize,
}

impl Out {
    pub fn new(gpu: &Gpu, n_tok: usize, d: &AttnDims) -> Out {
        let width = d.n_heads * d.head_dim;
        let stride = width + 3;
        let t = Tensor::zeros(gpu, MemTag::Scratch, &[n_tok, stride], "out").unwrap();
        poison(gpu, &t.buf);
        Out { t, width, stride }
    }
    pub fn rows(&self) -> Rows<'_> {
        self.t.rows(self.stride, 2)
    }
    pub fn read(&self, gpu: &Gpu) -> Vec<f32> {
        let all = self.t.read(gpu).unwrap();
        let n_tok = all.len() / self.stride;
        (0..n_tok)
            .flat_map(|t| all[t * self.stride + 2..][..self.width].to_vec())
            .collect()
    }
}

/// Prefills `n_tok` random tokens into `seq` on the GPU and into `reference`; checks the outputs.
#[allow(clippy::too_many_arguments)]
pub fn prefill_step(
    gpu: &Gpu,
    rng: &mut Rng,
    kv: &mut KvCache,
    reference: &mut RefKvSeq,
    seq: usize,
    n_tok: usize,
    d: &AttnDims,
    what: &str,
) -> Vec<f32> {
    let qkv = Qkv::new(gpu, rng, n_tok, d);
    let out = Out::new(gpu, n_tok, d);
    let mut rec = Recorder::new(gpu);
    attention_prefill(
        &mut rec,
        qkv.q(),
        qkv.k(),
        qkv.v(),
        out.rows(),
        kv,
        0,
        seq,
        n_tok,
        d,
    )
    .unwrap();
    rec.run().unwrap();
    let got = out.read(gpu);
    let want = reference.forward(&qkv.q, &qkv.k, &qkv.v, n_tok, d);
    assert_close(what, &got, &want, TOL);
    got
}

/// Decodes one random token of `seq` on the GPU and in `reference`; checks the output.
pub fn decode_step(
    gpu: &Gpu,
    rng: &mut Rng,
    kv: &mut KvCache,
    reference: &mut RefKvSeq,
    seq: usize,
    d: &AttnDims,
    what: &str,
) {
    decode_batch(gpu, rng, kv, &[seq], d, what, |_, q, k, v| {
        reference.forward(q, k, v, 1, d)
    });
}

/// Decodes one random token of each of `seqs` in one call on the GPU and checks row b against
/// `reference(seqs[b], q, k, v)`, the CPU reference's output for that token.
pub fn decode_batch(
    gpu: &Gpu,
    rng: &mut Rng,
    kv: &mut KvCache,
    seqs: &[usize],
    d: &AttnDims,
    what: &str,
    mut reference: impl FnMut(usize, &[f32], &[f32], &[f32]) -> Vec<f32>,
) {
    let qkv = Qkv::new(gpu, rng, seqs.len(), d);
    let out = Out::new(gpu, seqs.len(), d);
    let mut rec = Recorder::new(gpu);
    let (q, k, v) = (qkv.q(), qkv.k(), qkv.v());
    attention_decode(&mut rec, q, k, v, out.rows(), kv, 0, seqs, d).unwrap();
    rec.run().unwrap();
    let got = out.read(gpu);
    let (hq, hk) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
    for (b, &s) in seqs.iter().enumerate() {
        let (q, k, v) = (
            &qkv.q[b * hq..][..hq],
            &qkv.k[b * hk..][..hk],
            &qkv.v[b * hk..][..hk],
        );
        let want = reference(s, q, k, v);
        assert_close(
            &format!("{what}, seq {s}"),
            &got[b * hq..][..hq],
            &want,
            TOL,
        );
    }
}
