//! Data and weights shipped with the crate (`assets/`), embedded in the
//! binary: they need no dataset, network or file system at run time.
//! `assets/README.md` gives the command that regenerates each file.

/// Number of Fashion-MNIST test images in the shipped sample (the first
/// ones of the official test split).
pub const FASHION_SAMPLE_LEN: usize = 1000;

/// Number of images in the shipped localization sample.
pub const LOCALIZATION_SAMPLE_LEN: usize = 200;

/// Seed of the shipped localization sample (images `0 ..
/// LOCALIZATION_SAMPLE_LEN` of this stream, items from the Fashion-MNIST
/// test split, [`crate::LocalizationConfig::default`]).
pub const LOCALIZATION_SAMPLE_SEED: u64 = 2024;

/// Seed of the generated training stream of the shipped small ResNet
/// (items from the training split).
pub const RESNET_TRAIN_SEED: u64 = 17;

/// Seed of the held-out generated set the small ResNet's accuracy is
/// reported on (items from the test split).
pub const RESNET_TEST_SEED: u64 = 4242;
