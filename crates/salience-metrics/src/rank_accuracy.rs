//! Relevance rank accuracy (Arras, Osman & Samek 2022; Bykov et al. (2022) eq. 7;
//! Quantus `RelevanceRankAccuracy`).
//!
//! With `K = |GT|` the number of mask pixels and `P_topK` the K pixels of
//! highest attribution:
//!
//! `RRA = |P_topK ∩ GT| / |GT|` ∈ [0, 1]. **Higher is better.**
//!
//! Ties at the K-th value are broken deterministically by pixel index
//! (row-major, lower first) — Quantus uses NumPy's unstable `argsort`, so
//! its choice among tied pixels is unspecified. A constant map ranks
//! nothing and an empty mask has no K: such samples are undefined
//! ([`Undefined`](crate::Undefined)); the others keep their scores.

use crate::maps::PixelMapConfig;
use crate::mask::{check_not_constant, score_per_sample, MaskBatch};
use crate::rank::descending_order;
use crate::scores::Outcomes;
use salience_core::{AttributionBatch, Result};

/// Relevance rank accuracy per sample, as [`Outcomes`]; see the
/// [module docs](self). An empty mask or a constant map makes that sample
/// undefined ([`Outcomes::strict`] gives the former errors
/// [`SalienceError::Empty`](salience_core::SalienceError::Empty) /
/// [`SalienceError::DegenerateMap`](salience_core::SalienceError::DegenerateMap)).
///
/// Errors: masks of another shape than the pixel maps
/// ([`SalienceError::ShapeMismatch`](salience_core::SalienceError::ShapeMismatch)).
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{relevance_rank_accuracy, MaskBatch, PixelMapConfig};
/// let a = AttributionBatch::from_pixel_maps(array![[[0.9f32, 0.1], [0.8, 0.7]]])?;
/// // K = 2; the top-2 pixels are (0,0) and (1,0); one is in the mask.
/// let m = MaskBatch::from_f32(array![[[1.0f32, 0.0], [0.0, 1.0]]].view())?;
/// let s = relevance_rank_accuracy(&a, &m, &PixelMapConfig::default())?;
/// assert_eq!(s.get(0), Some(0.5));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn relevance_rank_accuracy(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PixelMapConfig,
) -> Result<Outcomes> {
    score_per_sample(attributions, masks, config, |m, mask, k| {
        check_not_constant(m)?;
        let order = descending_order(m);
        let inside = order.iter().take(k).filter(|&&p| mask[p]).count();
        Ok(inside as f64 / k as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use salience_core::SalienceError;

    #[test]
    fn hand_made_masks() {
        // 3×3 map with values 0..9 (8 at (2,2) is the largest).
        let a = Array3::from_shape_fn((1, 3, 3), |(_, y, x)| (y * 3 + x) as f32);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let c = PixelMapConfig::default();
        // Mask = bottom row: the top-3 pixels are exactly the bottom row.
        let mut m = Array3::from_elem((1, 3, 3), false);
        m.slice_mut(ndarray::s![0, 2, ..]).fill(true);
        let s = relevance_rank_accuracy(&b, &MaskBatch::from_bool(m).unwrap(), &c)
            .unwrap()
            .strict()
            .unwrap();
        assert_eq!(s.values(), &[1.0]);
        // Mask = left column {0, 3, 6}: top-3 = {8, 7, 6}: 1 of 3.
        let mut m = Array3::from_elem((1, 3, 3), false);
        m.slice_mut(ndarray::s![0, .., 0]).fill(true);
        let s = relevance_rank_accuracy(&b, &MaskBatch::from_bool(m).unwrap(), &c)
            .unwrap()
            .strict()
            .unwrap();
        assert!((s.values()[0] - 1.0 / 3.0).abs() < 1e-12);
        // Mask = top-left pixel only: top-1 is pixel 8 → 0.
        let mut m = Array3::from_elem((1, 3, 3), false);
        m[[0, 0, 0]] = true;
        let s = relevance_rank_accuracy(&b, &MaskBatch::from_bool(m).unwrap(), &c)
            .unwrap()
            .strict()
            .unwrap();
        assert_eq!(s.values(), &[0.0]);
    }

    #[test]
    fn ties_broken_by_index() {
        // Values [1, 1, 0, 0]; K = 1; of the two tied maxima pixel 0 wins.
        let mut a = Array3::<f32>::zeros((1, 1, 4));
        a[[0, 0, 0]] = 1.0;
        a[[0, 0, 1]] = 1.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let mut m = Array3::from_elem((1, 1, 4), false);
        m[[0, 0, 1]] = true;
        let s = relevance_rank_accuracy(
            &b,
            &MaskBatch::from_bool(m).unwrap(),
            &PixelMapConfig::default(),
        )
        .unwrap()
        .strict()
        .unwrap();
        assert_eq!(s.values(), &[0.0]);
    }

    #[test]
    fn bad_input() {
        let b = AttributionBatch::from_pixel_maps(Array3::<f32>::zeros((1, 2, 2))).unwrap();
        let m = MaskBatch::from_bool(Array3::from_elem((1, 2, 2), true)).unwrap();
        assert!(matches!(
            relevance_rank_accuracy(&b, &m, &PixelMapConfig::default())
                .unwrap()
                .strict(),
            Err(SalienceError::DegenerateMap { .. })
        ));
        let m = MaskBatch::from_bool(Array3::from_elem((2, 2, 2), true)).unwrap();
        assert!(matches!(
            relevance_rank_accuracy(&b, &m, &PixelMapConfig::default()),
            Err(SalienceError::ShapeMismatch { .. })
        ));
    }
}
