//! Tiny test models with fixed (seeded) weights.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use ndarray::{ArrayD, IxDyn};
use salience_explain::SequentialClassifier;

#[path = "../../../salience-perturb/tests/common/mod.rs"]
mod random;
#[allow(unused_imports)]
pub use random::{array, randn};

pub fn tensor(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    Tensor::from_vec(randn(shape, scale, seed), shape.to_vec(), &Device::Cpu).unwrap()
}

/// f(x) = W vec(x) + b for x of shape [N, 2, 3, 3], 4 classes.
pub fn linear() -> (SequentialClassifier, ArrayD<f32>) {
    let w = tensor(&[4, 18], 1.0, 1);
    let b = tensor(&[4], 1.0, 2);
    let wa = ArrayD::from_shape_vec(IxDyn(&[4, 18]), w.flatten_all().unwrap().to_vec1().unwrap())
        .unwrap();
    let m = SequentialClassifier::new(4)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push("fc", candle_nn::Linear::new(w, Some(b)));
    (m, wa)
}

/// conv3x3(2→4) → tanh → avg-pool 2 (reshape + mean) → flatten → linear(16→3),
/// for x of shape [N, 2, 4, 4].
pub fn cnn() -> SequentialClassifier {
    let cw = tensor(&[4, 2, 3, 3], 0.4, 10);
    let cb = tensor(&[4], 0.1, 11);
    let conv = candle_nn::Conv2d::new(
        cw,
        Some(cb),
        candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
    );
    let fw = tensor(&[3, 16], 0.5, 12);
    let fb = tensor(&[3], 0.1, 13);
    SequentialClassifier::new(3)
        .push("conv", conv)
        .push("tanh", |x: &Tensor| x.tanh())
        .push("pool", |x: &Tensor| {
            let (n, c, h, w) = x.dims4()?;
            x.reshape((n, c, h / 2, 2, w / 2, 2))?.mean(5)?.mean(3)
        })
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push("fc", candle_nn::Linear::new(fw, Some(fb)))
}
