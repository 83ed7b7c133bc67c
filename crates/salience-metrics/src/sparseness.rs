//! Gini sparseness (Chalasani et al. 2020; Hurley & Rickard 2009), as
//! Quantus's `Sparseness`: the Gini index of `|a|`.
//!
//! With `|a|` sorted ascending, `a_(1) ≤ … ≤ a_(n)`:
//!
//! `G = Σ_i (2i − n − 1) a_(i) / (n Σ_i a_(i))`, `G ∈ [0, 1 − 1/n]`.
//!
//! 0 for a uniform map, `1 − 1/n` for a one-hot map. **Higher is sparser**
//! (better, in Bykov et al. (2022)'s reading). An all-zero map has no Gini index:
//! its sample is
//! [`Undefined::DegenerateMap`](crate::Undefined::DegenerateMap) with
//! [`DegenerateReason::AllZero`] (the other samples keep their scores;
//! [`Outcomes::strict`] gives [`SalienceError::DegenerateMap`]).

use crate::common::degenerate_as_undefined;
use crate::maps::{flat_values, row};
use crate::scores::{Outcome, Outcomes};
use rayon::prelude::*;
use salience_core::spec::Validate;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, ChannelReduction, DegenerateReason, Result, SalienceError};

/// Options of [`gini_sparseness`].
///
/// ```
/// use salience_metrics::SparsenessConfig;
/// assert_eq!(SparsenessConfig::default().epsilon, 0.0);
/// assert_eq!(SparsenessConfig::quantus().epsilon, 1e-7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SparsenessConfig {
    /// `None` (default): every value of the sample (all channels and
    /// pixels, as Quantus). `Some(r)`: image attributions are first reduced
    /// to a pixel map with `r`.
    pub reduction: Option<ChannelReduction>,
    /// Added to `|a| / max|a|` before the index (default 0). Quantus
    /// normalises by the maximum and adds 1e-7 ([`SparsenessConfig::quantus`]);
    /// this lowers the index slightly (a one-hot map no longer scores
    /// exactly `1 − 1/n`). All-zero maps are an error either way.
    pub epsilon: f64,
}

impl SparsenessConfig {
    /// Quantus's `Sparseness` defaults (`normalise=True`, `abs=True`, +1e-7).
    ///
    /// Here each map is divided by its own maximum before the `1e-7` is
    /// added; Quantus' `normalise_by_max` divides by the maximum of the
    /// whole batch, so for a map whose maximum is below the batch's the
    /// `1e-7` weighs relatively more in Quantus. Exactly, with `G₀` the
    /// index without ε, `n` values and `S = Σ|a| / M`:
    /// `G = G₀ · S / (S + n·1e-7)`, `M` the batch maximum in Quantus and the
    /// map's own maximum here. Measured on the parity fixture (3×8×8 maps):
    /// 6.7e-3 relative for a map whose maximum is 1e-3 of the batch's, ≤ 6e-6
    /// for the others; Quantus with a per-sample `normalise_by_max`
    /// (`normalise_axes=[1, 2, 3]`) equals this preset to 1.1e-7.
    ///
    /// ```
    /// let c = salience_metrics::SparsenessConfig::quantus();
    /// assert!(c.reduction.is_none());
    /// ```
    pub fn quantus() -> Self {
        SparsenessConfig {
            reduction: None,
            epsilon: 1e-7,
        }
    }
}

/// Gini index of `|values|` (see the [module docs](self)); `epsilon` is
/// added to `|v| / max|v|`.
///
/// Errors: empty input ([`SalienceError::Empty`]), NaN/Inf
/// ([`SalienceError::NonFinite`]), negative or non-finite `epsilon`
/// ([`SalienceError::InvalidParameter`]), all zeros
/// ([`SalienceError::DegenerateMap`], reported as sample 0).
///
/// ```
/// use salience_metrics::gini_index;
/// let one_hot = [0.0f32, 0.0, 5.0, 0.0];
/// assert!((gini_index(&one_hot, 0.0)? - 0.75).abs() < 1e-12); // 1 − 1/n
/// assert_eq!(gini_index(&[2.0f32, -2.0, 2.0], 0.0)?, 0.0);    // uniform |a|
/// assert!(gini_index(&[0.0f32; 3], 0.0).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn gini_index(values: &[f32], epsilon: f64) -> Result<f64> {
    check_epsilon(epsilon)?;
    gini_one(values, epsilon, 0)
}

impl Validate for SparsenessConfig {
    /// `epsilon` must be finite and ≥ 0.
    fn validate(&self) -> Result<()> {
        check_epsilon(self.epsilon)
    }
}

fn check_epsilon(epsilon: f64) -> Result<()> {
    check_param_finite("epsilon", epsilon)?;
    if epsilon < 0.0 {
        return Err(SalienceError::invalid("epsilon", epsilon, "must be ≥ 0"));
    }
    Ok(())
}

fn gini_one(values: &[f32], epsilon: f64, sample: usize) -> Result<f64> {
    if values.is_empty() {
        return Err(SalienceError::Empty("gini_index: no values".into()));
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "gini_index values".into(),
            index,
            value,
        });
    }
    let mut a: Vec<f64> = values.iter().map(|v| v.abs() as f64).collect();
    let max = a.iter().copied().fold(0.0f64, f64::max);
    if max <= 0.0 {
        return Err(SalienceError::DegenerateMap {
            sample,
            map: 0,
            reason: DegenerateReason::AllZero,
        });
    }
    // Scale by the maximum (as Quantus's normalise_by_max); the index is
    // scale invariant, and this keeps the sums in range.
    a.iter_mut().for_each(|v| *v = *v / max + epsilon);
    a.sort_by(|x, y| x.total_cmp(y));
    let n = a.len() as f64;
    let total: f64 = a.iter().sum();
    let weighted: f64 = a
        .iter()
        .enumerate()
        .map(|(i, v)| (2.0 * (i as f64 + 1.0) - n - 1.0) * v)
        .sum();
    Ok((weighted / (n * total)).clamp(0.0, 1.0))
}

/// Gini sparseness of each sample of `attributions` (see the
/// [module docs](self)). Samples are processed in parallel.
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{gini_sparseness, SparsenessConfig};
/// let a = AttributionBatch::from_tabular(array![[0.0f32, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])?;
/// let s = gini_sparseness(&a, &SparsenessConfig::default())?;
/// assert_eq!(s.strict()?.values(), &[0.75, 0.0]);
/// println!("sparseness: {}", s.summary());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn gini_sparseness(
    attributions: &AttributionBatch,
    config: &SparsenessConfig,
) -> Result<Outcomes> {
    check_epsilon(config.epsilon)?;
    let flat = flat_values(attributions, config.reduction)?;
    let values = (0..flat.nrows())
        .into_par_iter()
        .map(|i| degenerate_as_undefined(gini_one(&row(&flat, i), config.epsilon, i)))
        .collect::<Result<Vec<Outcome>>>()?;
    Outcomes::new(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    #[test]
    fn one_hot_is_one_minus_one_over_n() {
        for n in [1usize, 2, 7, 100] {
            let mut v = vec![0.0f32; n];
            v[n / 2] = -3.5;
            let g = gini_index(&v, 0.0).unwrap();
            assert!((g - (1.0 - 1.0 / n as f64)).abs() < 1e-12, "n={n}: {g}");
        }
    }

    #[test]
    fn hand_computed_small_case() {
        // |a| sorted = [1, 2, 3]: (−2·1 + 0·2 + 2·3) / (3·6) = 4/18.
        let g = gini_index(&[3.0, -1.0, 2.0], 0.0).unwrap();
        assert!((g - 4.0 / 18.0).abs() < 1e-12);
        // Scale invariant.
        let g2 = gini_index(&[300.0, -100.0, 200.0], 0.0).unwrap();
        assert!((g - g2).abs() < 1e-12);
    }

    #[test]
    fn quantus_epsilon_lowers_one_hot_slightly() {
        let g = gini_index(&[0.0, 0.0, 0.0, 1.0], 1e-7).unwrap();
        assert!(g < 0.75 && g > 0.7499);
    }

    #[test]
    fn batch_of_images_and_reduction() {
        let mut a = Array4::<f32>::zeros((2, 3, 2, 2));
        a[[0, 1, 0, 0]] = 1.0;
        a.slice_mut(ndarray::s![1, .., .., ..]).fill(2.0);
        let b = AttributionBatch::from_images(a).unwrap();
        let s = gini_sparseness(&b, &SparsenessConfig::default()).unwrap();
        assert!((s.strict().unwrap().values()[0] - 11.0 / 12.0).abs() < 1e-12);
        assert_eq!(s.strict().unwrap().values()[1], 0.0);
        let cfg = SparsenessConfig {
            reduction: Some(ChannelReduction::SumAbs),
            ..Default::default()
        };
        let s = gini_sparseness(&b, &cfg).unwrap();
        assert!((s.strict().unwrap().values()[0] - 0.75).abs() < 1e-12);
    }

    #[test]
    fn all_zero_map_is_degenerate() {
        let mut a = Array3::<f32>::ones((3, 2, 2));
        a.slice_mut(ndarray::s![2, .., ..]).fill(0.0);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        // Undefined for sample 2 only; the strict form is the former error.
        let o = gini_sparseness(&b, &SparsenessConfig::default()).unwrap();
        assert_eq!(
            o.undefined(),
            vec![(
                2,
                crate::Undefined::DegenerateMap(DegenerateReason::AllZero)
            )]
        );
        assert_eq!((o.get(0), o.get(1)), (Some(0.0), Some(0.0)));
        match o.strict() {
            Err(SalienceError::DegenerateMap { sample, reason, .. }) => {
                assert_eq!(sample, 2);
                assert_eq!(reason, DegenerateReason::AllZero);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            gini_sparseness(
                &b,
                &SparsenessConfig {
                    epsilon: -1.0,
                    ..Default::default()
                }
            ),
            Err(SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            gini_index(&[1.0, f32::NAN], 0.0),
            Err(SalienceError::NonFinite { .. })
        ));
    }
}
