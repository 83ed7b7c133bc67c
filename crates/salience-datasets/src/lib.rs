//! # salience-datasets
//!
//! Real data that works offline, **without candle** (the `candle` cargo
//! feature, on by default, only adds the `tensor` module: candle conversions):
//!
//! * [`idx`] / [`fashion_mnist`]: a reader for the (gzipped) IDX files of
//!   Fashion-MNIST as installed by the Debian package
//!   `dataset-fashion-mnist`; a clear [`salience_core::SalienceError::DatasetMissing`] naming
//!   the package when they are absent.
//! * [`localization`]: a seeded localization set — a Fashion-MNIST item at
//!   a random position and scale on a 64×64×3 canvas whose background
//!   carries no class information — with exact ground-truth masks and
//!   boxes.
//! * [`image_file`] / [`transform`] / [`imagenet`]: PNG/JPEG files and
//!   folders in, torchvision's evaluation transform (`Resize(256)`,
//!   `CenterCrop(224)`, `Normalize`, matching torchvision on PIL images)
//!   and its inverse, the 1000 ImageNet class names.
//! * [`assets`]: shipped, embedded data — a Fashion-MNIST test sample and
//!   a localization sample with masks and boxes — so everything works
//!   without the dataset. The trained models and their weights are in
//!   `salience-models`.
//!
//! ```
//! use salience_datasets::{GrayImages, LocalizationConfig, LocalizationGenerator};
//! let pool = GrayImages::new(ndarray::Array3::from_elem((4, 28, 28), 128u8), vec![0, 1, 2, 3])?;
//! let set = LocalizationGenerator::new(&pool, LocalizationConfig::default())?.generate(0, 0, 3)?;
//! assert_eq!(set.images.shape(), &[3, 3, 64, 64]);
//! assert_eq!(set.masks.shape(), &[3, 64, 64]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

pub mod assets;
pub mod fashion_mnist;
pub mod idx;
pub mod image_file;
pub mod imagenet;
pub mod images;
pub mod localization;
pub mod resample;
pub mod resize;
#[cfg(feature = "candle")]
pub mod tensor;
pub mod transform;

pub use fashion_mnist::FASHION_MNIST_PACKAGE;
pub use image_file::{
    decode_image, image_dimensions, load_image, ColorMode, ImageBatch, ImageBatches, ImageFolder,
    LoadOptions,
};
pub use imagenet::imagenet_class_name;
pub use images::{GrayImages, LabelledImages};
pub use localization::{
    BoundingBox, LocalizationConfig, LocalizationGenerator, LocalizationSet, Placement,
};
pub use resample::ResizeArithmetic;
pub use resize::Interpolation;
pub use salience_core::{ImageFault, Result};
pub use transform::{ImageTransform, Normalize};
