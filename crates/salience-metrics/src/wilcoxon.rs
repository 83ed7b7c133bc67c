//! The Wilcoxon signed-rank test for paired comparisons of per-sample
//! scores (e.g. two attribution methods scored on the same images, as in
//! Bykov et al. (2022)'s tables: "not significantly outperformed … according to the
//! Wilcoxon signed-rank test for p = 0.05").
//!
//! Conventions (documented choices):
//! * differences are `d_i = x_i − y_i`; by default **zero differences are
//!   dropped** before ranking (Wilcoxon's original convention, scipy's
//!   `zero_method="wilcox"`, its default); [`ZeroMethod::Pratt`] ranks them
//!   with the others and then drops their ranks (Pratt 1959, with
//!   Cureton's 1967 normal approximation), and [`ZeroMethod::Zsplit`] ranks
//!   them and adds half of their ranks to each of W+ and W− (so ties pull
//!   the statistic towards its null mean) — both exactly as scipy's
//!   `zero_method="pratt"` / `"zsplit"`;
//! * `|d_i|` are ranked with average ranks for ties;
//! * the statistic reported is `min(W+, W−)` (as scipy's two-sided test);
//! * the p-value is **two-sided**;
//! * [`WilcoxonMethod::Auto`] uses the exact null distribution when at most
//!   [`WilcoxonConfig::exact_max_n`] (default 25) non-zero differences
//!   remain and no `|d_i|` are tied, and the normal approximation
//!   otherwise, with the tie correction of the variance and (by default) a
//!   continuity correction of 0.5. scipy's default is *no* continuity
//!   correction; set [`WilcoxonConfig::continuity_correction`] to `false`
//!   (or use [`WilcoxonConfig::scipy`]) to reproduce it;
//! * [`WilcoxonMethod::Permutation`] is the exact *conditional* null
//!   distribution of W+ given the observed (average) ranks, i.e. over the
//!   2ⁿ sign flips; it is exact with tied `|d_i|` too. scipy ≥ 1.13 uses it
//!   (as a permutation test) when `|d|` has ties or zero differences and at
//!   most 13 pairs are given; [`WilcoxonConfig::scipy`] reproduces that rule
//!   ([`WilcoxonConfig::permutation_max_len`], [`WilcoxonConfig::zeros_leave_exact`]).
//!
//! The exact null distribution of W+ is computed by dynamic programming and
//! `p = min(1, 2·P(W ≤ T))`; the normal approximation uses
//! `E = n(n+1)/4`, `Var = [n(n+1)(2n+1) − ½ Σ t(t²−1)]/24` (tie groups of
//! size `t`) and `p = erfc(|z|/√2)`. Every difference zero is
//! [`SalienceError::Empty`]; requesting [`WilcoxonMethod::Exact`] with tied
//! `|d_i|` is [`SalienceError::InvalidParameter`].
//!
//! Tests: Darwin's data (scipy's docs) give statistic 24 and
//! p = 0.041259765625 exactly (one-sided tail 676/2¹⁵); hand-computed
//! n = 3 and n = 5 cases; the normal approximation with and without
//! continuity correction, and with a tie group, against closed forms.

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
    /// The exact conditional distribution of W+ over the 2ⁿ sign flips of
    /// the observed average ranks (valid with ties; at most 200 non-zero
    /// differences).
    Permutation,
}

/// How zero differences `x_i = y_i` enter the test (scipy's `zero_method`).
///
/// ```
/// use salience_metrics::{wilcoxon_differences, WilcoxonConfig, ZeroMethod};
/// // 15 ties and 5 positive differences (scipy 1.17: p = 0.0431 dropping
/// // the zeros, 0.0770 splitting them).
/// let mut d = vec![0.0; 15];
/// d.extend([1.0, 2.0, 3.0, 4.0, 5.0]);
/// let drop = wilcoxon_differences(&d, &WilcoxonConfig::scipy())?;
/// let split = WilcoxonConfig { zero_method: ZeroMethod::Zsplit, ..WilcoxonConfig::scipy() };
/// let split = wilcoxon_differences(&d, &split)?;
/// // Dropped: W+ = 1 + … + 5. Split: ranks 16..=20 plus half of 1..=15.
/// assert_eq!((drop.w_plus, split.w_plus, split.w_minus), (15.0, 150.0, 60.0));
/// assert!(drop.p_value < 0.05 && split.p_value > 0.05); // the ties weigh in
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ZeroMethod {
    /// Drop zero differences before ranking (Wilcoxon 1945; scipy's
    /// default `"wilcox"`): ties carry no evidence either way.
    #[default]
    Wilcox,
    /// Rank the zeros with the other `|d_i|` (they take the lowest ranks),
    /// then drop their ranks; the normal approximation's mean and variance
    /// are corrected for the dropped ranks (Pratt 1959, Cureton 1967;
    /// scipy's `"pratt"`).
    Pratt,
    /// Rank the zeros with the other `|d_i|` and add half of their ranks to
    /// each of W+ and W− (scipy's `"zsplit"`): every tie counts as evidence
    /// of no difference, so a comparison that is mostly ties cannot be
    /// significant however one-sided its few untied pairs are.
    Zsplit,
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
    /// `Auto` with tied `|d|` or zero differences: when the number of pairs
    /// (zeros included) is at most this, the exact
    /// [`WilcoxonMethod::Permutation`] distribution is used instead of the
    /// normal approximation (default 0: never; scipy: 13, at most 200).
    pub permutation_max_len: usize,
    /// `Auto`: zero differences rule out the plain exact distribution (as in
    /// scipy ≥ 1.13) even though, with zeros dropped, it is still exact for
    /// untied `|d|` (default false; scipy: true). With zeros ranked
    /// ([`ZeroMethod::Pratt`], [`ZeroMethod::Zsplit`]) the plain exact
    /// distribution never applies to zeros.
    pub zeros_leave_exact: bool,
    /// How zero differences enter (default [`ZeroMethod::Wilcox`], as scipy).
    pub zero_method: ZeroMethod,
}

impl Default for WilcoxonConfig {
    fn default() -> Self {
        WilcoxonConfig {
            method: WilcoxonMethod::Auto,
            exact_max_n: 25,
            continuity_correction: true,
            permutation_max_len: 0,
            zeros_leave_exact: false,
            zero_method: ZeroMethod::Wilcox,
        }
    }
}

impl WilcoxonConfig {
    /// scipy.stats.wilcoxon's defaults (`zero_method="wilcox"`,
    /// `correction=False`, `method="auto"`, scipy ≥ 1.13): the exact
    /// distribution for at most 50 pairs without ties or zero differences;
    /// with ties or zeros, the exact permutation distribution for at most 13
    /// pairs; the tie-corrected normal approximation without continuity
    /// correction otherwise.
    ///
    /// ```
    /// let c = salience_metrics::WilcoxonConfig::scipy();
    /// assert_eq!((c.exact_max_n, c.permutation_max_len), (50, 13));
    /// ```
    pub fn scipy() -> Self {
        WilcoxonConfig {
            method: WilcoxonMethod::Auto,
            exact_max_n: 50,
            continuity_correction: false,
            permutation_max_len: 13,
            zeros_leave_exact: true,
            zero_method: ZeroMethod::Wilcox,
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
    /// Sum of the ranks of the positive differences `x − y > 0` (with
    /// [`ZeroMethod::Zsplit`], plus half the zeros' ranks).
    pub w_plus: f64,
    /// Sum of the ranks of the negative differences (with
    /// [`ZeroMethod::Zsplit`], plus half the zeros' ranks).
    pub w_minus: f64,
    /// Number of non-zero differences.
    pub n: usize,
    /// Number of zero differences (dropped, or ranked by
    /// [`ZeroMethod::Pratt`] / [`ZeroMethod::Zsplit`]).
    pub n_zero: usize,
    /// The z statistic of the normal approximation (signed, W+ − E[W+]);
    /// `None` for the exact method.
    pub z: Option<f64>,
    /// Two-sided p-value, in [0, 1].
    pub p_value: f64,
    /// The method actually used (`Exact`, `Normal` or `Permutation`, never
    /// `Auto`).
    pub method: WilcoxonMethod,
}

/// Two-sided Wilcoxon signed-rank test of the paired samples `x`, `y`
/// (H0: the differences `x − y` are symmetric about 0). See the
/// [module docs](self) for the conventions.
///
/// Errors: different lengths ([`SalienceError::ShapeMismatch`]), empty
/// input or all differences zero ([`SalienceError::Empty`]), NaN/Inf
/// ([`SalienceError::NonFinite`]), `Exact` requested with tied `|d|` (or
/// with zero differences under [`ZeroMethod::Pratt`] / [`ZeroMethod::Zsplit`]),
/// `Exact`/`Permutation` with more than 200 non-zero differences, or
/// `exact_max_n`/`permutation_max_len > 200`
/// ([`SalienceError::InvalidParameter`]).
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
    if config.permutation_max_len > 200 {
        return Err(SalienceError::invalid(
            "permutation_max_len",
            config.permutation_max_len,
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
    let zeros_ranked = config.zero_method != ZeroMethod::Wilcox && n_zero > 0;
    // The values ranked: the non-zero differences, or all of them.
    let ranked: &[f64] = if zeros_ranked { d } else { &nz };
    let abs: Vec<f64> = ranked.iter().map(|v| v.abs()).collect();
    let ranks = average_ranks(&abs);
    let sum_where = |keep: fn(f64) -> bool| -> f64 {
        ranked
            .iter()
            .zip(&ranks)
            .filter(|(v, _)| keep(**v))
            .map(|(_, r)| r)
            .sum()
    };
    // W+ over the non-zero differences only (the permutation's statistic).
    let positive = sum_where(|v| v > 0.0);
    let negative = sum_where(|v| v < 0.0);
    let zero_half = if config.zero_method == ZeroMethod::Zsplit {
        sum_where(|v| v == 0.0) / 2.0
    } else {
        0.0
    };
    let w_plus = positive + zero_half;
    let w_minus = negative + zero_half;
    let statistic = w_plus.min(w_minus);
    // Tie groups of |d|; Pratt leaves the zeros' group out (as scipy).
    let ties = if config.zero_method == ZeroMethod::Pratt {
        tie_group_sizes(&nz.iter().map(|v| v.abs()).collect::<Vec<_>>())
    } else {
        tie_group_sizes(&abs)
    };

    let method = match config.method {
        WilcoxonMethod::Auto => {
            let zeros_block = (config.zeros_leave_exact || zeros_ranked) && n_zero > 0;
            if n <= config.exact_max_n && ties.is_empty() && !zeros_block {
                WilcoxonMethod::Exact
            } else if d.len() <= config.permutation_max_len {
                WilcoxonMethod::Permutation
            } else {
                WilcoxonMethod::Normal
            }
        }
        WilcoxonMethod::Permutation => {
            if n > 200 {
                return Err(SalienceError::invalid(
                    "method",
                    "Permutation",
                    "the permutation distribution is limited to 200 non-zero differences",
                ));
            }
            WilcoxonMethod::Permutation
        }
        WilcoxonMethod::Exact => {
            if !ties.is_empty() || zeros_ranked {
                return Err(SalienceError::invalid(
                    "method",
                    "Exact",
                    "the exact distribution needs untied |x − y| (and no zero difference \
                     when zeros are ranked); use Auto, Permutation or Normal",
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
        WilcoxonMethod::Permutation => {
            // Only the non-zero differences' signs can flip; a zero adds the
            // same (Zsplit) or nothing (Wilcox, Pratt) to every flip's W+.
            let flippable: Vec<f64> = ranked
                .iter()
                .zip(&ranks)
                .filter(|(v, _)| **v != 0.0)
                .map(|(_, r)| *r)
                .collect();
            (None, permutation_p_value(&flippable, positive))
        }
        _ => {
            // Every ranked value counts (N = n, or n + zeros when ranked);
            // Pratt removes the zeros' ranks 1..=n₀ from the mean and the
            // variance (Cureton 1967), as scipy.
            let nf = ranked.len() as f64;
            let z0 = if config.zero_method == ZeroMethod::Pratt && zeros_ranked {
                n_zero as f64
            } else {
                0.0
            };
            let mean = nf * (nf + 1.0) / 4.0 - z0 * (z0 + 1.0) / 4.0;
            let tie_term: f64 = ties
                .iter()
                .map(|&t| {
                    let t = t as f64;
                    t * (t * t - 1.0)
                })
                .sum();
            let var = (nf * (nf + 1.0) * (2.0 * nf + 1.0)
                - z0 * (z0 + 1.0) * (2.0 * z0 + 1.0)
                - 0.5 * tie_term)
                / 24.0;
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
/// {1..n} with sum ≤ t, over 2ⁿ.
pub(crate) fn exact_lower_tail(n: usize, t: usize) -> f64 {
    let p = exact_null_pmf(n);
    let max = p.len() - 1;
    p.iter().take(t.min(max) + 1).sum::<f64>().min(1.0)
}

/// P(W+ = s), s = 0..=n(n+1)/2, under H0 for n untied ranks (dynamic
/// programming on probabilities).
pub(crate) fn exact_null_pmf(n: usize) -> Vec<f64> {
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
    p
}

/// Two-sided p-value of the observed W+ under the exact conditional
/// distribution over the 2ⁿ sign flips of `ranks` (average ranks, hence
/// multiples of ½): `2·min(P(W+ ≤ w), P(W+ ≥ w))`, clipped to 1, as
/// scipy's permutation test. Dynamic programming on doubled ranks.
fn permutation_p_value(ranks: &[f64], w_plus: f64) -> f64 {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let max: usize = doubled.iter().sum();
    let mut p = vec![0.0f64; max + 1];
    p[0] = 1.0;
    let mut reach = 0;
    for &k in &doubled {
        reach += k;
        for s in (0..=reach).rev() {
            let with = if s >= k { p[s - k] } else { 0.0 };
            p[s] = 0.5 * (p[s] + with);
        }
    }
    let w = ((2.0 * w_plus).round() as usize).min(max);
    let lower: f64 = p[..=w].iter().sum();
    let upper: f64 = p[w..].iter().sum();
    (2.0 * lower.min(upper)).clamp(0.0, 1.0)
}

pub(crate) fn check_finite64(v: &[f64], context: &str) -> Result<()> {
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

    /// scipy.stats.wilcoxon(d) (scipy 1.17.1, default arguments) on the
    /// same differences, statistic and p-value.
    #[test]
    fn scipy_config_matches_scipy() {
        let c = WilcoxonConfig::scipy();
        let cases: [(&[f64], f64, f64, WilcoxonMethod); 6] = [
            // ties, 4 pairs: permutation test
            (
                &[1.0, -1.0, 2.0, 3.0],
                1.5,
                0.375,
                WilcoxonMethod::Permutation,
            ),
            // zeros, 8 pairs: permutation test
            (
                &[0.0, 1.0, 2.0, -3.0, 4.0, 5.0, 0.0, 6.0],
                3.0,
                0.15625,
                WilcoxonMethod::Permutation,
            ),
            // ties and a zero, 13 pairs: still the permutation test
            (
                &[
                    0.0, 1.0, 1.0, -1.0, 2.0, 2.0, 3.0, -4.0, 5.0, 6.0, 6.0, 7.0, 8.0,
                ],
                9.0,
                0.015625,
                WilcoxonMethod::Permutation,
            ),
            // ties and a zero, 20 pairs: normal approximation, no correction
            (
                &[
                    0.4, 0.7, 0.1, 0.0, -0.1, -0.6, 0.5, 1.7, -0.1, -0.2, 0.9, 0.8, 0.5, -0.5, 0.4,
                    1.1, -0.9, -0.1, -1.5, -0.9,
                ],
                80.5,
                0.5587918088452958,
                WilcoxonMethod::Normal,
            ),
            // 30 untied pairs: exact
            (
                &[
                    -1.541735, 0.064909, -0.967446, 0.571264, 0.456751, 0.113069, -2.21676,
                    -0.238693, 0.251499, 0.413309, -1.230136, -0.177753, -0.678519, -0.508837,
                    1.360899, -0.507535, 0.267478, 1.18439, -0.2836, 0.188298, 0.410464, 0.363782,
                    -0.925056, 0.37614, 1.658823, -1.247145, 1.159383, 0.419354, -0.34147,
                    2.300417,
                ],
                223.0,
                0.8552717231214046,
                WilcoxonMethod::Exact,
            ),
            // 60 untied pairs: normal approximation
            (
                &[
                    1.01226, -0.949289, 0.324516, 0.82669, 0.061218, 0.93291, 0.183483, 0.917248,
                    1.688523, -0.425662, 0.453139, -0.213308, 0.377268, -0.937195, -0.329302,
                    0.053804, 1.148764, 1.395222, -1.073528, -0.544642, 0.896903, -1.74242,
                    -0.21317, 0.152713, 1.507015, 0.939404, -0.077213, -0.118576, -0.000195,
                    1.773529, -0.178025, -0.05368, 0.602589, 0.12923, 0.052716, -0.864067,
                    0.238479, -0.193581, 1.416128, 0.903089, 0.225856, 0.918381, -0.08987,
                    1.302126, 0.2446, 0.833382, -1.040893, 0.59668, -1.438204, -1.785329,
                    -0.054477, -0.649928, 0.414053, 2.494757, -0.581723, -0.373944, 0.455404,
                    0.743013, 0.073594, 0.04407,
                ],
                670.0,
                0.07129517575940755,
                WilcoxonMethod::Normal,
            ),
        ];
        for (d, stat, p, method) in cases {
            let r = wilcoxon_differences(d, &c).unwrap();
            assert_eq!(r.method, method, "{d:?}");
            assert_eq!(r.statistic, stat, "{d:?}");
            // (statrs's erfc and scipy's normal sf agree to ~1e-11)
            assert!((r.p_value - p).abs() < 1e-10, "{d:?}: {} vs {p}", r.p_value);
        }
        // The default config keeps its rule: zeros do not leave the exact path.
        let r = wilcoxon_differences(
            &[0.0, 1.0, 2.0, -3.0, 4.0, 5.0, 0.0, 6.0],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r.method, WilcoxonMethod::Exact);
        // With untied ranks the permutation distribution is the exact one.
        let perm = WilcoxonConfig {
            method: WilcoxonMethod::Permutation,
            ..Default::default()
        };
        let a = wilcoxon_differences(&darwin(), &perm).unwrap();
        assert!((a.p_value - 0.041259765625).abs() < 1e-12);
    }

    /// scipy.stats.wilcoxon(d, zero_method=…) (scipy 1.17.1, otherwise
    /// default arguments): statistic and p-value with the zeros ranked.
    #[test]
    fn pratt_and_zsplit_match_scipy() {
        let mut tied = vec![0.0; 15];
        tied.extend([1.0, 2.0, 3.0, 4.0, 5.0]);
        let noisy = [
            0.4, 0.7, 0.1, 0.0, -0.1, -0.6, 0.5, 1.7, -0.1, -0.2, 0.9, 0.8, 0.5, -0.5, 0.4, 1.1,
            -0.9, -0.1, -1.5, -0.9,
        ];
        let many = [
            0.0, 0.0, 0.0, 1.0, 1.0, -1.0, 2.0, 2.0, 3.0, -4.0, 5.0, 6.0, 6.0, 7.0, 8.0, 0.0, 9.0,
            10.0, -11.0, 12.0, 0.0, 13.0,
        ];
        let small: &[f64] = &[0.0, 0.0, 1.0, 2.0, 3.0];
        let eight: &[f64] = &[0.0, 1.0, 2.0, -3.0, 4.0, 5.0, 0.0, 6.0];
        use ZeroMethod::{Pratt, Zsplit};
        let cases: [(&[f64], ZeroMethod, f64, f64, WilcoxonMethod); 10] = [
            (
                &tied,
                Pratt,
                0.0,
                0.025800712226030923,
                WilcoxonMethod::Normal,
            ),
            (
                &tied,
                Zsplit,
                60.0,
                0.07698581147096221,
                WilcoxonMethod::Normal,
            ),
            (small, Pratt, 0.0, 0.25, WilcoxonMethod::Permutation),
            (small, Zsplit, 1.5, 0.25, WilcoxonMethod::Permutation),
            (eight, Pratt, 5.0, 0.125, WilcoxonMethod::Permutation),
            (eight, Zsplit, 6.5, 0.125, WilcoxonMethod::Permutation),
            (
                &noisy,
                Pratt,
                89.5,
                0.5747857872188656,
                WilcoxonMethod::Normal,
            ),
            (
                &noisy,
                Zsplit,
                90.0,
                0.5748526445797921,
                WilcoxonMethod::Normal,
            ),
            (
                &many,
                Pratt,
                39.0,
                0.00886206965193102,
                WilcoxonMethod::Normal,
            ),
            (
                &many,
                Zsplit,
                46.5,
                0.009275971285682522,
                WilcoxonMethod::Normal,
            ),
        ];
        for (d, zero_method, stat, p, method) in cases {
            let c = WilcoxonConfig {
                zero_method,
                ..WilcoxonConfig::scipy()
            };
            let r = wilcoxon_differences(d, &c).unwrap();
            assert_eq!(r.method, method, "{zero_method:?} {d:?}");
            assert_eq!(r.statistic, stat, "{zero_method:?} {d:?}");
            assert!(
                (r.p_value - p).abs() < 1e-10,
                "{zero_method:?} {d:?}: {} vs {p}",
                r.p_value
            );
        }
        // Without zeros the three methods are one test.
        for zero_method in [Pratt, Zsplit] {
            let c = WilcoxonConfig {
                zero_method,
                ..Default::default()
            };
            let a = wilcoxon_differences(&darwin(), &c).unwrap();
            assert_eq!(a.method, WilcoxonMethod::Exact);
            assert!((a.p_value - 0.041259765625).abs() < 1e-12);
            // Zeros ranked: the plain exact distribution does not apply.
            let exact = WilcoxonConfig {
                method: WilcoxonMethod::Exact,
                ..c
            };
            assert!(matches!(
                wilcoxon_differences(small, &exact),
                Err(SalienceError::InvalidParameter { .. })
            ));
        }
    }

    #[test]
    fn zsplit_by_hand() {
        // d = [0, 0, 1, 2, 3]: |d| ranks 1.5, 1.5, 3, 4, 5. W+ = 12 + 1.5,
        // W− = 1.5; N = 5, mean 7.5, tie group of 2: var = (330 − 3)/24.
        let c = WilcoxonConfig {
            method: WilcoxonMethod::Normal,
            continuity_correction: false,
            zero_method: ZeroMethod::Zsplit,
            ..Default::default()
        };
        let r = wilcoxon_differences(&[0.0, 0.0, 1.0, 2.0, 3.0], &c).unwrap();
        assert_eq!((r.w_plus, r.w_minus, r.n, r.n_zero), (13.5, 1.5, 3, 2));
        assert!((r.z.unwrap() - 6.0 / (327.0f64 / 24.0).sqrt()).abs() < 1e-12);
        // Pratt: W+ = 12, mean 7.5 − 2·3/4 = 6, var = (330 − 30)/24.
        let c = WilcoxonConfig {
            zero_method: ZeroMethod::Pratt,
            ..c
        };
        let r = wilcoxon_differences(&[0.0, 0.0, 1.0, 2.0, 3.0], &c).unwrap();
        assert_eq!((r.w_plus, r.w_minus), (12.0, 0.0));
        assert!((r.z.unwrap() - 6.0 / 12.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn permutation_by_hand() {
        // |d| = [1, 1, 2]: ranks 1.5, 1.5, 3; the 8 sign flips give W+ in
        // {0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6}. Observed d = [1, 1, -2]: W+ = 3,
        // P(W+ ≤ 3) = 5/8, P(W+ ≥ 3) = 5/8, p = min(1, 10/8) = 1.
        let cfg = WilcoxonConfig {
            method: WilcoxonMethod::Permutation,
            ..Default::default()
        };
        let r = wilcoxon_differences(&[1.0, 1.0, -2.0], &cfg).unwrap();
        assert_eq!(r.w_plus, 3.0);
        assert_eq!(r.p_value, 1.0);
        // d = [1, 1, 2]: W+ = 6, P(W+ ≥ 6) = 1/8, p = 1/4.
        let r = wilcoxon_differences(&[1.0, 1.0, 2.0], &cfg).unwrap();
        assert!((r.p_value - 0.25).abs() < 1e-15);
        let too_big = WilcoxonConfig {
            permutation_max_len: 201,
            ..Default::default()
        };
        assert!(matches!(
            wilcoxon_differences(&[1.0], &too_big),
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
