//! Launchers: moe (being written).
