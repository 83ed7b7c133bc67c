//! App. B metrics (alignment, randomisation, truncated L2) and the exact
//! non-convex solver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use ndarray::{array, Array2, Array3, ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use salience_core::{Ensemble, SalienceError};
use salience_optimize::{
    alignment_grams, global_minimum, randomization_grams, solve_qp, truncated_l2_gram,
    truncated_l2_weights, AlignmentTarget, QpSettings,
};

fn ensemble(stacked: Array3<f32>) -> Ensemble {
    Ensemble::from_stacked(stacked.into_dyn(), None).unwrap()
}

/// KKT conditions of min wᵀGw on the simplex (necessary for a global
/// minimum): (Gw)_i ≥ wᵀGw for all i, with equality where w_i > 0.
fn assert_kkt(g: &Array2<f64>, w: &[f64], tol: f64) {
    let wv = ndarray::Array1::from(w.to_vec());
    let gw = g.dot(&wv);
    let obj = wv.dot(&gw);
    let scale = g.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
    for i in 0..w.len() {
        assert!(
            gw[i] >= obj - tol * scale,
            "dual infeasible at {i}: {} < {obj}",
            gw[i]
        );
        if w[i] > 1e-9 {
            assert!((gw[i] - obj).abs() <= tol * scale, "not stationary at {i}");
        }
    }
    assert!(w.iter().all(|&v| v >= 0.0));
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(48)))]

    /// For a PSD G the exhaustive non-convex solve and the convex QP agree.
    #[test]
    fn global_minimum_equals_qp_on_psd(seed in 0u64..10_000, k in 2usize..7, rows in 1usize..8) {
        let mut rng = r(seed);
        let g = psd(&mut rng, rows, k) + Array2::<f64>::eye(k) * 1e-3;
        let a = solve_qp(g.view(), &QpSettings::default()).unwrap();
        let b = global_minimum(g.view()).unwrap();
        prop_assert!((a.objective - b.objective).abs() <= 1e-9 * a.objective.abs().max(1e-12));
        assert_kkt(&g, b.weights.as_slice(), 1e-9);
    }

    /// For an indefinite G the result satisfies the KKT conditions and is
    /// no worse than a fine grid over the simplex (k = 3).
    #[test]
    fn global_minimum_beats_grid_on_indefinite(seed in 0u64..10_000) {
        let mut rng = r(seed);
        let m = mat(&mut rng, 3, 3);
        let g = &m + &m.t();
        let sol = global_minimum(g.view()).unwrap();
        assert_kkt(&g, sol.weights.as_slice(), 1e-9);
        prop_assert!((quad(&g, sol.weights.as_slice()) - sol.objective).abs() < 1e-12);
        let steps = 200;
        let mut grid_min = f64::INFINITY;
        for i in 0..=steps {
            for j in 0..=(steps - i) {
                let w = [i as f64 / steps as f64, j as f64 / steps as f64, (steps - i - j) as f64 / steps as f64];
                grid_min = grid_min.min(quad(&g, &w));
            }
        }
        prop_assert!(sol.objective <= grid_min + 1e-12, "{} > grid {}", sol.objective, grid_min);
    }
}

#[test]
fn global_minimum_concave_picks_a_vertex_and_rejects_bad_input() {
    let g = array![[-1.0, 0.5, 0.0], [0.5, -2.0, 0.0], [0.0, 0.0, -1.5]];
    let sol = global_minimum(g.view()).unwrap();
    assert_eq!(sol.weights.as_slice(), &[0.0, 1.0, 0.0]);
    assert_eq!(sol.objective, -2.0);
    assert!(matches!(
        global_minimum(array![[1.0, f64::NAN], [0.0, 1.0]].view()),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(global_minimum(Array2::<f64>::zeros((0, 0)).view()).is_err());
    assert!(global_minimum(Array2::<f64>::zeros((2, 3)).view()).is_err());
    assert!(global_minimum(Array2::<f64>::eye(17).view()).is_err());
    // G = 0: every w is optimal; uniform weights.
    assert_eq!(
        global_minimum(Array2::<f64>::zeros((2, 2)).view())
            .unwrap()
            .weights
            .as_slice(),
        &[0.5, 0.5]
    );
}

#[test]
fn alignment_to_maps_is_the_squared_distance() {
    let mut rng = r(7);
    let (k, n, d) = (3, 2, 5);
    let phi = Array3::from_shape_fn((k, n, d), |_| {
        rand::RngExt::random_range(&mut rng, -1.0f32..1.0)
    });
    let target = Array2::from_shape_fn((n, d), |(i, f)| (i * d + f) as f32 * 0.1);
    let e = ensemble(phi.clone());
    let grams = alignment_grams(&e, AlignmentTarget::Maps(target.view().into_dyn())).unwrap();
    assert_eq!(grams.len(), n);
    for i in 0..n {
        for w in [
            vec![0.2, 0.3, 0.5],
            vec![1.0, 0.0, 0.0],
            vec![0.7, -0.2, 0.9],
        ] {
            let direct: f64 = (0..d)
                .map(|f| {
                    let v: f64 = (0..k)
                        .map(|a| w[a] * f64::from(phi[[a, i, f]]))
                        .sum::<f64>()
                        - f64::from(target[[i, f]]);
                    v * v
                })
                .sum();
            let q = grams[i].q(&w).unwrap();
            assert!(
                (q - direct).abs() < 1e-9 * direct.max(1.0),
                "{q} vs {direct}"
            );
        }
    }
    // A method equal to the target gets all the weight.
    let mut phi2 = phi.clone();
    phi2.index_axis_mut(Axis(0), 1).assign(&target);
    let g = alignment_grams(
        &ensemble(phi2),
        AlignmentTarget::Maps(target.view().into_dyn()),
    )
    .unwrap();
    let w = solve_qp(g[0].matrix(), &QpSettings::default())
        .unwrap()
        .weights;
    assert!(w.as_slice()[1] > 1.0 - 1e-6, "{:?}", w.as_slice());
}

#[test]
fn alignment_to_a_region_penalizes_mass_outside() {
    // [k=2, N=1, C=2, H=1, W=2] maps, region [N=1, H=1, W=2] covers pixel 0 in both channels.
    let phi = ArrayD::from_shape_vec(
        IxDyn(&[2, 1, 2, 1, 2]),
        vec![1.0f32, 2.0, 3.0, 4.0, 0.5, -1.0, 0.25, 2.0],
    )
    .unwrap();
    let e = Ensemble::from_stacked(phi, None).unwrap();
    let region = array![[[1.0f32, 0.0]]];
    let g = alignment_grams(&e, AlignmentTarget::Region(region.view().into_dyn())).unwrap();
    // Outside features: pixel 1 of each channel: method 0 → (2, 4), method 1 → (−1, 2).
    let m = g[0].matrix();
    assert_eq!(m[[0, 0]], 4.0 + 16.0);
    assert_eq!(m[[1, 1]], 1.0 + 4.0);
    assert_eq!(m[[0, 1]], -2.0 + 8.0);
    // Wrong mask shape, empty region: typed errors.
    assert!(alignment_grams(
        &e,
        AlignmentTarget::Region(array![[1.0f32, 0.0, 1.0]].view().into_dyn())
    )
    .is_err());
    assert!(matches!(
        alignment_grams(
            &e,
            AlignmentTarget::Region(array![[[0.0f32, 0.0]]].view().into_dyn())
        ),
        Err(SalienceError::DegenerateMap { .. })
    ));
    assert!(alignment_grams(
        &e,
        AlignmentTarget::Maps(array![[f32::NAN, 0.0, 0.0, 0.0]].view().into_dyn())
    )
    .is_err());
}

#[test]
fn randomization_gram_is_minus_the_mean_squared_change() {
    let mut rng = r(3);
    let (k, n, d, m) = (3, 2, 4, 3);
    let orig = Array3::from_shape_fn((k, n, d), |_| {
        rand::RngExt::random_range(&mut rng, -1.0f32..1.0)
    });
    let rand_maps: Vec<Array3<f32>> = (0..m)
        .map(|_| {
            Array3::from_shape_fn((k, n, d), |_| {
                rand::RngExt::random_range(&mut rng, -1.0f32..1.0)
            })
        })
        .collect();
    let rand_e: Vec<Ensemble> = rand_maps.iter().map(|a| ensemble(a.clone())).collect();
    let grams = randomization_grams(&ensemble(orig.clone()), &rand_e).unwrap();
    let w = [0.5, 0.25, 0.25];
    for i in 0..n {
        let direct: f64 = rand_maps
            .iter()
            .map(|rm| {
                (0..d)
                    .map(|f| {
                        let v: f64 = (0..k)
                            .map(|a| w[a] * f64::from(orig[[a, i, f]] - rm[[a, i, f]]))
                            .sum();
                        v * v
                    })
                    .sum::<f64>()
            })
            .sum::<f64>()
            / m as f64;
        let q = grams[i].q(&w).unwrap();
        assert!((q + direct).abs() < 1e-9, "{q} vs -{direct}");
        // Negative semidefinite: the convex QP refuses it, the exact solver takes it.
        assert!(solve_qp(grams[i].matrix(), &QpSettings::default()).is_err());
        let sol = global_minimum(grams[i].matrix()).unwrap();
        assert_kkt(&grams[i].matrix().to_owned(), sol.weights.as_slice(), 1e-9);
    }
    assert!(randomization_grams(&ensemble(orig.clone()), &[]).is_err());
    let wrong = ensemble(Array3::zeros((k, n, d + 1)));
    assert!(randomization_grams(&ensemble(orig), &[wrong]).is_err());
}

#[test]
fn truncated_l2_matches_its_definition_and_mm_descends() {
    let mut rng = r(11);
    let (k, d, t) = (4, 30, 0.4f32);
    let phi = mat32(&mut rng, k, d);
    let w = simplex(&mut rng, k);
    let map: Vec<f32> = (0..d)
        .map(|f| (0..k).map(|a| w[a] * f64::from(phi[[a, f]])).sum::<f64>() as f32)
        .collect();
    let g = truncated_l2_gram(phi.view(), ndarray::ArrayView1::from(&map[..]), t).unwrap();
    let direct: f64 = map.iter().map(|&v| f64::from(v.abs().min(t)).powi(2)).sum();
    assert!(
        (g.q(&w).unwrap() - direct).abs() < 1e-6 * direct,
        "{} vs {direct}",
        g.q(&w).unwrap()
    );
    // An upper bound at any other weights.
    for _ in 0..20 {
        let w2 = simplex(&mut rng, k);
        let m2: f64 = (0..d)
            .map(|f| {
                let v: f64 = (0..k).map(|a| w2[a] * f64::from(phi[[a, f]])).sum();
                v.abs().min(f64::from(t)).powi(2)
            })
            .sum();
        assert!(g.q(&w2).unwrap() >= m2 - 1e-9);
    }
    let fit = truncated_l2_weights(phi.view(), t, 50).unwrap();
    assert!(
        fit.history.windows(2).all(|p| p[1] <= p[0] + 1e-9),
        "{:?}",
        fit.history
    );
    assert!(fit.history.last().unwrap() <= &fit.history[0]);
    // Bad input.
    assert!(truncated_l2_gram(phi.view(), ndarray::ArrayView1::from(&map[..3]), t).is_err());
    assert!(truncated_l2_gram(phi.view(), ndarray::ArrayView1::from(&map[..]), 0.0).is_err());
    assert!(truncated_l2_weights(phi.view(), t, 0).is_err());
}

#[test]
fn truncated_l2_hand_case() {
    // Method 0 is one big spike (cost t² = 0.25), method 1 is spread (4 · 0.3² = 0.36).
    let phi = array![[2.0f32, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]];
    let fit = truncated_l2_weights(phi.view(), 0.5, 20).unwrap();
    // Uniform start: (1.15, .15, .15, .15) → 0.25 + 3·0.0225 = 0.3175; MM then drops
    // the spread method's off-spike mass: w = (1, 0) → 0.25.
    assert!((fit.history[0] - 0.3175).abs() < 1e-6, "{:?}", fit.history);
    assert!(
        (fit.history.last().unwrap() - 0.25).abs() < 1e-6,
        "{:?}",
        fit.history
    );
    assert!(fit.converged);
}
