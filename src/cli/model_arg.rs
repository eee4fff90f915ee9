//! `--model DIR`, defaulting to the small model bundled in `assets/`.
use std::path::PathBuf;

use clap::Args;
use granite_engine::ModelSource;

/// The bundled default model: a tiny Granite-architecture model trained on Jane Austen.
pub const BUNDLED_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/granite-austen");

#[derive(Args, Clone, Debug)]
pub struct ModelArg {
    /// Model folder as downloaded from Hugging Face (config.json, *.safetensors,
    /// tokenizer.json, tokenizer_config.json). Default: the bundled demo model in assets/.
    #[arg(long, short = 'm', value_name = "DIR")]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    /// The model to open, checked to be a folder.
    pub fn source(&self) -> anyhow::Result<ModelSource> {
        Ok(ModelSource::Path(self.dir()?))
    }

    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(BUNDLED_MODEL));
        if !dir.is_dir() {
            anyhow::bail!(
                "model folder {} does not exist{}",
                dir.display(),
                if self.model.is_none() {
                    " (the bundled model is missing from this checkout)"
                } else {
                    ""
                }
            );
        }
        Ok(dir)
    }
}
