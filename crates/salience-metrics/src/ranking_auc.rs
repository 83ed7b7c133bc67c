//! Ranking AUC of an attribution map against a ground-truth mask (Bykov et
//! al. (2022)'s "attribution ranking AUC" after Fawcett 2006; Quantus
//! `AUC`): the ROC AUC of the pixel scores `a_p` as a classifier of
//! "pixel ∈ GT".
//!
//! Computed from average ranks (the Mann–Whitney form, which equals the
//! trapezoidal ROC area with tied scores counted as ½ — the value of
//! sklearn's `roc_auc_score`, which Quantus `AUC` uses; tested against a
//! brute-force count over pixel pairs):
//!
//! `AUC = (Σ_{p ∈ GT} rank(a_p) − K(K+1)/2) / (K (P − K))`,
//!
//! `K = |GT|`, `P` the number of pixels. 1 = every mask pixel outranks every
//! other pixel, 0.5 = chance (or a constant map). **Higher is better.**
//! An empty mask makes the sample undefined
//! ([`Undefined::EmptyMask`](crate::Undefined)), and so does a mask
//! covering every pixel, which leaves no negatives
//! ([`Undefined::FullMask`](crate::Undefined)).
//!
//! Equal to Quantus 0.6's `AUC` to 2e-16 relative on the parity fixture
//! (`tests/quantus_parity.rs`, signed maps).

use crate::maps::PixelMapConfig;
use crate::mask::{score_per_sample, MaskBatch};
use crate::rank::average_ranks;
use crate::scores::{Outcomes, Undefined};
use salience_core::{AttributionBatch, Result};

/// Ranking (ROC) AUC per sample, as [`Outcomes`]; see the
/// [module docs](self). [`Outcomes::strict`] gives the former errors
/// (`Empty` for an empty mask, `InvalidParameter` for a full one).
///
/// Errors: mask shape mismatch.
///
/// ```
/// use ndarray::array;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{ranking_auc, MaskBatch, PixelMapConfig};
/// let a = AttributionBatch::from_pixel_maps(array![[[0.9f32, 0.1], [0.5, 0.5]]])?;
/// let m = MaskBatch::from_f32(array![[[1.0f32, 0.0], [1.0, 0.0]]].view())?;
/// // Positives {0.9, 0.5}, negatives {0.1, 0.5}: pairs won 1 + 1 + 1 + ½ of 4.
/// let s = ranking_auc(&a, &m, &PixelMapConfig::default())?;
/// assert_eq!(s.get(0), Some(0.875));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn ranking_auc(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PixelMapConfig,
) -> Result<Outcomes> {
    score_per_sample(attributions, masks, config, |m, mask, k| {
        let p = m.len();
        if k == p {
            return Err(Undefined::FullMask);
        }
        let scores: Vec<f64> = m.iter().map(|&v| v as f64).collect();
        let ranks = average_ranks(&scores);
        let pos_rank_sum: f64 = ranks
            .iter()
            .zip(mask.iter())
            .filter(|&(_, &b)| b)
            .map(|(r, _)| r)
            .sum();
        let (kf, nf) = (k as f64, (p - k) as f64);
        let auc = (pos_rank_sum - kf * (kf + 1.0) / 2.0) / (kf * nf);
        Ok(auc.clamp(0.0, 1.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use salience_core::SalienceError;

    fn brute_force(scores: &[f32], mask: &[bool]) -> f64 {
        let (mut won, mut pairs) = (0.0, 0.0);
        for (i, &a) in scores.iter().enumerate().filter(|(i, _)| mask[*i]) {
            let _ = i;
            for (_, &b) in scores.iter().enumerate().filter(|(j, _)| !mask[*j]) {
                pairs += 1.0;
                if a > b {
                    won += 1.0;
                } else if a == b {
                    won += 0.5;
                }
            }
        }
        won / pairs
    }

    #[test]
    fn matches_pairwise_definition() {
        let vals = [0.3f32, 0.3, 0.1, 0.9, 0.0, 0.3, 0.5, 0.5, 0.2];
        let mask = [true, false, false, true, false, true, false, true, false];
        let a = Array3::from_shape_vec((1, 3, 3), vals.to_vec()).unwrap();
        let m = Array3::from_shape_vec((1, 3, 3), mask.to_vec()).unwrap();
        let s = ranking_auc(
            &AttributionBatch::from_pixel_maps(a).unwrap(),
            &MaskBatch::from_bool(m).unwrap(),
            &PixelMapConfig::default(),
        )
        .unwrap()
        .strict()
        .unwrap();
        assert!((s.values()[0] - brute_force(&vals, &mask)).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_constant() {
        let a = Array3::from_shape_fn(
            (2, 2, 2),
            |(n, y, x)| if n == 0 { (y * 2 + x) as f32 } else { 1.0 },
        );
        let mut m = Array3::from_elem((2, 2, 2), false);
        m[[0, 1, 1]] = true;
        m[[1, 0, 0]] = true;
        let s = ranking_auc(
            &AttributionBatch::from_pixel_maps(a).unwrap(),
            &MaskBatch::from_bool(m).unwrap(),
            &PixelMapConfig::default(),
        )
        .unwrap()
        .strict()
        .unwrap();
        assert_eq!(s.values(), &[1.0, 0.5]);
    }

    #[test]
    fn full_and_empty_masks_are_errors() {
        let a = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((1, 2, 2))).unwrap();
        let full = MaskBatch::from_bool(Array3::from_elem((1, 2, 2), true)).unwrap();
        let empty = MaskBatch::from_bool(Array3::from_elem((1, 2, 2), false)).unwrap();
        let c = PixelMapConfig::default();
        assert!(matches!(
            ranking_auc(&a, &full, &c).unwrap().strict(),
            Err(SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            ranking_auc(&a, &empty, &c).unwrap().strict(),
            Err(SalienceError::Empty(_))
        ));
    }
}
