//! The QP: KKT conditions, brute force over active sets, singular G, k = 1, k = 64.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use ndarray::{Array2, Axis};
use salience_optimize::{
    optimal_weights, solve_qp, Gram, GramAccumulator, Mask, QpSettings, Query,
};

fn solve(g: &Array2<f64>) -> Vec<f64> {
    solve_qp(g.view(), &QpSettings::default())
        .unwrap()
        .weights
        .into_vec()
}

#[test]
fn kkt_holds_on_random_psd() {
    let mut rng = r(1);
    for case in 0..60 {
        let k = 2 + case % 9;
        // Full rank (rows > k) and rank-deficient (rows < k) instances.
        let rows = if case % 3 == 0 { 1 + k / 2 } else { k + 3 };
        let g = psd(&mut rng, rows, k);
        let w = solve(&g);
        let v = kkt_violation(&g, &w);
        assert!(
            v <= 1e-8,
            "case {case} (k = {k}): KKT violation {v:e}, w = {w:?}"
        );
    }
}

#[test]
fn kkt_detects_wrong_weights() {
    // The checker itself must fail on non-optimal points.
    let mut rng = r(2);
    let g = psd(&mut rng, 8, 4);
    assert!(kkt_violation(&g, &[0.25; 4]) > 1e-4);
}

/// Brute force: every support S, w_S = argmin on {1ᵀw = 1} by the KKT linear
/// system, keep the feasible minimum.
fn brute_force(g: &Array2<f64>) -> Vec<f64> {
    let k = g.nrows();
    let mut best = (f64::INFINITY, vec![]);
    for mask in 1u32..(1 << k) {
        let idx: Vec<usize> = (0..k).filter(|i| mask & (1 << i) != 0).collect();
        let n = idx.len();
        // [2G_SS 1; 1ᵀ 0] [w; −ν] = [0; 1]
        let mut a = Array2::<f64>::zeros((n + 1, n + 1));
        for (p, &i) in idx.iter().enumerate() {
            for (q, &j) in idx.iter().enumerate() {
                a[[p, q]] = 2.0 * g[[i, j]];
            }
            a[[p, n]] = 1.0;
            a[[n, p]] = 1.0;
        }
        let mut b = vec![0.0; n + 1];
        b[n] = 1.0;
        let Some(x) = gauss_solve(a, b) else { continue };
        if x[..n].iter().any(|&v| v < -1e-12) {
            continue;
        }
        let mut w = vec![0.0; k];
        for (p, &i) in idx.iter().enumerate() {
            w[i] = x[p].max(0.0);
        }
        let obj = quad(g, &w);
        if obj < best.0 - 1e-15 {
            best = (obj, w);
        }
    }
    best.1
}

#[test]
fn matches_brute_force_over_active_sets() {
    let mut rng = r(3);
    for case in 0..80 {
        let k = 2 + case % 4; // 2..=5
        let g = psd(&mut rng, k + 2, k);
        let w = solve(&g);
        let bf = brute_force(&g);
        let diff = w
            .iter()
            .zip(&bf)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-6, "case {case}: qp {w:?} vs brute force {bf:?}");
        assert!(quad(&g, &w) <= quad(&g, &bf) * (1.0 + 1e-9) + 1e-15);
    }
}

#[test]
fn interior_and_vertex_solutions() {
    // Independent errors: w ∝ 1/σ² (interior).
    let g = Array2::from_diag(&ndarray::arr1(&[1.0, 2.0, 4.0]));
    let w = solve(&g);
    let expect = [4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0];
    for (a, b) in w.iter().zip(expect) {
        assert!((a - b).abs() < 1e-10);
    }
    // A dominating method takes all the weight (strictly complementary: μ_2 = 1).
    let g = ndarray::arr2(&[[1.0, 1.5], [1.5, 4.0]]);
    assert_eq!(solve(&g), vec![1.0, 0.0]);
    // Degenerate vertex (μ_2 = 0): Q(t) = 1 + 3t² along the edge.
    let g = ndarray::arr2(&[[1.0, 1.0], [1.0, 4.0]]);
    let w = solve(&g);
    assert!(w[1] < 1e-6, "{w:?}");
}

#[test]
fn duplicated_methods_singular_gram() {
    let mut rng = r(4);
    let phi3 = mat32(&mut rng, 3, 12);
    // Duplicate method 1 as method 3.
    let phi4 =
        ndarray::concatenate(Axis(0), &[phi3.view(), phi3.slice(ndarray::s![1..2, ..])]).unwrap();
    let masks: Vec<Vec<usize>> = (0..30)
        .map(|j| (0..12).filter(|t| (t * 7 + j * 3) % 5 < 2).collect())
        .collect();
    let targets: Vec<f64> = (0..30).map(|j| (j as f64 * 0.37).sin()).collect();
    let q: Vec<Query> = masks
        .iter()
        .zip(&targets)
        .map(|(m, &t)| Query::MaskRow {
            mask: Mask::Indices(m),
            target: t,
        })
        .collect();
    let g3 = GramAccumulator::accumulate(phi3.view(), &q).unwrap();
    let g4 = GramAccumulator::accumulate(phi4.view(), &q).unwrap();
    let w3 = optimal_weights(&g3).unwrap();
    let w4 = optimal_weights(&g4).unwrap();
    // Same optimum and the same aggregate: the duplicates' weights add up
    // to the weight of the single copy (only the ridge separates the two,
    // so the split itself is equal only up to ~1e-4).
    let o3 = g3.objective(w3.as_slice()).unwrap();
    let o4 = g4.objective(w4.as_slice()).unwrap();
    assert!((o3 - o4).abs() <= 1e-9 * o3.max(1e-12), "{o3} vs {o4}");
    let w4 = w4.as_slice();
    assert!((w4[1] - w4[3]).abs() < 1e-3, "{w4:?}");
    assert!((w4[1] + w4[3] - w3.as_slice()[1]).abs() < 1e-6);
    assert!((w4[0] - w3.as_slice()[0]).abs() < 1e-6);
    assert!(kkt_violation(&g4.matrix().to_owned(), w4) < 1e-8);
    // Fully duplicated: all methods identical.
    let same = Array2::from_elem((5, 5), 2.0);
    let w = solve(&same);
    assert!(w.iter().all(|&v| (v - 0.2).abs() < 1e-3), "{w:?}");
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
}

#[test]
fn k1_and_zero_gram() {
    let s = solve_qp(ndarray::arr2(&[[7.0]]).view(), &QpSettings::default()).unwrap();
    assert_eq!(s.weights.as_slice(), &[1.0]);
    assert_eq!(
        (s.status, s.iterations),
        (salience_optimize::QpStatus::Trivial, 0)
    );
    let z = solve(&Array2::zeros((3, 3)));
    assert_eq!(z, vec![1.0 / 3.0; 3]);
}

#[test]
fn k64_full_rank_and_singular() {
    let mut rng = r(5);
    for rows in [80, 20] {
        let g = psd(&mut rng, rows, 64);
        let sol = solve_qp(g.view(), &QpSettings::default()).unwrap();
        let w = sol.weights.as_slice();
        assert_eq!(w.len(), 64);
        let v = kkt_violation(&g, w);
        assert!(
            v <= 1e-8,
            "rows {rows}: KKT violation {v:e} (polished {})",
            sol.polished
        );
    }
}

#[test]
fn weights_exactly_on_simplex_and_scale_invariant() {
    let mut rng = r(6);
    let g = psd(&mut rng, 9, 6);
    let w = solve(&g);
    assert!(w.iter().all(|&v| v >= 0.0));
    assert!((w.iter().sum::<f64>() - 1.0).abs() <= 4.0 * f64::EPSILON);
    for scale in [1e-12, 1e12] {
        let ws = solve(&(&g * scale));
        let diff = w
            .iter()
            .zip(&ws)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-9, "scale {scale}: {diff}");
    }
}

#[test]
fn without_polish_still_close() {
    let mut rng = r(7);
    let g = psd(&mut rng, 10, 6);
    let settings = QpSettings {
        polish: false,
        ..QpSettings::default()
    };
    let raw = solve_qp(g.view(), &settings).unwrap();
    assert!(!raw.polished);
    let pol = solve(&g);
    let diff = raw
        .weights
        .as_slice()
        .iter()
        .zip(&pol)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn solver_failure_is_typed() {
    // One iteration is not enough: clarabel reports MaxIterations.
    let mut rng = r(8);
    let g = psd(&mut rng, 10, 6);
    let settings = QpSettings {
        max_iter: 1,
        ..QpSettings::default()
    };
    match solve_qp(g.view(), &settings) {
        Err(
            e @ salience_core::SalienceError::Solver {
                solver: "clarabel",
                status: salience_core::SolverStatus::MaxIterations,
                ..
            },
        ) => {
            let msg = e.to_string();
            assert!(msg.contains("MaxIterations"), "{msg}");
            assert!(msg.contains("iteration limit reached"), "{msg}");
        }
        other => panic!("expected a solver error, got {other:?}"),
    }
}

#[test]
fn gram_from_matrix_roundtrip() {
    let g = Gram::from_matrix(ndarray::arr2(&[[2.0, 1.0], [1.0, 2.0]])).unwrap();
    let w = optimal_weights(&g).unwrap();
    assert!(w.as_slice().iter().all(|v| (v - 0.5).abs() < 1e-15));
}

/// Solves G with the default settings and checks each weight against its
/// analytic value to 1e-6 relative (a zero weight exactly) and the
/// objective against the analytic optimum to 1e-9 relative.
fn assert_analytic_optimum(g: &Array2<f64>, want: &[f64], opt: f64, what: &str) {
    let sol = solve_qp(g.view(), &QpSettings::default()).unwrap();
    let got = sol.weights.as_slice();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs(),
            "{what}: w[{i}] = {g:e}, analytic {w:e} (all: {got:?})"
        );
    }
    assert!(
        sol.objective <= opt * (1.0 + 1e-9),
        "{what}: objective {:e} vs analytic {opt:e}",
        sol.objective
    );
}

/// Issue 24: with error variances spanning 7–11 orders of magnitude the
/// old ridge (1e-12·trace/k) was as large as the smallest variances. On a
/// diagonal Gram the optimum is w_i ∝ 1/q_ii with objective 1/Σ(1/q_ii).
#[test]
fn ill_conditioned_diagonal_grams_match_analytic_optimum() {
    for log_cond in [7, 9, 11] {
        for unit in [3.7e-5, 1.0, 2.9e8] {
            let c = 10f64.powi(log_cond);
            let q = [unit, unit * c.sqrt(), unit * c, unit * c.powf(0.25) * 1.7];
            let g = Array2::from_diag(&ndarray::arr1(&q));
            let inv_sum: f64 = q.iter().map(|v| 1.0 / v).sum();
            let want: Vec<f64> = q.iter().map(|v| 1.0 / v / inv_sum).collect();
            let what = format!("cond 1e{log_cond}, unit {unit:e}");
            assert_analytic_optimum(&g, &want, 1.0 / inv_sum, &what);
        }
    }
}

/// 2×2 G = [[a, b], [b, d]]: on the segment w = (t, 1 − t) the objective
/// is minimized at t = (d − b)/(a + d − 2b) with value
/// (ad − b²)/(a + d − 2b) when that t lies in [0, 1], else at the vertex
/// of the smaller diagonal entry. Condition numbers 1e7–1e11.
#[test]
fn ill_conditioned_2x2_matches_hand_solution() {
    for log_cond in [7, 9, 11] {
        let (a, d) = (1e-6, 1e-6 * 10f64.powi(log_cond));
        let s = (a * d).sqrt();
        // Negative, tiny positive (interior) and larger positive (vertex)
        // correlations.
        for rho in [-0.5, -1e-3, 0.3 * (a / d).sqrt(), 0.3] {
            let b = rho * s;
            let g = ndarray::arr2(&[[a, b], [b, d]]);
            let den = a + d - 2.0 * b;
            let t = (d - b) / den;
            let (want, opt) = if (0.0..=1.0).contains(&t) {
                (vec![t, (a - b) / den], (a * d - b * b) / den)
            } else {
                (vec![1.0, 0.0], a)
            };
            let what = format!("cond 1e{log_cond}, rho {rho:e}");
            assert_analytic_optimum(&g, &want, opt, &what);
        }
    }
}

/// Issue 19: `psd_tolerance: 1e300` "solved" an indefinite matrix. Absurd
/// tolerances and ridges are rejected by name; the largest accepted
/// tolerance still rejects a clearly indefinite G.
#[test]
fn absurd_tolerances_are_rejected() {
    use salience_core::SalienceError;
    use salience_optimize::{MAX_PSD_TOLERANCE, MAX_RIDGE};
    let indefinite = ndarray::arr2(&[[1.0, 2.0], [2.0, 1.0]]);
    for (tol, ridge, name) in [
        (1e300, 1e-12, "psd_tolerance"),
        (f64::INFINITY, 1e-12, "psd_tolerance"),
        (2e-3, 1e-12, "psd_tolerance"),
        (1e-9, 1e300, "ridge"),
        (1e-9, 1.5, "ridge"),
    ] {
        let s = QpSettings {
            psd_tolerance: tol,
            ridge,
            ..QpSettings::default()
        };
        match solve_qp(indefinite.view(), &s) {
            Err(SalienceError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("tol {tol:e}, ridge {ridge:e}: {other:?}"),
        }
    }
    let s = QpSettings {
        psd_tolerance: MAX_PSD_TOLERANCE,
        ridge: MAX_RIDGE,
        ..QpSettings::default()
    };
    assert!(matches!(
        solve_qp(indefinite.view(), &s),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // A zero-error method takes all the weight (objective exactly 0).
    let g = ndarray::arr2(&[[0.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.5, 2.0]]);
    let sol = solve_qp(g.view(), &QpSettings::default()).unwrap();
    assert_eq!(sol.weights.as_slice(), &[1.0, 0.0, 0.0]);
    assert_eq!(sol.objective, 0.0);
}
