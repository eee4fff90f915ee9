//! `generation_config.json`: the sampling a model's authors recommend, which becomes the
//! default of every front end unless a flag or a request overrides it. The semantics are
//! transformers': without `do_sample` (or with it false) decoding is greedy whatever the
//! temperature says; when sampling, an absent `top_k` means 50 and an absent `temperature` 1.
use std::path::Path;

use serde::Serialize;

use super::files::ModelFiles;
use super::json::{Fields, parse_object};
use crate::generate::GenerateOptions;
use crate::kernels::sampling::SamplingParams;
use crate::Result;

pub const FILE: &str = "generation_config.json";

/// The fields of `generation_config.json` that set sampling defaults (absent: not set).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenerationDefaults {
    pub do_sample: Option<bool>,
    pub temperature: Option<f32>,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub max_new_tokens: Option<usize>,
}

impl GenerationDefaults {
    /// Reads `dir/generation_config.json`; a folder without one has no defaults.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_files(&ModelFiles::Dir(dir.to_path_buf()))
    }

    /// Reads `generation_config.json` of a model's files; without one there are no defaults.
    pub fn load_files(files: &ModelFiles) -> Result<Self> {
        match files.text(FILE)? {
            Some(text) => Self::parse(&text, &files.path(FILE)),
            None => Ok(Self::default()),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let obj = parse_object(text, path)?;
        let f = Fields::new(&obj, path);
        let opt_f32 = |key: &str| f.get(key).map(|_| f.f32(key, 0.0)).transpose();
        let defaults = GenerationDefaults {
            do_sample: f.get("do_sample").map(|_| f.bool("do_sample", false)).transpose()?,
            temperature: opt_f32("temperature")?,
            top_k: f.opt_usize("top_k")?.map(|k| k.min(u32::MAX as usize) as u32),
            top_p: opt_f32("top_p")?,
            repetition_penalty: opt_f32("repetition_penalty")?,
            max_new_tokens: f.opt_usize("max_new_tokens")?,
        };
        defaults
            .options()
            .sampling
            .validate()
            .map_err(|e| f.err("sampling", e.to_string()))?;
        Ok(defaults)
    }

    /// The generation options these defaults give (greedy, 128 tokens, when nothing is set).
    pub fn options(&self) -> GenerateOptions {
        let base = GenerateOptions::default();
        let sampling = if self.do_sample == Some(true) {
            SamplingParams {
                temperature: self.temperature.unwrap_or(1.0),
                top_k: self.top_k.unwrap_or(50),
                top_p: self.top_p.unwrap_or(1.0),
                repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
                seed: 0,
            }
        } else {
            SamplingParams {
                repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
                ..SamplingParams::default()
            }
        };
        GenerateOptions {
            max_new_tokens: self.max_new_tokens.filter(|&n| n > 0).unwrap_or(base.max_new_tokens),
            sampling,
            ..base
        }
    }
}
