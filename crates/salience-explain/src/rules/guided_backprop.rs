//! Guided Backpropagation (Springenberg et al. 2015) and Deconvnet
//! (Zeiler & Fergus 2014): the gradient of the target logit with the
//! backward pass of every ReLU replaced.
//!
//! With `g` the gradient arriving at a ReLU's output and `x` its input:
//!
//! * plain gradient: `g ⊙ 1[x > 0]`;
//! * Guided Backprop: `max(g, 0) ⊙ 1[x > 0]` (only positive gradients,
//!   where the input was positive), Zennit's `ReLUGuidedBackprop`;
//! * Deconvnet: `max(g, 0)` (the ReLU applied to the gradient only),
//!   Zennit's `ReLUDeconvNet`.
//!
//! The rule depends on the sign of the incoming gradient, so it is a
//! candle [`CustomOp1`] with a `bwd`; the forward reuses candle's own ReLU
//! kernel on every backend. All other layers keep their plain gradient.
//! The model opts in through [`RuleForward`] (its ReLUs must be
//! [`LayerOps::relu`]).

use crate::gradient::{contiguous, flat_slice, validate};
use crate::rules::{chunk_leaf, input_gradients, rule_chunk, LayerOps, RuleForward};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Explainer, Result, SalienceError, Seeds};

/// Which ReLU backward rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReluRule {
    Guided,
    Deconv,
}

/// A ReLU whose backward pass follows a [`ReluRule`].
struct RuleRelu(ReluRule);

impl CustomOp1 for RuleRelu {
    fn name(&self) -> &'static str {
        match self.0 {
            ReluRule::Guided => "guided-relu",
            ReluRule::Deconv => "deconvnet-relu",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        Ok((s.unary_impl::<candle_core::op::Relu>(l)?, l.shape().clone()))
    }

    // Not behind `cfg(feature = "cuda")`: without the feature candle's dummy
    // CUDA backend implements the same trait, so this body is type-checked
    // in every build (and never called).
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        Ok((s.unary_impl::<candle_core::op::Relu>(l)?, l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let pos = g.relu()?;
        Ok(Some(match self.0 {
            ReluRule::Guided => (pos * arg.gt(0.0)?.to_dtype(g.dtype())?)?,
            ReluRule::Deconv => pos,
        }))
    }
}

/// The [`LayerOps`] of Guided Backprop / Deconvnet: ReLU replaced.
struct ReluRuleOps(ReluRule);

impl LayerOps for ReluRuleOps {
    fn relu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.apply_op1(RuleRelu(self.0))
    }
}

/// Runs the modified gradient over `inputs` in chunks of `batch_size`.
fn relu_rule_gradients<M: RuleForward + ?Sized>(
    model: &M,
    rule: ReluRule,
    batch_size: BatchSize,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
) -> Result<AttributionBatch> {
    let info = validate(&inputs, targets, model.num_classes())?;
    let batch_size = rule_chunk(model, batch_size, &info, 1)?;
    let xs = contiguous(&inputs);
    let data = flat_slice(&xs)?;
    let f = info.features;
    let ops = ReluRuleOps(rule);
    let mut out = vec![0f32; info.n * f];
    let mut start = 0;
    while start < info.n {
        let len = (info.n - start).min(batch_size);
        let x = chunk_leaf(data, &info, start..start + len, model.device())?;
        let (_, g) = input_gradients(model, &ops, &x, &targets[start..start + len])?;
        out[start * f..(start + len) * f].copy_from_slice(&g);
        start += len;
    }
    let a = ArrayD::from_shape_vec(IxDyn(inputs.shape()), out)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    AttributionBatch::new(a)
}

// Defines a public ReLU-rule explainer: the struct (a model and a batch
// size), its `new`/`with_batch_size` builder and its `Explainer` impl,
// which runs `relu_rule_gradients` with `$rule`.
macro_rules! relu_rule_explainer {
    ($(#[$doc:meta])* $ty:ident, $label:literal, $rule:expr, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty<M> {
            model: M,
            batch_size: BatchSize,
        }

        impl<M: RuleForward> $ty<M> {
            #[doc = concat!($label, " with the default batch size ([`BatchSize::Auto`]).")]
            pub fn new(model: M) -> Self {
                $ty {
                    model,
                    batch_size: BatchSize::Auto,
                }
            }

            /// Sets the number of inputs per forward/backward pass.
            ///
            /// ```
            #[doc = concat!("use salience_explain::{", stringify!($ty), ", RuleSequential};")]
            #[doc = concat!("let _e = ", stringify!($ty), "::new(RuleSequential::new(2)).with_batch_size(salience_core::BatchSize::fixed(8)?);")]
            /// # Ok::<(), salience_core::SalienceError>(())
            /// ```
            pub fn with_batch_size(mut self, batch_size: BatchSize) -> Self {
                self.batch_size = batch_size;
                self
            }
        }

        impl<M: RuleForward> Explainer for $ty<M> {
            fn name(&self) -> &str {
                $name
            }

            fn explain(
                &self,
                inputs: ArrayViewD<'_, f32>,
                targets: &[usize],
                _seeds: Seeds<'_>,
            ) -> Result<AttributionBatch> {
                relu_rule_gradients(&self.model, $rule, self.batch_size, inputs, targets)
            }
        }
    };
}

relu_rule_explainer!(
/// Guided Backpropagation: the gradient with every ReLU's backward
/// replaced by `max(g, 0) ⊙ 1[x > 0]`. Deterministic (ignores seeds).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{GuidedBackprop, RuleLayer, RuleSequential};
/// // f(x) = v · relu(W x) with W = I, v = (1, -1): the plain gradient is
/// // (1, -1); Guided Backprop drops the negative gradient.
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
/// let v = Tensor::new(&[[1.0f32, -1.0]], &Device::Cpu).unwrap();
/// let m = RuleSequential::new(1)
///     .push("fc1", candle_nn::Linear::new(w, None))
///     .push("relu", RuleLayer::Relu)
///     .push("fc2", candle_nn::Linear::new(v, None));
/// let x = ndarray::array![[2.0f32, 3.0]].into_dyn();
/// let a = GuidedBackprop::new(&m).explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view(), ndarray::array![[1.0f32, 0.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
    GuidedBackprop,
    "Guided Backprop",
    ReluRule::Guided,
    "guided_backprop"
);

relu_rule_explainer!(
/// Deconvnet: the gradient with every ReLU's backward replaced by
/// `max(g, 0)` (the forward activation pattern is ignored). Deterministic.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{Deconvnet, RuleLayer, RuleSequential};
/// // The first unit is inactive (x₀ < 0) but Deconvnet still passes its
/// // positive gradient.
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
/// let v = Tensor::new(&[[1.0f32, -1.0]], &Device::Cpu).unwrap();
/// let m = RuleSequential::new(1)
///     .push("fc1", candle_nn::Linear::new(w, None))
///     .push("relu", RuleLayer::Relu)
///     .push("fc2", candle_nn::Linear::new(v, None));
/// let x = ndarray::array![[-2.0f32, 3.0]].into_dyn();
/// let a = Deconvnet::new(&m).explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view(), ndarray::array![[1.0f32, 0.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
    Deconvnet,
    "Deconvnet",
    ReluRule::Deconv,
    "deconvnet"
);
