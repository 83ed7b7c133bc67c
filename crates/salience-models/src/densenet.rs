//! torchvision's DenseNet (Huang et al. 2017): [`DenseNetConfig::densenet121`]
//! and any growth rate / block configuration.
//!
//! Tensor names are torchvision's: `features.conv0`, `features.norm0`,
//! `features.denseblock{i}.denselayer{j}.{norm1,conv1,norm2,conv2}`,
//! `features.transition{i}.{norm,conv}`, `features.norm5`, `classifier`.
//! (Checkpoints of torchvision's old layout, `norm.1` / `conv.1`, must be
//! renamed first, as torchvision itself does when loading them.)
//!
//! The forward pass is written once, as the stages `features.conv0`
//! (convolution, batch norm, ReLU), `features.pool0`,
//! `features.denseblock{i}` and `features.transition{i}`,
//! `features.norm5` (the batch norm's output, where CAMs usually look),
//! `avgpool` (ReLU, global average pooling) and `classifier`, over
//! [`LayerOps`]. Each dense layer is BN – ReLU – 1×1 conv – BN – ReLU –
//! 3×3 conv on the concatenation of all earlier outputs of its block.
//!
//! **Rule-based explainers.** Only `conv0` + `norm0` is a convolution
//! followed by a batch norm ([`LayerOps::conv2d_batch_norm`], canonized);
//! every other batch norm comes *before* its ReLU and convolution
//! (pre-activation), so it cannot be merged into a convolution, and runs
//! as [`LayerOps::batch_norm`]: an affine map with its plain gradient.
//! DeepLIFT (linear rule on affine maps) and Guided Backprop are exact
//! and run. **LRP does not**: no LRP rule is defined for a batch norm that
//! cannot be canonized (its shift would absorb or create relevance, and
//! its plain gradient is not a rule), so [`Lrp`](salience_explain::Lrp)
//! (any composite) and AttnLRP on a DenseNet fail with an error naming
//! the batch norms ([`salience_core::SalienceError::Unsupported`], its
//! reason starting with [`PRE_ACTIVATION_LRP`]) before running, instead
//! of returning a map that looks right.

use candle_core::{bail, Device, Tensor};
use candle_nn::{BatchNorm, Conv2d, Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::rules::LayerOps;

/// The shape of a [`DenseNet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseNetConfig {
    /// Input channels (3).
    pub in_channels: usize,
    /// Output channels of `conv0`.
    pub init_features: usize,
    /// Channels each dense layer adds.
    pub growth_rate: usize,
    /// The bottleneck width factor (the 1×1 convolution outputs
    /// `bn_size · growth_rate` channels).
    pub bn_size: usize,
    /// Dense layers per block.
    pub blocks: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
}

impl DenseNetConfig {
    /// torchvision's `densenet121`: 64 initial features, growth 32,
    /// bottleneck 4, blocks of 6, 12, 24, 16 layers.
    ///
    /// ```
    /// use salience_models::DenseNetConfig;
    /// assert_eq!(DenseNetConfig::densenet121(1000).num_parameters(), 7_978_856);
    /// ```
    pub fn densenet121(num_classes: usize) -> Self {
        DenseNetConfig {
            in_channels: 3,
            init_features: 64,
            growth_rate: 32,
            bn_size: 4,
            blocks: vec![6, 12, 24, 16],
            num_classes,
        }
    }

    /// For every block: its input channels and, for a transition after
    /// it, the transition's output channels; then the final channels.
    fn widths(&self) -> (Vec<(usize, Option<usize>)>, usize) {
        let mut c = self.init_features;
        let mut v = Vec::new();
        for (i, &n) in self.blocks.iter().enumerate() {
            let cin = c;
            c += n * self.growth_rate;
            let t = (i + 1 < self.blocks.len()).then_some(c / 2);
            v.push((cin, t));
            if let Some(t) = t {
                c = t;
            }
        }
        (v, c)
    }

    /// The stage names.
    ///
    /// ```
    /// let n = salience_models::DenseNetConfig::densenet121(1000).layer_names();
    /// assert_eq!(n[..3], ["features.conv0", "features.pool0", "features.denseblock1"]);
    /// assert_eq!(n[n.len() - 4..], ["features.denseblock4", "features.norm5", "avgpool", "classifier"]);
    /// ```
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["features.conv0".to_string(), "features.pool0".into()];
        for i in 1..=self.blocks.len() {
            v.push(format!("features.denseblock{i}"));
            if i < self.blocks.len() {
                v.push(format!("features.transition{i}"));
            }
        }
        v.extend([
            "features.norm5".into(),
            "avgpool".into(),
            "classifier".into(),
        ]);
        v
    }

    /// The names and shapes of all tensors, in torchvision's naming.
    ///
    /// ```
    /// let s = salience_models::DenseNetConfig::densenet121(1000).tensor_shapes();
    /// assert!(s.contains(&("features.denseblock4.denselayer16.conv1.weight".to_string(), vec![128, 992, 1, 1])));
    /// assert!(s.contains(&("classifier.weight".to_string(), vec![1000, 1024])));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        let bn = |v: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize| {
            for leaf in ["weight", "bias", "running_mean", "running_var"] {
                v.push((format!("{p}.{leaf}"), vec![c]));
            }
        };
        let f0 = self.init_features;
        v.push((
            "features.conv0.weight".into(),
            vec![f0, self.in_channels, 7, 7],
        ));
        bn(&mut v, "features.norm0", f0);
        let (widths, last) = self.widths();
        let mid = self.bn_size * self.growth_rate;
        for (i, (&n, &(cin, t))) in self.blocks.iter().zip(&widths).enumerate() {
            for j in 0..n {
                let p = format!("features.denseblock{}.denselayer{}", i + 1, j + 1);
                let c = cin + j * self.growth_rate;
                bn(&mut v, &format!("{p}.norm1"), c);
                v.push((format!("{p}.conv1.weight"), vec![mid, c, 1, 1]));
                bn(&mut v, &format!("{p}.norm2"), mid);
                v.push((
                    format!("{p}.conv2.weight"),
                    vec![self.growth_rate, mid, 3, 3],
                ));
            }
            if let Some(t) = t {
                let p = format!("features.transition{}", i + 1);
                let c = cin + n * self.growth_rate;
                bn(&mut v, &format!("{p}.norm"), c);
                v.push((format!("{p}.conv.weight"), vec![t, c, 1, 1]));
            }
        }
        bn(&mut v, "features.norm5", last);
        v.push(("classifier.weight".into(), vec![self.num_classes, last]));
        v.push(("classifier.bias".into(), vec![self.num_classes]));
        v
    }

    /// The number of trainable parameters (every tensor except batch-norm
    /// running statistics).
    pub fn num_parameters(&self) -> usize {
        super::count_parameters(&self.tensor_shapes())
    }

    fn validate(&self) -> candle_core::Result<()> {
        if self.blocks.is_empty()
            || self.blocks.contains(&0)
            || self.in_channels == 0
            || self.init_features == 0
            || self.growth_rate == 0
            || self.bn_size == 0
            || self.num_classes == 0
        {
            bail!("DenseNetConfig: every size must be at least 1 and there must be a block ({self:?})");
        }
        Ok(())
    }
}

/// A pre-activation dense layer: BN – ReLU – 1×1 conv – BN – ReLU – 3×3
/// conv.
#[derive(Debug, Clone)]
struct DenseLayer {
    prefix: String,
    norm1: BatchNorm,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
}

/// A transition: BN – ReLU – 1×1 conv – 2×2 average pool.
#[derive(Debug, Clone)]
struct Transition {
    prefix: String,
    norm: BatchNorm,
    conv: Conv2d,
}

/// The start of the reason of the [`salience_core::SalienceError::Unsupported`]
/// that [`Lrp`](salience_explain::Lrp) (and AttnLRP) on a [`DenseNet`]
/// return: its pre-activation batch norms have no LRP rule (see the module
/// docs).
pub const PRE_ACTIVATION_LRP: &str = "DenseNet's pre-activation batch norms have no LRP rule";

/// The whole reason: [`PRE_ACTIVATION_LRP`], which batch norms, and what
/// to use instead.
fn pre_activation_lrp_reason() -> String {
    format!(
        "{PRE_ACTIVATION_LRP} (`features.denseblock*.denselayer*.norm1/norm2`, \
         `features.transition*.norm`, `features.norm5` come before their ReLU and \
         convolution, so they cannot be canonized into one, and no LRP rule \
         conserves relevance through their shift); use DeepLIFT, Guided Backprop or \
         a gradient method on DenseNet"
    )
}

/// Whether `ops` are LRP's. Of the rule-based ops only LRP's replace
/// GELU's gradient (by the identity rule, `gelu(x) / x`: 0.841 at
/// `x = 1`), the others keep its plain derivative (1.083 there); a probe
/// on one scalar, independent of the network.
fn is_lrp(ops: &dyn LayerOps) -> candle_core::Result<bool> {
    let x = candle_core::Var::new(&[1.0f32], &Device::Cpu)?;
    let grads = ops.gelu(x.as_tensor())?.sum_all()?.backward()?;
    let slope = match grads.get(x.as_tensor()) {
        Some(g) => g.to_vec1::<f32>()?.first().copied().unwrap_or(0.0),
        None => return Ok(false),
    };
    Ok((slope - 0.841_344_7).abs() < 1e-3)
}

/// BN – ReLU – conv through `ops`, the batch norm named `bn`, the
/// convolution `conv_name`.
fn bn_relu_conv(
    ops: &dyn LayerOps,
    (bn_name, bn): (&str, &BatchNorm),
    (conv_name, conv): (&str, &Conv2d),
    x: &Tensor,
) -> candle_core::Result<Tensor> {
    ops.conv2d(
        conv_name,
        conv,
        &ops.relu(&ops.batch_norm(bn_name, bn, x)?)?,
    )
}

/// DenseNet (see the module docs): a
/// [`Classifier`](salience_explain::Classifier), a
/// [`LayerSplit`](salience_explain::LayerSplit) at every stage of
/// [`DenseNetConfig::layer_names`] and a
/// [`RuleForward`](salience_explain::RuleForward) model.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{DenseNet, DenseNetConfig};
/// use salience_explain::{Classifier, LayerSplit};
/// let c = DenseNetConfig { init_features: 8, growth_rate: 4, bn_size: 2, blocks: vec![1, 2], ..DenseNetConfig::densenet121(3) };
/// let m = DenseNet::seeded(&c, 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((1, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[1, 3]);
/// // 8 + 4 = 12 channels, halved by the transition, + 2·4.
/// assert_eq!(m.activations(&x, "features.norm5").unwrap().dims(), &[1, 14, 4, 4]);
/// ```
#[derive(Debug, Clone)]
pub struct DenseNet {
    config: DenseNetConfig,
    conv0: Conv2d,
    norm0: BatchNorm,
    blocks: Vec<Vec<DenseLayer>>,
    transitions: Vec<Transition>,
    norm5: BatchNorm,
    classifier: Linear,
    device: Device,
}

impl DenseNet {
    /// Builds the network described by `config` from `vb` (torchvision
    /// names, see the module docs).
    pub fn new(vb: VarBuilder, config: &DenseNetConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let f = vb.pp("features");
        let f0 = config.init_features;
        let conv0 = super::conv(config.in_channels, f0, (7, 2, 3), 1, false, f.pp("conv0"))?;
        let norm0 = super::batch_norm(f0, f.pp("norm0"))?;
        let (widths, last) = config.widths();
        let (g, mid) = (config.growth_rate, config.bn_size * config.growth_rate);
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (i, (&n, &(cin, t))) in config.blocks.iter().zip(&widths).enumerate() {
            let mut layers = Vec::with_capacity(n);
            for j in 0..n {
                let prefix = format!("features.denseblock{}.denselayer{}", i + 1, j + 1);
                let vl = vb.pp(&prefix);
                let c = cin + j * g;
                layers.push(DenseLayer {
                    norm1: super::batch_norm(c, vl.pp("norm1"))?,
                    conv1: super::conv(c, mid, (1, 1, 0), 1, false, vl.pp("conv1"))?,
                    norm2: super::batch_norm(mid, vl.pp("norm2"))?,
                    conv2: super::conv(mid, g, (3, 1, 1), 1, false, vl.pp("conv2"))?,
                    prefix,
                });
            }
            blocks.push(layers);
            if let Some(t) = t {
                let prefix = format!("features.transition{}", i + 1);
                let vt = vb.pp(&prefix);
                let c = cin + n * g;
                transitions.push(Transition {
                    norm: super::batch_norm(c, vt.pp("norm"))?,
                    conv: super::conv(c, t, (1, 1, 0), 1, false, vt.pp("conv"))?,
                    prefix,
                });
            }
        }
        Ok(DenseNet {
            config: config.clone(),
            conv0,
            norm0,
            blocks,
            transitions,
            norm5: super::batch_norm(last, f.pp("norm5"))?,
            classifier: candle_nn::linear(last, config.num_classes, vb.pp("classifier"))?,
            device: vb.device().clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DenseNetConfig {
        &self.config
    }

    fn dense_block(&self, i: usize, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let mut features = x.clone();
        for l in &self.blocks[i] {
            let p = &l.prefix;
            let h = bn_relu_conv(
                ops,
                (&format!("{p}.norm1"), &l.norm1),
                (&format!("{p}.conv1"), &l.conv1),
                &features,
            )?;
            let h = bn_relu_conv(
                ops,
                (&format!("{p}.norm2"), &l.norm2),
                (&format!("{p}.conv2"), &l.conv2),
                &h,
            )?;
            features = Tensor::cat(&[&features, &h], 1)?;
        }
        Ok(features)
    }
}

impl StagedForward for DenseNet {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn lrp_refusal(&self) -> Option<String> {
        Some(pre_activation_lrp_reason())
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let nb = self.blocks.len();
        match k {
            0 => {
                // Checked before any pre-activation batch norm runs.
                // (LRP asks `lrp_refusal` first; this guards a direct
                // `forward_with` with LRP's ops.)
                if is_lrp(ops)? {
                    bail!("{}", pre_activation_lrp_reason());
                }
                ops.relu(&ops.conv2d_batch_norm("features.conv0", &self.conv0, &self.norm0, h)?)
            }
            1 => ops.max_pool2d_strided(h, 3, 2, 1),
            // Block i at 2 + 2i, transition i at 3 + 2i.
            k if k < 2 * nb + 1 && k % 2 == 0 => self.dense_block((k - 2) / 2, h, ops),
            k if k < 2 * nb + 1 => {
                let t = &self.transitions[(k - 3) / 2];
                let p = &t.prefix;
                let y = bn_relu_conv(
                    ops,
                    (&format!("{p}.norm"), &t.norm),
                    (&format!("{p}.conv"), &t.conv),
                    h,
                )?;
                ops.avg_pool2d(&y, 2)
            }
            k if k == 2 * nb + 1 => ops.batch_norm("features.norm5", &self.norm5, h),
            k if k == 2 * nb + 2 => ops.global_avg_pool(&ops.relu(h)?),
            k if k == 2 * nb + 3 => ops.linear("classifier", &self.classifier, h),
            _ => bail!("stage {k} out of range"),
        }
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        super::check_image_batch(x, self.config.in_channels, 1, "the DenseNet")?;
        // The transitions' 2×2 average pools need even sizes: after the
        // stem (÷4) each of the nb − 1 transitions halves the map.
        let (h, w) = (x.dims()[2], x.dims()[3]);
        let stem = |s: usize| (s + 6 - 7) / 2 + 1;
        let pool = |s: usize| (s + 2 - 3) / 2 + 1;
        for s in [h, w] {
            let mut m = pool(stem(s));
            for _ in 1..self.blocks.len() {
                if m % 2 != 0 {
                    bail!("the DenseNet's transitions need even feature maps; a {h}x{w} input gives {m}");
                }
                m /= 2;
            }
        }
        Ok(())
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(DenseNet);
super::weight_loaders!(DenseNet, DenseNetConfig);
