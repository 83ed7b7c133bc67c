//! [`Scores`]: one score per sample, and their [`Summary`] (mean ± std);
//! [`Outcomes`]: one [`Outcome`] per sample — a score, or "undefined" with
//! an [`Undefined`] reason — the contract of every metric (and of
//! [`Metric::score`](crate::Metric::score)); for the Monte Carlo metrics it
//! also carries each score's standard error over the metric's random draws.

use salience_core::{DegenerateReason, Result, SalienceError};

/// One finite score per sample of a batch, in batch order.
///
/// Every metric of this crate returns its per-sample scores in a `Scores`
/// (never NaN: a sample for which a metric is undefined is an error, not a
/// NaN). [`Scores::summary`] gives the mean ± standard deviation.
///
/// ```
/// use salience_metrics::Scores;
/// let s = Scores::new(vec![1.0, 2.0, 3.0])?;
/// assert_eq!(s.len(), 3);
/// assert_eq!(s.summary().mean, 2.0);
/// assert_eq!(s.summary().std, 1.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    values: Vec<f64>,
}

impl Scores {
    /// Wraps per-sample scores; they must be non-empty and finite.
    ///
    /// ```
    /// use salience_metrics::Scores;
    /// assert!(Scores::new(vec![0.5]).is_ok());
    /// assert!(Scores::new(vec![]).is_err());
    /// assert!(Scores::new(vec![f64::NAN]).is_err());
    /// ```
    pub fn new(values: Vec<f64>) -> Result<Self> {
        if values.is_empty() {
            return Err(SalienceError::Empty("scores".into()));
        }
        if let Some((index, &v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "scores".into(),
                index,
                value: v as f32,
            });
        }
        Ok(Scores { values })
    }

    /// The scores, in batch order.
    ///
    /// ```
    /// let s = salience_metrics::Scores::new(vec![0.25, 0.75]).unwrap();
    /// assert_eq!(s.values(), &[0.25, 0.75]);
    /// ```
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The scores, by value.
    ///
    /// ```
    /// let s = salience_metrics::Scores::new(vec![1.0]).unwrap();
    /// assert_eq!(s.into_vec(), vec![1.0]);
    /// ```
    pub fn into_vec(self) -> Vec<f64> {
        self.values
    }

    /// Number of samples.
    ///
    /// ```
    /// assert_eq!(salience_metrics::Scores::new(vec![1.0, 2.0]).unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: scores are validated non-empty.
    ///
    /// ```
    /// assert!(!salience_metrics::Scores::new(vec![1.0]).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The mean score.
    ///
    /// ```
    /// assert_eq!(salience_metrics::Scores::new(vec![1.0, 3.0]).unwrap().mean(), 2.0);
    /// ```
    pub fn mean(&self) -> f64 {
        self.summary().mean
    }

    /// Mean, standard deviation and standard error of the scores.
    ///
    /// ```
    /// let s = salience_metrics::Scores::new(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
    /// let m = s.summary();
    /// assert_eq!(m.mean, 5.0);
    /// assert!((m.std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    /// ```
    pub fn summary(&self) -> Summary {
        Summary::of(&self.values)
    }
}

/// Mean ± standard deviation of per-sample scores.
///
/// `std` is the *sample* standard deviation (ddof = 1, as R's `sd` and
/// pandas; NumPy's default and Quantus's `np.std` use ddof = 0), and 0 for
/// a single sample. `sem = std / √n` is the standard error of the mean.
/// Computed in f64 with a two-pass algorithm; never overflows.
///
/// ```
/// use salience_metrics::Summary;
/// let m = Summary::of(&[1.0, 2.0, 3.0]);
/// assert_eq!((m.n, m.mean, m.std), (3, 2.0, 1.0));
/// assert_eq!(format!("{m}"), "2.0000 ± 1.0000 (n = 3)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); 0 when `n < 2`.
    pub std: f64,
    /// Standard error of the mean, `std / √n`; 0 when `n < 2`.
    pub sem: f64,
}

impl Summary {
    /// Summarises the finite entries of `values`; NaN and ±Inf are
    /// **skipped** (not counted in `n`), so the summary is always finite.
    /// An empty slice (or one without a finite value) gives all zeros with
    /// `n = 0`. Use [`Summary::try_of`] to reject non-finite values instead.
    ///
    /// ```
    /// let m = salience_metrics::Summary::of(&[5.0]);
    /// assert_eq!((m.mean, m.std, m.sem), (5.0, 0.0, 0.0));
    /// let skipped = salience_metrics::Summary::of(&[1.0, f64::NAN, 3.0]);
    /// assert_eq!((skipped.n, skipped.mean), (2, 2.0));
    /// assert_eq!(salience_metrics::Summary::of(&[f64::NAN]).n, 0);
    /// ```
    pub fn of(values: &[f64]) -> Self {
        if values.iter().all(|v| v.is_finite()) {
            return Self::of_finite(values);
        }
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        Self::of_finite(&finite)
    }

    /// Summarises `values`, which must all be finite
    /// ([`SalienceError::NonFinite`] naming the first offending index
    /// otherwise). An empty slice gives all zeros with `n = 0`.
    ///
    /// ```
    /// use salience_metrics::Summary;
    /// assert_eq!(Summary::try_of(&[1.0, 3.0])?.mean, 2.0);
    /// assert!(Summary::try_of(&[1.0, f64::NAN]).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn try_of(values: &[f64]) -> Result<Self> {
        if let Some((index, &v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "values to summarise".into(),
                index,
                value: v as f32,
            });
        }
        Ok(Self::of_finite(values))
    }

    /// The summary of finite values.
    fn of_finite(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Summary {
                n: 0,
                mean: 0.0,
                std: 0.0,
                sem: 0.0,
            };
        }
        // Values near f64::MAX are scaled by max |v| so that no sum can
        // overflow; ordinary values are summed as they are.
        let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let scale = if max_abs > f64::MAX / (4.0 * n as f64) {
            max_abs
        } else {
            1.0
        };
        let scaled_mean = values.iter().map(|v| v / scale).sum::<f64>() / n as f64;
        let mean = scaled_mean * scale;
        let std = if n > 1 {
            let ss: f64 = values
                .iter()
                .map(|v| (v / scale - scaled_mean).powi(2))
                .sum();
            ((ss / (n - 1) as f64).sqrt() * scale).min(f64::MAX)
        } else {
            0.0
        };
        Summary {
            n,
            mean,
            std,
            sem: std / (n as f64).sqrt(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(4);
        write!(
            f,
            "{:.p$} ± {:.p$} (n = {})",
            self.mean,
            self.std,
            self.n,
            p = p
        )
    }
}

/// Why a metric is undefined for one sample (see [`Outcome`]).
///
/// ```
/// use salience_metrics::Undefined;
/// assert_eq!(Undefined::EmptyMask.to_string(), "the ground-truth mask has no pixel");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undefined {
    /// The sample's ground-truth mask has no pixel.
    EmptyMask,
    /// The sample's ground-truth mask covers every pixel, so nothing lies
    /// outside it (ranking AUC).
    FullMask,
    /// The sample's pixel map is degenerate (constant or all zero).
    DegenerateMap(DegenerateReason),
    /// A signed map whose total attribution is ≤ 0 (relevance mass
    /// accuracy).
    NonPositiveTotal,
    /// None of the perturbations kept the predicted class (relative
    /// stability).
    NoKeptPerturbation,
    /// A relative change restricted to the entries with a divisor
    /// `|a| ≥ ε_min` has no such entry (relative stability,
    /// `StabilityFormula::Support`: an all-zero clean map).
    EmptySupport,
    /// A correlation is undefined: one of the correlated sequences is
    /// constant (faithfulness correlation: equal subset sums or equal score
    /// drops over all runs).
    ZeroVariance,
    /// The map of randomisation stage `stage` (or the original, stage 0)
    /// is constant, so its rank correlation with the original is undefined
    /// (MPRT).
    ConstantStageMap {
        /// The MPRT stage whose map is constant.
        stage: usize,
    },
}

impl std::fmt::Display for Undefined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undefined::EmptyMask => f.write_str("the ground-truth mask has no pixel"),
            Undefined::FullMask => f.write_str("the ground-truth mask covers every pixel"),
            Undefined::DegenerateMap(r) => write!(f, "{r}"),
            Undefined::NonPositiveTotal => f.write_str("the total attribution is not positive"),
            Undefined::NoKeptPerturbation => {
                f.write_str("no perturbation kept the predicted class")
            }
            Undefined::EmptySupport => {
                f.write_str("no entry of a relative change's divisor reaches ε_min")
            }
            Undefined::ZeroVariance => {
                f.write_str("a correlated sequence is constant (zero variance)")
            }
            Undefined::ConstantStageMap { stage } => {
                write!(f, "the map of stage {stage} or of the original is constant")
            }
        }
    }
}

impl Undefined {
    /// The error the strict form of a metric reports for sample `sample`
    /// undefined for this reason: [`SalienceError::Empty`] for an empty
    /// mask or no kept perturbation, [`SalienceError::DegenerateMap`] for a
    /// degenerate map, a zero-variance correlation (reason
    /// [`DegenerateReason::Constant`]) or a constant MPRT stage map (`map` =
    /// the stage), [`SalienceError::InvalidParameter`] otherwise.
    ///
    /// ```
    /// use salience_core::SalienceError;
    /// use salience_metrics::Undefined;
    /// assert!(matches!(Undefined::EmptyMask.into_error(3), SalienceError::Empty(_)));
    /// ```
    pub fn into_error(self, sample: usize) -> SalienceError {
        match self {
            Undefined::EmptyMask => SalienceError::Empty(format!(
                "ground-truth mask of sample {sample} has no pixel"
            )),
            Undefined::FullMask => SalienceError::invalid(
                "masks",
                format!("sample {sample} covers all pixels"),
                "the ranking AUC needs pixels outside the mask",
            ),
            Undefined::DegenerateMap(reason) => SalienceError::DegenerateMap {
                sample,
                map: 0,
                reason,
            },
            Undefined::NonPositiveTotal => SalienceError::invalid(
                "map.sign",
                format!("Signed (sample {sample} has a total attribution ≤ 0)"),
                "relevance mass accuracy needs a positive total; use MapSign::Abs or Positive",
            ),
            Undefined::NoKeptPerturbation => SalienceError::Empty(format!(
                "stability of sample {sample}: none of the perturbations kept the predicted class (reduce the noise or draw more)"
            )),
            Undefined::EmptySupport => SalienceError::Empty(format!(
                "stability of sample {sample}: the clean input, map, outputs or representation have no entry ≥ ε_min (StabilityFormula::Support)"
            )),
            Undefined::ZeroVariance => SalienceError::DegenerateMap {
                sample,
                map: 0,
                reason: DegenerateReason::Constant,
            },
            Undefined::ConstantStageMap { stage } => SalienceError::DegenerateMap {
                sample,
                map: stage,
                reason: DegenerateReason::Constant,
            },
        }
    }
}

/// The result of a metric for one sample: a finite score, or undefined
/// with the reason.
///
/// ```
/// use salience_metrics::{Outcome, Undefined};
/// assert_eq!(Outcome::Score(0.5).score(), Some(0.5));
/// assert_eq!(Outcome::Undefined(Undefined::EmptyMask).score(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The sample's (finite) score.
    Score(f64),
    /// The metric is undefined for the sample.
    Undefined(Undefined),
}

impl Outcome {
    /// The score, or `None` when undefined.
    ///
    /// ```
    /// assert_eq!(salience_metrics::Outcome::Score(1.0).score(), Some(1.0));
    /// ```
    pub fn score(&self) -> Option<f64> {
        match *self {
            Outcome::Score(v) => Some(v),
            Outcome::Undefined(_) => None,
        }
    }
}

/// Per-sample [`Outcome`]s of a batch, in batch order: the contract of
/// every metric (the free functions and [`Metric::score`](crate::Metric::score)).
/// One undefined sample does not cost the others their scores:
/// [`summary`](Self::summary) counts and skips undefined samples,
/// [`strict`](Self::strict) turns the first undefined sample into the error
/// it stands for. A metric that averages random draws (infidelity,
/// faithfulness correlation, average sensitivity) also reports each
/// score's standard error over its draws ([`sem`](Self::sem),
/// [`draws`](Self::draws)), so uncertainty can be reported without
/// re-running with several seeds.
///
/// ```
/// use salience_metrics::{Outcome, Outcomes, Undefined};
/// let o = Outcomes::new(vec![
///     Outcome::Score(1.0),
///     Outcome::Undefined(Undefined::EmptyMask),
///     Outcome::Score(0.0),
/// ])?;
/// assert_eq!((o.len(), o.n_defined(), o.n_undefined()), (3, 2, 1));
/// assert_eq!(o.summary().n, 2);
/// assert_eq!(o.summary().mean, 0.5);
/// assert_eq!(o.defined(), vec![(0, 1.0), (2, 0.0)]);
/// assert_eq!(o.undefined(), vec![(1, Undefined::EmptyMask)]);
/// assert!(o.strict().is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Outcomes {
    outcomes: Vec<Outcome>,
    /// Per-sample standard error over the draws and the number of draws
    /// (Monte Carlo metrics only).
    mc: Option<(Vec<f64>, usize)>,
}

impl Outcomes {
    /// Wraps per-sample outcomes; they must be non-empty and every score
    /// finite.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert!(Outcomes::new(vec![]).is_err());
    /// assert!(Outcomes::new(vec![Outcome::Score(f64::NAN)]).is_err());
    /// ```
    pub fn new(outcomes: Vec<Outcome>) -> Result<Self> {
        if outcomes.is_empty() {
            return Err(SalienceError::Empty("outcomes".into()));
        }
        if let Some((index, v)) = outcomes
            .iter()
            .enumerate()
            .find_map(|(i, o)| o.score().filter(|v| !v.is_finite()).map(|v| (i, v)))
        {
            return Err(SalienceError::NonFinite {
                context: "scores".into(),
                index,
                value: v as f32,
            });
        }
        Ok(Outcomes { outcomes, mc: None })
    }

    /// Attaches each sample's standard error over `draws` random draws (one
    /// entry per sample, finite and ≥ 0; by convention 0 for an undefined
    /// sample).
    ///
    /// Errors: a length other than [`len`](Self::len)
    /// ([`SalienceError::ShapeMismatch`]), a negative or non-finite entry
    /// ([`SalienceError::NonFinite`] / [`SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// let o = Outcomes::new(vec![Outcome::Score(1.0)])?.with_sem(vec![0.1], 10)?;
    /// assert_eq!((o.sem(), o.draws()), (Some(&[0.1][..]), Some(10)));
    /// assert!(Outcomes::new(vec![Outcome::Score(1.0)])?.with_sem(vec![], 10).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_sem(mut self, sem: Vec<f64>, draws: usize) -> Result<Self> {
        if sem.len() != self.outcomes.len() {
            return Err(SalienceError::shape(
                "standard errors",
                format!("{} (one per sample)", self.outcomes.len()),
                &[sem.len()],
            ));
        }
        if let Some((index, &v)) = sem.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "standard errors".into(),
                index,
                value: v as f32,
            });
        }
        if let Some(&v) = sem.iter().find(|v| **v < 0.0) {
            return Err(SalienceError::invalid("sem", v, "must be ≥ 0"));
        }
        self.mc = Some((sem, draws));
        Ok(self)
    }

    /// Each sample's standard error over the metric's random draws (0 for
    /// an undefined sample), or `None` for a deterministic metric.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert_eq!(Outcomes::new(vec![Outcome::Score(1.0)])?.sem(), None);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn sem(&self) -> Option<&[f64]> {
        self.mc.as_ref().map(|(s, _)| s.as_slice())
    }

    /// Random draws per sample behind [`sem`](Self::sem), or `None` for a
    /// deterministic metric.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert_eq!(Outcomes::new(vec![Outcome::Score(1.0)])?.draws(), None);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn draws(&self) -> Option<usize> {
        self.mc.as_ref().map(|(_, d)| *d)
    }

    /// Every sample defined, with these scores.
    ///
    /// ```
    /// let s = salience_metrics::Scores::new(vec![0.25])?;
    /// assert_eq!(salience_metrics::Outcomes::from(s).n_defined(), 1);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn all_defined(scores: Scores) -> Self {
        Outcomes {
            outcomes: scores.into_vec().into_iter().map(Outcome::Score).collect(),
            mc: None,
        }
    }

    /// The outcomes, in batch order.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// let o = Outcomes::new(vec![Outcome::Score(1.0)])?;
    /// assert_eq!(o.outcomes(), &[Outcome::Score(1.0)]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Sample `i`'s score (`None` when undefined or out of range).
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// let o = Outcomes::new(vec![Outcome::Score(1.0)])?;
    /// assert_eq!((o.get(0), o.get(1)), (Some(1.0), None));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<f64> {
        self.outcomes.get(i).and_then(Outcome::score)
    }

    /// Number of samples (defined or not).
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes, Undefined};
    /// assert_eq!(Outcomes::new(vec![Outcome::Undefined(Undefined::FullMask)])?.len(), 1);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Always false: outcomes are validated non-empty.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert!(!Outcomes::new(vec![Outcome::Score(0.0)])?.is_empty());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Number of samples with a score.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert_eq!(Outcomes::new(vec![Outcome::Score(0.0)])?.n_defined(), 1);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn n_defined(&self) -> usize {
        self.outcomes.iter().filter(|o| o.score().is_some()).count()
    }

    /// Number of undefined samples.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert_eq!(Outcomes::new(vec![Outcome::Score(0.0)])?.n_undefined(), 0);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn n_undefined(&self) -> usize {
        self.len() - self.n_defined()
    }

    /// `(sample index, score)` of every defined sample, in batch order.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes};
    /// assert_eq!(Outcomes::new(vec![Outcome::Score(2.0)])?.defined(), vec![(0, 2.0)]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn defined(&self) -> Vec<(usize, f64)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.score().map(|v| (i, v)))
            .collect()
    }

    /// The scores of the defined samples, in batch order.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes, Undefined};
    /// let o = Outcomes::new(vec![Outcome::Undefined(Undefined::EmptyMask), Outcome::Score(2.0)])?;
    /// assert_eq!(o.defined_values(), vec![2.0]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn defined_values(&self) -> Vec<f64> {
        self.outcomes.iter().filter_map(Outcome::score).collect()
    }

    /// `(sample index, reason)` of every undefined sample, in batch order.
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes, Undefined};
    /// let o = Outcomes::new(vec![Outcome::Undefined(Undefined::FullMask)])?;
    /// assert_eq!(o.undefined(), vec![(0, Undefined::FullMask)]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn undefined(&self) -> Vec<(usize, Undefined)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Outcome::Undefined(r) => Some((i, *r)),
                Outcome::Score(_) => None,
            })
            .collect()
    }

    /// Mean ± std of the defined samples; `n` counts them (undefined
    /// samples are skipped; `n = 0` and all zeros when none is defined).
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes, Undefined};
    /// let o = Outcomes::new(vec![Outcome::Score(1.0), Outcome::Undefined(Undefined::EmptyMask)])?;
    /// assert_eq!((o.summary().n, o.summary().mean), (1, 1.0));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn summary(&self) -> Summary {
        Summary::of(&self.defined_values())
    }

    /// The strict form: every sample's score as [`Scores`], or the error
    /// the first undefined sample stands for ([`Undefined::into_error`]).
    ///
    /// ```
    /// use salience_metrics::{Outcome, Outcomes, Undefined};
    /// let ok = Outcomes::new(vec![Outcome::Score(1.0)])?;
    /// assert_eq!(ok.strict()?.values(), &[1.0]);
    /// let bad = Outcomes::new(vec![Outcome::Score(1.0), Outcome::Undefined(Undefined::EmptyMask)])?;
    /// assert!(matches!(bad.strict(), Err(salience_core::SalienceError::Empty(_))));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn strict(&self) -> Result<Scores> {
        if let Some((i, r)) = self.undefined().into_iter().next() {
            return Err(r.into_error(i));
        }
        Scores::new(self.defined_values())
    }
}

impl From<Scores> for Outcomes {
    fn from(scores: Scores) -> Self {
        Outcomes::all_defined(scores)
    }
}

/// Standard error of the mean of `values`: sample std (ddof = 1) / √n; 0
/// for fewer than two values.
pub(crate) fn sem_of(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let s = Summary::of(&values.collect::<Vec<f64>>());
    s.sem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_known_values() {
        let m = Summary::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m.sem - m.std / 2.0).abs() < 1e-12);
        assert_eq!(format!("{m:.1}"), "2.5 ± 1.3 (n = 4)");
    }

    #[test]
    fn summary_never_overflows() {
        let m = Summary::of(&[f64::MAX, f64::MAX, -f64::MAX]);
        assert!(m.mean.is_finite() && m.std.is_finite() && m.sem.is_finite());
        assert!((m.mean - f64::MAX / 3.0).abs() / f64::MAX < 1e-12);
    }

    #[test]
    fn summary_of_skips_non_finite_and_try_of_rejects() {
        // Before: Summary::of(&[NaN]) returned mean NaN as a success.
        let m = Summary::of(&[f64::NAN]);
        assert_eq!((m.n, m.mean, m.std, m.sem), (0, 0.0, 0.0, 0.0));
        let m = Summary::of(&[2.0, f64::INFINITY, 4.0, f64::NAN]);
        assert_eq!((m.n, m.mean), (2, 3.0));
        assert!((m.std - 2f64.sqrt()).abs() < 1e-12);
        assert!(matches!(
            Summary::try_of(&[1.0, f64::NEG_INFINITY]),
            Err(SalienceError::NonFinite { index: 1, .. })
        ));
    }

    #[test]
    fn outcomes_summary_skips_and_strict_restores_the_error() {
        let o = Outcomes::new(vec![
            Outcome::Score(0.0),
            Outcome::Undefined(Undefined::DegenerateMap(DegenerateReason::Constant)),
            Outcome::Score(1.0),
            Outcome::Score(1.0),
        ])
        .unwrap();
        let s = o.summary();
        assert_eq!(s.n, 3);
        assert!((s.mean - 2.0 / 3.0).abs() < 1e-15);
        assert!((s.std - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!(matches!(
            o.strict(),
            Err(SalienceError::DegenerateMap {
                sample: 1,
                reason: DegenerateReason::Constant,
                ..
            })
        ));
        let none = Outcomes::new(vec![Outcome::Undefined(Undefined::NoKeptPerturbation)]).unwrap();
        assert_eq!(none.summary().n, 0);
        assert!(matches!(none.strict(), Err(SalienceError::Empty(_))));
        assert!(Outcomes::new(vec![Outcome::Score(f64::INFINITY)]).is_err());
    }

    #[test]
    fn scores_reject_bad_input() {
        assert!(matches!(Scores::new(vec![]), Err(SalienceError::Empty(_))));
        assert!(matches!(
            Scores::new(vec![1.0, f64::INFINITY]),
            Err(SalienceError::NonFinite { index: 1, .. })
        ));
    }
}
