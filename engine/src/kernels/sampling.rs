//! Launchers: sampling (being written).
