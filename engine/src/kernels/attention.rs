//! Launchers: attention (being written).
