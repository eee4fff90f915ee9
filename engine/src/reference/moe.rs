//! CPU reference for the routed mixture of experts (HF `GraniteMoeHybridMoE`):
//! router logits → top-k by raw logit → softmax over the k chosen → SwiGLU experts → gate-weighted
//! sum. Weights are plain f32 (the exact values of the f16 weights the GPU reads), sums in f64.

/// Orders logits like the GPU (`moe_topk.wgsl`, `sampling.wgsl`): a monotone map f32 → u32, a
/// total order in which −0 < +0 and NaN ranks above +∞ (as in `torch.topk`).
pub fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Top-k experts of one token and their gates: `ids` by descending logit, equal logits by
/// ascending expert index; `gates` = softmax over the k chosen logits.
pub fn router_topk(logits: &[f32], top_k: usize) -> (Vec<u32>, Vec<f32>) {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| {
        order_key(logits[b])
            .cmp(&order_key(logits[a]))
            .then(a.cmp(&b))
    });
    order.truncate(top_k);
    let m = logits[order[0]] as f64;
    let exps: Vec<f64> = order
        .iter()
        .map(|&e| (logits[e] as f64 - m).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    let ids = order.iter().map(|&e| e as u32).collect();
    let gates = exps.iter().map(|v| (v / sum) as f32).collect();
    (ids, gates)
}

/// Routed-expert weights of one layer, dense f32.
pub struct MoeRef<'a> {
    pub hidden: usize,
    pub n_experts: usize,
    pub top_k: usize,
    pub inter: usize,
    /// `[E, H]`
    pub router: &'a [f32],
    /// `[E, 2I, H]`: per expert rows `[0, I)` gate, `[I, 2I)` up.
    pub input: &'a [f32],
    /// `[E, H, I]`
    pub output: &'a [f32],
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn silu(v: f64) -> f64 {
    v / (1.0 + (-v).exp())
}

impl MoeRef<'_> {
    /// Router logits of one token `[E]`, rounded to f32 as the GPU stores them.
    pub fn logits(&self, v: &[f32]) -> Vec<f32> {
        let h = self.hidden;
        (0..self.n_experts)
            .map(|e| dot(&self.router[e * h..(e + 1) * h], v) as f32)
            .collect()
    }

    /// Output of expert `e` for one token: `W2_e · (silu(W1_e,gate · v) ⊙ W1_e,up · v)`.
    pub fn expert(&self, e: usize, v: &[f32]) -> Vec<f64> {
        let (h, i) = (self.hidden, self.inter);
        let w1 = &self.input[e * 2 * i * h..(e + 1) * 2 * i * h];
        let act: Vec<f32> = (0..i)
            .map(|r| {
                let g = dot(&w1[r * h..(r + 1) * h], v);
                let u = dot(&w1[(i + r) * h..(i + r + 1) * h], v);
                (silu(g) * u) as f32
            })
            .collect();
        let w2 = &self.output[e * h * i..(e + 1) * h * i];
        (0..h).map(|r| dot(&w2[r * i..(r + 1) * i], &act)).collect()
    }

    /// `moe(v)` for `n_tok` tokens `[T, H]` → `[T, H]`.
    pub fn forward(&self, v: &[f32], n_tok: usize) -> Vec<f32> {
        let h = self.hidden;
        let mut out = vec![0.0f32; n_tok * h];
        for t in 0..n_tok {
            let x = &v[t * h..(t + 1) * h];
            let (ids, gates) = router_topk(&self.logits(x), self.top_k);
            let mut acc = vec![0.0f64; h];
            for (e, g) in ids.iter().zip(&gates) {
                for (a, y) in acc.iter_mut().zip(self.expert(*e as usize, x)) {
                    *a += *g as f64 * y;
                }
            }
            for (o, a) in out[t * h..(t + 1) * h].iter_mut().zip(acc) {
                *o = a as f32;
            }
        }
        out
    }
}
