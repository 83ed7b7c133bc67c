//! # salience-models
//!
//! Reference architectures and shipped trained weights for salience:
//! candle-nn models built from a [`candle_nn::VarBuilder`] (so they load
//! from safetensors, train from a `VarMap`, or rebuild from any weight
//! map), each written once as a [`salience_explain::StagedForward`], so
//! they implement [`salience_explain::Classifier`],
//! [`salience_explain::LayerSplit`] and the rule-based forward. The data
//! they are trained and checked on (Fashion-MNIST, the localization set,
//! image files, the shipped samples) is `salience-datasets`, which needs
//! no candle.
//!
//! * [`SmallCnn`]: Fashion-MNIST, 1×28×28 → 10.
//! * [`ResNet`] with [`ResNetConfig::small`]: the localization set,
//!   3×64×64 → 10; with [`ResNetConfig::resnet18`]: torchvision's
//!   ResNet-18 layout and names, 3×224×224 → 1000.
//! * [`VisionTransformer`]: timm's ViT / DeiT layout and names, with
//!   [`VitConfig::timm_vit_tiny_patch16_224`] and the shipped
//!   [`VitConfig::fashion_mnist`] shape.
//! * [`MlpMixer`]: timm's MLP-Mixer layout and names
//!   ([`MixerConfig::timm_mixer_b16_224`]).
//! * [`SwinTransformer`]: timm 1.0's Swin layout and names
//!   ([`SwinConfig::timm_swin_tiny_patch4_window7_224`]).
//! * [`FeatureCnn`]: torchvision's VGG ([`FeatureCnnConfig::vgg16`],
//!   [`FeatureCnnConfig::vgg11`], [`vgg`]) and AlexNet
//!   ([`FeatureCnnConfig::alexnet`], [`alexnet`]) layout and names.
//! * [`MobileNetV2`]: torchvision's MobileNetV2 layout and names
//!   ([`MobileNetV2Config::mobilenet_v2`]).
//! * [`DenseNet`]: torchvision's DenseNet layout and names
//!   ([`DenseNetConfig::densenet121`]).
//! * [`init`]: seeded weights (never candle's RNG).
//! * [`assets`]: the shipped trained weights, embedded — the small CNN,
//!   the small CNN trained on permuted labels, the small ResNet and the
//!   Fashion-MNIST ViT — so everything works offline.
//!
//! ```
//! use salience_explain::Classifier;
//! let sample = salience_datasets::assets::fashion_mnist_sample()?;
//! let cnn = salience_models::assets::small_cnn(&candle_core::Device::Cpu)?;
//! let x = sample.tensor(0, 8, cnn.device())?;
//! assert_eq!(cnn.logits(&x)?.dims(), &[8, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod alexnet;
pub mod assets;
pub mod densenet;
pub mod feature_cnn;
pub mod init;
pub mod mixer;
pub mod mobilenet;
pub mod resnet;
pub mod small_cnn;
pub mod swin;
pub mod vgg;
pub mod vit;

pub use densenet::{DenseNet, DenseNetConfig};
pub use feature_cnn::{ClassifierLayout, FeatureCnn, FeatureCnnConfig, FeatureLayer};
pub use mixer::{MixerConfig, MlpMixer};
pub use mobilenet::{InvertedResidualSetting, MobileNetV2, MobileNetV2Config};
pub use resnet::{BlockKind, ResNet, ResNetConfig, Stem};
pub use small_cnn::{SmallCnn, SMALL_CNN_LAYERS};
pub use swin::{SwinConfig, SwinTransformer};
pub use vit::{VisionTransformer, VitConfig, VitPool, MAX_VIT_DIM};

pub use salience_core::Result;

use candle_core::{DType, Device, Tensor};

/// Implements `seeded`, `from_safetensors_bytes` and `from_safetensors`
/// for a model type built by `new(vb, &config)` from a config with
/// `validate()` and `tensor_shapes()` (the torchvision-layout models).
macro_rules! weight_loaders {
    ($model:ty, $config:ty) => {
        impl $model {
            /// An untrained network with seeded weights (Kaiming normal
            /// convolutions and dense layers, unit batch-norm scales, zero
            /// biases; see [`crate::init`]); the configuration is
            /// checked first.
            pub fn seeded(
                config: &$config,
                seed: u64,
                device: &candle_core::Device,
            ) -> candle_core::Result<Self> {
                config.validate()?;
                let t = $crate::init::seeded_tensors(&config.tensor_shapes(), seed, device)?;
                Self::new(
                    candle_nn::VarBuilder::from_tensors(t, candle_core::DType::F32, device),
                    config,
                )
            }

            /// The network of `config` from safetensors `bytes` with
            /// torchvision's tensor names; `what` names the source in
            /// errors. Every tensor is checked against the configuration's
            /// `tensor_shapes` first (F32, exact shape; see
            /// [`crate::check_tensors`]): missing, unexpected and
            /// mismatched tensors are reported together, by name. Tensors
            /// named `*.num_batches_tracked` (torchvision's batch counters)
            /// are ignored.
            pub fn from_safetensors_bytes(
                bytes: &[u8],
                config: &$config,
                what: &str,
                device: &candle_core::Device,
            ) -> $crate::Result<Self> {
                config
                    .validate()
                    .map_err(salience_explain::model::convert::candle_error)?;
                $crate::load_checked(bytes, &config.tensor_shapes(), what, device, |vb| {
                    Self::new(vb, config)
                })
            }

            /// The network of `config` from a safetensors file, checked as
            /// in `from_safetensors_bytes` ([`salience_core::SalienceError::Io`] when
            /// the file cannot be read).
            pub fn from_safetensors(
                path: impl AsRef<std::path::Path>,
                config: &$config,
                device: &candle_core::Device,
            ) -> $crate::Result<Self> {
                let (bytes, what) = $crate::read_weights(path.as_ref())?;
                Self::from_safetensors_bytes(&bytes, config, &what, device)
            }
        }
    };
}
use std::collections::HashMap;
pub(crate) use weight_loaders;

/// Checks a loaded weight map against what a model expects: every
/// `expected` name must be present as an F32 tensor of exactly the
/// expected shape, and no other tensor may be present except names ending
/// in one of `ignored_suffixes` (e.g. torchvision's
/// `num_batches_tracked`). All problems are reported at once, by name, in
/// one [`salience_core::SalienceError::Format`] about `what`: missing tensors,
/// unexpected tensors, and tensors whose dtype or shape differ.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_models::check_tensors;
/// let mut t = std::collections::HashMap::new();
/// t.insert("w".to_string(), Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap());
/// t.insert("extra".to_string(), Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap());
/// let want = vec![("w".to_string(), vec![2, 3]), ("b".to_string(), vec![2])];
/// let e = check_tensors(&t, &want, &[], "model.safetensors").unwrap_err().to_string();
/// assert!(e.contains("missing: b") && e.contains("unexpected: extra"), "{e}");
/// ```
pub fn check_tensors(
    tensors: &HashMap<String, Tensor>,
    expected: &[(String, Vec<usize>)],
    ignored_suffixes: &[&str],
    what: &str,
) -> crate::Result<()> {
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (name, dims) in expected {
        match tensors.get(name) {
            None => missing.push(name.clone()),
            Some(t) if t.dtype() != DType::F32 || t.dims() != dims.as_slice() => {
                mismatched.push(format!(
                    "{name} is {:?} {:?}, expected F32 {dims:?}",
                    t.dtype(),
                    t.dims()
                ))
            }
            Some(_) => {}
        }
    }
    let mut unexpected: Vec<&String> = tensors
        .keys()
        .filter(|k| !expected.iter().any(|(n, _)| n == *k))
        .filter(|k| !ignored_suffixes.iter().any(|s| k.ends_with(s)))
        .collect();
    unexpected.sort();
    missing.sort();
    mismatched.sort();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing: {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        let names: Vec<&str> = unexpected.iter().map(|s| s.as_str()).collect();
        problems.push(format!("unexpected: {}", names.join(", ")));
    }
    if !mismatched.is_empty() {
        problems.push(format!("mismatched: {}", mismatched.join("; ")));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(salience_core::SalienceError::format(
            what,
            format!("the weights do not fit the model: {}", problems.join("; ")),
        ))
    }
}

/// Parses safetensors `bytes`, checks them with [`check_tensors`] and
/// returns a [`candle_nn::VarBuilder`] over the checked tensors.
pub(crate) fn checked_var_builder(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
    ignored_suffixes: &[&str],
    what: &str,
    device: &Device,
) -> crate::Result<candle_nn::VarBuilder<'static>> {
    let tensors = candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| salience_core::SalienceError::format(what, e.to_string()))?;
    check_tensors(&tensors, expected, ignored_suffixes, what)?;
    Ok(candle_nn::VarBuilder::from_tensors(
        tensors,
        DType::F32,
        device,
    ))
}

/// [`checked_var_builder`] (torchvision's `*.num_batches_tracked`
/// ignored), then `build` on the checked tensors: the shared loader of
/// the torchvision-layout models' `from_safetensors_bytes`.
pub(crate) fn load_checked<M>(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
    what: &str,
    device: &Device,
    build: impl FnOnce(candle_nn::VarBuilder<'static>) -> candle_core::Result<M>,
) -> crate::Result<M> {
    let vb = checked_var_builder(bytes, expected, &[".num_batches_tracked"], what, device)?;
    build(vb).map_err(salience_explain::model::convert::candle_error)
}

/// The bytes of a weights file and its name for errors
/// ([`salience_core::SalienceError::Io`] when it cannot be read).
pub(crate) fn read_weights(path: &std::path::Path) -> crate::Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(path)
        .map_err(|e| salience_core::SalienceError::io("reading", path.to_path_buf(), e))?;
    Ok((bytes, path.display().to_string()))
}

/// A batch norm over `c` channels with torchvision's `eps = 1e-5`.
pub(crate) fn batch_norm(
    c: usize,
    vb: candle_nn::VarBuilder,
) -> candle_core::Result<candle_nn::BatchNorm> {
    candle_nn::batch_norm(
        c,
        candle_nn::BatchNormConfig {
            eps: 1e-5,
            ..Default::default()
        },
        vb,
    )
}

/// A `cin → cout` convolution with a square `(kernel, stride, padding)`
/// window and `groups` channel groups, with or without a bias, loaded
/// from (or created in) `vb` as `weight` `[cout, cin / groups, k, k]`
/// and `bias`; run through [`salience_explain::ops::conv2d_layer`] by the
/// layer ops.
pub(crate) fn conv(
    cin: usize,
    cout: usize,
    (kernel, stride, padding): (usize, usize, usize),
    groups: usize,
    bias: bool,
    vb: candle_nn::VarBuilder,
) -> candle_core::Result<candle_nn::Conv2d> {
    let cfg = candle_nn::Conv2dConfig {
        padding,
        stride,
        groups,
        ..Default::default()
    };
    if bias {
        candle_nn::conv2d(cin, cout, kernel, cfg, vb)
    } else {
        candle_nn::conv2d_no_bias(cin, cout, kernel, cfg, vb)
    }
}

/// Checks an image batch `[N, channels, H, W]` with `H, W ≥ min`; the
/// error names `model`.
pub(crate) fn check_image_batch(
    x: &Tensor,
    channels: usize,
    min: usize,
    model: &str,
) -> candle_core::Result<()> {
    match x.dims() {
        [_, c, h, w] if *c == channels && *h >= min && *w >= min => Ok(()),
        d => candle_core::bail!(
            "{model} expects [N, {channels}, H, W] inputs (H, W >= {min}), got {d:?}"
        ),
    }
}

/// The number of trainable parameters among `shapes`: every tensor except
/// batch-norm running statistics.
pub(crate) fn count_parameters(shapes: &[(String, Vec<usize>)]) -> usize {
    shapes
        .iter()
        .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
        .map(|(_, d)| d.iter().product::<usize>())
        .sum()
}
