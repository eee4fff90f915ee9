//! Typed launchers, one module per kernel family. Each launcher checks its shapes, picks the
//! pipeline variant for the device's paths and records dispatches; none of them waits.
pub mod attention;
pub mod elementwise;
pub mod embedding;
pub mod linear;
pub mod mamba;
pub mod moe;
pub mod rmsnorm;
pub mod sampling;
mod tiling;

use crate::{Error, Result};

/// Shape checks in launchers: a wrong shape is a bug in the caller, reported, not a panic.
pub(crate) fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::Input(what()))
    }
}
