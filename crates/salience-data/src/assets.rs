//! Data and weights shipped with the crate (`assets/`), embedded in the
//! binary: they need no dataset, network or file system at run time.
//! `assets/README.md` gives the command that regenerates each file.
//!
//! | asset | what |
//! |---|---|
//! | [`fashion_mnist_sample`] | the first [`FASHION_SAMPLE_LEN`] Fashion-MNIST test images and labels |
//! | [`localization_sample`] | [`LOCALIZATION_SAMPLE_LEN`] localization images with labels, masks, boxes |
//! | [`small_cnn`] | the trained [`SmallCnn`] (Fashion-MNIST) |
//! | [`small_cnn_permuted_labels`] | a [`SmallCnn`] trained on randomly permuted Fashion-MNIST labels (data randomization test) |
//! | [`resnet_small`] | the trained small [`ResNet`] (localization set) |

use crate::images::{GrayImages, LabelledImages};
use crate::localization::{BoundingBox, LocalizationSet, Placement};
use crate::models::{ResNet, ResNetConfig, SmallCnn, VisionTransformer, VitConfig};
use candle_core::{DType, Device, Tensor};
use ndarray::{Array3, Array4};
use salience_core::{Result, SalienceError};
use std::collections::HashMap;

/// Number of Fashion-MNIST test images in the shipped sample (the first
/// ones of the official test split).
pub const FASHION_SAMPLE_LEN: usize = 1000;

/// Number of images in the shipped localization sample.
pub const LOCALIZATION_SAMPLE_LEN: usize = 200;

/// Seed of the shipped localization sample (images `0 ..
/// LOCALIZATION_SAMPLE_LEN` of this stream, items from the Fashion-MNIST
/// test split, [`crate::LocalizationConfig::easy`], the configuration the
/// shipped small ResNet was trained on).
pub const LOCALIZATION_SAMPLE_SEED: u64 = 2024;

/// Seed of the generated training stream of the shipped small ResNet
/// (items from the training split).
pub const RESNET_TRAIN_SEED: u64 = 17;

/// Seed of the held-out generated set the small ResNet's accuracy is
/// reported on (items from the test split).
pub const RESNET_TEST_SEED: u64 = 4242;

/// Accuracy of the shipped small ResNet ([`resnet_small`]) on the first
/// 2000 images of the held-out generated stream ([`RESNET_TEST_SEED`],
/// items from the Fashion-MNIST test split,
/// [`crate::LocalizationConfig::easy`]), in inference mode, as printed by
/// `examples/train.rs` when the shipped weights were trained. Reports
/// quote it; `tests/assets.rs` re-measures it on 1000 fresh held-out
/// images generated from the items of [`fashion_mnist_sample_gray`].
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

/// The Fashion-MNIST test sample (safetensors: `images` u8 `[n, 28, 28]`,
/// `labels` u8 `[n]`).
pub const FASHION_SAMPLE_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fashion_mnist_test_sample.safetensors"
));

/// The localization sample (safetensors: `images` u8 `[n, 3, 64, 64]`,
/// `labels` u8 `[n]`, `masks` u8 `[n, 64, 64]`, `boxes` u32 `[n, 4]` as
/// top, left, bottom, right, `placements` u32 `[n, 4]` as source, top,
/// left, side).
pub const LOCALIZATION_SAMPLE_SAFETENSORS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/localization_sample.safetensors"
));

fn load(bytes: &[u8], what: &str) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| SalienceError::format(what, e.to_string()))
}

fn get<'a>(
    t: &'a HashMap<String, Tensor>,
    name: &str,
    dtype: DType,
    dims: &[usize],
    what: &str,
) -> Result<&'a Tensor> {
    let x = t
        .get(name)
        .ok_or_else(|| SalienceError::format(what, format!("no tensor `{name}`")))?;
    if x.dtype() != dtype || x.dims() != dims {
        return Err(SalienceError::format(
            what,
            format!(
                "`{name}` is {:?} {:?}, expected {dtype:?} {dims:?}",
                x.dtype(),
                x.dims()
            ),
        ));
    }
    Ok(x)
}

fn u8_vec(t: &Tensor) -> Result<Vec<u8>> {
    t.flatten_all()
        .and_then(|f| f.to_vec1::<u8>())
        .map_err(salience_explain::model::convert::candle_error)
}

/// The shipped Fashion-MNIST test sample as bytes.
///
/// ```
/// let g = salience_data::assets::fashion_mnist_sample_gray().unwrap();
/// assert_eq!(g.images.dim(), (salience_data::assets::FASHION_SAMPLE_LEN, 28, 28));
/// ```
pub fn fashion_mnist_sample_gray() -> Result<GrayImages> {
    let what = "fashion_mnist_test_sample.safetensors";
    let t = load(FASHION_SAMPLE_SAFETENSORS, what)?;
    let n = FASHION_SAMPLE_LEN;
    let images = u8_vec(get(&t, "images", DType::U8, &[n, 28, 28], what)?)?;
    let labels = u8_vec(get(&t, "labels", DType::U8, &[n], what)?)?;
    let images = Array3::from_shape_vec((n, 28, 28), images)
        .map_err(|e| SalienceError::format(what, e.to_string()))?;
    GrayImages::new(images, labels)
}

/// The shipped Fashion-MNIST test sample: `[1000, 1, 28, 28]` floats in
/// `[0, 1]` and labels.
///
/// ```
/// let s = salience_data::assets::fashion_mnist_sample().unwrap();
/// assert_eq!(s.images.shape(), &[1000, 1, 28, 28]);
/// assert!(s.labels.iter().all(|&l| l < 10));
/// ```
pub fn fashion_mnist_sample() -> Result<LabelledImages> {
    fashion_mnist_sample_gray()?.to_labelled(0, FASHION_SAMPLE_LEN)
}

/// The shipped localization sample: `[200, 3, 64, 64]` images in `[0, 1]`
/// (generated with [`crate::LocalizationConfig::easy`] and stored as
/// bytes, so within 1/510 of the generator's floats), labels, exact
/// masks, boxes and placements.
///
/// ```
/// let s = salience_data::assets::localization_sample().unwrap();
/// assert_eq!(s.images.shape(), &[200, 3, 64, 64]);
/// assert_eq!(s.masks.shape(), &[200, 64, 64]);
/// assert_eq!(s.boxes.len(), 200);
/// ```
pub fn localization_sample() -> Result<LocalizationSet> {
    let what = "localization_sample.safetensors";
    let t = load(LOCALIZATION_SAMPLE_SAFETENSORS, what)?;
    let n = LOCALIZATION_SAMPLE_LEN;
    let images = u8_vec(get(&t, "images", DType::U8, &[n, 3, 64, 64], what)?)?;
    let masks = u8_vec(get(&t, "masks", DType::U8, &[n, 64, 64], what)?)?;
    let labels = u8_vec(get(&t, "labels", DType::U8, &[n], what)?)?;
    let boxes = get(&t, "boxes", DType::U32, &[n, 4], what)?
        .to_vec2::<u32>()
        .map_err(salience_explain::model::convert::candle_error)?;
    let placements = get(&t, "placements", DType::U32, &[n, 4], what)?
        .to_vec2::<u32>()
        .map_err(salience_explain::model::convert::candle_error)?;
    let images = Array4::from_shape_vec(
        (n, 3, 64, 64),
        images.into_iter().map(|v| f32::from(v) / 255.0).collect(),
    )
    .map_err(|e| SalienceError::format(what, e.to_string()))?;
    let masks = Array3::from_shape_vec((n, 64, 64), masks.into_iter().map(|v| v != 0).collect())
        .map_err(|e| SalienceError::format(what, e.to_string()))?;
    let as_usize =
        |r: &[u32]| -> [usize; 4] { [0, 1, 2, 3].map(|k| r.get(k).copied().unwrap_or(0) as usize) };
    Ok(LocalizationSet {
        images,
        labels: labels.into_iter().map(usize::from).collect(),
        masks,
        boxes: boxes
            .iter()
            .map(|r| {
                let [top, left, bottom, right] = as_usize(r);
                BoundingBox {
                    top,
                    left,
                    bottom,
                    right,
                }
            })
            .collect(),
        placements: placements
            .iter()
            .map(|r| {
                let [source, top, left, side] = as_usize(r);
                Placement {
                    source,
                    top,
                    left,
                    side,
                }
            })
            .collect(),
    })
}

/// The trained small CNN for Fashion-MNIST on `device`.
///
/// ```
/// use salience_explain::Classifier;
/// let m = salience_data::assets::small_cnn(&candle_core::Device::Cpu).unwrap();
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
/// let m = salience_data::assets::small_cnn_permuted_labels(&candle_core::Device::Cpu).unwrap();
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
/// let m = salience_data::assets::vit_fashion(&candle_core::Device::Cpu).unwrap();
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
/// let m = salience_data::assets::resnet_small(&candle_core::Device::Cpu).unwrap();
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
