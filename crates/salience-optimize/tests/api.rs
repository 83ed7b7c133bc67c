//! Strategies, applying weights, the bound, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use ndarray::{Array, Array1, Array2};
use proptest::prelude::*;
use salience_core::{Ensemble, SalienceError};
use salience_optimize::{
    apply_weights, combine, frobenius, solve_qp, BoundInputs, Gram, GramAccumulator, Mask,
    MetricGrams, OptConfig, QpSettings, Query, SampleWeights, Scaling, Strategy, Weights,
};

#[test]
fn agg_opt_is_the_frobenius_normalized_sum() {
    let mut rng = r(20);
    let rob = Gram::from_matrix(psd(&mut rng, 5, 3) * 1e3).unwrap();
    let fai = Gram::from_matrix(psd(&mut rng, 5, 3) * 1e-3).unwrap();
    let grams = MetricGrams {
        robust: Some(&rob),
        faith: Some(&fai),
    };
    let g = Strategy::default().objective(&grams).unwrap().unwrap();
    let expect =
        &rob.matrix() / frobenius(&rob).unwrap() + &fai.matrix() / frobenius(&fai).unwrap();
    for (x, y) in g.matrix().iter().zip(expect.iter()) {
        assert!((x - y).abs() < 1e-14);
    }
    // Scaling one metric by any factor does not change AGG_opt's weights …
    let rob2 = Gram::from_matrix(rob.matrix().to_owned() * 1e6).unwrap();
    let s = QpSettings::default();
    let w1 = Strategy::default().weights(3, &grams, &s).unwrap();
    let w2 = Strategy::default()
        .weights(
            3,
            &MetricGrams {
                robust: Some(&rob2),
                faith: Some(&fai),
            },
            &s,
        )
        .unwrap();
    for (a, b) in w1.as_slice().iter().zip(w2.as_slice()) {
        assert!((a - b).abs() < 1e-9);
    }
    // … aggopt's λ = 0.5/0.5 gives the same weights; unscaled does not.
    let w3 = Strategy::Opt(OptConfig::aggopt())
        .weights(3, &grams, &s)
        .unwrap();
    for (a, b) in w1.as_slice().iter().zip(w3.as_slice()) {
        assert!((a - b).abs() < 1e-9);
    }
    let unscaled = OptConfig {
        scaling: Scaling::None,
        ..OptConfig::paper()
    };
    let w4 = Strategy::Opt(unscaled).weights(3, &grams, &s).unwrap();
    let wr = Strategy::Robust.weights(3, &grams, &s).unwrap();
    for (a, b) in w4.as_slice().iter().zip(wr.as_slice()) {
        assert!(
            (a - b).abs() < 1e-4,
            "unscaled sum is dominated by the robust term"
        );
    }
}

#[test]
fn combine_is_linear_in_q() {
    let mut rng = r(21);
    let phi = mat32(&mut rng, 3, 6);
    let m1: Vec<Vec<usize>> = vec![vec![0, 1], vec![2, 5], vec![3]];
    let q1: Vec<Query> = m1
        .iter()
        .enumerate()
        .map(|(j, m)| Query::MaskRow {
            mask: Mask::Indices(m),
            target: j as f64 * 0.3,
        })
        .collect();
    let tgt = [0.1f32, 0.2, -0.3, 0.4, 0.0, 1.0];
    let q2 = [Query::Identity { target: &tgt }];
    let a = GramAccumulator::accumulate(phi.view(), &q1).unwrap();
    let b = GramAccumulator::accumulate(phi.view(), &q2).unwrap();
    let c = combine(&[(0.3, &a), (2.0, &b)], Scaling::None).unwrap();
    // Linear in every part, so Q of the combination is the combination of Qs, even off the simplex.
    for w in [vec![0.2, 0.3, 0.5], vec![1.0, -2.0, 0.5]] {
        let lhs = c.q(&w).unwrap();
        let rhs = 0.3 * a.q(&w).unwrap() + 2.0 * b.q(&w).unwrap();
        assert!(
            (lhs - rhs).abs() < 1e-12 * rhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}

#[test]
fn apply_weights_global_and_per_sample() {
    let mut rng = r(22);
    let (k, n, h, w) = (3, 2, 4, 5);
    let stacked = Array::from_shape_fn((k, n, h, w), |_| {
        rand::RngExt::random_range(&mut rng, -1.0f32..1.0)
    });
    let e = Ensemble::from_stacked(stacked.clone().into_dyn(), None).unwrap();
    let wa = Weights::new(vec![0.2, 0.3, 0.5]).unwrap();
    let wb = Weights::new(vec![1.0, 0.0, 0.0]).unwrap();
    let out = apply_weights(&e, SampleWeights::PerSample(&[wa.clone(), wb.clone()])).unwrap();
    assert_eq!(out.shape(), &[n, h, w]);
    let v = out.view();
    for i in 0..h {
        for j in 0..w {
            let expect0: f64 = (0..k)
                .map(|m| wa.as_slice()[m] * f64::from(stacked[[m, 0, i, j]]))
                .sum();
            assert!((f64::from(v[[0, i, j]]) - expect0).abs() < 1e-6);
            assert_eq!(v[[1, i, j]], stacked[[0, 1, i, j]]);
        }
    }
    let g = apply_weights(&e, SampleWeights::Global(&wb)).unwrap();
    assert_eq!(
        g.view().index_axis(ndarray::Axis(0), 0),
        stacked
            .index_axis(ndarray::Axis(0), 0)
            .index_axis(ndarray::Axis(0), 0)
            .into_dyn()
    );
    // Wrong N or wrong k.
    assert!(apply_weights(&e, SampleWeights::PerSample(std::slice::from_ref(&wa))).is_err());
    assert!(apply_weights(&e, SampleWeights::Global(&Weights::uniform(2).unwrap())).is_err());
}

#[test]
fn bound_matches_the_formula_and_shrinks_with_m() {
    let b = BoundInputs {
        c1: 3.0,
        c2: 2.0,
        g: 4,
        k: 6,
        m: 50,
        delta: 0.05,
    };
    let v = b.bound().unwrap();
    let c = (4.0 * 3.0 * (2.0 * 4.0 * 2.0f64).sqrt()).max(10.0);
    assert_eq!(v.constant, c);
    assert!((v.bound - c * (4.0 * (96.0f64 / 0.05).ln() / 50.0).sqrt()).abs() < 1e-12);
    assert!(v.unmerged <= v.bound + 1e-12);
    let v4 = BoundInputs { m: 200, ..b }.bound().unwrap();
    assert!((v.bound / v4.bound - 2.0).abs() < 1e-12);
    for bad in [
        BoundInputs { delta: 0.0, ..b },
        BoundInputs { m: 0, ..b },
        BoundInputs { c1: -1.0, ..b },
        BoundInputs { c2: f64::NAN, ..b },
    ] {
        assert!(matches!(
            bad.bound(),
            Err(SalienceError::InvalidParameter { .. }) | Err(SalienceError::NonFinite { .. })
        ));
    }
    // From an accumulated Gram: maps with |φ| > 1 violate the theorem's assumption.
    let phi = ndarray::arr2(&[[2.0f32, 0.0]]);
    let g = GramAccumulator::accumulate(
        phi.view(),
        &[Query::MaskRow {
            mask: Mask::Indices(&[0]),
            target: 0.0,
        }],
    )
    .unwrap();
    assert!(BoundInputs::from_gram(&g, 0.1).is_err());
    assert!(BoundInputs::from_gram(&Gram::from_matrix(Array2::eye(2)).unwrap(), 0.1).is_err());
}

#[test]
fn bad_input_gives_typed_errors() {
    let s = QpSettings::default();
    let nan = ndarray::arr2(&[[1.0, f64::NAN], [0.0, 1.0]]);
    assert!(matches!(
        solve_qp(nan.view(), &s),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(matches!(
        Gram::from_matrix(nan),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(matches!(
        solve_qp(Array2::<f64>::zeros((2, 3)).view(), &s),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        solve_qp(Array2::<f64>::zeros((0, 0)).view(), &s),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        solve_qp(ndarray::arr2(&[[1.0, 0.0], [0.0, -1.0]]).view(), &s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // Φ with NaN, wrong k, d mismatch, m = 0.
    let mut acc = GramAccumulator::new(2).unwrap();
    let bad_phi = ndarray::arr2(&[[1.0f32, f32::NAN], [0.0, 0.0]]);
    let q = Query::MaskRow {
        mask: Mask::Indices(&[0]),
        target: 1.0,
    };
    assert!(matches!(
        acc.add(bad_phi.view(), &q),
        Err(SalienceError::NonFinite { .. })
    ));
    assert!(matches!(
        acc.add(ndarray::arr2(&[[1.0f32, 0.0]]).view(), &q),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    let phi = ndarray::arr2(&[[1.0f32, 0.0], [0.0, 1.0]]);
    assert!(acc
        .add(
            phi.view(),
            &Query::MaskRow {
                mask: Mask::Bool(&[true]),
                target: 1.0
            }
        )
        .is_err());
    assert!(acc
        .add(
            phi.view(),
            &Query::MaskRow {
                mask: Mask::Indices(&[2]),
                target: 1.0
            }
        )
        .is_err());
    assert!(acc
        .add(
            phi.view(),
            &Query::MaskRow {
                mask: Mask::Indices(&[1, 1]),
                target: 1.0
            }
        )
        .is_err());
    assert!(acc
        .add(
            phi.view(),
            &Query::MaskRow {
                mask: Mask::Indices(&[1]),
                target: f64::INFINITY
            }
        )
        .is_err());
    assert!(acc
        .add(
            phi.view(),
            &Query::Sparse {
                rows: &[],
                target: &[]
            }
        )
        .is_err());
    assert!(acc.is_empty(), "failed adds must not count");
    assert!(matches!(acc.finish(), Err(SalienceError::Empty(_))));
    assert!(matches!(
        GramAccumulator::accumulate(phi.view(), &[]),
        Err(SalienceError::Empty(_))
    ));
    assert!(matches!(
        GramAccumulator::accumulate_pairs(&[]),
        Err(SalienceError::Empty(_))
    ));
    // Negative or NaN λ, mismatched k in a combination.
    let g2 = Gram::from_matrix(Array2::eye(2)).unwrap();
    let g3 = Gram::from_matrix(Array2::eye(3)).unwrap();
    assert!(matches!(
        combine(&[(-0.5, &g2)], Scaling::None),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(matches!(
        combine(&[(f64::NAN, &g2)], Scaling::Frobenius),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(matches!(
        combine(&[(1.0, &g2), (1.0, &g3)], Scaling::None),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        combine(&[], Scaling::None),
        Err(SalienceError::Empty(_))
    ));
    let bad_opt = Strategy::Opt(OptConfig {
        lambda_faith: -1.0,
        ..OptConfig::paper()
    });
    assert!(bad_opt
        .weights(
            2,
            &MetricGrams {
                robust: Some(&g2),
                faith: Some(&g2)
            },
            &s
        )
        .is_err());
    assert!(Strategy::Faith
        .weights(
            3,
            &MetricGrams {
                robust: None,
                faith: Some(&g2)
            },
            &s
        )
        .is_err());
    assert!(solve_qp(g2.matrix(), &QpSettings { ridge: -1.0, ..s }).is_err());
}

fn weird() -> impl proptest::strategy::Strategy<Value = f64> {
    prop_oneof![
        4 => -10.0..10.0f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-1e300),
        1 => Just(0.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(128)))]
    /// Random shapes and values (NaN, ±Inf, huge, indefinite): every entry
    /// point returns Ok or a typed Err, never panics; NaN always errors.
    #[test]
    fn never_panics(r in 0usize..5, c in 0usize..5, vals in prop::collection::vec(weird(), 25),
                    d in 0usize..5, idx in prop::collection::vec(0usize..7, 0..4), lam in weird()) {
        let g = Array2::from_shape_fn((r, c), |(i, j)| vals[(i * 5 + j) % 25]);
        let has_nan = g.iter().any(|v| !v.is_finite());
        let res = solve_qp(g.view(), &QpSettings::default());
        if has_nan { prop_assert!(res.is_err()); }
        if let Ok(sol) = &res {
            let w = sol.weights.as_slice();
            prop_assert!(w.iter().all(|&v| v >= 0.0) && (w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        if let Ok(gram) = Gram::from_matrix(g.clone()) {
            let _ = combine(&[(lam, &gram), (1.0, &gram)], Scaling::Frobenius);
            let _ = salience_optimize::Decomposition::new(&gram, &vec![0.5; c]);
        }
        let k = r.max(1);
        let phi = Array2::from_shape_fn((r, d), |(i, j)| vals[(i * 3 + j) % 25] as f32);
        let mut acc = GramAccumulator::new(k).unwrap();
        let res = acc.add(phi.view(), &Query::MaskRow { mask: Mask::Indices(&idx), target: lam });
        if phi.iter().any(|v| !v.is_finite()) || !lam.is_finite() { prop_assert!(res.is_err()); }
        let tgt: Vec<f32> = (0..c).map(|j| vals[j] as f32).collect();
        let _ = acc.add(phi.view(), &Query::Identity { target: &tgt });
        let g1 = Array2::from_shape_fn((c, d), |(i, j)| vals[(i + j) % 25]);
        let g2 = Array1::from_shape_fn(c, |i| vals[24 - i]);
        let _ = acc.add(phi.view(), &Query::Dense { gamma1: g1.view(), target: g2.view() });
        let _ = acc.add(phi.view(), &Query::Sensitivity { perturbed: g1.mapv(|v| v as f32).view() });
        if let Ok(gram) = acc.finish() {
            prop_assert!(gram.matrix().iter().all(|v| v.is_finite()));
            let _ = salience_optimize::optimal_weights(&gram);
        }
    }
}

/// Issue 19: NaN/Inf returned as success, and a metric silently dropped.
#[test]
fn overflow_is_an_error_or_handled_never_ok_non_finite() {
    use salience_optimize::{GaussianBlur, UniformNoise};
    let is_overflow = |e: SalienceError| matches!(&e, SalienceError::NonFinite { context, .. } if context.contains("overflow"));
    // Gram::q and objective with huge weights.
    let g = Gram::from_parts(Array2::eye(2), Array1::from_vec(vec![-1.0, 0.5]), 1.0).unwrap();
    assert!(is_overflow(g.q(&[1e200, 1e200]).unwrap_err()));
    assert!(is_overflow(g.objective(&[1e200, 0.0]).unwrap_err()));
    assert_eq!(g.q(&[1.0, 0.0]).unwrap(), 1.0); // s = 1: Q = wᵀGw
                                                // frobenius on 1e200 Grams: 2e200 (was ∞), and overflow beyond f64.
    let big = Gram::from_matrix(Array2::eye(4) * 1e200).unwrap();
    assert_eq!(frobenius(&big).unwrap(), 2e200);
    let huge = Gram::from_matrix(Array2::from_elem((2, 2), 1.5e308)).unwrap();
    assert!(is_overflow(frobenius(&huge).unwrap_err()));
    // combine(.., Frobenius) keeps the 1e308 term (was dropped): the result
    // is ½·ones + ½·I/1 for the two unit-norm terms.
    let eye = Gram::from_matrix(Array2::eye(2)).unwrap();
    let c = combine(&[(1.0, &huge), (1.0, &eye)], Scaling::Frobenius).unwrap();
    let want = Array2::<f64>::from_elem((2, 2), 0.5) + Array2::<f64>::eye(2) / 2f64.sqrt();
    for (a, b) in c.matrix().iter().zip(want.iter()) {
        assert!((a - b).abs() < 1e-15, "{c:?}");
    }
    // Gram::mean of two 1e308 Grams is 1e308 (was "NaN in the Gram").
    let m = Gram::from_matrix(Array2::eye(2) * 1e308).unwrap();
    let mean = Gram::mean(&[m.clone(), m.clone()]).unwrap();
    assert_eq!(mean.matrix()[[0, 0]], 1e308);
    // A combination that does overflow says so.
    assert!(is_overflow(
        combine(&[(1.0, &m), (1.0, &m)], Scaling::None).unwrap_err()
    ));
    // The Theorem 4.3 bound with a subnormal δ is finite: ln(16k/δ) =
    // ln(16k) − ln δ.
    let b = BoundInputs {
        c1: 1.0,
        c2: 1.0,
        g: 1,
        k: 2,
        m: 400,
        delta: 1e-320,
    }
    .bound()
    .unwrap();
    // C = max{4·1·√(2·1·1), 5·1} = 4√2.
    let want = 4.0 * 2f64.sqrt() * (4.0 * ((32.0f64).ln() - 1e-320f64.ln()) / 400.0).sqrt();
    assert!((b.bound - want).abs() < 1e-12 * want, "{b:?}");
    assert!(b.bound.is_finite() && b.unmerged.is_finite());
    let b = BoundInputs {
        c1: 1e300,
        c2: 1e300,
        g: 1,
        k: 2,
        m: 1,
        delta: 0.1,
    }
    .bound();
    assert!(is_overflow(b.unwrap_err()));
    // Perturbations reject NaN input instead of returning NaN.
    let mut out = [0.0f32; 3];
    let noise = UniformNoise::default();
    assert!(matches!(
        noise.apply(&[1.0, f32::NAN, 0.0], &mut out, 1),
        Err(SalienceError::NonFinite { index: 1, .. })
    ));
    let wide = UniformNoise { radius: f32::MAX };
    assert!(is_overflow(
        wide.apply(&[f32::MAX; 3], &mut out, 1).unwrap_err()
    ));
    let mut x = Array::<f32, _>::zeros((1, 1, 4, 4)).into_dyn();
    x[[0, 0, 2, 2]] = f32::NAN;
    assert!(matches!(
        GaussianBlur::default().apply(x.view()),
        Err(SalienceError::NonFinite { .. })
    ));
    let x = Array::<f32, _>::from_elem((1, 1, 4, 4), f32::MAX).into_dyn();
    let y = GaussianBlur::default().apply(x.view()).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}

/// Any f64: [`weird`]'s values plus −∞, 1e300 and a subnormal.
fn any_f64() -> impl proptest::strategy::Strategy<Value = f64> {
    prop_oneof![7 => weird(), 1 => Just(f64::NEG_INFINITY), 1 => Just(1e300), 1 => Just(1e-320)]
}

/// Mostly `usual` (so that most cases get past validation), else any f64.
fn usual_or_any(usual: f64) -> impl proptest::strategy::Strategy<Value = f64> {
    prop_oneof![2 => Just(usual), 1 => any_f64()]
}

/// A scale spanning 10^±300 (ill-conditioned, overflowing and underflowing
/// Grams).
fn any_scale() -> impl proptest::strategy::Strategy<Value = f64> {
    prop_oneof![3 => Just(1.0), 2 => proptest::strategy::Strategy::prop_map(-300i32..300, |e| 10f64.powi(e))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(96)))]
    /// The QP and the Gram entry points with arbitrary matrices (PSD with
    /// per-method scales 10^±300, or arbitrary entries) and arbitrary
    /// settings, weights, λ and bound inputs (huge counts included): a
    /// typed Err, or Ok with finite values (weights on the simplex).
    #[test]
    fn any_input_gives_err_or_finite(
        k in 1usize..6,
        rows in 1usize..8,
        entries in prop::collection::vec(any_f64(), 48),
        scales in prop::collection::vec(any_scale(), 6),
        psd_form in prop_oneof![3 => Just(true), 1 => Just(false)],
        (ridge, tol, lam) in (usual_or_any(1e-12), usual_or_any(1e-9), any_f64()),
        max_iter in prop_oneof![Just(0u32), Just(1), Just(200), Just(u32::MAX)],
        polish in any::<bool>(),
        w in prop::collection::vec(any_f64(), 6),
        (c1, c2, delta) in (any_f64(), any_f64(), any_f64()),
        (bg, bk, bm) in (any::<usize>(), any::<usize>(), any::<usize>()),
    ) {
        let g = if psd_form {
            // D·XᵀX·D with finite X: PSD (up to rounding), any condition.
            let x = Array2::from_shape_fn((rows, k), |(i, j)| {
                let v = entries[(i * k + j) % 48];
                if v.is_finite() { v } else { 1.0 }
            });
            let xtx = x.t().dot(&x);
            Array2::from_shape_fn((k, k), |(i, j)| scales[i] * xtx[[i, j]] * scales[j])
        } else {
            Array2::from_shape_fn((k, k), |(i, j)| entries[(i * k + j) % 48])
        };
        let settings = QpSettings { ridge: ridge.abs(), tolerance: 1e-10, max_iter, polish, psd_tolerance: tol.abs() };
        for s in [QpSettings::default(), settings] {
            if let Ok(sol) = solve_qp(g.view(), &s) {
                let ws = sol.weights.as_slice();
                prop_assert!(ws.iter().all(|&v| v.is_finite() && v >= 0.0));
                prop_assert!((ws.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                prop_assert!(sol.objective.is_finite());
            }
        }
        let w = &w[..k];
        if let Ok(gram) = Gram::from_parts(g.clone(), Array1::from_vec(entries[..k].to_vec()), entries[47]) {
            for v in [gram.q(w), gram.objective(w), frobenius(&gram)].into_iter().flatten() {
                prop_assert!(v.is_finite());
            }
            let mean = Gram::mean(&[gram.clone(), gram.clone()]);
            prop_assert!(mean.is_ok(), "the mean of finite Grams is finite");
            for s in [Scaling::None, Scaling::Frobenius] {
                if let Ok(c) = combine(&[(lam, &gram), (1.0, &gram)], s) {
                    prop_assert!(c.matrix().iter().all(|v| v.is_finite()));
                    prop_assert!(c.cross().iter().all(|v| v.is_finite()));
                }
            }
        }
        let b = BoundInputs { c1, c2, g: bg, k: bk, m: bm, delta }.bound();
        if let Ok(b) = b {
            prop_assert!(b.bound.is_finite() && b.unmerged.is_finite() && b.constant.is_finite());
        }
    }
}
