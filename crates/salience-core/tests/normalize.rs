//! Normalizations: hand-computed values, degenerate maps, and positive
//! scale invariance (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{array, Array, ArrayD, IxDyn};
use proptest::prelude::*;
use salience_core::{
    AttributionBatch, DegeneratePolicy, DegenerateReason, Ensemble, Normalization, SalienceError,
};

/// The map [1, 2, 3, 6]: min 1, max 6, μ = 3, σ = √3.5 (population),
/// ‖·‖₁ = 12, ‖·‖₂ = √50.
fn batch() -> AttributionBatch {
    AttributionBatch::from_tabular(array![[1.0f32, 2.0, 3.0, 6.0], [-2.0, 0.0, 1.0, -4.0]]).unwrap()
}

fn row(b: &AttributionBatch, i: usize) -> Vec<f32> {
    b.as_flat().row(i).to_vec()
}

fn close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

#[test]
fn hand_computed_values() {
    let b = batch();
    let n = |m| b.normalize(m, DegeneratePolicy::Error).unwrap();
    close(&row(&n(Normalization::None), 0), &[1.0, 2.0, 3.0, 6.0]);
    close(&row(&n(Normalization::MinMax), 0), &[0.0, 0.2, 0.4, 1.0]);
    let s = 3.5f64.sqrt();
    close(
        &row(&n(Normalization::ZScore), 0),
        &[-2.0 / s, -1.0 / s, 0.0, 3.0 / s],
    );
    close(
        &row(&n(Normalization::L1), 0),
        &[1.0 / 12.0, 2.0 / 12.0, 3.0 / 12.0, 0.5],
    );
    let l2 = 50f64.sqrt();
    close(
        &row(&n(Normalization::L2), 0),
        &[1.0 / l2, 2.0 / l2, 3.0 / l2, 6.0 / l2],
    );
    close(
        &row(&n(Normalization::AbsMax), 0),
        &[1.0 / 6.0, 2.0 / 6.0, 0.5, 1.0],
    );
    // Negative map [-2, 0, 1, -4]: min -4, max 1, μ = -1.25, ‖·‖₁ = 7, ‖·‖₂ = √21.
    close(&row(&n(Normalization::MinMax), 1), &[0.4, 0.8, 1.0, 0.0]);
    let s =
        (((0.75f64).powi(2) + 1.25f64.powi(2) + 2.25f64.powi(2) + 2.75f64.powi(2)) / 4.0).sqrt();
    close(
        &row(&n(Normalization::ZScore), 1),
        &[-0.75 / s, 1.25 / s, 2.25 / s, -2.75 / s],
    );
    close(
        &row(&n(Normalization::L1), 1),
        &[-2.0 / 7.0, 0.0, 1.0 / 7.0, -4.0 / 7.0],
    );
    let l2 = 21f64.sqrt();
    close(
        &row(&n(Normalization::L2), 1),
        &[-2.0 / l2, 0.0, 1.0 / l2, -4.0 / l2],
    );
    close(&row(&n(Normalization::AbsMax), 1), &[0.5, 0.0, 0.25, 1.0]);
}

#[test]
fn degenerate_maps() {
    let b = AttributionBatch::from_tabular(array![[1.0f32, 2.0], [3.0, 3.0], [0.0, 0.0]]).unwrap();
    for (m, sample, reason) in [
        (Normalization::MinMax, 1, DegenerateReason::Constant),
        (Normalization::ZScore, 1, DegenerateReason::Constant),
        (Normalization::L1, 2, DegenerateReason::AllZero),
        (Normalization::L2, 2, DegenerateReason::AllZero),
        (Normalization::AbsMax, 2, DegenerateReason::AllZero),
    ] {
        match b.normalize(m, DegeneratePolicy::Error) {
            Err(SalienceError::DegenerateMap {
                sample: s,
                map: 0,
                reason: r,
            }) => {
                assert_eq!((s, r), (sample, reason), "{m:?}")
            }
            other => panic!("{m:?}: {other:?}"),
        }
        let z = b.normalize(m, DegeneratePolicy::Zeros).unwrap();
        assert_eq!(row(&z, sample), vec![0.0, 0.0], "{m:?}");
        assert!(z.view().iter().all(|v| v.is_finite()));
        // The in-place variant leaves the batch untouched on error.
        let mut c = b.clone();
        assert!(c.normalize_in_place(m, DegeneratePolicy::Error).is_err());
        assert_eq!(c, b);
    }
}

#[test]
fn ensemble_errors_name_sample_and_map() {
    let mut a = Array::from_shape_fn((3, 2, 4), |(k, n, p)| (1 + k + n * p) as f32);
    // Map 2, sample 1 all zero.
    a.slice_mut(ndarray::s![2, 1, ..]).fill(0.0);
    let e = Ensemble::from_stacked(a.into_dyn(), None).unwrap();
    match e.normalize(Normalization::L2, DegeneratePolicy::Error) {
        Err(SalienceError::DegenerateMap {
            sample: 1, map: 2, ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn extreme_values_stay_finite() {
    let b = AttributionBatch::from_tabular(array![[f32::MAX, -f32::MAX, 1.0], [1e-38, 0.0, 0.0]])
        .unwrap();
    for m in Normalization::ALL {
        match b.normalize(m, DegeneratePolicy::Error) {
            Ok(z) => assert!(z.view().iter().all(|v| v.is_finite()), "{m:?}"),
            Err(SalienceError::DegenerateMap { .. }) => {}
            Err(e) => panic!("{m:?}: {e}"),
        }
    }
}

proptest! {
    #[test]
    fn invariant_to_positive_scaling(
        v in proptest::collection::vec(-100.0f32..100.0, 2..50),
        scale in 0.01f32..100.0,
    ) {
        let n = v.len();
        let a = AttributionBatch::new(ArrayD::from_shape_vec(IxDyn(&[1, n]), v.clone()).unwrap()).unwrap();
        let s = AttributionBatch::new(ArrayD::from_shape_vec(IxDyn(&[1, n]), v.iter().map(|x| x * scale).collect()).unwrap()).unwrap();
        for m in Normalization::ALL.into_iter().filter(|m| *m != Normalization::None) {
            let (x, y) = (a.normalize(m, DegeneratePolicy::Error), s.normalize(m, DegeneratePolicy::Error));
            prop_assert_eq!(x.is_ok(), y.is_ok());
            if let (Ok(x), Ok(y)) = (x, y) {
                for (p, q) in x.view().iter().zip(y.view().iter()) {
                    prop_assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{:?}: {} vs {}", m, p, q);
                }
            }
        }
    }

    #[test]
    fn outputs_are_finite_or_typed_errors(
        v in proptest::collection::vec(prop_oneof![-1e30f32..1e30, Just(0.0f32), Just(1.0f32)], 1..30),
    ) {
        let n = v.len();
        let a = AttributionBatch::new(ArrayD::from_shape_vec(IxDyn(&[1, n]), v).unwrap()).unwrap();
        for m in Normalization::ALL {
            for policy in [DegeneratePolicy::Error, DegeneratePolicy::Zeros] {
                match a.normalize(m, policy) {
                    Ok(z) => prop_assert!(z.view().iter().all(|x| x.is_finite())),
                    Err(SalienceError::DegenerateMap { .. }) => prop_assert_eq!(policy, DegeneratePolicy::Error),
                    Err(e) => prop_assert!(false, "{:?}", e),
                }
            }
        }
    }
}
