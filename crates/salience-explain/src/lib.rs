//! # salience-explain
//!
//! Feature-attribution explainers on [candle](https://github.com/huggingface/candle),
//! batched (N inputs, one target each), seeded, and chunked so that memory
//! does not grow with the number of steps or samples.
//!
//! * Model interfaces: [`Classifier`] (a differentiable NCHW → logits
//!   model; any `candle_nn::Module` through [`ModuleClassifier`]),
//!   [`LayerSplit`] (input → activations at a named layer → logits, for
//!   CAM methods; [`SequentialClassifier`] implements it), and
//!   [`CandleModel`], which turns any classifier into salience-core's
//!   black-box [`salience_core::Model`].
//! * The gradient core ([`gradient`]): the gradient of each input's target
//!   logit, one forward + one backward pass per chunk of `batch_size`
//!   points.
//! * Explainers implementing [`salience_core::Explainer`]: [`Saliency`],
//!   [`InputXGradient`], [`IntegratedGradients`] (Riemann and
//!   Gauss–Legendre quadratures, five [`Baseline`]s, completeness delta),
//!   [`NoiseTunnel`] (SmoothGrad, SmoothGrad², VarGrad around any
//!   explainer), [`ExpectedGradients`] (and GradientSHAP).
//!
//! Everything runs on the device of the classifier ([`Classifier::device`]);
//! the crate feature `cuda` enables candle's CUDA backend. Randomness
//! never comes from candle's (unseedable) RNG: it is drawn from
//! [`salience_core::seed`] generators per sample.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use salience_core::{Explainer, Seeds};
//! use salience_explain::{IntegratedGradients, ModuleClassifier, NoiseTunnel, Saliency};
//! // f(x) = W x: a linear "model" with 2 classes over 3 features.
//! let w = Tensor::new(&[[1.0f32, 2.0, 3.0], [-1.0, 0.0, 1.0]], &Device::Cpu).unwrap();
//! let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 2);
//! let x = ndarray::array![[1.0f32, 1.0, 1.0], [0.0, 2.0, 4.0]].into_dyn();
//! let panel: Vec<Box<dyn Explainer>> = vec![
//!     Box::new(Saliency::new(clf.clone())),
//!     Box::new(IntegratedGradients::new(clf.clone())),
//!     Box::new(NoiseTunnel::smoothgrad(Saliency::new(clf)).with_samples(4)),
//! ];
//! let e = salience_core::explain_ensemble(&panel, x.view(), &[0, 1], Seeds::base(0))?;
//! assert_eq!(e.k(), 3);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

pub mod adapter;
pub mod baseline;
pub mod classifier;
pub mod convert;
pub mod expected_gradients;
pub mod gradient;
pub mod input_x_gradient;
pub mod integrated_gradients;
pub mod noise_tunnel;
pub mod ops;
pub mod quadrature;
pub mod saliency;
pub mod split;

pub use adapter::CandleModel;
pub use baseline::Baseline;
pub use classifier::{Classifier, ModuleClassifier};
pub use expected_gradients::{ExpectedGradients, ExpectedGradientsConfig, References};
pub use input_x_gradient::InputXGradient;
pub use integrated_gradients::{
    AttributionsWithDelta, IntegratedGradients, IntegratedGradientsConfig,
};
pub use noise_tunnel::{NoiseKind, NoiseScale, NoiseTunnel, NoiseTunnelConfig};
pub use quadrature::Quadrature;
pub use saliency::{Saliency, SaliencyConfig};
pub use split::{LayerSplit, SequentialClassifier};
