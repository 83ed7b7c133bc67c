//! torchvision's evaluation transform — `Resize(256)`, `CenterCrop(224)`,
//! `ToTensor()`, `Normalize(mean, std)` — and its inverse for overlays.
//!
//! [`ImageTransform::torchvision_imagenet`] (also its [`Default`]) is the
//! preprocessing every torchvision ImageNet classifier documents. It
//! reproduces what `ImageFolder` + `transforms.Compose([...])` computes on
//! PIL images: Pillow's antialiased 8-bit bilinear resize
//! ([`crate::resample`]), torchvision's output-size rule
//! (`int(size · long / short)` for the longer side), its centre-crop
//! offsets (`round((H − h) / 2)`, Python's round half to even) and its zero
//! padding when the crop is larger than the image. Measured against
//! torchvision 0.29.2 / Pillow 13.0 on the test images of
//! `tests/fixtures/images` (`scripts/parity/torchvision_transform.py`):
//! identical bytes before normalization (0/255) on PNG sources; see
//! `docs/images.md` for JPEG.
//!
//! The struct deserializes with serde (missing fields take the preset's
//! values), so a config file can say `{"resize_shorter": 64,
//! "center_crop": [56, 56]}`.

use crate::resample::{resize_antialiased, ResizeArithmetic};
use crate::resize::MAX_RESIZE_PIXELS;
use ndarray::{Array3, ArrayD, ArrayView3, ArrayViewD, Axis};
use salience_core::validate::check_finite;
use salience_core::Result;
use salience_core::SalienceError;
use serde::{Deserialize, Serialize};

/// ImageNet's per-channel mean (RGB), as in torchvision's weights.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel standard deviation (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Per-channel `(x − mean) / std` (torchvision's `Normalize`). One value
/// applies to every channel; otherwise there is one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Channel means.
    pub mean: Vec<f32>,
    /// Channel standard deviations (finite, non-zero).
    pub std: Vec<f32>,
}

impl Normalize {
    /// ImageNet's mean and standard deviation ([`IMAGENET_MEAN`],
    /// [`IMAGENET_STD`]).
    ///
    /// ```
    /// let n = salience_datasets::Normalize::imagenet();
    /// assert_eq!(n.std, vec![0.229, 0.224, 0.225]);
    /// ```
    pub fn imagenet() -> Self {
        Normalize {
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
        }
    }

    /// The (mean, std) of channel `c` of `channels`, or an error when the
    /// lengths fit neither one value nor one per channel.
    fn for_channels(&self, channels: usize) -> Result<Vec<(f32, f32)>> {
        let n = self.mean.len();
        if n != self.std.len() || (n != 1 && n != channels) {
            return Err(SalienceError::invalid(
                "normalize",
                format!("{} means, {} stds", n, self.std.len()),
                &format!("needs as many means as stds, 1 or one per channel ({channels})"),
            ));
        }
        if let Some(s) = self.std.iter().find(|s| !s.is_finite() || **s == 0.0) {
            return Err(SalienceError::invalid(
                "normalize.std",
                s,
                "must be finite and non-zero",
            ));
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(SalienceError::invalid(
                "normalize.mean",
                m,
                "must be finite",
            ));
        }
        Ok((0..channels)
            .map(|c| (self.mean[c.min(n - 1)], self.std[c.min(n - 1)]))
            .collect())
    }
}

/// An evaluation transform: optional shorter-side resize, optional centre
/// crop, optional normalization, applied to `[C, H, W]` floats in `[0, 1]`
/// (what [`crate::load_image`] returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageTransform {
    /// `transforms.Resize(n)`: scale so the shorter side is `n`, the longer
    /// `int(n · long / short)`; `None` keeps the size.
    pub resize_shorter: Option<usize>,
    /// `transforms.CenterCrop([h, w])`; zero padding where the image is
    /// smaller; `None` keeps the whole image.
    pub center_crop: Option<[usize; 2]>,
    /// `transforms.Normalize`; `None` leaves values in `[0, 1]`.
    pub normalize: Option<Normalize>,
    /// The resize arithmetic: Pillow's 8-bit path (what torchvision does
    /// on PIL images, the default) or floats (its tensor path).
    pub arithmetic: ResizeArithmetic,
}

impl Default for ImageTransform {
    fn default() -> Self {
        Self::torchvision_imagenet()
    }
}

/// Python's `round(d / 2)` for a non-negative integer `d`: half to even.
fn half_round_even(d: usize) -> usize {
    let q = d / 2;
    if d % 2 == 1 && q % 2 == 1 {
        q + 1
    } else {
        q
    }
}

impl ImageTransform {
    /// torchvision's ImageNet evaluation transform: `Resize(256)` (PIL
    /// bilinear, antialiased), `CenterCrop(224)`, `ToTensor()`,
    /// `Normalize(IMAGENET_MEAN, IMAGENET_STD)`.
    ///
    /// ```
    /// use salience_datasets::ImageTransform;
    /// let t = ImageTransform::torchvision_imagenet();
    /// let img = ndarray::Array3::from_elem((3, 375, 500), 0.5f32);
    /// let x = t.apply(img.view())?;
    /// assert_eq!(x.shape(), &[3, 224, 224]);
    /// assert!((x[[0, 0, 0]] - (0.5 - 0.485) / 0.229).abs() < 1e-2);
    /// // the inverse, for overlays
    /// let back = t.denormalize(x.view().into_dyn())?;
    /// assert!((back[[0, 10, 10]] - 128.0 / 255.0).abs() < 1e-6);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn torchvision_imagenet() -> Self {
        ImageTransform {
            resize_shorter: Some(256),
            center_crop: Some([224, 224]),
            normalize: Some(Normalize::imagenet()),
            arithmetic: ResizeArithmetic::PilUint8,
        }
    }

    /// The identity: no resize, no crop, no normalization.
    ///
    /// ```
    /// let t = salience_datasets::ImageTransform::identity();
    /// let img = ndarray::Array3::from_elem((1, 3, 5), 0.25f32);
    /// assert_eq!(t.apply(img.view())?, img);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn identity() -> Self {
        ImageTransform {
            resize_shorter: None,
            center_crop: None,
            normalize: None,
            arithmetic: ResizeArithmetic::PilUint8,
        }
    }

    /// The size after the resize step (torchvision's
    /// `_compute_resized_output_size` for an int size): `(height, width)`.
    ///
    /// ```
    /// let t = salience_datasets::ImageTransform::torchvision_imagenet();
    /// assert_eq!(t.resized_size(257, 301)?, (256, 299)); // int(256·301/257) = 299
    /// assert_eq!(t.resized_size(500, 375)?, (341, 256));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn resized_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        if h == 0 || w == 0 {
            return Err(SalienceError::Empty(format!(
                "image transform: a {h}x{w} image"
            )));
        }
        let Some(size) = self.resize_shorter else {
            return Ok((h, w));
        };
        if size == 0 {
            return Err(SalienceError::invalid(
                "resize_shorter",
                0,
                "must be at least 1",
            ));
        }
        let (short, long) = if w <= h { (w, h) } else { (h, w) };
        // Python: int(size * long / short), a float quotient of exact ints.
        let new_long = size
            .checked_mul(long)
            .map(|p| (p as f64 / short as f64) as usize)
            .filter(|&l| l.checked_mul(size).is_some_and(|p| p <= MAX_RESIZE_PIXELS))
            .ok_or_else(|| {
                SalienceError::invalid(
                    "resize_shorter",
                    size,
                    &format!(
                        "resizing a {h}x{w} image so would exceed \
                         MAX_RESIZE_PIXELS = {MAX_RESIZE_PIXELS} pixels"
                    ),
                )
            })?;
        // torchvision gives the short side `size` and the long one at least 1
        let new_long = new_long.max(1);
        Ok(if w <= h {
            (new_long, size)
        } else {
            (size, new_long)
        })
    }

    /// The output size `(height, width)` of [`ImageTransform::apply`] on a
    /// `h × w` image.
    ///
    /// ```
    /// let t = salience_datasets::ImageTransform::torchvision_imagenet();
    /// assert_eq!(t.output_size(30, 4000)?, (224, 224));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let resized = self.resized_size(h, w)?;
        match self.center_crop {
            Some([ch, cw]) if ch == 0 || cw == 0 => Err(SalienceError::invalid(
                "center_crop",
                format!("[{ch}, {cw}]"),
                "both sides must be at least 1",
            )),
            Some([ch, cw]) if ch.checked_mul(cw).is_none_or(|p| p > MAX_RESIZE_PIXELS) => {
                Err(SalienceError::invalid(
                    "center_crop",
                    format!("[{ch}, {cw}]"),
                    &format!("may have at most MAX_RESIZE_PIXELS = {MAX_RESIZE_PIXELS} pixels"),
                ))
            }
            Some([ch, cw]) => Ok((ch, cw)),
            None => Ok(resized),
        }
    }

    /// Applies the transform to `[C, H, W]` values (normally in `[0, 1]`;
    /// with [`ResizeArithmetic::PilUint8`] they are rounded to bytes for
    /// the resize, as Pillow holds them). Returns `[C, h, w]`.
    ///
    /// Errors (before any allocation) for a non-3-D or empty input, a
    /// non-finite value, invalid parameters (zero sizes, a zero or
    /// non-finite std, mean/std lengths fitting neither 1 nor C channels)
    /// and outputs above [`MAX_RESIZE_PIXELS`] pixels.
    ///
    /// ```
    /// use salience_datasets::ImageTransform;
    /// let t = ImageTransform { resize_shorter: Some(2), center_crop: Some([1, 1]),
    ///     normalize: None, ..ImageTransform::default() };
    /// // a 1x4x4 image whose left half is white -> 2x2 -> centre pixel
    /// let img = ndarray::Array3::from_shape_fn((1, 4, 4), |(_, _, j)| if j < 2 { 1.0 } else { 0.0 });
    /// let x = t.apply(img.view())?;
    /// assert_eq!(x.shape(), &[1, 1, 1]);
    /// // torchvision: round((2 - 1) / 2) = round(0.5) = 0 -> the left column,
    /// // which Pillow's filter made (1·3 + 1·3 + 0·1) / 7 = 6/7, as a byte
    /// assert_eq!(x[[0, 0, 0]], (255.0f32 * 6.0 / 7.0).round() / 255.0);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn apply(&self, img: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        let (c, h, w) = img.dim();
        if c == 0 {
            return Err(SalienceError::shape(
                "image transform",
                "[C >= 1, H, W]",
                img.shape(),
            ));
        }
        let (rh, rw) = self.resized_size(h, w)?;
        let (oh, ow) = self.output_size(h, w)?;
        let norm = match &self.normalize {
            Some(n) => Some(n.for_channels(c)?),
            None => None,
        };
        check_finite(&img, "image transform input")?;
        let mut out = Array3::<f32>::zeros((c, oh, ow));
        // torchvision's CenterCrop: zero-pad to at least the crop, then crop
        // at round((size - crop) / 2) (half to even).
        let place = |size: usize, crop: usize| -> (usize, usize) {
            let pad = crop.saturating_sub(size) / 2;
            let padded = size.max(crop);
            (pad, half_round_even(padded - crop))
        };
        let (pad_t, top) = place(rh, oh);
        let (pad_l, left) = place(rw, ow);
        for (ch, mut dst) in out.axis_iter_mut(Axis(0)).enumerate() {
            let plane = img.index_axis(Axis(0), ch);
            let resized = if (rh, rw) == (h, w) {
                plane.to_owned()
            } else {
                resize_antialiased(plane, rh, rw, self.arithmetic)?
            };
            let (mean, std) = norm.as_ref().map_or((0.0, 1.0), |n| n[ch]);
            for ((i, j), v) in dst.indexed_iter_mut() {
                let r = (i + top).checked_sub(pad_t).filter(|&r| r < rh);
                let s = (j + left).checked_sub(pad_l).filter(|&s| s < rw);
                let x = match (r, s) {
                    (Some(r), Some(s)) => resized[[r, s]],
                    _ => 0.0,
                };
                *v = if norm.is_some() { (x - mean) / std } else { x };
            }
        }
        check_finite(&out, "image transform output (normalization overflowed)")?;
        Ok(out)
    }

    /// The inverse of the normalization step, `x · std + mean` per
    /// channel, for overlays: the channel axis is the third from last, so
    /// `[C, H, W]` and `[N, C, H, W]` both work. Without normalization it
    /// returns a copy. (Resize and crop are not invertible; clamp to
    /// `[0, 1]` before display.)
    ///
    /// ```
    /// use salience_datasets::ImageTransform;
    /// let t = ImageTransform::torchvision_imagenet();
    /// let x = ndarray::ArrayD::<f32>::zeros(vec![2, 3, 4, 4]);
    /// let img = t.denormalize(x.view())?;
    /// assert_eq!(img[[1, 2, 3, 3]], 0.406); // 0 · std + mean
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn denormalize(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        if x.ndim() < 3 {
            return Err(SalienceError::shape(
                "denormalize",
                "[..., C, H, W] (at least 3 axes)",
                x.shape(),
            ));
        }
        let axis = Axis(x.ndim() - 3);
        let c = x.len_of(axis);
        let Some(n) = &self.normalize else {
            return Ok(x.to_owned());
        };
        let stats = n.for_channels(c)?;
        check_finite(&x, "denormalize input")?;
        let mut out = x.to_owned();
        for (ch, mut plane) in out.axis_iter_mut(axis).enumerate() {
            let (mean, std) = stats[ch];
            plane.mapv_inplace(|v| v * std + mean);
        }
        check_finite(&out, "denormalize output (overflowed)")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_offsets_round_half_to_even_like_python() {
        // round(0.5)=0, round(1.5)=2, round(2.5)=2, round(3.5)=4
        let got: Vec<usize> = (0..9).map(half_round_even).collect();
        assert_eq!(got, vec![0, 0, 1, 2, 2, 2, 3, 4, 4]);
    }

    #[test]
    fn resized_size_matches_torchvision_rule() {
        let t = ImageTransform::torchvision_imagenet();
        assert_eq!(t.resized_size(256, 256).unwrap(), (256, 256));
        assert_eq!(t.resized_size(317, 181).unwrap(), (448, 256)); // int(256*317/181)=448
        assert_eq!(t.resized_size(1, 1000).unwrap(), (256, 256_000));
        assert!(t.resized_size(1, 10_000).is_err()); // 655M pixels > MAX_RESIZE_PIXELS
        assert!(t.resized_size(1, 1 << 40).is_err());
        assert!(t.resized_size(0, 5).is_err());
        let none = ImageTransform::identity();
        assert_eq!(none.resized_size(7, 9).unwrap(), (7, 9));
    }

    #[test]
    fn crop_larger_than_image_pads_with_zeros_like_torchvision() {
        // 1x2x3 image, crop 4x6: pad top (4-2)//2 = 1, left (6-3)//2 = 1
        let t = ImageTransform {
            center_crop: Some([4, 6]),
            ..ImageTransform::identity()
        };
        let img = Array3::from_shape_fn((1, 2, 3), |(_, i, j)| (1 + i * 3 + j) as f32);
        let x = t.apply(img.view()).unwrap();
        let want = ndarray::array![[
            [0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 2.0, 3.0, 0.0, 0.0],
            [0.0, 4.0, 5.0, 6.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        ]];
        assert_eq!(x, want);
    }

    #[test]
    fn normalize_then_denormalize_round_trips() {
        let t = ImageTransform {
            resize_shorter: None,
            center_crop: None,
            ..ImageTransform::torchvision_imagenet()
        };
        let img = Array3::from_shape_fn((3, 4, 5), |(c, i, j)| ((c + i * 5 + j) % 7) as f32 / 7.0);
        let x = t.apply(img.view()).unwrap();
        assert!((x[[1, 0, 0]] - (1.0 / 7.0 - 0.456) / 0.224).abs() < 1e-6);
        let back = t.denormalize(x.view().into_dyn()).unwrap();
        for (a, b) in back.iter().zip(img.iter()) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_parameters_and_inputs_are_errors() {
        let img = Array3::<f32>::zeros((3, 4, 4));
        let mut t = ImageTransform::torchvision_imagenet();
        t.normalize = Some(Normalize {
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        });
        assert!(t
            .apply(img.view())
            .unwrap_err()
            .to_string()
            .contains("normalize"));
        t.normalize = Some(Normalize {
            mean: vec![0.0],
            std: vec![0.0],
        });
        assert!(t
            .apply(img.view())
            .unwrap_err()
            .to_string()
            .contains("normalize.std"));
        let t = ImageTransform {
            center_crop: Some([0, 3]),
            ..ImageTransform::default()
        };
        assert!(t.apply(img.view()).is_err());
        let t = ImageTransform {
            resize_shorter: Some(0),
            ..ImageTransform::default()
        };
        assert!(t.apply(img.view()).is_err());
        let t = ImageTransform {
            center_crop: Some([usize::MAX, 2]),
            ..ImageTransform::default()
        };
        assert!(t.apply(img.view()).is_err());
        let t = ImageTransform::default();
        assert!(t.apply(Array3::<f32>::zeros((0, 4, 4)).view()).is_err());
        assert!(t.apply(Array3::<f32>::zeros((3, 0, 4)).view()).is_err());
        let mut nan = img.clone();
        nan[[2, 1, 1]] = f32::NAN;
        assert!(t
            .apply(nan.view())
            .unwrap_err()
            .to_string()
            .contains("input"));
        // one mean/std for a gray image is fine; 3 for 1 channel is not
        let gray = Array3::<f32>::zeros((1, 4, 4));
        assert!(t.apply(gray.view()).is_err());
        let t1 = ImageTransform {
            normalize: Some(Normalize {
                mean: vec![0.5],
                std: vec![0.5],
            }),
            ..ImageTransform::default()
        };
        assert_eq!(t1.apply(gray.view()).unwrap()[[0, 0, 0]], -1.0);
        assert!(t
            .denormalize(ndarray::ArrayD::zeros(vec![4, 4]).view())
            .is_err());
    }

    #[test]
    fn deserializes_with_preset_defaults() {
        let t: ImageTransform =
            serde_json::from_str(r#"{"resize_shorter": 64, "center_crop": [56, 57]}"#).unwrap();
        assert_eq!(t.resize_shorter, Some(64));
        assert_eq!(t.center_crop, Some([56, 57]));
        assert_eq!(t.normalize, Some(Normalize::imagenet()));
        assert_eq!(t.arithmetic, ResizeArithmetic::PilUint8);
        let t: ImageTransform =
            serde_json::from_str(r#"{"normalize": null, "arithmetic": "float"}"#).unwrap();
        assert_eq!(t.normalize, None);
        assert_eq!(t.arithmetic, ResizeArithmetic::Float);
        assert!(serde_json::from_str::<ImageTransform>(r#"{"resize": 3}"#).is_err());
        let back: ImageTransform =
            serde_json::from_str(&serde_json::to_string(&ImageTransform::default()).unwrap())
                .unwrap();
        assert_eq!(back, ImageTransform::default());
    }
}
