//! Weakly supervised box localisation (Zhou et al. 2016, CAM; Gattas (2020)
//! §2.5): min-max normalise the pixel map, keep the pixels at or above
//! `threshold` (default 20 %) of the maximum, take the largest
//! 4-connected component of those pixels, and compare its bounding box
//! with the ground-truth box by intersection over union; the sample is
//! localised if IoU ≥ `iou_threshold` (default 0.5).
//!
//! Per-sample score: the IoU (**higher is better**); the batch
//! localisation accuracy is the fraction of samples with IoU ≥ 0.5.
//! Largest-component ties go to the component met first in row-major
//! order. A constant map has no min-max normalisation: that sample is
//! undefined ([`Undefined::DegenerateMap`](crate::Undefined)); the others
//! keep their scores.
//!
//! Neither Quantus nor Captum implements this metric. Gattas (2020) notes its
//! bias against scattered maps (only one component counts); Dabkowski &
//! Gal's variant boxes the entire salient region — set
//! [`BoxLocalizationConfig::largest_component_only`] to false for it.

use crate::bbox::BoundingBox;
use crate::maps::{pixel_maps, plane, PixelMapConfig};
use crate::mask::check_not_constant;
use crate::scores::{Outcome, Outcomes};
use rayon::prelude::*;
use salience_core::spec::Validate;
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Result, SalienceError};

/// Options of [`box_localization`].
///
/// ```
/// let c = salience_metrics::BoxLocalizationConfig::default();
/// assert_eq!((c.threshold, c.iou_threshold, c.largest_component_only), (0.2, 0.5, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxLocalizationConfig {
    /// How attributions become pixel maps (default: `SumAbs`, `Abs`).
    pub map: PixelMapConfig,
    /// Keep pixels whose min-max normalised value is ≥ this, in (0, 1]
    /// (default 0.2, CAM's "20 % of the max").
    pub threshold: f64,
    /// IoU needed for a sample to count as localised, in [0, 1]
    /// (default 0.5).
    pub iou_threshold: f64,
    /// Box only the largest 4-connected component (default true, CAM);
    /// false boxes every kept pixel (Dabkowski & Gal 2017).
    pub largest_component_only: bool,
}

impl Default for BoxLocalizationConfig {
    fn default() -> Self {
        BoxLocalizationConfig {
            map: PixelMapConfig::default(),
            threshold: 0.2,
            iou_threshold: 0.5,
            largest_component_only: true,
        }
    }
}

/// Result of [`box_localization`].
///
/// ```
/// use ndarray::Array3;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{box_localization, BoundingBox, BoxLocalizationConfig};
/// let mut a = Array3::<f32>::zeros((1, 4, 4));
/// a.slice_mut(ndarray::s![0, 1..3, 1..3]).fill(1.0);
/// let b = AttributionBatch::from_pixel_maps(a)?;
/// let gt = [BoundingBox::new(1, 1, 3, 3)?];
/// let r = box_localization(&b, &gt, &BoxLocalizationConfig::default())?;
/// assert_eq!(r.boxes, vec![Some(gt[0])]);
/// assert_eq!((r.iou.get(0), r.accuracy), (Some(1.0), 1.0));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BoxLocalization {
    /// IoU of the predicted box with the ground-truth box, per sample
    /// (undefined for a constant map).
    pub iou: Outcomes,
    /// Whether each sample is localised (IoU ≥ `iou_threshold`); `None`
    /// where the sample is undefined.
    pub localized: Vec<Option<bool>>,
    /// The predicted box of each sample; `None` where undefined.
    pub boxes: Vec<Option<BoundingBox>>,
    /// Fraction of the defined samples that are localised (0 when no
    /// sample is defined; `iou.n_defined()` says how many were).
    pub accuracy: f64,
}

impl Validate for BoxLocalizationConfig {
    /// `threshold` must lie in (0, 1], `iou_threshold` in [0, 1].
    fn validate(&self) -> Result<()> {
        check_param_finite("threshold", self.threshold)?;
        check_param_finite("iou_threshold", self.iou_threshold)?;
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(SalienceError::invalid(
                "threshold",
                self.threshold,
                "must lie in (0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.iou_threshold) {
            return Err(SalienceError::invalid(
                "iou_threshold",
                self.iou_threshold,
                "must lie in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// Box localisation of each sample against one ground-truth box per
/// sample; see the [module docs](self). (With several ground-truth boxes
/// per image, as in ImageNet, take the best IoU over calls or boxes.)
///
/// Errors: `boxes.len() != N` or a box outside the map
/// ([`SalienceError::ShapeMismatch`] / [`SalienceError::InvalidParameter`]),
/// thresholds out of
/// range, tabular attributions. A constant map makes its sample undefined
/// (`iou.strict()` gives the former [`SalienceError::DegenerateMap`]).
///
/// ```
/// use ndarray::Array3;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{box_localization, BoundingBox, BoxLocalizationConfig};
/// // Two blobs: a 2×3 one (kept) and a single pixel (dropped).
/// let mut a = Array3::<f32>::zeros((1, 5, 6));
/// a.slice_mut(ndarray::s![0, 0..2, 0..3]).fill(1.0);
/// a[[0, 4, 5]] = 0.9;
/// let b = AttributionBatch::from_pixel_maps(a)?;
/// let gt = [BoundingBox::new(0, 0, 2, 2)?];
/// let r = box_localization(&b, &gt, &BoxLocalizationConfig::default())?;
/// assert_eq!(r.boxes[0], Some(BoundingBox::new(0, 0, 2, 3)?));
/// assert!((r.iou.strict()?.values()[0] - 4.0 / 6.0).abs() < 1e-12);
/// assert_eq!(r.localized, vec![Some(true)]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn box_localization(
    attributions: &AttributionBatch,
    boxes: &[BoundingBox],
    config: &BoxLocalizationConfig,
) -> Result<BoxLocalization> {
    config.validate()?;
    let maps = pixel_maps(attributions, &config.map)?;
    let (n, h, w) = maps.dim();
    if boxes.len() != n {
        return Err(SalienceError::shape(
            "box_localization boxes",
            format!("one box per sample ({n})"),
            &[boxes.len()],
        ));
    }
    for (i, b) in boxes.iter().enumerate() {
        b.check_within(h, w, i)?;
    }
    let predicted: Vec<std::result::Result<BoundingBox, crate::Undefined>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let m = plane(&maps, i);
            check_not_constant(&m)?;
            Ok(predict_box(&m, h, w, config))
        })
        .collect();
    let outcomes: Vec<Outcome> = predicted
        .iter()
        .zip(boxes)
        .map(|(p, g)| match p {
            Ok(p) => Outcome::Score(p.iou(g)),
            Err(r) => Outcome::Undefined(*r),
        })
        .collect();
    let localized: Vec<Option<bool>> = outcomes
        .iter()
        .map(|o| o.score().map(|v| v >= config.iou_threshold))
        .collect();
    let n_defined = localized.iter().flatten().count();
    let hits = localized.iter().flatten().filter(|&&b| b).count();
    let accuracy = if n_defined == 0 {
        0.0
    } else {
        hits as f64 / n_defined as f64
    };
    Ok(BoxLocalization {
        iou: Outcomes::new(outcomes)?,
        localized,
        boxes: predicted.into_iter().map(|p| p.ok()).collect(),
        accuracy,
    })
}

/// The predicted box of one non-constant map.
fn predict_box(m: &[f32], h: usize, w: usize, config: &BoxLocalizationConfig) -> BoundingBox {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in m {
        lo = lo.min(v as f64);
        hi = hi.max(v as f64);
    }
    let range = hi - lo;
    // (v − lo) / range ≥ t; the maximum always qualifies (t ≤ 1).
    let keep: Vec<bool> = m
        .iter()
        .map(|&v| (v as f64 - lo) / range >= config.threshold || v as f64 == hi)
        .collect();
    let selected = if config.largest_component_only {
        largest_component(&keep, h, w)
    } else {
        keep
    };
    // `selected` is non-empty (it holds a maximal pixel), so this is Some.
    BoundingBox::from_mask(&selected, h, w).unwrap_or(BoundingBox {
        top: 0,
        left: 0,
        bottom: h,
        right: w,
    })
}

/// The largest 4-connected component of `keep` (first met in row-major
/// order on ties), as a mask.
fn largest_component(keep: &[bool], h: usize, w: usize) -> Vec<bool> {
    let mut label = vec![0u32; keep.len()];
    let mut best = (0usize, 0u32); // (size, label)
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..keep.len() {
        if !keep[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let mut size = 0usize;
        while let Some(p) = stack.pop() {
            size += 1;
            let (y, x) = (p / w, p % w);
            let mut visit = |q: usize| {
                if keep[q] && label[q] == 0 {
                    label[q] = next;
                    stack.push(q);
                }
            };
            if y > 0 {
                visit(p - w);
            }
            if y + 1 < h {
                visit(p + w);
            }
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < w {
                visit(p + 1);
            }
        }
        if size > best.0 {
            best = (size, next);
        }
    }
    label.iter().map(|&l| l != 0 && l == best.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn threshold_and_connectivity() {
        // Diagonal neighbours are not 4-connected.
        let keep = [true, false, false, true];
        assert_eq!(
            largest_component(&keep, 2, 2),
            vec![true, false, false, false]
        );
        // A 20%-of-range threshold: values 0, 0.19, 0.2, 1 on a 1×4 strip
        // → pixels 2 and 3 kept (one component).
        let a = Array3::from_shape_vec((1, 1, 4), vec![0.0f32, 0.19, 0.2, 1.0]).unwrap();
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let gt = [BoundingBox::new(0, 2, 1, 4).unwrap()];
        let r = box_localization(&b, &gt, &BoxLocalizationConfig::default()).unwrap();
        assert_eq!(r.boxes[0], Some(gt[0]));
        assert_eq!(r.accuracy, 1.0);
    }

    #[test]
    fn hand_computed_iou_and_failure() {
        // Blob rows 0..2, cols 0..4 (8 px); ground truth rows 0..4, cols 2..4 (8 px).
        // Intersection 4, union 12 → IoU 1/3 < 0.5.
        let mut a = Array3::<f32>::zeros((1, 4, 4));
        a.slice_mut(ndarray::s![0, 0..2, ..]).fill(2.0);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let gt = [BoundingBox::new(0, 2, 4, 4).unwrap()];
        let r = box_localization(&b, &gt, &BoxLocalizationConfig::default()).unwrap();
        assert!((r.iou.strict().unwrap().values()[0] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((r.localized.clone(), r.accuracy), (vec![Some(false)], 0.0));
    }

    #[test]
    fn whole_region_variant() {
        let mut a = Array3::<f32>::zeros((1, 3, 3));
        a[[0, 0, 0]] = 1.0;
        a[[0, 2, 2]] = 1.0;
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let gt = [BoundingBox::new(0, 0, 3, 3).unwrap()];
        let cfg = BoxLocalizationConfig {
            largest_component_only: false,
            ..Default::default()
        };
        let r = box_localization(&b, &gt, &cfg).unwrap();
        assert_eq!(r.boxes[0], Some(gt[0]));
        let r = box_localization(&b, &gt, &BoxLocalizationConfig::default()).unwrap();
        assert_eq!(r.boxes[0], Some(BoundingBox::new(0, 0, 1, 1).unwrap()));
    }

    #[test]
    fn constant_map_is_undefined_for_its_sample_only() {
        // Sample 0 constant (before: the whole batch failed), sample 1 a
        // perfectly boxed blob.
        let mut a = Array3::<f32>::ones((2, 3, 3));
        a.slice_mut(ndarray::s![1, 0..2, 0..2]).fill(5.0);
        let b = AttributionBatch::from_pixel_maps(a).unwrap();
        let gt = [BoundingBox::new(0, 0, 2, 2).unwrap(); 2];
        let r = box_localization(&b, &gt, &BoxLocalizationConfig::default()).unwrap();
        assert_eq!(r.iou.get(0), None);
        assert_eq!(r.iou.get(1), Some(1.0));
        assert_eq!(r.localized, vec![None, Some(true)]);
        assert_eq!(r.boxes, vec![None, Some(gt[1])]);
        assert_eq!((r.accuracy, r.iou.n_defined()), (1.0, 1));
    }

    #[test]
    fn bad_input() {
        let b = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((1, 2, 2))).unwrap();
        let gt = [BoundingBox::new(0, 0, 1, 1).unwrap()];
        let c = BoxLocalizationConfig::default();
        assert!(matches!(
            box_localization(&b, &gt, &c).unwrap().iou.strict(),
            Err(SalienceError::DegenerateMap { .. })
        ));
        assert!(matches!(
            box_localization(&b, &[], &c),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        let outside = [BoundingBox::new(0, 0, 3, 1).unwrap()];
        assert!(matches!(
            box_localization(&b, &outside, &c),
            Err(SalienceError::InvalidParameter { .. })
        ));
        let bad = BoxLocalizationConfig {
            threshold: 0.0,
            ..c
        };
        assert!(matches!(
            box_localization(&b, &gt, &bad),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}
