//! Aggregation strategies of Decker et al. (2024): which Gram matrix the QP
//! minimizes, and the uniform baseline.

use crate::gram::{weighted_sum, Gram};
use crate::qp::{solve_qp, QpSettings, Weights};
use crate::query::overflow_checked;
use rayon::prelude::*;
use salience_core::{Result, SalienceError};

/// How each Gram matrix is scaled before a λ-weighted combination.
///
/// ```
/// use salience_optimize::Scaling;
/// assert_eq!(Scaling::default(), Scaling::Frobenius);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scaling {
    /// Use the Gram matrices as they are: Σ λ_t G_t.
    None,
    /// Divide each term by the Frobenius norm of its (averaged) matrix:
    /// Σ λ_t G_t / ‖G_t‖_F, as in the paper's App. C.2 for AGG_opt. A term
    /// with ‖G_t‖_F = 0 contributes nothing (it is the same for every w).
    /// The factor 1/‖G_t‖_F is computed with G_t scaled by its largest
    /// entry, so a norm beyond f64's range (entries near 1e308) still
    /// scales its term instead of dropping it.
    #[default]
    Frobenius,
}

/// The λ-weighted sum of Gram matrices Σ λ_t·scale_t·G_t (over every part,
/// so [`Gram::q`] of the result is Σ λ_t·scale_t·Q_t(φ_w)): by Section 4 of
/// the paper, minimizing it optimizes several generalized L2 metrics at once.
/// λ must be finite and ≥ 0 (a typed error otherwise), all Grams must share k.
///
/// ```
/// use ndarray::Array2;
/// use salience_optimize::{combine, Gram, Scaling};
/// let a = Gram::from_matrix(Array2::eye(2) * 4.0)?;
/// let b = Gram::from_matrix(Array2::eye(2))?;
/// let c = combine(&[(1.0, &a), (2.0, &b)], Scaling::None)?;
/// assert_eq!(c.matrix()[[0, 0]], 6.0);
/// let f = combine(&[(1.0, &a), (1.0, &b)], Scaling::Frobenius)?;
/// assert!((f.matrix()[[0, 0]] - 2.0 / 2f64.sqrt()).abs() < 1e-15);
/// assert!(combine(&[(-1.0, &a)], Scaling::None).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn combine(terms: &[(f64, &Gram)], scaling: Scaling) -> Result<Gram> {
    let mut scaled = Vec::with_capacity(terms.len());
    for (t, &(lambda, g)) in terms.iter().enumerate() {
        if !lambda.is_finite() || lambda < 0.0 {
            return Err(SalienceError::invalid(
                &format!("lambda[{t}]"),
                lambda,
                "weights of a combination of metrics must be finite and ≥ 0",
            ));
        }
        let factor = match scaling {
            Scaling::None => 1.0,
            Scaling::Frobenius => {
                let (m, rel) = scaled_frobenius(g);
                if m > 0.0 {
                    let f = (1.0 / m) / rel;
                    if !(f.is_finite() && f > 0.0) {
                        return Err(SalienceError::invalid(
                            &format!("Gram {t}"),
                            format!("‖G‖_F = {m:e}·{rel}"),
                            "1/‖G‖_F is outside f64's range; rescale the maps",
                        ));
                    }
                    f
                } else {
                    0.0
                }
            }
        };
        scaled.push((lambda * factor, g));
    }
    weighted_sum(&scaled, "combine")
}

/// ‖G‖_F of a Gram's matrix, computed as m·√Σ(G_ij/m)² with m = max|G_ij|
/// so that squaring never overflows (entries of 1e200 are fine). A norm
/// beyond f64's range (k² entries near 1e308) is a
/// [`SalienceError::NonFinite`] saying it overflows.
///
/// ```
/// use ndarray::Array2;
/// let g = salience_optimize::Gram::from_matrix(Array2::eye(4)).unwrap();
/// assert_eq!(salience_optimize::frobenius(&g)?, 2.0);
/// let big = salience_optimize::Gram::from_matrix(Array2::eye(4) * 1e200).unwrap();
/// assert_eq!(salience_optimize::frobenius(&big)?, 2e200);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn frobenius(g: &Gram) -> Result<f64> {
    let (m, rel) = scaled_frobenius(g);
    overflow_checked(m * rel, "frobenius")
}

/// (m, r) with ‖G‖_F = m·r, m = max|G_ij| and r = √Σ(G_ij/m)² ∈ [1, k]
/// ((0, 0) for G = 0).
fn scaled_frobenius(g: &Gram) -> (f64, f64) {
    let m = g.matrix().iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if m == 0.0 {
        return (0.0, 0.0);
    }
    let rel = g
        .matrix()
        .iter()
        .map(|v| (v / m) * (v / m))
        .sum::<f64>()
        .sqrt();
    (m, rel)
}

/// The λ's and scaling of AGG_opt.
///
/// ```
/// use salience_optimize::{OptConfig, Scaling};
/// let c = OptConfig::default();
/// assert_eq!((c.lambda_robust, c.lambda_faith, c.scaling), (1.0, 1.0, Scaling::Frobenius));
/// // aggopt's 0.5/0.5 gives the same weights (the objective is only scaled).
/// assert_eq!(OptConfig::aggopt().lambda_robust, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptConfig {
    /// λ of the robustness (average-sensitivity) Gram.
    pub lambda_robust: f64,
    /// λ of the faithfulness (infidelity) Gram.
    pub lambda_faith: f64,
    /// How each Gram is scaled before combining.
    pub scaling: Scaling,
}

impl Default for OptConfig {
    /// The paper's AGG_opt (App. C.2): ŜENS/‖G_rob‖_F + ÎNFD/‖G_faith‖_F.
    fn default() -> Self {
        OptConfig::paper()
    }
}

impl OptConfig {
    /// The paper's AGG_opt: λ = 1 for both, Frobenius scaling of the
    /// averaged matrices.
    ///
    /// ```
    /// assert_eq!(salience_optimize::OptConfig::paper(), Default::default());
    /// ```
    pub fn paper() -> Self {
        OptConfig {
            lambda_robust: 1.0,
            lambda_faith: 1.0,
            scaling: Scaling::Frobenius,
        }
    }

    /// aggopt's defaults λ = 0.5/0.5 with Frobenius scaling of the averaged
    /// matrices. Same weights as [`OptConfig::paper`]; note that aggopt's
    /// code divides by the norm of the *un-averaged stacks* of per-sample
    /// matrices instead, which is not reproduced (see the crate docs).
    ///
    /// ```
    /// assert_eq!(salience_optimize::OptConfig::aggopt().lambda_faith, 0.5);
    /// ```
    pub fn aggopt() -> Self {
        OptConfig {
            lambda_robust: 0.5,
            lambda_faith: 0.5,
            scaling: Scaling::Frobenius,
        }
    }
}

/// The Gram matrices available for one input (or averaged over a set).
///
/// ```
/// let none = salience_optimize::MetricGrams::default();
/// assert!(none.robust.is_none() && none.faith.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricGrams<'a> {
    /// The average-sensitivity Gram (queries [`crate::Query::Sensitivity`]).
    pub robust: Option<&'a Gram>,
    /// The infidelity Gram (queries [`crate::Query::MaskRow`]).
    pub faith: Option<&'a Gram>,
}

/// An aggregation strategy (Decker et al. 2024, Sections 3.2 and 5).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{Gram, MetricGrams, QpSettings, Strategy};
/// let faith = Gram::from_matrix(array![[1.0, 0.0], [0.0, 3.0]])?;
/// let grams = MetricGrams { robust: None, faith: Some(&faith) };
/// let w = Strategy::Faith.weights(2, &grams, &QpSettings::default())?;
/// assert!((w.as_slice()[0] - 0.75).abs() < 1e-9);
/// assert!(Strategy::Robust.weights(2, &grams, &QpSettings::default()).is_err());
/// assert_eq!(Strategy::Mean.weights(2, &grams, &QpSettings::default())?.as_slice(), &[0.5, 0.5]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// AGG_mean: uniform weights 1/k.
    Mean,
    /// AGG_robust: minimize the average-sensitivity Gram.
    Robust,
    /// AGG_faith: minimize the infidelity Gram.
    Faith,
    /// AGG_opt: minimize λ_r G_rob/‖G_rob‖_F + λ_f G_faith/‖G_faith‖_F
    /// (with [`Scaling::Frobenius`]). `Strategy::default()` is
    /// `Opt(OptConfig::paper())`.
    Opt(OptConfig),
}

impl Default for Strategy {
    /// AGG_opt with the paper's configuration.
    fn default() -> Self {
        Strategy::Opt(OptConfig::paper())
    }
}

impl Strategy {
    /// The Gram matrix this strategy minimizes (`None` for [`Strategy::Mean`]).
    /// Errors when a needed Gram is missing.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use salience_optimize::{Gram, MetricGrams, Strategy};
    /// let r = Gram::from_matrix(Array2::eye(2) * 5.0)?;
    /// let f = Gram::from_matrix(Array2::eye(2))?;
    /// let grams = MetricGrams { robust: Some(&r), faith: Some(&f) };
    /// let g = Strategy::default().objective(&grams)?.unwrap();
    /// // Both terms are normalized to unit Frobenius norm, then added.
    /// assert!((g.matrix()[[0, 0]] - 2f64.sqrt()).abs() < 1e-15);
    /// assert!(Strategy::Mean.objective(&grams)?.is_none());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn objective(&self, grams: &MetricGrams<'_>) -> Result<Option<Gram>> {
        let need = |g: Option<&Gram>, which: &str| {
            g.cloned().ok_or_else(|| {
                SalienceError::invalid(
                    which,
                    "None",
                    &format!("strategy {self:?} needs this Gram matrix"),
                )
            })
        };
        match *self {
            Strategy::Mean => Ok(None),
            Strategy::Robust => need(grams.robust, "robust Gram").map(Some),
            Strategy::Faith => need(grams.faith, "faith Gram").map(Some),
            Strategy::Opt(c) => opt_objective(grams, &c, self).map(Some),
        }
    }

    /// The strategy's weights for k methods (k is checked against the Grams).
    ///
    /// ```
    /// use salience_optimize::{MetricGrams, QpSettings, Strategy};
    /// let w = Strategy::Mean.weights(4, &MetricGrams::default(), &QpSettings::default())?;
    /// assert_eq!(w.as_slice(), &[0.25; 4]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn weights(
        &self,
        k: usize,
        grams: &MetricGrams<'_>,
        settings: &QpSettings,
    ) -> Result<Weights> {
        match self.objective(grams)? {
            None => Weights::uniform(k),
            Some(g) => {
                if g.k() != k {
                    return Err(SalienceError::invalid(
                        "k",
                        k,
                        &format!("the Gram matrices have k = {}", g.k()),
                    ));
                }
                Ok(solve_qp(g.matrix(), settings)?.weights)
            }
        }
    }
}

fn opt_objective(grams: &MetricGrams<'_>, c: &OptConfig, s: &Strategy) -> Result<Gram> {
    let (Some(r), Some(f)) = (grams.robust, grams.faith) else {
        return Err(SalienceError::invalid(
            "MetricGrams",
            "missing robust or faith Gram",
            &format!("strategy {s:?} needs both Gram matrices"),
        ));
    };
    combine(&[(c.lambda_robust, r), (c.lambda_faith, f)], c.scaling)
}

/// One weight vector per input: the QP solved for each input's Gram
/// (in parallel; the output order is the input order).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{per_sample_weights, Gram, QpSettings};
/// let a = Gram::from_matrix(array![[1.0, 0.0], [0.0, 3.0]])?;
/// let b = Gram::from_matrix(array![[3.0, 0.0], [0.0, 1.0]])?;
/// let w = per_sample_weights(&[a, b], &QpSettings::default())?;
/// assert!((w[0].as_slice()[0] - 0.75).abs() < 1e-9);
/// assert!((w[1].as_slice()[0] - 0.25).abs() < 1e-9);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn per_sample_weights(grams: &[Gram], settings: &QpSettings) -> Result<Vec<Weights>> {
    if grams.is_empty() {
        return Err(SalienceError::Empty(
            "per_sample_weights with no Gram".into(),
        ));
    }
    grams
        .par_iter()
        .map(|g| Ok(solve_qp(g.matrix(), settings)?.weights))
        .collect()
}

/// One weight vector for a set of inputs: the QP on the mean of their
/// Grams, (1/N) Σ_n G_n (summed exactly, so order-independent).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{global_weights, Gram, QpSettings};
/// let a = Gram::from_matrix(array![[1.0, 0.0], [0.0, 3.0]])?;
/// let b = Gram::from_matrix(array![[3.0, 0.0], [0.0, 1.0]])?;
/// let w = global_weights(&[a, b], &QpSettings::default())?;
/// assert!((w.as_slice()[0] - 0.5).abs() < 1e-9);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn global_weights(grams: &[Gram], settings: &QpSettings) -> Result<Weights> {
    let mean = Gram::mean(grams)?;
    Ok(solve_qp(mean.matrix(), settings)?.weights)
}
