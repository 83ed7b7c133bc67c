//! Every aggregator on a small ensemble worked out by hand (reference values
//! from the paper's formulas evaluated independently in double precision).
//!
//! k = 3 maps of one sample with 4 pixels:
//!   map0 = [1, 2, 0, -1], map1 = [3, 2, 0, -2], map2 = [2, 2, 3, -6]
//! μ = [2, 2, 1, -3], σ = [√(2/3), 0, √2, √(14/3)] (pixel 1: σ = 0), E⁺ = 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array, ArrayD};
use salience_aggregate::*;
use salience_core::{DegenerateReason, Ensemble, SalienceError};

fn ensemble() -> Ensemble {
    let v = vec![
        1.0f32, 2.0, 0.0, -1.0, 3.0, 2.0, 0.0, -2.0, 2.0, 2.0, 3.0, -6.0,
    ];
    Ensemble::from_stacked(
        Array::from_shape_vec((3, 1, 4), v).unwrap().into_dyn(),
        None,
    )
    .unwrap()
}

fn values(a: &dyn Aggregator, e: &Ensemble) -> Vec<f32> {
    let out = a.aggregate(e).unwrap();
    assert_eq!(out.shape(), &[1, 4]);
    out.view().iter().copied().collect()
}

fn close(got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= tol * w.abs().max(1.0),
            "pixel {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn mean() {
    close(&values(&Mean, &ensemble()), &[2.0, 2.0, 1.0, -3.0], 1e-7);
}

#[test]
fn percentiles() {
    let e = ensemble();
    close(
        &values(&Percentile::default(), &e),
        &[1.5, 2.0, 0.0, -4.0],
        1e-7,
    );
    close(
        &values(&Percentile::median(), &e),
        &[2.0, 2.0, 0.0, -2.0],
        1e-7,
    );
    close(
        &values(&Percentile { q: 0.0 }, &e),
        &[1.0, 2.0, 0.0, -6.0],
        1e-7,
    );
    close(
        &values(&Percentile { q: 100.0 }, &e),
        &[3.0, 2.0, 3.0, -1.0],
        1e-7,
    );
    // h = 2 · 0.9 = 1.8: v1 + 0.8 (v2 − v1).
    close(
        &values(&Percentile { q: 90.0 }, &e),
        &[2.8, 2.0, 2.4, -1.2],
        1e-6,
    );
}

#[test]
fn ucb() {
    let want = [
        1.591_751_709_536_137,
        2.0,
        0.292_893_218_813_452_4,
        -4.080_123_449_734_644,
    ];
    close(&values(&Ucb::default(), &ensemble()), &want, 1e-6);
    close(
        &values(&Ucb { epsilon: 0.0 }, &ensemble()),
        &[2.0, 2.0, 1.0, -3.0],
        1e-7,
    );
}

#[test]
fn probability_of_improvement() {
    let e = ensemble();
    // ε = 0: pixel 0 has d = 0 (Φ(0)); pixel 1 has σ = 0 and d = 0 (limit ½).
    let want = [
        0.5,
        0.5,
        0.239_750_061_093_476_77,
        0.010_318_779_121_986_109,
    ];
    close(&values(&Pi { epsilon: 0.0 }, &e), &want, 1e-6);
    let want = [
        0.999_999_518_321_495_7,
        1.0,
        0.983_052_573_237_655_4,
        0.321_714_421_781_810_3,
    ];
    close(&values(&Pi::default(), &e), &want, 1e-6);
}

#[test]
fn expected_improvement() {
    let e = ensemble();
    let want = [
        1.043_530_641_845_532,
        1.0,
        0.564_189_583_547_756_4,
        0.027_051_031_357_929_856,
    ];
    close(&values(&Ei { epsilon: -1.0 }, &e), &want, 1e-6);
    let want = [6.0, 6.0, 5.000_071_762_071_563, 1.452_536_809_474_001_4];
    close(&values(&Ei::default(), &e), &want, 1e-6);
}

#[test]
fn contextual_improvement() {
    // ε = mean σ² / E⁺ = (2/3 + 0 + 2 + 14/3) / 4 / 2 = 11/12; pixel 1: d < 0, σ = 0 → 0.
    let want = [
        0.053_560_380_994_904_5,
        0.0,
        0.057_179_123_465_785_74,
        0.002_015_300_419_680_631_6,
    ];
    close(&values(&Ci, &ensemble()), &want, 1e-5);
}

#[test]
fn contextual_improvement_zero_best_is_typed_error() {
    let v = vec![0.0f32, -1.0, 0.0, -3.0];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((2, 1, 2), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    match Ci.aggregate(&e) {
        Err(SalienceError::DegenerateMap {
            reason: DegenerateReason::ZeroBestMean,
            ..
        }) => {}
        other => panic!("expected ZeroBestMean, got {other:?}"),
    }
}

#[test]
fn averaged_improvements_grid() {
    let e = ensemble();
    let want = [
        0.749_988_023_613_731_6,
        0.75,
        0.649_744_661_125_225_4,
        0.262_815_109_296_787_7,
    ];
    close(&values(&Api::default(), &e), &want, 1e-6);
    let want = [
        3.533_814_913_371_520_6,
        3.5,
        2.953_888_892_755_341,
        1.153_825_217_981_478,
    ];
    close(&values(&Aei::default(), &e), &want, 1e-6);
}

#[test]
fn averaged_improvements_exact() {
    let e = ensemble();
    // Reference: midpoint rule with 200 000 rates; pixel 1 (σ = 0) exactly
    // 7/9 for API and 10²/(2·15) for AEI.
    let want = [
        0.777_565_387_480_880_9,
        7.0 / 9.0,
        0.665_708_943_412_54,
        0.245_170_603_427_318_97,
    ];
    let api = Api {
        rates: Rates::Exact,
        ..Api::default()
    };
    close(&values(&api, &e), &want, 1e-6);
    let want = [
        3.355_555_555_539_689_6,
        100.0 / 30.0,
        2.766_666_601_307_911_8,
        0.988_546_932_032_567_6,
    ];
    let aei = Aei {
        rates: Rates::Exact,
        ..Aei::default()
    };
    close(&values(&aei, &e), &want, 1e-6);
}

#[test]
fn averaged_with_equal_ends_is_the_point_function() {
    let e = ensemble();
    for rates in [Rates::Grid(1), Rates::Grid(5), Rates::Exact] {
        let api = Api {
            a: -4.0,
            b: -4.0,
            rates,
        };
        assert_eq!(
            api.aggregate(&e).unwrap(),
            Pi::default().aggregate(&e).unwrap()
        );
        let aei = Aei {
            a: -6.0,
            b: -6.0,
            rates,
        };
        assert_eq!(
            aei.aggregate(&e).unwrap(),
            Ei::default().aggregate(&e).unwrap()
        );
    }
}

#[test]
fn variance_aggregation() {
    let e = ensemble();
    let v = Var {
        epsilon: 1.0,
        delta: 1.0,
        spread: Spread::Std { ddof: 0 },
    };
    let want = [
        1.101_020_514_433_643_8,
        2.0,
        0.414_213_562_373_095_1,
        -0.949_292_917_747_598_2,
    ];
    close(&values(&v, &e), &want, 1e-6);
    let want = [
        1.631_321_370_309_951_2,
        8.849_557_522_123_893,
        0.309_981_401_115_933,
        -0.415_167_450_871_851_64,
    ];
    close(&values(&Var::rieger2020(), &e), &want, 1e-6);
    // The paper's default is the mean to within ε σ = 1e-7 relative.
    close(&values(&Var::default(), &e), &[2.0, 2.0, 1.0, -3.0], 1e-6);
}

#[test]
fn single_map_ensemble() {
    // k = 1: σ = 0 everywhere; every aggregator returns its σ = 0 limit.
    let v = vec![0.5f32, -1.0, 2.0];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((1, 1, 3), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    close(&values3(&Mean, &e), &[0.5, -1.0, 2.0], 0.0);
    close(
        &values3(&Percentile { q: 37.0 }, &e),
        &[0.5, -1.0, 2.0],
        0.0,
    );
    close(&values3(&Ucb::default(), &e), &[0.5, -1.0, 2.0], 0.0);
    // E⁺ = 2; PI at ε = 0: d = (−1.5, −3, 0) → (0, 0, ½).
    close(&values3(&Pi { epsilon: 0.0 }, &e), &[0.0, 0.0, 0.5], 0.0);
    // EI at ε = −2: d = (0.5, −1, 2) → max(d, 0).
    close(&values3(&Ei { epsilon: -2.0 }, &e), &[0.5, 0.0, 2.0], 1e-7);
    // CI: ε = 0 → EI at ε = 0: max(d, 0) = 0 everywhere.
    close(&values3(&Ci, &e), &[0.0, 0.0, 0.0], 0.0);
    close(
        &values3(&Var::rieger2020(), &e),
        &[0.5 / 0.226, -1.0 / 0.226, 2.0 / 0.226],
        1e-6,
    );
    let rbm = values3(&Rbm::default(), &e);
    assert!(rbm.iter().all(|v| (0.0..=1.0).contains(v)));
}

fn values3(a: &dyn Aggregator, e: &Ensemble) -> Vec<f32> {
    a.aggregate(e).unwrap().view().iter().copied().collect()
}

#[test]
fn image_layout_is_kept_and_samples_are_independent() {
    // [k=2, N=2, C=2, H=3, W=3]: sample 1 is sample 0 plus 10 in every map.
    let a = Array::from_shape_fn((2, 2, 2, 3, 3), |(k, n, c, i, j)| {
        (k * 5 + c * 3 + i * j) as f32 + 10.0 * n as f32
    });
    let e = Ensemble::from_stacked(a.into_dyn(), None).unwrap();
    for agg in Aggregation::mahlau2022() {
        let out = agg.aggregate(&e).unwrap();
        assert_eq!(out.shape(), &[2, 2, 3, 3], "{}", agg.name());
        assert!(out.view().iter().all(|v| v.is_finite()));
    }
    // Shift-equivariant aggregators: sample 1 = sample 0 + 10.
    for agg in [
        Aggregation::Mean(Mean),
        Aggregation::Ucb(Ucb::default()),
        Aggregation::Percentile(Percentile::default()),
    ] {
        let out: ArrayD<f32> = agg.aggregate(&e).unwrap().into_inner();
        let d = &out.index_axis(ndarray::Axis(0), 1) - &out.index_axis(ndarray::Axis(0), 0);
        assert!(d.iter().all(|v| (v - 10.0).abs() < 1e-5), "{}", agg.name());
    }
    // Shift-invariant ones (E⁺ moves with the maps): samples equal.
    for agg in [
        Aggregation::Pi(Pi::default()),
        Aggregation::Ei(Ei::default()),
        Aggregation::Aei(Aei::default()),
    ] {
        let out: ArrayD<f32> = agg.aggregate(&e).unwrap().into_inner();
        let d = &out.index_axis(ndarray::Axis(0), 1) - &out.index_axis(ndarray::Axis(0), 0);
        assert!(d.iter().all(|v| v.abs() < 1e-4), "{}", agg.name());
    }
}

#[test]
fn negative_maps() {
    // All values negative: percentiles and UCB follow the signed values.
    let v = vec![-1.0f32, -4.0, -3.0, -2.0];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((2, 1, 2), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    close(&values3(&Mean, &e), &[-2.0, -3.0], 1e-7);
    close(&values3(&Percentile { q: 100.0 }, &e), &[-1.0, -2.0], 0.0);
    close(&values3(&Ucb { epsilon: -1.0 }, &e), &[-3.0, -4.0], 1e-6);
    // E⁺ = −2 < 0: CI's ε is negative but defined.
    assert!(Ci.aggregate(&e).is_ok());
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let e = ensemble();
    let bad: Vec<Box<dyn Aggregator>> = vec![
        Box::new(Percentile { q: -1.0 }),
        Box::new(Percentile { q: 100.5 }),
        Box::new(Percentile { q: f64::NAN }),
        Box::new(Ucb {
            epsilon: f64::INFINITY,
        }),
        Box::new(Pi { epsilon: f64::NAN }),
        Box::new(Ei {
            epsilon: f64::NEG_INFINITY,
        }),
        Box::new(Api {
            a: 2.0,
            b: -7.0,
            rates: Rates::Grid(10),
        }),
        Box::new(Aei {
            a: 0.0,
            b: 1.0,
            rates: Rates::Grid(1),
        }),
        Box::new(Aei {
            a: 0.0,
            b: 1.0,
            rates: Rates::Grid(0),
        }),
        Box::new(Var {
            delta: 0.0,
            ..Var::default()
        }),
        Box::new(Var {
            epsilon: -1.0,
            ..Var::default()
        }),
        Box::new(Var {
            spread: Spread::Std { ddof: 2 },
            ..Var::default()
        }),
        Box::new(Rbm {
            learning_rate: 0.0,
            ..Rbm::default()
        }),
        Box::new(Rbm {
            n_iter: 0,
            ..Rbm::default()
        }),
        Box::new(Rbm {
            batch_size: 0,
            ..Rbm::default()
        }),
    ];
    for a in bad {
        match a.aggregate(&e) {
            Err(SalienceError::InvalidParameter { .. }) | Err(SalienceError::NonFinite { .. }) => {}
            other => panic!(
                "{}: expected a typed parameter error, got {other:?}",
                a.name()
            ),
        }
    }
}

#[test]
fn overflow_is_a_typed_error_not_inf() {
    let v = vec![3e38f32, -3e38, 3e38, 3e38];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((2, 1, 2), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    // σ of pixel 0 overflows f32.
    assert!(matches!(
        Ucb { epsilon: 2.0 }.aggregate(&e),
        Err(SalienceError::NonFinite { .. })
    ));
    // Finite mean but σ² beyond f32: an error, never a silent σ = 0.
    let v = vec![0.0f32, 1.0, 1e20, 1.0];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((2, 1, 2), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    for agg in [
        Aggregation::Ucb(Ucb::default()),
        Aggregation::Ei(Ei::default()),
    ] {
        assert!(
            matches!(agg.aggregate(&e), Err(SalienceError::NonFinite { .. })),
            "{}",
            agg.name()
        );
    }
}

#[test]
fn rbm_is_seeded_and_orients_with_the_maps() {
    let a = Array::from_shape_fn((4, 2, 10, 10), |(k, n, i, j)| {
        let signal = (i * 10 + j) as f32 / 100.0;
        signal + 0.05 * ((k * 7 + n * 3 + i * 13 + j * 5) % 11) as f32
    });
    let e = Ensemble::from_stacked(a.into_dyn(), None).unwrap();
    let rbm = Rbm {
        learning_rate: 0.05,
        n_iter: 30,
        ..Rbm::default()
    };
    let x = rbm.aggregate(&e).unwrap();
    assert_eq!(x, rbm.aggregate(&e).unwrap());
    let other = Rbm { seed: 1, ..rbm }.aggregate(&e).unwrap();
    assert_ne!(x, other);
    let cd1 = Rbm {
        chain: Chain::Cd1,
        ..rbm
    }
    .aggregate(&e)
    .unwrap();
    // Clearly positive correlation with the mean for both chains.
    let mean = Mean.aggregate(&e).unwrap();
    for out in [&x, &cd1] {
        let (m, o) = (mean.view(), out.view());
        let mv: Vec<f32> = m.iter().copied().collect();
        let ov: Vec<f32> = o.iter().copied().collect();
        assert!(pearson(&mv, &ov) > 0.3, "corr {}", pearson(&mv, &ov));
    }
    // Negated maps: the hidden unit is re-oriented, still agreeing with the mean.
    let neg = Ensemble::from_stacked(e.stacked().mapv(|v| -v), None).unwrap();
    let out = rbm.aggregate(&neg).unwrap();
    let mv: Vec<f32> = Mean
        .aggregate(&neg)
        .unwrap()
        .view()
        .iter()
        .copied()
        .collect();
    let ov: Vec<f32> = out.view().iter().copied().collect();
    assert!(pearson(&mv, &ov) > 0.3, "corr {}", pearson(&mv, &ov));
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let cov: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum();
    let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn percentile_paths_agree_with_sorting_including_ties() {
    // k = 5 (rank-count path) and k = 30 (sort path), values with many ties.
    for k in [5usize, 30] {
        let a = Array::from_shape_fn((k, 2, 17), |(m, n, p)| {
            ((m * 7 + n * 3 + p * 5) % 6) as f32 - 2.0
        });
        let e = Ensemble::from_stacked(a.clone().into_dyn(), None).unwrap();
        for q in [0.0, 10.0, 25.0, 50.0, 77.7, 100.0] {
            let got = Percentile { q }.aggregate(&e).unwrap();
            for n in 0..2 {
                for p in 0..17 {
                    let mut v: Vec<f64> = (0..k).map(|m| a[[m, n, p]] as f64).collect();
                    v.sort_by(f64::total_cmp);
                    let h = (k - 1) as f64 * q / 100.0;
                    let (l, u) = (h.floor() as usize, h.ceil() as usize);
                    let want = v[l] + (h - l as f64) * (v[u] - v[l]);
                    let g = got.view()[[n, p]] as f64;
                    assert!((g - want).abs() < 1e-6, "k={k} q={q}: {g} vs {want}");
                }
            }
        }
    }
}

/// Issue 19: counts from a spec or a config that used to hang or abort
/// (`api:n=2⁶⁴−1`, `aei:n=10¹¹`, `rbm:iters=2⁶⁴−1`, `rbm:batch=10¹²`,
/// `batch_size: usize::MAX`) are typed errors naming the parameter and
/// its limit, checked before anything is allocated or looped.
#[test]
fn huge_counts_are_typed_errors_naming_the_limit() {
    let limit_error = |r: Result<Aggregation, SalienceError>, name: &str, max: usize| match r {
        Err(SalienceError::InvalidParameter {
            name: n, reason, ..
        }) => {
            assert_eq!(n, name);
            assert!(reason.contains(&max.to_string()), "{reason}");
        }
        other => panic!("expected a limit error for {name}, got {other:?}"),
    };
    limit_error("api:n=18446744073709551615".parse(), "n", MAX_RATES);
    limit_error("aei:n=100000000000".parse(), "n", MAX_RATES);
    limit_error(
        "rbm:iters=18446744073709551615".parse(),
        "rbm n_iter",
        MAX_RBM_ITERS,
    );
    limit_error(
        "rbm:batch=1000000000000".parse(),
        "rbm batch_size",
        MAX_RBM_BATCH_SIZE,
    );
    let e = ensemble();
    let by_struct = [
        Aggregation::Api(Api {
            rates: Rates::Grid(usize::MAX),
            ..Api::default()
        }),
        Aggregation::Aei(Aei {
            rates: Rates::Grid(MAX_RATES + 1),
            ..Aei::default()
        }),
        Aggregation::Rbm(Rbm {
            batch_size: usize::MAX,
            ..Rbm::default()
        }),
        Aggregation::Rbm(Rbm {
            n_iter: usize::MAX,
            ..Rbm::default()
        }),
    ];
    for agg in by_struct {
        assert!(
            matches!(
                agg.aggregate(&e),
                Err(SalienceError::InvalidParameter { .. })
            ),
            "{}",
            agg.name()
        );
    }
    // At the limit: a batch larger than the pixel count acts as that count
    // (no allocation of the batch size).
    let p = e.stacked().len() / e.k() / e.stacked().shape()[1];
    let rbm = |batch_size| Rbm {
        batch_size,
        n_iter: 5,
        learning_rate: 0.1,
        ..Rbm::default()
    };
    assert_eq!(
        rbm(MAX_RBM_BATCH_SIZE).aggregate(&e).unwrap(),
        rbm(p).aggregate(&e).unwrap()
    );
}

/// Issue 19: the mean of maps all equal to 3e38 is 3e38 (the f32 sum
/// overflowed and the mean failed with "overflow").
#[test]
fn mean_of_huge_maps_is_representable() {
    let e = Ensemble::from_stacked(Array::from_elem((3, 2, 4), 3e38f32).into_dyn(), None).unwrap();
    let m = Mean.aggregate(&e).unwrap();
    assert!(m.view().iter().all(|&v| v == 3e38), "{m:?}");
    let v = vec![f32::MAX, f32::MAX, -f32::MAX, f32::MAX];
    let e = Ensemble::from_stacked(
        Array::from_shape_vec((4, 1, 1), v).unwrap().into_dyn(),
        None,
    )
    .unwrap();
    let m = Mean.aggregate(&e).unwrap();
    assert_eq!(m.view()[[0, 0]], (f64::from(f32::MAX) / 2.0) as f32);
}
