//! Saliency (Simonyan et al. 2014): the gradient of the target logit with
//! respect to the input, signed or absolute.

use crate::gradient::input_gradients;
use crate::model::classifier::Classifier;
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, Seeds};

/// Configuration of [`Saliency`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SaliencyConfig {
    /// Return |∇f| (Simonyan et al., Captum's `Saliency(abs=True)` default)
    /// instead of the signed gradient. Default: `false` (signed), so that
    /// wrappers such as SmoothGrad average signed gradients; set `true` for
    /// Captum's preset.
    pub abs: bool,
    /// Inputs per forward/backward pass. Default [`BatchSize::Auto`] (the
    /// largest chunk within the memory budget, at most the model's
    /// preferred size; see [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for SaliencyConfig {
    fn default() -> Self {
        SaliencyConfig {
            abs: false,
            batch_size: BatchSize::Auto,
        }
    }
}

impl SaliencyConfig {
    /// Captum's preset: absolute gradient.
    ///
    /// ```
    /// assert!(salience_explain::SaliencyConfig::captum().abs);
    /// ```
    pub fn captum() -> Self {
        SaliencyConfig {
            abs: true,
            ..Self::default()
        }
    }
}

/// The Saliency explainer. Deterministic (ignores seeds).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{ModuleClassifier, Saliency};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let e = Saliency::new(ModuleClassifier::new(candle_nn::Linear::new(w, None), 1));
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// let a = e.explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view(), ndarray::array![[1.0f32, -2.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Saliency<C> {
    classifier: C,
    config: SaliencyConfig,
}

impl<C: Classifier> Saliency<C> {
    /// Signed saliency with the default configuration.
    pub fn new(classifier: C) -> Self {
        Self::with_config(classifier, SaliencyConfig::default())
    }

    /// Saliency with `config`.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, Saliency, SaliencyConfig};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let _e = Saliency::with_config(clf, SaliencyConfig::captum());
    /// ```
    pub fn with_config(classifier: C, config: SaliencyConfig) -> Self {
        Saliency { classifier, config }
    }
}

impl<C: Classifier> Explainer for Saliency<C> {
    fn name(&self) -> &str {
        if self.config.abs {
            "saliency_abs"
        } else {
            "saliency"
        }
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let mut g = input_gradients(&self.classifier, inputs, targets, self.config.batch_size)?;
        if self.config.abs {
            g.mapv_inplace(f32::abs);
        }
        AttributionBatch::new(g)
    }
}
