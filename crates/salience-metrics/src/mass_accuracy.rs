//! Relevance mass accuracy (Arras, Osman & Samek 2022; Quantus
//! `RelevanceMassAccuracy`): the share of the total attribution that falls
//! inside the ground-truth mask,
//!
//! `RMA = Σ_{p ∈ GT} a_p / Σ_p a_p`. **Higher is better.**
//!
//! With the default [`MapSign::Abs`](crate::MapSign::Abs) (or `Positive`)
//! the map is non-negative and RMA ∈ [0, 1]; for an all-zero map the
//! sample is undefined ([`Undefined::DegenerateMap`]). With `Signed` maps
//! RMA is only defined when the total is positive (otherwise
//! [`Undefined::NonPositiveTotal`]) and may leave [0, 1]. Quantus returns a
//! number for a non-positive total (inside/total = 3.6 on the parity
//! fixture, where this sample is undefined).
//!
//! Otherwise Quantus computes the same ratio: 8e-8 relative on the parity
//! fixture (`tests/quantus_parity.rs`, signed maps with
//! [`PixelMapConfig::signed`] against `abs=False`, the default against
//! `abs=True`); earlier side-by-side runs measured ≤ 2e-6.

use crate::maps::PixelMapConfig;
use crate::mask::{score_per_sample, MaskBatch};
use crate::scores::{Outcomes, Undefined};
use salience_core::{AttributionBatch, DegenerateReason, Result};

/// Relevance mass accuracy per sample, as [`Outcomes`]; see the
/// [module docs](self). An empty mask, an all-zero map or (signed maps) a
/// non-positive total makes that sample undefined; [`Outcomes::strict`]
/// gives the former errors (`Empty`, `DegenerateMap`, `InvalidParameter`).
///
/// Errors: mask shape mismatch.
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{relevance_mass_accuracy, MaskBatch, PixelMapConfig};
/// let a = AttributionBatch::from_pixel_maps(array![[[3.0f32, 1.0], [0.0, -4.0]]])?;
/// let m = MaskBatch::from_f32(array![[[1.0f32, 0.0], [0.0, 1.0]]].view())?;
/// // |a| inside = 3 + 4 of a total 8.
/// let s = relevance_mass_accuracy(&a, &m, &PixelMapConfig::default())?;
/// assert_eq!(s.get(0), Some(0.875));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn relevance_mass_accuracy(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PixelMapConfig,
) -> Result<Outcomes> {
    score_per_sample(attributions, masks, config, |m, mask, _| {
        if m.iter().all(|&v| v == 0.0) {
            return Err(Undefined::DegenerateMap(DegenerateReason::AllZero));
        }
        let total: f64 = m.iter().map(|&v| v as f64).sum();
        let inside: f64 = m
            .iter()
            .zip(mask.iter())
            .filter(|&(_, &b)| b)
            .map(|(&v, _)| v as f64)
            .sum();
        if total <= 0.0 {
            return Err(Undefined::NonPositiveTotal);
        }
        Ok(inside / total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapSign;
    use ndarray::Array3;
    use salience_core::SalienceError;

    #[test]
    fn hand_computed_and_signs() {
        let mut a = Array3::<f32>::zeros((1, 2, 2));
        a[[0, 0, 0]] = 2.0;
        a[[0, 0, 1]] = -1.0;
        a[[0, 1, 1]] = 1.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let mut m = Array3::from_elem((1, 2, 2), false);
        m[[0, 0, 0]] = true;
        let masks = MaskBatch::from_bool(m).unwrap();
        let abs = relevance_mass_accuracy(&b, &masks, &PixelMapConfig::default())
            .unwrap()
            .strict()
            .unwrap();
        assert_eq!(abs.values(), &[0.5]); // 2 / 4
        let pos = PixelMapConfig {
            sign: MapSign::Positive,
            ..Default::default()
        };
        let p = relevance_mass_accuracy(&b, &masks, &pos)
            .unwrap()
            .strict()
            .unwrap();
        assert!((p.values()[0] - 2.0 / 3.0).abs() < 1e-12);
        let s = relevance_mass_accuracy(&b, &masks, &PixelMapConfig::signed())
            .unwrap()
            .strict()
            .unwrap();
        assert_eq!(s.values(), &[1.0]); // 2 / 2
    }

    #[test]
    fn degenerate_and_nonpositive_total() {
        let masks = MaskBatch::from_bool(Array3::from_elem((1, 1, 2), true)).unwrap();
        let zero = AttributionBatch::from_pixel_maps(Array3::<f32>::zeros((1, 1, 2))).unwrap();
        assert!(matches!(
            relevance_mass_accuracy(&zero, &masks, &PixelMapConfig::default())
                .unwrap()
                .strict(),
            Err(SalienceError::DegenerateMap { .. })
        ));
        let neg = AttributionBatch::from_pixel_maps(Array3::from_elem((1, 1, 2), -1.0f32)).unwrap();
        assert!(matches!(
            relevance_mass_accuracy(&neg, &masks, &PixelMapConfig::signed())
                .unwrap()
                .strict(),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}
