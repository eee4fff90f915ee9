//! CPU reference: sampling (being written).
