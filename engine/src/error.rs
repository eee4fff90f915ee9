//! One error type for the whole engine. Every variant names the file, tensor, field or value at
//! fault, because the user must be able to act on the message alone.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An invalid or inconsistent `config.json` value; `field` is the JSON key.
    #[error("{}: field `{field}`: {msg}", path.display())]
    Config {
        path: PathBuf,
        field: String,
        msg: String,
    },
    /// A tensor that is missing, has the wrong shape or dtype, or points outside its file.
    #[error("{}: tensor `{tensor}`: {msg}", file.display())]
    Tensor {
        file: PathBuf,
        tensor: String,
        msg: String,
    },
    /// A file whose structure is broken (safetensors header, index, JSON).
    #[error("{}: {msg}", file.display())]
    Format { file: PathBuf, msg: String },
    #[error("tokenizer {}: {msg}", path.display())]
    Tokenizer { path: PathBuf, msg: String },
    #[error("chat template: {0}")]
    Template(String),
    /// No adapter, a device lost, a failed submission.
    #[error("GPU: {0}")]
    Gpu(String),
    /// Planned or real allocation beyond what the adapter allows; the message carries the numbers.
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
    /// Bad user input: prompt, token ids, sampling settings, context length.
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
