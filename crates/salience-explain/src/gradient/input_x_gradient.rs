//! Input × Gradient (Shrikumar et al. 2016): `x ⊙ ∇f_t(x)`.

use crate::gradient::input_gradients;
use crate::model::classifier::Classifier;
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, Seeds};

/// The Input × Gradient explainer. Deterministic (ignores seeds).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{InputXGradient, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let e = InputXGradient::new(ModuleClassifier::new(candle_nn::Linear::new(w, None), 1));
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// let a = e.explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view(), ndarray::array![[3.0f32, -8.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InputXGradient<C> {
    classifier: C,
    batch_size: BatchSize,
}

impl<C: Classifier> InputXGradient<C> {
    /// Input × Gradient with the default batch size ([`BatchSize::Auto`]).
    pub fn new(classifier: C) -> Self {
        InputXGradient {
            classifier,
            batch_size: BatchSize::Auto,
        }
    }

    /// Sets the number of inputs per forward/backward pass.
    ///
    /// ```
    /// use salience_explain::{InputXGradient, ModuleClassifier};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let _e = InputXGradient::new(clf).with_batch_size(salience_core::BatchSize::fixed(16)?);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: BatchSize) -> Self {
        self.batch_size = batch_size;
        self
    }
}

impl<C: Classifier> Explainer for InputXGradient<C> {
    fn name(&self) -> &str {
        "input_x_gradient"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let g = input_gradients(&self.classifier, inputs.view(), targets, self.batch_size)?;
        AttributionBatch::new(g * &inputs)
    }
}
