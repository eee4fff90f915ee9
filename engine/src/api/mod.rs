//! The engine's front door: everything the CLI, the viewer and the server use.
//!
//! - [`devices`] lists adapters; [`Device`] is an opened one.
//! - [`Engine`] is an opened model ([`Engine::open`] from a [`ModelSource`] with
//!   [`OpenOptions`]): its [`ModelInfo`], live [`MemoryReport`], tokenizer and chat template.
//! - [`Session`] is one conversation: feed it an [`Input`] (text, token ids or chat messages),
//!   generate through a [`Stream`] of [`Event`]s (one GPU step per item, so nothing waits
//!   longer than one prefill chunk or one token), snapshot, restore, fork, close.
//! - [`describe`] reads a model's files without a GPU (what `granite inspect` prints).
//!
//! ```no_run
//! use granite_engine::{ChatMessage, Engine, Event, GenerateOptions, Input, ModelSource};
//!
//! # fn main() -> granite_engine::Result<()> {
//! let engine = Engine::open(&ModelSource::path("assets/granite-austen"), &Default::default())?;
//! let mut session = engine.session(&Default::default())?;
//! let chat = Input::chat(vec![ChatMessage::user("Will you dance, Miss Bennet?")]);
//! for event in session.generate(&chat, &GenerateOptions::default())? {
//!     match event? {
//!         Event::Token(t) => print!("{}", t.text),
//!         Event::Done(outcome) => println!("\n[{:?}]", outcome.stop),
//!         Event::Prefill { .. } => {}
//!     }
//! }
//! let mine = engine.memory().sessions[0];
//! println!("this conversation holds {} bytes of caches", mine.total());
//! # Ok(())
//! # }
//! ```
mod device;
mod engine;
mod memory;
mod session;
mod source;
mod stream;

pub use device::{Counters, Device, DeviceInfo, DeviceOptions, devices};
pub use engine::{Description, Engine, ModelInfo, OpenOptions, describe, describe_at};
pub use memory::{MemoryReport, SessionMemory};
pub use session::{Input, Session, SessionOptions, Snapshot};
pub use source::ModelSource;
pub use stream::Stream;
