//! [`RuleSequential`]: a named-layer sequential network built from the
//! [`LayerOps`] layer kinds, ready for the rule-based explainers.

use crate::classifier::Classifier;
use crate::rules::{LayerOps, PlainOps, RuleForward};
use crate::split::LayerSplit;
use candle_core::{Device, Tensor};

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

impl RuleLayer {
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

/// A sequential network of named [`RuleLayer`]s; a [`Classifier`] and a
/// [`RuleForward`] model, so every rule-based explainer accepts it.
/// It is also a [`LayerSplit`] (split at any named layer, for CAMs).
/// Residual networks need their own type implementing [`RuleForward`]
/// (with [`LayerOps::add`] for the sums).
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
#[derive(Debug, Clone)]
pub struct RuleSequential {
    layers: Vec<(String, RuleLayer)>,
    num_classes: usize,
    device: Device,
    batch_size: usize,
}

impl RuleSequential {
    /// An empty network with `num_classes` outputs, on the CPU.
    pub fn new(num_classes: usize) -> Self {
        RuleSequential {
            layers: Vec::new(),
            num_classes,
            device: Device::Cpu,
            batch_size: 64,
        }
    }

    /// Appends layer `name`.
    pub fn push(mut self, name: &str, layer: impl Into<RuleLayer>) -> Self {
        self.layers.push((name.to_string(), layer.into()));
        self
    }

    /// Sets the device the layers' weights live on.
    ///
    /// ```
    /// use salience_explain::{Classifier, RuleSequential};
    /// assert!(RuleSequential::new(2).on_device(candle_core::Device::Cpu).device().is_cpu());
    /// ```
    pub fn on_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets the preferred batch size; 0 is an error
    /// ([`salience_core::SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_explain::{Classifier, RuleSequential};
    /// assert_eq!(RuleSequential::new(2).with_batch_size(8)?.preferred_batch_size(), 8);
    /// assert!(RuleSequential::new(2).with_batch_size(0).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: usize) -> salience_core::Result<Self> {
        crate::gradient::check_batch_size(batch_size)?;
        self.batch_size = batch_size;
        Ok(self)
    }

    fn position(&self, layer: &str) -> candle_core::Result<usize> {
        self.layers
            .iter()
            .position(|(n, _)| n == layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("unknown layer `{layer}`")))
    }
}

impl LayerSplit for RuleSequential {
    fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|(n, _)| n.clone()).collect()
    }

    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let end = self.position(layer)?;
        let mut h = x.clone();
        for (name, l) in &self.layers[..=end] {
            h = l.apply(name, &PlainOps, &h)?;
        }
        Ok(h)
    }

    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        let start = self.position(layer)?;
        let mut h = a.clone();
        for (name, l) in &self.layers[start + 1..] {
            h = l.apply(name, &PlainOps, &h)?;
        }
        Ok(h)
    }
}

impl RuleForward for RuleSequential {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (name, layer) in &self.layers {
            h = layer.apply(name, ops, &h)?;
        }
        Ok(h)
    }
}

impl Classifier for RuleSequential {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(x, &PlainOps)
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn preferred_batch_size(&self) -> usize {
        self.batch_size
    }
}
