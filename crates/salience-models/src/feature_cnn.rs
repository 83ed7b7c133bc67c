//! Plain feed-forward CNNs in torchvision's `features` / `avgpool` /
//! `classifier` layout: [`FeatureCnn`], the one type behind VGG
//! ([`crate::vgg`]) and AlexNet ([`crate::alexnet`]).
//!
//! `features` is a `Sequential` of convolutions (each followed by a
//! ReLU, with a batch norm in between for the `_bn` VGGs) and max pools;
//! `avgpool` is an `AdaptiveAvgPool2d` (VGG 7×7, AlexNet 6×6,
//! [`salience_explain::ops::adaptive_avg_pool2d`]: any input size works,
//! as in torchvision); `classifier` is dense layers with ReLU and
//! dropout (identity at inference) between them. Tensor names are
//! torchvision's `state_dict` names, `features.{i}.{weight,bias}` and
//! `classifier.{i}.{weight,bias}` with `i` the index in the `Sequential`.
//!
//! The forward pass is written once, as [`StagedForward`] stages named
//! after torchvision's modules: `features.{i}` for each ReLU after a
//! convolution (its output; the convolution, batch norm and ReLU run in
//! the one stage) and for each max pool, `avgpool`, `classifier.{i}` for
//! each hidden ReLU and for the last dense layer (the logits). The last
//! convolution's ReLU (VGG16's `features.29`, VGG11's `features.19`,
//! AlexNet's `features.11`) is where CAMs usually look
//! ([`FeatureCnnConfig::last_conv_stage`]). The rule-based forward pass
//! runs every convolution, dense layer, ReLU and max pool through the
//! explainer's [`LayerOps`] (a batch norm canonized into its
//! convolution); the adaptive pool is linear and keeps its plain
//! gradient (LRP-0: relevance in proportion to the contributions).

use candle_core::{bail, Device, Tensor};
use candle_nn::{BatchNorm, Conv2d, Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::rules::LayerOps;

/// One entry of `features` (each convolution is followed by a ReLU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureLayer {
    /// A convolution with a bias, a square `kernel`, `stride` and zero
    /// `padding`, then (with [`FeatureCnnConfig::batch_norm`]) a batch
    /// norm, then a ReLU.
    Conv {
        /// Output channels.
        out_channels: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on each side.
        padding: usize,
    },
    /// A max pool (floor mode).
    MaxPool {
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding (padded entries never win).
        padding: usize,
    },
}

/// Where the classifier's dropouts sit, which fixes its module indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierLayout {
    /// `Linear, ReLU, Dropout` per hidden layer, then `Linear` (VGG:
    /// dense layers at `classifier.0`, `.3`, `.6`).
    Vgg,
    /// `Dropout, Linear, ReLU` per hidden layer, then `Linear` (AlexNet:
    /// dense layers at `classifier.1`, `.4`, `.6`).
    AlexNet,
}

/// The shape of a [`FeatureCnn`]; see [`FeatureCnnConfig::vgg16`],
/// [`FeatureCnnConfig::vgg11`] and [`FeatureCnnConfig::alexnet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCnnConfig {
    /// Input channels (3).
    pub in_channels: usize,
    /// The `features` layers in order.
    pub features: Vec<FeatureLayer>,
    /// A batch norm after every convolution (torchvision's `vgg*_bn`).
    pub batch_norm: bool,
    /// The output size `(h, w)` of the adaptive average pool.
    pub pool: (usize, usize),
    /// Widths of the hidden dense layers.
    pub hidden: Vec<usize>,
    /// The classifier's module layout.
    pub layout: ClassifierLayout,
    /// Number of classes.
    pub num_classes: usize,
}

/// A stage of the forward pass.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Convolution `k` (with its batch norm) and ReLU.
    Conv(usize),
    /// A max pool.
    Pool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// The adaptive average pool.
    AvgPool,
    /// Hidden dense layer `k` and ReLU.
    Hidden(usize),
    /// The last dense layer.
    Logits,
}

impl FeatureCnnConfig {
    /// The torchvision module index of every convolution (its batch norm
    /// follows at `+1`) and the stages with their names.
    fn layout(&self) -> (Vec<usize>, Vec<(String, Stage)>) {
        let mut convs = Vec::new();
        let mut stages = Vec::new();
        let mut i = 0;
        for l in &self.features {
            match *l {
                FeatureLayer::Conv { .. } => {
                    convs.push(i);
                    i += if self.batch_norm { 2 } else { 1 };
                    stages.push((format!("features.{i}"), Stage::Conv(convs.len() - 1)));
                }
                FeatureLayer::MaxPool {
                    kernel,
                    stride,
                    padding,
                } => stages.push((
                    format!("features.{i}"),
                    Stage::Pool {
                        kernel,
                        stride,
                        padding,
                    },
                )),
            }
            i += 1;
        }
        stages.push(("avgpool".into(), Stage::AvgPool));
        for k in 0..self.hidden.len() {
            let relu = self.linear_index(k) + 1;
            stages.push((format!("classifier.{relu}"), Stage::Hidden(k)));
        }
        let last = self.linear_index(self.hidden.len());
        stages.push((format!("classifier.{last}"), Stage::Logits));
        (convs, stages)
    }

    /// The `classifier` index of dense layer `k` (the last one is
    /// `k = hidden.len()`).
    fn linear_index(&self, k: usize) -> usize {
        match self.layout {
            _ if k == self.hidden.len() => 3 * k,
            ClassifierLayout::Vgg => 3 * k,
            ClassifierLayout::AlexNet => 3 * k + 1,
        }
    }

    /// The stage names (the layers the model splits at), in order.
    ///
    /// ```
    /// let n = salience_models::FeatureCnnConfig::alexnet(1000).layer_names();
    /// assert_eq!(n[..3], ["features.1", "features.2", "features.4"]);
    /// assert_eq!(n[n.len() - 4..], ["avgpool", "classifier.2", "classifier.5", "classifier.6"]);
    /// ```
    pub fn layer_names(&self) -> Vec<String> {
        self.layout().1.into_iter().map(|(n, _)| n).collect()
    }

    /// The stage of the last convolution's ReLU, where CAMs look
    /// (`features.29` for VGG16); `None` without a convolution.
    ///
    /// ```
    /// use salience_models::FeatureCnnConfig;
    /// assert_eq!(FeatureCnnConfig::vgg16(1000).last_conv_stage().as_deref(), Some("features.29"));
    /// ```
    pub fn last_conv_stage(&self) -> Option<String> {
        let (_, stages) = self.layout();
        stages
            .into_iter()
            .rev()
            .find(|(_, s)| matches!(s, Stage::Conv(_)))
            .map(|(n, _)| n)
    }

    /// Output channels of the last convolution (the input's channels
    /// without one).
    fn feature_channels(&self) -> usize {
        self.features
            .iter()
            .rev()
            .find_map(|l| match l {
                FeatureLayer::Conv { out_channels, .. } => Some(*out_channels),
                FeatureLayer::MaxPool { .. } => None,
            })
            .unwrap_or(self.in_channels)
    }

    /// The names and shapes of all tensors, in torchvision's naming.
    ///
    /// ```
    /// let s = salience_models::FeatureCnnConfig::vgg16(1000).tensor_shapes();
    /// assert_eq!(s[0], ("features.0.weight".to_string(), vec![64, 3, 3, 3]));
    /// assert!(s.contains(&("classifier.0.weight".to_string(), vec![4096, 25088])));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (conv_index, _) = self.layout();
        let mut v = Vec::new();
        let mut cin = self.in_channels;
        let convs = self.features.iter().filter_map(|l| match *l {
            FeatureLayer::Conv {
                out_channels,
                kernel,
                ..
            } => Some((out_channels, kernel)),
            FeatureLayer::MaxPool { .. } => None,
        });
        for (&i, (co, k)) in conv_index.iter().zip(convs) {
            v.push((format!("features.{i}.weight"), vec![co, cin, k, k]));
            v.push((format!("features.{i}.bias"), vec![co]));
            if self.batch_norm {
                for leaf in ["weight", "bias", "running_mean", "running_var"] {
                    v.push((format!("features.{}.{leaf}", i + 1), vec![co]));
                }
            }
            cin = co;
        }
        let mut d = self.feature_channels() * self.pool.0 * self.pool.1;
        let outs = self.hidden.iter().chain(std::iter::once(&self.num_classes));
        for (k, &o) in outs.enumerate() {
            let i = self.linear_index(k);
            v.push((format!("classifier.{i}.weight"), vec![o, d]));
            v.push((format!("classifier.{i}.bias"), vec![o]));
            d = o;
        }
        v
    }

    /// The number of trainable parameters (every tensor except batch-norm
    /// running statistics).
    ///
    /// ```
    /// use salience_models::FeatureCnnConfig;
    /// assert_eq!(FeatureCnnConfig::vgg16(1000).num_parameters(), 138_357_544);
    /// assert_eq!(FeatureCnnConfig::vgg11(1000).num_parameters(), 132_863_336);
    /// assert_eq!(FeatureCnnConfig::alexnet(1000).num_parameters(), 61_100_840);
    /// ```
    pub fn num_parameters(&self) -> usize {
        super::count_parameters(&self.tensor_shapes())
    }

    /// The spatial size after `features` for an `h`-pixel input side, or
    /// `None` when a window no longer fits.
    fn feature_size(&self, mut h: usize) -> Option<usize> {
        for l in &self.features {
            let (k, s, p) = match *l {
                FeatureLayer::Conv {
                    kernel,
                    stride,
                    padding,
                    ..
                } => (kernel, stride, padding),
                FeatureLayer::MaxPool {
                    kernel,
                    stride,
                    padding,
                } => (kernel, stride, padding),
            };
            h = (h + 2 * p).checked_sub(k)? / s + 1;
        }
        Some(h)
    }

    fn validate(&self) -> candle_core::Result<()> {
        let zero_window = self.features.iter().any(|l| match *l {
            FeatureLayer::Conv {
                out_channels,
                kernel,
                stride,
                ..
            } => out_channels == 0 || kernel == 0 || stride == 0,
            FeatureLayer::MaxPool { kernel, stride, .. } => kernel == 0 || stride == 0,
        });
        if zero_window
            || self.in_channels == 0
            || self.num_classes == 0
            || self.pool.0 == 0
            || self.pool.1 == 0
            || self.hidden.contains(&0)
        {
            bail!("FeatureCnnConfig: every size must be at least 1 ({self:?})");
        }
        Ok(())
    }
}

/// A VGG / AlexNet-style CNN (see the module docs): a
/// [`Classifier`](salience_explain::Classifier), a
/// [`LayerSplit`](salience_explain::LayerSplit) at every stage of
/// [`FeatureCnnConfig::layer_names`], and a
/// [`RuleForward`](salience_explain::RuleForward) model.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{FeatureCnn, FeatureCnnConfig};
/// use salience_explain::{Classifier, LayerSplit};
/// let c = FeatureCnnConfig::vgg(&[&[4], &[8, 8]], false, vec![16], 3);
/// let m = FeatureCnn::seeded(&c, 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 3]);
/// assert_eq!(m.activations(&x, "features.6").unwrap().dims(), &[2, 8, 8, 8]);
/// assert_eq!(m.activations(&x, "avgpool").unwrap().dims(), &[2, 8, 7, 7]);
/// ```
#[derive(Debug, Clone)]
pub struct FeatureCnn {
    config: FeatureCnnConfig,
    stages: Vec<(String, Stage)>,
    /// Each convolution with its batch norm, named after the convolution.
    convs: Vec<(String, Conv2d, Option<BatchNorm>)>,
    /// The dense layers with their names, the logits last.
    linears: Vec<(String, Linear)>,
    device: Device,
}

impl FeatureCnn {
    /// Builds the network described by `config` from `vb` (torchvision
    /// names, see the module docs).
    pub fn new(vb: VarBuilder, config: &FeatureCnnConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let (conv_index, stages) = config.layout();
        let mut convs = Vec::new();
        let mut cin = config.in_channels;
        let specs = config.features.iter().filter_map(|l| match *l {
            FeatureLayer::Conv {
                out_channels,
                kernel,
                stride,
                padding,
            } => Some((out_channels, (kernel, stride, padding))),
            FeatureLayer::MaxPool { .. } => None,
        });
        for (&i, (co, window)) in conv_index.iter().zip(specs) {
            let name = format!("features.{i}");
            let conv = super::conv(cin, co, window, 1, true, vb.pp(&name))?;
            let bn = match config.batch_norm {
                true => Some(super::batch_norm(co, vb.pp(format!("features.{}", i + 1)))?),
                false => None,
            };
            convs.push((name, conv, bn));
            cin = co;
        }
        let mut d = config.feature_channels() * config.pool.0 * config.pool.1;
        let mut linears = Vec::new();
        let outs = config
            .hidden
            .iter()
            .chain(std::iter::once(&config.num_classes));
        for (k, &o) in outs.enumerate() {
            let name = format!("classifier.{}", config.linear_index(k));
            linears.push((name.clone(), candle_nn::linear(d, o, vb.pp(name))?));
            d = o;
        }
        Ok(FeatureCnn {
            config: config.clone(),
            stages,
            convs,
            linears,
            device: vb.device().clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FeatureCnnConfig {
        &self.config
    }
}

impl StagedForward for FeatureCnn {
    fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|(n, _)| n.clone()).collect()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let Some((_, stage)) = self.stages.get(k) else {
            bail!("stage {k} out of range");
        };
        match *stage {
            Stage::Conv(i) => {
                let (name, conv, bn) = &self.convs[i];
                let z = match bn {
                    Some(bn) => ops.conv2d_batch_norm(name, conv, bn, h)?,
                    None => ops.conv2d(name, conv, h)?,
                };
                ops.relu(&z)
            }
            Stage::Pool {
                kernel,
                stride,
                padding,
            } => ops.max_pool2d_strided(h, kernel, stride, padding),
            Stage::AvgPool => salience_explain::ops::adaptive_avg_pool2d(h, self.config.pool),
            Stage::Hidden(i) => {
                let (name, l) = &self.linears[i];
                ops.relu(&ops.linear(name, l, &ops.flatten(h)?)?)
            }
            Stage::Logits => {
                let (name, l) = &self.linears[self.linears.len() - 1];
                ops.linear(name, l, &ops.flatten(h)?)
            }
        }
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        let c = self.config.in_channels;
        if let [_, _, h, w] = x.dims() {
            if self.config.feature_size(*h.min(w)).is_none_or(|s| s == 0) {
                bail!("the network's windows do not fit a {h}x{w} input");
            }
        }
        super::check_image_batch(x, c, 1, "the CNN")
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(FeatureCnn);
super::weight_loaders!(FeatureCnn, FeatureCnnConfig);
