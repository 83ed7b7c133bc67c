//! Probability of Improvement, Expected Improvement and Contextual
//! Improvement (Mahlau & Nolde 2022, eqs. 9–11).
//!
//! With μ, σ the pixel-wise mean and population standard deviation of the
//! k maps and E⁺ = max over the sample's pixels of μ, the improvement
//! margin at a pixel is d = μ − E⁺ − ε and Z = d / σ:
//!
//! * PI = Φ(Z)                    (eq. 9)
//! * EI = d Φ(Z) + σ φ(Z)          (eq. 10)
//! * CI = EI with ε = (1/(P E⁺)) Σ_pixels σ²   (eq. 11, Jasrasaria et al.)
//!
//! Where all k maps agree at a pixel (σ = 0) the functions take their
//! σ → 0⁺ limits: PI = 1, ½ or 0 for d > 0, d = 0, d < 0, and
//! EI = max(d, 0). E⁺ is per sample. Φ and φ are evaluated in f32 by a
//! branch-free approximation with relative error ≤ 2·10⁻⁶ for |Z| ≤ 5 and
//! ≤ 2·10⁻⁵ down to Z = −11.75 (Φ ≈ 10⁻³²), below which Φ, φ and EI's
//! tail term all flush to 0 at the same point (tested against libm's f64
//! `erfc`, with PI and EI monotone in Z over [−40, 40]), so the pixel
//! loops vectorize. EI is evaluated as max(d, 0) + σ(φ(Z) − |Z|Φ(−|Z|)),
//! whose tail term has no cancellation (relative error ≤ 3·10⁻⁵ +
//! 4·10⁻⁷·Z²).

use crate::kernel::{finish, PixelMoments};
use crate::normal::{cdf_f32, ei_tail_f32};
use crate::Aggregator;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, DegenerateReason, Ensemble, Result, SalienceError};

/// PI at one pixel for margin `d` and spread `sd` (branch-free f32, so
/// the pixel loop vectorizes; the σ = 0 limit is selected, not branched).
#[inline(always)]
pub(crate) fn pi(d: f32, sd: f32) -> f32 {
    let limit = if d > 0.0 {
        1.0
    } else if d < 0.0 {
        0.0
    } else {
        0.5
    };
    let v = cdf_f32(d / sd);
    if sd > 0.0 {
        v
    } else {
        limit
    }
}

/// EI at one pixel for margin `d` and spread `sd`: σ·(ZΦ(Z) + φ(Z)) =
/// max(d, 0) + σ·h(|Z|) with h(a) = φ(a) − aΦ(−a) ≥ 0 computed without
/// cancellation (see `normal::ei_tail_f32`). At σ = 0 (Z = ±∞ or NaN)
/// h is 0, so this is the limit max(d, 0) without a branch; it is finite
/// for every finite d, σ ≥ 0 (Z overflowing to ±∞ included).
#[inline(always)]
pub(crate) fn ei(d: f32, sd: f32) -> f32 {
    d.max(0.0) + sd * ei_tail_f32(d / sd)
}

/// `out[i] += f(mean[i] − shift, std[i])` over a chunk. Kept out of line
/// (one monomorphized loop per `f`) so that LLVM vectorizes it the same way
/// wherever it is used; inlined into its callers it did not for EI.
#[inline(never)]
pub(crate) fn accumulate<F>(out: &mut [f32], mean: &[f32], std: &[f32], shift: f32, f: &F)
where
    F: Fn(f32, f32) -> f32,
{
    for ((o, &mu), &sd) in out.iter_mut().zip(mean).zip(std) {
        *o += f(mu - shift, sd);
    }
}

/// Evaluates `f(d, σ)` at every pixel with d = μ − E⁺ − ε(sample).
pub(crate) fn acquisition<F>(
    ensemble: &Ensemble,
    pm: &PixelMoments,
    name: &str,
    epsilon: impl Fn(usize) -> f64 + Sync,
    f: F,
) -> Result<AttributionBatch>
where
    F: Fn(f32, f32) -> f32 + Sync,
{
    let out = pm.map(|s, mean, std, out| {
        let shift = (pm.best[s] + epsilon(s)) as f32;
        accumulate(out, mean, std, shift, &f);
    });
    finish(ensemble, out, name)
}

/// Probability of Improvement, eq. 9. Default ε = −4 (the paper's tuned
/// value).
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Pi};
/// use salience_core::Ensemble;
/// // Two pixels; maps (0, 2) and (2, 2): μ = (1, 2), σ = (1, 0), E⁺ = 2.
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![0.0f32, 2.0, 2.0, 2.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let p = Pi { epsilon: 0.0 }.aggregate(&e).unwrap();
/// // Pixel 0: Φ((1 − 2)/1) = Φ(−1); pixel 1: σ = 0 and d = 0, so ½.
/// assert!((p.view()[[0, 0]] - 0.158_655_25).abs() < 1e-6);
/// assert_eq!(p.view()[[0, 1]], 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pi {
    /// Exploration rate ε.
    #[serde(alias = "eps")]
    pub epsilon: f64,
}

impl Default for Pi {
    fn default() -> Self {
        Pi { epsilon: -4.0 }
    }
}

impl Aggregator for Pi {
    fn name(&self) -> String {
        format!("pi(eps={})", self.epsilon)
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        check_param_finite("pi epsilon", self.epsilon)?;
        acquisition(
            ensemble,
            &PixelMoments::new(ensemble)?,
            "pi",
            |_| self.epsilon,
            pi,
        )
    }
}

/// Expected Improvement, eq. 10. Default ε = −6 (the paper's tuned value).
/// For ε → −∞ it ranks pixels as the mean does (§4.2.4).
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Ei};
/// use salience_core::Ensemble;
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![0.0f32, 2.0, 2.0, 2.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let v = Ei { epsilon: -1.0 }.aggregate(&e).unwrap();
/// // Pixel 1: σ = 0, d = 2 − 2 + 1 = 1, so EI = max(d, 0) = 1.
/// assert_eq!(v.view()[[0, 1]], 1.0);
/// // Pixel 0: d = 0, σ = 1, so EI = φ(0) = 0.3989…
/// assert!((v.view()[[0, 0]] - 0.398_942_3).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ei {
    /// Exploration rate ε.
    #[serde(alias = "eps")]
    pub epsilon: f64,
}

impl Default for Ei {
    fn default() -> Self {
        Ei { epsilon: -6.0 }
    }
}

impl Aggregator for Ei {
    fn name(&self) -> String {
        format!("ei(eps={})", self.epsilon)
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        check_param_finite("ei epsilon", self.epsilon)?;
        acquisition(
            ensemble,
            &PixelMoments::new(ensemble)?,
            "ei",
            |_| self.epsilon,
            ei,
        )
    }
}

/// Contextual Improvement: EI with the per-sample exploration rate
/// ε = (1/(P E⁺)) Σ σ² of eq. 11 (P pixels). A sample whose E⁺ is 0 makes
/// ε undefined: [`SalienceError::DegenerateMap`] with
/// [`DegenerateReason::ZeroBestMean`].
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Ci, Ei};
/// use salience_core::Ensemble;
/// // μ = (1, 2), σ = (1, 0): E⁺ = 2 and ε = (1 + 0) / (2 · 2) = 0.25.
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![0.0f32, 2.0, 2.0, 2.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let ci = Ci.aggregate(&e).unwrap();
/// let ei = Ei { epsilon: 0.25 }.aggregate(&e).unwrap();
/// assert_eq!(ci, ei);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ci;

impl Aggregator for Ci {
    fn name(&self) -> String {
        "ci".into()
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        let stats = PixelMoments::new(ensemble)?;
        if let Some(sample) = stats.best.iter().position(|&b| b == 0.0) {
            return Err(SalienceError::DegenerateMap {
                sample,
                map: 0,
                reason: DegenerateReason::ZeroBestMean,
            });
        }
        let eps: Vec<f64> = stats
            .best
            .iter()
            .zip(&stats.mean_var)
            .map(|(&b, &v)| v / b)
            .collect();
        acquisition(ensemble, &stats, "ci", |s| eps[s], ei)
    }
}
