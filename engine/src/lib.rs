pub mod error;
pub mod gpu;
pub mod kernels;
pub mod reference;
pub mod testing;

pub use error::{Error, Result};
