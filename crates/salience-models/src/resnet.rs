//! ResNets with basic or bottleneck residual blocks in torchvision's
//! tensor layout: [`ResNetConfig::resnet18`] and [`ResNetConfig::resnet50`]
//! (ImageNet, 224×224, 1000 classes) and [`ResNetConfig::small`] (the
//! 64×64×3 localization set).
//!
//! Tensor names follow torchvision's `state_dict`: `conv1.weight`,
//! `bn1.{weight,bias,running_mean,running_var}`,
//! `layer{i}.{j}.conv{1,2[,3]}.weight`, `layer{i}.{j}.bn{1,2[,3]}.*`,
//! `layer{i}.{j}.downsample.0.weight`, `layer{i}.{j}.downsample.1.*`,
//! `fc.weight`, `fc.bias` (extra tensors such as `num_batches_tracked`
//! are ignored), so a torchvision ResNet-18 converted to safetensors
//! loads as is. Batch norm runs in inference mode (running statistics)
//! in [`Classifier::logits`]; [`ResNet::forward_t`] with `train = true`
//! uses batch statistics and updates the running ones, for training.
//!
//! The forward pass is written once, as the stages `stem`, `layer1` …
//! `layerK`, `avgpool`, `fc` over [`LayerOps`] ([`StagedForward`]; each
//! residual block lives inside its `layer` stage); the classifier, the
//! layer split at every stage and the rule forward pass of the rule-based
//! explainers (Guided Backprop, Deconvnet, DeepLIFT, LRP) are derived from
//! it. Every convolution + batch norm pair is one
//! [`LayerOps::conv2d_batch_norm`], named after the convolution (`conv1`,
//! `layer{i}.{j}.conv{1,2}`, `layer{i}.{j}.downsample.0`; the dense layer
//! is `fc`): the plain forward pass ([`PlainOps`]) folds the batch norm
//! into the convolution when the weights are constants (loaded or seeded
//! weights: one convolution op per pair, so the backward pass of an
//! attribution has no batch-norm nodes) and runs the two unfused when
//! they are `Var`s; the rule-based explainers' ops *canonize* it (the
//! batch norm merged into the convolution with [`fuse_conv_batch_norm`],
//! as Zennit's `ResNetCanonizer` does). Residual sums are [`LayerOps::add`] (LRP
//! splits relevance in proportion to the two branches' contributions),
//! the stem max pool is [`LayerOps::max_pool2d_strided`] (3×3 / stride 2 /
//! padding 1 for ResNet-18) and the head is
//! [`LayerOps::global_avg_pool`]. The canonized logits equal
//! [`Classifier::logits`] up to float rounding (the merged affine map
//! rounds differently).
//!
//! [`Classifier::logits`]: salience_explain::Classifier::logits
//! [`fuse_conv_batch_norm`]: salience_explain::rules::canonize::fuse_conv_batch_norm

use candle_core::{bail, Device, Tensor};
use candle_nn::{BatchNorm, Conv2d, Linear, VarBuilder};
use salience_explain::model::forward::{self, StagedForward};
use salience_explain::rules::{LayerOps, PlainOps, TrainOps};

/// The stem of a [`ResNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// ImageNet stem: 7×7 convolution stride 2 pad 3, BN, ReLU, 3×3 max
    /// pool stride 2 pad 1 (a 4× reduction).
    ImageNet,
    /// Small-image stem: 3×3 convolution pad 1 with the given stride, BN,
    /// ReLU, then a `pool × pool` max pool of stride `pool` (none when
    /// `pool <= 1`).
    Small {
        /// Stride of the stem convolution.
        stride: usize,
        /// Kernel and stride of the stem max pool (0 or 1: no pool).
        pool: usize,
    },
}

/// The residual block of a [`ResNet`] (torchvision's two kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// conv3×3 (stride) – BN – ReLU – conv3×3 – BN, plus the skip, ReLU
    /// (ResNet-18/34); a stage of width `w` outputs `w` channels.
    Basic,
    /// conv1×1 – BN – ReLU – conv3×3 (stride) – BN – ReLU – conv1×1 (4w) –
    /// BN, plus the skip, ReLU (ResNet-50/101/152, torchvision's "v1.5"
    /// with the stride on the 3×3); a stage of width `w` outputs `4w`.
    Bottleneck,
}

impl BlockKind {
    /// Output channels of a block of width `w`.
    pub fn out_channels(self, w: usize) -> usize {
        match self {
            BlockKind::Basic => w,
            BlockKind::Bottleneck => 4 * w,
        }
    }
}

/// The shape of a [`ResNet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Input channels (3).
    pub in_channels: usize,
    /// The stem.
    pub stem: Stem,
    /// Output channels of the stem.
    pub stem_channels: usize,
    /// Channels of each stage (`layer1`, `layer2`, ...); every stage after
    /// the first halves the resolution.
    pub widths: Vec<usize>,
    /// Residual blocks per stage.
    pub blocks: Vec<usize>,
    /// The kind of residual block.
    pub block: BlockKind,
    /// Number of classes.
    pub num_classes: usize,
}

impl ResNetConfig {
    /// torchvision's ResNet-18: ImageNet stem with 64 channels, stages of
    /// 64/128/256/512 channels with 2 blocks each, `num_classes` outputs
    /// (1000 for ImageNet).
    ///
    /// ```
    /// let c = salience_models::ResNetConfig::resnet18(1000);
    /// assert_eq!(c.widths, vec![64, 128, 256, 512]);
    /// ```
    pub fn resnet18(num_classes: usize) -> Self {
        ResNetConfig {
            in_channels: 3,
            stem: Stem::ImageNet,
            stem_channels: 64,
            widths: vec![64, 128, 256, 512],
            blocks: vec![2, 2, 2, 2],
            block: BlockKind::Basic,
            num_classes,
        }
    }

    /// torchvision's ResNet-50: ImageNet stem with 64 channels, bottleneck
    /// stages of width 64/128/256/512 (outputs 256 … 2048) with 3, 4, 6
    /// and 3 blocks.
    ///
    /// ```
    /// use salience_models::ResNetConfig;
    /// assert_eq!(ResNetConfig::resnet50(1000).num_parameters(), 25_557_032);
    /// ```
    pub fn resnet50(num_classes: usize) -> Self {
        ResNetConfig {
            blocks: vec![3, 4, 6, 3],
            block: BlockKind::Bottleneck,
            ..Self::resnet18(num_classes)
        }
    }

    /// The small ResNet of the localization set: 3×3 stride-2 stem with 16
    /// channels and no pool, three stages of 16/32/64 channels with 1, 1
    /// and 3 basic blocks, 10 classes (64×64 input → 32, 32, 16, 8 pixel
    /// feature maps at `stem`, `layer1`, `layer2`, `layer3`); 226 010
    /// parameters. Small enough to train on two CPU cores (see
    /// docs/data.md). The shipped weights were first trained with one
    /// block per stage (78 042 parameters), which saturated at ≈ 83.5 %
    /// accuracy; two identity-initialised blocks were then added to
    /// `layer3` and the whole net trained further. An earlier version had
    /// a 2×2 stem pool (16×16 maps after the stem); it learned the item's
    /// fine detail much more slowly.
    ///
    /// ```
    /// let c = salience_models::ResNetConfig::small();
    /// assert_eq!(c.blocks, vec![1, 1, 3]);
    /// assert_eq!(c.num_parameters(), 226_010);
    /// ```
    pub fn small() -> Self {
        ResNetConfig {
            in_channels: 3,
            stem: Stem::Small { stride: 2, pool: 1 },
            stem_channels: 16,
            widths: vec![16, 32, 64],
            blocks: vec![1, 1, 3],
            block: BlockKind::Basic,
            num_classes: 10,
        }
    }

    /// The number of trainable parameters: every tensor of
    /// [`ResNetConfig::tensor_shapes`] except the batch-norm running
    /// statistics.
    ///
    /// ```
    /// use salience_models::ResNetConfig;
    /// assert_eq!(ResNetConfig::resnet18(1000).num_parameters(), 11_689_512);
    /// ```
    pub fn num_parameters(&self) -> usize {
        super::count_parameters(&self.tensor_shapes())
    }

    fn validate(&self) -> candle_core::Result<()> {
        if self.widths.is_empty() || self.widths.len() != self.blocks.len() {
            bail!(
                "ResNetConfig: widths {:?} and blocks {:?} must be non-empty and of equal length",
                self.widths,
                self.blocks
            );
        }
        if self.blocks.contains(&0)
            || self.widths.contains(&0)
            || self.in_channels == 0
            || self.stem_channels == 0
            || self.num_classes == 0
        {
            bail!("ResNetConfig: every size must be at least 1 ({self:?})");
        }
        if let Stem::Small { stride: 0, .. } = self.stem {
            bail!("ResNetConfig: the stem stride must be at least 1");
        }
        Ok(())
    }

    /// The names and shapes of all tensors, in torchvision's naming.
    ///
    /// ```
    /// let s = salience_models::ResNetConfig::resnet18(1000).tensor_shapes();
    /// let n: usize = s.iter().map(|(_, d)| d.iter().product::<usize>()).sum();
    /// assert_eq!(s.iter().find(|(k, _)| k == "layer2.0.downsample.0.weight").unwrap().1, vec![128, 64, 1, 1]);
    /// assert_eq!(n, 11_699_112); // parameters + batch-norm running statistics
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        let bn = |v: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize| {
            for leaf in ["weight", "bias", "running_mean", "running_var"] {
                v.push((format!("{p}.{leaf}"), vec![c]));
            }
        };
        let k = match self.stem {
            Stem::ImageNet => 7,
            Stem::Small { .. } => 3,
        };
        v.push((
            "conv1.weight".into(),
            vec![self.stem_channels, self.in_channels, k, k],
        ));
        bn(&mut v, "bn1", self.stem_channels);
        let mut cin = self.stem_channels;
        for (s, (&w, &nb)) in self.widths.iter().zip(&self.blocks).enumerate() {
            for b in 0..nb {
                let p = format!("layer{}.{b}", s + 1);
                let stride = if b == 0 && s > 0 { 2 } else { 1 };
                let out = self.block.out_channels(w);
                for (i, (co, ci, k, _)) in
                    block_convs(self.block, cin, w, 1).into_iter().enumerate()
                {
                    v.push((format!("{p}.conv{}.weight", i + 1), vec![co, ci, k, k]));
                    bn(&mut v, &format!("{p}.bn{}", i + 1), co);
                }
                if stride != 1 || cin != out {
                    v.push((format!("{p}.downsample.0.weight"), vec![out, cin, 1, 1]));
                    bn(&mut v, &format!("{p}.downsample.1"), out);
                }
                cin = out;
            }
        }
        v.push(("fc.weight".into(), vec![self.num_classes, cin]));
        v.push(("fc.bias".into(), vec![self.num_classes]));
        v
    }

    /// The layer names of the network: `stem`, `layer1` … `layerK`,
    /// `avgpool`, `fc`.
    ///
    /// ```
    /// let n = salience_models::ResNetConfig::small().layer_names();
    /// assert_eq!(n, vec!["stem", "layer1", "layer2", "layer3", "avgpool", "fc"]);
    /// ```
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["stem".to_string()];
        v.extend((1..=self.widths.len()).map(|i| format!("layer{i}")));
        v.push("avgpool".into());
        v.push("fc".into());
        v
    }
}

/// A residual block (see [`BlockKind`]): its convolution + batch-norm
/// pairs `conv{i}` / `bn{i}`, ReLU between them, plus the (projected)
/// input, ReLU.
#[derive(Debug, Clone)]
struct ResBlock {
    convs: Vec<(Conv2d, BatchNorm)>,
    downsample: Option<(Conv2d, BatchNorm)>,
}

/// The convolutions `(out, in, kernel, stride)` of a block of `kind` and
/// width `w` with `cin` input channels and the block's `stride`.
fn block_convs(
    kind: BlockKind,
    cin: usize,
    w: usize,
    stride: usize,
) -> Vec<(usize, usize, usize, usize)> {
    match kind {
        BlockKind::Basic => vec![(w, cin, 3, stride), (w, w, 3, 1)],
        BlockKind::Bottleneck => vec![(w, cin, 1, 1), (w, w, 3, stride), (4 * w, w, 1, 1)],
    }
}

fn bn(c: usize, vb: VarBuilder) -> candle_core::Result<BatchNorm> {
    super::batch_norm(c, vb)
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    super::conv(cin, cout, (k, stride, padding), 1, false, vb)
}

impl ResBlock {
    fn new(
        kind: BlockKind,
        cin: usize,
        w: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let out = kind.out_channels(w);
        let downsample = if stride != 1 || cin != out {
            Some((
                conv(cin, out, 1, stride, 0, vb.pp("downsample.0"))?,
                bn(out, vb.pp("downsample.1"))?,
            ))
        } else {
            None
        };
        let convs = block_convs(kind, cin, w, stride)
            .into_iter()
            .enumerate()
            .map(|(i, (co, ci, k, st))| {
                Ok((
                    conv(ci, co, k, st, k / 2, vb.pp(format!("conv{}", i + 1)))?,
                    bn(co, vb.pp(format!("bn{}", i + 1)))?,
                ))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(ResBlock { convs, downsample })
    }

    /// The block written with [`LayerOps`]; `prefix` is `layer{i}.{j}`.
    fn forward(&self, prefix: &str, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        let last = self.convs.len() - 1;
        for (i, (c, b)) in self.convs.iter().enumerate() {
            h = ops.conv2d_batch_norm(&format!("{prefix}.conv{}", i + 1), c, b, &h)?;
            if i < last {
                h = ops.relu(&h)?;
            }
        }
        let skip = match &self.downsample {
            Some((c, b)) => ops.conv2d_batch_norm(&format!("{prefix}.downsample.0"), c, b, x)?,
            None => x.clone(),
        };
        ops.relu(&ops.add(&h, &skip)?)
    }
}

/// A ResNet with basic or bottleneck blocks (see the module docs), a
/// [`Classifier`](salience_explain::Classifier), a
/// [`LayerSplit`](salience_explain::LayerSplit) at `stem`, `layer1` …
/// `layerK`, `avgpool`, `fc`, and a
/// [`RuleForward`](salience_explain::RuleForward) model.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{ResNet, ResNetConfig};
/// use salience_explain::{Classifier, LayerSplit};
/// let m = ResNet::seeded(&ResNetConfig::small(), 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 10]);
/// assert_eq!(m.activations(&x, "layer3").unwrap().dims(), &[2, 64, 8, 8]);
/// ```
#[derive(Debug, Clone)]
pub struct ResNet {
    config: ResNetConfig,
    conv1: Conv2d,
    bn1: BatchNorm,
    layers: Vec<Vec<ResBlock>>,
    fc: Linear,
    device: Device,
}

impl ResNet {
    /// Builds the network described by `config` from `vb` (torchvision
    /// names, see the module docs).
    pub fn new(vb: VarBuilder, config: &ResNetConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let conv1 = match config.stem {
            Stem::ImageNet => conv(
                config.in_channels,
                config.stem_channels,
                7,
                2,
                3,
                vb.pp("conv1"),
            )?,
            Stem::Small { stride, .. } => conv(
                config.in_channels,
                config.stem_channels,
                3,
                stride,
                1,
                vb.pp("conv1"),
            )?,
        };
        let bn1 = bn(config.stem_channels, vb.pp("bn1"))?;
        let mut cin = config.stem_channels;
        let mut layers = Vec::with_capacity(config.widths.len());
        for (s, (&w, &nb)) in config.widths.iter().zip(&config.blocks).enumerate() {
            let vs = vb.pp(format!("layer{}", s + 1));
            let mut blocks = Vec::with_capacity(nb);
            for b in 0..nb {
                let stride = if b == 0 && s > 0 { 2 } else { 1 };
                blocks.push(ResBlock::new(
                    config.block,
                    cin,
                    w,
                    stride,
                    vs.pp(b.to_string()),
                )?);
                cin = config.block.out_channels(w);
            }
            layers.push(blocks);
        }
        let fc = candle_nn::linear(cin, config.num_classes, vb.pp("fc"))?;
        Ok(ResNet {
            config: config.clone(),
            conv1,
            bn1,
            layers,
            fc,
            device: vb.device().clone(),
        })
    }

    /// torchvision's ResNet-18 (1000 classes) from a safetensors file with
    /// torchvision's tensor names, checked as in
    /// [`ResNet::from_safetensors_bytes`].
    ///
    /// ```
    /// use salience_models::{ResNet, ResNetConfig};
    /// let bytes = salience_models::assets::RESNET_SMALL_SAFETENSORS;
    /// let dev = candle_core::Device::Cpu;
    /// assert!(ResNet::from_safetensors_bytes(bytes, &ResNetConfig::small(), "r", &dev).is_ok());
    /// let e = ResNet::from_safetensors_bytes(bytes, &ResNetConfig::resnet18(10), "r", &dev);
    /// assert!(e.unwrap_err().to_string().contains("missing: "));
    /// ```
    ///
    /// ```
    /// let e = salience_models::ResNet::resnet18_from_safetensors("/nonexistent.safetensors", &candle_core::Device::Cpu);
    /// assert!(e.is_err());
    /// ```
    pub fn resnet18_from_safetensors(
        path: impl AsRef<std::path::Path>,
        device: &Device,
    ) -> crate::Result<Self> {
        let (bytes, what) = super::read_weights(path.as_ref())?;
        Self::from_safetensors_bytes(&bytes, &ResNetConfig::resnet18(1000), &what, device)
    }

    /// The configuration.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// The logits with batch norm in training mode (`train = true`: batch
    /// statistics, running statistics updated; [`TrainOps`]) or inference
    /// mode ([`PlainOps`]).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let ops: &dyn LayerOps = if train { &TrainOps } else { &PlainOps };
        forward::run(self, x, 0, self.layers.len() + 3, ops)
    }
}

/// The forward pass, written once (see the module docs).
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_models::{ResNet, ResNetConfig};
/// use salience_explain::{Classifier, DeepLift, LayerOps, RuleForward};
/// let m = ResNet::seeded(&ResNetConfig::small(), 0, &Device::Cpu).unwrap();
/// let x = Tensor::full(0.5f32, (1, 3, 64, 64), &Device::Cpu).unwrap();
/// // The canonized forward pass (batch norms merged into the convolutions).
/// struct Canonized;
/// impl LayerOps for Canonized {}
/// let a: Vec<Vec<f32>> = m.logits(&x).unwrap().to_vec2().unwrap();
/// let b: Vec<Vec<f32>> = m.forward_with(&x, &Canonized).unwrap().to_vec2().unwrap();
/// assert!(a[0].iter().zip(&b[0]).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + p.abs())));
/// let xs = ndarray::Array4::<f32>::from_elem((1, 3, 64, 64), 0.5).into_dyn();
/// let out = DeepLift::new(&m).explain_with_delta(xs.view(), &[1], Seeds::base(0)).unwrap();
/// assert!(out.delta[0].abs() <= 1e-4 * (1.0 + out.output_difference[0].abs()));
/// ```
impl StagedForward for ResNet {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let nl = self.layers.len();
        if k == 0 {
            let h = ops.relu(&ops.conv2d_batch_norm("conv1", &self.conv1, &self.bn1, h)?)?;
            return match self.config.stem {
                Stem::ImageNet => ops.max_pool2d_strided(&h, 3, 2, 1),
                Stem::Small { pool, .. } if pool > 1 => ops.max_pool2d_strided(&h, pool, pool, 0),
                Stem::Small { .. } => Ok(h),
            };
        }
        if k <= nl {
            let mut h = h.clone();
            for (b, block) in self.layers[k - 1].iter().enumerate() {
                h = block.forward(&format!("layer{k}.{b}"), &h, ops)?;
            }
            return Ok(h);
        }
        if k == nl + 1 {
            return ops.global_avg_pool(h);
        }
        if k == nl + 2 {
            return ops.linear("fc", &self.fc, h);
        }
        bail!("stage {k} out of range")
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        super::check_image_batch(x, self.config.in_channels, 8, "the ResNet")
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(ResNet);
super::weight_loaders!(ResNet, ResNetConfig);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use salience_explain::{Classifier, RuleForward};

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn input() -> Tensor {
        let v: Vec<f32> = (0..2 * 3 * 16 * 16)
            .map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.3)
            .collect();
        Tensor::from_vec(v, (2, 3, 16, 16), &Device::Cpu).unwrap()
    }

    #[test]
    fn plain_ops_are_the_classifier_and_rule_ops_canonize() {
        let m = ResNet::seeded(&ResNetConfig::small(), 3, &Device::Cpu).unwrap();
        let x = input();
        let logits = flat(&m.logits(&x).unwrap());
        assert_eq!(logits, flat(&m.forward_with(&x, &PlainOps).unwrap()));
        assert_eq!(logits, flat(&m.forward_t(&x, false).unwrap()));
        struct Canonized;
        impl LayerOps for Canonized {}
        let fused = flat(&m.forward_with(&x, &Canonized).unwrap());
        for (p, q) in logits.iter().zip(&fused) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }

    #[test]
    fn training_mode_uses_and_updates_batch_statistics() {
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = ResNet::new(vb, &ResNetConfig::small()).unwrap();
        let x = input();
        let z = salience_explain::ops::conv2d_layer(&m.conv1, &x).unwrap();
        let batch_mean = flat(&z.mean((0, 2, 3)).unwrap());
        assert_eq!(flat(m.bn1.running_mean()), vec![0.0; 16]);
        let train = flat(&m.forward_t(&x, true).unwrap());
        // candle's momentum 0.1: running mean = 0.9 · 0 + 0.1 · batch mean.
        for (r, b) in flat(m.bn1.running_mean()).iter().zip(&batch_mean) {
            assert!((r - 0.1 * b).abs() <= 1e-5 * (1.0 + b.abs()), "{r} vs {b}");
        }
        let eval = flat(&m.forward_t(&x, false).unwrap());
        assert_ne!(train, eval);
    }
}
