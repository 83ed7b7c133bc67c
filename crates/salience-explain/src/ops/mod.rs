//! Differentiable tensor operations that candle lacks (or whose backward
//! pass candle gets wrong or does not implement): bilinear resampling and
//! max pooling with any kernel, stride and padding, a convolution
//! whose forward and backward passes are matrix products, and layer / RMS
//! normalisation and softmax with a backward pass (candle-nn's fused ones
//! detach their output).

pub mod conv2d;
pub mod max_pool;
pub mod norm;
pub mod upsample;

pub use conv2d::{conv2d, conv2d_layer, Conv2d};
pub use max_pool::max_pool2d;
pub use norm::{layer_norm, rms_norm, softmax};
pub use upsample::upsample_bilinear2d;
