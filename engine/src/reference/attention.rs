//! CPU reference: attention (being written).
