//! Gram accumulation: structured queries vs the dense formula, order/chunk/
//! thread independence, Theorem 4.2, and the linear-model faithfulness check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use ndarray::{Array1, Array2, ArrayView2};
use proptest::prelude::*;
use rand::RngExt;
use salience_optimize::{
    optimal_weights, Decomposition, Gram, GramAccumulator, Mask, MetricGrams, QpSettings, Query,
    SparseRow, Strategy,
};

/// The dense formula of Definition 4.1, straight from γ1, γ2 and Φ (d×k):
/// G = (1/m) Σ (γ1Φ − γ2 1ᵀ)ᵀ(γ1Φ − γ2 1ᵀ), h = (1/m) Σ Γᵀγ2, c = (1/m) Σ‖γ2‖².
fn dense_gram(
    samples: &[(Array2<f64>, Array2<f64>, Array1<f64>)],
) -> (Array2<f64>, Array1<f64>, f64) {
    let k = samples[0].0.ncols();
    let mut g = Array2::<f64>::zeros((k, k));
    let mut h = Array1::<f64>::zeros(k);
    let mut c = 0.0;
    for (phi_dk, g1, g2) in samples {
        let mut gamma = g1.dot(phi_dk);
        for mut col in gamma.columns_mut() {
            col -= g2;
        }
        g = g + gamma.t().dot(&gamma);
        h = h + gamma.t().dot(g2);
        c += g2.dot(g2);
    }
    let m = samples.len() as f64;
    (g / m, h / m, c / m)
}

fn phi_dk(phi: &Array2<f32>) -> Array2<f64> {
    phi.t().mapv(f64::from)
}

fn assert_close(a: &Gram, g: &Array2<f64>, h: &Array1<f64>, c: f64, tol: f64) {
    let scale = g
        .iter()
        .map(|v| v.abs())
        .fold(c.abs(), f64::max)
        .max(1e-300);
    for (x, y) in a.matrix().iter().zip(g.iter()) {
        assert!((x - y).abs() <= tol * scale, "G: {x} vs {y}");
    }
    for (x, y) in a.cross().iter().zip(h.iter()) {
        assert!((x - y).abs() <= tol * scale, "h: {x} vs {y}");
    }
    assert!(
        (a.target_sq() - c).abs() <= tol * scale,
        "c: {} vs {c}",
        a.target_sq()
    );
}

#[test]
fn structured_queries_equal_dense_formula() {
    let mut rng = r(10);
    for case in 0..20 {
        let (k, d) = (1 + case % 5, 1 + (case * 7) % 23);
        let phi = mat32(&mut rng, k, d);
        let pdk = phi_dk(&phi);
        // Identity with a target map.
        let tgt: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let mut acc = GramAccumulator::new(k).unwrap();
        acc.add(phi.view(), &Query::Identity { target: &tgt })
            .unwrap();
        let (g, h, c) = dense_gram(&[(
            pdk.clone(),
            Array2::eye(d),
            Array1::from_iter(tgt.iter().map(|&v| f64::from(v))),
        )]);
        assert_close(&acc.finish().unwrap(), &g, &h, c, 1e-12);
        // Mask rows, both encodings, several samples.
        let flags: Vec<Vec<bool>> = (0..4)
            .map(|_| (0..d).map(|_| rng.random_bool(0.4)).collect())
            .collect();
        let idx: Vec<Vec<usize>> = flags
            .iter()
            .map(|f| (0..d).rev().filter(|&t| f[t]).collect())
            .collect();
        let ys: Vec<f64> = (0..4).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut a_bool = GramAccumulator::new(k).unwrap();
        let mut a_idx = GramAccumulator::new(k).unwrap();
        let mut dense = vec![];
        for j in 0..4 {
            a_bool
                .add(
                    phi.view(),
                    &Query::MaskRow {
                        mask: Mask::Bool(&flags[j]),
                        target: ys[j],
                    },
                )
                .unwrap();
            a_idx
                .add(
                    phi.view(),
                    &Query::MaskRow {
                        mask: Mask::Indices(&idx[j]),
                        target: ys[j],
                    },
                )
                .unwrap();
            let row = Array2::from_shape_fn((1, d), |(_, t)| if flags[j][t] { 1.0 } else { 0.0 });
            dense.push((pdk.clone(), row, Array1::from(vec![ys[j]])));
        }
        let (g, h, c) = dense_gram(&dense);
        assert_close(&a_bool.finish().unwrap(), &g, &h, c, 1e-12);
        assert_close(&a_idx.finish().unwrap(), &g, &h, c, 1e-12);
        // Sparse rows (with a repeated index) and the Dense query itself.
        let rows: Vec<SparseRow> = (0..3)
            .map(|_| {
                SparseRow::new(
                    (0..3)
                        .map(|_| (rng.random_range(0..d), rng.random_range(-1.0..1.0)))
                        .collect(),
                )
            })
            .collect();
        let st: Vec<f64> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut g1 = Array2::<f64>::zeros((3, d));
        for (r_i, row) in rows.iter().enumerate() {
            for &(t, v) in row.entries() {
                g1[[r_i, t]] += v;
            }
        }
        let mut a_sp = GramAccumulator::new(k).unwrap();
        a_sp.add(
            phi.view(),
            &Query::Sparse {
                rows: &rows,
                target: &st,
            },
        )
        .unwrap();
        let st_arr = Array1::from(st.clone());
        let mut a_de = GramAccumulator::new(k).unwrap();
        a_de.add(
            phi.view(),
            &Query::Dense {
                gamma1: g1.view(),
                target: st_arr.view(),
            },
        )
        .unwrap();
        let (g, h, c) = dense_gram(&[(pdk.clone(), g1.clone(), st_arr.clone())]);
        assert_close(&a_sp.finish().unwrap(), &g, &h, c, 1e-12);
        assert_close(&a_de.finish().unwrap(), &g, &h, c, 1e-12);
        // Sensitivity: Φ − Φ′ with identity and γ2 = 0.
        let pert = mat32(&mut rng, k, d);
        let mut a_se = GramAccumulator::new(k).unwrap();
        a_se.add(
            phi.view(),
            &Query::Sensitivity {
                perturbed: pert.view(),
            },
        )
        .unwrap();
        let diff = &pdk - &phi_dk(&pert);
        let (g, h, c) = dense_gram(&[(diff, Array2::eye(d), Array1::zeros(d))]);
        assert_close(&a_se.finish().unwrap(), &g, &h, c, 1e-12);
    }
}

#[test]
fn identity_blocks_cover_large_d() {
    // d spans several 256-feature blocks plus a remainder.
    let mut rng = r(11);
    let (k, d) = (3, 1000);
    let phi = mat32(&mut rng, k, d);
    let tgt: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let g = GramAccumulator::accumulate(phi.view(), &[Query::Identity { target: &tgt }]).unwrap();
    let (dg, dh, dc) = dense_gram(&[(
        phi_dk(&phi),
        Array2::eye(d),
        Array1::from_iter(tgt.iter().map(|&v| f64::from(v))),
    )]);
    assert_close(&g, &dg, &dh, dc, 1e-12);
}

fn bits(g: &Gram) -> Vec<u64> {
    g.matrix()
        .iter()
        .chain(g.cross().iter())
        .map(|v| v.to_bits())
        .chain([g.target_sq().to_bits()])
        .collect()
}

#[test]
fn order_chunk_and_thread_independent() {
    let mut rng = r(12);
    let (k, d, m) = (5, 40, 300);
    let phi = mat32(&mut rng, k, d);
    let masks: Vec<Vec<bool>> = (0..m)
        .map(|_| (0..d).map(|_| rng.random_bool(0.2)).collect())
        .collect();
    // Targets spanning many magnitudes make naive summation order-dependent.
    let ys: Vec<f64> = (0..m)
        .map(|j| rng.random_range(-1.0..1.0) * 10f64.powi((j % 13) as i32 - 6))
        .collect();
    let qs: Vec<Query> = masks
        .iter()
        .zip(&ys)
        .map(|(mk, &y)| Query::MaskRow {
            mask: Mask::Bool(mk),
            target: y,
        })
        .collect();

    let mut seq = GramAccumulator::new(k).unwrap();
    qs.iter().for_each(|q| seq.add(phi.view(), q).unwrap());
    let reference = bits(&seq.finish().unwrap());

    let mut rev = GramAccumulator::new(k).unwrap();
    qs.iter()
        .rev()
        .for_each(|q| rev.add(phi.view(), q).unwrap());
    assert_eq!(bits(&rev.finish().unwrap()), reference);

    for chunk in [1, 7, 64, 299] {
        let mut total = GramAccumulator::new(k).unwrap();
        for part in qs.chunks(chunk).rev() {
            let mut a = GramAccumulator::new(k).unwrap();
            part.iter().for_each(|q| a.add(phi.view(), q).unwrap());
            total.merge(&a).unwrap();
        }
        assert_eq!(bits(&total.finish().unwrap()), reference, "chunk {chunk}");
    }
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let g = pool
            .install(|| GramAccumulator::accumulate(phi.view(), &qs))
            .unwrap();
        assert_eq!(bits(&g), reference, "{threads} threads");
        assert_eq!(g.samples(), Some(m));
    }
    let pairs: Vec<(ArrayView2<f32>, Query)> = qs.iter().map(|q| (phi.view(), *q)).collect();
    assert_eq!(
        bits(&GramAccumulator::accumulate_pairs(&pairs).unwrap()),
        reference
    );
}

/// Direct evaluation from the raw samples, with φ_w materialized:
/// (Q(φ_w), Σ w_i Q(φ_i), E Σ w_i‖γ1(φ_i − φ_w)‖²).
fn direct(samples: &[(Array2<f64>, Array2<f64>, Array1<f64>)], w: &[f64]) -> (f64, f64, f64) {
    let m = samples.len() as f64;
    let (mut qw, mut qi, mut div) = (0.0, 0.0, 0.0);
    for (p, g1, g2) in samples {
        let phiw = p.dot(&Array1::from(w.to_vec()));
        let e = g1.dot(&phiw) - g2;
        qw += e.dot(&e);
        for (i, wi) in w.iter().enumerate() {
            let ei = g1.dot(&p.column(i)) - g2;
            qi += wi * ei.dot(&ei);
            let di = g1.dot(&(&p.column(i) - &phiw));
            div += wi * di.dot(&di);
        }
    }
    (qw / m, qi / m, div / m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(96)))]
    /// Theorem 4.2 on random instances: both sides of the Gram-based
    /// decomposition agree, and agree with the raw-sample computation.
    #[test]
    fn theorem_4_2_identity(seed in any::<u64>(), k in 1usize..6, d in 1usize..9, g in 1usize..4, m in 1usize..6) {
        let mut rng = r(seed);
        let phi = mat32(&mut rng, k, d);
        let pdk = phi_dk(&phi);
        let samples: Vec<_> = (0..m).map(|_| (pdk.clone(), mat(&mut rng, g, d), vec64(&mut rng, g) * 2.0)).collect();
        let mut acc = GramAccumulator::new(k).unwrap();
        for (_, g1, g2) in &samples {
            acc.add(phi.view(), &Query::Dense { gamma1: g1.view(), target: g2.view() }).unwrap();
        }
        let gram = acc.finish().unwrap();
        let w = simplex(&mut rng, k);
        let dec = Decomposition::new(&gram, &w).unwrap();
        let scale = dec.q_aggregate.abs().max(dec.weighted_individual).max(1e-300);
        prop_assert!(dec.rel_error() <= 1e-9, "gram-based: {:?}", dec);
        let (qw, qi, div) = direct(&samples, &w);
        prop_assert!((qw - (qi - div)).abs() <= 1e-9 * scale, "direct: {qw} vs {qi} - {div}");
        prop_assert!((dec.q_aggregate - qw).abs() <= 1e-9 * scale);
        prop_assert!((dec.weighted_individual - qi).abs() <= 1e-9 * scale);
        prop_assert!((dec.diversity - div).abs() <= 1e-9 * scale);
        prop_assert!(dec.diversity >= -1e-12 * scale);
        // Off the simplex Gram::q is still Q(φ_w), and wᵀGw is not.
        let w2: Vec<f64> = w.iter().map(|v| v * 1.7).collect();
        let (qw2, _, _) = direct(&samples, &w2);
        prop_assert!((gram.q(&w2).unwrap() - qw2).abs() <= 1e-9 * qw2.abs().max(scale));
    }
}

#[test]
fn optimal_weights_improve_on_every_method() {
    let mut rng = r(13);
    for _ in 0..20 {
        let (k, d) = (4, 10);
        let phi = mat32(&mut rng, k, d);
        let masks: Vec<Vec<bool>> = (0..30)
            .map(|_| (0..d).map(|_| rng.random_bool(0.3)).collect())
            .collect();
        let qs: Vec<Query> = masks
            .iter()
            .map(|mk| Query::MaskRow {
                mask: Mask::Bool(mk),
                target: rng.random_range(-1.0..1.0),
            })
            .collect();
        let gram = GramAccumulator::accumulate(phi.view(), &qs).unwrap();
        let w = optimal_weights(&gram).unwrap();
        let dec = Decomposition::new(&gram, w.as_slice()).unwrap();
        assert!(dec.improvement_over_best >= -1e-12, "{dec:?}");
        assert!(dec.rel_error() < 1e-9);
    }
}

/// f(x) = a·x; infidelity queries with random masks; the exact attribution
/// a ⊙ (x − b) explains every sample, so AGG_faith puts (almost) all weight on it.
#[test]
fn agg_faith_finds_the_exact_attribution_of_a_linear_model() {
    let mut rng = r(14);
    let d = 30;
    for trial in 0..5 {
        let a: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f64> = (0..d).map(|_| rng.random_range(-0.2..0.2)).collect();
        let f = |v: &[f64]| a.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
        let exact: Vec<f32> = (0..d).map(|t| (a[t] * (x[t] - b[t])) as f32).collect();
        let gradient: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        let noisy: Vec<f32> = exact
            .iter()
            .map(|&v| v + rng.random_range(-0.3f32..0.3))
            .collect();
        let scaled: Vec<f32> = exact.iter().map(|&v| 0.5 * v).collect();
        let random: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let pos = trial % 5; // the exact map's row
        let mut rows = vec![gradient, noisy, scaled, random];
        rows.insert(pos, exact);
        let phi = Array2::from_shape_fn((5, d), |(i, t)| rows[i][t]);
        let masks: Vec<Vec<usize>> = (0..50)
            .map(|_| (0..d).filter(|_| rng.random_bool(0.25)).collect())
            .collect();
        let targets: Vec<f64> = masks
            .iter()
            .map(|mk| {
                let mut xp = x.clone();
                mk.iter().for_each(|&t| xp[t] = b[t]);
                f(&x) - f(&xp)
            })
            .collect();
        let qs: Vec<Query> = masks
            .iter()
            .zip(&targets)
            .map(|(mk, &y)| Query::MaskRow {
                mask: Mask::Indices(mk),
                target: y,
            })
            .collect();
        let faith = GramAccumulator::accumulate(phi.view(), &qs).unwrap();
        let w = Strategy::Faith
            .weights(
                5,
                &MetricGrams {
                    robust: None,
                    faith: Some(&faith),
                },
                &QpSettings::default(),
            )
            .unwrap();
        assert!(
            w.as_slice()[pos] >= 0.99,
            "trial {trial}: {:?}",
            w.as_slice()
        );
        assert!(faith.q_methods()[pos] < 1e-10);
    }
}

#[test]
fn per_input_and_global_grams() {
    let mut rng = r(15);
    let grams: Vec<Gram> = (0..6)
        .map(|_| Gram::from_matrix(psd(&mut rng, 6, 3)).unwrap())
        .collect();
    let mean = Gram::mean(&grams).unwrap();
    let mut manual = Array2::<f64>::zeros((3, 3));
    grams.iter().for_each(|g| manual = &manual + &g.matrix());
    let manual = manual / 6.0;
    for (x, y) in mean.matrix().iter().zip(manual.iter()) {
        assert!((x - y).abs() < 1e-14);
    }
    let mut rev = grams.clone();
    rev.reverse();
    assert_eq!(bits(&Gram::mean(&rev).unwrap()), bits(&mean));
    let s = QpSettings::default();
    let per = salience_optimize::per_sample_weights(&grams, &s).unwrap();
    for (g, w) in grams.iter().zip(&per) {
        assert!(kkt_violation(&g.matrix().to_owned(), w.as_slice()) < 1e-8);
    }
    let glob = salience_optimize::global_weights(&grams, &s).unwrap();
    assert!(kkt_violation(&manual, glob.as_slice()) < 1e-8);
}
