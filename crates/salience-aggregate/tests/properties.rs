//! Property tests: invariants of the aggregators on random ensembles, and
//! errors (never panics) on random malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array, ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use salience_aggregate::*;
use salience_core::Ensemble;

/// A random ensemble: k in 1..6 maps, N in 1..3 samples, P in 1..40 values.
fn ensemble() -> impl Strategy<Value = Ensemble> {
    (1usize..6, 1usize..3, 1usize..40).prop_flat_map(|(k, n, p)| {
        proptest::collection::vec(-10.0f32..10.0, k * n * p).prop_map(move |v| {
            let a = Array::from_shape_vec(IxDyn(&[k, n, p]), v).unwrap();
            Ensemble::from_stacked(a, None).unwrap()
        })
    })
}

fn all() -> Vec<Aggregation> {
    let mut v = Aggregation::mahlau2022();
    v.push(Aggregation::Api(Api {
        rates: Rates::Exact,
        ..Api::default()
    }));
    v.push(Aggregation::Aei(Aei {
        rates: Rates::Exact,
        ..Aei::default()
    }));
    v.push(Aggregation::Var(Var::rieger2020()));
    v.push(Aggregation::Rbm(Rbm {
        n_iter: 3,
        learning_rate: 0.1,
        ..Rbm::default()
    }));
    v.push(Aggregation::Rbm(Rbm {
        n_iter: 3,
        chain: Chain::Cd1,
        ..Rbm::default()
    }));
    v
}

fn values(a: &dyn Aggregator, e: &Ensemble) -> Option<Vec<f32>> {
    a.aggregate(e)
        .ok()
        .map(|b| b.view().iter().copied().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(64)))]

    #[test]
    fn invariant_to_map_order(e in ensemble(), rot in 0usize..6) {
        let k = e.k();
        let order: Vec<usize> = (0..k).map(|i| (i + rot) % k).rev().collect();
        let permuted = e.select(&order).unwrap();
        for agg in all() {
            let (a, b) = (values(&agg, &e), values(&agg, &permuted));
            prop_assert_eq!(a.is_some(), b.is_some(), "{}", agg.name());
            if let (Some(a), Some(b)) = (a, b) {
                for (x, y) in a.iter().zip(&b) {
                    // Only the summation order differs: a few ulps.
                    let tol = 1e-5 * x.abs().max(1.0);
                    prop_assert!((x - y).abs() <= tol, "{}: {} vs {}", agg.name(), x, y);
                }
            }
        }
    }

    #[test]
    fn mean_between_min_and_max(e in ensemble()) {
        let m = Mean.aggregate(&e).unwrap();
        let s = e.stacked();
        let lo = s.fold_axis(Axis(0), f32::INFINITY, |a, &b| a.min(b));
        let hi = s.fold_axis(Axis(0), f32::NEG_INFINITY, |a, &b| a.max(b));
        for ((&v, &l), &h) in m.view().iter().zip(lo.iter()).zip(hi.iter()) {
            let ulp = 4.0 * f32::EPSILON * l.abs().max(h.abs());
            prop_assert!(l - ulp <= v && v <= h + ulp, "{} not in [{}, {}]", v, l, h);
        }
    }

    #[test]
    fn percentile_ends_are_min_and_max(e in ensemble()) {
        let s = e.stacked();
        let lo: ArrayD<f32> = s.fold_axis(Axis(0), f32::INFINITY, |a, &b| a.min(b));
        let hi: ArrayD<f32> = s.fold_axis(Axis(0), f32::NEG_INFINITY, |a, &b| a.max(b));
        prop_assert_eq!(Percentile { q: 0.0 }.aggregate(&e).unwrap().into_inner(), lo);
        prop_assert_eq!(Percentile { q: 100.0 }.aggregate(&e).unwrap().into_inner(), hi);
    }

    #[test]
    fn percentile_is_monotone_in_q(e in ensemble(), q1 in 0.0f64..100.0, q2 in 0.0f64..100.0) {
        let (q1, q2) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        let a = Percentile { q: q1 }.aggregate(&e).unwrap();
        let b = Percentile { q: q2 }.aggregate(&e).unwrap();
        for (x, y) in a.view().iter().zip(b.view().iter()) {
            prop_assert!(x <= &(y + 1e-5 * y.abs().max(1.0)));
        }
    }

    #[test]
    fn ucb_with_zero_epsilon_is_the_mean(e in ensemble()) {
        let u = Ucb { epsilon: 0.0 }.aggregate(&e).unwrap();
        let m = Mean.aggregate(&e).unwrap();
        for (x, y) in u.view().iter().zip(m.view().iter()) {
            prop_assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0));
        }
    }

    /// §4.2.4: for ε → −∞, EI ranks pixels as the mean does.
    #[test]
    fn ei_tends_to_the_mean_ranking(e in ensemble()) {
        let mu = Ucb { epsilon: 0.0 }.aggregate(&e).unwrap();
        let ei = Ei { epsilon: -1e3 }.aggregate(&e).unwrap();
        for (m, v) in mu.view().outer_iter().zip(ei.view().outer_iter()) {
            let (m, v): (Vec<f32>, Vec<f32>) = (m.iter().copied().collect(), v.iter().copied().collect());
            for i in 0..m.len() {
                for j in 0..m.len() {
                    if m[i] < m[j] {
                        prop_assert!(v[i] <= v[j], "μ {} < {} but EI {} > {}", m[i], m[j], v[i], v[j]);
                    }
                }
            }
        }
    }

    #[test]
    fn acquisition_outputs_in_range(e in ensemble()) {
        for agg in [Aggregation::Pi(Pi::default()), Aggregation::Api(Api::default()), Aggregation::Rbm(Rbm { n_iter: 2, ..Rbm::default() })] {
            let out = agg.aggregate(&e).unwrap();
            prop_assert!(out.view().iter().all(|v| (0.0..=1.0).contains(v)), "{}", agg.name());
        }
        for agg in [Aggregation::Ei(Ei::default()), Aggregation::Aei(Aei::default())] {
            let out = agg.aggregate(&e).unwrap();
            prop_assert!(out.view().iter().all(|v| *v >= 0.0), "{}", agg.name());
        }
    }

    #[test]
    fn same_output_whatever_the_thread_count(e in ensemble()) {
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        for agg in all() {
            let a = values(&agg, &e);
            let b = one.install(|| values(&agg, &e));
            prop_assert_eq!(a, b, "{}", agg.name());
        }
    }

    /// Random shapes (zero-size axes included) and values (NaN and Inf
    /// included): construction or aggregation returns Err, never panics,
    /// and an Ok output is finite.
    #[test]
    fn random_input_never_panics(
        shape in proptest::collection::vec(0usize..4, 0..6),
        raw in proptest::collection::vec(prop_oneof![
            8 => -1e6f32..1e6,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(0.0f32),
        ], 0..200),
        q in -50.0f64..150.0,
        eps in -20.0f64..20.0,
    ) {
        let len: usize = shape.iter().product();
        let data: Vec<f32> = (0..len).map(|i| raw.get(i % raw.len().max(1)).copied().unwrap_or(0.0)).collect();
        let Ok(a) = ArrayD::from_shape_vec(IxDyn(&shape), data) else { return Ok(()); };
        let Ok(e) = Ensemble::from_stacked(a, None) else { return Ok(()); };
        let mut aggs = all();
        aggs.push(Aggregation::Percentile(Percentile { q }));
        aggs.push(Aggregation::Ucb(Ucb { epsilon: eps }));
        aggs.push(Aggregation::Api(Api { a: eps, b: -eps, rates: Rates::Grid(3) }));
        for agg in aggs {
            if let Ok(out) = agg.aggregate(&e) {
                prop_assert!(out.view().iter().all(|v| v.is_finite()), "{}", agg.name());
            }
        }
    }
}

/// Any f64 parameter: ordinary, huge, tiny, subnormal, zero, NaN, ±∞.
fn any_param() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -20.0f64..20.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(1e-320),
        1 => Just(0.0),
    ]
}

/// Any count: small, at and just past the documented limits, huge.
fn any_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..12,
        1 => Just(MAX_RATES + 1),
        1 => Just(MAX_RBM_ITERS + 1),
        1 => Just(MAX_RBM_BATCH_SIZE),
        1 => Just(MAX_RBM_BATCH_SIZE + 1),
        1 => Just(100_000_000_000usize),
        1 => Just(usize::MAX),
    ]
}

/// Any f32 map value: ordinary, near f32's range, subnormal, NaN, ±∞.
fn any_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -10.0f32..10.0,
        1 => Just(3e38f32),
        1 => Just(-f32::MAX),
        1 => Just(1e-40f32),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(48)))]

    /// Every aggregator with arbitrary parameters (huge counts, NaN, ±∞,
    /// 1e300, subnormals) on arbitrary values (near f32::MAX, NaN, ±∞):
    /// a typed Err or an Ok whose values are all finite; never a panic,
    /// abort or hang. Counts within the limits are kept small enough to
    /// run (an RBM with 10⁵ epochs is valid but not run here).
    #[test]
    fn any_parameters_give_err_or_finite(
        (k, n, p) in (1usize..4, 1usize..3, 1usize..12),
        raw in proptest::collection::vec(any_value(), 1..64),
        (x, y) in (any_param(), any_param()),
        count in any_count(),
        small in 1usize..6,
        exact in any::<bool>(),
    ) {
        let data: Vec<f32> = (0..k * n * p).map(|i| raw[i % raw.len()]).collect();
        let a = ArrayD::from_shape_vec(IxDyn(&[k, n, p]), data).unwrap();
        let Ok(e) = Ensemble::from_stacked(a, None) else { return Ok(()); };
        let rates = if exact { Rates::Exact } else { Rates::Grid(count) };
        let aggs = [
            Aggregation::Mean(Mean),
            Aggregation::Percentile(Percentile { q: x }),
            Aggregation::Ucb(Ucb { epsilon: x }),
            Aggregation::Pi(Pi { epsilon: x }),
            Aggregation::Ei(Ei { epsilon: x }),
            Aggregation::Ci(Ci),
            Aggregation::Api(Api { a: x, b: y, rates }),
            Aggregation::Aei(Aei { a: x.min(y), b: x.max(y), rates }),
            Aggregation::Var(Var { epsilon: x, delta: y, ..Var::default() }),
            Aggregation::Var(Var { spread: Spread::Variance { ddof: count }, ..Var::rieger2020() }),
            Aggregation::Rbm(Rbm { learning_rate: x, init_std: y, n_iter: small, ..Rbm::default() }),
            Aggregation::Rbm(Rbm { n_iter: small, batch_size: count, ..Rbm::default() }),
            Aggregation::Rbm(Rbm { n_iter: count.max(MAX_RBM_ITERS + 1), ..Rbm::default() }),
        ];
        for agg in aggs {
            if let Ok(out) = agg.aggregate(&e) {
                prop_assert!(out.view().iter().all(|v| v.is_finite()), "{}", agg.name());
            }
        }
        // The same through specs: parse errors are typed, and whatever
        // parses aggregates to Err or finite values.
        for spec in [
            format!("api:a={x},b={y},n={count}"),
            format!("aei:n={count}"),
            format!("rbm:iters={count},batch={count}"),
            format!("rbm:batch={count},iters={small}"),
            format!("ei:eps={x}"),
            format!("percentile:q={x}"),
            format!("var:eps={x},delta={y},ddof={count}"),
        ] {
            let Ok(agg) = spec.parse::<Aggregation>() else { continue; };
            if matches!(agg, Aggregation::Rbm(r) if r.n_iter > 64) { continue; }
            if let Ok(out) = agg.aggregate(&e) {
                prop_assert!(out.view().iter().all(|v| v.is_finite()), "{spec}");
            }
        }
    }
}
