//! The real backend: the granite engine on the GPU.
//!
//! Not wired yet: the engine's generation API (`granite_engine::generate`) is still being
//! written. Until it lands in the engine crate, [`opener`] reports that clearly instead of
//! loading anything; run the viewer with `--fake` to see the window work.
use std::sync::Arc;

use crate::backend::Opener;

/// Why the engine backend cannot open a model in this build.
pub const NOT_AVAILABLE: &str = "the engine backend is not available in this build: the \
engine's generation API is not wired into the viewer yet (run with --fake to try the window)";

/// An [`Opener`] that loads the model with the engine.
pub fn opener() -> Opener {
    Arc::new(|_dir, _serve| Err(NOT_AVAILABLE.to_string()))
}
