//! Everything about reading a model folder on the CPU side: `config.json`, the safetensors
//! weights (validated and memory-mapped), the tokenizer, the chat template, and the size
//! figures shown by `inspect`. No GPU code lives here.
//!
//! Every file is untrusted input: errors name the file, tensor, field or value at fault, and
//! nothing panics on malformed data.
pub mod chat;
mod chat_filters;
pub mod config;
mod config_check;
mod config_fields;
pub mod convert;
pub mod files;
pub mod generation_config;
pub mod inspect;
mod json;
pub mod pyfmt;
pub mod safetensors;
pub mod tensors;
pub mod tokenizer;
pub mod weights;

pub use chat::{ChatMessage, ChatOptions, ChatTemplate};
pub use config::{LayerKind, ModelConfig, PositionEmbedding, TimeStepLimit};
pub use files::ModelFiles;
pub use generation_config::GenerationDefaults;
pub use convert::{to_f16_elems, to_f16_into, to_f16_rows, to_f32_into, to_f32_vec};
pub use safetensors::{Dtype, SafetensorsFile, TensorInfo};
pub use tensors::{TensorCategory, TensorSpec, expected_tensors};
pub use tokenizer::{StreamDecoder, Tokenizer};
pub use weights::{ModelWeights, TensorView};
