//! RMSNorm: `y[t] = w ⊙ x[t] / sqrt(mean(x[t]²) + eps)` over rows of `w.len()` features, in f64.
pub fn rmsnorm(x: &[f32], w: &[f32], n_tok: usize, eps: f64) -> Vec<f32> {
    let n = w.len();
    let mut y = vec![0.0; n * n_tok];
    for t in 0..n_tok {
        let row = &x[t * n..(t + 1) * n];
        let ms = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n as f64;
        let inv = 1.0 / (ms + eps).sqrt();
        for i in 0..n {
            y[t * n + i] = (w[i] as f64 * row[i] as f64 * inv) as f32;
        }
    }
    y
}
