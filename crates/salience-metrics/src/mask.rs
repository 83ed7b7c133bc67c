//! [`MaskBatch`]: ground-truth segmentation masks `[N, H, W]` for the
//! localization metrics.

use crate::bbox::BoundingBox;
use crate::maps::{pixel_maps, plane, PixelMapConfig};
use crate::scores::{Outcome, Outcomes, Undefined};
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;
use salience_core::{AttributionBatch, Result, SalienceError};
use std::borrow::Cow;

/// N boolean ground-truth masks of shape `[H, W]` (`true` = pixel belongs
/// to the object). Construction checks that no axis is empty; an individual
/// sample's mask may be empty, which the metrics report as the outcome
/// [`Undefined::EmptyMask`] for that sample (and
/// [`Outcomes::strict`] as [`SalienceError::Empty`] naming it).
///
/// ```
/// use ndarray::{array, Array3};
/// use salience_metrics::MaskBatch;
/// let m = MaskBatch::from_f32(array![[[0.0f32, 1.0], [1.0, 0.0]]].view())?;
/// assert_eq!(m.shape(), (1, 2, 2));
/// assert_eq!(m.count(0), 2);
/// assert!(MaskBatch::from_f32(array![[[0.5f32]]].view()).is_err());
/// assert!(MaskBatch::from_bool(Array3::from_elem((2, 3, 3), true)).is_ok());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskBatch {
    data: Array3<bool>,
}

impl MaskBatch {
    /// Wraps boolean masks `[N, H, W]`.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((1, 2, 2), false)).unwrap();
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn from_bool(data: Array3<bool>) -> Result<Self> {
        salience_core::validate::check_nonempty_shape(data.shape(), "ground-truth masks")?;
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(MaskBatch { data })
    }

    /// Converts 0/1 float masks `[N, H, W]`; any value other than exactly
    /// 0 or 1 is an error ([`SalienceError::NonFinite`] for NaN/Inf,
    /// [`SalienceError::InvalidParameter`] otherwise).
    ///
    /// ```
    /// use ndarray::array;
    /// let m = salience_metrics::MaskBatch::from_f32(array![[[1.0f32, 0.0]]].view()).unwrap();
    /// assert_eq!(m.view()[[0, 0, 0]], true);
    /// ```
    pub fn from_f32(data: ArrayView3<'_, f32>) -> Result<Self> {
        salience_core::validate::check_finite(&data, "ground-truth masks")?;
        if let Some((index, &v)) = data
            .iter()
            .enumerate()
            .find(|&(_, &v)| v != 0.0 && v != 1.0)
        {
            return Err(SalienceError::invalid(
                "masks",
                format!("{v} at flat index {index}"),
                "float masks must hold only 0.0 and 1.0",
            ));
        }
        Self::from_bool(data.mapv(|v| v == 1.0))
    }

    /// Rasterises one box per sample on an `h × w` grid. Boxes must lie
    /// inside the grid.
    ///
    /// ```
    /// use salience_metrics::{BoundingBox, MaskBatch};
    /// let b = BoundingBox::new(0, 1, 2, 3)?; // rows 0..2, cols 1..3
    /// let m = MaskBatch::from_boxes(&[b], 3, 4)?;
    /// assert_eq!(m.count(0), 4);
    /// assert!(m.view()[[0, 1, 2]] && !m.view()[[0, 2, 2]]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_boxes(boxes: &[BoundingBox], h: usize, w: usize) -> Result<Self> {
        if boxes.is_empty() {
            return Err(SalienceError::Empty("from_boxes: no boxes".into()));
        }
        let mut data = Array3::from_elem((boxes.len(), h, w), false);
        for (i, (b, mut plane)) in boxes.iter().zip(data.outer_iter_mut()).enumerate() {
            b.check_within(h, w, i)?;
            plane
                .slice_mut(ndarray::s![b.top..b.bottom, b.left..b.right])
                .fill(true);
        }
        Self::from_bool(data)
    }

    /// Number of samples N.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((3, 1, 1), true)).unwrap();
    /// assert_eq!(m.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len_of(Axis(0))
    }

    /// Always false: mask batches are validated non-empty.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((1, 1, 1), true)).unwrap();
    /// assert!(!m.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(N, H, W)`.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((1, 2, 3), true)).unwrap();
    /// assert_eq!(m.shape(), (1, 2, 3));
    /// ```
    pub fn shape(&self) -> (usize, usize, usize) {
        self.data.dim()
    }

    /// The masks, borrowed.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((1, 1, 2), true)).unwrap();
    /// assert!(m.view().iter().all(|&b| b));
    /// ```
    pub fn view(&self) -> ArrayView3<'_, bool> {
        self.data.view()
    }

    /// Number of mask pixels of sample `i` (0 if `i` is out of range).
    ///
    /// ```
    /// use ndarray::Array3;
    /// let m = salience_metrics::MaskBatch::from_bool(Array3::from_elem((1, 2, 2), true)).unwrap();
    /// assert_eq!(m.count(0), 4);
    /// assert_eq!(m.count(9), 0);
    /// ```
    pub fn count(&self, i: usize) -> usize {
        if i >= self.len() {
            return 0;
        }
        self.data
            .index_axis(Axis(0), i)
            .iter()
            .filter(|&&b| b)
            .count()
    }

    /// Sample `i` as a flat row-major slice (`i` must be in range).
    pub(crate) fn plane(&self, i: usize) -> Cow<'_, [bool]> {
        let p = self.data.index_axis(Axis(0), i);
        match p.to_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(p.iter().copied().collect()),
        }
    }

    /// Sample `i`'s mask and its pixel count, or [`Undefined::EmptyMask`].
    pub(crate) fn nonempty_plane(
        &self,
        i: usize,
    ) -> std::result::Result<(Cow<'_, [bool]>, usize), Undefined> {
        let p = self.plane(i);
        let k = p.iter().filter(|&&b| b).count();
        if k == 0 {
            return Err(Undefined::EmptyMask);
        }
        Ok((p, k))
    }
}

/// The pixel maps of `attributions`, checked against the masks' shape.
pub(crate) fn maps_for_masks(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PixelMapConfig,
) -> Result<Array3<f32>> {
    let maps = pixel_maps(attributions, config)?;
    let (n, h, w) = masks.shape();
    if maps.dim() != (n, h, w) {
        return Err(SalienceError::shape(
            "ground-truth masks",
            format!(
                "[N, H, W] = {:?} (the attribution pixel maps' shape)",
                maps.shape()
            ),
            &[n, h, w],
        ));
    }
    Ok(maps)
}

/// Scores every sample, in parallel, from its pixel map and its non-empty
/// mask: `score(map, mask, mask_size)`, a finite score or the reason the
/// sample is undefined. An empty mask is [`Undefined::EmptyMask`]. The
/// skeleton shared by the mask-based localisation metrics.
pub(crate) fn score_per_sample<F>(
    attributions: &AttributionBatch,
    masks: &MaskBatch,
    config: &PixelMapConfig,
    score: F,
) -> Result<Outcomes>
where
    F: Fn(&[f32], &[bool], usize) -> std::result::Result<f64, Undefined> + Sync,
{
    let maps = maps_for_masks(attributions, masks, config)?;
    let outcomes = (0..masks.len())
        .into_par_iter()
        .map(|i| {
            let m = plane(&maps, i);
            let scored = masks
                .nonempty_plane(i)
                .and_then(|(mask, k)| score(&m, &mask, k));
            match scored {
                Ok(v) => Outcome::Score(v),
                Err(r) => Outcome::Undefined(r),
            }
        })
        .collect::<Vec<Outcome>>();
    Outcomes::new(outcomes)
}

/// [`Undefined::DegenerateMap`] (`Constant` / `AllZero`) if every value of
/// `m` is equal.
pub(crate) fn check_not_constant(m: &[f32]) -> std::result::Result<(), Undefined> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in m {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi <= lo {
        let reason = if hi == 0.0 {
            salience_core::DegenerateReason::AllZero
        } else {
            salience_core::DegenerateReason::Constant
        };
        return Err(Undefined::DegenerateMap(reason));
    }
    Ok(())
}
