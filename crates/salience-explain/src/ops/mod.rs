//! Differentiable tensor operations that candle lacks (or whose backward
//! pass candle gets wrong or does not implement): bilinear resampling and
//! max pooling with any kernel, stride and padding.

pub mod max_pool;
pub mod upsample;

pub use max_pool::max_pool2d;
pub use upsample::upsample_bilinear2d;
