//! Helpers shared by the PyTorch parity tests.

use candle_core::Tensor;
use ndarray::ArrayD;

/// `max |a − b| / max |b|` (`b` the reference).
pub fn rel_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let num = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .fold(0.0, f64::max);
    num / b.iter().map(|&y| (y as f64).abs()).fold(0.0, f64::max)
}

/// A tensor's values as an array of its shape.
pub fn to_array(t: &Tensor) -> ArrayD<f32> {
    ArrayD::from_shape_vec(
        t.dims().to_vec(),
        t.flatten_all().expect("flat").to_vec1().expect("vec"),
    )
    .expect("shape")
}
