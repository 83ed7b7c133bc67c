//! The layer-split interface ([`LayerSplit`]) for CAM methods and
//! representation metrics. Models written once as
//! [`crate::model::forward::StagedForward`] (the shipped ones,
//! [`crate::SequentialClassifier`], [`crate::RuleSequential`]) split at
//! every stage.
//!
//! candle keeps gradients only for [`candle_core::Var`] leaves, so the
//! gradient of a logit with respect to an intermediate activation is
//! obtained by cutting the forward pass: `a = activations(x, layer)`,
//! detach `a`, wrap it in a `Var`, then `head(a, layer)`.

use crate::model::classifier::Classifier;
use candle_core::Tensor;
use salience_core::{Result, SalienceError};

/// A classifier whose forward pass can be split at a named layer:
/// `logits(x) == head(activations(x, layer), layer)` for every name in
/// [`LayerSplit::layer_names`].
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, LayerSplit, SequentialClassifier};
/// let m = SequentialClassifier::new(2)
///     .push("double", |x: &Tensor| x * 2.0)
///     .push("fc", |x: &Tensor| Ok(x.clone()));
/// let x = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// let a = m.activations(&x, "double").unwrap();
/// let y = m.head(&a, "double").unwrap();
/// assert_eq!(y.to_vec2::<f32>().unwrap(), m.logits(&x).unwrap().to_vec2::<f32>().unwrap());
/// ```
pub trait LayerSplit: Classifier {
    /// The names of the layers the model can be split at, in forward order.
    fn layer_names(&self) -> Vec<String>;

    /// The output of layer `layer` for input `x`.
    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor>;

    /// The logits computed from layer `layer`'s output `a`.
    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor>;

    /// How CAMs read layer `layer` when its activations are tokens
    /// `[N, T, D]` (transformers) instead of feature maps `[N, K, h, w]`:
    /// the first [`TokenGrid::prefix`] tokens (a class token) are dropped
    /// and the rest, row-major patches, become `[N, D, rows, cols]` — the
    /// reshape pytorch-grad-cam's ViT recipe applies. `None` (the default)
    /// for feature-map layers.
    fn token_grid(&self, layer: &str) -> Option<TokenGrid> {
        let _ = layer;
        None
    }

    /// Checks that `layer` is one of [`LayerSplit::layer_names`], returning a
    /// typed error naming the known layers otherwise.
    ///
    /// ```
    /// use salience_explain::{LayerSplit, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert!(m.check_layer("fc").is_ok());
    /// assert!(m.check_layer("conv9").is_err());
    /// ```
    fn check_layer(&self, layer: &str) -> Result<()> {
        let names = self.layer_names();
        if names.iter().any(|n| n == layer) {
            Ok(())
        } else {
            Err(SalienceError::invalid(
                "layer",
                layer,
                &format!("unknown layer; the model has {names:?}"),
            ))
        }
    }
}

/// The token layout of a transformer layer, for CAMs
/// ([`LayerSplit::token_grid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenGrid {
    /// Leading tokens that are not patches (1 for a class token).
    pub prefix: usize,
    /// Patch rows.
    pub rows: usize,
    /// Patch columns.
    pub cols: usize,
}

macro_rules! forward_layer_split {
    ($($t:ty),*) => {$(
        impl<M: LayerSplit + ?Sized> LayerSplit for $t {
            fn layer_names(&self) -> Vec<String> {
                (**self).layer_names()
            }
            fn token_grid(&self, layer: &str) -> Option<TokenGrid> {
                (**self).token_grid(layer)
            }
            fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
                (**self).activations(x, layer)
            }
            fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
                (**self).head(a, layer)
            }
        }
    )*};
}

// References and smart pointers to a split model are split models, so
// explainers can borrow or share one model (`GradCam::new(&m, …)`,
// `Arc<M>` in the registry).
forward_layer_split!(&M, Box<M>, std::sync::Arc<M>);
