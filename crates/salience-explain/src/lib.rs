//! # salience-explain
//!
//! Feature-attribution explainers on [candle](https://github.com/huggingface/candle),
//! batched (N inputs, one target each), seeded, and chunked so that memory
//! does not grow with the number of steps or samples.
//!
//! * Model interfaces: [`Classifier`] (a differentiable NCHW → logits
//!   model; any `candle_nn::Module` through [`ModuleClassifier`]),
//!   [`LayerSplit`] (input → activations at a named layer → logits, for
//!   CAM methods), [`RuleForward`] (the forward pass with substitutable
//!   [`LayerOps`], for rule-based methods), all three derived from one
//!   forward definition, [`StagedForward`] (named stages over
//!   [`LayerOps`], see [`model::forward`]; [`SequentialClassifier`] and
//!   [`RuleSequential`] are ready containers), and
//!   [`CandleModel`], which turns any classifier into salience-core's
//!   black-box [`salience_core::Model`].
//! * The gradient core ([`gradient`]): the gradient of each input's target
//!   logit, one forward + one backward pass per chunk of `batch_size`
//!   points.
//! * Explainers implementing [`salience_core::Explainer`]: [`Saliency`],
//!   [`InputXGradient`], [`IntegratedGradients`] (Riemann and
//!   Gauss–Legendre quadratures, five [`Baseline`]s, completeness delta),
//!   [`NoiseTunnel`] (SmoothGrad, SmoothGrad², VarGrad around any
//!   explainer), [`ExpectedGradients`] (and GradientSHAP),
//!   [`NoiseGrad`] and [`FusionGrad`] (Bykov et al. 2022: the base
//!   explanation averaged over models with multiplicative weight noise, for
//!   any base explainer).
//! * The re-parameterizable model [`WeightMapModel`]: the user's model
//!   rebuilt from a weight map with perturbed ([`WeightMapModel::perturbed`])
//!   or randomised ([`WeightMapModel::cascading_randomization`], for the
//!   Model Parameter Randomisation Test) weights.
//! * The NoiseGrad noise-level heuristic ([`noise::noise_sigma`]: σ_NG for a 5%
//!   relative accuracy drop, and the FusionGrad rules).
//! * Global explanation: activation maximization of a class logit
//!   ([`maximize_class`]) or a neuron ([`maximize_neuron`]), optionally
//!   averaged over NoiseGrad model draws.
//! * The black-box perturbation explainers (occlusion, feature ablation,
//!   Shapley sampling, KernelSHAP, LIME, RISE, SLIC) live in the
//!   candle-free crate [`salience_perturb`]; [`CandleModel`] runs a
//!   candle classifier through them, and the [`registry`] builds them.
//! * Rule-based explainers for models that opt in through [`RuleForward`]
//!   (their forward pass written with [`rules::LayerOps`]): [`GuidedBackprop`],
//!   [`Deconvnet`], [`DeepLift`] (Rescale, with summation-to-delta
//!   check), [`Lrp`] (ε, γ, αβ, z⁺, zᴮ, flat, w² rules assigned by a
//!   [`Composite`] with Zennit's presets).
//! * The CAM family over a [`LayerSplit`] ([`cam`]): [`GradCam`],
//!   [`GradCamPlusPlus`], [`EigenCam`], [`PolyCam`], upsampled to the
//!   input with the differentiable bilinear op of [`ops`].
//!
//! The modules are grouped by family: [`model`] (the model seams and
//! adapters), [`gradient`] (the gradient core and the gradient methods),
//! [`noise`] (SmoothGrad family, NoiseGrad / FusionGrad, activation
//! maximization), [`cam`] (CAM family, attention rollout), [`rules`]
//! (rule-based methods over [`LayerOps`]), [`igos`] (iGOS++), [`ops`]
//! (differentiable ops candle lacks), with the [`registry`] and the
//! configs' checks ([`config`]) at the root. Every type is also
//! re-exported at the crate root (`salience_explain::IntegratedGradients`).
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

pub mod cam;
pub mod config;
pub mod gradient;
pub mod igos;
pub mod model;
pub mod noise;
pub mod ops;
pub mod registry;
pub mod rules;

pub use cam::attention::{
    AttentionModel, AttentionRollout, AttentionRolloutConfig, GradientRollout,
    GradientRolloutConfig, HeadFusion,
};
pub use cam::eigen_cam::{EigenCam, EigenCamConfig};
pub use cam::grad_cam::{GradCam, GradCamConfig};
pub use cam::grad_cam_plus_plus::GradCamPlusPlus;
pub use cam::poly_cam::{PolyCam, PolyCamConfig, PolyCamVariant};
pub use gradient::expected_gradients::{ExpectedGradients, ExpectedGradientsConfig, References};
pub use gradient::input_x_gradient::InputXGradient;
pub use gradient::integrated_gradients::{IntegratedGradients, IntegratedGradientsConfig};
pub use gradient::quadrature::Quadrature;
pub use gradient::saliency::{Saliency, SaliencyConfig};
pub use igos::{IGosConfig, IGosOutput, IGosPlusPlus};
pub use model::adapter::CandleModel;
pub use model::classifier::{Classifier, ModuleClassifier};
pub use model::convert::ExplainTensor;
pub use model::forward::StagedForward;
pub use model::sequential::{
    RuleLayer, RuleSequential, Sequential, SequentialClassifier, SequentialLayer,
};
pub use model::split::{LayerSplit, TokenGrid};
pub use model::weight_map::{
    CascadingRandomization, ModelBuilder, ParamFilter, Randomization, WeightMapModel,
};
pub use noise::activation_max::{
    maximize_class, maximize_neuron, ActivationMaxConfig, ActivationMaxResult,
};
pub use noise::noise_grad::{FusionGrad, FusionGradConfig, NoiseGrad, NoiseGradConfig};
pub use noise::noise_sigma::{
    fusiongrad_sigmas, noisegrad_sigma, FusionRule, FusionSigmas, NoiseSigmaConfig,
    NoiseSigmaEstimate,
};
pub use noise::noise_tunnel::{NoiseKind, NoiseScale, NoiseTunnel, NoiseTunnelConfig};
pub use registry::{ExplainerSpec, Registry};
pub use rules::attn_lrp::{AttentionRule, AttnLrp, AttnLrpConfig};
pub use rules::canonize::fuse_conv_batch_norm;
pub use rules::deeplift::{DeepLift, DeepLiftConfig};
pub use rules::guided_backprop::{Deconvnet, GuidedBackprop};
pub use rules::lrp::Lrp;
pub use rules::lrp_rules::{Composite, LayerKind, LrpRule};
pub use rules::{LayerOps, PlainOps, RuleForward, TrainOps};
/// The candle-free types of `salience-perturb` that this crate's own API
/// takes or returns (the path methods' baseline x′ and their completeness
/// delta); the perturbation explainers themselves are used from
/// `salience_perturb` directly.
pub use salience_perturb::{AttributionsWithDelta, Baseline};

/// Paths used by [`staged_model!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use candle_core;
}
