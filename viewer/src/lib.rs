//! granite-viewer: an egui chat window over the granite engine that shows, while tokens stream,
//! the GPU memory of each category (the KV cache grows, the Mamba-2 state does not), the layer
//! map with the hybrid's cache saving, speed, and the adapter.
//!
//! The UI talks to a [`backend::Backend`] on a worker thread ([`worker`]): the engine
//! ([`engine_backend`]) or a deterministic fake ([`fake`]) for tests and screenshots.
pub mod adapter;
pub mod adapter_ui;
pub mod app;
pub mod backend;
pub mod chat_ui;
pub mod cli;
pub mod engine_backend;
pub mod fake;
pub mod figures;
pub mod headless;
pub mod layers_ui;
pub mod memory_ui;
pub mod speed_ui;
pub mod worker;

pub use app::ViewerApp;
