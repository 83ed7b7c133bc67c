//! Averaged Probability / Expected Improvement (Mahlau & Nolde 2022,
//! eqs. 12–15): PI and EI averaged over exploration rates ε ∈ [a, b].

use crate::improvement::{accumulate, acquisition, ei, pi};
use crate::kernel::{finish, PixelMoments};
use crate::normal::{cdf_integral, cdf_integral2};
use crate::Aggregator;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// How the average over ε ∈ [a, b] is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rates {
    /// The paper's approximation (eqs. 14–15): the mean over N evenly
    /// spaced rates ε_i = a + i(b − a)/(N − 1), i = 0 … N − 1 (N ≥ 2 when
    /// a < b, N ≤ [`MAX_RATES`]).
    Grid(usize),
    /// The integral of eqs. 12–13 in closed form. With c = μ − E⁺ and
    /// u_ε = (c − ε)/σ, API = σ[F(u_a) − F(u_b)]/(b − a) and
    /// AEI = σ²[G(u_a) − G(u_b)]/(b − a), where F(u) = uΦ(u) + φ(u) and
    /// G(u) = ((u² + 1)Φ(u) + uφ(u))/2 are antiderivatives of Φ and F.
    /// Exact and O(1) per pixel; the grid converges to it as N grows.
    Exact,
}

/// Which acquisition function is averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pi,
    Ei,
}

/// The largest accepted number of rates of [`Rates::Grid`] (10⁵: the
/// grid's error is O(1/N²), far below f32 resolution long before that;
/// [`Rates::Exact`] is the N → ∞ limit at the cost of a few rates).
pub const MAX_RATES: usize = 100_000;

/// The shared parameters of [`Api`] and [`Aei`].
pub(crate) fn validate(a: f64, b: f64, rates: Rates) -> Result<()> {
    check_param_finite("a", a)?;
    check_param_finite("b", b)?;
    if a > b {
        return Err(SalienceError::invalid(
            "[a, b]",
            format!("[{a}, {b}]"),
            "need a ≤ b",
        ));
    }
    match rates {
        Rates::Grid(n) if n > MAX_RATES => crate::check_count_limit(
            "rates",
            n,
            MAX_RATES,
            " (use Rates::Exact, `exact=true`, for the integral)",
        ),
        Rates::Grid(0) => Err(SalienceError::invalid("rates", 0, "need N ≥ 1 rates")),
        Rates::Grid(1) if a < b => Err(SalienceError::invalid(
            "rates",
            1,
            "need N ≥ 2 evenly spaced rates when a < b",
        )),
        _ => Ok(()),
    }
}

fn averaged(
    ensemble: &Ensemble,
    kind: Kind,
    a: f64,
    b: f64,
    rates: Rates,
) -> Result<AttributionBatch> {
    validate(a, b, rates)?;
    // Generic over the point function (not a fn pointer) so it inlines
    // into the vectorized pixel loop.
    match kind {
        Kind::Pi => averaged_with(ensemble, kind, a, b, rates, "api", pi),
        Kind::Ei => averaged_with(ensemble, kind, a, b, rates, "aei", ei),
    }
}

fn averaged_with<P>(
    ensemble: &Ensemble,
    kind: Kind,
    a: f64,
    b: f64,
    rates: Rates,
    name: &str,
    point: P,
) -> Result<AttributionBatch>
where
    P: Fn(f32, f32) -> f32 + Sync + Copy,
{
    let pm = PixelMoments::new(ensemble)?;
    match rates {
        _ if a == b => acquisition(ensemble, &pm, name, |_| a, point),
        Rates::Exact => acquisition(
            ensemble,
            &pm,
            name,
            |_| 0.0,
            |c, sd| exact(kind, c as f64, sd as f64, a, b) as f32,
        ),
        Rates::Grid(n) => {
            // Rates outside, pixels inside: the pixel loop vectorizes.
            let step = (b - a) / (n - 1) as f64;
            let out = pm.map(|s, mean, std, out| {
                for i in 0..n {
                    let shift = (pm.best[s] + a + i as f64 * step) as f32;
                    accumulate(out, mean, std, shift, &point);
                }
                let inv = 1.0 / n as f32;
                out.iter_mut().for_each(|o| *o *= inv);
            });
            finish(ensemble, out, name)
        }
    }
}

/// The exact average over ε ∈ [a, b] (a < b) at margin c = μ − E⁺.
fn exact(kind: Kind, c: f64, sd: f64, a: f64, b: f64) -> f64 {
    let w = b - a;
    if sd > 0.0 {
        let (ua, ub) = ((c - a) / sd, (c - b) / sd);
        match kind {
            Kind::Pi => (sd * (cdf_integral(ua) - cdf_integral(ub)) / w).clamp(0.0, 1.0),
            Kind::Ei => (sd * sd * (cdf_integral2(ua) - cdf_integral2(ub)) / w).max(0.0),
        }
    } else {
        // σ → 0: PI is the share of rates below c; EI averages max(c − ε, 0).
        match kind {
            Kind::Pi => ((c - a) / w).clamp(0.0, 1.0),
            Kind::Ei => {
                if c <= a {
                    0.0
                } else if c >= b {
                    c - 0.5 * (a + b)
                } else {
                    (c - a) * (c - a) / (2.0 * w)
                }
            }
        }
    }
}

/// Averaged Probability of Improvement (eqs. 12, 14). Defaults: the
/// paper's tuned [a, b] = [−7, 2] and a grid of N = 10 rates (the paper
/// does not state its N).
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Api, Pi, Rates};
/// use salience_core::Ensemble;
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![0.0f32, 2.0, 2.0, 3.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// // Two rates, −1 and 1: the mean of PI at ε = −1 and ε = 1.
/// let api = Api { a: -1.0, b: 1.0, rates: Rates::Grid(2) }.aggregate(&e).unwrap();
/// let lo = Pi { epsilon: -1.0 }.aggregate(&e).unwrap();
/// let hi = Pi { epsilon: 1.0 }.aggregate(&e).unwrap();
/// let want = (lo.view()[[0, 0]] + hi.view()[[0, 0]]) / 2.0;
/// assert!((api.view()[[0, 0]] - want).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Lower end of the rate interval.
    pub a: f64,
    /// Upper end of the rate interval.
    pub b: f64,
    /// Grid or exact integral.
    pub rates: Rates,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            a: -7.0,
            b: 2.0,
            rates: Rates::Grid(10),
        }
    }
}

impl Aggregator for Api {
    fn name(&self) -> String {
        format!("api(a={},b={},{})", self.a, self.b, rates_name(self.rates))
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        averaged(ensemble, Kind::Pi, self.a, self.b, self.rates)
    }
}

/// Averaged Expected Improvement (eqs. 13, 15). Defaults: the paper's
/// tuned [a, b] = [−10, 5] and a grid of N = 10 rates.
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Aei, Rates};
/// use salience_core::Ensemble;
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 2), vec![0.0f32, 2.0, 2.0, 3.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// // The grid converges to the exact integral.
/// let exact = Aei { rates: Rates::Exact, ..Aei::default() }.aggregate(&e).unwrap();
/// let fine = Aei { rates: Rates::Grid(20_001), ..Aei::default() }.aggregate(&e).unwrap();
/// assert!((exact.view()[[0, 0]] - fine.view()[[0, 0]]).abs() < 1e-3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Aei {
    /// Lower end of the rate interval.
    pub a: f64,
    /// Upper end of the rate interval.
    pub b: f64,
    /// Grid or exact integral.
    pub rates: Rates,
}

impl Default for Aei {
    fn default() -> Self {
        Aei {
            a: -10.0,
            b: 5.0,
            rates: Rates::Grid(10),
        }
    }
}

impl Aggregator for Aei {
    fn name(&self) -> String {
        format!("aei(a={},b={},{})", self.a, self.b, rates_name(self.rates))
    }
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        averaged(ensemble, Kind::Ei, self.a, self.b, self.rates)
    }
}

fn rates_name(r: Rates) -> String {
    match r {
        Rates::Grid(n) => format!("n={n}"),
        Rates::Exact => "exact".into(),
    }
}
