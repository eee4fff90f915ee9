//! The weights of a model: `model.safetensors`, or the shards named by
//! `model.safetensors.index.json`, or a GGUF file, memory-mapped and checked against the config
//! **before** anything is converted or uploaded, so a bad checkpoint fails fast with the tensor
//! and file. Either backing is read through [`ModelWeights::tensor`].
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::{LayerKind, ModelConfig};
use super::files::ModelFiles;
use super::convert::{to_f16_rows, to_f32_vec};
use super::gguf::{GgufTensor, GgufWeights};
use super::safetensors::{Dtype, SafetensorsFile, TensorInfo};
use super::tensors::{self, TensorSpec};
use crate::{Error, Result};

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// A borrowed tensor: raw little-endian bytes straight from the memory map.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
    pub file: &'a Path,
}

impl TensorView<'_> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Length of the innermost dimension (1 for a scalar). A "row" for streaming conversion.
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }
    /// Number of innermost rows: numel / row_len (0 for an empty tensor).
    pub fn n_rows(&self) -> usize {
        self.numel().checked_div(self.row_len()).unwrap_or(0)
    }
}

/// One of our tensors from either backing: raw safetensors bytes, or GGUF rows that are
/// dequantised and un-permuted as they are read.
#[derive(Debug)]
pub enum WeightTensor<'a> {
    Safetensors(TensorView<'a>),
    Gguf(GgufTensor<'a>),
}

impl WeightTensor<'_> {
    pub fn name(&self) -> &str {
        match self {
            WeightTensor::Safetensors(v) => v.name,
            WeightTensor::Gguf(g) => g.name(),
        }
    }
    /// Our (PyTorch-order) shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            WeightTensor::Safetensors(v) => v.shape,
            WeightTensor::Gguf(g) => g.shape(),
        }
    }
    pub fn row_len(&self) -> usize {
        match self {
            WeightTensor::Safetensors(v) => v.row_len(),
            WeightTensor::Gguf(g) => g.row_len(),
        }
    }
    pub fn n_rows(&self) -> usize {
        match self {
            WeightTensor::Safetensors(v) => v.n_rows(),
            WeightTensor::Gguf(g) => g.n_rows(),
        }
    }
    /// Bytes the file stores for this tensor.
    pub fn stored_bytes(&self) -> u64 {
        match self {
            WeightTensor::Safetensors(v) => v.bytes.len() as u64,
            WeightTensor::Gguf(g) => g.stored_bytes(),
        }
    }
    /// Rows `[row0, row0 + n)` as f16 bits; returns the number of values saturated to ±65504.
    pub fn f16_rows(&self, row0: usize, n: usize, out: &mut [u16]) -> Result<usize> {
        match self {
            WeightTensor::Safetensors(v) => to_f16_rows(v, row0, n, out),
            WeightTensor::Gguf(g) => g.f16_rows(row0, n, out),
        }
    }
    /// The whole tensor as f32 (small tensors).
    pub fn f32_vec(&self) -> Result<Vec<f32>> {
        match self {
            WeightTensor::Safetensors(v) => to_f32_vec(v),
            WeightTensor::Gguf(g) => g.f32_vec(),
        }
    }
}

/// The files holding a model's weights.
#[derive(Debug)]
enum Backing {
    /// Safetensors files and a name → (file, tensor) map.
    Safetensors {
        files: Vec<SafetensorsFile>,
        locate: HashMap<String, (usize, usize)>,
    },
    /// One GGUF file, its tensors mapped onto our names.
    Gguf(Box<GgufWeights>),
}

/// The weights of a model under our tensor names.
#[derive(Debug)]
pub struct ModelWeights {
    dir: PathBuf,
    backing: Backing,
    /// The file named in "missing tensor" errors: model.safetensors, the index or the GGUF.
    source: PathBuf,
}

impl ModelWeights {
    /// Opens the weights of `dir` and validates every tensor `cfg` implies (presence, shape,
    /// dtype BF16/F16/F32).
    pub fn open(dir: &Path, cfg: &ModelConfig) -> Result<Self> {
        let w = Self::open_unchecked(dir)?;
        w.validate(cfg)?;
        Ok(w)
    }

    /// Opens and validates the file structure only (no config check), e.g. for inspecting
    /// headers.
    pub fn open_unchecked(dir: &Path) -> Result<Self> {
        Self::open_files(&ModelFiles::Dir(dir.to_path_buf()))
    }

    /// [`ModelWeights::open_unchecked`] on a model's files, on disk or in memory.
    pub fn open_files(model: &ModelFiles) -> Result<Self> {
        let dir = model.root();
        let shard = |name: &str| -> Result<SafetensorsFile> {
            let path = model.path(name);
            let blob = model.blob(name)?.ok_or_else(|| Error::Format {
                file: path.clone(),
                msg: "no such file".into(),
            })?;
            SafetensorsFile::from_blob(&path, blob)
        };
        let (files, source, weight_map) = if model.exists(SINGLE_FILE) {
            (vec![shard(SINGLE_FILE)?], model.path(SINGLE_FILE), None)
        } else if model.exists(INDEX_FILE) {
            let Index { shards, map } = read_index(model)?;
            let files = shards
                .iter()
                .map(|s| shard(s))
                .collect::<Result<Vec<_>>>()?;
            (files, model.path(INDEX_FILE), Some(map))
        } else {
            return Err(Error::Format {
                file: dir.to_path_buf(),
                msg: format!("no {SINGLE_FILE} or {INDEX_FILE} in the model folder"),
            });
        };
        let mut locate: HashMap<String, (usize, usize)> = HashMap::new();
        for (fi, f) in files.iter().enumerate() {
            for (ti, t) in f.tensors().iter().enumerate() {
                if let Some(&(other, _)) = locate.get(&t.name) {
                    return Err(Error::Tensor {
                        file: f.path().to_path_buf(),
                        tensor: t.name.clone(),
                        msg: format!("also present in {}", files[other].path().display()),
                    });
                }
                locate.insert(t.name.clone(), (fi, ti));
            }
        }
        if let Some(map) = weight_map {
            for (name, shard) in map {
                let found = locate.get(&name).map(|&(fi, _)| files[fi].path());
                if found.and_then(Path::file_name) != Some(std::ffi::OsStr::new(&shard)) {
                    return Err(Error::Tensor {
                        file: model.path(&shard),
                        tensor: name,
                        msg: format!("listed in {INDEX_FILE} for this shard but not present in it"),
                    });
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            backing: Backing::Safetensors { files, locate },
            source,
        })
    }

    /// Weights read from a GGUF file (already checked against its config by
    /// [`GgufWeights::new`]).
    pub fn from_gguf(weights: GgufWeights) -> Self {
        let source = weights.path().to_path_buf();
        Self {
            dir: source.parent().map(Path::to_path_buf).unwrap_or_default(),
            backing: Backing::Gguf(Box::new(weights)),
            source,
        }
    }

    /// The GGUF backing, if these weights come from a GGUF file.
    pub fn gguf(&self) -> Option<&GgufWeights> {
        match &self.backing {
            Backing::Gguf(g) => Some(g),
            Backing::Safetensors { .. } => None,
        }
    }

    fn st_files(&self) -> &[SafetensorsFile] {
        match &self.backing {
            Backing::Safetensors { files, .. } => files,
            Backing::Gguf(_) => &[],
        }
    }

    /// Checks that every expected tensor exists with the right shape and a supported dtype.
    /// Extra tensors (e.g. `lm_head.weight` of a tied model) are ignored.
    pub fn validate(&self, cfg: &ModelConfig) -> Result<()> {
        if self.gguf().is_some() {
            // Checked against the config when the GGUF tensors were mapped.
            return Ok(());
        }
        for spec in tensors::expected_tensors(cfg) {
            self.check(&spec, cfg)?;
        }
        Ok(())
    }

    fn check(&self, spec: &TensorSpec, cfg: &ModelConfig) -> Result<()> {
        if !self.contains(&spec.name) {
            return Err(Error::Tensor {
                file: self.source.clone(),
                tensor: spec.name.clone(),
                msg: format!(
                    "missing from the checkpoint, but {}",
                    why_required(&spec.name, cfg)
                ),
            });
        }
        let view = self.get(&spec.name)?;
        let err = |msg: String| Error::Tensor {
            file: view.file.to_path_buf(),
            tensor: spec.name.clone(),
            msg,
        };
        if view.shape != spec.shape.as_slice() {
            return Err(err(format!(
                "shape {:?} but config.json implies {:?}",
                view.shape, spec.shape
            )));
        }
        if !view.dtype.is_supported_float() {
            return Err(err(format!(
                "dtype {} is not supported (expected BF16, F16 or F32)",
                view.dtype
            )));
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn contains(&self, name: &str) -> bool {
        match &self.backing {
            Backing::Safetensors { locate, .. } => locate.contains_key(name),
            Backing::Gguf(g) => g.contains(name),
        }
    }

    /// The tensor `name` from either backing.
    pub fn tensor(&self, name: &str) -> Result<WeightTensor<'_>> {
        match &self.backing {
            Backing::Safetensors { .. } => self.get(name).map(WeightTensor::Safetensors),
            Backing::Gguf(g) => g.get(name).map(WeightTensor::Gguf),
        }
    }

    /// Bytes of all tensors the files store (GGUF: those the engine reads).
    pub fn total_bytes(&self) -> u64 {
        match &self.backing {
            Backing::Safetensors { .. } => self.infos().map(|i| i.len as u64).sum(),
            Backing::Gguf(g) => g.total_bytes(),
        }
    }

    /// The raw safetensors tensor `name`; a missing tensor is an error naming the weights file
    /// or index. GGUF tensors have no raw view: read them through [`ModelWeights::tensor`].
    pub fn get(&self, name: &str) -> Result<TensorView<'_>> {
        let missing = |msg: &str| Error::Tensor {
            file: self.source.clone(),
            tensor: name.to_string(),
            msg: msg.into(),
        };
        let Backing::Safetensors { files, locate } = &self.backing else {
            return Err(missing(
                "a GGUF tensor has no raw view (use ModelWeights::tensor)",
            ));
        };
        let &(fi, ti) = locate
            .get(name)
            .ok_or_else(|| missing("missing from the checkpoint"))?;
        let file = &files[fi];
        let info = &file.tensors()[ti];
        Ok(TensorView {
            name: &info.name,
            dtype: info.dtype,
            shape: &info.shape,
            bytes: file.data(info),
            file: file.path(),
        })
    }

    /// The output projection: `lm_head.weight`, or the embeddings when tied.
    pub fn lm_head(&self, cfg: &ModelConfig) -> Result<TensorView<'_>> {
        self.get(if cfg.tie_word_embeddings {
            tensors::EMBED
        } else {
            tensors::LM_HEAD
        })
    }

    /// Every safetensors header entry of every file (for counting parameters from the
    /// checkpoint); empty for a GGUF file (see [`super::gguf::Summary`]).
    pub fn infos(&self) -> impl Iterator<Item = &TensorInfo> {
        self.st_files().iter().flat_map(|f| f.tensors().iter())
    }

    /// Paths of the files that were opened.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        let gguf = self.gguf().map(|g| g.path());
        self.st_files().iter().map(|f| f.path()).chain(gguf)
    }
}

/// Why the config implies a tensor, for "missing tensor" errors.
fn why_required(name: &str, cfg: &ModelConfig) -> String {
    if name == tensors::LM_HEAD {
        return "config.json has tie_word_embeddings = false".into();
    }
    match tensors::layer_of(name).and_then(|l| Some((l, cfg.layer_types.get(l)?))) {
        Some((l, LayerKind::Mamba)) => format!("config.json makes layer {l} a mamba layer"),
        Some((l, LayerKind::Attention)) => {
            format!("config.json makes layer {l} an attention layer")
        }
        None => "every model needs it".into(),
    }
}

/// The parsed `model.safetensors.index.json`.
struct Index {
    /// Distinct shard file names, sorted.
    shards: Vec<String>,
    /// (tensor name, shard file name).
    map: Vec<(String, String)>,
}

/// Reads the index. Every shard must be a plain file name inside `dir` and must exist.
fn read_index(model: &ModelFiles) -> Result<Index> {
    let index = model.path(INDEX_FILE);
    let fmt = |msg: String| Error::Format {
        file: index.clone(),
        msg,
    };
    let text = model.required_text(INDEX_FILE)?;
    let json: Value = serde_json::from_str(&text).map_err(|e| fmt(format!("invalid JSON: {e}")))?;
    let Some(Value::Object(map)) = json.get("weight_map") else {
        return Err(fmt("missing `weight_map` object".into()));
    };
    let mut pairs = Vec::with_capacity(map.len());
    let mut shards = BTreeSet::new();
    for (name, shard) in map {
        let Some(shard) = shard.as_str() else {
            return Err(fmt(format!(
                "weight_map[`{name}`] must be a file name, got {shard}"
            )));
        };
        let plain = Path::new(shard).file_name().is_some_and(|f| f == shard);
        if !plain || shard == ".." {
            return Err(fmt(format!(
                "weight_map[`{name}`] = \"{shard}\" is not a plain file name in the model folder"
            )));
        }
        if shards.insert(shard.to_string()) && !model.exists(shard) {
            return Err(fmt(format!(
                "shard `{shard}` (holding tensor `{name}`) does not exist in {}",
                model.root().display()
            )));
        }
        pairs.push((name.clone(), shard.to_string()));
    }
    if shards.is_empty() {
        return Err(fmt("`weight_map` is empty".into()));
    }
    Ok(Index {
        shards: shards.into_iter().collect(),
        map: pairs,
    })
}
