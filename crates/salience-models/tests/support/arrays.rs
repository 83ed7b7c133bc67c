//! Conversions and the relative difference the parity tests share.
// Each test file includes this module and uses part of it.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use ndarray::{ArrayD, Axis};

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

/// A deterministic input batch of this shape in [-1, 1].
pub fn inputs(shape: &[usize]) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    ArrayD::from_shape_vec(shape.to_vec(), v).expect("shape")
}

/// The sum of each row (the first axis), in f64.
pub fn row_sums(a: &ArrayD<f32>) -> Vec<f64> {
    a.axis_iter(Axis(0))
        .map(|r| r.iter().map(|&v| v as f64).sum())
        .collect()
}
