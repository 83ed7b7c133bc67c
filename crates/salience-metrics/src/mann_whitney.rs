//! The Mann–Whitney U test of two independent samples, with
//! `scipy.stats.mannwhitneyu`'s defaults (two-sided, `method="auto"`,
//! `use_continuity=True`).
//!
//! With average ranks over the pooled sample, `U₁ = R₁ − n₁(n₁ + 1)/2`
//! (the number of pairs with `x > y`, ties counting ½) and
//! `U₂ = n₁n₂ − U₁`. The two-sided p-value is `2·P(U ≥ max(U₁, U₂))`,
//! clipped to 1:
//!
//! * **exact** (the null distribution of `U`, from the Gaussian binomial
//!   coefficient) when there are no ties and at least one sample has at
//!   most 8 values — scipy's `auto` rule;
//! * **normal** otherwise: `z = (U − n₁n₂/2 − ½) / σ`, with the tie-corrected
//!   `σ² = n₁n₂/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1)))`.
//!
//! The effect size is the rank-biserial correlation
//! `r = (U₁ − U₂)/(n₁n₂) = P(X > Y) − P(X < Y)`; the shift estimate is the
//! two-sample Hodges–Lehmann estimate, the median of the `n₁n₂`
//! differences `x_i − y_j`, with the distribution-free interval from the
//! ordered differences ([`hodges_lehmann_shift`]).

use crate::rank::{average_ranks, tie_group_sizes};
use crate::wilcoxon::check_finite64;
use salience_core::{Result, SalienceError};
use statrs::distribution::{ContinuousCDF, Normal};

/// Largest `n₁·n₂` of one test (the Hodges–Lehmann estimate sorts the
/// `n₁n₂` differences).
pub const MAX_PRODUCT: usize = 12_500_000;

/// How a Mann–Whitney p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MannWhitneyMethod {
    /// The exact null distribution of `U`.
    Exact,
    /// The tie-corrected normal approximation with continuity correction.
    Normal,
}

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitneyResult {
    /// `U₁`, the statistic scipy reports (pairs with `x > y`, ties ½).
    pub u1: f64,
    /// `U₂ = n₁n₂ − U₁`.
    pub u2: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Rank-biserial correlation `(U₁ − U₂)/(n₁n₂)` in [−1, 1].
    pub rank_biserial: f64,
    /// How the p-value was computed.
    pub method: MannWhitneyMethod,
}

/// The two-sided Mann–Whitney U test of `x` against `y` (scipy's
/// defaults; see the [module docs](self)).
///
/// Errors: an empty sample ([`SalienceError::Empty`]), NaN/Inf
/// ([`SalienceError::NonFinite`]), `n₁n₂` above [`MAX_PRODUCT`]
/// ([`SalienceError::InvalidParameter`]).
///
/// ```
/// use salience_metrics::mann_whitney::{mann_whitney_u, MannWhitneyMethod};
/// // scipy.stats.mannwhitneyu: U1 = 31, p = 0.030303… (exact).
/// let r = mann_whitney_u(&[1.1, 3.4, 2.2, 5.0, 4.1], &[0.3, 0.9, 2.0, 1.5, 0.1, 2.7, 0.6])?;
/// assert_eq!((r.u1, r.method), (31.0, MannWhitneyMethod::Exact));
/// assert!((r.p_value - 0.030303030303030304).abs() < 1e-15);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitneyResult> {
    let (n1, n2) = check_samples(x, y, "mann_whitney_u")?;
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let ranks = average_ranks(&pooled);
    let r1: f64 = ranks[..n1].iter().sum();
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let u = u1.max(u2);
    let ties = tie_group_sizes(&pooled);
    let (p, method) = if (n1 > 8 && n2 > 8) || !ties.is_empty() {
        let n = f1 + f2;
        let tie_term: f64 = ties
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum();
        let var = f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
        let p = if var > 0.0 {
            let z = (u - f1 * f2 / 2.0 - 0.5) / var.sqrt();
            2.0 * normal_sf(z)
        } else {
            1.0 // every value tied: no evidence either way
        };
        (p, MannWhitneyMethod::Normal)
    } else {
        // Without ties U is an integer.
        let pmf = exact_u_pmf(n1, n2)?;
        let k = u.round() as usize;
        let sf: f64 = pmf.iter().skip(k).sum();
        (2.0 * sf, MannWhitneyMethod::Exact)
    };
    Ok(MannWhitneyResult {
        u1,
        u2,
        p_value: p.clamp(0.0, 1.0),
        rank_biserial: (u1 - u2) / (f1 * f2),
        method,
    })
}

/// The two-sample Hodges–Lehmann shift estimate `median(x_i − y_j)` and its
/// distribution-free interval at `confidence`: with `c` the largest integer
/// with `P(U ≤ c) ≤ (1 − confidence)/2` under the null distribution of `U`
/// (exact when the distribution fits, normal otherwise), the interval is
/// `[D₍c+1₎, D₍n₁n₂−c₎]` of the sorted differences (the interval of R's
/// `wilcox.test(x, y, conf.int = TRUE)`); the full range when no such `c`
/// exists.
///
/// Errors: as [`mann_whitney_u`]; `confidence` outside (0, 1)
/// ([`SalienceError::InvalidParameter`]).
///
/// ```
/// use salience_metrics::mann_whitney::hodges_lehmann_shift;
/// // differences x − y: 1, 0, 2, 1 → median 1; n₁ = n₂ = 2 is too small
/// // for a 95 % interval, so it is the full range.
/// let (hl, ci) = hodges_lehmann_shift(&[2.0, 3.0], &[1.0, 2.0], 0.95)?;
/// assert_eq!((hl, ci), (1.0, (0.0, 2.0)));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn hodges_lehmann_shift(x: &[f64], y: &[f64], confidence: f64) -> Result<(f64, (f64, f64))> {
    let (n1, n2) = check_samples(x, y, "hodges_lehmann_shift")?;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(SalienceError::invalid(
            "confidence",
            confidence,
            "must be in (0, 1)",
        ));
    }
    let mut d: Vec<f64> = Vec::with_capacity(n1 * n2);
    for &a in x {
        d.extend(y.iter().map(|&b| a - b));
    }
    check_finite64(&d, "hodges_lehmann_shift x − y")?;
    d.sort_by(f64::total_cmp);
    let m = d.len();
    let estimate = if m % 2 == 1 {
        d[m / 2]
    } else {
        0.5 * (d[m / 2 - 1] + d[m / 2])
    };
    let tail = (1.0 - confidence) / 2.0;
    let c: Option<usize> = match exact_u_pmf(n1, n2) {
        Ok(pmf) => lower_critical_value(&pmf, tail),
        Err(_) => {
            let (f1, f2) = (n1 as f64, n2 as f64);
            let mean = f1 * f2 / 2.0;
            let sd = (f1 * f2 * (f1 + f2 + 1.0) / 12.0).sqrt();
            let z = Normal::new(0.0, 1.0).map_or(f64::INFINITY, |nd| nd.inverse_cdf(1.0 - tail));
            let k = (mean - z * sd).floor();
            (k >= 0.0).then_some(k as usize)
        }
    };
    let ci = match c {
        Some(c) if 2 * c + 1 < m => (d[c], d[m - c - 1]),
        _ => (d[0], d[m - 1]),
    };
    Ok((estimate, ci))
}

/// The largest `c` with `P(S ≤ c) ≤ tail` for a statistic with null pmf
/// `pmf` over `0, 1, …`; `None` if already `P(S = 0) > tail`.
pub(crate) fn lower_critical_value(pmf: &[f64], tail: f64) -> Option<usize> {
    let mut cum = 0.0;
    let mut c = None;
    for (s, p) in pmf.iter().enumerate() {
        cum += p;
        if cum <= tail {
            c = Some(s);
        } else {
            break;
        }
    }
    c
}

/// Checks both samples and returns their sizes.
fn check_samples(x: &[f64], y: &[f64], context: &str) -> Result<(usize, usize)> {
    if x.is_empty() || y.is_empty() {
        return Err(SalienceError::Empty(format!("{context}: an empty sample")));
    }
    check_finite64(x, &format!("{context} x"))?;
    check_finite64(y, &format!("{context} y"))?;
    if x.len().saturating_mul(y.len()) > MAX_PRODUCT {
        return Err(SalienceError::invalid(
            "samples",
            format!("{} × {}", x.len(), y.len()),
            "n₁·n₂ must be at most mann_whitney::MAX_PRODUCT",
        ));
    }
    Ok((x.len(), y.len()))
}

/// `P(Z > z)` for a standard normal `Z`.
fn normal_sf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
}

/// The null pmf of `U` for untied samples of sizes `n1`, `n2`:
/// `P(U = u)`, `u = 0..=n1·n2`, from the coefficients of the Gaussian
/// binomial `[n1 + n2 choose k]_q = Π_{i=1..k} (1 − q^{m+i})/(1 − q^i)`
/// (`k = min`, `m = max`), counted exactly in `i128`. An error when the
/// counts would not fit (then the caller uses the normal approximation).
fn exact_u_pmf(n1: usize, n2: usize) -> Result<Vec<f64>> {
    let (k, m) = (n1.min(n2), n1.max(n2));
    // C(n1 + n2, k) must fit an i128 (with room for the intermediate
    // subtraction): ln C < 86 (e^86 ≈ 2.2e37).
    let ln_c = statrs::function::factorial::ln_binomial((n1 + n2) as u64, k as u64);
    if ln_c.is_nan() || ln_c >= 86.0 {
        return Err(SalienceError::invalid(
            "samples",
            format!("{n1} × {n2}"),
            "too large for the exact distribution",
        ));
    }
    let deg = k * m;
    let mut c = vec![0i128; deg + 1];
    c[0] = 1;
    for i in 1..=k {
        // Multiply by (1 − q^{m+i}) (from the top, so each term is used
        // once), then divide by (1 − q^i) (a running sum with stride i).
        // After step i the polynomial is [m + i choose i]_q: non-negative.
        let s = m + i;
        let top = i * m; // degree after step i
        for u in (s..=top).rev() {
            c[u] -= c[u - s];
        }
        for u in i..=top {
            c[u] += c[u - i];
        }
    }
    let total: f64 = c.iter().map(|&v| v as f64).sum();
    Ok(c.iter().map(|&v| v as f64 / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_by_hand() {
        // n1 = n2 = 2: the 6 rankings give U = 0, 1, 2, 2, 3, 4.
        let p = exact_u_pmf(2, 2).unwrap();
        let want = [1.0, 1.0, 2.0, 1.0, 1.0].map(|v| v / 6.0);
        assert_eq!(p.len(), 5);
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{p:?}");
        }
        // Symmetric and summing to one for unequal sizes.
        let p = exact_u_pmf(3, 40).unwrap();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for u in 0..p.len() {
            assert!((p[u] - p[p.len() - 1 - u]).abs() < 1e-15);
        }
        // Counts that do not fit are an error (the caller goes normal).
        assert!(exact_u_pmf(200, 200).is_err());
    }

    /// scipy 1.17.1 `mannwhitneyu(x, y)` (two-sided, auto, continuity).
    #[test]
    fn matches_scipy() {
        let ties_x = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 7.0];
        let ties_y = [0.0, 1.0, 1.0, 2.0, 2.0, 3.0];
        let large_x = [
            2.341, -2.256, 0.718, -0.268, -0.153, 0.084, -1.72, 0.068, -0.565, 3.623, 0.526,
            -0.053, 0.019, -0.368, -0.755, -0.091, 0.782, 0.061, 1.258, 0.1, 0.324, 1.846, 0.845,
            -0.205, 0.117, 0.841, 2.235, 0.03, 0.056, 1.302,
        ];
        let large_y = [
            -0.652, -0.175, 1.664, 0.659, -1.641, -0.005, -0.623, 0.149, -1.608, 0.242, 0.235,
            1.576, 0.317, 0.511, -1.493, 2.253, -1.916, 1.102, -0.33, -0.881, -0.656, -0.672, 0.38,
            -0.11, 1.483,
        ];
        let small_x = [2.5, 3.5, 9.0];
        let small_y = [
            1.198, 0.676, 1.752, 2.42, 3.136, 2.11, 1.447, 1.215, 2.749, 3.635, 2.273, 0.767,
            1.042, 3.6, 2.203, 0.268, 1.916, 0.837, 1.371, 1.512, 1.287, 2.553, 1.937, 1.411, 2.41,
            2.83, 0.357, 1.743, 1.019, 1.827, 0.711, 2.021, 1.962, 1.696, 0.952, 1.604, 0.909,
            0.645, 2.225, 0.891,
        ];
        // (x, y, U1, p, method, Hodges–Lehmann shift)
        type Case<'a> = (&'a [f64], &'a [f64], f64, f64, MannWhitneyMethod, f64);
        let cases: [Case; 4] = [
            (
                &ties_x,
                &ties_y,
                33.5,
                0.07955880723023916,
                MannWhitneyMethod::Normal,
                2.0,
            ),
            (
                &large_x,
                &large_y,
                439.0,
                0.2831159465784432,
                MannWhitneyMethod::Normal,
                0.31,
            ),
            (
                &small_x,
                &small_y,
                112.0,
                0.006644518272425249,
                MannWhitneyMethod::Exact,
                2.0205,
            ),
            (
                &[1.0; 3],
                &[1.0; 2],
                3.0,
                1.0,
                MannWhitneyMethod::Normal,
                0.0,
            ),
        ];
        for (x, y, u1, p, method, hl) in cases {
            let r = mann_whitney_u(x, y).unwrap();
            assert_eq!(r.u1, u1);
            assert_eq!(r.method, method);
            // Exact: to rounding. Normal: statrs' erfc and scipy's ndtr
            // agree to about 4e-11 relative in these tails.
            let tol = match method {
                MannWhitneyMethod::Exact => 1e-12,
                MannWhitneyMethod::Normal => 1e-9,
            };
            assert!((r.p_value - p).abs() <= tol * p, "{} vs {p}", r.p_value);
            let (e, (lo, hi)) = hodges_lehmann_shift(x, y, 0.95).unwrap();
            assert!((e - hl).abs() < 1e-12, "{e} vs {hl}");
            assert!(lo <= e && e <= hi);
        }
    }

    #[test]
    fn interval_by_hand() {
        // n1 = n2 = 4: P(U ≤ 0) = 1/70 ≈ 0.0143 ≤ 0.025 < P(U ≤ 1) = 2/70,
        // so c = 0 and the 95 % interval is [D(1), D(16)]: the full range.
        // At 75 % (tail 0.125): P(U ≤ 3) = 7/70 = 0.1 ≤ 0.125 < P(U ≤ 4) = 12/70,
        // so c = 3 and the interval is [D(4), D(13)].
        let x = [10.0, 20.0, 30.0, 40.0];
        let y = [1.0, 2.0, 3.0, 4.0];
        // differences: 6..9, 16..19, 26..29, 36..39 (sorted, 16 values).
        let (e, ci) = hodges_lehmann_shift(&x, &y, 0.95).unwrap();
        assert_eq!(e, 22.5);
        assert_eq!(ci, (6.0, 39.0));
        let (_, ci) = hodges_lehmann_shift(&x, &y, 0.75).unwrap();
        assert_eq!(ci, (9.0, 36.0));
    }

    #[test]
    fn bad_input_is_typed() {
        assert!(matches!(
            mann_whitney_u(&[], &[1.0]),
            Err(SalienceError::Empty(_))
        ));
        assert!(matches!(
            mann_whitney_u(&[f64::NAN], &[1.0]),
            Err(SalienceError::NonFinite { .. })
        ));
        assert!(matches!(
            hodges_lehmann_shift(&[1.0], &[1.0], 1.0),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}
