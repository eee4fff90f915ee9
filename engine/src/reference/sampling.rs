//! CPU reference of `shaders/sampling.wgsl`: the same penalty, thresholds (bisection on the
//! order-preserving key), RNG hash and in-order walk, so a test can demand the same token.
use crate::kernels::sampling::SamplingParams;

const WG: usize = 256;

fn key(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn hash(x: u32) -> u32 {
    let mut h = x;
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

pub fn uniform01(seed: u64, step: u64) -> f32 {
    let h = hash(
        seed as u32
            ^ hash(
                (seed >> 32) as u32
                    ^ hash(step as u32 ^ hash(((step >> 32) as u32).wrapping_add(0x9e37_79b9))),
            ),
    );
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

fn penalized(logits: &[f32], history: &[u32], penalty: f32) -> Vec<f32> {
    let mut seen = vec![false; logits.len()];
    for &id in history {
        if let Some(s) = seen.get_mut(id as usize) {
            *s = true;
        }
    }
    logits
        .iter()
        .zip(&seen)
        .map(|(&l, &s)| {
            if penalty != 1.0 && s {
                if l > 0.0 { l / penalty } else { l * penalty }
            } else {
                l
            }
        })
        .collect()
}

/// Largest key t such that `pred(t)` holds, over (lo, u32::MAX], by bisection (the kernel
/// searches 4-way; for a predicate that holds up to some key and not after, the same key).
fn bisect(mut lo: u32, pred: impl Fn(u32) -> bool) -> u32 {
    let mut hi = u32::MAX;
    for _ in 0..32 {
        if lo >= hi {
            break;
        }
        let mid = lo + (hi - lo) / 2 + 1;
        if pred(mid) { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// The token the GPU sampler picks.
pub fn sample(logits: &[f32], history: &[u32], p: &SamplingParams, step: u64) -> u32 {
    let n = logits.len();
    let l = penalized(logits, history, p.repetition_penalty);
    let (mut best, mut lmax) = (0usize, f32::MIN);
    for (i, &v) in l.iter().enumerate() {
        if v > lmax {
            (best, lmax) = (i, v);
        }
    }
    if p.temperature == 0.0 {
        return best as u32;
    }
    let inv_t = 1.0 / p.temperature;
    let z: Vec<f32> = l.iter().map(|v| v * inv_t).collect();
    let zmax = lmax * inv_t;
    let mut thr = 0u32;
    if p.top_k > 0 && (p.top_k as usize) < n {
        thr = bisect(0, |t| {
            z.iter().filter(|&&v| key(v) >= t).count() >= p.top_k as usize
        });
    }
    if p.top_p < 1.0 {
        let mass = |t: u32| {
            z.iter()
                .filter(|&&v| key(v) >= t)
                .map(|v| (v - zmax).exp())
                .sum::<f32>()
        };
        let target = p.top_p * mass(thr);
        thr = bisect(thr, |t| mass(t) >= target);
    }
    let block = n.div_ceil(WG);
    let sums: Vec<f32> = (0..WG)
        .map(|b| {
            (b * block..(b * block + block).min(n))
                .filter(|&i| key(z[i]) >= thr)
                .map(|i| (z[i] - zmax).exp())
                .sum()
        })
        .collect();
    let total: f32 = sums.iter().sum();
    let target = uniform01(p.seed, step) * total;
    let mut acc = 0.0f32;
    for (b, &s) in sums.iter().enumerate() {
        if acc + s > target && s > 0.0 {
            let mut chosen = best;
            let start = b * block;
            for (i, &zi) in z
                .iter()
                .enumerate()
                .take((start + block).min(n))
                .skip(start)
            {
                if key(zi) >= thr {
                    chosen = i;
                    acc += (zi - zmax).exp();
                    if acc > target {
                        break;
                    }
                }
            }
            return chosen as u32;
        }
        acc += s;
    }
    best as u32
}
