//! # salience-data
//!
//! Real data and real trained models that work offline:
//!
//! * [`idx`] / [`fashion_mnist`]: a reader for the (gzipped) IDX files of
//!   Fashion-MNIST as installed by the Debian package
//!   `dataset-fashion-mnist`; a clear [`salience_core::SalienceError::DatasetMissing`] naming
//!   the package when they are absent.
//! * [`localization`]: a seeded localization set — a Fashion-MNIST item at
//!   a random position and scale on a 64×64×3 canvas whose background
//!   carries no class information — with exact ground-truth masks and
//!   boxes.
//! * [`models`]: a small CNN (Fashion-MNIST), a small ResNet
//!   (localization set) and torchvision's ResNet-18 layout, as
//!   [`salience_explain::Classifier`] + [`salience_explain::LayerSplit`].
//! * [`image_file`] / [`transform`] / [`imagenet`]: PNG/JPEG files and
//!   folders in, torchvision's evaluation transform (`Resize(256)`,
//!   `CenterCrop(224)`, `Normalize`, matching torchvision on PIL images)
//!   and its inverse, the 1000 ImageNet class names.
//! * [`assets`]: shipped, embedded data and weights — a Fashion-MNIST test
//!   sample, a localization sample with masks and boxes, the trained small
//!   CNN and small ResNet — so everything works without the dataset.
//!
//! ```
//! use salience_explain::Classifier;
//! let sample = salience_data::assets::fashion_mnist_sample()?;
//! let cnn = salience_data::assets::small_cnn(&candle_core::Device::Cpu)?;
//! let x = sample.tensor(0, 8, cnn.device())?;
//! assert_eq!(cnn.logits(&x)?.dims(), &[8, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! use salience_data::{GrayImages, LocalizationConfig, LocalizationGenerator};
//! let pool = GrayImages::new(ndarray::Array3::from_elem((4, 28, 28), 128u8), vec![0, 1, 2, 3])?;
//! let set = LocalizationGenerator::new(&pool, LocalizationConfig::default())?.generate(0, 0, 3)?;
//! assert_eq!(set.images.shape(), &[3, 3, 64, 64]);
//! assert_eq!(set.masks.shape(), &[3, 64, 64]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

pub mod assets;
pub mod models;

pub use salience_datasets::{
    decode_image, image_dimensions, imagenet_class_name, load_image, BoundingBox, ColorMode,
    GrayImages, ImageBatch, ImageBatches, ImageFault, ImageFolder, ImageTransform, Interpolation,
    LabelledImages, LoadOptions, LocalizationConfig, LocalizationGenerator, LocalizationSet,
    Normalize, Placement, ResizeArithmetic, Result, FASHION_MNIST_PACKAGE,
};
pub use salience_datasets::{
    fashion_mnist, idx, image_file, imagenet, images, localization, resample, resize, transform,
};
