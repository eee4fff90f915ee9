//! A memory-mapped GGUF file with its validated container and typed metadata getters. Integer
//! keys accept any integer type with a range check (gguf-py writes Python ints as INT32 arrays
//! but explicit scalars as UINT32).
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::super::files::Blob;
use super::container::{self, Container, TensorInfo};
use super::value::{Value, ValueType};
use crate::{Error, Result};

#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    mmap: Blob,
    pub container: Container,
}

impl GgufFile {
    /// Maps and validates the container (spec §1.7 items 1–15).
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; a file truncated by another process while mapped
        // would fault, as with any memory-mapped loader (the safetensors path accepts the same).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::from_blob(path, Blob::Mapped(mmap))
    }

    /// Validates a GGUF file already mapped or in memory; `path` names it in errors.
    pub fn from_blob(path: &Path, mmap: Blob) -> Result<Self> {
        let container = container::parse(&mmap).map_err(|msg| Error::Format {
            file: path.to_path_buf(),
            msg,
        })?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            mmap,
            container,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        &self.mmap
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.container.tensor(name)
    }

    /// The stored bytes of a tensor (always inside the file: checked by the parser).
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        &self.mmap[t.data.clone()]
    }

    /// An error naming the file and a metadata key.
    pub fn key_err(&self, key: &str, msg: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone(),
            field: key.to_string(),
            msg: msg.into(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.container.get(key)
    }

    /// An integer key in `0..=max`; `None` when absent.
    pub fn uint(&self, key: &str, max: u64) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Int { v, .. }) if (0..=i128::from(max)).contains(v) => Ok(Some(*v as u64)),
            Some(Value::Int { v, .. }) => {
                Err(self.key_err(key, format!("{v} is out of range 0..={max}")))
            }
            Some(v) => {
                Err(self.key_err(key, format!("must be an integer, found {}", v.type_name())))
            }
        }
    }

    /// A float key (FLOAT32 or FLOAT64), finite; `None` when absent.
    pub fn float(&self, key: &str) -> Result<Option<f32>> {
        let v = match self.get(key) {
            None => return Ok(None),
            Some(Value::F32(f)) => *f,
            Some(Value::F64(f)) => *f as f32,
            Some(v) => {
                return Err(self.key_err(key, format!("must be a float, found {}", v.type_name())));
            }
        };
        if !v.is_finite() {
            return Err(self.key_err(key, format!("{v} is not finite")));
        }
        Ok(Some(v))
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.key_err(key, format!("must be BOOL, found {}", v.type_name()))),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Str(r)) => std::str::from_utf8(&self.mmap[r.clone()])
                .map(Some)
                .map_err(|e| self.key_err(key, format!("not valid UTF-8 ({e})"))),
            Some(v) => Err(self.key_err(key, format!("must be STRING, found {}", v.type_name()))),
        }
    }

    /// An integer array, or a scalar integer repeated `len` times; `None` when absent.
    pub fn uint_array(&self, key: &str, len: usize, max: u64) -> Result<Option<Vec<u64>>> {
        let Some(Value::Array(a)) = self.get(key) else {
            return Ok(self.uint(key, max)?.map(|v| vec![v; len]));
        };
        if a.len != len {
            return Err(self.key_err(key, format!("has {} entries, expected {len}", a.len)));
        }
        (0..a.len)
            .map(|i| match a.int_at(&self.mmap, i) {
                Some(v) if (0..=i128::from(max)).contains(&v) => Ok(v as u64),
                Some(v) => {
                    Err(self.key_err(key, format!("entry {i} = {v} is out of range 0..={max}")))
                }
                None => {
                    Err(self.key_err(key, format!("must hold integers, holds {}", a.elem.name())))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A string array as UTF-8 strings; `None` when absent.
    pub fn str_array(&self, key: &str) -> Result<Option<Vec<&str>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) if a.elem == ValueType::Str => a
                .strings
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    std::str::from_utf8(&self.mmap[r.clone()]).map_err(|e| {
                        self.key_err(key, format!("entry {i} is not valid UTF-8 ({e})"))
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.key_err(
                key,
                format!("must be ARRAY<STRING>, found {}", v.type_name()),
            )),
        }
    }
}

impl GgufFile {
    /// Whether some layer has the tensor `blk.<i>.<suffix>`.
    pub fn tensor_exists_in_layers(&self, suffix: &str) -> bool {
        self.container.tensors.iter().any(|t| {
            t.name
                .strip_prefix("blk.")
                .and_then(|r| r.split_once('.'))
                .is_some_and(|(_, s)| s == suffix)
        })
    }
}
