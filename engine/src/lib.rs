pub mod error;
pub mod gpu;
pub mod model_files;

pub use error::{Error, Result};
