//! [`Sequential`]: a network of named layers, one type for both
//! containers, [`SequentialClassifier`] (any `candle_nn::Module` per layer)
//! and [`RuleSequential`] (the [`LayerOps`] layer kinds of [`RuleLayer`],
//! ready for the rule-based explainers). Each layer is a stage of the
//! [`StagedForward`] definition, so both split at every named layer.

use crate::model::forward::StagedForward;
use crate::rules::LayerOps;
#[cfg(doc)]
use crate::{Classifier, LayerSplit, RuleForward};
use candle_core::{Device, Module, Tensor};

/// One layer of a [`Sequential`] network: its forward pass written with
/// [`LayerOps`] (or, for an opaque module, without).
pub trait SequentialLayer: Send + Sync {
    /// The layer named `name` applied to `x` with `ops`.
    fn apply(&self, name: &str, ops: &dyn LayerOps, x: &Tensor) -> candle_core::Result<Tensor>;
}

/// A boxed `candle_nn::Module` (a layer of a [`SequentialClassifier`]).
pub type BoxedModule = Box<dyn Module + Send + Sync>;

/// An opaque module ignores the ops: its plain forward pass.
impl SequentialLayer for BoxedModule {
    fn apply(&self, _name: &str, _ops: &dyn LayerOps, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward(x)
    }
}

/// One layer of a [`RuleSequential`].
#[derive(Debug, Clone)]
pub enum RuleLayer {
    /// A dense layer (input `[N, D]`).
    Linear(candle_nn::Linear),
    /// A 2-D convolution (input `[N, C, H, W]`).
    Conv2d(candle_nn::Conv2d),
    /// A rectifier.
    Relu,
    /// Max pooling with kernel = stride.
    MaxPool2d(usize),
    /// Max pooling with any square kernel, stride and padding
    /// ([`LayerOps::max_pool2d_strided`]).
    MaxPool2dStrided {
        /// Window side.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Padding on every side (at most `kernel / 2`; never wins).
        padding: usize,
    },
    /// Average pooling with kernel = stride.
    AvgPool2d(usize),
    /// Global average pooling `[N, C, H, W] → [N, C]`.
    GlobalAvgPool,
    /// Batch normalisation, inference mode.
    BatchNorm(candle_nn::BatchNorm),
    /// `[N, ...] → [N, D]`.
    Flatten,
}

impl From<candle_nn::Linear> for RuleLayer {
    fn from(l: candle_nn::Linear) -> Self {
        RuleLayer::Linear(l)
    }
}

impl From<candle_nn::Conv2d> for RuleLayer {
    fn from(l: candle_nn::Conv2d) -> Self {
        RuleLayer::Conv2d(l)
    }
}

impl From<candle_nn::BatchNorm> for RuleLayer {
    fn from(l: candle_nn::BatchNorm) -> Self {
        RuleLayer::BatchNorm(l)
    }
}

impl SequentialLayer for RuleLayer {
    fn apply(&self, name: &str, ops: &dyn LayerOps, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            RuleLayer::Linear(l) => ops.linear(name, l, x),
            RuleLayer::Conv2d(l) => ops.conv2d(name, l, x),
            RuleLayer::Relu => ops.relu(x),
            RuleLayer::MaxPool2d(k) => ops.max_pool2d(x, *k),
            RuleLayer::MaxPool2dStrided {
                kernel,
                stride,
                padding,
            } => ops.max_pool2d_strided(x, *kernel, *stride, *padding),
            RuleLayer::AvgPool2d(k) => ops.avg_pool2d(x, *k),
            RuleLayer::GlobalAvgPool => ops.global_avg_pool(x),
            RuleLayer::BatchNorm(l) => ops.batch_norm(name, l, x),
            RuleLayer::Flatten => ops.flatten(x),
        }
    }
}

/// A sequential network of named layers of kind `L`, usable as a
/// [`Classifier`] and a [`LayerSplit`] (split at any named layer). Unlike
/// `candle_nn::Sequential`, it is `Send + Sync`, as explainers require.
/// Use it through its two aliases:
///
/// * [`SequentialClassifier`]: any `candle_nn::Module` per layer
///   (including closures such as `|x: &Tensor| x.relu()`);
/// * [`RuleSequential`]: [`RuleLayer`]s, additionally a [`RuleForward`]
///   model, so every rule-based explainer accepts it.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, LayerSplit, SequentialClassifier};
/// let w = Tensor::new(&[[1.0f32, -1.0]], &Device::Cpu).unwrap();
/// let m = SequentialClassifier::new(1)
///     .push("flatten", |x: &Tensor| x.flatten_from(1))
///     .push("fc", candle_nn::Linear::new(w, None));
/// let x = Tensor::new(&[[[3.0f32, 1.0]]], &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0]]);
/// let a = m.activations(&x, "flatten").unwrap();
/// assert_eq!(m.head(&a, "flatten").unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0]]);
/// ```
#[derive(Clone)]
pub struct Sequential<L> {
    layers: Vec<(String, L)>,
    num_classes: usize,
    device: Device,
    batch_size: usize,
}

/// A [`Sequential`] network of arbitrary `candle_nn::Module`s (a
/// [`Classifier`] and a [`LayerSplit`]).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, SequentialClassifier};
/// let m = SequentialClassifier::new(2).push("double", |x: &Tensor| x * 2.0);
/// let x = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0, 4.0]]);
/// ```
pub type SequentialClassifier = Sequential<BoxedModule>;

/// A [`Sequential`] network of [`RuleLayer`]s: a [`Classifier`], a
/// [`LayerSplit`] and a [`RuleForward`] model, so every rule-based
/// explainer accepts it. Residual networks implement
/// [`StagedForward`] themselves (with [`LayerOps::add`] for the sums).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{Classifier, LayerSplit, RuleLayer, RuleSequential};
/// let w = Tensor::new(&[[1.0f32, -1.0]], &Device::Cpu).unwrap();
/// let m = RuleSequential::new(1)
///     .push("flatten", RuleLayer::Flatten)
///     .push("fc", candle_nn::Linear::new(w, None))
///     .push("relu", RuleLayer::Relu);
/// let x = Tensor::new(&[[[3.0f32, 1.0]]], &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0]]);
/// assert_eq!(m.layer_names(), vec!["flatten", "fc", "relu"]);
/// let a = m.activations(&x, "flatten").unwrap();
/// assert_eq!(m.head(&a, "flatten").unwrap().to_vec2::<f32>().unwrap(), vec![vec![2.0]]);
/// ```
pub type RuleSequential = Sequential<RuleLayer>;

impl<L> std::fmt::Debug for Sequential<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field(
                "layers",
                &self.layers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("num_classes", &self.num_classes)
            .field("device", &self.device)
            .finish()
    }
}

impl<L> Sequential<L> {
    /// An empty network with `num_classes` outputs, on the CPU.
    pub fn new(num_classes: usize) -> Self {
        Sequential {
            layers: Vec::new(),
            num_classes,
            device: Device::Cpu,
            batch_size: 64,
        }
    }

    crate::model::classifier::builder_methods!("SequentialClassifier::new(1)");
}

impl SequentialClassifier {
    /// Appends layer `name`: any `candle_nn::Module`, including a closure
    /// `Fn(&Tensor) -> candle_core::Result<Tensor>`.
    pub fn push<M: Module + Send + Sync + 'static>(mut self, name: &str, layer: M) -> Self {
        self.layers.push((name.to_string(), Box::new(layer)));
        self
    }
}

impl RuleSequential {
    /// Appends layer `name` (a [`RuleLayer`], or a `candle_nn` linear,
    /// convolution or batch-norm layer).
    pub fn push(mut self, name: &str, layer: impl Into<RuleLayer>) -> Self {
        self.layers.push((name.to_string(), layer.into()));
        self
    }
}

impl<L: SequentialLayer> StagedForward for Sequential<L> {
    fn stage_names(&self) -> Vec<String> {
        self.layers.iter().map(|(n, _)| n.clone()).collect()
    }
    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        match self.layers.get(k) {
            Some((name, layer)) => layer.apply(name, ops, h),
            None => candle_core::bail!("stage {k} out of range"),
        }
    }
    crate::model::classifier::model_getters!();
}

crate::staged_model!(@split [L: SequentialLayer] Sequential<L>);

// Only rule layers are rule-capable: an opaque module of a
// `SequentialClassifier` would silently keep its plain gradient.
crate::staged_model!(@rules [] RuleSequential);
