//! [`Scores`]: one score per sample, and their [`Summary`] (mean ± std).

use salience_core::{Result, SalienceError};

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
    /// Summarises `values` (assumed finite). An empty slice gives all zeros.
    ///
    /// ```
    /// let m = salience_metrics::Summary::of(&[5.0]);
    /// assert_eq!((m.mean, m.std, m.sem), (5.0, 0.0, 0.0));
    /// ```
    pub fn of(values: &[f64]) -> Self {
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
    fn scores_reject_bad_input() {
        assert!(matches!(Scores::new(vec![]), Err(SalienceError::Empty(_))));
        assert!(matches!(
            Scores::new(vec![1.0, f64::INFINITY]),
            Err(SalienceError::NonFinite { index: 1, .. })
        ));
    }
}
