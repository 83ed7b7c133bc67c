//! Pointing game (Zhang et al. 2016; Quantus `PointingGame`).
//!
//! A sample scores 1 (a *hit*) if a pixel of maximal attribution lies in
//! the ground-truth mask, or within Euclidean distance `tolerance` pixels
//! of it, and 0 otherwise. When several pixels tie for the maximum, a hit
//! by any of them counts (as Quantus). The batch mean is the pointing
//! accuracy. **Higher is better.**
//!
//! Zhang et al. use a 15-pixel tolerance ([`PointingGameConfig::zhang`]);
//! Quantus uses none (tolerance 0, the default here). A constant map points
//! nowhere: the sample is [`Undefined::DegenerateMap`](crate::Undefined)
//! (Quantus would count it as a hit, since every pixel is a maximum). An
//! empty mask is [`Undefined::EmptyMask`](crate::Undefined) — Quantus 0.6
//! returns `True` (a hit) for an empty mask, a bug: nothing can be pointed
//! at in an empty mask (measured: 1.0 on the parity fixture; its code
//! assigns `np.nan` into a boolean array, which stores `True`). Otherwise
//! the scores equal Quantus' exactly (`tests/quantus_parity.rs`, signed
//! maps with [`PixelMapConfig::signed`] and `abs=True` maps with the
//! default).

use crate::maps::PixelMapConfig;
use crate::mask::{check_not_constant, score_per_sample, MaskBatch};
use crate::scores::Outcomes;
use salience_core::spec::Validate;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Result, SalienceError};

/// Options of [`pointing_game`].
///
/// ```
/// use salience_metrics::PointingGameConfig;
/// assert_eq!(PointingGameConfig::default().tolerance, 0.0);
/// assert_eq!(PointingGameConfig::zhang().tolerance, 15.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointingGameConfig {
    /// How attributions become pixel maps (default: `SumAbs`, `Abs`).
    pub map: PixelMapConfig,
    /// Hit radius in pixels (Euclidean, inclusive; default 0 = the maximum
    /// must be inside the mask).
    pub tolerance: f64,
}

impl PointingGameConfig {
    /// Zhang et al. (2016): 15-pixel tolerance.
    ///
    /// ```
    /// let c = salience_metrics::PointingGameConfig::zhang();
    /// assert_eq!(c.tolerance, 15.0);
    /// ```
    pub fn zhang() -> Self {
        PointingGameConfig {
            tolerance: 15.0,
            ..Default::default()
        }
    }
}

impl Validate for PointingGameConfig {
    /// `tolerance` must be finite and ≥ 0.
    fn validate(&self) -> Result<()> {
        check_param_finite("tolerance", self.tolerance)?;
        if self.tolerance < 0.0 {
            return Err(SalienceError::invalid(
                "tolerance",
                self.tolerance,
                "must be ≥ 0",
            ));
        }
        Ok(())
    }
}

/// Pointing-game hit (1.0) or miss (0.0) per sample, as [`Outcomes`]; see
/// the [module docs](self). A sample with an empty mask or a constant map
/// is undefined (the others keep their scores);
/// [`Outcomes::strict`] turns it into [`SalienceError::Empty`] /
/// [`SalienceError::DegenerateMap`].
///
/// Errors: masks of another shape than the pixel maps
/// ([`SalienceError::ShapeMismatch`]), a negative or non-finite tolerance.
///
/// ```
/// use ndarray::{array, Array3};
/// use salience_core::AttributionBatch;
/// use salience_metrics::{pointing_game, MaskBatch, PointingGameConfig};
/// let a = AttributionBatch::from_pixel_maps(array![[[0.1f32, 0.9], [0.2, 0.3]]])?;
/// let hit = MaskBatch::from_f32(array![[[0.0f32, 1.0], [0.0, 0.0]]].view())?;
/// let miss = MaskBatch::from_f32(array![[[0.0f32, 0.0], [1.0, 0.0]]].view())?;
/// let c = PointingGameConfig::default();
/// assert_eq!(pointing_game(&a, &hit, &c)?.strict()?.values(), &[1.0]);
/// assert_eq!(pointing_game(&a, &miss, &c)?.get(0), Some(0.0));
/// // (0, 1) is √2 away from (1, 0): a hit with tolerance 1.5.
/// let tol = PointingGameConfig { tolerance: 1.5, ..c };
/// assert_eq!(pointing_game(&a, &miss, &tol)?.get(0), Some(1.0));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn pointing_game(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PointingGameConfig,
) -> Result<Outcomes> {
    config.validate()?;
    let (_, h, w) = masks.shape();
    score_per_sample(attributions, masks, &config.map, |m, mask, _| {
        check_not_constant(m)?;
        let hit = is_hit(m, mask, h, w, config.tolerance);
        Ok(if hit { 1.0 } else { 0.0 })
    })
}

fn is_hit(m: &[f32], mask: &[bool], h: usize, w: usize, tolerance: f64) -> bool {
    let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let r = tolerance.floor() as isize;
    let r2 = tolerance * tolerance;
    m.iter()
        .enumerate()
        .filter(|&(_, &v)| v == max)
        .any(|(idx, _)| {
            if mask[idx] {
                return true;
            }
            if r == 0 {
                return false;
            }
            let (y, x) = ((idx / w) as isize, (idx % w) as isize);
            for dy in -r..=r {
                let yy = y + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                for dx in -r..=r {
                    let xx = x + dx;
                    if xx < 0 || xx >= w as isize || ((dy * dy + dx * dx) as f64) > r2 {
                        continue;
                    }
                    if mask[yy as usize * w + xx as usize] {
                        return true;
                    }
                }
            }
            false
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    /// Sample 0's score.
    fn first(b: &AttributionBatch, m: &MaskBatch, c: &PointingGameConfig) -> Option<f64> {
        pointing_game(b, m, c).unwrap().get(0)
    }

    fn mask_with(h: usize, w: usize, pixels: &[(usize, usize)]) -> MaskBatch {
        let mut m = Array3::from_elem((1, h, w), false);
        for &(y, x) in pixels {
            m[[0, y, x]] = true;
        }
        MaskBatch::from_bool(m).unwrap()
    }

    #[test]
    fn hand_made_masks() {
        // 5×5 map, maximum at (2, 3).
        let mut a = Array3::<f32>::zeros((1, 5, 5));
        a[[0, 2, 3]] = 1.0;
        a[[0, 0, 0]] = 0.5;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let c = PointingGameConfig::default();
        let on = mask_with(5, 5, &[(2, 3), (2, 4)]);
        let off = mask_with(5, 5, &[(0, 0), (4, 0)]);
        let near = mask_with(5, 5, &[(4, 4)]); // distance √5 ≈ 2.236 from (2,3)
        assert_eq!(first(&b, &on, &c), Some(1.0));
        assert_eq!(first(&b, &off, &c), Some(0.0));
        assert_eq!(first(&b, &near, &c), Some(0.0));
        let t2 = PointingGameConfig {
            tolerance: 2.0,
            ..c
        };
        assert_eq!(first(&b, &near, &t2), Some(0.0));
        let t3 = PointingGameConfig {
            tolerance: 2.25,
            ..c
        };
        assert_eq!(first(&b, &near, &t3), Some(1.0));
    }

    #[test]
    fn ties_hit_if_any_max_is_inside() {
        let mut a = Array3::<f32>::zeros((1, 2, 3));
        a[[0, 0, 0]] = 2.0;
        a[[0, 1, 2]] = 2.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let m = mask_with(2, 3, &[(1, 2)]);
        let s = pointing_game(&b, &m, &PointingGameConfig::default()).unwrap();
        assert_eq!(s.strict().unwrap().values(), &[1.0]);
    }

    #[test]
    fn sign_and_reduction_matter() {
        // Channel 0 has a large negative value at (0,0); channel 1 a
        // positive one at (0,1).
        let mut a = Array4::<f32>::zeros((1, 2, 1, 2));
        a[[0, 0, 0, 0]] = -5.0;
        a[[0, 1, 0, 1]] = 1.0;
        let b = AttributionBatch::from_images(a).unwrap();
        let m = mask_with(1, 2, &[(0, 1)]);
        let abs = pointing_game(&b, &m, &PointingGameConfig::default()).unwrap();
        assert_eq!(abs.strict().unwrap().values(), &[0.0]);
        let signed = PointingGameConfig {
            map: PixelMapConfig::signed(),
            ..Default::default()
        };
        assert_eq!(first(&b, &m, &signed), Some(1.0));
    }

    #[test]
    fn undefined_samples_do_not_cost_the_others() {
        // Sample 0: constant map; sample 1: empty mask; sample 2: a hit;
        // sample 3: a miss. Before, the whole batch failed at sample 0.
        let mut a = Array3::<f32>::ones((4, 2, 2));
        a[[1, 0, 0]] = 2.0;
        a[[2, 1, 1]] = 2.0;
        a[[3, 0, 1]] = 2.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let mut m = Array3::from_elem((4, 2, 2), false);
        m[[0, 0, 0]] = true;
        m[[2, 1, 1]] = true;
        m[[3, 1, 1]] = true;
        let o = pointing_game(
            &b,
            &MaskBatch::from_bool(m).unwrap(),
            &PointingGameConfig::default(),
        )
        .unwrap();
        use crate::{Outcome, Undefined};
        use salience_core::DegenerateReason;
        assert_eq!(
            o.outcomes(),
            &[
                Outcome::Undefined(Undefined::DegenerateMap(DegenerateReason::Constant)),
                Outcome::Undefined(Undefined::EmptyMask),
                Outcome::Score(1.0),
                Outcome::Score(0.0),
            ]
        );
        assert_eq!((o.summary().n, o.summary().mean), (2, 0.5));
    }

    #[test]
    fn bad_input() {
        let b = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((1, 2, 2))).unwrap();
        let c = PointingGameConfig::default();
        let m = mask_with(2, 2, &[(0, 0)]);
        assert!(matches!(
            pointing_game(&b, &m, &c).unwrap().strict(),
            Err(SalienceError::DegenerateMap { .. })
        ));
        let mut a = Array3::<f32>::zeros((1, 2, 2));
        a[[0, 1, 1]] = 1.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let empty = mask_with(2, 2, &[]);
        assert!(matches!(
            pointing_game(&b, &empty, &c).unwrap().strict(),
            Err(SalienceError::Empty(_))
        ));
        let wrong = mask_with(2, 3, &[(0, 0)]);
        assert!(matches!(
            pointing_game(&b, &wrong, &c),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        let neg = PointingGameConfig {
            tolerance: -1.0,
            ..c
        };
        assert!(matches!(
            pointing_game(&b, &m, &neg),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}
