//! Where a model comes from: a folder as Hugging Face ships it, a GGUF file, or a folder's files held in memory
//! (a browser has no file system).
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A model's files.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// A model folder as Hugging Face ships it (`config.json`, `model*.safetensors` (+ index),
    /// `tokenizer.json`, `tokenizer_config.json`, optionally `chat_template.jinja` and
    /// `generation_config.json`), or a GGUF file (or a folder holding only one).
    Path(PathBuf),
    /// A model folder's files (or one GGUF file) by name, already in memory (what a browser's
    /// file picker gives); shared, so opening the model copies none of them. See
    /// [`ModelSource::files`].
    Files(Vec<(String, Arc<[u8]>)>),
}

impl ModelSource {
    pub fn path(path: impl Into<PathBuf>) -> Self {
        ModelSource::Path(path.into())
    }

    /// Files by name and contents; a name with folders keeps only its last part.
    pub fn files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let base = |name: &str| name.rsplit(['/', '\\']).next().unwrap_or(name).to_string();
        let files = files
            .into_iter()
            .map(|(name, bytes)| (base(&name), Arc::from(bytes)))
            .collect();
        ModelSource::Files(files)
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
