//! A strict, memory-mapped reader of one `.safetensors` file.
//!
//! Written by hand instead of using the `safetensors` crate so that every malformed file gives a
//! clear [`Error`] naming the file and tensor (truncated file, header length beyond the file,
//! oversized header, non-UTF-8 or non-JSON header, unknown dtype, offsets that are out of bounds,
//! overlap, leave gaps or disagree with the shape) and nothing can panic on hostile input.
//!
//! Layout: 8-byte little-endian header length `n`, `n` bytes of JSON
//! `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}`, then the data;
//! offsets are relative to the first data byte and the tensors must tile the data exactly.
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::Serialize;
use serde_json::Value;

use super::files::Blob;
use crate::{Error, Result};

/// Headers above this size are rejected before being read (same cap as the reference crate).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Element types of the safetensors format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
// Named as the format spells them (serialized and shown in messages).
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum Dtype {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Dtype {
    fn parse(s: &str) -> Option<Self> {
        use Dtype::*;
        Some(match s {
            "BOOL" => BOOL,
            "U8" => U8,
            "I8" => I8,
            "F8_E5M2" => F8_E5M2,
            "F8_E4M3" => F8_E4M3,
            "I16" => I16,
            "U16" => U16,
            "F16" => F16,
            "BF16" => BF16,
            "I32" => I32,
            "U32" => U32,
            "F32" => F32,
            "F64" => F64,
            "I64" => I64,
            "U64" => U64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        use Dtype::*;
        match self {
            BOOL | U8 | I8 | F8_E5M2 | F8_E4M3 => 1,
            I16 | U16 | F16 | BF16 => 2,
            I32 | U32 | F32 => 4,
            F64 | I64 | U64 => 8,
        }
    }

    /// The floating-point types the engine converts from.
    pub fn is_supported_float(self) -> bool {
        matches!(self, Dtype::BF16 | Dtype::F16 | Dtype::F32)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One header entry, with offsets made absolute within the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute byte offset of the first element in the file.
    pub start: usize,
    /// Byte length (= numel · dtype size, validated).
    pub len: usize,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A validated, memory-mapped safetensors file.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Blob,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl SafetensorsFile {
    /// Maps the file and validates its whole header and data layout. Only the header bytes are
    /// touched; tensor data is paged in when read.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if file_len < 8 {
            return Err(format_err(
                path,
                format!(
                    "truncated: the file has {file_len} bytes, fewer than the 8-byte header length"
                ),
            ));
        }
        // SAFETY: the map is read-only; the model files must not be modified while the engine
        // runs (as with every mmap-based loader). All reads are bounds-checked slices.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::from_blob(path, Blob::Mapped(mmap))
    }

    /// Validates a safetensors file already mapped or in memory; `path` names it in errors.
    pub fn from_blob(path: &Path, bytes: Blob) -> Result<Self> {
        if bytes.len() < 8 {
            return Err(format_err(
                path,
                format!(
                    "truncated: the file has {} bytes, fewer than the 8-byte header length",
                    bytes.len()
                ),
            ));
        }
        let tensors = parse(&bytes, path)?;
        let by_name = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            tensors,
            by_name,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header entries, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw little-endian bytes of a tensor (bounds were validated at open).
    pub fn data(&self, info: &TensorInfo) -> &[u8] {
        self.bytes
            .get(info.start..info.start + info.len)
            .unwrap_or(&[])
    }
}

fn format_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Format {
        file: path.to_path_buf(),
        msg: msg.into(),
    }
}

fn tensor_err(path: &Path, tensor: &str, msg: impl Into<String>) -> Error {
    Error::Tensor {
        file: path.to_path_buf(),
        tensor: tensor.to_string(),
        msg: msg.into(),
    }
}

/// Parses and validates the header of a complete file image `bytes`; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<TensorInfo>> {
    let file_len = bytes.len() as u64;
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(format_err(
            path,
            format!(
                "truncated: the file has {file_len} bytes, fewer than the 8-byte header length"
            ),
        ));
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len_bytes);
    let header_len = u64::from_le_bytes(n);
    if header_len > MAX_HEADER_BYTES {
        return Err(format_err(
            path,
            format!(
                "header length {header_len} exceeds the limit of {MAX_HEADER_BYTES} bytes: corrupt or not a safetensors file"
            ),
        ));
    }
    if 8 + header_len > file_len {
        return Err(format_err(
            path,
            format!(
                "header length {header_len} is larger than the file ({file_len} bytes): truncated or not a safetensors file"
            ),
        ));
    }
    let header_end = 8 + header_len as usize;
    let header = std::str::from_utf8(&bytes[8..header_end]).map_err(|e| {
        format_err(
            path,
            format!(
                "header is not valid UTF-8 (at header byte {})",
                e.valid_up_to()
            ),
        )
    })?;
    let json: Value = serde_json::from_str(header)
        .map_err(|e| format_err(path, format!("header is not valid JSON: {e}")))?;
    let Value::Object(entries) = json else {
        return Err(format_err(path, "header is not a JSON object"));
    };
    let data_len = bytes.len() - header_end;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let (dtype, shape, begin, end) = parse_entry(path, name, entry)?;
        let expected = shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| tensor_err(path, name, format!("shape {shape:?} overflows")))?;
        if begin > end {
            return Err(tensor_err(
                path,
                name,
                format!("data_offsets [{begin}, {end}] end before they begin"),
            ));
        }
        if end - begin != expected {
            return Err(tensor_err(
                path,
                name,
                format!(
                    "data_offsets [{begin}, {end}] span {} bytes but {dtype} {shape:?} needs {expected}",
                    end - begin
                ),
            ));
        }
        if end > data_len {
            return Err(tensor_err(
                path,
                name,
                format!(
                    "data_offsets [{begin}, {end}] are out of bounds: the data section has {data_len} bytes (truncated file?)"
                ),
            ));
        }
        tensors.push(TensorInfo {
            name: name.clone(),
            dtype,
            shape,
            start: header_end + begin,
            len: expected,
        });
    }
    check_tiling(path, &tensors, header_end, data_len)?;
    Ok(tensors)
}

fn parse_entry(
    path: &Path,
    name: &str,
    entry: &Value,
) -> Result<(Dtype, Vec<usize>, usize, usize)> {
    let bad = |msg: String| tensor_err(path, name, msg);
    let obj = entry
        .as_object()
        .ok_or_else(|| bad(format!("header entry must be an object, got {entry}")))?;
    let dtype = match obj.get("dtype") {
        Some(Value::String(s)) => {
            Dtype::parse(s).ok_or_else(|| bad(format!("unknown dtype \"{s}\"")))?
        }
        other => return Err(bad(format!("missing or invalid `dtype`: {other:?}"))),
    };
    let shape = match obj.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "`shape` must list non-negative integers, got {}",
                    Value::Array(dims.clone())
                ))
            })?,
        other => return Err(bad(format!("missing or invalid `shape`: {other:?}"))),
    };
    let offsets = match obj.get("data_offsets") {
        Some(Value::Array(o)) if o.len() == 2 => o
            .iter()
            .map(|x| x.as_u64().and_then(|x| usize::try_from(x).ok()))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
    .ok_or_else(|| {
        bad(format!(
            "`data_offsets` must be [begin, end] byte offsets, got {:?}",
            obj.get("data_offsets")
        ))
    })?;
    Ok((dtype, shape, offsets[0], offsets[1]))
}

/// The tensors must cover the data section exactly: no overlap, no gap, nothing after the last.
fn check_tiling(
    path: &Path,
    tensors: &[TensorInfo],
    header_end: usize,
    data_len: usize,
) -> Result<()> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| (t.start, t.len));
    let mut pos = header_end;
    let mut prev: Option<&str> = None;
    for t in order {
        if t.start < pos {
            return Err(tensor_err(
                path,
                &t.name,
                format!("data overlaps tensor `{}`", prev.unwrap_or("?")),
            ));
        }
        if t.start > pos {
            let after = prev
                .map(|p| format!("after tensor `{p}`"))
                .unwrap_or_else(|| "at the start of the data".into());
            return Err(tensor_err(
                path,
                &t.name,
                format!(
                    "{} unused bytes before this tensor ({after}): offsets do not cover the data",
                    t.start - pos
                ),
            ));
        }
        pos = t.start + t.len;
        prev = Some(&t.name);
    }
    let end = header_end + data_len;
    if pos != end {
        return Err(format_err(
            path,
            format!(
                "{} trailing bytes after the last tensor: offsets do not cover the data",
                end - pos
            ),
        ));
    }
    Ok(())
}
