//! Verdicts on a paper's claims that cannot flatter.
//!
//! A [`Claim`] is a list of [`Comparison`]s: labels `a`, `b`, the paper's
//! [`Direction`] (`a > b` or `a < b`) and paired per-sample scores (or one
//! sample against a constant, or two independent samples). [`Claim::evaluate`]
//! tests each comparison with the paired two-sided Wilcoxon signed-rank test
//! ([`wilcoxon_differences`], by default scipy's defaults with tied pairs
//! ranked and split, see **Ties** below) — independent
//! samples ([`Comparison::unpaired`]) with the Mann–Whitney U test
//! ([`mann_whitney_u`], scipy's defaults) —, corrects the
//! p-values across the claim's comparisons with Holm–Bonferroni, and
//! reports per comparison:
//!
//! * the **median paired difference** `median(x − y)`;
//! * the **Hodges–Lehmann estimate**: the median of the Walsh averages
//!   `(d_i + d_j) / 2, i ≤ j` of the differences, and its distribution-free
//!   **confidence interval** from the ordered Walsh averages (Hollander &
//!   Wolfe, the interval of R's `wilcox.test(conf.int = TRUE)`): with
//!   `c` the largest integer with `P(W+ ≤ c) ≤ (1 − confidence) / 2` under
//!   the null distribution of the signed-rank statistic (exact for at most
//!   200 differences, the normal approximation above), the interval is
//!   `[W₍c+1₎, W₍M−c₎]` of the `M = n(n+1)/2` sorted Walsh averages. All
//!   `n` differences enter, zeros included; for `n ≤ 5` at 95 % no `c`
//!   exists and the interval is the full range of the Walsh averages;
//! * the **matched-pairs rank-biserial correlation**
//!   `r = (W+ − W−) / (W+ + W−)` (Kerby 2014), 0 when every difference is
//!   zero;
//! * the raw and Holm-adjusted p-values and `n` (with the count of zero
//!   differences).
//!
//! **Ties.** A difference with `|x − y| ≤ rel_tol · max(|x|, |y|)`
//! ([`VerdictConfig::rel_tol`], default 1e-6, about f32 rounding) counts as
//! zero. Zero differences are **ranked and split** between W+ and W−
//! ([`ZeroMethod::Zsplit`], scipy's
//! `zero_method="zsplit"`; otherwise scipy's defaults): every tie is
//! evidence of no difference, so a comparison that is mostly ties cannot be
//! significant however one-sided its few untied pairs are (15 ties and 5
//! positive differences: p = 0.077, where dropping the zeros, scipy's
//! default, gives 0.043), and the rank-biserial `r` shrinks towards 0 with
//! the share of ties. A comparison whose differences are all zero has
//! p = 1. A tie therefore can never be significant.
//!
//! **Verdict** ([`Verdict`]): a comparison is *significant* when its
//! Holm-adjusted p-value is below `alpha` (default 0.05); its observed
//! direction is the sign of `r`. The claim **agrees** iff every comparison
//! is significant in the paper's direction, **disagrees** iff at least one
//! is significant in the opposite direction, and is **inconclusive**
//! otherwise. [`ClaimResult`]'s `Display` prints the verdict followed by
//! each comparison's effect, interval, adjusted p and n, so no verdict text
//! has to be written by hand.
//!
//! ```
//! use salience_metrics::verdict::{Claim, Direction, Verdict, VerdictConfig};
//! let fg = [0.10, 0.20, 0.15, 0.30, 0.25, 0.12, 0.22, 0.18];
//! let ng = [0.50, 0.60, 0.55, 0.70, 0.65, 0.52, 0.62, 0.58];
//! // "FG is more robust (lower score) than NG" — and, here, than itself.
//! let r = Claim::new()
//!     .paired("FG", "NG", Direction::Less, &fg, &ng)
//!     .paired("FG", "FG (copy)", Direction::Less, &fg, &fg)
//!     .evaluate(&VerdictConfig::default())?;
//! assert_eq!(r.pairs[0].verdict, Verdict::Agrees);
//! assert_eq!(r.pairs[1].verdict, Verdict::Inconclusive); // a tie never agrees
//! assert_eq!(r.verdict, Verdict::Inconclusive);
//! println!("{r}");
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use std::fmt;

use crate::mann_whitney::{
    hodges_lehmann_shift, lower_critical_value, mann_whitney_u, MannWhitneyMethod,
};
use crate::wilcoxon::{
    check_finite64, exact_null_pmf, wilcoxon_differences, WilcoxonConfig, WilcoxonMethod,
    ZeroMethod,
};
use salience_core::{Result, SalienceError};
use statrs::distribution::{ContinuousCDF, Normal};

/// Largest number of pairs of one comparison (the Walsh averages take
/// `n(n+1)/2` values of memory).
pub const MAX_PAIRS: usize = 5000;

/// The direction a paper claims for `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a > b`: the paired differences `a − b` are positive.
    Greater,
    /// `a < b`: the paired differences `a − b` are negative.
    Less,
}

impl Direction {
    /// `">"` or `"<"`.
    ///
    /// ```
    /// assert_eq!(salience_metrics::verdict::Direction::Less.symbol(), "<");
    /// ```
    pub fn symbol(self) -> &'static str {
        match self {
            Direction::Greater => ">",
            Direction::Less => "<",
        }
    }

    /// The direction in which a metric is better: `Greater` when higher is
    /// better. A claim "a is better than b" is `Direction::better(higher)`.
    ///
    /// ```
    /// use salience_metrics::verdict::Direction;
    /// assert_eq!(Direction::better(false), Direction::Less);
    /// ```
    pub fn better(higher_is_better: bool) -> Direction {
        if higher_is_better {
            Direction::Greater
        } else {
            Direction::Less
        }
    }

    /// The opposite direction.
    ///
    /// ```
    /// use salience_metrics::verdict::Direction;
    /// assert_eq!(Direction::Greater.opposite(), Direction::Less);
    /// ```
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Greater => Direction::Less,
            Direction::Less => Direction::Greater,
        }
    }
}

/// The verdict on a comparison or on a whole claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every comparison is significant in the paper's direction.
    Agrees,
    /// At least one comparison is significant in the opposite direction.
    Disagrees,
    /// Neither: some comparison is not significant (a tie, a difference
    /// within noise, too few samples).
    Inconclusive,
}

impl Verdict {
    /// Combines comparison verdicts into a claim verdict (any `Disagrees`
    /// wins, then all `Agrees`, else `Inconclusive`); `Inconclusive` for
    /// none.
    ///
    /// ```
    /// use salience_metrics::verdict::Verdict::*;
    /// use salience_metrics::verdict::Verdict;
    /// assert_eq!(Verdict::combine([Agrees, Agrees]), Agrees);
    /// assert_eq!(Verdict::combine([Agrees, Inconclusive]), Inconclusive);
    /// assert_eq!(Verdict::combine([Inconclusive, Disagrees]), Disagrees);
    /// ```
    pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut any = false;
        let mut all_agree = true;
        for v in verdicts {
            any = true;
            match v {
                Verdict::Disagrees => return Verdict::Disagrees,
                Verdict::Inconclusive => all_agree = false,
                Verdict::Agrees => {}
            }
        }
        if any && all_agree {
            Verdict::Agrees
        } else {
            Verdict::Inconclusive
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Agrees => "agrees",
            Verdict::Disagrees => "disagrees",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// What `a`'s samples are compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// `b`'s paired samples (same length and order as `a`'s).
    Paired(Vec<f64>),
    /// A constant (the one-sample form).
    Constant(f64),
    /// `b`'s independent samples (any length): tested with the
    /// Mann–Whitney U test instead of the Wilcoxon signed-rank test.
    Unpaired(Vec<f64>),
}

/// One pairwise comparison of a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Label of the first side.
    pub a: String,
    /// Label of the second side.
    pub b: String,
    /// The paper's direction for `a` against `b`.
    pub direction: Direction,
    /// `a`'s per-sample scores.
    pub x: Vec<f64>,
    /// `b`'s paired scores, or a constant.
    pub reference: Reference,
}

impl Comparison {
    /// `a` against `b` on paired samples `x`, `y`.
    ///
    /// ```
    /// use salience_metrics::verdict::{Comparison, Direction};
    /// let c = Comparison::paired("A", "B", Direction::Greater, &[1.0], &[0.0]);
    /// assert_eq!(c.a, "A");
    /// ```
    pub fn paired(a: &str, b: &str, direction: Direction, x: &[f64], y: &[f64]) -> Self {
        Comparison {
            a: a.to_string(),
            b: b.to_string(),
            direction,
            x: x.to_vec(),
            reference: Reference::Paired(y.to_vec()),
        }
    }

    /// `a`'s samples `x` against `b`'s independent samples `y` (different
    /// images, e.g. small against large objects): the Mann–Whitney U test
    /// ([`mann_whitney_u`]), the two-sample Hodges–Lehmann shift and the
    /// rank-biserial `P(X > Y) − P(X < Y)`.
    ///
    /// ```
    /// use salience_metrics::verdict::{Comparison, Direction, Reference};
    /// let c = Comparison::unpaired("small", "large", Direction::Greater, &[0.9, 0.8], &[0.1]);
    /// assert_eq!(c.reference, Reference::Unpaired(vec![0.1]));
    /// ```
    pub fn unpaired(a: &str, b: &str, direction: Direction, x: &[f64], y: &[f64]) -> Self {
        Comparison {
            a: a.to_string(),
            b: b.to_string(),
            direction,
            x: x.to_vec(),
            reference: Reference::Unpaired(y.to_vec()),
        }
    }

    /// `a`'s samples `x` against the constant `value` (labelled `b`).
    ///
    /// ```
    /// use salience_metrics::verdict::{Comparison, Direction, Reference};
    /// let c = Comparison::against("ratio", "1", 1.0, Direction::Greater, &[1.5, 2.0]);
    /// assert_eq!(c.reference, Reference::Constant(1.0));
    /// ```
    pub fn against(a: &str, b: &str, value: f64, direction: Direction, x: &[f64]) -> Self {
        Comparison {
            a: a.to_string(),
            b: b.to_string(),
            direction,
            x: x.to_vec(),
            reference: Reference::Constant(value),
        }
    }

    /// Checks the samples (non-empty, same length, finite, at most
    /// [`MAX_PAIRS`]) and returns the paired differences `x − y`, with
    /// differences within `rel_tol` set to zero.
    fn differences(&self, rel_tol: f64) -> Result<Vec<f64>> {
        let ctx = format!("comparison {} vs {}", self.a, self.b);
        if self.x.is_empty() {
            return Err(SalienceError::Empty(format!("{ctx}: no samples")));
        }
        if self.x.len() > MAX_PAIRS {
            return Err(SalienceError::invalid(
                "samples",
                self.x.len(),
                "a comparison takes at most verdict::MAX_PAIRS pairs",
            ));
        }
        check_finite64(&self.x, &format!("{ctx}, a"))?;
        let y: Vec<f64> = match &self.reference {
            Reference::Paired(y) => {
                if y.len() != self.x.len() {
                    return Err(SalienceError::shape(
                        &format!("{ctx}, b"),
                        format!("[{}] (paired with a)", self.x.len()),
                        &[y.len()],
                    ));
                }
                check_finite64(y, &format!("{ctx}, b"))?;
                y.clone()
            }
            Reference::Constant(c) => {
                check_finite64(&[*c], &format!("{ctx}, constant"))?;
                vec![*c; self.x.len()]
            }
            Reference::Unpaired(_) => {
                return Err(SalienceError::invalid(
                    "reference",
                    "Unpaired",
                    "independent samples have no paired differences",
                ))
            }
        };
        let d: Vec<f64> = self
            .x
            .iter()
            .zip(&y)
            .map(|(&a, &b)| {
                let d = a - b;
                if d.abs() <= rel_tol * a.abs().max(b.abs()) {
                    0.0
                } else {
                    d
                }
            })
            .collect();
        check_finite64(&d, &format!("{ctx}, a − b"))?;
        Ok(d)
    }
}

/// A paper's claim: the comparisons that must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claim {
    /// The comparisons, tested together (Holm correction across them).
    pub comparisons: Vec<Comparison>,
}

impl Claim {
    /// An empty claim (add comparisons before evaluating it).
    pub fn new() -> Self {
        Claim::default()
    }

    /// Adds an unpaired comparison ([`Comparison::unpaired`]).
    pub fn unpaired(self, a: &str, b: &str, direction: Direction, x: &[f64], y: &[f64]) -> Self {
        self.with(Comparison::unpaired(a, b, direction, x, y))
    }

    /// Adds a comparison.
    pub fn with(mut self, comparison: Comparison) -> Self {
        self.comparisons.push(comparison);
        self
    }

    /// Adds a paired comparison (see [`Comparison::paired`]).
    pub fn paired(self, a: &str, b: &str, direction: Direction, x: &[f64], y: &[f64]) -> Self {
        self.with(Comparison::paired(a, b, direction, x, y))
    }

    /// Adds a one-sample comparison (see [`Comparison::against`]).
    pub fn against(self, a: &str, b: &str, value: f64, direction: Direction, x: &[f64]) -> Self {
        self.with(Comparison::against(a, b, value, direction, x))
    }

    /// Tests every comparison and gives the claim's verdict (see the
    /// [module docs](self)).
    ///
    /// Errors: no comparison, an empty sample ([`SalienceError::Empty`]);
    /// paired samples of different lengths
    /// ([`SalienceError::ShapeMismatch`]); NaN/Inf in a sample or in a
    /// difference ([`SalienceError::NonFinite`]); more than [`MAX_PAIRS`]
    /// pairs or an invalid config ([`SalienceError::InvalidParameter`]).
    pub fn evaluate(&self, config: &VerdictConfig) -> Result<ClaimResult> {
        config.validate()?;
        if self.comparisons.is_empty() {
            return Err(SalienceError::Empty("claim: no comparison".into()));
        }
        // Check every comparison before testing any.
        let diffs = self
            .comparisons
            .iter()
            .map(|c| match &c.reference {
                Reference::Unpaired(y) => {
                    check_unpaired(c, y)?;
                    Ok(None)
                }
                _ => c.differences(config.rel_tol).map(Some),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut pairs = Vec::with_capacity(diffs.len());
        for (c, d) in self.comparisons.iter().zip(&diffs) {
            pairs.push(match (d, &c.reference) {
                (Some(d), _) => test_pair(c, d, config)?,
                (None, Reference::Unpaired(y)) => test_unpaired(c, y, config)?,
                (None, _) => {
                    return Err(SalienceError::invalid(
                        "reference",
                        "Paired",
                        "paired comparison without differences",
                    ))
                }
            });
        }
        let raw: Vec<f64> = pairs.iter().map(|p| p.p_value).collect();
        let adjusted = holm(&raw)?;
        for (p, adj) in pairs.iter_mut().zip(adjusted) {
            p.p_holm = adj;
            p.verdict = pair_verdict(p, config.alpha);
        }
        let verdict = Verdict::combine(pairs.iter().map(|p| p.verdict));
        Ok(ClaimResult {
            pairs,
            verdict,
            alpha: config.alpha,
            confidence: config.confidence,
        })
    }
}

/// Options of [`Claim::evaluate`].
///
/// ```
/// use salience_metrics::{verdict::VerdictConfig, WilcoxonConfig, ZeroMethod};
/// let c = VerdictConfig::default();
/// assert_eq!((c.alpha, c.confidence, c.rel_tol), (0.05, 0.95, 1e-6));
/// // scipy's test, with ties ranked and split instead of dropped.
/// assert_eq!(c.wilcoxon, WilcoxonConfig { zero_method: ZeroMethod::Zsplit, ..WilcoxonConfig::scipy() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictConfig {
    /// Significance level for the Holm-adjusted p-values, in (0, 1)
    /// (default 0.05; significant means `p_holm < alpha`).
    pub alpha: f64,
    /// Coverage of the Hodges–Lehmann interval, in (0, 1) (default 0.95).
    pub confidence: f64,
    /// Relative tolerance under which a paired difference counts as a tie
    /// (zero), ≥ 0 (default 1e-6).
    pub rel_tol: f64,
    /// The Wilcoxon test's options: by default [`WilcoxonConfig::scipy`]
    /// with [`ZeroMethod::Zsplit`], so ties weigh against a difference.
    pub wilcoxon: WilcoxonConfig,
}

impl Default for VerdictConfig {
    fn default() -> Self {
        VerdictConfig {
            alpha: 0.05,
            confidence: 0.95,
            rel_tol: 1e-6,
            wilcoxon: WilcoxonConfig {
                zero_method: ZeroMethod::Zsplit,
                ..WilcoxonConfig::scipy()
            },
        }
    }
}

impl VerdictConfig {
    fn validate(&self) -> Result<()> {
        let open_unit = |v: f64| v > 0.0 && v < 1.0;
        if !open_unit(self.alpha) {
            return Err(SalienceError::invalid(
                "alpha",
                self.alpha,
                "must be in (0, 1)",
            ));
        }
        if !open_unit(self.confidence) {
            return Err(SalienceError::invalid(
                "confidence",
                self.confidence,
                "must be in (0, 1)",
            ));
        }
        if !(self.rel_tol >= 0.0 && self.rel_tol.is_finite()) {
            return Err(SalienceError::invalid(
                "rel_tol",
                self.rel_tol,
                "must be finite and ≥ 0",
            ));
        }
        Ok(())
    }
}

/// The test of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct PairResult {
    /// Label of the first side.
    pub a: String,
    /// Label of the second side.
    pub b: String,
    /// The paper's direction.
    pub direction: Direction,
    /// Number of pairs (zeros included); for an unpaired comparison, the
    /// size of `a`'s sample.
    pub n: usize,
    /// Size of `b`'s sample for an unpaired comparison ([`Reference::Unpaired`]);
    /// `None` for paired and one-sample comparisons.
    pub n_b: Option<usize>,
    /// Number of zero (tied) differences (ranked and split by the default
    /// test, [`VerdictConfig::wilcoxon`]).
    pub n_zero: usize,
    /// Median of the paired differences `a − b` (unpaired: the difference
    /// of the medians).
    pub median_difference: f64,
    /// Hodges–Lehmann estimate of the shift (median of the Walsh averages;
    /// unpaired: median of the differences `a_i − b_j`).
    pub hodges_lehmann: f64,
    /// Hodges–Lehmann confidence interval at [`ClaimResult::confidence`].
    pub ci: (f64, f64),
    /// Matched-pairs rank-biserial correlation in [−1, 1] (unpaired: the
    /// Mann–Whitney rank-biserial `P(a > b) − P(a < b)`).
    pub rank_biserial: f64,
    /// Two-sided Wilcoxon p-value (1 when every difference is zero;
    /// unpaired: the Mann–Whitney U test's).
    pub p_value: f64,
    /// Holm-adjusted p-value across the claim.
    pub p_holm: f64,
    /// The Wilcoxon p-value's method (`None` when every difference is zero,
    /// and for unpaired comparisons, whose method is `mann_whitney`).
    pub method: Option<WilcoxonMethod>,
    /// The Mann–Whitney p-value's method (unpaired comparisons only).
    pub mann_whitney: Option<MannWhitneyMethod>,
    /// This comparison's verdict.
    pub verdict: Verdict,
}

impl PairResult {
    /// The observed direction: the sign of the rank-biserial correlation
    /// (`None` for an exact balance or all ties).
    pub fn observed(&self) -> Option<Direction> {
        if self.rank_biserial > 0.0 {
            Some(Direction::Greater)
        } else if self.rank_biserial < 0.0 {
            Some(Direction::Less)
        } else {
            None
        }
    }
}

impl PairResult {
    /// `n`, or `n_a vs n_b` for an unpaired comparison.
    fn n_label(&self) -> String {
        match self.n_b {
            Some(nb) => format!("{} vs {nb}", self.n),
            None => self.n.to_string(),
        }
    }

    /// `"a > b"` and `"HL [lo, hi]"`, shared by the two renderings.
    fn labels(&self) -> (String, String) {
        (
            format!("{} {} {}", self.a, self.direction.symbol(), self.b),
            format!(
                "{} [{}, {}]",
                num(self.hodges_lehmann),
                num(self.ci.0),
                num(self.ci.1)
            ),
        )
    }
}

impl fmt::Display for PairResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (cmp, hl) = self.labels();
        write!(
            f,
            "{cmp}: median Δ = {}, HL Δ = {hl}, r = {:.2}, p_Holm = {}, n = {}",
            num(self.median_difference),
            self.rank_biserial,
            pval(self.p_holm),
            self.n_label()
        )?;
        if self.n_zero > 0 {
            write!(f, " ({} tied)", self.n_zero)?;
        }
        if self.verdict != Verdict::Agrees {
            write!(f, " → {}", self.verdict)?;
        }
        Ok(())
    }
}

/// The verdict on a claim, with every comparison's test.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimResult {
    /// One result per comparison, in the claim's order.
    pub pairs: Vec<PairResult>,
    /// The claim's verdict.
    pub verdict: Verdict,
    /// The significance level used.
    pub alpha: f64,
    /// The interval's coverage.
    pub confidence: f64,
}

impl ClaimResult {
    /// A markdown table, one row per comparison: paper's direction, median
    /// difference, HL estimate and interval, rank-biserial r, raw and
    /// Holm-adjusted p, n (tied), the comparison's verdict.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "| comparison (paper) | median Δ | HL Δ [{:.0} % CI] | r | p | p_Holm | n (tied) | verdict |\n\
             |---|---|---|---|---|---|---|---|\n",
            self.confidence * 100.0
        );
        for p in &self.pairs {
            let (cmp, hl) = p.labels();
            s.push_str(&format!(
                "| {cmp} | {} | {hl} | {:.2} | {} | {} | {} ({}) | {} |\n",
                num(p.median_difference),
                p.rank_biserial,
                pval(p.p_value),
                pval(p.p_holm),
                p.n_label(),
                p.n_zero,
                p.verdict
            ));
        }
        s
    }
}

/// One line (safe inside a markdown table cell): the verdict in bold, then
/// each comparison's effect, interval, adjusted p and n.
impl fmt::Display for ClaimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "**{}**", self.verdict)?;
        for (i, p) in self.pairs.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Holm–Bonferroni adjusted p-values (in the input order): with the
/// p-values sorted ascending, `p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎)`.
///
/// Errors: empty ([`SalienceError::Empty`]), a value outside [0, 1] or NaN
/// ([`SalienceError::InvalidParameter`]).
///
/// ```
/// use salience_metrics::verdict::holm;
/// // sorted: 0.01·3 = 0.03, 0.02·2 = 0.04, 0.04·1 = 0.04
/// let a = holm(&[0.04, 0.01, 0.02])?;
/// assert!((a[0] - 0.04).abs() < 1e-15 && (a[1] - 0.03).abs() < 1e-15 && (a[2] - 0.04).abs() < 1e-15);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn holm(p: &[f64]) -> Result<Vec<f64>> {
    if p.is_empty() {
        return Err(SalienceError::Empty("holm: no p-value".into()));
    }
    if let Some(&bad) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(SalienceError::invalid(
            "p",
            bad,
            "p-values must be in [0, 1]",
        ));
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let v = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(v);
        out[i] = running;
    }
    Ok(out)
}

/// Median of finite values (the mean of the two middle ones for an even
/// count); `values` must be non-empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

/// The Hodges–Lehmann estimate and its confidence interval (see the
/// module docs); `d` non-empty, finite.
fn hodges_lehmann(d: &[f64], confidence: f64) -> (f64, (f64, f64)) {
    let n = d.len();
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push(0.5 * (d[i] + d[j]));
        }
    }
    let estimate = median(&mut walsh); // sorts `walsh`
    let m = walsh.len();
    let tail = (1.0 - confidence) / 2.0;
    // c: the largest integer with P(W+ ≤ c) ≤ tail; None if P(W+ = 0) > tail.
    let c: Option<usize> = if n <= 200 {
        lower_critical_value(&exact_null_pmf(n), tail)
    } else {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
        // Normal::new(0, 1) cannot fail; fall back to the full range if it did.
        let z = Normal::new(0.0, 1.0).map_or(f64::INFINITY, |nd| nd.inverse_cdf(1.0 - tail));
        let k = (mean - z * sd).floor();
        (k >= 0.0).then_some(k as usize)
    };
    let ci = match c {
        Some(c) if 2 * c + 1 < m => (walsh[c], walsh[m - c - 1]),
        _ => (walsh[0], walsh[m - 1]),
    };
    (estimate, ci)
}

fn test_pair(c: &Comparison, d: &[f64], config: &VerdictConfig) -> Result<PairResult> {
    let n = d.len();
    let n_zero = d.iter().filter(|v| **v == 0.0).count();
    let (p_value, method, rank_biserial) = if n_zero == n {
        (1.0, None, 0.0)
    } else {
        let w = wilcoxon_differences(d, &config.wilcoxon)?;
        let r = (w.w_plus - w.w_minus) / (w.w_plus + w.w_minus);
        (w.p_value, Some(w.method), r)
    };
    let median_difference = median(&mut d.to_vec());
    let (hl, ci) = hodges_lehmann(d, config.confidence);
    Ok(PairResult {
        a: c.a.clone(),
        b: c.b.clone(),
        direction: c.direction,
        n,
        n_b: None,
        n_zero,
        median_difference,
        hodges_lehmann: hl,
        ci,
        rank_biserial,
        p_value,
        p_holm: p_value,
        method,
        mann_whitney: None,
        verdict: Verdict::Inconclusive,
    })
}

/// Checks an unpaired comparison's samples (non-empty, finite, at most
/// [`mann_whitney::MAX_PRODUCT`](crate::mann_whitney::MAX_PRODUCT) pairs).
fn check_unpaired(c: &Comparison, y: &[f64]) -> Result<()> {
    let ctx = format!("comparison {} vs {}", c.a, c.b);
    if c.x.is_empty() || y.is_empty() {
        return Err(SalienceError::Empty(format!("{ctx}: an empty sample")));
    }
    check_finite64(&c.x, &format!("{ctx}, a"))?;
    check_finite64(y, &format!("{ctx}, b"))?;
    if c.x.len().saturating_mul(y.len()) > crate::mann_whitney::MAX_PRODUCT {
        return Err(SalienceError::invalid(
            "samples",
            format!("{} × {}", c.x.len(), y.len()),
            "an unpaired comparison takes at most mann_whitney::MAX_PRODUCT pairs",
        ));
    }
    Ok(())
}

fn test_unpaired(c: &Comparison, y: &[f64], config: &VerdictConfig) -> Result<PairResult> {
    let r = mann_whitney_u(&c.x, y)?;
    let (hl, ci) = hodges_lehmann_shift(&c.x, y, config.confidence)?;
    let median_difference = median(&mut c.x.clone()) - median(&mut y.to_vec());
    Ok(PairResult {
        a: c.a.clone(),
        b: c.b.clone(),
        direction: c.direction,
        n: c.x.len(),
        n_b: Some(y.len()),
        n_zero: 0,
        median_difference,
        hodges_lehmann: hl,
        ci,
        rank_biserial: r.rank_biserial,
        p_value: r.p_value,
        p_holm: r.p_value,
        method: None,
        mann_whitney: Some(r.method),
        verdict: Verdict::Inconclusive,
    })
}

fn pair_verdict(p: &PairResult, alpha: f64) -> Verdict {
    if p.p_holm >= alpha {
        return Verdict::Inconclusive;
    }
    match p.observed() {
        Some(d) if d == p.direction => Verdict::Agrees,
        Some(_) => Verdict::Disagrees,
        None => Verdict::Inconclusive,
    }
}

/// A number with 3 significant digits (scientific outside [1e-3, 1e4)).
fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    }
}

/// A p-value: 3 decimals, scientific below 1e-3.
fn pval(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VerdictConfig {
        VerdictConfig::default()
    }

    /// Unpaired comparisons use scipy's Mann–Whitney U test (the same
    /// samples as `mann_whitney::tests::matches_scipy`: U1 = 112,
    /// p = 0.006644518272425249, exact), the difference of medians and
    /// the two-sample Hodges–Lehmann shift; all values equal is a tie.
    #[test]
    fn unpaired_comparisons_use_mann_whitney() {
        let small = [2.5, 3.5, 9.0];
        let large: Vec<f64> = (0..40).map(|i| 0.25 + 0.05 * i as f64).collect();
        let r = Claim::new()
            .unpaired("small", "large", Direction::Greater, &small, &large)
            .evaluate(&cfg())
            .unwrap();
        let p = &r.pairs[0];
        assert_eq!((p.n, p.n_b), (3, Some(40)));
        assert_eq!(p.rank_biserial, 1.0); // every small value is larger
        assert_eq!(p.mann_whitney, Some(MannWhitneyMethod::Exact));
        // P(U ≥ 120) = 1 / C(43, 3) = 1/12341, two-sided ×2.
        assert!((p.p_value - 2.0 / 12341.0).abs() < 1e-15, "{}", p.p_value);
        assert_eq!(p.median_difference, 3.5 - 0.5 * (1.2 + 1.25));
        assert_eq!(r.verdict, Verdict::Agrees);
        assert!(r.to_string().contains("n = 3 vs 40"), "{r}");
        let against = Claim::new()
            .unpaired("small", "large", Direction::Less, &small, &large)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(against.verdict, Verdict::Disagrees);
        let tie = Claim::new()
            .unpaired("a", "b", Direction::Greater, &[1.0; 5], &[1.0; 7])
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(
            (tie.pairs[0].p_value, tie.verdict),
            (1.0, Verdict::Inconclusive)
        );
        assert!(matches!(
            Claim::new()
                .unpaired("a", "b", Direction::Greater, &[1.0], &[])
                .evaluate(&cfg()),
            Err(SalienceError::Empty(_))
        ));
    }

    #[test]
    fn holm_by_hand() {
        // p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005·4 = 0.02,
        // 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max-accumulated 0.06.
        let a = holm(&[0.01, 0.04, 0.03, 0.005]).unwrap();
        let want = [0.03, 0.06, 0.06, 0.02];
        for (x, w) in a.iter().zip(want) {
            assert!((x - w).abs() < 1e-15, "{a:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]).unwrap(), vec![1.0, 1.0]);
        assert!(matches!(holm(&[]), Err(SalienceError::Empty(_))));
        assert!(matches!(
            holm(&[f64::NAN]),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn hodges_lehmann_by_hand() {
        // d = [1, 2, 4]: Walsh averages 1, 1.5, 2.5, 2, 3, 4 → sorted
        // 1, 1.5, 2, 2.5, 3, 4; median 2.25. n = 3: P(W+ = 0) = 1/8 > 0.025,
        // so the interval is the full range [1, 4].
        let (e, ci) = hodges_lehmann(&[1.0, 2.0, 4.0], 0.95);
        assert_eq!(e, 2.25);
        assert_eq!(ci, (1.0, 4.0));
        // n = 8 at 95 %: P(W+ ≤ 3) = 5/256 ≈ 0.0195 ≤ 0.025 < P(W+ ≤ 4) =
        // 7/256, so c = 3 and the interval is [W(4), W(33)] of the 36 Walsh
        // averages. d = 1..=8: the Walsh averages are (i + j)/2, i ≤ j; the
        // 4th smallest is 2 (1, 1.5, 2, 2) and the 33rd is 7 (by symmetry).
        let d: Vec<f64> = (1..=8).map(f64::from).collect();
        let (e, ci) = hodges_lehmann(&d, 0.95);
        assert_eq!(e, 4.5);
        assert_eq!(ci, (2.0, 7.0));
    }

    /// The interval and estimate against a brute-force Python computation
    /// (itertools Walsh averages, scipy.stats's exact signed-rank
    /// distribution `WilcoxonDistribution(12)`: c = 13) on these differences:
    /// HL = 0.495, 95 % CI [0.215, 0.76]; scipy.stats.wilcoxon: statistic 3,
    /// p = 0.00244140625 (exact, n = 12).
    #[test]
    fn hodges_lehmann_matches_reference() {
        let d = [
            0.12, 0.95, 0.33, -0.21, 0.78, 0.64, 0.41, 1.10, 0.05, 0.57, 0.88, 0.29,
        ];
        let r = Claim::new()
            .against("d", "0", 0.0, Direction::Greater, &d)
            .evaluate(&cfg())
            .unwrap();
        let p = &r.pairs[0];
        assert!(
            (p.hodges_lehmann - HL_REF).abs() < 1e-12,
            "{}",
            p.hodges_lehmann
        );
        assert!(
            (p.ci.0 - CI_REF.0).abs() < 1e-12 && (p.ci.1 - CI_REF.1).abs() < 1e-12,
            "{:?}",
            p.ci
        );
        assert!((p.p_value - P_REF).abs() < 1e-12, "{}", p.p_value);
        assert_eq!(p.method, Some(WilcoxonMethod::Exact));
        assert_eq!(r.verdict, Verdict::Agrees);
    }
    const HL_REF: f64 = 0.495;
    const CI_REF: (f64, f64) = (0.21500000000000002, 0.76);
    const P_REF: f64 = 0.00244140625;

    /// n = 300 > 200: the interval's rank c comes from the normal
    /// approximation, c = ⌊n(n+1)/4 − z₀.₉₇₅ √(n(n+1)(2n+1)/24)⌋ = 19627.
    /// Reference (numpy / scipy.stats.norm, same differences): HL =
    /// 0.2002499088510259, CI [0.14354029554468328, 0.2581402370046981];
    /// scipy.stats.wilcoxon p = 1.634747228952395e-06 (normal approximation).
    #[test]
    fn large_n_interval_matches_reference() {
        let d: Vec<f64> = (0..300).map(|i| (1.3 * i as f64).sin() + 0.2).collect();
        let r = Claim::new()
            .against("d", "0", 0.0, Direction::Greater, &d)
            .evaluate(&cfg())
            .unwrap();
        let p = &r.pairs[0];
        assert!((p.hodges_lehmann - 0.2002499088510259).abs() < 1e-12);
        assert!((p.ci.0 - 0.14354029554468328).abs() < 1e-12, "{:?}", p.ci);
        assert!((p.ci.1 - 0.2581402370046981).abs() < 1e-12, "{:?}", p.ci);
        assert!(
            (p.p_value - 1.634747228952395e-06).abs() < 1e-12,
            "{}",
            p.p_value
        );
        assert_eq!(r.verdict, Verdict::Agrees);
    }

    #[test]
    fn rank_biserial_and_median_by_hand() {
        // d = [3, -1, 2, 0, 4]: the zero is ranked and split (default);
        // |d| = 3, 1, 2, 0, 4 → ranks 4, 2, 3, 1, 5; W+ = 12 + ½,
        // W− = 2 + ½, r = 10/15. Median of all five differences: 2.
        let x = [3.0, -1.0, 2.0, 0.0, 4.0];
        let r = Claim::new()
            .paired("a", "b", Direction::Greater, &x, &[0.0; 5])
            .evaluate(&cfg())
            .unwrap();
        let p = &r.pairs[0];
        assert!((p.rank_biserial - 10.0 / 15.0).abs() < 1e-15);
        assert_eq!((p.n, p.n_zero, p.median_difference), (5, 1, 2.0));
        // Dropped (scipy's default): |d| = 3, 1, 2, 4 → ranks 3, 1, 2, 4;
        // W+ = 9, W− = 1, r = 8/10.
        let dropped = VerdictConfig {
            wilcoxon: WilcoxonConfig::scipy(),
            ..cfg()
        };
        let d = Claim::new()
            .paired("a", "b", Direction::Greater, &x, &[0.0; 5])
            .evaluate(&dropped)
            .unwrap();
        assert!((d.pairs[0].rank_biserial - 0.8).abs() < 1e-15);
        assert_eq!(d.verdict, Verdict::Inconclusive);
        // 5 pairs cannot reach p < 0.05: inconclusive, not agrees.
        assert_eq!(r.verdict, Verdict::Inconclusive);
    }

    #[test]
    fn equal_panels_never_agree() {
        let x: Vec<f64> = (0..40).map(|i| 6e-11 * (1.0 + i as f64 / 100.0)).collect();
        for dir in [Direction::Greater, Direction::Less] {
            let r = Claim::new()
                .paired("AGG", "best", dir, &x, &x)
                .evaluate(&cfg())
                .unwrap();
            assert_eq!(r.verdict, Verdict::Inconclusive);
            let p = &r.pairs[0];
            assert_eq!((p.p_value, p.n_zero, p.rank_biserial), (1.0, 40, 0.0));
            assert_eq!((p.hodges_lehmann, p.ci), (0.0, (0.0, 0.0)));
        }
    }

    #[test]
    fn rounding_noise_is_a_tie() {
        // Consistently larger by 1e-12 relative (float rounding), 40 pairs:
        // without the tolerance this would be "significant".
        let x: Vec<f64> = (0..40).map(|i| 6e-11 * (1.0 + i as f64 / 100.0)).collect();
        let y: Vec<f64> = x.iter().map(|v| v * (1.0 + 1e-12)).collect();
        let r = Claim::new()
            .paired("AGG", "best", Direction::Less, &x, &y)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert_eq!(r.pairs[0].n_zero, 40);
        let strict = VerdictConfig {
            rel_tol: 0.0,
            ..cfg()
        };
        let r = Claim::new()
            .paired("AGG", "best", Direction::Less, &x, &y)
            .evaluate(&strict)
            .unwrap();
        assert_eq!(r.verdict, Verdict::Agrees);
    }

    #[test]
    fn a_claim_that_is_mostly_ties_cannot_agree() {
        // Decker's Theorem 4.3 sweep for AGG_faith: the gap is exactly 0 on
        // 15 of 20 images and positive on 5. Dropping the ties (scipy's
        // default) the 5 would read "agrees" (p = 0.043); split, the ties
        // weigh in (p = 0.077, scipy 1.17 zero_method="zsplit").
        let mut gap = vec![0.0; 15];
        gap.extend([1e-4, 2e-4, 3e-4, 4e-4, 5e-4]);
        let r = Claim::new()
            .against("gap", "0", 0.0, Direction::Greater, &gap)
            .evaluate(&VerdictConfig::default())
            .unwrap();
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert_eq!(r.pairs[0].n_zero, 15);
        assert!((r.pairs[0].p_value - 0.07698581147096221).abs() < 1e-10);
        // r = (150 − 60) / 210: the ties pull the effect size towards 0.
        assert!((r.pairs[0].rank_biserial - 90.0 / 210.0).abs() < 1e-12);
        let dropped = VerdictConfig {
            wilcoxon: WilcoxonConfig::scipy(),
            ..VerdictConfig::default()
        };
        let r = Claim::new()
            .against("gap", "0", 0.0, Direction::Greater, &gap)
            .evaluate(&dropped)
            .unwrap();
        assert_eq!(r.verdict, Verdict::Agrees);
        // With few ties the same one-sided evidence still agrees.
        let mut most = vec![0.0; 2];
        most.extend((1..=18).map(|i| i as f64 * 1e-4));
        let r = Claim::new()
            .against("gap", "0", 0.0, Direction::Greater, &most)
            .evaluate(&VerdictConfig::default())
            .unwrap();
        assert_eq!(r.verdict, Verdict::Agrees);
    }

    #[test]
    fn differences_within_noise_are_inconclusive() {
        // A zero-mean alternating noise: d = ±(1 + i/10), balanced signs.
        let d: Vec<f64> = (0..30)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + i as f64 / 10.0))
            .collect();
        let r = Claim::new()
            .against("a", "0", 0.0, Direction::Greater, &d)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(r.pairs[0].p_value > 0.5);
        assert!(r.pairs[0].ci.0 < 0.0 && r.pairs[0].ci.1 > 0.0);
    }

    #[test]
    fn opposite_significant_disagrees_and_holm_matters() {
        let base: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let up: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, v)| v + 1.0 + i as f64 * 0.01)
            .collect();
        // a < b is claimed, a > b is observed for every pair: disagrees.
        let r = Claim::new()
            .paired("a", "b", Direction::Less, &up, &base)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(r.verdict, Verdict::Disagrees);
        assert_eq!(r.pairs[0].observed(), Some(Direction::Greater));
        // n = 20, all positive, exact: p = 2 / 2^20.
        assert!((r.pairs[0].p_value - 2.0 / 1048576.0).abs() < 1e-18);
        // Holm: a pair with n = 6 all positive has p = 2/64 = 0.03125 < 0.05
        // alone, but with a second such pair Holm gives 0.0625: inconclusive.
        let six = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let alone = Claim::new()
            .against("a", "0", 0.0, Direction::Greater, &six)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(alone.verdict, Verdict::Agrees);
        let two = Claim::new()
            .against("a", "0", 0.0, Direction::Greater, &six)
            .against("b", "0", 0.0, Direction::Greater, &six)
            .evaluate(&cfg())
            .unwrap();
        assert!((two.pairs[0].p_holm - 0.0625).abs() < 1e-15);
        assert_eq!(two.verdict, Verdict::Inconclusive);
        // A disagreeing pair wins over an agreeing one.
        let mixed = Claim::new()
            .paired("a", "b", Direction::Greater, &up, &base)
            .paired("a", "c", Direction::Less, &up, &base)
            .evaluate(&cfg())
            .unwrap();
        assert_eq!(mixed.verdict, Verdict::Disagrees);
        assert_eq!(mixed.pairs[0].verdict, Verdict::Agrees);
    }

    #[test]
    fn render_prints_every_pair() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let y = [0.5; 7];
        let r = Claim::new()
            .paired("FG", "NG", Direction::Greater, &x, &y)
            .paired("FG", "SG", Direction::Greater, &x, &x)
            .evaluate(&cfg())
            .unwrap();
        let s = r.to_string();
        assert!(
            s.starts_with("**inconclusive**: FG > NG: median Δ = 3.50"),
            "{s}"
        );
        assert!(s.contains("FG > SG: median Δ = 0, HL Δ = 0 [0, 0]"), "{s}");
        assert!(s.contains("n = 7 (7 tied) → inconclusive"), "{s}");
        assert!(!s.contains('|') && !s.contains('\n'));
        let md = r.to_markdown();
        assert_eq!(md.lines().count(), 4);
        assert!(md.contains("| FG > NG | 3.50 |"), "{md}");
    }

    proptest::proptest! {
        /// Swapping the sides and the direction changes nothing; a sample
        /// against itself is never "agrees"; p values stay in [0, 1].
        #[test]
        fn symmetric_and_ties_never_agree(
            xy in proptest::collection::vec((-1e3f64..1e3, -1e3f64..1e3), 1..40),
        ) {
            let (x, y): (Vec<f64>, Vec<f64>) = xy.into_iter().unzip();
            let c = cfg();
            let ab = Claim::new().paired("a", "b", Direction::Greater, &x, &y).evaluate(&c).unwrap();
            let ba = Claim::new().paired("b", "a", Direction::Less, &y, &x).evaluate(&c).unwrap();
            proptest::prop_assert_eq!(ab.verdict, ba.verdict);
            proptest::prop_assert!((ab.pairs[0].p_value - ba.pairs[0].p_value).abs() < 1e-12);
            proptest::prop_assert!((ab.pairs[0].hodges_lehmann + ba.pairs[0].hodges_lehmann).abs() < 1e-9);
            let p = &ab.pairs[0];
            proptest::prop_assert!((0.0..=1.0).contains(&p.p_holm) && p.p_holm >= p.p_value);
            proptest::prop_assert!(p.ci.0 <= p.hodges_lehmann && p.hodges_lehmann <= p.ci.1);
            for dir in [Direction::Greater, Direction::Less] {
                let same = Claim::new().paired("a", "a'", dir, &x, &x).evaluate(&c).unwrap();
                proptest::prop_assert_eq!(same.verdict, Verdict::Inconclusive);
            }
        }
    }

    #[test]
    fn bad_input_is_typed() {
        let c = cfg();
        assert!(matches!(
            Claim::new().evaluate(&c),
            Err(SalienceError::Empty(_))
        ));
        let e = |claim: Claim| claim.evaluate(&c).unwrap_err();
        assert!(matches!(
            e(Claim::new().paired("a", "b", Direction::Less, &[], &[])),
            SalienceError::Empty(_)
        ));
        assert!(matches!(
            e(Claim::new().paired("a", "b", Direction::Less, &[1.0], &[1.0, 2.0])),
            SalienceError::ShapeMismatch { .. }
        ));
        assert!(matches!(
            e(Claim::new().paired("a", "b", Direction::Less, &[1.0, f64::NAN], &[1.0, 2.0])),
            SalienceError::NonFinite { index: 1, .. }
        ));
        assert!(matches!(
            e(Claim::new().paired("a", "b", Direction::Less, &[f64::MAX], &[-f64::MAX])),
            SalienceError::NonFinite { .. }
        ));
        assert!(matches!(
            e(Claim::new().against("a", "b", f64::INFINITY, Direction::Less, &[1.0])),
            SalienceError::NonFinite { .. }
        ));
        assert!(matches!(
            e(Claim::new().against("a", "b", 0.0, Direction::Less, &vec![1.0; MAX_PAIRS + 1])),
            SalienceError::InvalidParameter { .. }
        ));
        for bad in [
            VerdictConfig { alpha: 0.0, ..c },
            VerdictConfig {
                confidence: 1.0,
                ..c
            },
            VerdictConfig {
                rel_tol: f64::NAN,
                ..c
            },
        ] {
            assert!(matches!(
                Claim::new()
                    .against("a", "b", 0.0, Direction::Less, &[1.0])
                    .evaluate(&bad),
                Err(SalienceError::InvalidParameter { .. })
            ));
        }
    }
}
