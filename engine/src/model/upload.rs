//! Streams validated tensors (safetensors, or GGUF dequantised on the host) to the GPU, one
//! tensor (or one row block of a large tensor) at a time, converting to the engine's storage
//! types: f16 matrices, f32 vectors.
//! Host memory never holds more than one row block.
use indicatif::{ProgressBar, ProgressStyle};

use crate::Result;
use crate::gpu::{F16Matrix, Gpu, MemTag, Tensor};
use crate::model_files::ModelWeights;

/// Counts what the upload did, for the load report and the BF16 → F16 overflow warning.
#[derive(Clone, Debug, Default)]
pub struct UploadReport {
    pub bytes_read: u64,
    /// (tensor name, values saturated to ±65504 because they overflow f16)
    pub overflows: Vec<(String, usize)>,
}

pub(crate) struct Uploader<'a> {
    pub gpu: &'a Gpu,
    pub weights: &'a ModelWeights,
    pub report: UploadReport,
    bar: ProgressBar,
}

impl<'a> Uploader<'a> {
    pub fn new(gpu: &'a Gpu, weights: &'a ModelWeights, show_progress: bool) -> Self {
        let total = weights.total_bytes();
        // indicatif draws nothing when stderr is not a terminal.
        let bar = if show_progress {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "loading {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Uploader {
            gpu,
            weights,
            report: UploadReport::default(),
            bar,
        }
    }

    pub fn finish(self) -> UploadReport {
        self.bar.finish_and_clear();
        self.report
    }

    fn note_overflow(&mut self, name: &str, n: usize) {
        if n > 0 {
            match self.report.overflows.iter_mut().find(|(t, _)| t == name) {
                Some((_, c)) => *c += n,
                None => self.report.overflows.push((name.to_string(), n)),
            }
        }
    }

    /// Rows of several tensors stacked into one f16 matrix (e.g. q | k | v). All must have the
    /// same row length. `row_group` keeps groups of rows in one part (an expert's rows).
    pub fn matrix(&mut self, names: &[&str], tag: MemTag, row_group: usize) -> Result<F16Matrix> {
        let views = names
            .iter()
            .map(|n| self.weights.tensor(n))
            .collect::<Result<Vec<_>>>()?;
        let cols = views[0].row_len();
        let rows: usize = views.iter().map(|v| v.n_rows()).sum();
        let label = names.join("|");
        let mut overflows = Vec::new();
        let bar = self.bar.clone();
        let m = F16Matrix::upload(
            self.gpu,
            tag,
            rows,
            cols,
            row_group,
            &label,
            |row0, n, out| {
                // Walk the stacked tensors, copying the slice of each that overlaps [row0, row0+n).
                let (mut base, mut done) = (0usize, 0usize);
                for v in &views {
                    let (lo, hi) = (base, base + v.n_rows());
                    let (a, b) = (row0.max(lo), (row0 + n).min(hi));
                    if a < b {
                        let dst = &mut out[done * cols..(done + b - a) * cols];
                        let over = v.f16_rows(a - lo, b - a, dst)?;
                        overflows.push((v.name().to_string(), over));
                        let bytes = v.stored_bytes() * (b - a) as u64 / v.n_rows().max(1) as u64;
                        bar.inc(bytes);
                        done += b - a;
                    }
                    base = hi;
                }
                Ok(())
            },
        )?;
        for (name, n) in overflows {
            self.note_overflow(&name, n);
        }
        self.report.bytes_read += views.iter().map(|v| v.stored_bytes()).sum::<u64>();
        Ok(m)
    }

    /// A small tensor kept in f32 (norm weights, conv taps, SSM vectors).
    pub fn vector(&mut self, name: &str, tag: MemTag) -> Result<Tensor> {
        let data = self.host_f32(name)?;
        Tensor::from_f32(self.gpu, tag, &[data.len()], &data, name)
    }

    /// A small tensor's values on the host (for precomputation before upload).
    pub fn host_f32(&mut self, name: &str) -> Result<Vec<f32>> {
        let v = self.weights.tensor(name)?;
        self.bar.inc(v.stored_bytes());
        self.report.bytes_read += v.stored_bytes();
        v.f32_vec()
    }
}
