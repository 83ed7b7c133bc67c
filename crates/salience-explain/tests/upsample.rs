//! Bilinear resampling: hand-computed values (PyTorch semantics), identity,
//! gradient against finite differences, adjointness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{Device, Tensor, Var};
use salience_explain::ops::upsample::interpolation_matrix;
use salience_explain::ops::upsample_bilinear2d;

fn planes(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn x22() -> Tensor {
    Tensor::new(&[[[[1.0f32, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap()
}

#[test]
fn two_by_two_to_four_by_four_align_corners_false() {
    // By hand: source rows/cols for dst 0..4 are 0, 0.25, 0.75, 1 (clamped
    // -0.25 → 0 and 1.25 → 1): weights [1,0], [¾,¼], [¼,¾], [0,1].
    let y = upsample_bilinear2d(&x22(), 4, 4, false).unwrap();
    assert_eq!(y.dims(), &[1, 1, 4, 4]);
    let expected = [
        1.0, 1.25, 1.75, 2.0, //
        1.5, 1.75, 2.25, 2.5, //
        2.5, 2.75, 3.25, 3.5, //
        3.0, 3.25, 3.75, 4.0,
    ];
    for (a, b) in planes(&y).iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn two_by_two_to_four_by_four_align_corners_true() {
    // Corners aligned: f(r, c) = 1 + c/3 + 2r/3 (the bilinear plane through
    // the four corners 1, 2, 3, 4).
    let y = upsample_bilinear2d(&x22(), 4, 4, true).unwrap();
    let v = planes(&y);
    for r in 0..4 {
        for c in 0..4 {
            let e = 1.0 + c as f32 / 3.0 + 2.0 * r as f32 / 3.0;
            assert!((v[r * 4 + c] - e).abs() < 1e-6);
        }
    }
}

#[test]
fn downsampling_and_non_square() {
    // 4 → 2 with align_corners=false samples src = 0.5 and 2.5: means of
    // neighbouring pairs. 1 → 3 replicates.
    let x = Tensor::new(&[[[[0.0f32, 2.0, 4.0, 6.0]]]], &Device::Cpu).unwrap();
    let y = upsample_bilinear2d(&x, 3, 2, false).unwrap();
    assert_eq!(y.dims(), &[1, 1, 3, 2]);
    assert_eq!(planes(&y), vec![1.0, 5.0, 1.0, 5.0, 1.0, 5.0]);
    // Independent check of the row sums and non-negativity.
    for (i, o) in [(3, 7), (7, 3), (5, 5), (1, 4)] {
        for ac in [false, true] {
            let m = interpolation_matrix(i, o, ac).unwrap();
            for row in m.chunks(i) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
                assert!(row.iter().all(|&v| v >= 0.0));
            }
        }
    }
}

#[test]
fn identity_when_size_unchanged() {
    let x = common::tensor(&[2, 3, 5, 4], 1.0, 7);
    for ac in [false, true] {
        let y = upsample_bilinear2d(&x, 5, 4, ac).unwrap();
        assert_eq!(planes(&y), planes(&x));
    }
}

#[test]
fn gradient_matches_finite_differences_and_adjoint() {
    let x = common::tensor(&[2, 2, 3, 4], 1.0, 8);
    let g = common::tensor(&[2, 2, 7, 5], 1.0, 9);
    for ac in [false, true] {
        // ⟨U x, g⟩ differentiated w.r.t. x is Uᵀ g.
        let v = Var::from_tensor(&x).unwrap();
        let y = upsample_bilinear2d(v.as_tensor(), 7, 5, ac).unwrap();
        let loss = (&y * &g).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let gx = planes(grads.get(v.as_tensor()).unwrap());
        // Finite differences (the map is linear: central differences are
        // exact up to rounding).
        let xv = planes(&x);
        let f = |xs: &[f32]| -> f64 {
            let t = Tensor::from_vec(xs.to_vec(), (2, 2, 3, 4), &Device::Cpu).unwrap();
            let y = upsample_bilinear2d(&t, 7, 5, ac).unwrap();
            planes(&y)
                .iter()
                .zip(planes(&g))
                .map(|(a, b)| *a as f64 * b as f64)
                .sum()
        };
        for i in 0..xv.len() {
            let h = 1e-2f32;
            let mut p = xv.clone();
            p[i] += h;
            let mut m = xv.clone();
            m[i] -= h;
            let fd = (f(&p) - f(&m)) / (2.0 * h as f64);
            assert!((fd - gx[i] as f64).abs() < 1e-3, "{i}: {fd} vs {}", gx[i]);
        }
        // Adjointness ⟨U x, g⟩ = ⟨x, Uᵀ g⟩ with Uᵀ g built independently
        // from the 1-D matrices.
        let ah = interpolation_matrix(3, 7, ac).unwrap();
        let aw = interpolation_matrix(4, 5, ac).unwrap();
        let gv = planes(&g);
        let mut utg = vec![0f64; xv.len()];
        for p in 0..4 {
            for r in 0..7 {
                for c in 0..5 {
                    let gval = gv[p * 35 + r * 5 + c] as f64;
                    for i in 0..3 {
                        for j in 0..4 {
                            utg[p * 12 + i * 4 + j] +=
                                ah[r * 3 + i] as f64 * aw[c * 4 + j] as f64 * gval;
                        }
                    }
                }
            }
        }
        let lhs = f(&xv);
        let rhs: f64 = xv.iter().zip(&utg).map(|(a, b)| *a as f64 * b).sum();
        assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()));
        for (a, b) in gx.iter().zip(&utg) {
            assert!((*a as f64 - b).abs() < 1e-5);
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let x = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(upsample_bilinear2d(&x, 4, 4, false).is_err());
    assert!(upsample_bilinear2d(&x22(), 0, 4, false).is_err());
    let e = Tensor::zeros((1, 0, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(upsample_bilinear2d(&e, 4, 4, false).is_err());
}
