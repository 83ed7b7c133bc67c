//! Entropy complexity (Bhatt et al. 2020), as Quantus's `Complexity`: the
//! Shannon entropy (natural log) of the fractional contributions
//! `p_i = |a_i| / Σ_j |a_j|`:
//!
//! `H = −Σ_i p_i ln p_i` (with `0 ln 0 = 0`), `H ∈ [0, ln n]`.
//!
//! 0 for a one-hot map, `ln n` for a uniform one. **Lower is simpler**
//! (better). With [`ComplexityConfig::normalized`] the score is `H / ln n`
//! ∈ [0, 1] (0 when n = 1). An all-zero map has no distribution:
//! its sample is
//! [`Undefined::DegenerateMap`](crate::Undefined::DegenerateMap) with
//! [`DegenerateReason::AllZero`] (the other samples keep their scores;
//! [`Outcomes::strict`] gives [`SalienceError::DegenerateMap`]).
//!
//! Quantus 0.6 computes `−Σ p ln(p + 1e-12)`; the `1e-12` is below f32
//! resolution, and the default equals Quantus' `Complexity` to 4.7e-8
//! relative on the parity fixture (`tests/quantus_parity.rs`).

use crate::common::degenerate_as_undefined;
use crate::maps::{flat_values, row};
use crate::scores::{Outcome, Outcomes};
use rayon::prelude::*;
use salience_core::{AttributionBatch, ChannelReduction, DegenerateReason, Result, SalienceError};

/// Options of [`entropy_complexity`].
///
/// ```
/// let c = salience_metrics::ComplexityConfig::default();
/// assert!(c.reduction.is_none() && !c.normalized);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplexityConfig {
    /// `None` (default): every value of the sample (all channels and
    /// pixels, as Quantus). `Some(r)`: image attributions are first reduced
    /// to a pixel map with `r`.
    pub reduction: Option<ChannelReduction>,
    /// Divide by `ln n` so the score lies in [0, 1] (default false, as
    /// Quantus and Bhatt et al.).
    pub normalized: bool,
}

/// Entropy of `|values| / Σ|values|` (natural log; see the
/// [module docs](self)), optionally divided by `ln n`.
///
/// Errors: empty input, NaN/Inf, all zeros (`DegenerateMap`, sample 0).
///
/// ```
/// use salience_metrics::entropy_of;
/// assert_eq!(entropy_of(&[0.0f32, 3.0, 0.0], false)?, 0.0);
/// let h = entropy_of(&[1.0f32, -1.0, 1.0, 1.0], false)?;
/// assert!((h - 4f64.ln()).abs() < 1e-12);
/// assert!((entropy_of(&[1.0f32, -1.0, 1.0, 1.0], true)? - 1.0).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn entropy_of(values: &[f32], normalized: bool) -> Result<f64> {
    entropy_one(values, normalized, 0)
}

fn entropy_one(values: &[f32], normalized: bool, sample: usize) -> Result<f64> {
    if values.is_empty() {
        return Err(SalienceError::Empty("entropy: no values".into()));
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "entropy values".into(),
            index,
            value,
        });
    }
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    if max <= 0.0 {
        return Err(SalienceError::DegenerateMap {
            sample,
            map: 0,
            reason: DegenerateReason::AllZero,
        });
    }
    // Scale by the maximum first so the sum cannot overflow.
    let total: f64 = values.iter().map(|v| v.abs() as f64 / max).sum();
    let h: f64 = values
        .iter()
        .map(|v| v.abs() as f64 / max / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    let n = values.len() as f64;
    let h = h.clamp(0.0, n.ln());
    if normalized {
        Ok(if values.len() > 1 { h / n.ln() } else { 0.0 })
    } else {
        Ok(h)
    }
}

/// Entropy complexity of each sample of `attributions` (see the
/// [module docs](self)). Samples are processed in parallel.
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{entropy_complexity, ComplexityConfig};
/// let a = AttributionBatch::from_tabular(array![[0.0f32, 2.0], [1.0, -1.0]])?;
/// let s = entropy_complexity(&a, &ComplexityConfig::default())?.strict()?;
/// assert_eq!(s.values()[0], 0.0);
/// assert!((s.values()[1] - 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn entropy_complexity(
    attributions: &AttributionBatch,
    config: &ComplexityConfig,
) -> Result<Outcomes> {
    let flat = flat_values(attributions, config.reduction)?;
    let values = (0..flat.nrows())
        .into_par_iter()
        .map(|i| degenerate_as_undefined(entropy_one(&row(&flat, i), config.normalized, i)))
        .collect::<Result<Vec<Outcome>>>()?;
    Outcomes::new(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn hand_computed() {
        // p = [1/4, 1/4, 1/2]: H = 2·(1/4)ln4 + (1/2)ln2 = 1.5 ln 2.
        let h = entropy_of(&[1.0, -1.0, 2.0], false).unwrap();
        assert!((h - 1.5 * 2f64.ln()).abs() < 1e-12);
        assert_eq!(entropy_of(&[4.0], true).unwrap(), 0.0);
    }

    #[test]
    fn all_zero_sample_is_degenerate() {
        let mut a = Array3::<f32>::ones((2, 2, 2));
        a.slice_mut(ndarray::s![1, .., ..]).fill(0.0);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        assert!(matches!(
            entropy_complexity(&b, &ComplexityConfig::default()).and_then(|o| o.strict()),
            Err(SalienceError::DegenerateMap { sample: 1, .. })
        ));
    }

    #[test]
    fn extreme_values_stay_finite() {
        let h = entropy_of(&[f32::MAX, f32::MAX, f32::MIN_POSITIVE], false).unwrap();
        assert!(h.is_finite() && (h - 2f64.ln()).abs() < 1e-6);
    }
}
