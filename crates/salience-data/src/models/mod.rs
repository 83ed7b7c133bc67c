//! candle-nn models built from a [`candle_nn::VarBuilder`] (so they load
//! from safetensors, train from a `VarMap`, or rebuild from any weight
//! map), implementing [`salience_explain::Classifier`] and
//! [`salience_explain::LayerSplit`].
//!
//! * [`SmallCnn`]: Fashion-MNIST, 1×28×28 → 10.
//! * [`ResNet`] with [`ResNetConfig::small`]: the localization set,
//!   3×64×64 → 10; with [`ResNetConfig::resnet18`]: torchvision's
//!   ResNet-18 layout and names, 3×224×224 → 1000.
//! * [`init`]: seeded weights (never candle's RNG).

pub mod init;
pub mod resnet;
pub mod small_cnn;

pub use resnet::{ResNet, ResNetConfig, Stem};
pub use small_cnn::{SmallCnn, SMALL_CNN_LAYERS};
