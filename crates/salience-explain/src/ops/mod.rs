//! Differentiable tensor operations that candle lacks or gets wrong.

pub mod max_pool;

pub use max_pool::max_pool2d;
