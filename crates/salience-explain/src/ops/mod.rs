//! Differentiable tensor operations that candle lacks (or whose backward
//! pass candle does not implement).

pub mod upsample;

pub use upsample::upsample_bilinear2d;
