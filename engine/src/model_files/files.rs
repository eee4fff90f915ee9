//! Where a model's files are read from: a folder on disk (memory-mapped where large), or a set
//! of named files already in memory (a browser has no file system). Every loader reads through
//! this, so both sources are checked the same way and errors name the file either way.
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::{Error, Result};

/// A model's files.
#[derive(Clone, Debug)]
pub enum ModelFiles {
    Dir(PathBuf),
    /// File name → contents. `label` names the set in messages.
    Memory {
        label: PathBuf,
        files: HashMap<String, Arc<[u8]>>,
    },
}

/// The bytes of one file: mapped from disk or shared from memory.
pub enum Blob {
    Mapped(Mmap),
    Shared(Arc<[u8]>),
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Blob::Mapped(_) => "mapped",
            Blob::Shared(_) => "in memory",
        };
        write!(f, "Blob({} bytes {kind})", self.len())
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Blob::Mapped(m) => m,
            Blob::Shared(b) => b,
        }
    }
}

impl ModelFiles {
    /// Files held in memory, by name; `label` names the set in messages.
    pub fn memory(label: &str, files: &[(String, Arc<[u8]>)]) -> Self {
        ModelFiles::Memory {
            label: PathBuf::from(label),
            files: files.iter().cloned().collect(),
        }
    }

    /// How `name` is shown in messages: the path on disk, or `label/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        match self {
            ModelFiles::Dir(d) => d.join(name),
            ModelFiles::Memory { label, .. } => label.join(name),
        }
    }

    /// The folder (or the in-memory set's label), for messages.
    pub fn root(&self) -> &Path {
        match self {
            ModelFiles::Dir(d) => d,
            ModelFiles::Memory { label, .. } => label,
        }
    }

    /// The names of the files whose name ends with `suffix` (case-insensitive), sorted.
    pub fn names_ending(&self, suffix: &str) -> Vec<String> {
        let suffix = suffix.to_ascii_lowercase();
        let mut names: Vec<String> = match self {
            ModelFiles::Dir(d) => std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect(),
            ModelFiles::Memory { files, .. } => files.keys().cloned().collect(),
        };
        names.retain(|n| n.to_ascii_lowercase().ends_with(&suffix));
        names.sort();
        names
    }

    pub fn exists(&self, name: &str) -> bool {
        match self {
            ModelFiles::Dir(d) => d.join(name).is_file(),
            ModelFiles::Memory { files, .. } => files.contains_key(name),
        }
    }

    /// The whole file as bytes, `None` when there is no such file. Files on disk are mapped,
    /// not read: only what is used is paged in.
    pub fn blob(&self, name: &str) -> Result<Option<Blob>> {
        match self {
            ModelFiles::Memory { files, .. } => Ok(files.get(name).cloned().map(Blob::Shared)),
            ModelFiles::Dir(d) => {
                let path = d.join(name);
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(path, e)),
                };
                // SAFETY: the map is read-only; the model files must not be modified while the
                // engine runs (as with every mmap-based loader). All reads are bounds-checked.
                let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
                Ok(Some(Blob::Mapped(map)))
            }
        }
    }

    /// A text file, `None` when there is no such file.
    pub fn text(&self, name: &str) -> Result<Option<String>> {
        let bytes = match self {
            ModelFiles::Memory { files, .. } => match files.get(name) {
                Some(b) => b.to_vec(),
                None => return Ok(None),
            },
            ModelFiles::Dir(d) => match std::fs::read(d.join(name)) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(d.join(name), e)),
            },
        };
        String::from_utf8(bytes).map(Some).map_err(|e| Error::Format {
            file: self.path(name),
            msg: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        })
    }

    /// A text file that must exist.
    pub fn required_text(&self, name: &str) -> Result<String> {
        self.text(name)?.ok_or_else(|| {
            Error::io(
                self.path(name),
                std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
            )
        })
    }
}
