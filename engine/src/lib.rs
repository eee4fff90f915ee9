pub mod bench;
pub mod error;
pub mod gpu;
pub mod kernels;
pub mod model_files;
pub mod reference;
pub mod testing;

pub use error::{Error, Result};
