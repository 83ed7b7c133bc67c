//! [`PixelMaps`]: an explainer adapter that reduces per-channel image
//! attributions `[N, C, H, W]` to pixel maps `[N, H, W]`.
//!
//! Gradient and perturbation methods return input-shaped maps, CAM methods
//! pixel maps; an [`crate::Ensemble`] needs one shape. Wrapping every
//! explainer of a panel in `PixelMaps` makes them stack (and keeps the
//! wrapped explainer usable where an explainer is needed, e.g. for the
//! re-explanations of a sensitivity metric). Pixel maps and tabular
//! attributions pass through unchanged.

use crate::attribution::{AttributionBatch, ChannelReduction, Layout};
use crate::error::Result;
use crate::explainer::Explainer;
use crate::seed::Seeds;
use ndarray::ArrayViewD;

/// Reduces the channels of another explainer's maps. See the
/// [module docs](self).
///
/// ```
/// use ndarray::{Array4, ArrayViewD};
/// use salience_core::{AttributionBatch, ChannelReduction, Explainer, PixelMaps, Seeds};
/// struct Input;
/// impl Explainer for Input {
///     fn name(&self) -> &str { "input" }
///     fn explain(&self, x: ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.to_owned()) }
/// }
/// let e = PixelMaps::new(Input, ChannelReduction::Sum);
/// assert_eq!(e.name(), "input");
/// let x = Array4::<f32>::ones((2, 3, 4, 5)).into_dyn();
/// let maps = e.explain(x.view(), &[0, 0], Seeds::base(0))?;
/// assert_eq!(maps.shape(), &[2, 4, 5]);
/// assert!(maps.view().iter().all(|&v| v == 3.0));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PixelMaps<E> {
    inner: E,
    reduction: ChannelReduction,
}

impl<E: Explainer> PixelMaps<E> {
    /// Wraps `inner`; `[N, C, H, W]` maps are reduced with `reduction`
    /// (`Sum` keeps the sign, as Captum's `visualize_image_attr` does for
    /// signed maps).
    ///
    /// ```
    /// # use salience_core::{AttributionBatch, ChannelReduction, Explainer, PixelMaps, Seeds};
    /// # struct E;
    /// # impl Explainer for E {
    /// #     fn name(&self) -> &str { "e" }
    /// #     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
    /// #         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.to_owned()) }
    /// # }
    /// let p = PixelMaps::new(E, ChannelReduction::SumAbs);
    /// assert_eq!(p.reduction(), ChannelReduction::SumAbs);
    /// ```
    pub fn new(inner: E, reduction: ChannelReduction) -> Self {
        PixelMaps { inner, reduction }
    }

    /// The channel reduction.
    ///
    /// ```
    /// # use salience_core::{AttributionBatch, ChannelReduction, Explainer, PixelMaps, Seeds};
    /// # struct E;
    /// # impl Explainer for E {
    /// #     fn name(&self) -> &str { "e" }
    /// #     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
    /// #         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.to_owned()) }
    /// # }
    /// assert_eq!(PixelMaps::new(E, ChannelReduction::Sum).reduction(), ChannelReduction::Sum);
    /// ```
    pub fn reduction(&self) -> ChannelReduction {
        self.reduction
    }

    /// The wrapped explainer.
    ///
    /// ```
    /// # use salience_core::{AttributionBatch, ChannelReduction, Explainer, PixelMaps, Seeds};
    /// # struct E;
    /// # impl Explainer for E {
    /// #     fn name(&self) -> &str { "e" }
    /// #     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
    /// #         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.to_owned()) }
    /// # }
    /// assert_eq!(PixelMaps::new(E, ChannelReduction::Sum).inner().name(), "e");
    /// ```
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Explainer> Explainer for PixelMaps<E> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let maps = self.inner.explain(inputs, targets, seeds)?;
        match maps.layout() {
            Layout::Image { .. } => maps.reduce_channels(self.reduction),
            Layout::PixelMap { .. } | Layout::Tabular { .. } => Ok(maps),
        }
    }
}
