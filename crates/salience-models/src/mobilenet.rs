//! torchvision's MobileNetV2 (Sandler et al. 2018):
//! [`MobileNetV2Config::mobilenet_v2`] and width-scaled variants
//! ([`MobileNetV2Config::with_width`], torchvision's `width_mult` with its
//! rounding to multiples of 8).
//!
//! Tensor names are torchvision's: the stem `features.0.{0,1}` (3×3
//! stride-2 convolution, batch norm), the inverted residual blocks
//! `features.{b}.conv.*` (an expansion 1×1 convolution + batch norm
//! unless the expansion is 1, the 3×3 depthwise convolution + batch norm,
//! the linear 1×1 projection + batch norm), the last 1×1 convolution
//! `features.{L}.{0,1}` and `classifier.1` (after a dropout).
//!
//! The forward pass is written once, as the stages `features.0` …
//! `features.{L}`, `avgpool` (global average pooling, flattened) and
//! `classifier` over [`LayerOps`]: every convolution + batch norm pair is
//! one [`LayerOps::conv2d_batch_norm`] (canonized by the rule-based
//! explainers; the depthwise ones are grouped convolutions,
//! [`salience_explain::ops::conv2d_grouped`]), residual sums are
//! [`LayerOps::add`], and ReLU6 is `relu(x) − relu(x − 6)` with
//! [`LayerOps::relu`]: the same values, PyTorch's gradient (1 on
//! `0 < x < 6`; at `x = 6` exactly the plain gradient is 1 where
//! PyTorch's `hardtanh` gives 0), and DeepLIFT's Rescale rule on the two
//! ReLUs adds up to the Rescale multiplier of the ReLU6 itself. CAMs
//! usually look at the last stage of `features` (`features.18`).

use candle_core::{bail, Device, Tensor};
use candle_nn::{BatchNorm, Conv2d, Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::rules::LayerOps;

/// One row of MobileNetV2's table: `repeats` inverted residual blocks
/// with expansion factor `expand` and `out_channels` outputs, the first
/// with `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvertedResidualSetting {
    /// Expansion factor `t` (hidden channels = round(t · inputs)).
    pub expand: usize,
    /// Output channels `c` (already scaled by the width multiplier).
    pub out_channels: usize,
    /// Number of blocks `n`.
    pub repeats: usize,
    /// Stride `s` of the first block.
    pub stride: usize,
}

/// The shape of a [`MobileNetV2`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileNetV2Config {
    /// Input channels (3).
    pub in_channels: usize,
    /// Output channels of the stem convolution.
    pub stem_channels: usize,
    /// The inverted residual blocks, row by row.
    pub blocks: Vec<InvertedResidualSetting>,
    /// Output channels of the last 1×1 convolution.
    pub last_channels: usize,
    /// Number of classes.
    pub num_classes: usize,
}

/// torchvision's `_make_divisible(v, 8)`: the nearest multiple of 8, at
/// least 8, and never below 90 % of `v`.
fn make_divisible(v: f64) -> usize {
    let d = 8.0;
    let mut n = (((v + d / 2.0) / d).floor() * d).max(d);
    if n < 0.9 * v {
        n += d;
    }
    n as usize
}

impl MobileNetV2Config {
    /// torchvision's `mobilenet_v2` (width 1.0): 3,504,872 parameters for
    /// 1000 classes.
    ///
    /// ```
    /// use salience_models::MobileNetV2Config;
    /// assert_eq!(MobileNetV2Config::mobilenet_v2(1000).num_parameters(), 3_504_872);
    /// ```
    pub fn mobilenet_v2(num_classes: usize) -> Self {
        Self::with_width(1.0, num_classes)
    }

    /// torchvision's `MobileNetV2(width_mult=w)`: every width of the
    /// table scaled by `w` and rounded to a multiple of 8, the last
    /// convolution `1280 · max(1, w)` wide. A non-finite or non-positive
    /// `w` gives a configuration that fails validation (every
    /// constructor checks it).
    ///
    /// ```
    /// let c = salience_models::MobileNetV2Config::with_width(0.25, 5);
    /// assert_eq!((c.stem_channels, c.blocks[1].out_channels, c.last_channels), (8, 8, 1280));
    /// ```
    pub fn with_width(width_mult: f64, num_classes: usize) -> Self {
        let ok = width_mult.is_finite() && width_mult > 0.0;
        let scale = |c: f64| {
            if ok {
                make_divisible(c * width_mult)
            } else {
                0
            }
        };
        let table = [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ];
        MobileNetV2Config {
            in_channels: 3,
            stem_channels: scale(32.0),
            blocks: table
                .iter()
                .map(|&(t, c, n, s)| InvertedResidualSetting {
                    expand: t,
                    out_channels: scale(c as f64),
                    repeats: n,
                    stride: s,
                })
                .collect(),
            last_channels: if ok {
                make_divisible(1280.0 * width_mult.max(1.0))
            } else {
                0
            },
            num_classes,
        }
    }

    /// Every block as `(inputs, hidden, outputs, stride)`, in order.
    fn block_shapes(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut v = Vec::new();
        let mut cin = self.stem_channels;
        for s in &self.blocks {
            for r in 0..s.repeats {
                let stride = if r == 0 { s.stride } else { 1 };
                v.push((cin, cin * s.expand, s.out_channels, stride));
                cin = s.out_channels;
            }
        }
        v
    }

    /// The stage names: `features.0` … `features.{L}`, `avgpool`,
    /// `classifier`.
    ///
    /// ```
    /// let n = salience_models::MobileNetV2Config::mobilenet_v2(1000).layer_names();
    /// assert_eq!(n[18..], ["features.18", "avgpool", "classifier"]);
    /// ```
    pub fn layer_names(&self) -> Vec<String> {
        let l = self.block_shapes().len() + 1;
        let mut v: Vec<String> = (0..=l).map(|i| format!("features.{i}")).collect();
        v.push("avgpool".into());
        v.push("classifier".into());
        v
    }

    /// The names and shapes of all tensors, in torchvision's naming.
    ///
    /// ```
    /// let s = salience_models::MobileNetV2Config::mobilenet_v2(1000).tensor_shapes();
    /// assert!(s.contains(&("features.2.conv.1.0.weight".to_string(), vec![96, 1, 3, 3])));
    /// assert!(s.contains(&("classifier.1.weight".to_string(), vec![1000, 1280])));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        let mut conv_bn = |conv: String, bn: String, shape: Vec<usize>| {
            let c = shape[0];
            v.push((format!("{conv}.weight"), shape));
            for leaf in ["weight", "bias", "running_mean", "running_var"] {
                v.push((format!("{bn}.{leaf}"), vec![c]));
            }
        };
        let stem = vec![self.stem_channels, self.in_channels, 3, 3];
        conv_bn("features.0.0".into(), "features.0.1".into(), stem);
        let blocks = self.block_shapes();
        for (b, &(cin, hidden, out, _)) in blocks.iter().enumerate() {
            for (conv, bn, shape) in block_layers(b + 1, cin, hidden, out) {
                conv_bn(conv, bn, shape);
            }
        }
        let l = blocks.len() + 1;
        let cin = blocks.last().map_or(self.stem_channels, |b| b.2);
        let last = vec![self.last_channels, cin, 1, 1];
        conv_bn(format!("features.{l}.0"), format!("features.{l}.1"), last);
        v.push((
            "classifier.1.weight".into(),
            vec![self.num_classes, self.last_channels],
        ));
        v.push(("classifier.1.bias".into(), vec![self.num_classes]));
        v
    }

    /// The number of trainable parameters (every tensor except batch-norm
    /// running statistics).
    pub fn num_parameters(&self) -> usize {
        super::count_parameters(&self.tensor_shapes())
    }

    fn validate(&self) -> candle_core::Result<()> {
        let bad_block = self
            .blocks
            .iter()
            .any(|s| s.expand == 0 || s.out_channels == 0 || s.repeats == 0 || s.stride == 0);
        if bad_block
            || self.in_channels == 0
            || self.stem_channels == 0
            || self.last_channels == 0
            || self.num_classes == 0
        {
            bail!("MobileNetV2Config: every size must be at least 1 ({self:?})");
        }
        Ok(())
    }
}

/// The `(conv, bn, conv weight shape)` names of block `b` of `cin`
/// inputs, `hidden` expanded channels and `out` outputs: the expansion
/// (when `hidden ≠ cin`), the depthwise convolution, the projection.
fn block_layers(
    b: usize,
    cin: usize,
    hidden: usize,
    out: usize,
) -> Vec<(String, String, Vec<usize>)> {
    let p = format!("features.{b}.conv");
    let mut v = Vec::new();
    if hidden != cin {
        v.push((
            format!("{p}.0.0"),
            format!("{p}.0.1"),
            vec![hidden, cin, 1, 1],
        ));
    }
    let i = v.len();
    v.push((
        format!("{p}.{i}.0"),
        format!("{p}.{i}.1"),
        vec![hidden, 1, 3, 3],
    ));
    v.push((
        format!("{p}.{}", i + 1),
        format!("{p}.{}", i + 2),
        vec![out, hidden, 1, 1],
    ));
    v
}

/// A named convolution + batch norm pair.
type ConvBn = (String, Conv2d, BatchNorm);

/// An inverted residual block: its convolution + batch-norm pairs (ReLU6
/// after all but the last) and whether the input is added back.
#[derive(Debug, Clone)]
struct Block {
    layers: Vec<ConvBn>,
    residual: bool,
}

/// MobileNetV2 (see the module docs): a
/// [`Classifier`](salience_explain::Classifier), a
/// [`LayerSplit`](salience_explain::LayerSplit) at every stage of
/// [`MobileNetV2Config::layer_names`] and a
/// [`RuleForward`](salience_explain::RuleForward) model.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{MobileNetV2, MobileNetV2Config};
/// use salience_explain::{Classifier, LayerSplit};
/// let m = MobileNetV2::seeded(&MobileNetV2Config::with_width(0.25, 4), 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((1, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[1, 4]);
/// assert_eq!(m.activations(&x, "features.18").unwrap().dims(), &[1, 1280, 1, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct MobileNetV2 {
    config: MobileNetV2Config,
    stem: ConvBn,
    blocks: Vec<Block>,
    last: ConvBn,
    classifier: Linear,
    device: Device,
}

/// `relu(x) − relu(x − 6)` (ReLU6; see the module docs).
fn relu6(ops: &dyn LayerOps, x: &Tensor) -> candle_core::Result<Tensor> {
    ops.relu(x)? - ops.relu(&(x - 6.0)?)?
}

fn conv_bn(
    vb: &VarBuilder,
    (conv, bn): (&str, &str),
    shape: &[usize],
    (stride, groups): (usize, usize),
) -> candle_core::Result<ConvBn> {
    let (co, k) = (shape[0], shape[2]);
    let cin = shape[1] * groups;
    let c = super::conv(cin, co, (k, stride, k / 2), groups, false, vb.pp(conv))?;
    Ok((conv.to_string(), c, super::batch_norm(co, vb.pp(bn))?))
}

impl MobileNetV2 {
    /// Builds the network described by `config` from `vb` (torchvision
    /// names, see the module docs).
    pub fn new(vb: VarBuilder, config: &MobileNetV2Config) -> candle_core::Result<Self> {
        config.validate()?;
        let stem_shape = [config.stem_channels, config.in_channels, 3, 3];
        let stem = conv_bn(&vb, ("features.0.0", "features.0.1"), &stem_shape, (2, 1))?;
        let shapes = config.block_shapes();
        let mut blocks = Vec::with_capacity(shapes.len());
        for (b, &(cin, hidden, out, stride)) in shapes.iter().enumerate() {
            let specs = block_layers(b + 1, cin, hidden, out);
            let n = specs.len();
            let layers = specs
                .iter()
                .enumerate()
                .map(|(i, (conv, bn, shape))| {
                    // The depthwise convolution is the second to last.
                    let (s, g) = if i + 2 == n { (stride, hidden) } else { (1, 1) };
                    conv_bn(&vb, (conv, bn), shape, (s, g))
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            blocks.push(Block {
                layers,
                residual: stride == 1 && cin == out,
            });
        }
        let l = shapes.len() + 1;
        let cin = shapes.last().map_or(config.stem_channels, |b| b.2);
        let (conv, bn) = (format!("features.{l}.0"), format!("features.{l}.1"));
        let last_shape = [config.last_channels, cin, 1, 1];
        let last = conv_bn(&vb, (&conv, &bn), &last_shape, (1, 1))?;
        let classifier = candle_nn::linear(
            config.last_channels,
            config.num_classes,
            vb.pp("classifier.1"),
        )?;
        Ok(MobileNetV2 {
            config: config.clone(),
            stem,
            blocks,
            last,
            classifier,
            device: vb.device().clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MobileNetV2Config {
        &self.config
    }
}

/// A convolution + batch norm pair, then ReLU6.
fn conv_bn_relu6(
    ops: &dyn LayerOps,
    (name, c, b): &ConvBn,
    h: &Tensor,
) -> candle_core::Result<Tensor> {
    relu6(ops, &ops.conv2d_batch_norm(name, c, b, h)?)
}

impl StagedForward for MobileNetV2 {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let nb = self.blocks.len();
        if k == 0 {
            return conv_bn_relu6(ops, &self.stem, h);
        }
        if k <= nb {
            let block = &self.blocks[k - 1];
            let last = block.layers.len() - 1;
            let mut y = h.clone();
            for (i, layer) in block.layers.iter().enumerate() {
                y = if i < last {
                    conv_bn_relu6(ops, layer, &y)?
                } else {
                    let (name, c, b) = layer;
                    ops.conv2d_batch_norm(name, c, b, &y)?
                };
            }
            return if block.residual {
                ops.add(h, &y)
            } else {
                Ok(y)
            };
        }
        match k - nb {
            1 => conv_bn_relu6(ops, &self.last, h),
            2 => ops.global_avg_pool(h),
            3 => ops.linear("classifier.1", &self.classifier, h),
            _ => bail!("stage {k} out of range"),
        }
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        super::check_image_batch(x, self.config.in_channels, 1, "MobileNetV2")
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(MobileNetV2);
super::weight_loaders!(MobileNetV2, MobileNetV2Config);
