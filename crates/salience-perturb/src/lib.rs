//! # salience-perturb
//!
//! Black-box perturbation explainers over any [`salience_core::Model`]: the
//! model is only called on batches of perturbed inputs, never
//! differentiated, so any backend works (a candle classifier through
//! `salience_explain::CandleModel`, an ONNX runtime such as `ort` or
//! `tract`, or a plain closure through [`salience_core::FnModel`]). This
//! crate does not depend on candle.
//!
//! * Explainers implementing [`salience_core::Explainer`], batched through
//!   one chunked perturbation engine: [`Occlusion`], [`FeatureAblation`],
//!   [`ShapleyValueSampling`], [`KernelShap`] (exact by enumeration for
//!   few features), [`Lime`] (OLS / ridge / lasso surrogates, [`slic()`]
//!   superpixels or patches via [`FeatureMask`]) and [`Rise`].
//! * Their building blocks: the [`Baseline`] (reference input x′, shared
//!   with the path methods of `salience-explain`), [`FeatureMask`] /
//!   [`FeatureGroups`] (interpretable features), [`slic()`] superpixels
//!   and the weighted [`linear_fit`] surrogates.
//! * [`Validate`](salience_core::spec::Validate) for every config
//!   ([`config`]), so that configs built from data fail at parse time.
//!
//! Randomness is drawn from [`salience_core::seed`] generators per sample:
//! input `i` draws everything from `seeds.for_sample(i)` (its baseline from
//! that seed, as the gradient explainers do; its perturbations, RISE mask
//! `j` and Shapley permutation `r` from streams derived from it). The
//! output therefore depends neither on the chunk size nor on the other
//! inputs of the batch; tests check this bit for bit with batch-invariant
//! models (a candle model's logits move in the last bits with the batch:
//! docs/architecture.md § Determinism).
//!
//! **The engine.** Each method describes, per input, a sequence of
//! perturbed inputs; the engine generates them lazily into one reused
//! chunk buffer ([`salience_core::model::forward_generated`]), evaluates
//! the model `batch_size` inputs at a time (0 = the model's
//! `preferred_batch_size`) and hands each perturbation's target score back
//! in a fixed order; perturbations of all inputs of a batch share the
//! chunks. Memory: one chunk buffer plus 16 chunks of scores, however many
//! perturbations (LIME and KernelSHAP also keep their n × M design
//! matrix). Every explainer reports its `model_evaluations` per input.
//!
//! ```
//! use ndarray::array;
//! use salience_core::{Explainer, LinearModel, Seeds};
//! use salience_perturb::{Occlusion, OcclusionConfig};
//! // f(x) = W x: occluding one feature at a time gives x ⊙ W[t].
//! let m = LinearModel::new(array![[1.0f32, -2.0, 3.0]], array![0.0f32])?;
//! let occ = Occlusion::with_config(&m, OcclusionConfig { window: vec![1], strides: vec![1], ..Default::default() });
//! let a = occ.explain(array![[1.0f32, 1.0, 2.0]].into_dyn().view(), &[0], Seeds::base(0))?;
//! assert_eq!(a.view().iter().copied().collect::<Vec<f32>>(), vec![1.0, -2.0, 6.0]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

use salience_core::AttributionBatch;

pub mod baseline;
pub mod config;
pub mod feature_ablation;
pub mod feature_mask;
pub mod kernel_shap;
pub mod lime;
pub mod linear_fit;
pub mod occlusion;
mod perturb;
pub mod rise;
pub mod shapley_sampling;
pub mod slic;

pub use baseline::Baseline;
pub use feature_ablation::{FeatureAblation, FeatureAblationConfig};
pub use feature_mask::{FeatureGroups, FeatureMask};
pub use kernel_shap::{KernelShap, KernelShapConfig};
pub use lime::{Lime, LimeConfig, LimeDistance, LimeKernel, LimeSpace};
pub use linear_fit::{LinearFit, Surrogate};
pub use occlusion::{Occlusion, OcclusionConfig};
pub use perturb::check_explainer_inputs;
pub use rise::{Rise, RiseConfig};
pub use shapley_sampling::{ShapleySamplingConfig, ShapleyValueSampling};
pub use slic::{slic, SlicColor, SlicConfig};

/// Attributions together with the completeness delta of each input
/// (Integrated Gradients, DeepLIFT, Shapley sampling, KernelSHAP).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionsWithDelta {
    /// The attributions, shaped like the inputs.
    pub attributions: AttributionBatch,
    /// Per input: `Σ attr − (f_t(x) − f_t(x′))` (0 for an exact integral).
    pub delta: Vec<f32>,
    /// Per input: `f_t(x) − f_t(x′)`, the quantity the attributions split.
    pub output_difference: Vec<f32>,
}

/// What [`explainer_via_report!`] names, so that the macro's expansion
/// resolves in any crate.
#[doc(hidden)]
pub mod __macro_support {
    pub use ndarray::ArrayViewD;
    pub use salience_core::{AttributionBatch, Result, Seeds};
}

/// The items of an [`Explainer`](salience_core::Explainer) impl whose
/// `explain` returns the `attributions` field of a richer inherent method
/// with the same arguments (`explain_with_delta`, `explain_with_trace`):
/// written once for KernelSHAP, Shapley sampling, DeepLIFT and iGOS++.
///
/// ```ignore
/// impl<M: Model> Explainer for KernelShap<M> {
///     salience_perturb::explainer_via_report!("kernel_shap", explain_with_delta);
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! explainer_via_report {
    ($name:literal, $method:ident) => {
        fn name(&self) -> &str {
            $name
        }

        fn explain(
            &self,
            inputs: $crate::__macro_support::ArrayViewD<'_, f32>,
            targets: &[usize],
            seeds: $crate::__macro_support::Seeds<'_>,
        ) -> $crate::__macro_support::Result<$crate::__macro_support::AttributionBatch> {
            Ok(self.$method(inputs, targets, seeds)?.attributions)
        }
    };
}
