//! Fashion-MNIST (Zalando Research, MIT license) from its IDX files, as
//! installed by the Debian package `dataset-fashion-mnist` under
//! `/usr/share/datasets/fashion-mnist`.
//!
//! Machines without the package use the sample shipped in
//! [`crate::assets`] instead.

use crate::idx::{read_idx_file, IdxArray};
use crate::images::GrayImages;
use ndarray::Array3;
use salience_core::{Result, SalienceError};
use std::path::{Path, PathBuf};

/// The Debian package that ships Fashion-MNIST.
pub const FASHION_MNIST_PACKAGE: &str = "dataset-fashion-mnist";

/// Where the Debian package installs the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The environment variable that overrides [`DEBIAN_DIR`].
pub const DIR_ENV: &str = "SALIENCE_FASHION_MNIST";

/// The ten class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The image side (28).
pub const SIDE: usize = 28;

/// Which half of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60 000 training images.
    Train,
    /// The 10 000 test images.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// The folder the files are read from: `$SALIENCE_FASHION_MNIST` if set,
/// else [`DEBIAN_DIR`].
///
/// ```
/// let d = salience_datasets::fashion_mnist::default_dir();
/// assert!(!d.as_os_str().is_empty());
/// ```
pub fn default_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_DIR))
}

/// The path of a file in `dir`, preferring the gzipped name
/// (`<name>.gz`) and falling back to the plain one when only that exists.
fn file(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    if !gz.exists() && plain.exists() {
        plain
    } else {
        gz
    }
}

/// Loads one split from `dir` (files `train-images-idx3-ubyte[.gz]`,
/// `train-labels-idx1-ubyte[.gz]`, `t10k-…`).
///
/// Errors: [`salience_core::SalienceError::DatasetMissing`] naming the path and the Debian
/// package `dataset-fashion-mnist` when a file is absent;
/// [`salience_core::SalienceError::Format`] when the files are malformed or disagree
/// (image count ≠ label count, images not 3-D, labels not 1-D or ≥ 10).
///
/// ```
/// use salience_datasets::fashion_mnist::{load, Split};
/// match load("/nonexistent", Split::Test) {
///     Err(e) => assert!(e.to_string().contains("dataset-fashion-mnist")),
///     Ok(_) => unreachable!(),
/// }
/// ```
pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<GrayImages> {
    let dir = dir.as_ref();
    let p = split.prefix();
    let images = read_idx_file(file(dir, &format!("{p}-images-idx3-ubyte")))?;
    let labels = read_idx_file(file(dir, &format!("{p}-labels-idx1-ubyte")))?;
    from_idx(images, labels)
}

/// Loads one split from [`default_dir`].
///
/// ```no_run
/// let test = salience_datasets::fashion_mnist::load_default(salience_datasets::fashion_mnist::Split::Test)?;
/// assert_eq!(test.len(), 10_000);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn load_default(split: Split) -> Result<GrayImages> {
    load(default_dir(), split)
}

/// Pairs an images IDX array `[n, rows, cols]` with a labels IDX array
/// `[n]` (labels below 10).
///
/// ```
/// use salience_datasets::{fashion_mnist::from_idx, idx::IdxArray};
/// let im = IdxArray { dims: vec![1, 2, 2], data: vec![0, 1, 2, 3] };
/// let lb = IdxArray { dims: vec![1], data: vec![7] };
/// assert_eq!(from_idx(im, lb).unwrap().labels, vec![7]);
/// ```
pub fn from_idx(images: IdxArray, labels: IdxArray) -> Result<GrayImages> {
    let (n, rows, cols) = match images.dims[..] {
        [n, r, c] => (n, r, c),
        _ => {
            return Err(SalienceError::format(
                "images",
                format!(
                    "expected 3 dimensions [n, rows, cols], got {:?}",
                    images.dims
                ),
            ))
        }
    };
    if labels.dims.len() != 1 {
        return Err(SalienceError::format(
            "labels",
            format!("expected 1 dimension, got {:?}", labels.dims),
        ));
    }
    if let Some(&bad) = labels
        .data
        .iter()
        .find(|&&l| l as usize >= CLASS_NAMES.len())
    {
        return Err(SalienceError::format(
            "labels",
            format!("label {bad} is not below 10"),
        ));
    }
    let arr = Array3::from_shape_vec((n, rows, cols), images.data)
        .map_err(|e| SalienceError::format("images", e.to_string()))?;
    GrayImages::new(arr, labels.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_idx_checks_consistency() {
        let im = IdxArray {
            dims: vec![2, 2, 2],
            data: vec![0; 8],
        };
        let lb1 = IdxArray {
            dims: vec![1],
            data: vec![0],
        };
        assert!(matches!(
            from_idx(im.clone(), lb1),
            Err(SalienceError::Format { .. })
        ));
        let lb_bad = IdxArray {
            dims: vec![2],
            data: vec![0, 10],
        };
        assert!(from_idx(im.clone(), lb_bad).is_err());
        let flat = IdxArray {
            dims: vec![8],
            data: vec![0; 8],
        };
        let lb2 = IdxArray {
            dims: vec![2],
            data: vec![3, 4],
        };
        assert!(from_idx(flat, lb2.clone()).is_err());
        let g = from_idx(im, lb2).unwrap();
        assert_eq!(g.images.dim(), (2, 2, 2));
    }

    #[test]
    fn loads_a_folder_written_by_the_test() {
        let dir = std::env::temp_dir().join(format!("salience-fm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut im = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        im.extend_from_slice(&[0, 255, 10, 20, 30, 40, 50, 60]);
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), &im).unwrap();
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            [0u8, 0, 8, 1, 0, 0, 0, 2, 9, 1],
        )
        .unwrap();
        let g = load(&dir, Split::Test).unwrap();
        assert_eq!(g.labels, vec![9, 1]);
        assert_eq!(g.images[[0, 0, 1]], 255);
        assert_eq!(g.images[[1, 1, 1]], 60);
        match load(&dir, Split::Train) {
            Err(SalienceError::DatasetMissing { path, .. }) => {
                assert!(path.ends_with("train-images-idx3-ubyte.gz"))
            }
            other => panic!("expected DatasetMissing, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
