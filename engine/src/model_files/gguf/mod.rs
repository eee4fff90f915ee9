//! GGUF model files (llama.cpp's format; the Granite 4.0 files IBM, ollama and LM Studio
//! publish): a strict container parser over the memory-mapped file, metadata → [`ModelConfig`],
//! tensor names → ours with the converter's transforms undone, and the tokenizer and chat
//! template rebuilt from the `tokenizer.*` keys.
//!
//! Quantized tensors (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) are **dequantised on the host to f16** as
//! they are uploaded, tensor by tensor: such a file runs, but at f16 memory cost, until the
//! quantized GPU formats exist. Other types are an error naming the tensor and the type.
//! Split files (`split.count` > 1) are rejected.
mod config;
pub mod container;
pub mod cursor;
pub mod dequant;
mod file;
mod names;
mod summary;
mod tensor;
mod tokenizer;
pub mod types;
pub mod value;

use std::path::{Path, PathBuf};

pub use config::{ARCHES, GgufConfig, read_config};
pub use file::GgufFile;
pub use names::{Layout, Mapped};
pub use summary::{Summary, TypeCount};
pub use tensor::{GgufTensor, GgufWeights};

use super::config::ModelConfig;
use super::tokenizer::Tokenizer;
use crate::{Error, Result};

/// Everything a GGUF file gives the engine.
#[derive(Debug)]
pub struct GgufModel {
    pub arch: String,
    pub config: ModelConfig,
    pub weights: GgufWeights,
    pub tokenizer: Tokenizer,
    /// What `inspect` prints: the metadata used, tensor types per category.
    pub summary: Summary,
    /// Values the file did not state that we had to choose, and tensors we ignore.
    pub assumptions: Vec<String>,
}

/// Whether `path` names a GGUF model: a `.gguf` file, or a folder without `config.json`
/// holding `.gguf` files.
pub fn is_gguf_path(path: &Path) -> bool {
    if path.is_file() {
        return path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    }
    path.is_dir()
        && !path.join("config.json").exists()
        && gguf_files(path).is_ok_and(|f| !f.is_empty())
}

fn gguf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.is_file()
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The GGUF file `path` names: itself, or the only `.gguf` file in the folder.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let files = gguf_files(path)?;
    match files.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Format {
            file: path.into(),
            msg: "no .gguf file in the folder".into(),
        }),
        many => Err(Error::Format {
            file: path.into(),
            msg: format!(
                "{} .gguf files in the folder; name the one to load: {:?}",
                many.len(),
                many
            ),
        }),
    }
}

/// Opens a GGUF file (or a folder holding exactly one): container, config, tensor map and
/// tokenizer, all validated before anything is uploaded.
pub fn open(path: &Path) -> Result<GgufModel> {
    from_file(GgufFile::open(&resolve(path)?)?)
}

/// Opens a GGUF file held in memory (`name` names it in errors).
pub fn open_blob(name: &Path, bytes: super::files::Blob) -> Result<GgufModel> {
    from_file(GgufFile::from_blob(name, bytes)?)
}

fn from_file(file: GgufFile) -> Result<GgufModel> {
    let GgufConfig {
        arch,
        config,
        mut assumptions,
    } = read_config(&file)?;
    let tokenizer = Tokenizer::from_gguf(&file)?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(Error::Tokenizer {
            path: file.path().into(),
            msg: format!(
                "{} tokens but token_embd.weight has {} rows",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        });
    }
    let summary = Summary::new(&file, &config);
    let weights = GgufWeights::new(file, &config)?;
    assumptions.extend(weights.unused.iter().cloned());
    Ok(GgufModel {
        arch,
        config,
        weights,
        tokenizer,
        summary,
        assumptions,
    })
}
