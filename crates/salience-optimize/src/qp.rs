//! The aggregation QP: minimize wᵀGw subject to w ≥ 0, Σw = 1, solved with
//! clarabel and polished on its active set.

use crate::gram::Gram;
use crate::query::{check_finite_f64, check_gram_matrix, overflow_checked};
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus as ClarabelStatus,
    ZeroConeT,
};
use nalgebra::{Cholesky, DMatrix, DVector, Dyn};
use ndarray::{Array2, ArrayView2};
use salience_core::{Result, SalienceError, SolverStatus};

/// Convex aggregation weights: k values, each ≥ 0, summing to 1 (up to one
/// rounding of the final renormalization).
///
/// ```
/// use salience_optimize::Weights;
/// let w = Weights::uniform(4).unwrap();
/// assert_eq!(w.as_slice(), &[0.25; 4]);
/// assert!(Weights::new(vec![0.5, 0.6]).is_err());
/// assert!(Weights::new(vec![-0.1, 1.1]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    values: Vec<f64>,
}

impl Weights {
    /// Validates weights given by the caller: k ≥ 1, finite, ≥ 0 and
    /// |Σw − 1| ≤ 1e-9; they are then renormalized to sum to 1.
    ///
    /// ```
    /// let w = salience_optimize::Weights::new(vec![0.25, 0.75]).unwrap();
    /// assert_eq!(w.len(), 2);
    /// ```
    pub fn new(values: Vec<f64>) -> Result<Weights> {
        if values.is_empty() {
            return Err(SalienceError::Empty("weights with k = 0".into()));
        }
        check_finite_f64(values.iter().copied(), "weights")?;
        if let Some(v) = values.iter().find(|&&v| v < 0.0) {
            return Err(SalienceError::invalid("weights", v, "must be ≥ 0"));
        }
        let s: f64 = values.iter().sum();
        if (s - 1.0).abs() > 1e-9 {
            return Err(SalienceError::invalid("sum of weights", s, "must be 1"));
        }
        Ok(Weights {
            values: values.into_iter().map(|v| v / s).collect(),
        })
    }

    /// Uniform weights 1/k (AGG_mean).
    ///
    /// ```
    /// assert!(salience_optimize::Weights::uniform(0).is_err());
    /// ```
    pub fn uniform(k: usize) -> Result<Weights> {
        if k == 0 {
            return Err(SalienceError::Empty("weights with k = 0".into()));
        }
        Ok(Weights {
            values: vec![1.0 / k as f64; k],
        })
    }

    /// The weights.
    ///
    /// ```
    /// assert_eq!(salience_optimize::Weights::uniform(1).unwrap().as_slice(), &[1.0]);
    /// ```
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// The weights, by value.
    ///
    /// ```
    /// assert_eq!(salience_optimize::Weights::uniform(2).unwrap().into_vec(), vec![0.5, 0.5]);
    /// ```
    pub fn into_vec(self) -> Vec<f64> {
        self.values
    }

    /// k.
    ///
    /// ```
    /// assert_eq!(salience_optimize::Weights::uniform(3).unwrap().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false (k ≥ 1 is validated).
    ///
    /// ```
    /// assert!(!salience_optimize::Weights::uniform(3).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Builds weights from a solver iterate: negatives are clipped to 0 and
    /// the rest renormalized to sum to 1.
    pub(crate) fn from_clipped(mut values: Vec<f64>) -> Result<Weights> {
        values.iter_mut().for_each(|v| *v = v.max(0.0));
        let s: f64 = values.iter().sum();
        if !(s.is_finite() && s > 0.0) {
            return Err(SalienceError::solver(
                "clarabel",
                SolverStatus::InvalidSolution,
                format!("the solution has no positive weight (sum {s})"),
            ));
        }
        values.iter_mut().for_each(|v| *v /= s);
        Ok(Weights { values })
    }
}

/// Settings of the QP solve. The defaults are the documented choices of the
/// crate; they rarely need changing.
///
/// ```
/// use salience_optimize::QpSettings;
/// let s = QpSettings::default();
/// assert_eq!(s.ridge, 1e-12);
/// assert!(s.polish);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QpSettings {
    /// Relative ridge: `ridge · G_ii` is added to each diagonal entry of G
    /// (`ridge · I` on the Jacobi-equilibrated G, whose diagonal is 1) so
    /// that a singular G (duplicated or linearly dependent methods) gives a
    /// unique, well-defined solution. Being relative to each method's own
    /// error variance, it moves the weights by O(ridge) relatively however
    /// far the variances are spread (a ridge relative to trace(G)/k moved
    /// them by 1.35·10⁻³ when the variances spanned 12 orders of
    /// magnitude, issue 24). It changes the optimal objective by at most
    /// `ridge · max_i G_ii`. Must lie in [0, 1]; default 1e-12. Exact
    /// duplicates share their total weight equally in exact arithmetic; in
    /// f64 only the ridge tells them apart, so the split is equal only to
    /// ~1e-4 (the aggregate map, which is what matters, does not depend on
    /// the split).
    pub ridge: f64,
    /// clarabel's gap and feasibility tolerances (absolute and relative).
    /// Default 1e-10.
    pub tolerance: f64,
    /// clarabel's iteration limit. Default 200.
    pub max_iter: u32,
    /// Refine clarabel's interior-point iterate by solving the
    /// equality-constrained QP exactly on its support and checking the KKT
    /// conditions (a few active-set steps if needed). Default true.
    pub polish: bool,
    /// G is rejected as not positive semidefinite when
    /// D^{-1/2} G D^{-1/2} + tol·I is not positive definite (D = diag(G),
    /// so the equilibrated matrix has unit diagonal and the tolerance is
    /// relative to each method's own scale). Must lie in [0, 10⁻³]: a larger
    /// tolerance would accept clearly indefinite matrices (with tol ≥ 1,
    /// any symmetric matrix with a positive diagonal and off-diagonal
    /// correlations ≤ 1). Default 1e-9.
    pub psd_tolerance: f64,
}

impl Default for QpSettings {
    fn default() -> Self {
        QpSettings {
            ridge: 1e-12,
            tolerance: 1e-10,
            max_iter: 200,
            polish: true,
            psd_tolerance: 1e-9,
        }
    }
}

/// Largest accepted [`QpSettings::ridge`].
pub const MAX_RIDGE: f64 = 1.0;
/// Largest accepted [`QpSettings::psd_tolerance`].
pub const MAX_PSD_TOLERANCE: f64 = 1e-3;

impl QpSettings {
    fn validate(&self) -> Result<()> {
        let in_range = |name: &str, v: f64, max: f64, reason: &str| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(SalienceError::invalid(name, v, reason))
            }
        };
        in_range("ridge", self.ridge, MAX_RIDGE, "must lie in [0, 1]")?;
        in_range(
            "psd_tolerance",
            self.psd_tolerance,
            MAX_PSD_TOLERANCE,
            "must lie in [0, 1e-3] (it is relative to each method's error variance)",
        )?;
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(SalienceError::invalid(
                "tolerance",
                self.tolerance,
                "must be finite and > 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(SalienceError::invalid("max_iter", 0, "must be ≥ 1"));
        }
        Ok(())
    }
}

/// How a [`QpSolution`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QpStatus {
    /// clarabel converged to its tolerances.
    Solved,
    /// clarabel converged to its reduced ("almost") tolerances.
    AlmostSolved,
    /// No solve was needed: k = 1, every error is 0, or G = 0 (every w is
    /// optimal and uniform weights are returned).
    Trivial,
    /// The global minimum of a non-convex objective, by enumerating the
    /// supports ([`crate::global_minimum`]).
    Enumerated,
}

impl std::fmt::Display for QpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QpStatus::Solved => "Solved",
            QpStatus::AlmostSolved => "AlmostSolved",
            QpStatus::Trivial => "Trivial",
            QpStatus::Enumerated => "Enumerated",
        })
    }
}

/// The solution of the aggregation QP with solver details.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{solve_qp, QpSettings};
/// let sol = solve_qp(array![[1.0, 0.0], [0.0, 1.0]].view(), &QpSettings::default()).unwrap();
/// assert!((sol.weights.as_slice()[0] - 0.5).abs() < 1e-12);
/// assert!((sol.objective - 0.5).abs() < 1e-12);
/// assert_eq!(sol.status, salience_optimize::QpStatus::Solved);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct QpSolution {
    /// The optimal weights.
    pub weights: Weights,
    /// wᵀGw for the returned weights and the symmetrized G (no ridge).
    pub objective: f64,
    /// How the weights were obtained.
    pub status: QpStatus,
    /// clarabel's iteration count (0 when not called).
    pub iterations: u32,
    /// Whether the active-set polish produced the returned weights (when
    /// false they are clarabel's iterate, clipped and renormalized).
    pub polished: bool,
}

/// Optimal convex weights for G with the default [`QpSettings`]:
/// argmin_{w ≥ 0, Σw = 1} wᵀGw.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{optimal_weights, Gram};
/// // Method 0 has twice the error of method 1; errors are independent.
/// let g = Gram::from_matrix(array![[2.0, 0.0], [0.0, 1.0]])?;
/// let w = optimal_weights(&g)?;
/// assert!((w.as_slice()[0] - 1.0 / 3.0).abs() < 1e-9);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn optimal_weights(gram: &Gram) -> Result<Weights> {
    Ok(solve_qp(gram.matrix(), &QpSettings::default())?.weights)
}

/// Solves min wᵀGw s.t. w ≥ 0, Σw = 1 for a k×k G.
///
/// Procedure (all in f64):
/// 1. validate: square, k ≥ 1, finite; symmetrize G ← (G + Gᵀ)/2;
/// 2. k = 1 → `[1.0]` without calling the solver; G = 0 → uniform weights;
/// 3. Jacobi equilibration: with D = diag(G) (a zero diagonal entry, whose
///    row must then be zero, is given scale 1), S = D^{-1/2} G D^{-1/2}
///    has unit diagonal (weights do not depend on how each method's errors
///    are scaled); reject G if S + psd_tolerance·I is not positive
///    definite, or if a diagonal entry is negative;
/// 4. methods with zero error (G_ii = 0) make the optimum 0: uniform
///    weights on them are returned ([`QpStatus::Trivial`]);
/// 5. substitute w_i = c_i v_i with c_i = √(d_min/G_ii) ∈ (0, 1]: the
///    problem becomes min vᵀ(S + ridge·I)v s.t. cᵀv = 1, v ≥ 0, solved by
///    clarabel (P = 2(S + ridge·I), q = 0, constraints `[cᵀ; −I] v + s =
///    [1; 0]` with cones `ZeroConeT(1) × NonnegativeConeT(k)`); any status
///    other than `Solved`/`AlmostSolved` is a [`SalienceError::Solver`]
///    whose [`SolverStatus`] is mapped from clarabel's (infeasible,
///    iteration or time limit, numerical error, insufficient progress);
/// 6. polish (default): take the support {i : v_i > 1e-7·max v}, solve the
///    equality-constrained QP on it exactly (nalgebra's Cholesky), and check primal
///    (v ≥ 0) and dual (μ_i = 2(Sv)_i − ν c_i ≥ −1e-9) feasibility, adding
///    or dropping one index per step for at most 2k steps; if that fails
///    the clarabel iterate is used;
/// 7. finally w = c ∘ v, negatives (at most rounding-size) are clipped to 0
///    and the weights divided by their sum, so they lie exactly on the
///    simplex up to one rounding.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{solve_qp, QpSettings};
/// let s = QpSettings::default();
/// assert_eq!(solve_qp(array![[3.0]].view(), &s).unwrap().weights.as_slice(), &[1.0]);
/// assert!(solve_qp(array![[1.0, 0.0]].view(), &s).is_err());
/// assert!(solve_qp(array![[1.0, 0.0], [0.0, -1.0]].view(), &s).is_err());
/// ```
pub fn solve_qp(g: ArrayView2<'_, f64>, settings: &QpSettings) -> Result<QpSolution> {
    settings.validate()?;
    let r = check_gram_matrix(g)?;
    let k = r;
    let sym: Array2<f64> = &g * 0.5 + &g.t() * 0.5;
    let objective =
        |w: &Weights| overflow_checked(crate::gram::quad(&sym, w.as_slice()), "QP objective");
    let trivial = |weights: Weights| -> Result<QpSolution> {
        Ok(QpSolution {
            objective: objective(&weights)?,
            weights,
            status: QpStatus::Trivial,
            iterations: 0,
            polished: false,
        })
    };
    if k == 1 {
        return trivial(Weights { values: vec![1.0] });
    }
    if sym.iter().all(|&v| v == 0.0) {
        return trivial(Weights::uniform(k)?);
    }
    let diag: Vec<f64> = sym.diag().to_vec();
    if let Some(&d) = diag.iter().find(|&&d| d < 0.0) {
        return Err(not_psd(d));
    }
    // D^{-1/2}, with scale 1 for a zero diagonal entry.
    let inv_sqrt: Vec<f64> = diag
        .iter()
        .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 1.0 })
        .collect();
    // S_ij = G_ij / √G_ii / √G_jj (no product of diagonals: no overflow).
    let equilibrated =
        Array2::from_shape_fn((k, k), |(i, j)| sym[[i, j]] * inv_sqrt[i] * inv_sqrt[j]);
    let probe = DMatrix::from_fn(k, k, |i, j| {
        equilibrated[[i, j]] + if i == j { settings.psd_tolerance } else { 0.0 }
    });
    if cholesky(probe).is_none() {
        return Err(not_psd(diag.iter().copied().fold(f64::INFINITY, f64::min)));
    }
    let zero_error: Vec<usize> = (0..k).filter(|&i| diag[i] == 0.0).collect();
    if !zero_error.is_empty() {
        let mut values = vec![0.0; k];
        for &i in &zero_error {
            values[i] = 1.0 / zero_error.len() as f64;
        }
        return trivial(Weights { values });
    }
    // c_i = √(d_min / G_ii) ∈ (0, 1]: w = c ∘ v keeps v of order 1.
    let d_min = diag.iter().copied().fold(f64::INFINITY, f64::min);
    let c: Vec<f64> = inv_sqrt.iter().map(|&s| s * d_min.sqrt()).collect();
    let mut p = equilibrated;
    p.diag_mut().mapv_inplace(|v| v + settings.ridge);

    let (x, status, iterations) = clarabel_solve(&p, &c, settings)?;
    let (v, polished) = if settings.polish {
        match polish(&p, &c, &x) {
            Some(v) => (v, true),
            None => (x, false),
        }
    } else {
        (x, false)
    };
    let values: Vec<f64> = v.iter().zip(&c).map(|(v, c)| v * c).collect();
    let weights = Weights::from_clipped(values)?;
    Ok(QpSolution {
        objective: objective(&weights)?,
        weights,
        status,
        iterations,
        polished,
    })
}

fn not_psd(min_diag: f64) -> SalienceError {
    SalienceError::invalid(
        "Gram matrix",
        format!("smallest diagonal entry {min_diag}"),
        "must be symmetric positive semidefinite (a Gram matrix or a λ ≥ 0 sum of them)",
    )
}

/// Runs clarabel on min ½vᵀ(2P)v s.t. cᵀv = 1, v ≥ 0.
fn clarabel_solve(
    p: &Array2<f64>,
    c: &[f64],
    settings: &QpSettings,
) -> Result<(Vec<f64>, QpStatus, u32)> {
    let k = p.nrows();
    // Upper triangle of 2P in CSC (column-major, rows ascending).
    let mut colptr = Vec::with_capacity(k + 1);
    let mut rowval = Vec::with_capacity(k * (k + 1) / 2);
    let mut nzval = Vec::with_capacity(k * (k + 1) / 2);
    colptr.push(0);
    for j in 0..k {
        for i in 0..=j {
            rowval.push(i);
            nzval.push(2.0 * p[[i, j]]);
        }
        colptr.push(rowval.len());
    }
    let pm = CscMatrix::new(k, k, colptr, rowval, nzval);
    // A = [cᵀ; −I]: column j has c_j in row 0 and −1 in row 1 + j.
    let mut a_colptr = Vec::with_capacity(k + 1);
    let mut a_rowval = Vec::with_capacity(2 * k);
    let mut a_nzval = Vec::with_capacity(2 * k);
    a_colptr.push(0);
    for (j, &cj) in c.iter().enumerate() {
        a_rowval.extend([0, 1 + j]);
        a_nzval.extend([cj, -1.0]);
        a_colptr.push(a_rowval.len());
    }
    let am = CscMatrix::new(k + 1, k, a_colptr, a_rowval, a_nzval);
    let q = vec![0.0; k];
    let mut b = vec![0.0; k + 1];
    b[0] = 1.0;
    let cones = [ZeroConeT(1), NonnegativeConeT(k)];
    let s = DefaultSettings::<f64> {
        verbose: false,
        max_iter: settings.max_iter,
        tol_gap_abs: settings.tolerance,
        tol_gap_rel: settings.tolerance,
        tol_feas: settings.tolerance,
        ..Default::default()
    };
    let mut solver = DefaultSolver::new(&pm, &q, &am, &b, &cones, s)
        .map_err(|e| SalienceError::solver("clarabel", SolverStatus::SetupFailed, e.to_string()))?;
    solver.solve();
    let sol = &solver.solution;
    match sol.status {
        ClarabelStatus::Solved | ClarabelStatus::AlmostSolved => {}
        other => {
            return Err(SalienceError::solver(
                "clarabel",
                solver_status(other),
                format!(
                    "clarabel status {other} after {} iterations",
                    sol.iterations
                ),
            ))
        }
    }
    if sol.x.len() != k || sol.x.iter().any(|v| !v.is_finite()) {
        return Err(SalienceError::solver(
            "clarabel",
            SolverStatus::NumericalError,
            format!(
                "clarabel returned a non-finite solution (status {})",
                sol.status
            ),
        ));
    }
    let status = match sol.status {
        ClarabelStatus::Solved => QpStatus::Solved,
        _ => QpStatus::AlmostSolved,
    };
    Ok((sol.x.clone(), status, sol.iterations))
}

/// The typed status of a clarabel termination other than `Solved` /
/// `AlmostSolved`.
fn solver_status(s: ClarabelStatus) -> SolverStatus {
    match s {
        ClarabelStatus::PrimalInfeasible
        | ClarabelStatus::DualInfeasible
        | ClarabelStatus::AlmostPrimalInfeasible
        | ClarabelStatus::AlmostDualInfeasible => SolverStatus::Infeasible,
        ClarabelStatus::MaxIterations => SolverStatus::MaxIterations,
        ClarabelStatus::MaxTime => SolverStatus::MaxTime,
        ClarabelStatus::NumericalError => SolverStatus::NumericalError,
        ClarabelStatus::InsufficientProgress => SolverStatus::InsufficientProgress,
        ClarabelStatus::Unsolved
        | ClarabelStatus::CallbackTerminated
        | ClarabelStatus::Solved
        | ClarabelStatus::AlmostSolved => SolverStatus::Other,
    }
}

/// Active-set polish of an interior-point iterate `x` for min vᵀPv s.t.
/// cᵀv = 1, v ≥ 0 (P positive definite with unit-order diagonal). Returns
/// a point satisfying the KKT conditions to ~1e-9, or None.
fn polish(p: &Array2<f64>, c: &[f64], x: &[f64]) -> Option<Vec<f64>> {
    let k = x.len();
    let xmax = x.iter().copied().fold(0.0f64, f64::max);
    let mut support: Vec<bool> = x.iter().map(|&v| v > 1e-7 * xmax).collect();
    for _ in 0..2 * k {
        let idx: Vec<usize> = (0..k).filter(|&i| support[i]).collect();
        if idx.is_empty() {
            return None;
        }
        let w_s = solve_on_support(p, c, &idx)?;
        // Primal feasibility: drop the most negative weight.
        if let Some((pos, _)) = w_s
            .iter()
            .enumerate()
            .filter(|&(_, &v)| v < 0.0)
            .min_by(|a, b| a.1.total_cmp(b.1))
        {
            support[idx[pos]] = false;
            continue;
        }
        let mut w = vec![0.0; k];
        for (&i, &v) in idx.iter().zip(&w_s) {
            w[i] = v;
        }
        // Dual: 2(Pw)_i = ν c_i on the support, so ν = 2wᵀPw (cᵀw = 1);
        // μ_j = 2(Pw)_j − ν c_j off it.
        let pw: Vec<f64> = p
            .outer_iter()
            .map(|row| row.iter().zip(&w).map(|(a, b)| a * b).sum())
            .collect();
        let nu = 2.0 * idx.iter().map(|&i| pw[i] * w[i]).sum::<f64>();
        let worst = (0..k)
            .filter(|&j| !support[j])
            .map(|j| (j, 2.0 * pw[j] - nu * c[j]))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((j, mu)) if mu < -1e-9 => support[j] = true,
            _ => return Some(w),
        }
    }
    None
}

/// Minimizes vᵀP_SS v s.t. c_Sᵀv = 1: v = P_SS⁻¹c_S / (c_Sᵀ P_SS⁻¹ c_S).
fn solve_on_support(p: &Array2<f64>, c: &[f64], idx: &[usize]) -> Option<Vec<f64>> {
    let n = idx.len();
    let sub = DMatrix::from_fn(n, n, |a, b| p[[idx[a], idx[b]]]);
    let l = cholesky(sub.clone())?;
    let rhs = DVector::from_iterator(n, idx.iter().map(|&i| c[i]));
    let mut u = l.solve(&rhs);
    // One step of iterative refinement.
    u += l.solve(&(&rhs - &sub * &u));
    let s = u.dot(&rhs);
    if !(s.is_finite() && s > 0.0) {
        return None;
    }
    Some(u.iter().map(|v| v / s).collect())
}

/// nalgebra's Cholesky factorisation, or None if `a` is not (numerically)
/// positive definite: a pivot that is ≤ 0, NaN or infinite.
fn cholesky(a: DMatrix<f64>) -> Option<Cholesky<f64, Dyn>> {
    let chol = Cholesky::new(a)?;
    let diag = chol.l_dirty().diagonal();
    diag.iter()
        .all(|d| d.is_finite() && *d > 0.0)
        .then_some(chol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clarabel_statuses_map_to_typed_statuses() {
        for (c, t) in [
            (ClarabelStatus::PrimalInfeasible, SolverStatus::Infeasible),
            (ClarabelStatus::DualInfeasible, SolverStatus::Infeasible),
            (
                ClarabelStatus::AlmostPrimalInfeasible,
                SolverStatus::Infeasible,
            ),
            (
                ClarabelStatus::AlmostDualInfeasible,
                SolverStatus::Infeasible,
            ),
            (ClarabelStatus::MaxIterations, SolverStatus::MaxIterations),
            (ClarabelStatus::MaxTime, SolverStatus::MaxTime),
            (ClarabelStatus::NumericalError, SolverStatus::NumericalError),
            (
                ClarabelStatus::InsufficientProgress,
                SolverStatus::InsufficientProgress,
            ),
            (ClarabelStatus::Unsolved, SolverStatus::Other),
            (ClarabelStatus::CallbackTerminated, SolverStatus::Other),
        ] {
            assert_eq!(solver_status(c), t, "{c:?}");
        }
    }

    #[test]
    fn clipped_weights_without_a_positive_entry_are_an_invalid_solution() {
        match Weights::from_clipped(vec![-1.0, 0.0]) {
            Err(SalienceError::Solver {
                solver: "clarabel",
                status: SolverStatus::InvalidSolution,
                detail,
            }) => assert!(detail.contains("no positive weight"), "{detail}"),
            other => panic!("expected an invalid solution, got {other:?}"),
        }
    }
}
