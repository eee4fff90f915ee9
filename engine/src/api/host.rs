//! A model's host side, read and checked before the GPU is touched: config, every tensor's
//! header, tokenizer, chat template and sampling defaults — from a model folder, a GGUF file, or
//! files in memory.
use serde::Serialize;

use super::source::ModelSource;
use crate::model_files::gguf::{self, GgufModel, Summary};
use crate::model_files::{
    ChatTemplate, GenerationDefaults, ModelConfig, ModelFiles, ModelWeights, Tokenizer,
};
use crate::{Error, Result};

/// Where a [`ModelSource`] leads: a model's files, or a GGUF file (opened and checked).
enum Located {
    Files(ModelFiles),
    Gguf(Box<GgufModel>),
}

/// What a GGUF file told us beyond the config: its metadata and tensor types, and what we
/// had to assume.
#[derive(Clone, Debug, Serialize)]
pub struct GgufReport {
    pub summary: Summary,
    pub assumptions: Vec<String>,
}

impl GgufReport {
    /// The text `granite inspect` prints for it.
    pub fn text(&self) -> String {
        self.summary.text(&self.assumptions)
    }
}

pub(crate) struct HostFiles {
    pub source: ModelSource,
    pub cfg: ModelConfig,
    pub weights: ModelWeights,
    pub generation: GenerationDefaults,
    pub tokenizer: Tokenizer,
    pub template: std::result::Result<ChatTemplate, String>,
    pub gguf: Option<GgufReport>,
}

fn locate(source: &ModelSource) -> Result<Located> {
    let files = match source {
        ModelSource::Files(files) => ModelFiles::memory(&source.name(), files),
        ModelSource::Path(p) if p.is_dir() => ModelFiles::Dir(p.clone()),
        ModelSource::Path(p) if gguf::is_gguf_path(p) => {
            return Ok(Located::Gguf(Box::new(gguf::open(p)?)));
        }
        ModelSource::Path(p) if p.exists() => {
            return Err(Error::Input(format!(
                "{}: not a folder (give the folder holding config.json, or a .gguf file)",
                p.display()
            )));
        }
        ModelSource::Path(p) => {
            return Err(Error::Input(format!(
                "{}: no such folder or .gguf file",
                p.display()
            )));
        }
    };
    // Files without config.json may be one GGUF file (on disk or in memory).
    if files.exists("config.json") {
        return Ok(Located::Files(files));
    }
    let ggufs = files.names_ending(".gguf");
    match ggufs.as_slice() {
        [] => Ok(Located::Files(files)),
        [one] => {
            let bytes = files
                .blob(one)?
                .ok_or_else(|| Error::Input(format!("{one}: no such file")))?;
            let g = gguf::open_blob(&files.path(one), bytes)?;
            Ok(Located::Gguf(Box::new(g)))
        }
        many => Err(Error::Input(format!(
            "{}: {} .gguf files and no config.json; name the one to load ({})",
            files.root().display(),
            many.len(),
            many.join(", ")
        ))),
    }
}

/// A model's config and checked weights, and where the rest comes from.
pub(crate) struct Weights {
    pub cfg: ModelConfig,
    pub weights: ModelWeights,
    pub origin: Origin,
}

pub(crate) enum Origin {
    /// The tokenizer and the other host files are read from here.
    Files(ModelFiles),
    /// A GGUF file carries its tokenizer; the report says what it held.
    Gguf(GgufReport, Box<Tokenizer>),
}

impl Weights {
    /// Reads the config and checks every tensor header against it (what `inspect` needs).
    pub fn read(source: &ModelSource) -> Result<Weights> {
        match locate(source)? {
            Located::Files(files) => {
                let cfg = ModelConfig::load_files(&files)?;
                let weights = ModelWeights::open_files(&files)?;
                weights.validate(&cfg)?;
                Ok(Weights {
                    cfg,
                    weights,
                    origin: Origin::Files(files),
                })
            }
            Located::Gguf(g) => {
                let g = *g;
                let report = GgufReport {
                    summary: g.summary,
                    assumptions: g.assumptions,
                };
                Ok(Weights {
                    cfg: g.config,
                    weights: ModelWeights::from_gguf(g.weights),
                    origin: Origin::Gguf(report, Box::new(g.tokenizer)),
                })
            }
        }
    }
}

impl HostFiles {
    /// Reads and checks everything; with `require_template`, a model without a usable chat
    /// template is an error here.
    pub fn read(source: &ModelSource, require_template: bool) -> Result<HostFiles> {
        let w = Weights::read(source)?;
        let (tokenizer, generation, gguf) = match w.origin {
            Origin::Gguf(report, tokenizer) => {
                (*tokenizer, GenerationDefaults::default(), Some(report))
            }
            Origin::Files(files) => (
                Tokenizer::load_files(&files, Some(&w.cfg))?,
                GenerationDefaults::load_files(&files)?,
                None,
            ),
        };
        let template = match ChatTemplate::from_tokenizer(&tokenizer) {
            Err(e) if require_template => return Err(e),
            t => t.map_err(|e| e.to_string()),
        };
        Ok(HostFiles {
            source: source.clone(),
            cfg: w.cfg,
            weights: w.weights,
            generation,
            tokenizer,
            template,
            gguf,
        })
    }
}
