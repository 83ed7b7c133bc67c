//! [`AttributionBatch`]: N attribution maps of one shape.

use crate::error::{Result, SalienceError};
use crate::validate::{check_finite, check_nonempty_shape};
use ndarray::{
    Array2, Array3, Array4, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Axis,
    IxDyn,
};

/// The feature layout of one sample of a batch (the shape after the batch axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Tabular attributions, `[N, D]`.
    Tabular {
        /// Number of features.
        d: usize,
    },
    /// Pixel maps (one value per pixel), `[N, H, W]`.
    PixelMap {
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// Per-channel image attributions, `[N, C, H, W]`.
    Image {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
}

impl Layout {
    /// Number of values per sample.
    pub fn len(&self) -> usize {
        match *self {
            Layout::Tabular { d } => d,
            Layout::PixelMap { h, w } => h * w,
            Layout::Image { c, h, w } => c * h * w,
        }
    }

    /// Always false: a layout is validated non-empty on construction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The per-sample shape.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Layout::Tabular { d } => vec![d],
            Layout::PixelMap { h, w } => vec![h, w],
            Layout::Image { c, h, w } => vec![c, h, w],
        }
    }

    /// Builds the layout from a per-sample shape (rank 1, 2 or 3).
    pub fn from_dims(dims: &[usize]) -> Result<Self> {
        match *dims {
            [d] => Ok(Layout::Tabular { d }),
            [h, w] => Ok(Layout::PixelMap { h, w }),
            [c, h, w] => Ok(Layout::Image { c, h, w }),
            _ => Err(SalienceError::shape(
                "attribution layout",
                "[N, D], [N, H, W] or [N, C, H, W]",
                dims,
            )),
        }
    }
}

/// How a `[N, C, H, W]` attribution is reduced to a `[N, H, W]` pixel map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelReduction {
    /// Σ_c a_c (signed; Decker et al. (2024) and Captum's visualisation default).
    #[default]
    Sum,
    /// Σ_c |a_c| (Mahlau & Nolde (2022) and most saliency papers).
    SumAbs,
    /// max_c |a_c| (Simonyan et al.'s saliency map).
    MaxAbs,
    /// sqrt(Σ_c a_c²).
    L2,
}

impl ChannelReduction {
    /// The name [`str::parse`] accepts: `sum`, `sumabs`, `maxabs`, `l2`.
    ///
    /// ```
    /// use salience_core::ChannelReduction;
    /// for r in [ChannelReduction::Sum, ChannelReduction::SumAbs, ChannelReduction::MaxAbs, ChannelReduction::L2] {
    ///     assert_eq!(r.name().parse::<ChannelReduction>()?, r);
    /// }
    /// assert!("mean".parse::<ChannelReduction>().is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ChannelReduction::Sum => "sum",
            ChannelReduction::SumAbs => "sumabs",
            ChannelReduction::MaxAbs => "maxabs",
            ChannelReduction::L2 => "l2",
        }
    }
}

impl std::str::FromStr for ChannelReduction {
    type Err = SalienceError;

    /// Parses `sum`, `sumabs` (or `sum_abs`), `maxabs` (or `max_abs`) or
    /// `l2`, case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sum" => Ok(ChannelReduction::Sum),
            "sumabs" | "sum_abs" => Ok(ChannelReduction::SumAbs),
            "maxabs" | "max_abs" => Ok(ChannelReduction::MaxAbs),
            "l2" => Ok(ChannelReduction::L2),
            _ => Err(SalienceError::invalid(
                "channel reduction",
                s,
                "expected sum, sumabs, maxabs or l2",
            )),
        }
    }
}

/// A batch of N attribution maps of identical shape, stored f32 in standard
/// (row-major) layout: images `[N, C, H, W]`, pixel maps `[N, H, W]`,
/// tabular `[N, D]`.
///
/// Construction validates the rank, that no axis is empty, and that every
/// value is finite. The array is taken by value and kept as is (no copy),
/// unless it is not in standard layout, in which case it is made contiguous
/// once.
///
/// ```
/// use ndarray::Array3;
/// use salience_core::{AttributionBatch, Layout};
/// let b = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((2, 4, 5))).unwrap();
/// assert_eq!(b.len(), 2);
/// assert_eq!(b.layout(), Layout::PixelMap { h: 4, w: 5 });
/// assert_eq!(b.as_flat().shape(), &[2, 20]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionBatch {
    data: ArrayD<f32>,
    layout: Layout,
}

impl AttributionBatch {
    /// Wraps an `[N, ...]` array of rank 2, 3 or 4.
    pub fn new(data: ArrayD<f32>) -> Result<Self> {
        let shape = data.shape().to_vec();
        if !(2..=4).contains(&shape.len()) {
            return Err(SalienceError::shape(
                "attribution batch",
                "[N, D], [N, H, W] or [N, C, H, W]",
                &shape,
            ));
        }
        check_nonempty_shape(&shape, "attribution batch")?;
        check_finite(&data, "attribution batch")?;
        let layout = Layout::from_dims(&shape[1..])?;
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(AttributionBatch { data, layout })
    }

    /// Wraps `[N, C, H, W]` image attributions.
    pub fn from_images(data: Array4<f32>) -> Result<Self> {
        Self::new(data.into_dyn())
    }

    /// Wraps `[N, H, W]` pixel maps.
    pub fn from_pixel_maps(data: Array3<f32>) -> Result<Self> {
        Self::new(data.into_dyn())
    }

    /// Wraps `[N, D]` tabular attributions.
    pub fn from_tabular(data: Array2<f32>) -> Result<Self> {
        Self::new(data.into_dyn())
    }

    /// Internal constructor for arrays already known valid and contiguous.
    pub(crate) fn from_valid(data: ArrayD<f32>, layout: Layout) -> Self {
        debug_assert!(data.is_standard_layout());
        AttributionBatch { data, layout }
    }

    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.data.shape()[0]
    }

    /// Always false: batches are validated non-empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The per-sample layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Full shape `[N, ...]`.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of values per sample.
    pub fn feature_len(&self) -> usize {
        self.layout.len()
    }

    /// The array, borrowed.
    pub fn view(&self) -> ArrayViewD<'_, f32> {
        self.data.view()
    }

    /// The array, mutably borrowed. Writing NaN or Inf through this view
    /// breaks the finiteness invariant; functions that consume batches
    /// re-check where it matters.
    pub fn view_mut(&mut self) -> ArrayViewMutD<'_, f32> {
        self.data.view_mut()
    }

    /// The array, by value.
    pub fn into_inner(self) -> ArrayD<f32> {
        self.data
    }

    /// A `[N, features]` view of the same memory.
    pub fn as_flat(&self) -> ArrayView2<'_, f32> {
        let (n, p) = (self.len(), self.feature_len());
        // The array is standard layout, so this reshape never fails.
        match self.data.view().into_shape_with_order((n, p)) {
            Ok(v) => v,
            Err(_) => unreachable_view(),
        }
    }

    /// A mutable `[N, features]` view of the same memory.
    pub fn as_flat_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        let (n, p) = (self.len(), self.feature_len());
        match self.data.view_mut().into_shape_with_order((n, p)) {
            Ok(v) => v,
            Err(_) => unreachable_view_mut(),
        }
    }

    /// Sample `i` as a view.
    pub fn sample(&self, i: usize) -> Result<ArrayViewD<'_, f32>> {
        if i >= self.len() {
            return Err(SalienceError::invalid(
                "sample",
                i,
                &format!("batch has {} samples", self.len()),
            ));
        }
        Ok(self.data.index_axis(Axis(0), i))
    }

    /// Reduces `[N, C, H, W]` to a `[N, H, W]` pixel map. Pixel maps are
    /// returned unchanged; tabular batches are an error.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use salience_core::{AttributionBatch, ChannelReduction};
    /// let mut a = Array4::<f32>::zeros((1, 2, 1, 1));
    /// a[[0, 0, 0, 0]] = 3.0;
    /// a[[0, 1, 0, 0]] = -4.0;
    /// let b = AttributionBatch::from_images(a).unwrap();
    /// let get = |r| b.reduce_channels(r).unwrap().view()[[0, 0, 0]];
    /// assert_eq!(get(ChannelReduction::Sum), -1.0);
    /// assert_eq!(get(ChannelReduction::SumAbs), 7.0);
    /// assert_eq!(get(ChannelReduction::MaxAbs), 4.0);
    /// assert_eq!(get(ChannelReduction::L2), 5.0);
    /// ```
    pub fn reduce_channels(&self, reduction: ChannelReduction) -> Result<AttributionBatch> {
        match self.layout {
            Layout::PixelMap { .. } => Ok(self.clone()),
            Layout::Tabular { .. } => Err(SalienceError::shape(
                "reduce_channels",
                "[N, C, H, W] or [N, H, W]",
                self.shape(),
            )),
            Layout::Image { c, h, w } => {
                let n = self.len();
                let src = self.as_flat();
                let mut out = Array2::<f32>::zeros((n, h * w));
                for (s, mut o) in src.outer_iter().zip(out.outer_iter_mut()) {
                    let s = s.as_slice().unwrap_or(&[]);
                    let o = o.as_slice_mut().unwrap_or(&mut []);
                    for ci in 0..c {
                        let plane = &s[ci * h * w..(ci + 1) * h * w];
                        for (acc, &v) in o.iter_mut().zip(plane) {
                            match reduction {
                                ChannelReduction::Sum => *acc += v,
                                ChannelReduction::SumAbs => *acc += v.abs(),
                                ChannelReduction::MaxAbs => *acc = acc.max(v.abs()),
                                ChannelReduction::L2 => *acc += v * v,
                            }
                        }
                    }
                    if reduction == ChannelReduction::L2 {
                        o.iter_mut().for_each(|v| *v = v.sqrt());
                    }
                }
                let data = out
                    .into_shape_with_order(IxDyn(&[n, h, w]))
                    .map_err(|e| SalienceError::backend("ndarray", e))?;
                AttributionBatch::new(data)
            }
        }
    }
}

#[cold]
fn unreachable_view<'a>() -> ArrayView2<'a, f32> {
    ArrayView2::from_shape((0, 0), &[]).unwrap_or_else(|_| unreachable!())
}

#[cold]
fn unreachable_view_mut<'a>() -> ArrayViewMut2<'a, f32> {
    ArrayViewMut2::from_shape((0, 0), &mut []).unwrap_or_else(|_| unreachable!())
}
