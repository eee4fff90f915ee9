//! CPU reference: moe (being written).
