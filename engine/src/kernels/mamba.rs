//! Launchers: mamba (being written).
