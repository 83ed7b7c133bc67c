//! candle-nn models built from a [`candle_nn::VarBuilder`] (so they load
//! from safetensors, train from a `VarMap`, or rebuild from any weight
//! map), implementing [`salience_explain::Classifier`] and
//! [`salience_explain::LayerSplit`].
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
//! * [`init`]: seeded weights (never candle's RNG).

pub mod init;
pub mod mixer;
pub mod resnet;
pub mod small_cnn;
pub mod swin;
pub mod vit;

pub use mixer::{MixerConfig, MlpMixer};
pub use resnet::{BlockKind, ResNet, ResNetConfig, Stem};
pub use small_cnn::{SmallCnn, SMALL_CNN_LAYERS};
pub use swin::{SwinConfig, SwinTransformer};
pub use vit::{VisionTransformer, VitConfig, VitPool, MAX_VIT_DIM};

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

/// Checks a loaded weight map against what a model expects: every
/// `expected` name must be present as an F32 tensor of exactly the
/// expected shape, and no other tensor may be present except names ending
/// in one of `ignored_suffixes` (e.g. torchvision's
/// `num_batches_tracked`). All problems are reported at once, by name, in
/// one [`crate::DataError::Format`] about `what`: missing tensors,
/// unexpected tensors, and tensors whose dtype or shape differ.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_data::models::check_tensors;
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
        Err(crate::DataError::format(
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
        .map_err(|e| crate::DataError::format(what, e.to_string()))?;
    check_tensors(&tensors, expected, ignored_suffixes, what)?;
    Ok(candle_nn::VarBuilder::from_tensors(
        tensors,
        DType::F32,
        device,
    ))
}
