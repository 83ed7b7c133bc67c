//! Shared helpers of the integration tests.
#![allow(dead_code)]

use ndarray::{Array1, Array2};
use rand::RngExt;
use salience_core::seed::{rng, SalienceRng};

pub fn r(seed: u64) -> SalienceRng {
    rng(seed)
}

/// Random `[rows, cols]` f64 matrix with entries in [-1, 1).
pub fn mat(rng: &mut SalienceRng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
}

pub fn mat32(rng: &mut SalienceRng, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0f32..1.0))
}

pub fn vec64(rng: &mut SalienceRng, n: usize) -> Array1<f64> {
    Array1::from_shape_fn(n, |_| rng.random_range(-1.0..1.0))
}

/// Random PSD matrix AᵀA with A of `rows × k` (singular when rows < k).
pub fn psd(rng: &mut SalienceRng, rows: usize, k: usize) -> Array2<f64> {
    let a = mat(rng, rows, k);
    a.t().dot(&a)
}

/// A random point of the simplex.
pub fn simplex(rng: &mut SalienceRng, k: usize) -> Vec<f64> {
    let v: Vec<f64> = (0..k).map(|_| rng.random_range(0.01..1.0)).collect();
    let s: f64 = v.iter().sum();
    v.into_iter().map(|x| x / s).collect()
}

pub fn quad(g: &Array2<f64>, w: &[f64]) -> f64 {
    let w = Array1::from(w.to_vec());
    w.dot(&g.dot(&w))
}

/// Checks the KKT conditions of min wᵀGw s.t. w ≥ 0, Σw = 1 for G scaled to
/// trace/k = 1: primal feasibility, stationarity 2Gw − ν1 − μ = 0 with
/// μ ≥ 0 and μ_i w_i = 0. Returns the worst violation.
pub fn kkt_violation(g: &Array2<f64>, w: &[f64]) -> f64 {
    let k = w.len();
    let scale = g.diag().sum() / k as f64;
    let gs = g / scale;
    let w1 = Array1::from(w.to_vec());
    let grad = gs.dot(&w1) * 2.0;
    // ν from the support (where w_i > 0): the weighted mean of the gradient.
    let nu: f64 = grad.iter().zip(w).map(|(g, w)| g * w).sum::<f64>() / w.iter().sum::<f64>();
    let mut worst = (w.iter().sum::<f64>() - 1.0).abs();
    for i in 0..k {
        worst = worst.max((-w[i]).max(0.0)); // w ≥ 0
        let mu = grad[i] - nu; // stationarity defines μ
        worst = worst.max((-mu).max(0.0)); // μ ≥ 0
        worst = worst.max((mu * w[i]).abs()); // complementary slackness
        if w[i] > 0.0 {
            worst = worst.max(mu.abs()); // stationarity on the support (μ_i = 0)
        }
    }
    worst
}

/// Solves a small dense linear system by Gaussian elimination with partial
/// pivoting (test-only, independent of the crate's Cholesky).
pub fn gauss_solve(mut a: Array2<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&x, &y| a[[x, col]].abs().total_cmp(&a[[y, col]].abs()))?;
        if a[[piv, col]].abs() < 1e-300 {
            return None;
        }
        for j in 0..n {
            a.swap([col, j], [piv, j]);
        }
        b.swap(col, piv);
        for row in col + 1..n {
            let f = a[[row, col]] / a[[col, col]];
            for j in col..n {
                a[[row, j]] -= f * a[[col, j]];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| a[[i, j]] * x[j]).sum();
        x[i] = (b[i] - s) / a[[i, i]];
    }
    Some(x)
}
