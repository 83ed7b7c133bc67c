//! The candle conversions of this crate's image sets (cargo feature
//! `candle`, on by default): every other module is candle-free, so
//! `default-features = false` gives a crate that builds without candle.
//!
//! | type | method |
//! |---|---|
//! | [`LabelledImages`] | [`LabelledImages::tensor`] |
//! | [`LocalizationSet`] | [`LocalizationSet::tensor`] |
//! | [`ImageBatch`] | [`ImageBatch::tensor`] |

use crate::image_file::ImageBatch;
use crate::images::LabelledImages;
use crate::localization::LocalizationSet;
use candle_core::{Device, Tensor};
use ndarray::{Array4, Axis};
use salience_core::{Result, SalienceError};

impl LabelledImages {
    /// Images `start .. start + len` as a candle tensor on `device`.
    ///
    /// ```
    /// let l = salience_datasets::LabelledImages { images: ndarray::Array4::ones((3, 1, 2, 2)), labels: vec![0, 1, 2] };
    /// let t = l.tensor(1, 2, &candle_core::Device::Cpu).unwrap();
    /// assert_eq!(t.dims(), &[2, 1, 2, 2]);
    /// assert!(l.tensor(2, 2, &candle_core::Device::Cpu).is_err());
    /// ```
    pub fn tensor(&self, start: usize, len: usize, device: &Device) -> Result<Tensor> {
        images_tensor(&self.images, start, len, device)
    }
}

impl LocalizationSet {
    /// Images `start .. start + len` as a candle tensor on `device`.
    ///
    /// ```
    /// # use salience_datasets::*;
    /// let pool = GrayImages::new(ndarray::Array3::from_elem((1, 28, 28), 200u8), vec![3]).unwrap();
    /// let set = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap().generate(0, 0, 2).unwrap();
    /// assert_eq!(set.tensor(0, 2, &candle_core::Device::Cpu).unwrap().dims(), &[2, 3, 64, 64]);
    /// ```
    pub fn tensor(&self, start: usize, len: usize, device: &Device) -> Result<Tensor> {
        images_tensor(&self.images, start, len, device)
    }
}

impl ImageBatch {
    /// The images as a candle tensor on `device`.
    ///
    /// ```
    /// let b = salience_datasets::ImageBatch {
    ///     images: ndarray::Array4::zeros((2, 3, 4, 4)),
    ///     paths: vec!["a.png".into(), "b.png".into()],
    /// };
    /// assert_eq!(b.tensor(&candle_core::Device::Cpu)?.dims(), &[2, 3, 4, 4]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn tensor(&self, device: &Device) -> Result<Tensor> {
        images_tensor(&self.images, 0, self.images.len_of(Axis(0)), device)
    }
}

/// Rows `start .. start + len` of an NCHW array as a tensor on `device`;
/// a range past the end is an [`SalienceError::InvalidParameter`], checked
/// before anything is copied.
fn images_tensor(
    images: &Array4<f32>,
    start: usize,
    len: usize,
    device: &Device,
) -> Result<Tensor> {
    let n = images.len_of(Axis(0));
    let end = start.checked_add(len).filter(|&e| e <= n).ok_or_else(|| {
        SalienceError::invalid(
            "len",
            len,
            &format!("range {start}..{start}+{len} exceeds {n} images"),
        )
    })?;
    let part = images.slice(ndarray::s![start..end, .., .., ..]);
    let (_, c, h, w) = part.dim();
    let data: Vec<f32> = part.iter().copied().collect();
    Tensor::from_vec(data, (len, c, h, w), device).map_err(|e| SalienceError::backend("candle", e))
}
