// The parameters of the linear kernels (matvec.wgsl, matmul.wgsl): one block, as the launcher
// (kernels/linear.rs) uploads it; each kernel reads the fields its variant needs.
struct Params {
    rows: u32,        // rows in this part
    cols: u32,        // logical columns (x length)
    ld8: u32,         // W row stride in units of 8 halves
    row0: u32,        // first row of this part in the full matrix
    x_stride: u32,    // floats between tokens in x
    y_stride: u32,    // floats between tokens in y
    accumulate: u32,  // 1: add into y
    has_bias: u32,    // 1: add bias[row0 + r]
    alpha: f32,
    n_tok: u32,       // matmul: T (the matrix-vector kernels take T from the grid)
    x_off: u32,       // first float of x
    y_off: u32,       // first float of y
    eps: f32,         // NORM: RMSNorm epsilon
    z_off: u32,       // GATED: first float of the gate z
    z_stride: u32,    // GATED: floats between tokens in z
    _p3: u32,
    conv_row0: u32,   // CONV: first output row of the conv channels
    conv_dim: u32,    // CONV: conv channels
    conv_k: u32,      // CONV: taps
    conv_state_off: u32,  // CONV: first float of this sequence's conv state
    experts_k: u32,       // EXPERTS: slots per token
    experts_alpha: f32,   // EXPERTS: scale of the experts' weighted sum
    experts_rows: u32,    // EXPERTS: floats per row of ys (the full matrix's rows)
    _p5: u32,
}
