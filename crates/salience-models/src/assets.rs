//! Trained weights shipped with the crate (`assets/`), embedded in the
//! binary: they need no dataset, network or file system at run time.
//! `assets/README.md` gives the command that trained each file. The data
//! samples they are checked on are `salience-datasets`' `assets`.
//!
//! | asset | what |
//! |---|---|
//! | [`small_cnn`] | the trained [`SmallCnn`] (Fashion-MNIST) |
//! | [`small_cnn_permuted_labels`] | a [`SmallCnn`] trained on randomly permuted Fashion-MNIST labels (data randomization test) |
//! | [`resnet_small`] | the trained small [`ResNet`] (localization set) |
//! | [`vgg_small_loc`] | the trained small VGG ([`FeatureCnnConfig::small_vgg`], localization set): the localization reproductions' second architecture |

use crate::{
    FeatureCnn, FeatureCnnConfig, ResNet, ResNetConfig, SmallCnn, VisionTransformer, VitConfig,
};
use candle_core::Device;
use salience_core::Result;

/// Seed of the generated training stream of the shipped small ResNet
/// (items from the training split).
pub const RESNET_TRAIN_SEED: u64 = 17;

/// Seed of the held-out generated set the small ResNet's accuracy is
/// reported on (items from the test split).
pub const RESNET_TEST_SEED: u64 = 4242;

/// Accuracy of the shipped small ResNet ([`resnet_small`]) on the first
/// 2000 images of the held-out generated stream ([`RESNET_TEST_SEED`],
/// items from the Fashion-MNIST test split,
/// `salience_datasets::LocalizationConfig::easy`), in inference mode, as printed by
/// `examples/train.rs` when the shipped weights were trained. Reports
/// quote it; `tests/assets.rs` re-measures it on 1000 fresh held-out
/// images generated from the items of
/// `salience_datasets::assets::fashion_mnist_sample_gray`.
pub const RESNET_SMALL_HELD_OUT_ACCURACY: f64 = 0.8535;

/// The trained small CNN's weights (safetensors).
pub const SMALL_CNN_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/small_cnn.safetensors"
));

/// The weights of the small CNN trained on permuted labels (safetensors,
/// same names as [`SMALL_CNN_SAFETENSORS`]).
pub const SMALL_CNN_PERMUTED_LABELS_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/small_cnn_permuted_labels.safetensors"
));

/// The trained small ResNet's weights (safetensors, torchvision names).
pub const RESNET_SMALL_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/resnet_small.safetensors"
));

/// The trained small VGG's weights ([`FeatureCnnConfig::small_vgg`],
/// safetensors, torchvision's `features.*` / `classifier.*` names).
pub const VGG_SMALL_LOC_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/vgg_small_loc.safetensors"
));

/// Accuracy of the shipped small VGG ([`vgg_small_loc`]) on the same 2000
/// held-out generated images as [`RESNET_SMALL_HELD_OUT_ACCURACY`], as
/// printed by `examples/train.rs` when the shipped weights were trained.
pub const VGG_SMALL_LOC_HELD_OUT_ACCURACY: f64 = 0.7530;

/// The trained Fashion-MNIST Vision Transformer's weights
/// ([`VitConfig::fashion_mnist`], safetensors with timm's names).
pub const VIT_FASHION_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/vit_fashion.safetensors"
));

/// The shipped ViT's accuracy on the full Fashion-MNIST test split (10 000
/// images), as printed by `examples/train.rs` when it was trained
/// (`tests/assets.rs` re-measures it on the shipped 1000-image sample).
pub const VIT_FASHION_TEST_ACCURACY: f64 = 0.8325;

/// The trained small CNN for Fashion-MNIST on `device`.
///
/// ```
/// use salience_explain::Classifier;
/// let m = salience_models::assets::small_cnn(&candle_core::Device::Cpu).unwrap();
/// assert_eq!(m.num_classes(), 10);
/// ```
pub fn small_cnn(device: &Device) -> Result<SmallCnn> {
    SmallCnn::from_safetensors_bytes(SMALL_CNN_SAFETENSORS, "small_cnn.safetensors", device)
}

/// The small CNN of the data randomization test (Adebayo et al. 2018):
/// the [`SmallCnn`] architecture trained on the first 5000 Fashion-MNIST
/// training images with their labels shuffled across the images (a
/// seeded permutation), so it memorises labels that carry no information
/// about the image. It fits part of its random training labels and is at
/// chance (≈ 10 %) on the true test labels. `assets/README.md` gives the
/// command that trained it and `docs/data.md` its accuracies.
///
/// ```
/// use salience_explain::Classifier;
/// let m = salience_models::assets::small_cnn_permuted_labels(&candle_core::Device::Cpu).unwrap();
/// assert_eq!(m.num_classes(), 10);
/// ```
pub fn small_cnn_permuted_labels(device: &Device) -> Result<SmallCnn> {
    SmallCnn::from_safetensors_bytes(
        SMALL_CNN_PERMUTED_LABELS_SAFETENSORS,
        "small_cnn_permuted_labels.safetensors",
        device,
    )
}

/// The trained Fashion-MNIST Vision Transformer on `device`: 1×28×28
/// inputs, 4×4 patches, width 64, 4 blocks of 4 heads
/// ([`VitConfig::fashion_mnist`]), 83.25 % test accuracy
/// ([`VIT_FASHION_TEST_ACCURACY`]). The transformer rows of the tests and
/// reproductions use it; it runs offline like every asset.
///
/// ```
/// use salience_explain::{AttentionModel, Classifier};
/// let m = salience_models::assets::vit_fashion(&candle_core::Device::Cpu).unwrap();
/// assert_eq!(m.num_classes(), 10);
/// assert_eq!(m.attention_shape(), (4, 4, 50));
/// ```
pub fn vit_fashion(device: &Device) -> Result<VisionTransformer> {
    VisionTransformer::from_safetensors_bytes(
        VIT_FASHION_SAFETENSORS,
        &VitConfig::fashion_mnist(),
        "vit_fashion.safetensors",
        device,
    )
}

/// The trained small ResNet ([`ResNetConfig::small`]) for the
/// localization set on `device`.
///
/// ```
/// use salience_explain::LayerSplit;
/// let m = salience_models::assets::resnet_small(&candle_core::Device::Cpu).unwrap();
/// assert_eq!(m.layer_names()[1], "layer1");
/// ```
pub fn resnet_small(device: &Device) -> Result<ResNet> {
    ResNet::from_safetensors_bytes(
        RESNET_SMALL_SAFETENSORS,
        &ResNetConfig::small(),
        "resnet_small.safetensors",
        device,
    )
}

/// The trained small VGG ([`FeatureCnnConfig::small_vgg`]: five 3×3
/// convolutions, no batch norm, no residual connections) for the
/// localization set on `device`, trained on the same generated stream as
/// [`resnet_small`] ([`RESNET_TRAIN_SEED`]); the localization
/// reproductions' second architecture.
///
/// ```
/// use salience_explain::{Classifier, LayerSplit};
/// let m = salience_models::assets::vgg_small_loc(&candle_core::Device::Cpu).unwrap();
/// assert_eq!(m.num_classes(), 10);
/// assert!(m.layer_names().contains(&"features.12".to_string()));
/// ```
pub fn vgg_small_loc(device: &Device) -> Result<FeatureCnn> {
    FeatureCnn::from_safetensors_bytes(
        VGG_SMALL_LOC_SAFETENSORS,
        &FeatureCnnConfig::small_vgg(),
        "vgg_small_loc.safetensors",
        device,
    )
}
