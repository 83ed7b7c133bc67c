//! [`BoundingBox`]: an axis-aligned pixel box, half-open (one type for
//! the data sets' ground truth and the localisation metrics).

use crate::{Result, SalienceError};

/// An axis-aligned box of pixels: rows `top .. bottom` and columns
/// `left .. right` (half-open, so `bottom − top` is the height). Areas and
/// IoU count pixels.
///
/// A box given in inclusive corner coordinates `(x_min, y_min, x_max,
/// y_max)` (ImageNet/VOC annotation style) is
/// `BoundingBox::new(y_min, x_min, y_max + 1, x_max + 1)`.
///
/// ```
/// use salience_core::BoundingBox;
/// let a = BoundingBox::new(0, 0, 2, 2)?;
/// let b = BoundingBox::new(1, 1, 3, 3)?;
/// assert_eq!(a.area(), 4);
/// assert_eq!(a.intersection(&b), 1);
/// assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoundingBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// One past the last row.
    pub bottom: usize,
    /// One past the last column.
    pub right: usize,
}

impl BoundingBox {
    /// A box of rows `top .. bottom`, columns `left .. right`; it must be
    /// non-empty (`top < bottom`, `left < right`).
    ///
    /// ```
    /// use salience_core::BoundingBox;
    /// assert!(BoundingBox::new(0, 0, 1, 1).is_ok());
    /// assert!(BoundingBox::new(2, 0, 2, 1).is_err());
    /// ```
    pub fn new(top: usize, left: usize, bottom: usize, right: usize) -> Result<Self> {
        if top >= bottom || left >= right {
            return Err(SalienceError::invalid(
                "bounding box",
                format!("rows {top}..{bottom}, cols {left}..{right}"),
                "must be non-empty (top < bottom and left < right)",
            ));
        }
        Ok(BoundingBox {
            top,
            left,
            bottom,
            right,
        })
    }

    /// The tightest box around the `true` pixels of a row-major `h × w`
    /// mask, or `None` if there are none (or `mask.len() != h · w`).
    ///
    /// ```
    /// use salience_core::BoundingBox;
    /// let m = [false, false, false,
    ///          false, true,  true,
    ///          false, false, false];
    /// assert_eq!(BoundingBox::from_mask(&m, 3, 3), Some(BoundingBox::new(1, 1, 2, 3).unwrap()));
    /// ```
    pub fn from_mask(mask: &[bool], h: usize, w: usize) -> Option<Self> {
        if mask.len() != h * w {
            return None;
        }
        let (mut top, mut left, mut bottom, mut right) = (usize::MAX, usize::MAX, 0, 0);
        for (idx, _) in mask.iter().enumerate().filter(|&(_, &b)| b) {
            let (r, c) = (idx / w, idx % w);
            top = top.min(r);
            left = left.min(c);
            bottom = bottom.max(r + 1);
            right = right.max(c + 1);
        }
        (top < bottom).then_some(BoundingBox {
            top,
            left,
            bottom,
            right,
        })
    }

    /// Number of pixels.
    ///
    /// ```
    /// assert_eq!(salience_core::BoundingBox::new(1, 1, 3, 4).unwrap().area(), 6);
    /// ```
    pub fn area(&self) -> usize {
        self.bottom.saturating_sub(self.top) * self.right.saturating_sub(self.left)
    }

    /// Number of pixels shared with `other`.
    ///
    /// ```
    /// use salience_core::BoundingBox;
    /// let a = BoundingBox::new(0, 0, 2, 2).unwrap();
    /// assert_eq!(a.intersection(&BoundingBox::new(2, 2, 3, 3).unwrap()), 0);
    /// ```
    pub fn intersection(&self, other: &BoundingBox) -> usize {
        let h = self
            .bottom
            .min(other.bottom)
            .saturating_sub(self.top.max(other.top));
        let w = self
            .right
            .min(other.right)
            .saturating_sub(self.left.max(other.left));
        h * w
    }

    /// Intersection over union, in [0, 1] (0 when both boxes are empty).
    ///
    /// ```
    /// use salience_core::BoundingBox;
    /// let a = BoundingBox::new(0, 0, 2, 2).unwrap();
    /// assert_eq!(a.iou(&a), 1.0);
    /// ```
    pub fn iou(&self, other: &BoundingBox) -> f64 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        }
    }

    /// The tight box of the `true` pixels of a 2-D mask, `None` if there
    /// are none.
    ///
    /// ```
    /// use salience_core::BoundingBox;
    /// let mut m = ndarray::Array2::from_elem((4, 5), false);
    /// m[[1, 2]] = true;
    /// m[[2, 3]] = true;
    /// let b = BoundingBox::of_mask(m.view()).unwrap();
    /// assert_eq!(b, BoundingBox { top: 1, left: 2, bottom: 3, right: 4 });
    /// ```
    pub fn of_mask(mask: ndarray::ArrayView2<'_, bool>) -> Option<Self> {
        let (h, w) = mask.dim();
        match mask.as_slice() {
            Some(m) => Self::from_mask(m, h, w),
            None => Self::from_mask(&mask.iter().copied().collect::<Vec<_>>(), h, w),
        }
    }

    /// Errors unless the box lies inside an `h × w` grid (`sample` names
    /// the box's sample in the message).
    ///
    /// ```
    /// let b = salience_core::BoundingBox::new(0, 0, 2, 2).unwrap();
    /// assert!(b.check_within(2, 2, 0).is_ok());
    /// assert!(b.check_within(1, 2, 0).is_err());
    /// ```
    pub fn check_within(&self, h: usize, w: usize, sample: usize) -> Result<()> {
        if self.top >= self.bottom || self.left >= self.right || self.bottom > h || self.right > w {
            return Err(SalienceError::invalid(
                "boxes",
                format!(
                    "sample {sample}: rows {}..{}, cols {}..{}",
                    self.top, self.bottom, self.left, self.right
                ),
                &format!("must be a non-empty box inside the {h}×{w} map"),
            ));
        }
        Ok(())
    }
}
