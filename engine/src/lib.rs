//! Granite 4.0 hybrid inference on any GPU through wgpu.
//!
//! The front door is the `api` module, re-exported here: list [`devices`], open an [`Engine`]
//! (a model) and its [`Session`]s (conversations); the data types they take and return are
//! exported beside them. Everything else is internal. With the `testing` feature (the
//! engine's own tests and benches enable it) the internal modules are public too, with the
//! CPU references and the test harness.
//!
//! Without that feature, items only the tests drive (readbacks of state, reference-sized
//! helpers) would be reported as dead code; the test build, which makes them public, is the
//! one clippy checks.
#![cfg_attr(not(any(test, feature = "testing")), allow(dead_code, unused_imports))]

mod api;

pub use api::*;
pub use bench::Bandwidth;
pub use error::{Error, Result};
pub use generate::{Event, GenerateOptions, Outcome, StopReason, TokenEvent};
pub use gpu::{FamilyTime, KernelPaths, MemTag, Profile};
pub use kernels::sampling::SamplingParams;
pub use model_files::chat::{ContentPart, FunctionCall, MessageContent, ToolCall};
/// Sizes, parameters and cache figures computed from a config (no GPU): what `inspect` shows.
pub use model_files::inspect;
pub use model_files::tensors::TensorCategory;
pub use model_files::{
    ChatMessage, ChatOptions, GenerationDefaults, LayerKind, ModelConfig, PositionEmbedding,
};

/// Internal modules: crate-private, public with the `testing` feature for tests and benches.
macro_rules! internal {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(any(test, feature = "testing"))]
        pub mod $name;
        #[cfg(not(any(test, feature = "testing")))]
        pub(crate) mod $name;
    )*};
}
internal!(bench, error, generate, gpu, kernels, model, model_files);

// Test code (CPU references, kernel test harness): only for unit tests and for targets that
// enable the `testing` feature (the test targets, examples), so production cannot call it.
#[cfg(any(test, feature = "testing"))]
pub mod reference;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
