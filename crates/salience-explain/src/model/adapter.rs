//! [`CandleModel`]: any [`Classifier`] as salience-core's black-box
//! [`Model`], for perturbation-based explainers, metrics and the optimizer.

use crate::model::classifier::Classifier;
use crate::model::convert::{model_call_error, tensor_from_view, tensor_to_vec};
use ndarray::{s, Array2, ArrayViewD, Axis};
use salience_core::{Model, Result, SalienceError};

/// Adapts a [`Classifier`] to salience-core's [`Model`] (ndarray in, ndarray
/// out). Batches larger than the batch size are evaluated in chunks; each
/// chunk costs one copy in (view → tensor) and one copy out. No gradient
/// graph is kept.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::Model;
/// use salience_explain::{CandleModel, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, 1.0]], &Device::Cpu).unwrap();
/// let m = CandleModel::new(ModuleClassifier::new(candle_nn::Linear::new(w, None), 1));
/// let y = m.forward(ndarray::array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn().view())?;
/// assert_eq!(y, ndarray::array![[3.0], [7.0]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CandleModel<C> {
    classifier: C,
    batch_size: usize,
}

impl<C: Classifier> CandleModel<C> {
    /// Wraps `classifier`, chunking by its preferred batch size.
    pub fn new(classifier: C) -> Self {
        let batch_size = classifier.preferred_batch_size().max(1);
        CandleModel {
            classifier,
            batch_size,
        }
    }

    /// Sets the chunk size; 0 is an error
    /// ([`salience_core::SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_core::Model;
    /// use salience_explain::{CandleModel, ModuleClassifier};
    /// let m = CandleModel::new(ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2))
    ///     .with_batch_size(3)?;
    /// assert_eq!(m.preferred_batch_size(), 3);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: usize) -> salience_core::Result<Self> {
        crate::gradient::check_batch_size(batch_size)?;
        self.batch_size = batch_size;
        Ok(self)
    }

    /// The wrapped classifier.
    ///
    /// ```
    /// use salience_explain::{CandleModel, Classifier, ModuleClassifier};
    /// let m = CandleModel::new(ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2));
    /// assert_eq!(m.classifier().num_classes(), 2);
    /// ```
    pub fn classifier(&self) -> &C {
        &self.classifier
    }
}

impl<C: Classifier> Model for CandleModel<C> {
    fn forward(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        let n = inputs.shape().first().copied().unwrap_or(0);
        if n == 0 || inputs.ndim() < 2 {
            return Err(SalienceError::shape(
                "CandleModel input",
                "[N, ...] with N >= 1",
                inputs.shape(),
            ));
        }
        let k = self.classifier.num_classes();
        let mut out = Array2::<f32>::zeros((n, k));
        let mut start = 0;
        while start < n {
            let end = (start + self.batch_size).min(n);
            let chunk = inputs.slice_axis(Axis(0), (start..end).into());
            let x = tensor_from_view(chunk, self.classifier.device())?;
            let y = self
                .classifier
                .logits(&x)
                .and_then(|y| y.detach().contiguous())
                .map_err(|e| model_call_error(e, x.dims()))?;
            if y.dims() != [end - start, k] {
                return Err(SalienceError::Model(format!(
                    "classifier returned logits of shape {:?} for a batch of {} (expected [{}, {k}])",
                    y.dims(),
                    end - start,
                    end - start
                )));
            }
            let v = tensor_to_vec(&y)?;
            let block = ndarray::ArrayView2::from_shape((end - start, k), &v)
                .map_err(|e| SalienceError::backend("ndarray", e))?;
            out.slice_mut(s![start..end, ..]).assign(&block);
            start = end;
        }
        Ok(out)
    }

    fn num_classes(&self) -> usize {
        self.classifier.num_classes()
    }

    fn preferred_batch_size(&self) -> usize {
        self.batch_size
    }

    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.classifier.activation_bytes(sample_shape)
    }
}
