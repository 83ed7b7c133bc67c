//! Data shipped with the crate (`assets/`), embedded in the binary: it
//! needs no dataset, network or file system at run time, and no candle
//! (the files are read with the `safetensors` crate). `assets/README.md`
//! gives the command that regenerates each file. The shipped trained
//! weights are in `salience-models`' `assets`.
//!
//! | asset | what |
//! |---|---|
//! | [`fashion_mnist_sample`] | the first [`FASHION_SAMPLE_LEN`] Fashion-MNIST test images and labels |
//! | [`localization_sample`] | [`LOCALIZATION_SAMPLE_LEN`] localization images with labels, masks, boxes |

use crate::images::{GrayImages, LabelledImages};
use crate::localization::{BoundingBox, LocalizationSet, Placement};
use ndarray::{Array3, Array4};
use safetensors::{Dtype, SafeTensors};
use salience_core::{Result, SalienceError};

/// Number of Fashion-MNIST test images in the shipped sample (the first
/// ones of the official test split).
pub const FASHION_SAMPLE_LEN: usize = 1000;

/// Number of images in the shipped localization sample.
pub const LOCALIZATION_SAMPLE_LEN: usize = 200;

/// Seed of the shipped localization sample (images `0 ..
/// LOCALIZATION_SAMPLE_LEN` of this stream, items from the Fashion-MNIST
/// test split, [`crate::LocalizationConfig::easy`], the configuration the
/// shipped small ResNet of `salience-models` was trained on).
pub const LOCALIZATION_SAMPLE_SEED: u64 = 2024;

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

fn load<'a>(bytes: &'a [u8], what: &str) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| SalienceError::format(what, e.to_string()))
}

/// The raw little-endian bytes of tensor `name`, checked to be `dtype`
/// with shape `dims`.
fn get<'a>(
    t: &SafeTensors<'a>,
    name: &str,
    dtype: Dtype,
    dims: &[usize],
    what: &str,
) -> Result<&'a [u8]> {
    let x = t
        .tensor(name)
        .map_err(|_| SalienceError::format(what, format!("no tensor `{name}`")))?;
    if x.dtype() != dtype || x.shape() != dims {
        return Err(SalienceError::format(
            what,
            format!(
                "`{name}` is {:?} {:?}, expected {dtype:?} {dims:?}",
                x.dtype(),
                x.shape()
            ),
        ));
    }
    Ok(x.data())
}

/// Rows of four little-endian u32 (safetensors' byte order) as `usize`.
fn u32_rows(bytes: &[u8]) -> Vec<[usize; 4]> {
    bytes
        .chunks_exact(16)
        .map(|row| {
            [0, 1, 2, 3].map(|k| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&row[4 * k..4 * k + 4]);
                u32::from_le_bytes(b) as usize
            })
        })
        .collect()
}

/// The shipped Fashion-MNIST test sample as bytes.
///
/// ```
/// let g = salience_datasets::assets::fashion_mnist_sample_gray().unwrap();
/// assert_eq!(g.images.dim(), (salience_datasets::assets::FASHION_SAMPLE_LEN, 28, 28));
/// ```
pub fn fashion_mnist_sample_gray() -> Result<GrayImages> {
    let what = "fashion_mnist_test_sample.safetensors";
    let t = load(FASHION_SAMPLE_SAFETENSORS, what)?;
    let n = FASHION_SAMPLE_LEN;
    let images = get(&t, "images", Dtype::U8, &[n, 28, 28], what)?.to_vec();
    let labels = get(&t, "labels", Dtype::U8, &[n], what)?.to_vec();
    let images = Array3::from_shape_vec((n, 28, 28), images)
        .map_err(|e| SalienceError::format(what, e.to_string()))?;
    GrayImages::new(images, labels)
}

/// The shipped Fashion-MNIST test sample: `[1000, 1, 28, 28]` floats in
/// `[0, 1]` and labels.
///
/// ```
/// let s = salience_datasets::assets::fashion_mnist_sample().unwrap();
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
/// let s = salience_datasets::assets::localization_sample().unwrap();
/// assert_eq!(s.images.shape(), &[200, 3, 64, 64]);
/// assert_eq!(s.masks.shape(), &[200, 64, 64]);
/// assert_eq!(s.boxes.len(), 200);
/// ```
pub fn localization_sample() -> Result<LocalizationSet> {
    let what = "localization_sample.safetensors";
    let t = load(LOCALIZATION_SAMPLE_SAFETENSORS, what)?;
    let n = LOCALIZATION_SAMPLE_LEN;
    let images = get(&t, "images", Dtype::U8, &[n, 3, 64, 64], what)?;
    let masks = get(&t, "masks", Dtype::U8, &[n, 64, 64], what)?;
    let labels = get(&t, "labels", Dtype::U8, &[n], what)?;
    let boxes = u32_rows(get(&t, "boxes", Dtype::U32, &[n, 4], what)?);
    let placements = u32_rows(get(&t, "placements", Dtype::U32, &[n, 4], what)?);
    let images = Array4::from_shape_vec(
        (n, 3, 64, 64),
        images.iter().map(|&v| f32::from(v) / 255.0).collect(),
    )
    .map_err(|e| SalienceError::format(what, e.to_string()))?;
    let masks = Array3::from_shape_vec((n, 64, 64), masks.iter().map(|&v| v != 0).collect())
        .map_err(|e| SalienceError::format(what, e.to_string()))?;
    Ok(LocalizationSet {
        images,
        labels: labels.iter().map(|&l| usize::from(l)).collect(),
        masks,
        boxes: boxes
            .into_iter()
            .map(|[top, left, bottom, right]| BoundingBox {
                top,
                left,
                bottom,
                right,
            })
            .collect(),
        placements: placements
            .into_iter()
            .map(|[source, top, left, side]| Placement {
                source,
                top,
                left,
                side,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_rows_read_little_endian_rows_of_four() {
        let bytes: Vec<u8> = [1u32, 2, 3, 0x0102_0304, 5, 6, 7, 8]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(u32_rows(&bytes), vec![[1, 2, 3, 0x0102_0304], [5, 6, 7, 8]]);
    }

    #[test]
    fn a_missing_or_misshapen_tensor_is_a_format_error() {
        let t = load(FASHION_SAMPLE_SAFETENSORS, "sample").unwrap();
        let e = get(&t, "nothing", Dtype::U8, &[1], "sample").unwrap_err();
        assert!(e.to_string().contains("no tensor `nothing`"), "{e}");
        let e = get(&t, "labels", Dtype::U32, &[FASHION_SAMPLE_LEN], "sample").unwrap_err();
        assert!(e.to_string().contains("expected U32"), "{e}");
        assert!(load(b"not a safetensors file", "x").is_err());
    }
}
