// Hand-written here only the pivoted-Cholesky pseudo-inverse: 3.6 µs / 127 µs / 1.17 ms against nalgebra SymmetricEigen's 17.8 µs / 322 µs / 6.2 ms at m = 16 / 64 / 200 (benches/linalg.rs pinv_solve, 2-vCPU shared; docs/performance.md).
//! Weighted linear surrogates for LIME and KernelSHAP: ordinary least
//! squares, ridge and lasso (coordinate descent), with scikit-learn's
//! objectives (the models Captum's `SkLearnLinearRegression`,
//! `SkLearnRidge` and `SkLearnLasso` wrap).
//!
//! With sample weights w, weighted means x̄, ȳ and centred data
//! (the intercept is fitted, never penalised, and equals ȳ − x̄ᵀβ):
//! * OLS: `min Σ w_k (y_k − x_kᵀβ)²`, the minimum-norm solution when the
//!   design is rank deficient (as `numpy.linalg.lstsq`);
//! * ridge (scikit-learn `Ridge(alpha=λ)`): `min Σ w_k r_k² + λ‖β‖²`;
//! * lasso (scikit-learn `Lasso(alpha=λ)`):
//!   `min (1 / (2 Σ w)) Σ w_k r_k² + λ‖β‖₁`, by cyclic coordinate descent
//!   until the largest coefficient update of a sweep is below 1e-8 × the
//!   largest coefficient, at most 1000 sweeps (scikit-learn's `max_iter`;
//!   scikit-learn stops at a `tol=1e-4` duality gap, so it may stop
//!   earlier).
//!
//! Everything is computed in f64: OLS and ridge from the weighted Gram
//! matrix (m × m; nalgebra's Cholesky, or a pivoted Cholesky pseudo-inverse
//! when singular), or, with fewer samples n than features m, from the
//! n × n dual `β = Aᵀ (A Aᵀ + λI)⁺ b` (A = W^½ Xc), which gives the same
//! solution; lasso by coordinate descent on the Gram matrix, or on the
//! residuals (O(n m) per sweep) when n < m. Cost O(min(n, m)² max(n, m) +
//! min(n, m)³) for OLS and ridge.

use nalgebra::{Cholesky, DMatrix, DVector, SymmetricEigen};
use ndarray::{ArrayView1, ArrayView2};
use salience_core::{Result, SalienceError};

/// Coordinate-descent sweeps of the lasso (scikit-learn's `max_iter`).
const LASSO_MAX_SWEEPS: usize = 1000;
/// Relative coefficient change at which the lasso stops.
const LASSO_TOL: f64 = 1e-8;

/// Largest number of interpretable features a dense surrogate accepts.
pub const MAX_SURROGATE_FEATURES: usize = 4096;

/// The linear model LIME fits to the perturbations.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Surrogate {
    /// Ordinary (weighted) least squares; minimum-norm if rank deficient.
    #[serde(alias = "ols", alias = "linear")]
    LinearRegression,
    /// Ridge with penalty λ ≥ 0 on Σβ² (scikit-learn `Ridge(alpha=λ)`).
    Ridge {
        /// The penalty λ (≥ 0).
        lambda: f64,
    },
    /// Lasso with penalty λ ≥ 0 on the l1 norm, scikit-learn's scaling
    /// (`Lasso(alpha=λ)`). Decker et al. (2024) uses λ = 0.1 and 0.01; Captum's
    /// `Lime` default is λ = 0.01.
    Lasso {
        /// The penalty λ (≥ 0).
        lambda: f64,
    },
}

/// Coefficients and intercept of a fitted linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// One coefficient per feature.
    pub coefficients: Vec<f64>,
    /// The intercept (0 when fitted without one).
    pub intercept: f64,
}

impl Surrogate {
    /// Fits `y ≈ x β + β₀` with sample `weights` (≥ 0, not all 0):
    /// `x` is `[n, m]`, `y` and `weights` are `[n]`.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_perturb::Surrogate;
    /// let x = array![[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
    /// let y = array![2.0, 3.0, 5.0, 0.0]; // y = 3 x₀ + 2 x₁
    /// let w = array![1.0, 1.0, 1.0, 1.0];
    /// let fit = Surrogate::LinearRegression.fit(x.view(), y.view(), w.view())?;
    /// assert!((fit.coefficients[0] - 3.0).abs() < 1e-9 && fit.intercept.abs() < 1e-9);
    /// // A large lasso penalty zeroes every coefficient.
    /// let fit = Surrogate::Lasso { lambda: 100.0 }.fit(x.view(), y.view(), w.view())?;
    /// assert_eq!(fit.coefficients, vec![0.0, 0.0]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn fit(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        weights: ArrayView1<'_, f64>,
    ) -> Result<LinearFit> {
        let (n, m) = x.dim();
        if y.len() != n || weights.len() != n {
            return Err(SalienceError::shape(
                "surrogate targets/weights",
                format!("[{n}]"),
                &[y.len(), weights.len()],
            ));
        }
        let xs: Vec<f64> = x.iter().copied().collect();
        let ys: Vec<f64> = y.iter().copied().collect();
        let ws: Vec<f64> = weights.iter().copied().collect();
        fit_weighted(&xs, n, m, &ys, &ws, *self, true)
    }

    pub(crate) fn check(&self) -> Result<()> {
        match *self {
            Surrogate::LinearRegression => Ok(()),
            Surrogate::Ridge { lambda } | Surrogate::Lasso { lambda } => {
                if lambda.is_finite() && lambda >= 0.0 {
                    Ok(())
                } else {
                    Err(SalienceError::invalid(
                        "lambda",
                        lambda,
                        "must be finite and >= 0",
                    ))
                }
            }
        }
    }
}

/// Weighted fit of `y ≈ x β (+ β₀)`, `x` row-major `[n, m]`.
pub(crate) fn fit_weighted(
    x: &[f64],
    n: usize,
    m: usize,
    y: &[f64],
    w: &[f64],
    surrogate: Surrogate,
    fit_intercept: bool,
) -> Result<LinearFit> {
    surrogate.check()?;
    if n == 0 || m == 0 {
        return Err(SalienceError::Empty("surrogate design matrix".into()));
    }
    if m > MAX_SURROGATE_FEATURES {
        return Err(SalienceError::invalid(
            "interpretable features",
            m,
            &format!("a dense surrogate supports at most {MAX_SURROGATE_FEATURES}; group the features (patches, superpixels)"),
        ));
    }
    if x.len() != n * m || y.len() != n || w.len() != n {
        return Err(SalienceError::shape(
            "surrogate design",
            format!("[{n}, {m}]"),
            &[x.len()],
        ));
    }
    if x.iter().chain(y).chain(w).any(|v| !v.is_finite()) || w.iter().any(|&v| v < 0.0) {
        return Err(SalienceError::invalid(
            "surrogate data",
            "non-finite or negative weight",
            "values must be finite and weights >= 0",
        ));
    }
    let sw: f64 = w.iter().sum();
    if sw <= 0.0 {
        return Err(SalienceError::solver(
            "weighted least squares",
            salience_core::SolverStatus::Singular,
            "all surrogate sample weights are zero",
        ));
    }
    // Weighted means (zero without intercept).
    let mut xm = vec![0f64; m];
    let mut ym = 0f64;
    if fit_intercept {
        for k in 0..n {
            let wk = w[k] / sw;
            ym += wk * y[k];
            for j in 0..m {
                xm[j] += wk * x[k * m + j];
            }
        }
    }
    // Fewer samples than features (LIME's usual regime): OLS and ridge
    // through the n × n dual, β = Aᵀ (A Aᵀ + λI)⁺ b with A = W^½ Xc and
    // b = W^½ yc, which is the same minimum-norm (or ridge) solution.
    let lambda = match surrogate {
        Surrogate::LinearRegression => Some(0.0),
        Surrogate::Ridge { lambda } => Some(lambda),
        Surrogate::Lasso { .. } => None,
    };
    if let (Some(lambda), true) = (lambda, n < m) {
        let mut a = vec![0f64; n * m];
        let mut bd = vec![0f64; n];
        for k in 0..n {
            let sq = w[k].sqrt();
            for j in 0..m {
                a[k * m + j] = sq * (x[k * m + j] - xm[j]);
            }
            bd[k] = sq * (y[k] - ym);
        }
        let mut kern = vec![0f64; n * n];
        for p in 0..n {
            for q in p..n {
                let v: f64 = a[p * m..(p + 1) * m]
                    .iter()
                    .zip(&a[q * m..(q + 1) * m])
                    .map(|(u, v)| u * v)
                    .sum();
                kern[p * n + q] = v;
                kern[q * n + p] = v;
            }
        }
        let alpha = solve_spd_or_pinv(&kern, &bd, n, lambda);
        let mut beta = vec![0f64; m];
        for k in 0..n {
            for j in 0..m {
                beta[j] += a[k * m + j] * alpha[k];
            }
        }
        return finish(beta, &xm, ym, fit_intercept);
    }
    // Lasso with fewer samples than features: coordinate descent on the
    // residuals (O(n m) per sweep instead of the m × m Gram matrix).
    if let (Surrogate::Lasso { lambda }, true) = (surrogate, n < m) {
        let beta = lasso_cd_residual(x, n, m, y, w, &xm, ym, sw, lambda);
        return finish(beta, &xm, ym, fit_intercept);
    }
    // Gram G = Xcᵀ W Xc and b = Xcᵀ W yc.
    let mut g = vec![0f64; m * m];
    let mut b = vec![0f64; m];
    let mut row = vec![0f64; m];
    for k in 0..n {
        let wk = w[k];
        if wk == 0.0 {
            continue;
        }
        for j in 0..m {
            row[j] = x[k * m + j] - xm[j];
        }
        let yc = y[k] - ym;
        for j in 0..m {
            let rj = wk * row[j];
            if rj == 0.0 {
                continue;
            }
            b[j] += rj * yc;
            for l in j..m {
                g[j * m + l] += rj * row[l];
            }
        }
    }
    for j in 0..m {
        for l in 0..j {
            g[j * m + l] = g[l * m + j];
        }
    }
    let beta = match surrogate {
        Surrogate::LinearRegression => solve_spd_or_pinv(&g, &b, m, 0.0),
        Surrogate::Ridge { lambda } => solve_spd_or_pinv(&g, &b, m, lambda),
        Surrogate::Lasso { lambda } => lasso_cd(&g, &b, m, sw, lambda),
    };
    finish(beta, &xm, ym, fit_intercept)
}

/// Checks the coefficients and adds the intercept ȳ − x̄ᵀβ.
fn finish(beta: Vec<f64>, xm: &[f64], ym: f64, fit_intercept: bool) -> Result<LinearFit> {
    if beta.iter().any(|v| !v.is_finite()) {
        return Err(SalienceError::solver(
            "weighted least squares",
            salience_core::SolverStatus::NumericalError,
            "the surrogate regression produced non-finite coefficients",
        ));
    }
    let intercept = if fit_intercept {
        ym - xm.iter().zip(&beta).map(|(a, c)| a * c).sum::<f64>()
    } else {
        0.0
    };
    Ok(LinearFit {
        coefficients: beta,
        intercept,
    })
}

/// Solves `(G + λI) β = b` for a symmetric positive semidefinite `G`:
/// the minimum-norm (pseudo-inverse) solution, as `numpy.linalg.lstsq`
/// gives. A full-rank system is a plain Cholesky solve. A rank-deficient
/// one (KernelSHAP's paired coalitions make every Gram matrix singular:
/// `z` and its complement give the same row up to sign) goes through a
/// pivoted Cholesky factorisation `P (G + λI) Pᵀ = L Lᵀ`, `L` of full
/// column rank `r`, and `G⁺ b = B (BᵀB)⁻² Bᵀ b` with `B = Pᵀ L`: two
/// `r × r` solves instead of an eigendecomposition (O(m² r), 2.5–5× faster
/// than nalgebra's `SymmetricEigen`, see the first line of this file).
/// nalgebra's symmetric eigendecomposition is the fallback should `BᵀB`
/// not factorise.
fn solve_spd_or_pinv(g: &[f64], b: &[f64], m: usize, lambda: f64) -> Vec<f64> {
    let mut a = g.to_vec();
    for j in 0..m {
        a[j * m + j] += lambda;
    }
    if let Some(beta) = cholesky_solve(&a, b, m) {
        return beta;
    }
    if let Some(beta) = pivoted_cholesky_pinv_solve(&a, b, m, PINV_RTOL) {
        return beta;
    }
    eigen_pinv_solve(&a, b, m)
}

/// Relative tolerance below which a pivot (pivoted Cholesky) or an
/// eigenvalue counts as zero, relative to the largest diagonal
/// entry or eigenvalue.
const PINV_RTOL: f64 = 1e-12;

/// Minimum-norm solution from nalgebra's symmetric eigendecomposition
/// (eigenvalues below `PINV_RTOL` of the largest are dropped); NaNs,
/// reported by [`finish`] as a solver error, if it does not converge.
fn eigen_pinv_solve(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    // `a` is symmetric: its row-major slice is its column-major one.
    let a = DMatrix::from_column_slice(m, m, a);
    let Some(e) = SymmetricEigen::try_new(a, f64::EPSILON, EIGEN_MAX_ITER * m) else {
        return vec![f64::NAN; m];
    };
    let tol = e.eigenvalues.amax() * PINV_RTOL;
    let proj = e.eigenvectors.tr_mul(&DVector::from_column_slice(b));
    let scaled = proj.zip_map(&e.eigenvalues, |p, l| if l > tol { p / l } else { 0.0 });
    (e.eigenvectors * scaled).data.into()
}

/// Iteration cap (per row) of the symmetric eigendecomposition; its
/// implicit QR converges in about 2 iterations per eigenvalue.
const EIGEN_MAX_ITER: usize = 1000;

/// The pivoted-Cholesky minimum-norm solve of `A β = b` (`A` symmetric
/// positive semidefinite, row-major `m × m`), exposed only so that
/// `benches/linalg.rs` can time it against nalgebra; not part of the API.
#[doc(hidden)]
pub fn pinv_solve_for_bench(a: &[f64], b: &[f64], m: usize) -> Result<Vec<f64>> {
    if a.len() != m * m || b.len() != m {
        return Err(SalienceError::shape(
            "pinv system",
            format!("[{m}, {m}], [{m}]"),
            &[a.len(), b.len()],
        ));
    }
    pivoted_cholesky_pinv_solve(a, b, m, PINV_RTOL).ok_or_else(|| {
        SalienceError::solver(
            "pivoted Cholesky",
            salience_core::SolverStatus::Singular,
            "LᵀL does not factorise",
        )
    })
}

/// Minimum-norm solution of `A β = b` (`A` symmetric positive
/// semidefinite, row-major `m × m`) by diagonally pivoted Cholesky with
/// the factorisation stopped when the largest remaining pivot is at most
/// `rtol` times the largest diagonal entry (LAPACK `dpstrf`'s scheme).
/// `None` when `LᵀL` does not factorise (numerically hopeless input).
fn pivoted_cholesky_pinv_solve(a: &[f64], b: &[f64], m: usize, rtol: f64) -> Option<Vec<f64>> {
    let dmax = (0..m).map(|j| a[j * m + j]).fold(0f64, f64::max);
    if dmax <= 0.0 || dmax.is_nan() {
        // A = 0 (or no positive diagonal): the minimum-norm solution is 0.
        return Some(vec![0f64; m]);
    }
    let tol = dmax * rtol;
    let mut perm: Vec<usize> = (0..m).collect();
    // Remaining Schur-complement diagonal, in pivoted order.
    let mut d: Vec<f64> = (0..m).map(|j| a[j * m + j]).collect();
    // L in pivoted row order, row-major m × m (only the first r columns used).
    let mut l = vec![0f64; m * m];
    let mut r = 0;
    while r < m {
        let (p, dp) = (r..m)
            .map(|i| (i, d[i]))
            .fold(
                (r, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            );
        if dp <= tol {
            break;
        }
        if p != r {
            perm.swap(p, r);
            d.swap(p, r);
            for k in 0..r {
                l.swap(p * m + k, r * m + k);
            }
        }
        let lrr = dp.sqrt();
        l[r * m + r] = lrr;
        let pr = perm[r];
        for i in r + 1..m {
            let pi = perm[i];
            let mut s = a[pi * m + pr];
            for k in 0..r {
                s -= l[i * m + k] * l[r * m + k];
            }
            let lir = s / lrr;
            l[i * m + r] = lir;
            d[i] -= lir * lir;
        }
        r += 1;
    }
    if r == 0 {
        return Some(vec![0f64; m]);
    }
    // c = Lᵀ (P b), then (LᵀL) u = c, (LᵀL) v = u, y = L v, β = Pᵀ y.
    let mut c = vec![0f64; r];
    for i in 0..m {
        let bi = b[perm[i]];
        for k in 0..r.min(i + 1) {
            c[k] += l[i * m + k] * bi;
        }
    }
    let mut gram = vec![0f64; r * r];
    for i in 0..m {
        let row = &l[i * m..i * m + r.min(i + 1)];
        for (k, &lk) in row.iter().enumerate() {
            if lk == 0.0 {
                continue;
            }
            for (q, &lq) in row.iter().enumerate().skip(k) {
                gram[k * r + q] += lk * lq;
            }
        }
    }
    for k in 0..r {
        for q in 0..k {
            gram[k * r + q] = gram[q * r + k];
        }
    }
    let u = cholesky_solve(&gram, &c, r)?;
    let v = cholesky_solve(&gram, &u, r)?;
    let mut beta = vec![0f64; m];
    for i in 0..m {
        let y: f64 = (0..r.min(i + 1)).map(|k| l[i * m + k] * v[k]).sum();
        beta[perm[i]] = y;
    }
    Some(beta)
}

/// Cholesky solve of a symmetric matrix (nalgebra); `None` if a pivot
/// `L_jj²` is not clearly positive (relative 1e-10 of the largest
/// diagonal entry).
fn cholesky_solve(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    let dmax = (0..m).map(|j| a[j * m + j]).fold(0f64, f64::max);
    if dmax <= 0.0 {
        return None;
    }
    // `a` is symmetric: its row-major slice is its column-major one.
    let chol = Cholesky::new(DMatrix::from_column_slice(m, m, a))?;
    if !chol
        .l_dirty()
        .diagonal()
        .iter()
        .all(|l| l * l > dmax * 1e-10)
    {
        return None;
    }
    let mut beta = DVector::from_column_slice(b);
    chol.solve_mut(&mut beta);
    Some(beta.data.into())
}

/// Lasso by cyclic coordinate descent on the Gram form of
/// `(1 / (2 sw)) Σ w r² + λ‖β‖₁`.
fn lasso_cd(g: &[f64], b: &[f64], m: usize, sw: f64, lambda: f64) -> Vec<f64> {
    // grad_j = b_j − Σ_k G_jk β_k, kept up to date.
    let mut resid = b.to_vec();
    lasso_sweeps(
        m,
        &mut resid,
        |resid, j, old| {
            let gjj = g[j * m + j];
            if gjj <= 0.0 {
                return None;
            }
            let rho = (resid[j] + gjj * old) / sw;
            Some(soft_threshold(rho, lambda) / (gjj / sw))
        },
        |resid, j, delta| {
            for k in 0..m {
                resid[k] -= g[k * m + j] * delta;
            }
        },
    )
}

/// The sweeps of cyclic coordinate descent shared by the lasso solvers:
/// for j = 0..m, `step(state, j, β_j)` gives the new β_j (`None` skips the
/// coordinate) and, where β_j moved by δ ≠ 0, `apply(state, j, δ)` updates
/// the residuals; stops once the largest move is at most `LASSO_TOL` times
/// the largest coefficient (or all are 0), or after `LASSO_MAX_SWEEPS`.
fn lasso_sweeps<S: ?Sized>(
    m: usize,
    state: &mut S,
    step: impl Fn(&S, usize, f64) -> Option<f64>,
    apply: impl Fn(&mut S, usize, f64),
) -> Vec<f64> {
    let mut beta = vec![0f64; m];
    for _sweep in 0..LASSO_MAX_SWEEPS {
        let mut max_delta = 0f64;
        let mut max_beta = 0f64;
        for (j, b) in beta.iter_mut().enumerate() {
            let old = *b;
            let Some(new) = step(state, j, old) else {
                continue;
            };
            let delta = new - old;
            if delta != 0.0 {
                apply(state, j, delta);
                *b = new;
            }
            max_delta = max_delta.max(delta.abs());
            max_beta = max_beta.max(new.abs());
        }
        if max_beta == 0.0 || max_delta <= LASSO_TOL * max_beta {
            break;
        }
    }
    beta
}

/// Lasso by cyclic coordinate descent on the residuals of the centred
/// data, same objective and stopping rule as [`lasso_cd`].
#[allow(clippy::too_many_arguments)]
fn lasso_cd_residual(
    x: &[f64],
    n: usize,
    m: usize,
    y: &[f64],
    w: &[f64],
    xm: &[f64],
    ym: f64,
    sw: f64,
    lambda: f64,
) -> Vec<f64> {
    // Centred columns, column-major for contiguous access.
    let mut xc = vec![0f64; n * m];
    for k in 0..n {
        for j in 0..m {
            xc[j * n + k] = x[k * m + j] - xm[j];
        }
    }
    let norms: Vec<f64> = (0..m)
        .map(|j| {
            xc[j * n..(j + 1) * n]
                .iter()
                .zip(w)
                .map(|(v, wk)| wk * v * v)
                .sum::<f64>()
                / sw
        })
        .collect();
    let mut r: Vec<f64> = y.iter().map(|v| v - ym).collect();
    let col = |j: usize| &xc[j * n..(j + 1) * n];
    lasso_sweeps(
        m,
        r.as_mut_slice(),
        |r, j, old| {
            if norms[j] <= 0.0 {
                return None;
            }
            let rho = col(j)
                .iter()
                .zip(r)
                .zip(w)
                .map(|((c, rk), wk)| wk * c * rk)
                .sum::<f64>()
                / sw
                + norms[j] * old;
            Some(soft_threshold(rho, lambda) / norms[j])
        },
        |r, j, delta| {
            for (rk, c) in r.iter_mut().zip(col(j)) {
                *rk -= c * delta;
            }
        },
    )
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design() -> (Vec<f64>, usize, usize) {
        // 8 samples, 3 features, full rank.
        let x = vec![
            0., 0., 1., 1., 0., 0., 0., 1., 0., 1., 1., 0., 1., 0., 1., 0., 1., 1., 1., 1., 1., 0.,
            0., 0.,
        ];
        (x, 8, 3)
    }

    #[test]
    fn ols_recovers_exact_linear_function_with_weights() {
        let (x, n, m) = design();
        let y: Vec<f64> = (0..n)
            .map(|k| 1.5 + 2.0 * x[k * m] - 3.0 * x[k * m + 1] + 0.5 * x[k * m + 2])
            .collect();
        let w: Vec<f64> = (0..n).map(|k| 0.1 + k as f64).collect();
        let f = fit_weighted(&x, n, m, &y, &w, Surrogate::LinearRegression, true).unwrap();
        for (c, e) in f.coefficients.iter().zip([2.0, -3.0, 0.5]) {
            assert!((c - e).abs() < 1e-10, "{c} vs {e}");
        }
        assert!((f.intercept - 1.5).abs() < 1e-10);
    }

    #[test]
    fn ols_min_norm_on_duplicate_columns() {
        // Two identical columns: the min-norm solution splits the effect.
        let x = vec![0., 0., 1., 1., 0., 0., 1., 1.];
        let y = vec![0., 4., 0., 4.];
        let w = vec![1.0; 4];
        let f = fit_weighted(&x, 4, 2, &y, &w, Surrogate::LinearRegression, true).unwrap();
        assert!((f.coefficients[0] - 2.0).abs() < 1e-8 && (f.coefficients[1] - 2.0).abs() < 1e-8);
    }

    #[test]
    fn ridge_matches_closed_form_one_feature() {
        // One centred feature: β = Σw x y / (Σw x² + λ).
        let x = vec![-1., 1., -1., 1.];
        let y = vec![-2., 2., -2., 2.];
        let w = vec![1.0; 4];
        let f = fit_weighted(&x, 4, 1, &y, &w, Surrogate::Ridge { lambda: 4.0 }, true).unwrap();
        assert!((f.coefficients[0] - 8.0 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn lasso_matches_soft_threshold_on_orthogonal_design() {
        // Orthogonal centred columns with Σx² = n: β_j = S(ρ_j, λ) where ρ_j = Σxy/n.
        let x = vec![1., 1., 1., -1., -1., 1., -1., -1.];
        let y = vec![3., 1., -1., -3.]; // = 2 x0 + 1 x1
        let w = vec![1.0; 4];
        let f = fit_weighted(&x, 4, 2, &y, &w, Surrogate::Lasso { lambda: 0.5 }, true).unwrap();
        assert!(
            (f.coefficients[0] - 1.5).abs() < 1e-9,
            "{:?}",
            f.coefficients
        );
        assert!((f.coefficients[1] - 0.5).abs() < 1e-9);
        let f = fit_weighted(&x, 4, 2, &y, &w, Surrogate::Lasso { lambda: 1.5 }, true).unwrap();
        assert!((f.coefficients[0] - 0.5).abs() < 1e-9 && f.coefficients[1] == 0.0);
    }

    #[test]
    fn dual_path_gives_the_minimum_norm_and_ridge_solutions() {
        // 3 samples, 5 features (n < m): compare with the primal solvers.
        let x = vec![1., 0., 1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 0., 1., 0.];
        let y = vec![1.0, -2.0, 0.5];
        let w = vec![1.0, 2.0, 0.5];
        for s in [
            Surrogate::LinearRegression,
            Surrogate::Ridge { lambda: 0.3 },
        ] {
            let dual = fit_weighted(&x, 3, 5, &y, &w, s, true).unwrap();
            // Primal on the same data: pad to n ≥ m with zero-weight rows.
            let mut xp = x.clone();
            xp.extend(std::iter::repeat_n(0.0, 15));
            let mut yp = y.clone();
            yp.extend([0.0; 3]);
            let mut wp = w.clone();
            wp.extend([0.0; 3]);
            let primal = fit_weighted(&xp, 6, 5, &yp, &wp, s, true).unwrap();
            for (a, b) in dual.coefficients.iter().zip(&primal.coefficients) {
                assert!((a - b).abs() < 1e-9, "{s:?}: {a} vs {b}");
            }
            assert!((dual.intercept - primal.intercept).abs() < 1e-9);
        }
    }

    #[test]
    fn residual_lasso_equals_gram_lasso() {
        let x = vec![
            1., 0., 1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 0., 1., 0., 0., 0., 1., 1., 1.,
        ];
        let y = vec![1.0, -2.0, 0.5, 3.0];
        let w = vec![1.0, 2.0, 0.5, 1.5];
        let s = Surrogate::Lasso { lambda: 0.05 };
        let few = fit_weighted(&x, 4, 5, &y, &w, s, true).unwrap();
        let mut xp = x.clone();
        xp.extend(std::iter::repeat_n(0.0, 10));
        let (mut yp, mut wp) = (y.clone(), w.clone());
        yp.extend([0.0; 2]);
        wp.extend([0.0; 2]);
        let gram = fit_weighted(&xp, 6, 5, &yp, &wp, s, true).unwrap();
        for (a, b) in few.coefficients.iter().zip(&gram.coefficients) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        assert!(few.coefficients.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn pivoted_cholesky_pinv_equals_eigen_pinv_on_rank_deficient_grams() {
        use rand::RngExt;
        let mut rng = salience_core::seed::rng(11);
        for (m, rank) in [(6usize, 3usize), (20, 11), (48, 31), (5, 1)] {
            // G = B Bᵀ with B m × rank: positive semidefinite of that rank.
            let bm: Vec<f64> = (0..m * rank).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut g = vec![0f64; m * m];
            for i in 0..m {
                for j in 0..m {
                    g[i * m + j] = (0..rank).map(|k| bm[i * rank + k] * bm[j * rank + k]).sum();
                }
            }
            let rhs: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
            assert!(cholesky_solve(&g, &rhs, m).is_none(), "m {m} rank {rank}");
            let fast = pivoted_cholesky_pinv_solve(&g, &rhs, m, PINV_RTOL).unwrap();
            let slow = eigen_pinv_solve(&g, &rhs, m);
            let scale = slow.iter().fold(0f64, |a, v| a.max(v.abs()));
            for (f, s) in fast.iter().zip(&slow) {
                assert!(
                    (f - s).abs() <= 1e-8 * scale.max(1.0),
                    "m {m} rank {rank}: {f} vs {s}"
                );
            }
        }
        // The zero matrix: the minimum-norm solution is zero.
        let z = pivoted_cholesky_pinv_solve(&[0.0; 4], &[1.0, 2.0], 2, PINV_RTOL).unwrap();
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn eigen_pinv_inverts_a_full_rank_matrix() {
        // Was `jacobi_reconstructs_matrix`: the eigendecomposition is now
        // nalgebra's, so check what it is used for, A (A⁺ b) = b.
        let a = vec![4., 1., 2., 1., 3., 0., 2., 0., 5.];
        let b = [1.0, -2.0, 0.5];
        let x = eigen_pinv_solve(&a, &b, 3);
        for i in 0..3 {
            let r: f64 = (0..3).map(|k| a[i * 3 + k] * x[k]).sum();
            assert!((r - b[i]).abs() < 1e-10);
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let x = vec![1.0, 0.0];
        let y = vec![1.0, 0.0];
        assert!(
            fit_weighted(&x, 2, 1, &y, &[0.0, 0.0], Surrogate::LinearRegression, true).is_err()
        );
        assert!(fit_weighted(
            &x,
            2,
            1,
            &y,
            &[1.0, 1.0],
            Surrogate::Ridge { lambda: -1.0 },
            true
        )
        .is_err());
        assert!(fit_weighted(
            &x,
            2,
            1,
            &y,
            &[1.0, f64::NAN],
            Surrogate::LinearRegression,
            true
        )
        .is_err());
    }

    #[test]
    fn zero_sample_weights_are_a_typed_singular_system() {
        let x = vec![1.0, 0.0];
        let y = vec![1.0, 0.0];
        let e = fit_weighted(&x, 2, 1, &y, &[0.0, 0.0], Surrogate::LinearRegression, true);
        assert!(
            matches!(
                e,
                Err(SalienceError::Solver {
                    solver: "weighted least squares",
                    status: salience_core::SolverStatus::Singular,
                    ..
                })
            ),
            "{e:?}"
        );
    }
}
