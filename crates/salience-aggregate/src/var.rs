//! Variance-weighted aggregation: Mahlau & Nolde's VAR (eq. 16) and the
//! AGG_var of Rieger & Hansen (2020) used by Decker et al. (2024).

use crate::kernel::{finish, map_chunks, moments};
use crate::Aggregator;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// Which spread s of the k values divides the mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Spread {
    /// The standard deviation σ with `ddof` (0: population, eq. 7).
    Std {
        /// Delta degrees of freedom (0 or 1).
        ddof: usize,
    },
    /// The variance σ² with `ddof`.
    Variance {
        /// Delta degrees of freedom (0 or 1).
        ddof: usize,
    },
}

/// g_var = (1/k) Σ_e e / (ε s + δ) = μ / (ε s + δ) at each pixel, where s
/// is the pixel's spread across the k maps (eq. 16 with s = σ).
///
/// Presets:
/// * [`Var::mahlau2022`] (default): s = population σ, ε = 10⁻⁷ (the paper's
///   tuned value), δ = 1. The paper does not state δ; with δ = 1 small ε
///   gives the mean, as its §4.2.5 reports.
/// * [`Var::rieger2020`]: s = the sample variance (ddof = 1), ε = 1,
///   δ = 0.226 — the AGG_var of the reference implementation of Decker et
///   al. (per-pixel weight 1/(var + 0.226) times 1/k, no renormalization).
///   With k = 1 the sample variance is undefined and taken as 0.
///
/// δ must be positive (it keeps the σ = 0 pixels finite: there the result
/// is μ/δ); ε must be ≥ 0.
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Var};
/// use salience_core::Ensemble;
/// // One pixel with values 1 and 3: μ = 2, sample variance 2.
/// let e = Ensemble::from_stacked(
///     Array::from_shape_vec((2, 1, 1), vec![1.0f32, 3.0]).unwrap().into_dyn(),
///     None,
/// ).unwrap();
/// let v = Var::rieger2020().aggregate(&e).unwrap();
/// assert!((v.view()[[0, 0]] - 2.0 / 2.226).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Var {
    /// Weight ε of the spread.
    #[serde(alias = "eps")]
    pub epsilon: f64,
    /// Offset δ > 0.
    pub delta: f64,
    /// Standard deviation or variance, and its ddof.
    pub spread: Spread,
}

impl Default for Var {
    fn default() -> Self {
        Var::mahlau2022()
    }
}

impl Var {
    /// Mahlau & Nolde's tuned VAR: μ / (10⁻⁷ σ + 1).
    pub fn mahlau2022() -> Self {
        Var {
            epsilon: 1e-7,
            delta: 1.0,
            spread: Spread::Std { ddof: 0 },
        }
    }

    /// The former name of [`Var::mahlau2022`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `mahlau2022`"
    )]
    pub fn mahlau() -> Self {
        Self::mahlau2022()
    }

    /// Rieger & Hansen's AGG_var as used by Decker et al.: μ / (var₁ + 0.226).
    pub fn rieger2020() -> Self {
        Var {
            epsilon: 1.0,
            delta: 0.226,
            spread: Spread::Variance { ddof: 1 },
        }
    }

    /// The former name of [`Var::rieger2020`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `rieger2020`"
    )]
    pub fn rieger_hansen() -> Self {
        Self::rieger2020()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_param_finite("var epsilon", self.epsilon)?;
        check_param_finite("var delta", self.delta)?;
        if self.epsilon < 0.0 {
            return Err(SalienceError::invalid(
                "var epsilon",
                self.epsilon,
                "must be ≥ 0",
            ));
        }
        if self.delta <= 0.0 {
            return Err(SalienceError::invalid(
                "var delta",
                self.delta,
                "must be > 0",
            ));
        }
        let (Spread::Std { ddof } | Spread::Variance { ddof }) = self.spread;
        if ddof > 1 {
            return Err(SalienceError::invalid("var ddof", ddof, "must be 0 or 1"));
        }
        Ok(())
    }
}

impl Aggregator for Var {
    fn name(&self) -> String {
        let s = match self.spread {
            Spread::Std { ddof } => format!("std{ddof}"),
            Spread::Variance { ddof } => format!("var{ddof}"),
        };
        format!("var(eps={},delta={},{s})", self.epsilon, self.delta)
    }

    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        self.validate()?;
        let (Spread::Std { ddof } | Spread::Variance { ddof }) = self.spread;
        let squared = matches!(self.spread, Spread::Variance { .. });
        let (eps, delta) = (self.epsilon as f32, self.delta as f32);
        let out = map_chunks(ensemble, |c, out| {
            // μ straight into `out`, σ into one scratch buffer per chunk.
            let mut std = vec![0.0f32; out.len()];
            moments(c, ddof, out, &mut std);
            for (o, &sd) in out.iter_mut().zip(&std) {
                let mu = *o;
                let s = if squared { sd * sd } else { sd };
                *o = mu / (eps * s + delta);
            }
            Ok(())
        })?;
        finish(ensemble, out, "var")
    }
}
