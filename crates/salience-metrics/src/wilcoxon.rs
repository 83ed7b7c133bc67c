//! The Wilcoxon signed-rank test for paired comparisons of per-sample
//! scores (e.g. two attribution methods scored on the same images, as in
//! Bykov et al. (2022)'s tables: "not significantly outperformed … according to the
//! Wilcoxon signed-rank test for p = 0.05").
//!
//! Conventions (documented choices):
//! * differences are `d_i = x_i − y_i`; **zero differences are dropped**
//!   before ranking (Wilcoxon's original convention, scipy's
//!   `zero_method="wilcox"`, its default);
//! * `|d_i|` are ranked with average ranks for ties;
//! * the statistic reported is `min(W+, W−)` (as scipy's two-sided test);
//! * the p-value is **two-sided**;
//! * [`WilcoxonMethod::Auto`] uses the exact null distribution when at most
//!   [`WilcoxonConfig::exact_max_n`] (default 25) non-zero differences
//!   remain and no `|d_i|` are tied, and the normal approximation
//!   otherwise, with the tie correction of the variance and (by default) a
//!   continuity correction of 0.5. scipy's default is *no* continuity
//!   correction; set [`WilcoxonConfig::continuity_correction`] to `false`
//!   (or use [`WilcoxonConfig::scipy`]) to reproduce it.

use crate::rank::{average_ranks, tie_group_sizes};
use salience_core::{Result, SalienceError};

/// How the p-value is computed.
///
/// ```
/// use salience_metrics::WilcoxonMethod;
/// assert_eq!(WilcoxonMethod::default(), WilcoxonMethod::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WilcoxonMethod {
    /// Exact when `n ≤ exact_max_n` and there are no ties, normal otherwise.
    #[default]
    Auto,
    /// The exact null distribution of W+ (error if `|d|` has ties).
    Exact,
    /// The normal approximation with tie correction.
    Normal,
}

/// Options of [`wilcoxon_signed_rank`].
///
/// ```
/// use salience_metrics::WilcoxonConfig;
/// let c = WilcoxonConfig::default();
/// assert_eq!(c.exact_max_n, 25);
/// assert!(c.continuity_correction);
/// assert!(!WilcoxonConfig::scipy().continuity_correction);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WilcoxonConfig {
    /// Exact or normal approximation (default: automatic).
    pub method: WilcoxonMethod,
    /// Largest number of non-zero differences for which `Auto` uses the
    /// exact distribution (default 25; at most 200).
    pub exact_max_n: usize,
    /// Continuity correction (±0.5 on W+) in the normal approximation
    /// (default true).
    pub continuity_correction: bool,
}

impl Default for WilcoxonConfig {
    fn default() -> Self {
        WilcoxonConfig {
            method: WilcoxonMethod::Auto,
            exact_max_n: 25,
            continuity_correction: true,
        }
    }
}

impl WilcoxonConfig {
    /// scipy.stats.wilcoxon's defaults: exact for n ≤ 50 without ties,
    /// normal approximation without continuity correction otherwise.
    ///
    /// ```
    /// let c = salience_metrics::WilcoxonConfig::scipy();
    /// assert_eq!(c.exact_max_n, 50);
    /// ```
    pub fn scipy() -> Self {
        WilcoxonConfig {
            method: WilcoxonMethod::Auto,
            exact_max_n: 50,
            continuity_correction: false,
        }
    }
}

/// Result of a Wilcoxon signed-rank test.
///
/// ```
/// use salience_metrics::{wilcoxon_signed_rank, WilcoxonConfig, WilcoxonMethod};
/// let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0; 5], &WilcoxonConfig::default())?;
/// assert_eq!((r.w_plus, r.w_minus, r.statistic), (15.0, 0.0, 0.0));
/// assert_eq!(r.method, WilcoxonMethod::Exact);
/// assert!((r.p_value - 0.0625).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WilcoxonResult {
    /// `min(W+, W−)`.
    pub statistic: f64,
    /// Sum of the ranks of the positive differences `x − y > 0`.
    pub w_plus: f64,
    /// Sum of the ranks of the negative differences.
    pub w_minus: f64,
    /// Number of non-zero differences used.
    pub n: usize,
    /// Number of zero differences dropped.
    pub n_zero: usize,
    /// The z statistic of the normal approximation (signed, W+ − E[W+]);
    /// `None` for the exact method.
    pub z: Option<f64>,
    /// Two-sided p-value, in [0, 1].
    pub p_value: f64,
    /// The method actually used (`Exact` or `Normal`, never `Auto`).
    pub method: WilcoxonMethod,
}

/// Two-sided Wilcoxon signed-rank test of the paired samples `x`, `y`
/// (H0: the differences `x − y` are symmetric about 0). See the
/// [module docs](self) for the conventions.
///
/// Errors: different lengths ([`SalienceError::ShapeMismatch`]), empty
/// input or all differences zero ([`SalienceError::Empty`]), NaN/Inf
/// ([`SalienceError::NonFinite`]), `Exact` requested with tied `|d|` or
/// `exact_max_n > 200` ([`SalienceError::InvalidParameter`]).
///
/// ```
/// use salience_metrics::{wilcoxon_signed_rank, WilcoxonConfig};
/// // Darwin's paired plant heights (Fisher), as differences; scipy gives
/// // statistic 24, p = 0.041259765625 (exact).
/// let d = [6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0, 75.0];
/// let r = wilcoxon_signed_rank(&d, &[0.0; 15], &WilcoxonConfig::default())?;
/// assert_eq!(r.statistic, 24.0);
/// assert!((r.p_value - 0.041259765625).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn wilcoxon_signed_rank(
    x: &[f64],
    y: &[f64],
    config: &WilcoxonConfig,
) -> Result<WilcoxonResult> {
    if x.len() != y.len() {
        return Err(SalienceError::shape(
            "wilcoxon_signed_rank y",
            format!("[{}] (same length as x)", x.len()),
            &[y.len()],
        ));
    }
    check_finite64(x, "wilcoxon_signed_rank x")?;
    check_finite64(y, "wilcoxon_signed_rank y")?;
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    wilcoxon_differences(&d, config)
}

/// The same test on the differences `d = x − y` directly.
///
/// ```
/// use salience_metrics::{wilcoxon_differences, WilcoxonConfig};
/// let r = wilcoxon_differences(&[-1.0, 2.0, 0.0, 3.0], &WilcoxonConfig::default())?;
/// assert_eq!((r.n, r.n_zero), (3, 1)); // the zero difference is dropped
/// assert_eq!((r.w_plus, r.w_minus), (5.0, 1.0));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn wilcoxon_differences(d: &[f64], config: &WilcoxonConfig) -> Result<WilcoxonResult> {
    if d.is_empty() {
        return Err(SalienceError::Empty("wilcoxon: no paired samples".into()));
    }
    check_finite64(d, "wilcoxon differences")?;
    if config.exact_max_n > 200 {
        return Err(SalienceError::invalid(
            "exact_max_n",
            config.exact_max_n,
            "must be at most 200 (use the normal approximation for larger n)",
        ));
    }
    let nz: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n_zero = d.len() - nz.len();
    let n = nz.len();
    if n == 0 {
        return Err(SalienceError::Empty(
            "wilcoxon: every paired difference is zero".into(),
        ));
    }
    let abs: Vec<f64> = nz.iter().map(|v| v.abs()).collect();
    let ranks = average_ranks(&abs);
    let w_plus: f64 = nz
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    let w_minus = total - w_plus;
    let statistic = w_plus.min(w_minus);
    let ties = tie_group_sizes(&abs);

    let method = match config.method {
        WilcoxonMethod::Auto => {
            if n <= config.exact_max_n && ties.is_empty() {
                WilcoxonMethod::Exact
            } else {
                WilcoxonMethod::Normal
            }
        }
        WilcoxonMethod::Exact => {
            if !ties.is_empty() {
                return Err(SalienceError::invalid(
                    "method",
                    "Exact",
                    "the exact distribution needs untied |x − y|; use Auto or Normal",
                ));
            }
            if n > 200 {
                return Err(SalienceError::invalid(
                    "method",
                    "Exact",
                    "the exact distribution is limited to 200 non-zero differences",
                ));
            }
            WilcoxonMethod::Exact
        }
        WilcoxonMethod::Normal => WilcoxonMethod::Normal,
    };

    let (z, p_value) = match method {
        WilcoxonMethod::Exact => {
            // With untied ranks 1..n the statistic is an integer.
            let t = statistic.round() as usize;
            let p = 2.0 * exact_lower_tail(n, t);
            (None, p.min(1.0))
        }
        _ => {
            let nf = n as f64;
            let mean = nf * (nf + 1.0) / 4.0;
            let tie_term: f64 = ties
                .iter()
                .map(|&t| {
                    let t = t as f64;
                    t * (t * t - 1.0)
                })
                .sum();
            let var = (nf * (nf + 1.0) * (2.0 * nf + 1.0) - 0.5 * tie_term) / 24.0;
            let mut dev = w_plus - mean;
            if config.continuity_correction {
                dev = if dev.abs() <= 0.5 {
                    0.0
                } else {
                    dev - 0.5 * dev.signum()
                };
            }
            // var > 0 for every n ≥ 1 (see the tie-corrected formula).
            let z = if var > 0.0 { dev / var.sqrt() } else { 0.0 };
            let p = statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2);
            (Some(z), p.clamp(0.0, 1.0))
        }
    };

    Ok(WilcoxonResult {
        statistic,
        w_plus,
        w_minus,
        n,
        n_zero,
        z,
        p_value,
        method,
    })
}

/// P(W+ ≤ t) under H0 for n untied ranks: the number of subsets of
/// {1..n} with sum ≤ t, over 2ⁿ (dynamic programming on probabilities).
fn exact_lower_tail(n: usize, t: usize) -> f64 {
    let max = n * (n + 1) / 2;
    let mut p = vec![0.0f64; max + 1];
    p[0] = 1.0;
    for k in 1..=n {
        let reach = k * (k + 1) / 2;
        for s in (0..=reach).rev() {
            let with = if s >= k { p[s - k] } else { 0.0 };
            p[s] = 0.5 * (p[s] + with);
        }
    }
    p.iter().take(t.min(max) + 1).sum::<f64>().min(1.0)
}

fn check_finite64(v: &[f64], context: &str) -> Result<()> {
    if let Some((index, &value)) = v.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: context.to_string(),
            index,
            value: value as f32,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn darwin() -> Vec<f64> {
        vec![
            6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0,
            75.0,
        ]
    }

    #[test]
    fn exact_darwin_matches_scipy() {
        // scipy.stats.wilcoxon(d) -> statistic=24.0, pvalue=0.041259765625
        let r = wilcoxon_differences(&darwin(), &WilcoxonConfig::default()).unwrap();
        assert_eq!(r.method, WilcoxonMethod::Exact);
        assert_eq!((r.w_plus, r.w_minus, r.statistic), (96.0, 24.0, 24.0));
        assert!((r.p_value - 0.041259765625).abs() < 1e-12);
        // One-sided P(W− ≤ 24) = 676 / 2^15 (scipy alternative='greater': 0.020629882812).
        assert!((exact_lower_tail(15, 24) - 676.0 / 32768.0).abs() < 1e-15);
    }

    #[test]
    fn exact_small_case_by_hand() {
        // n = 3, d = [1, -2, 3]: ranks 1, 2, 3; W+ = 4, W− = 2, T = 2.
        // Subsets of {1,2,3} with sum ≤ 2: {}, {1}, {2} → 3/8; p = 6/8.
        let r = wilcoxon_differences(&[1.0, -2.0, 3.0], &WilcoxonConfig::default()).unwrap();
        assert_eq!(r.statistic, 2.0);
        assert!((r.p_value - 0.75).abs() < 1e-15);
        // Symmetric: swapping x and y gives the same p-value.
        let r2 =
            wilcoxon_signed_rank(&[0.0; 3], &[1.0, -2.0, 3.0], &WilcoxonConfig::default()).unwrap();
        assert_eq!(r2.p_value, r.p_value);
        assert_eq!((r2.w_plus, r2.w_minus), (2.0, 4.0));
    }

    #[test]
    fn exact_distribution_is_a_distribution() {
        for n in 1..=12 {
            let max = n * (n + 1) / 2;
            assert!((exact_lower_tail(n, max) - 1.0).abs() < 1e-12);
        }
        // P(W ≤ 0) = 2^-n.
        assert!((exact_lower_tail(10, 0) - 1.0 / 1024.0).abs() < 1e-15);
    }

    #[test]
    fn normal_approximation_by_hand() {
        // Darwin data forced through the normal approximation:
        // mean = 15*16/4 = 60, var = 15*16*31/24 = 310, W+ = 96.
        let cfg = WilcoxonConfig {
            method: WilcoxonMethod::Normal,
            continuity_correction: false,
            ..Default::default()
        };
        let r = wilcoxon_differences(&darwin(), &cfg).unwrap();
        let z = 36.0 / 310f64.sqrt();
        assert!((r.z.unwrap() - z).abs() < 1e-12);
        // 2 * (1 - Phi(36 / sqrt(310))) = erfc(2.04466 / sqrt 2).
        assert!(
            (r.p_value - 0.040888132911855925).abs() < 1e-10,
            "{}",
            r.p_value
        );
        let cc = WilcoxonConfig {
            method: WilcoxonMethod::Normal,
            ..Default::default()
        };
        let r = wilcoxon_differences(&darwin(), &cc).unwrap();
        assert!((r.z.unwrap() - 35.5 / 310f64.sqrt()).abs() < 1e-12);
        assert!((r.p_value - 0.043772323763041195).abs() < 1e-10);
    }

    #[test]
    fn ties_use_corrected_normal() {
        // |d| = [1, 1, 2, 3]: ranks 1.5, 1.5, 3, 4; one tie group of 2.
        let r = wilcoxon_differences(&[1.0, -1.0, 2.0, 3.0], &WilcoxonConfig::default()).unwrap();
        assert_eq!(r.method, WilcoxonMethod::Normal);
        assert_eq!((r.w_plus, r.w_minus), (8.5, 1.5));
        // mean 5, var = (4*5*9 - 0.5*2*3)/24 = 177/24, dev = 3.5 - 0.5 = 3.
        let z = 3.0 / (177.0f64 / 24.0).sqrt();
        assert!((r.z.unwrap() - z).abs() < 1e-12);
        let exact = WilcoxonConfig {
            method: WilcoxonMethod::Exact,
            ..Default::default()
        };
        assert!(matches!(
            wilcoxon_differences(&[1.0, -1.0, 2.0], &exact),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn bad_input_is_typed() {
        let c = WilcoxonConfig::default();
        assert!(matches!(
            wilcoxon_signed_rank(&[1.0], &[1.0, 2.0], &c),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            wilcoxon_differences(&[0.0, 0.0], &c),
            Err(SalienceError::Empty(_))
        ));
        assert!(matches!(
            wilcoxon_differences(&[], &c),
            Err(SalienceError::Empty(_))
        ));
        assert!(matches!(
            wilcoxon_differences(&[1.0, f64::NAN], &c),
            Err(SalienceError::NonFinite { index: 1, .. })
        ));
    }
}
