//! Plain CPU implementations of every kernel, written for clarity, not speed. Kernel tests
//! compare the GPU against these on random inputs; model tests can run a whole layer through
//! them to find which kernel diverges.
pub mod attention;
pub mod linear;
pub mod mamba;
pub mod moe;
pub mod norm;
pub mod sampling;
