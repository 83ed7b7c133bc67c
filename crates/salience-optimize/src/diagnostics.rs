//! Diagnostics: per-method quality, the Theorem 4.2 decomposition and the
//! Theorem 4.3 generalization bound.

use crate::gram::{quad, Gram};
use crate::query::{check_finite_f64, overflow_checked};
use salience_core::{Result, SalienceError};

/// The Theorem 4.2 decomposition for given weights w,
/// Q(φ_w) = Σ_i w_i Q(φ_i) − E\[Σ_i w_i ‖γ1(φ_i − φ_w)‖²\],
/// with both sides computed separately.
///
/// * `q_aggregate` (left side) is [`Gram::q`]: Q(φ_w) through G, h and c,
///   valid for any w;
/// * `weighted_individual` is Σ w_i Q(φ_i) = Σ w_i G_ii;
/// * `diversity` is the target-free term Σ_i w_i (e_i − w)ᵀK(e_i − w) with
///   K = E\[(γ1Φ)ᵀ(γ1Φ)\] = G + h1ᵀ + 1hᵀ + c11ᵀ, expanded as
///   d_iᵀGd_i + 2(1ᵀd_i)(hᵀd_i) + c(1ᵀd_i)² (d_i = e_i − w) to avoid
///   cancellation when E‖γ2‖² dominates;
/// * `rhs` = `weighted_individual − diversity`.
///
/// The identity needs Σw = 1; off the simplex the two sides differ, which
/// `abs_error` shows.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{Decomposition, Gram};
/// let g = Gram::from_matrix(array![[1.0, 0.0], [0.0, 1.0]])?;
/// let d = Decomposition::new(&g, &[0.5, 0.5])?;
/// assert_eq!(d.q_aggregate, 0.5);
/// assert_eq!(d.weighted_individual, 1.0);
/// assert_eq!(d.diversity, 0.5);
/// assert!(d.abs_error < 1e-15);
/// assert_eq!(d.best_method, 0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    /// Q(φ_i) for each method (the diagonal of G).
    pub q_methods: Vec<f64>,
    /// Q(φ_w), the left side.
    pub q_aggregate: f64,
    /// Σ w_i Q(φ_i).
    pub weighted_individual: f64,
    /// E\[Σ w_i ‖γ1(φ_i − φ_w)‖²\] ≥ 0, the gain of aggregating.
    pub diversity: f64,
    /// `weighted_individual − diversity`, the right side.
    pub rhs: f64,
    /// |left − right|.
    pub abs_error: f64,
    /// The method with the smallest Q(φ_i) (the first one on ties).
    pub best_method: usize,
    /// min_i Q(φ_i) − Q(φ_w): ≥ 0 for the optimal weights, since every
    /// single method is a feasible w.
    pub improvement_over_best: f64,
}

impl Decomposition {
    /// Computes the decomposition for `w` (one finite weight per method).
    ///
    /// ```
    /// use ndarray::Array2;
    /// use salience_optimize::{Decomposition, Gram};
    /// let g = Gram::from_matrix(Array2::eye(2)).unwrap();
    /// assert!(Decomposition::new(&g, &[1.0]).is_err());
    /// ```
    pub fn new(gram: &Gram, w: &[f64]) -> Result<Decomposition> {
        let q_aggregate = gram.q(w)?;
        let g = gram.matrix().to_owned();
        let h = gram.cross();
        let c = gram.target_sq();
        let k = gram.k();
        let q_methods = gram.q_methods();
        let gw: Vec<f64> = g
            .outer_iter()
            .map(|row| row.iter().zip(w).map(|(a, b)| a * b).sum())
            .collect();
        let wgw = quad(&g, w);
        let hw: f64 = h.iter().zip(w).map(|(a, b)| a * b).sum();
        let s: f64 = w.iter().sum();
        let mut diversity = 0.0;
        for i in 0..k {
            let dgd = q_methods[i] - 2.0 * gw[i] + wgw;
            let one_d = 1.0 - s;
            let h_d = h[i] - hw;
            diversity += w[i] * (dgd + 2.0 * one_d * h_d + c * one_d * one_d);
        }
        let weighted_individual: f64 = q_methods.iter().zip(w).map(|(q, w)| q * w).sum();
        let rhs = weighted_individual - diversity;
        let (best_method, best) =
            q_methods
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |acc, (i, q)| if q < acc.1 { (i, q) } else { acc },
                );
        Ok(Decomposition {
            abs_error: (q_aggregate - rhs).abs(),
            q_methods,
            q_aggregate,
            weighted_individual,
            diversity,
            rhs,
            best_method,
            improvement_over_best: best - q_aggregate,
        })
    }

    /// `abs_error / max(|Q(φ_w)|, |Σ w_i Q(φ_i)|)` (0 when both are 0).
    ///
    /// ```
    /// use ndarray::Array2;
    /// use salience_optimize::{Decomposition, Gram};
    /// let g = Gram::from_matrix(Array2::eye(3)).unwrap();
    /// assert!(Decomposition::new(&g, &[0.2, 0.3, 0.5]).unwrap().rel_error() < 1e-15);
    /// ```
    pub fn rel_error(&self) -> f64 {
        let scale = self.q_aggregate.abs().max(self.weighted_individual.abs());
        if scale == 0.0 {
            0.0
        } else {
            self.abs_error / scale
        }
    }
}

/// The quantities Theorem 4.3 (App. A, Theorem A.5) depends on.
///
/// ```
/// use salience_optimize::BoundInputs;
/// let b = BoundInputs { c1: 10.0, c2: 4.0, g: 1, k: 5, m: 100, delta: 0.05 };
/// assert!(b.bound().unwrap().bound > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundInputs {
    /// c1 ≥ max ‖γ1‖ over the query distribution, in the norm the proof uses:
    /// the largest ℓ1 norm of a row of γ1 (so |(γ1Φ)_{rj}| ≤ c1 when
    /// ‖φ_j‖∞ ≤ 1).
    pub c1: f64,
    /// c2 ≥ max over (γ1, γ2) and methods i of ‖γ1φ_i − γ2‖².
    pub c2: f64,
    /// g, the number of rows of γ1.
    pub g: usize,
    /// k, the number of methods.
    pub k: usize,
    /// m, the number of metric-evaluation samples used to estimate ŵ.
    pub m: usize,
    /// The failure probability δ ∈ (0, 1).
    pub delta: f64,
}

/// The value of the Theorem 4.3 bound.
///
/// ```
/// use salience_optimize::BoundInputs;
/// let b = BoundInputs { c1: 1.0, c2: 1.0, g: 1, k: 2, m: 400, delta: 0.1 }.bound().unwrap();
/// assert!(b.unmerged <= b.bound);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneralizationBound {
    /// C = max{4c1√(2g·c2), 5c2}.
    pub constant: f64,
    /// The theorem's bound C·√(4 ln(16k/δ)/m): with probability ≥ 1 − δ,
    /// Q(φ_ŵ) − min_{w∈Ω} Q(φ_w) ≤ `bound`.
    pub bound: f64,
    /// The tighter intermediate form of the proof (before merging the
    /// square roots): 4c1√(2g·c2)·√(2 ln(2k)/m) + 5c2·√(2 ln(8/δ)/m).
    pub unmerged: f64,
}

impl BoundInputs {
    /// Reads c1, c2, g, k, m from an accumulated Gram's [`crate::SampleStats`].
    /// These are maxima over the observed samples, hence *estimates* of the
    /// suprema the theorem assumes (a distribution-free bound needs known
    /// bounds; pass those directly when available). Errors when the Gram was
    /// not accumulated, or when max|Φ| > 1: the theorem assumes
    /// ‖φ_i‖∞ ≤ 1 (normalize the maps first, as in App. C.2).
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{BoundInputs, GramAccumulator, Mask, Query};
    /// let phi = array![[1.0f32, 0.0], [0.5, 0.5]];
    /// let qs = [Query::MaskRow { mask: Mask::Indices(&[0]), target: 1.0 }];
    /// let gram = GramAccumulator::accumulate(phi.view(), &qs)?;
    /// let b = BoundInputs::from_gram(&gram, 0.05)?;
    /// assert_eq!((b.c1, b.c2, b.g, b.k, b.m), (1.0, 0.25, 1, 2, 1));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_gram(gram: &Gram, delta: f64) -> Result<BoundInputs> {
        let (Some(stats), Some(m)) = (gram.stats(), gram.samples()) else {
            return Err(SalienceError::invalid(
                "gram",
                "no sample statistics",
                "needs a Gram from GramAccumulator (or give BoundInputs directly)",
            ));
        };
        if stats.max_abs_phi > 1.0 {
            return Err(SalienceError::invalid(
                "max |phi|",
                stats.max_abs_phi,
                "Theorem 4.3 assumes ‖φ_i‖∞ ≤ 1; normalize the maps first",
            ));
        }
        Ok(BoundInputs {
            c1: stats.max_row_l1,
            c2: stats.max_residual_sq,
            g: stats.max_rows,
            k: gram.k(),
            m,
            delta,
        })
    }

    /// Evaluates the bound. With C := max{4c1√(2g·c2), 5c2} (end of the
    /// proof of Theorem A.5), with probability at least 1 − δ
    /// Q(φ_ŵ) − min_{w∈Ω} Q(φ_w) ≤ C·√(4 ln(16k/δ)/m).
    /// The factor 4 inside the root is the main text's Theorem 4.3 and what
    /// the proof derives (√a + √b ≤ √(2(a+b))); the restated Theorem A.5
    /// omits it, which we do not follow.
    ///
    /// ```
    /// use salience_optimize::BoundInputs;
    /// let b = BoundInputs { c1: 1.0, c2: 4.0, g: 1, k: 3, m: 100, delta: 0.05 };
    /// let v = b.bound().unwrap();
    /// assert_eq!(v.constant, 20.0); // max{4·1·√(2·1·4) ≈ 11.3, 5·4}
    /// assert!((v.bound - 20.0 * (4.0 * (16.0 * 3.0 / 0.05f64).ln() / 100.0).sqrt()).abs() < 1e-12);
    /// assert!(BoundInputs { delta: 1.0, ..b }.bound().is_err());
    /// ```
    pub fn bound(&self) -> Result<GeneralizationBound> {
        check_finite_f64([self.c1, self.c2, self.delta].into_iter(), "BoundInputs")?;
        if self.c1 < 0.0 {
            return Err(SalienceError::invalid("c1", self.c1, "must be ≥ 0"));
        }
        if self.c2 < 0.0 {
            return Err(SalienceError::invalid("c2", self.c2, "must be ≥ 0"));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(SalienceError::invalid(
                "delta",
                self.delta,
                "must be in (0, 1)",
            ));
        }
        for (name, v) in [("g", self.g), ("k", self.k), ("m", self.m)] {
            if v == 0 {
                return Err(SalienceError::invalid(name, v, "must be ≥ 1"));
            }
        }
        let (g, k, m) = (self.g as f64, self.k as f64, self.m as f64);
        let a = 4.0 * self.c1 * (2.0 * g * self.c2).sqrt();
        let b = 5.0 * self.c2;
        let constant = a.max(b);
        // ln(16k/δ) = ln(16k) − ln δ: finite for every δ > 0, also a
        // subnormal δ for which 16k/δ would overflow to ∞.
        let ln_delta = self.delta.ln();
        let bound = constant * (4.0 * ((16.0 * k).ln() - ln_delta) / m).sqrt();
        let unmerged =
            a * (2.0 * (2.0 * k).ln() / m).sqrt() + b * (2.0 * (8.0f64.ln() - ln_delta) / m).sqrt();
        Ok(GeneralizationBound {
            constant: overflow_checked(constant, "bound constant C")?,
            bound: overflow_checked(bound, "Theorem 4.3 bound")?,
            unmerged: overflow_checked(unmerged, "Theorem 4.3 bound (unmerged form)")?,
        })
    }
}
