//! Seeded random test inputs (candle-free; salience-explain's test models
//! include this file for theirs).
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use rand_distr::{Distribution, StandardNormal};

pub fn randn(shape: &[usize], scale: f32, seed: u64) -> Vec<f32> {
    let mut g = salience_core::seed::rng(seed);
    let n: usize = shape.iter().product();
    (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut g);
            z * scale
        })
        .collect()
}

pub fn array(shape: &[usize], scale: f32, seed: u64) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), randn(shape, scale, seed)).unwrap()
}
