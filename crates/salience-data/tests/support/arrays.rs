//! Conversions and the relative difference the parity tests share.
// Each test file includes this module and uses part of it.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use ndarray::ArrayD;

/// A CPU tensor as an f32 array of the same shape.
pub fn to_array(t: &Tensor) -> ArrayD<f32> {
    ArrayD::from_shape_vec(
        t.dims().to_vec(),
        t.flatten_all().expect("flat").to_vec1().expect("vec"),
    )
    .expect("shape")
}

/// An f32 array as a CPU tensor of the same shape.
pub fn tensor(a: &ArrayD<f32>) -> Tensor {
    Tensor::from_vec(a.iter().copied().collect(), a.shape(), &Device::Cpu).expect("tensor")
}

/// max |a − b| / max |b|.
pub fn rel_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let num = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .fold(0.0, f64::max);
    num / b.iter().map(|&y| (y as f64).abs()).fold(0.0, f64::max)
}
