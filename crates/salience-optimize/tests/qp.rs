//! The QP: KKT conditions, brute force over active sets, singular G, k = 1, k = 64.

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
    assert_eq!((s.status.as_str(), s.iterations), ("Trivial", 0));
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
        Err(salience_core::SalienceError::Solver(msg)) => {
            assert!(msg.contains("MaxIterations"), "{msg}")
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
