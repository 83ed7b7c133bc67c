//! Turning an [`AttributionBatch`] into the per-sample values a metric
//! scores: pixel maps for localization (channel reduction + sign handling)
//! and flat value vectors for complexity.

use ndarray::{Array2, Array3, Axis};
use salience_core::{AttributionBatch, ChannelReduction, Layout, Result, SalienceError};
use std::borrow::Cow;

/// What to do with the sign of a pixel map before a localization metric.
///
/// ```
/// use salience_metrics::MapSign;
/// assert_eq!(MapSign::Abs.apply(-2.0), 2.0);
/// assert_eq!(MapSign::Positive.apply(-2.0), 0.0);
/// assert_eq!(MapSign::Signed.apply(-2.0), -2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MapSign {
    /// `|a|` (default; Bykov et al. (2022) scores the absolute value of attributions).
    #[default]
    Abs,
    /// `max(a, 0)`: only positive evidence counts (LRP-style relevance).
    Positive,
    /// The values as they are (Quantus's `abs=False`).
    Signed,
}

impl MapSign {
    /// Applies the sign handling to one value.
    ///
    /// ```
    /// assert_eq!(salience_metrics::MapSign::Abs.apply(-0.5), 0.5);
    /// ```
    pub fn apply(self, v: f32) -> f32 {
        match self {
            MapSign::Abs => v.abs(),
            MapSign::Positive => v.max(0.0),
            MapSign::Signed => v,
        }
    }
}

/// How attributions become the `[N, H, W]` pixel maps scored by the
/// localization metrics: image attributions `[N, C, H, W]` are reduced over
/// channels with `reduction`, then `sign` is applied (pixel maps `[N, H, W]`
/// only get `sign`). Tabular batches are a shape error.
///
/// Default: [`ChannelReduction::SumAbs`] (Mahlau & Nolde (2022) and most saliency
/// papers; every channel's evidence counts whatever its sign) and
/// [`MapSign::Abs`]. Quantus sums channels of signed attributions and uses
/// `abs=False` for most localisation metrics: use [`PixelMapConfig::signed`]
/// for that behaviour.
///
/// ```
/// use salience_metrics::{MapSign, PixelMapConfig};
/// use salience_core::ChannelReduction;
/// let c = PixelMapConfig::default();
/// assert_eq!((c.reduction, c.sign), (ChannelReduction::SumAbs, MapSign::Abs));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelMapConfig {
    /// Channel reduction for `[N, C, H, W]` attributions (default `SumAbs`).
    pub reduction: ChannelReduction,
    /// Sign handling after the reduction (default `Abs`).
    pub sign: MapSign,
}

impl Default for PixelMapConfig {
    fn default() -> Self {
        PixelMapConfig {
            reduction: ChannelReduction::SumAbs,
            sign: MapSign::Abs,
        }
    }
}

impl PixelMapConfig {
    /// Signed channel sum, values kept as they are (Quantus-like with
    /// `abs=False`). Quantus also normalises by the maximum first
    /// (`normalise=True`); every localisation metric here is invariant to a
    /// positive rescaling, so that step changes nothing.
    ///
    /// ```
    /// let c = salience_metrics::PixelMapConfig::signed();
    /// assert_eq!(c.sign, salience_metrics::MapSign::Signed);
    /// ```
    pub fn signed() -> Self {
        PixelMapConfig {
            reduction: ChannelReduction::Sum,
            sign: MapSign::Signed,
        }
    }
}

/// The `[N, H, W]` pixel maps of `attributions` under `config`.
///
/// ```
/// use ndarray::Array4;
/// use salience_core::AttributionBatch;
/// use salience_metrics::{pixel_maps, PixelMapConfig};
/// let mut a = Array4::<f32>::zeros((1, 2, 1, 2));
/// a[[0, 0, 0, 0]] = 1.0;
/// a[[0, 1, 0, 0]] = -3.0;
/// let b = AttributionBatch::from_images(a)?;
/// let m = pixel_maps(&b, &PixelMapConfig::default())?;
/// assert_eq!(m.shape(), &[1, 1, 2]);
/// assert_eq!(m[[0, 0, 0]], 4.0);
/// assert_eq!(pixel_maps(&b, &PixelMapConfig::signed())?[[0, 0, 0]], -2.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn pixel_maps(attributions: &AttributionBatch, config: &PixelMapConfig) -> Result<Array3<f32>> {
    let reduced = attributions.reduce_channels(config.reduction)?;
    let (n, h, w) = match reduced.layout() {
        Layout::PixelMap { h, w } => (reduced.len(), h, w),
        _ => {
            return Err(SalienceError::shape(
                "pixel_maps",
                "[N, C, H, W] or [N, H, W]",
                attributions.shape(),
            ))
        }
    };
    let flat = reduced.as_flat();
    let mut out = Array3::<f32>::zeros((n, h, w));
    for (mut o, s) in out.outer_iter_mut().zip(flat.outer_iter()) {
        for (o, &v) in o.iter_mut().zip(s.iter()) {
            *o = config.sign.apply(v);
        }
    }
    // Channel sums of finite values can overflow to ±Inf.
    salience_core::validate::check_finite(&out, "pixel maps")?;
    Ok(out)
}

/// `[N, features]` values of each sample: all values, or the pixel map
/// after `reduction` for image batches.
pub(crate) fn flat_values(
    attributions: &AttributionBatch,
    reduction: Option<ChannelReduction>,
) -> Result<Array2<f32>> {
    match (reduction, attributions.layout()) {
        (Some(r), Layout::Image { .. }) => {
            let reduced = attributions.reduce_channels(r)?;
            let flat = reduced.as_flat().to_owned();
            salience_core::validate::check_finite(&flat, "reduced attributions")?;
            Ok(flat)
        }
        _ => Ok(attributions.as_flat().to_owned()),
    }
}

/// Row `i` of an `[N, P]` array as a slice (borrowed when contiguous,
/// which owned standard-layout arrays always are).
pub(crate) fn row(a: &Array2<f32>, i: usize) -> Cow<'_, [f32]> {
    let r = a.row(i);
    match r.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(r.to_vec()),
    }
}

/// Sample `i` of an `[N, H, W]` array as a flat row-major slice.
pub(crate) fn plane(a: &Array3<f32>, i: usize) -> Cow<'_, [f32]> {
    let r = a.index_axis(Axis(0), i);
    match r.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(r.iter().copied().collect()),
    }
}
