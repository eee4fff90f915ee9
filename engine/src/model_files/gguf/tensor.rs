//! Reading one of our tensors out of a GGUF file: rows are fetched through the name map
//! ([`super::names`]), dequantised on the host and converted to f16 (or f32), one row at a
//! time, so host memory stays about one row block above the mapped file.
use std::collections::HashMap;
use std::path::Path;

use super::container::TensorInfo;
use super::dequant::dequantize;
use super::file::GgufFile;
use super::names::{Layout, Mapped};
use crate::model_files::config::ModelConfig;
use crate::model_files::convert::f32_to_f16_saturating;
use crate::{Error, Result};

/// Values from which [`GgufTensor::f16_rows`] is split over the host's cores.
pub const PARALLEL_ELEMS: usize = 1 << 20;

/// The weights of a GGUF file under our tensor names.
#[derive(Debug)]
pub struct GgufWeights {
    pub file: GgufFile,
    map: HashMap<String, Mapped>,
    /// GGUF tensors the engine ignores.
    pub unused: Vec<String>,
}

impl GgufWeights {
    /// Maps and checks every tensor `cfg` implies.
    pub fn new(file: GgufFile, cfg: &ModelConfig) -> Result<Self> {
        let (map, unused) = super::names::plan(&file, cfg)?;
        Ok(GgufWeights { file, map, unused })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// One of our tensors; an unknown name is an error naming the file.
    pub fn get(&self, name: &str) -> Result<GgufTensor<'_>> {
        let m = self.map.get(name).ok_or_else(|| Error::Tensor {
            file: self.path().to_path_buf(),
            tensor: name.into(),
            msg: "not mapped from this GGUF file".into(),
        })?;
        let parts: Vec<&TensorInfo> = m
            .parts
            .iter()
            .map(|&i| &self.file.container.tensors[i])
            .collect();
        let part_rows = parts.iter().map(|p| p.rows() as usize).collect();
        Ok(GgufTensor {
            file: &self.file,
            map: m,
            parts,
            part_rows,
        })
    }

    /// Bytes of every GGUF tensor the engine reads (for progress).
    pub fn total_bytes(&self) -> u64 {
        let t = &self.file.container.tensors;
        let mut seen = vec![false; t.len()];
        self.map
            .values()
            .flat_map(|m| &m.parts)
            .for_each(|&i| seen[i] = true);
        t.iter()
            .zip(seen)
            .filter(|(_, s)| *s)
            .map(|(t, _)| t.data.len() as u64)
            .sum()
    }
}

/// A mapped tensor, ready to be read row by row.
#[derive(Debug)]
pub struct GgufTensor<'a> {
    file: &'a GgufFile,
    map: &'a Mapped,
    parts: Vec<&'a TensorInfo>,
    /// Rows of each part.
    part_rows: Vec<usize>,
}

impl GgufTensor<'_> {
    pub fn name(&self) -> &str {
        &self.map.name
    }
    /// Our (PyTorch-order) shape.
    pub fn shape(&self) -> &[usize] {
        &self.map.shape
    }
    /// Elements per row: ne0 of the GGUF parts.
    pub fn row_len(&self) -> usize {
        self.parts[0].ne[0] as usize
    }
    pub fn n_rows(&self) -> usize {
        self.part_rows.iter().sum()
    }
    /// Bytes stored in the file for this tensor.
    pub fn stored_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.data.len() as u64).sum()
    }

    fn err(&self, msg: String) -> Error {
        Error::Tensor {
            file: self.file.path().to_path_buf(),
            tensor: self.map.name.clone(),
            msg,
        }
    }

    /// Dequantises our row `r` into `out` (length = row_len).
    fn row_f32(&self, r: usize, out: &mut [f32]) -> Result<()> {
        let (p, sr) = self.map.source_row(r, &self.part_rows);
        let part = self.parts[p];
        let rb = part.row_bytes();
        let bytes = self
            .file
            .data(part)
            .get(sr * rb..(sr + 1) * rb)
            .ok_or_else(|| {
                self.err(format!(
                    "row {r} maps to row {sr} of {}, which has {} rows",
                    part.name,
                    part.rows()
                ))
            })?;
        dequantize(part.ty, bytes, out)
            .map_err(|e| self.err(format!("{} ({}) row {sr}: {e}", part.name, part.ty)))
    }

    /// Rows `[row0, row0 + n)` as f16 bits into `out` (length n · row_len); returns how many
    /// values were saturated to ±65504.
    pub fn f16_rows(&self, row0: usize, n: usize, out: &mut [u16]) -> Result<usize> {
        let len = self.row_len();
        let end = row0.checked_add(n).filter(|&e| e <= self.n_rows());
        if end.is_none()
            || out.len() != n.saturating_mul(len)
            || self.map.layout == Layout::NegExpLog
        {
            return Err(self.err(format!(
                "cannot read rows {row0}+{n} into {} values",
                out.len()
            )));
        }
        // Dequantising a multi-GB file on one core would dominate the load: split big reads
        // over the host's cores by whole rows, as the safetensors conversion does.
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if out.len() < PARALLEL_ELEMS || threads == 1 {
            return self.f16_rows_serial(row0, out);
        }
        let per = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let jobs: Vec<_> = out
                .chunks_mut(per * len)
                .enumerate()
                .map(|(i, o)| scope.spawn(move || self.f16_rows_serial(row0 + i * per, o)))
                .collect();
            jobs.into_iter().try_fold(0, |sum, job| {
                let n = job
                    .join()
                    .unwrap_or_else(|_| Err(self.err("dequantising thread panicked".into())))?;
                Ok(sum + n)
            })
        })
    }

    /// [`Self::f16_rows`] on this thread: `out` holds whole rows from `row0` on.
    fn f16_rows_serial(&self, row0: usize, out: &mut [u16]) -> Result<usize> {
        let len = self.row_len();
        let mut row = vec![0f32; len];
        let mut saturated = 0;
        for (k, dst) in out.chunks_exact_mut(len).enumerate() {
            self.row_f32(row0 + k, &mut row)?;
            for (d, &v) in dst.iter_mut().zip(&row) {
                let (bits, sat) = f32_to_f16_saturating(v);
                *d = bits;
                saturated += sat as usize;
            }
        }
        Ok(saturated)
    }

    /// The whole tensor as f32 in our layout (small tensors: norms, SSM vectors, conv taps).
    pub fn f32_vec(&self) -> Result<Vec<f32>> {
        let len = self.row_len();
        let mut out = vec![0f32; self.n_rows() * len];
        for (r, dst) in out.chunks_exact_mut(len).enumerate() {
            self.row_f32(r, dst)?;
        }
        if self.map.layout == Layout::NegExpLog {
            for a in &mut out {
                if *a > 0.0 {
                    return Err(self.err(format!(
                        "A = {a} is positive; GGUF stores A = −exp(A_log) ≤ 0"
                    )));
                }
                *a = (-*a).ln();
            }
        }
        Ok(out)
    }
}
