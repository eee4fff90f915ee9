pub mod bench;
pub mod chat_session;
pub mod error;
pub mod generate;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod model_files;
pub mod reference;
pub mod testing;

pub use error::{Error, Result};
