//! Top-K intersection (Theiner et al. 2021; Quantus `TopKIntersection`):
//! the fraction of the `k` highest-attributed pixels that fall inside the
//! ground-truth mask,
//!
//! `TKI = |P_topk ∩ GT| / k` ∈ [0, 1]. **Higher is better.**
//!
//! With [`TopKConfig::concept_influence`] the score is multiplied by
//! `P / |GT|` (`P` pixels), Quantus' `concept_influence=True`. `k` defaults
//! to Quantus' 1000 and must not exceed the number of pixels; a map with
//! fewer pixels needs a smaller `k`. Quantus 0.6 requires `k < P` strictly
//! (a `ValueError` for `k = P`, measured); here `k = P` is allowed and
//! scores `|GT| / P`.
//!
//! [`TopKConfig::quantus`] equals Quantus 0.6's `TopKIntersection` exactly
//! on the parity fixture (`tests/quantus_parity.rs`: `[N, 1, 8, 8]` maps,
//! k = 1, 5, 20, 63, with and without concept influence).
//!
//! Ties at the k-th value are broken by pixel index (row-major, lower
//! first), as in [`relevance_rank_accuracy`](crate::relevance_rank_accuracy);
//! Quantus uses NumPy's unstable `argsort`. An empty mask (Quantus: NaN) or
//! a constant map (no ranking at all) makes the sample undefined
//! ([`Undefined`](crate::Undefined)); the other samples keep their scores.
//!
//! Quantus ranks the attribution array as given: a `[C, H, W]` attribution
//! is ranked over its `C·H·W` values; here maps are first reduced to pixels
//! ([`PixelMapConfig`]), so `k` counts pixels.
//!
//! Tests: a hand-computed 3×3 case (1/4; 3/4 with concept influence;
//! `k` = all pixels gives `|GT| / P`), tie-breaking, per-sample undefined
//! samples, `k` out of range.

use crate::maps::PixelMapConfig;
use crate::mask::{check_not_constant, score_per_sample, MaskBatch};
use crate::rank::descending_order;
use crate::scores::Outcomes;
use salience_core::spec::Validate;
use salience_core::{AttributionBatch, Result, SalienceError};

/// Options of [`top_k_intersection`].
///
/// ```
/// use salience_metrics::{PixelMapConfig, TopKConfig};
/// let c = TopKConfig::default();
/// assert_eq!((c.k, c.concept_influence), (1000, false));
/// assert_eq!(TopKConfig::quantus().map, PixelMapConfig::signed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopKConfig {
    /// How attributions become pixel maps (default: `SumAbs`, `Abs`, as the
    /// other localisation metrics).
    pub map: PixelMapConfig,
    /// Number of top pixels, `1 ≤ k ≤ H·W` (default 1000, Quantus).
    pub k: usize,
    /// Multiply by `H·W / |GT|` (Quantus' `concept_influence`; default
    /// false).
    pub concept_influence: bool,
}

impl Default for TopKConfig {
    fn default() -> Self {
        TopKConfig {
            map: PixelMapConfig::default(),
            k: 1000,
            concept_influence: false,
        }
    }
}

impl TopKConfig {
    /// Quantus' defaults: `k = 1000`, signed channel sum (`abs=False`; its
    /// `normalise_by_negative` does not change the order).
    ///
    /// ```
    /// assert_eq!(salience_metrics::TopKConfig::quantus().k, 1000);
    /// ```
    pub fn quantus() -> Self {
        TopKConfig {
            map: PixelMapConfig::signed(),
            ..Default::default()
        }
    }
}

impl Validate for TopKConfig {
    /// `k` must be ≥ 1 (its upper bound, the number of pixels, is checked
    /// against the masks).
    fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(SalienceError::invalid(
                "k",
                0,
                "must be ≥ 1 (and at most the number of pixels of the masks)",
            ));
        }
        Ok(())
    }
}

/// Top-K intersection per sample, as [`Outcomes`]; see the
/// [module docs](self).
///
/// Errors: `k = 0` or `k` larger than the number of pixels
/// ([`SalienceError::InvalidParameter`]), masks of another shape than the
/// pixel maps ([`SalienceError::ShapeMismatch`]). An empty mask or a
/// constant map makes that sample undefined.
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{top_k_intersection, MaskBatch, TopKConfig};
/// let a = AttributionBatch::from_pixel_maps(array![[[0.9f32, 0.1], [0.8, 0.7]]])?;
/// let m = MaskBatch::from_f32(array![[[1.0f32, 1.0], [0.0, 0.0]]].view())?;
/// // Top-3 = (0,0), (1,0), (1,1): one of three inside the mask.
/// let s = top_k_intersection(&a, &m, &TopKConfig { k: 3, ..Default::default() })?;
/// assert!((s.get(0).unwrap() - 1.0 / 3.0).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn top_k_intersection(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &TopKConfig,
) -> Result<Outcomes> {
    config.validate()?;
    let (_, h, w) = masks.shape();
    let pixels = h.saturating_mul(w);
    if config.k > pixels {
        return Err(SalienceError::invalid(
            "k",
            config.k,
            &format!("must lie in 1..={pixels} (the number of pixels of the {h}×{w} masks)"),
        ));
    }
    let k = config.k;
    score_per_sample(attributions, masks, &config.map, |m, mask, in_mask| {
        check_not_constant(m)?;
        let hits = descending_order(m)
            .into_iter()
            .take(k)
            .filter(|&p| mask[p])
            .count();
        let tki = hits as f64 / k as f64;
        Ok(if config.concept_influence {
            tki * m.len() as f64 / in_mask as f64
        } else {
            tki
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, Undefined};
    use ndarray::Array3;
    use salience_core::DegenerateReason;

    fn cfg(k: usize) -> TopKConfig {
        TopKConfig {
            k,
            ..Default::default()
        }
    }

    #[test]
    fn hand_computed() {
        // 3×3 map with values 0..9: the top-4 pixels are 8, 7, 6, 5.
        let a = Array3::from_shape_fn((1, 3, 3), |(_, y, x)| (y * 3 + x) as f32);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        // Mask = left column {0, 3, 6}: of {8, 7, 6, 5} only 6 → 1/4.
        let mut m = Array3::from_elem((1, 3, 3), false);
        m.slice_mut(ndarray::s![0, .., 0]).fill(true);
        let masks = MaskBatch::from_bool(m).unwrap();
        let s = top_k_intersection(&b, &masks, &cfg(4)).unwrap();
        assert_eq!(s.get(0), Some(0.25));
        // Concept influence: 1/4 · 9/3 = 0.75.
        let ci = TopKConfig {
            concept_influence: true,
            ..cfg(4)
        };
        assert_eq!(
            top_k_intersection(&b, &masks, &ci).unwrap().get(0),
            Some(0.75)
        );
        // k = all pixels: |GT| / P = 3/9.
        let all = top_k_intersection(&b, &masks, &cfg(9)).unwrap();
        assert!((all.get(0).unwrap() - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn ties_broken_by_index() {
        // [0, 2, 2, 2], k = 2: of the three tied maxima pixels 1 and 2 win,
        // so a mask {2, 3} scores 1/2 and a mask {3} scores 0.
        let a = Array3::from_shape_vec((1, 1, 4), vec![0.0f32, 2.0, 2.0, 2.0]).unwrap();
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let score = |bits: [bool; 4]| {
            let m = MaskBatch::from_bool(Array3::from_shape_vec((1, 1, 4), bits.to_vec()).unwrap());
            top_k_intersection(&b, &m.unwrap(), &cfg(2)).unwrap().get(0)
        };
        assert_eq!(score([false, false, true, true]), Some(0.5));
        assert_eq!(score([false, false, false, true]), Some(0.0));
    }

    #[test]
    fn undefined_samples_and_bad_k() {
        // Sample 0 constant, sample 1 empty mask, sample 2 a full hit.
        let mut a = Array3::<f32>::ones((3, 2, 2));
        a[[1, 0, 0]] = 3.0;
        a[[2, 1, 1]] = 3.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let mut m = Array3::from_elem((3, 2, 2), false);
        m[[0, 0, 0]] = true;
        m[[2, 1, 1]] = true;
        let masks = MaskBatch::from_bool(m).unwrap();
        let o = top_k_intersection(&b, &masks, &cfg(1)).unwrap();
        assert_eq!(
            o.outcomes(),
            &[
                Outcome::Undefined(Undefined::DegenerateMap(DegenerateReason::Constant)),
                Outcome::Undefined(Undefined::EmptyMask),
                Outcome::Score(1.0),
            ]
        );
        for k in [0, 5, 1000] {
            assert!(matches!(
                top_k_intersection(&b, &masks, &cfg(k)),
                Err(SalienceError::InvalidParameter { .. })
            ));
        }
    }
}
