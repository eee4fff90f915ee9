//! The linear product `y[t, r] = Σ_c W[r, c] · x[t, c]` over `n_tok` rows of x, in f64.
pub fn linear(w: &[f32], rows: usize, cols: usize, x: &[f32], n_tok: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; n_tok * rows];
    for t in 0..n_tok {
        for r in 0..rows {
            let mut acc = 0.0f64;
            for c in 0..cols {
                acc += w[r * cols + c] as f64 * x[t * cols + c] as f64;
            }
            y[t * rows + r] = acc as f32;
        }
    }
    y
}
