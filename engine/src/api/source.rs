//! Where a model comes from: a folder as Hugging Face ships it, or its files held in memory
//! (a browser has no file system).
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A model's files.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// A model folder as Hugging Face ships it: `config.json`, `model*.safetensors` (+ index),
    /// `tokenizer.json`, `tokenizer_config.json`, optionally `chat_template.jinja` and
    /// `generation_config.json`.
    Path(PathBuf),
    /// The same files by name, already in memory.
    Files(Vec<(String, Vec<u8>)>),
}

impl ModelSource {
    pub fn path(path: impl Into<PathBuf>) -> Self {
        ModelSource::Path(path.into())
    }

    /// A short name for titles and messages: the folder's name.
    pub fn name(&self) -> String {
        match self {
            ModelSource::Path(d) => d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.display().to_string()),
            ModelSource::Files(_) => "model in memory".into(),
        }
    }

    /// The folder, checked to exist.
    pub(crate) fn folder(&self) -> Result<&Path> {
        match self {
            ModelSource::Path(d) if d.is_dir() => Ok(d),
            ModelSource::Path(d) if d.exists() => Err(Error::Input(format!(
                "{}: not a folder (give the folder holding config.json)",
                d.display()
            ))),
            ModelSource::Path(d) => Err(Error::Input(format!("{}: no such folder", d.display()))),
            ModelSource::Files(_) => Err(Error::Input(
                "models held in memory cannot be opened yet: this build reads model folders \
                 only (loading from bytes comes with the browser build)"
                    .into(),
            )),
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Path(d) => write!(f, "{}", d.display()),
            ModelSource::Files(files) => write!(f, "{} files in memory", files.len()),
        }
    }
}

impl From<PathBuf> for ModelSource {
    fn from(p: PathBuf) -> Self {
        ModelSource::Path(p)
    }
}

impl From<&Path> for ModelSource {
    fn from(p: &Path) -> Self {
        ModelSource::Path(p.to_path_buf())
    }
}
