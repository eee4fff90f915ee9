//! Typed views of GPU buffers: f32 activation tensors and f16 weight matrices.
//!
//! Weight matrices are stored f16 with each row padded to a multiple of 8 halves (16 bytes) so
//! kernels can load 8 weights per `vec4<u32>`. A matrix larger than one storage binding may cover
//! is split into row blocks ("parts"), each its own buffer; kernels run once per part.
use super::{Gpu, GpuBuffer, MemTag};
use crate::{Error, Result};

/// A dense f32 tensor (row-major) in one buffer.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub buf: GpuBuffer,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn zeros(gpu: &Gpu, tag: MemTag, shape: &[usize], label: &str) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let buf = gpu.alloc(tag, (n * 4) as u64, label)?;
        Ok(Tensor {
            buf,
            shape: shape.to_vec(),
        })
    }

    pub fn from_f32(
        gpu: &Gpu,
        tag: MemTag,
        shape: &[usize],
        data: &[f32],
        label: &str,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Input(format!(
                "{label}: shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        let buf = gpu.upload(tag, data, label)?;
        Ok(Tensor {
            buf,
            shape: shape.to_vec(),
        })
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read(&self.buf, 0, self.numel())
    }

    /// This tensor seen as rows of `stride` floats, starting `offset` floats in.
    pub fn rows(&self, stride: usize, offset: usize) -> Rows<'_> {
        Rows {
            t: self,
            stride,
            offset,
        }
    }
}

/// A strided row view of a tensor: row `i` starts at float `offset + i · stride`. Lets kernels
/// read one slice of a fused projection (e.g. z | xBC | dt) without copying it out.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub t: &'a Tensor,
    pub stride: usize,
    pub offset: usize,
}

impl Rows<'_> {
    /// True when `n` rows of `width` floats fit in the tensor without overlapping each other.
    pub fn fits(&self, n: usize, width: usize) -> bool {
        n == 0
            || ((n == 1 || width <= self.stride)
                && self.offset + (n - 1) * self.stride + width <= self.t.numel())
    }
}

#[derive(Clone, Debug)]
pub struct MatPart {
    pub buf: GpuBuffer,
    pub row0: usize,
    pub rows: usize,
}

/// An f16 matrix `[rows, cols]`, row stride `ld` halves (`cols` rounded up to 8).
#[derive(Clone, Debug)]
pub struct F16Matrix {
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
    pub parts: Vec<MatPart>,
}

impl F16Matrix {
    pub fn row_stride(cols: usize) -> usize {
        cols.div_ceil(8) * 8
    }

    /// Uploads a matrix part by part. `fill(row0, nrows, out)` writes rows `row0..row0+nrows`
    /// (each `cols` halves, densely packed) into `out`; only one part is ever on the host.
    /// Parts split on multiples of `row_group` rows (e.g. one expert's rows stay together).
    pub fn upload(
        gpu: &Gpu,
        tag: MemTag,
        rows: usize,
        cols: usize,
        row_group: usize,
        label: &str,
        mut fill: impl FnMut(usize, usize, &mut [u16]) -> Result<()>,
    ) -> Result<F16Matrix> {
        let ld = Self::row_stride(cols);
        let row_bytes = (ld * 2) as u64;
        let group_bytes = row_bytes * row_group.max(1) as u64;
        if group_bytes > gpu.max_binding {
            return Err(Error::OutOfMemory(format!(
                "`{label}`: a block of {row_group} rows × {cols} columns is {group_bytes} bytes, \
                 more than one storage binding may hold on this adapter ({} bytes)",
                gpu.max_binding
            )));
        }
        let groups_per_part = (gpu.max_binding / group_bytes).max(1) as usize;
        let rows_per_part = (groups_per_part * row_group.max(1)).min(rows.max(1));
        let mut parts = Vec::new();
        let mut dense = Vec::new();
        let mut padded: Vec<u16> = Vec::new();
        let mut row0 = 0;
        while row0 < rows {
            let n = rows_per_part.min(rows - row0);
            dense.resize(n * cols, 0u16);
            fill(row0, n, &mut dense)?;
            let data: &[u16] = if ld == cols {
                &dense
            } else {
                padded.clear();
                padded.resize(n * ld, 0);
                for r in 0..n {
                    padded[r * ld..r * ld + cols].copy_from_slice(&dense[r * cols..(r + 1) * cols]);
                }
                &padded
            };
            let buf = gpu.alloc(tag, (n * ld * 2) as u64, label)?;
            gpu.write(&buf, 0, bytemuck::cast_slice(data));
            parts.push(MatPart { buf, row0, rows: n });
            row0 += n;
        }
        Ok(F16Matrix {
            rows,
            cols,
            ld,
            parts,
        })
    }

    /// Convenience for tests and small tensors: upload from a dense host f16 array.
    pub fn from_f16(
        gpu: &Gpu,
        tag: MemTag,
        rows: usize,
        cols: usize,
        data: &[u16],
        label: &str,
    ) -> Result<F16Matrix> {
        if data.len() != rows * cols {
            return Err(Error::Input(format!(
                "{label}: expected {rows}×{cols} values, got {}",
                data.len()
            )));
        }
        Self::upload(gpu, tag, rows, cols, 1, label, |r0, n, out| {
            out.copy_from_slice(&data[r0 * cols..(r0 + n) * cols]);
            Ok(())
        })
    }

    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buf.size()).sum()
    }
}
