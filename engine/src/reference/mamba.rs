//! CPU reference: mamba (being written).
