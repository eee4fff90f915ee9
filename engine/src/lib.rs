pub mod bench;
pub mod chat_session;
pub mod error;
pub mod generate;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod model_files;
// Test code (CPU references, kernel test harness): only for unit tests and for targets that
// enable the `testing` feature (the test targets, examples), so production cannot call it.
#[cfg(any(test, feature = "testing"))]
pub mod reference;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result};
