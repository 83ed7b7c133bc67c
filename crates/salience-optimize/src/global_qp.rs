//! The global minimum of wᵀGw on the simplex for an *indefinite* G.
//!
//! Some generalized L2 metrics of App. B enter the objective with a negative
//! sign (the randomisation sanity check, [`crate::randomization_grams`]), so
//! G — or a λ-weighted sum containing such a term — need not be positive
//! semidefinite and the QP is no longer convex: clarabel does not apply and
//! [`crate::solve_qp`] rejects it.
//!
//! [`global_minimum`] solves the non-convex problem exactly by enumerating
//! supports. Every point of the simplex lies in the relative interior of
//! exactly one face F_S = {w ≥ 0, Σw = 1, w_i = 0 for i ∉ S}. If the global
//! minimizer w* lies in the relative interior of F_S, it is a stationary
//! point of wᵀG_S w on the affine hull of F_S, i.e. it solves the KKT system
//!
//! ```text
//! [ 2G_S  1 ] [ w ]   [ 0 ]
//! [ 1ᵀ    0 ] [ ν ] = [ 1 ]
//! ```
//!
//! When that system is singular the restricted quadratic is not strictly
//! convex on F_S's affine hull, and its minimum over the (compact) face is
//! also attained on the face's relative boundary, i.e. on a smaller face. So
//! the minimum over all feasible (w ≥ 0) stationary points of all 2^k − 1
//! supports — the vertices (|S| = 1) are always among them — is the global
//! minimum. The cost is O(2^k k³); k is limited to [`MAX_K_GLOBAL`].
//! For a positive semidefinite G the result equals [`crate::solve_qp`]'s
//! optimum (tested).

use crate::gram::quad;
use crate::qp::{QpSolution, QpStatus, Weights};
use crate::query::check_gram_matrix;
use ndarray::{Array2, ArrayView2};
use salience_core::{Result, SalienceError};

/// The largest k [`global_minimum`] accepts (2^16 supports).
pub const MAX_K_GLOBAL: usize = 16;

/// The global minimizer of wᵀGw s.t. w ≥ 0, Σw = 1 for any symmetric G
/// (G is symmetrized first), by exhaustive support enumeration.
///
/// Every point of the simplex lies in the relative interior of exactly one
/// face F_S = {w ≥ 0, Σw = 1, w_i = 0 for i ∉ S}. A minimizer in the
/// relative interior of F_S is a stationary point of wᵀG_S w on the face's
/// affine hull, i.e. it solves [2G_S 1; 1ᵀ 0][w; ν] = [0; 1]; when that
/// system is singular the minimum over the face is also attained on a
/// smaller face. So the best feasible (w ≥ 0) stationary point over all
/// 2^k − 1 supports (the vertices among them) is the global minimum, at
/// O(2^k k³) cost (k ≤ [`MAX_K_GLOBAL`]). For a positive semidefinite G it
/// equals [`crate::solve_qp`]'s optimum. Ties between supports are broken
/// towards the first support in bitmask order, so the result is
/// deterministic.
///
/// The returned [`QpSolution`] has status
/// [`QpStatus::Enumerated`](crate::QpStatus::Enumerated) and `iterations` =
/// the number of supports examined.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::global_minimum;
/// // Concave: the minimum is the vertex with the smallest diagonal entry.
/// let sol = global_minimum(array![[-1.0, 0.0], [0.0, -3.0]].view())?;
/// assert_eq!(sol.weights.as_slice(), &[0.0, 1.0]);
/// assert_eq!(sol.objective, -3.0);
/// // Convex: the same answer as the QP.
/// let sol = global_minimum(array![[2.0, 0.0], [0.0, 1.0]].view())?;
/// assert!((sol.weights.as_slice()[0] - 1.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn global_minimum(g: ArrayView2<'_, f64>) -> Result<QpSolution> {
    let r = check_gram_matrix(g)?;
    if r > MAX_K_GLOBAL {
        return Err(SalienceError::invalid(
            "k",
            r,
            &format!(
                "the exact non-convex solve enumerates 2^k supports; k ≤ {MAX_K_GLOBAL} \
                 (for a positive semidefinite G use solve_qp)"
            ),
        ));
    }
    let k = r;
    let sym: Array2<f64> = &g * 0.5 + &g.t() * 0.5;
    let scale = sym.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        let weights = Weights::uniform(k)?;
        return Ok(QpSolution {
            weights,
            objective: 0.0,
            status: QpStatus::Trivial,
            iterations: 0,
            polished: false,
        });
    }
    let p = sym.mapv(|v| v / scale);
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut idx = Vec::with_capacity(k);
    let n_supports: u32 = (1u32 << k) - 1;
    for mask in 1..=n_supports {
        idx.clear();
        idx.extend((0..k).filter(|&i| mask & (1 << i) != 0));
        let Some(ws) = stationary_on_support(&p, &idx) else {
            continue;
        };
        if ws.iter().any(|&v| v < -1e-12) {
            continue;
        }
        let mut w = vec![0.0; k];
        for (&i, &v) in idx.iter().zip(&ws) {
            w[i] = v.max(0.0);
        }
        let s: f64 = w.iter().sum();
        if !(s.is_finite() && s > 0.0) {
            continue;
        }
        w.iter_mut().for_each(|v| *v /= s);
        let obj = quad(&p, &w);
        let better = match &best {
            None => true,
            Some((b, _)) => obj < *b - 1e-13 * b.abs().max(1.0),
        };
        if better {
            best = Some((obj, w));
        }
    }
    let (_, w) = best.ok_or_else(|| {
        SalienceError::solver(
            "support enumeration",
            salience_core::SolverStatus::NumericalError,
            "no support gave a finite stationary point",
        )
    })?;
    let weights = Weights::new(w)?;
    let objective = quad(&sym, weights.as_slice());
    Ok(QpSolution {
        weights,
        objective,
        status: QpStatus::Enumerated,
        iterations: n_supports,
        polished: false,
    })
}

/// Solves the KKT system of min wᵀP_S w s.t. Σw = 1 on the support `idx` by
/// Gaussian elimination with partial pivoting; `None` when it is singular.
fn stationary_on_support(p: &Array2<f64>, idx: &[usize]) -> Option<Vec<f64>> {
    let s = idx.len();
    let n = s + 1;
    // Augmented matrix [A | b], row-major, n × (n + 1).
    let mut a = vec![0.0f64; n * (n + 1)];
    for (r, &i) in idx.iter().enumerate() {
        for (c, &j) in idx.iter().enumerate() {
            a[r * (n + 1) + c] = 2.0 * p[[i, j]];
        }
        a[r * (n + 1) + s] = 1.0;
        a[s * (n + 1) + r] = 1.0;
    }
    a[s * (n + 1) + n] = 1.0;
    let norm = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tiny = 1e-12 * norm.max(1.0);
    for col in 0..n {
        let piv = (col..n).max_by(|&x, &y| {
            a[x * (n + 1) + col]
                .abs()
                .total_cmp(&a[y * (n + 1) + col].abs())
        })?;
        if a[piv * (n + 1) + col].abs() <= tiny {
            return None;
        }
        if piv != col {
            for c in 0..=n {
                a.swap(piv * (n + 1) + c, col * (n + 1) + c);
            }
        }
        let d = a[col * (n + 1) + col];
        for r in (col + 1)..n {
            let f = a[r * (n + 1) + col] / d;
            if f != 0.0 {
                for c in col..=n {
                    a[r * (n + 1) + c] -= f * a[col * (n + 1) + c];
                }
            }
        }
    }
    let mut x = vec![0.0f64; n];
    for r in (0..n).rev() {
        let mut v = a[r * (n + 1) + n];
        for c in (r + 1)..n {
            v -= a[r * (n + 1) + c] * x[c];
        }
        x[r] = v / a[r * (n + 1) + r];
    }
    x.truncate(s);
    x.iter().all(|v| v.is_finite()).then_some(x)
}
