//! Antialiased bilinear resampling, as Pillow's `Image.resize(size,
//! BILINEAR)` and torchvision's `Resize(..., antialias=True)` do it.
//!
//! Why not [`crate::resize`]: that module is PyTorch's
//! `interpolate(mode="bilinear", antialias=False)`, which blends the two
//! nearest source pixels whatever the scale. Shrinking a 500-pixel side to
//! 256 with it skips half the pixels and aliases (one-pixel stripes turn
//! into moiré); torchvision's evaluation transform averages them instead,
//! and the two differ by tens of grey levels on fine detail. This module
//! is the separable filter of Pillow's `libImaging/Resample.c` (the
//! "triangle" filter with support = scale when shrinking, 1 when
//! enlarging, one normalised set of weights per output pixel; horizontal
//! pass first, then vertical), in two arithmetics:
//!
//! * [`ResizeArithmetic::PilUint8`]: Pillow's 8-bit path bit for bit —
//!   weights rounded to 22-bit fixed point, each pass rounded and clamped
//!   to a byte. This is what `transforms.Resize` computes on a PIL image,
//!   hence on every `ImageFolder` pipeline; on 8-bit images it reproduces
//!   torchvision exactly (see `tests/image_parity.rs`).
//! * [`ResizeArithmetic::Float`]: the same weights (computed in f64) on
//!   f32 values without rounding: torchvision's tensor path
//!   (`F.resize(tensor, antialias=True)`, ATen's
//!   `_upsample_bilinear2d_aa`), which differs from the PIL path by up to
//!   one grey level (its two byte roundings).

use crate::resize::{check_sizes, MAX_RESIZE_PIXELS};
use ndarray::{Array2, ArrayView2};
use salience_core::validate::check_finite;
use salience_core::Result;
use salience_core::SalienceError;
use serde::{Deserialize, Serialize};

/// The arithmetic of [`resize_antialiased`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeArithmetic {
    /// Pillow's 8-bit fixed-point resampler: values are first rounded to
    /// bytes (`round(255·v)`, clamped to `0..=255`), each pass rounds to
    /// a byte, the result is `byte / 255`. What torchvision computes on
    /// PIL images (the `ImageFolder` pipeline).
    #[default]
    PilUint8,
    /// The same filter in floating point, no rounding (torchvision's
    /// tensor path with `antialias=True`); values are not clamped.
    Float,
}

/// Pillow's fixed-point precision for 8-bit images (`PRECISION_BITS`).
const PRECISION_BITS: u32 = 22;

/// One pass's filter: for output pixel `o`, the source pixels
/// `start[o] .. start[o] + len[o]` with weights `weights[o * ksize ..]`.
struct Coefficients {
    start: Vec<usize>,
    len: Vec<usize>,
    ksize: usize,
    weights: Vec<f64>,
}

/// Pillow's `precompute_coeffs` for the bilinear ("triangle") filter over
/// the whole source (`box = (0, in_size)`).
fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    // Pillow's box is a C float; exact for the sizes allowed here.
    let scale = f64::from(in_size as f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the triangle's support is 1, times the scale
    let ksize = support.ceil() as usize * 2 + 1;
    let mut start = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut weights = vec![0.0f64; out_size * ksize];
    let ss = 1.0 / filterscale;
    for o in 0..out_size {
        let center = (o as f64 + 0.5) * scale;
        // C's (int) truncates toward zero, as `as i64` does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let k = &mut weights[o * ksize..o * ksize + n];
        let mut total = 0.0;
        for (x, w) in k.iter_mut().enumerate() {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            *w = (1.0 - t.abs()).max(0.0);
            total += *w;
        }
        if total != 0.0 {
            k.iter_mut().for_each(|w| *w /= total);
        }
        start.push(xmin);
        len.push(n);
    }
    Coefficients {
        start,
        len,
        ksize,
        weights,
    }
}

impl Coefficients {
    /// Pillow's `normalize_coeffs_8bpc`: weights in 22-bit fixed point.
    fn fixed_point(&self) -> Vec<i64> {
        let one = f64::from(1u32 << PRECISION_BITS);
        self.weights
            .iter()
            .map(|&w| {
                if w < 0.0 {
                    (-0.5 + w * one) as i64
                } else {
                    (0.5 + w * one) as i64
                }
            })
            .collect()
    }

    /// The taps of output pixel `o`: (first source index, weights).
    fn taps<'a, T>(&self, o: usize, weights: &'a [T]) -> (usize, &'a [T]) {
        let k = o * self.ksize;
        (self.start[o], &weights[k..k + self.len[o]])
    }
}

/// Pillow's `clip8`: a fixed-point sum to a byte.
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along the rows (`horizontal`) or the columns: output pixel
/// `o` of each line is `finish(Σ_t add(acc, src[first + t], weight_t))`
/// from `zero`.
fn pass<T: Copy, W: Copy, S: Copy>(
    src: &Array2<T>,
    c: &Coefficients,
    weights: &[W],
    horizontal: bool,
    zero: S,
    add: impl Fn(S, T, W) -> S,
    finish: impl Fn(S) -> T,
) -> Array2<T> {
    let (h, w) = src.dim();
    let shape = if horizontal {
        (h, c.start.len())
    } else {
        (c.start.len(), w)
    };
    Array2::from_shape_fn(shape, |(i, j)| {
        let (o, fixed) = if horizontal { (j, i) } else { (i, j) };
        let (first, taps) = c.taps(o, weights);
        let sum = taps.iter().enumerate().fold(zero, |acc, (t, &wt)| {
            let v = if horizontal {
                src[[fixed, first + t]]
            } else {
                src[[first + t, fixed]]
            };
            add(acc, v, wt)
        });
        finish(sum)
    })
}

/// Pillow's 8-bit pass: fixed-point weights, rounded and clamped to a byte.
fn pass_u8(src: &Array2<u8>, c: &Coefficients, horizontal: bool) -> Array2<u8> {
    let k = c.fixed_point();
    let half = 1i64 << (PRECISION_BITS - 1);
    let add = |acc: i64, v: u8, wt: i64| acc + i64::from(v) * wt;
    pass(src, c, &k, horizontal, half, add, clip8)
}

/// The float pass: f64 weights and sums, no rounding.
fn pass_f32(src: &Array2<f32>, c: &Coefficients, horizontal: bool) -> Array2<f32> {
    let add = |acc: f64, v: f32, wt: f64| acc + f64::from(v) * wt;
    pass(src, c, &c.weights, horizontal, 0.0, add, |s| s as f32)
}

/// Resizes one channel to `out_h × out_w` with an antialiased bilinear
/// filter (Pillow's `BILINEAR`; see the module docs for the two
/// arithmetics). A side whose size does not change is not filtered, as in
/// Pillow.
///
/// Errors ([`salience_core::SalienceError`]) for an
/// empty source, a zero target side, a target of more than
/// [`MAX_RESIZE_PIXELS`] pixels (checked before allocating) and a
/// non-finite source value.
///
/// ```
/// use ndarray::array;
/// use salience_datasets::resample::{resize_antialiased, ResizeArithmetic};
/// // Shrinking by 2: a triangle of support 2 around each output centre,
/// // weights 1/8, 3/8, 3/8, 1/8 (cut and renormalised at the edges), not
/// // just the two nearest pixels.
/// let a = array![[0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]];
/// let b = resize_antialiased(a.view(), 1, 4, ResizeArithmetic::Float)?;
/// assert!((b[[0, 0]] - 1.0 / 7.0).abs() < 1e-6); // (3·0 + 3·0 + 1·1) / 7
/// assert!((b[[0, 1]] - 0.75).abs() < 1e-6); // (0 + 3 + 3 + 0) / 8
/// // Pillow's 8-bit arithmetic: the same, rounded to a byte.
/// let p = resize_antialiased(a.view(), 1, 4, ResizeArithmetic::PilUint8)?;
/// assert_eq!(p[[0, 0]], (255.0f32 / 7.0).round() / 255.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn resize_antialiased(
    src: ArrayView2<'_, f32>,
    out_h: usize,
    out_w: usize,
    arithmetic: ResizeArithmetic,
) -> Result<Array2<f32>> {
    let (h, w) = src.dim();
    check_sizes("resize_antialiased", (h, w), (out_h, out_w))?;
    // The intermediate image is out_w × h.
    let too_big = |a: usize, b: usize| a.checked_mul(b).is_none_or(|p| p > MAX_RESIZE_PIXELS);
    if too_big(out_h, out_w) || too_big(h, out_w) {
        return Err(SalienceError::invalid(
            "out_h, out_w",
            format!("{out_h}x{out_w} (from {h}x{w})"),
            &format!(
                "the target and the intermediate image may have at most \
                 MAX_RESIZE_PIXELS = {MAX_RESIZE_PIXELS} pixels"
            ),
        ));
    }
    check_finite(&src, "resize_antialiased source")?;
    let horizontal = (out_w != w).then(|| coefficients(w, out_w));
    let vertical = (out_h != h).then(|| coefficients(h, out_h));
    Ok(match arithmetic {
        ResizeArithmetic::PilUint8 => {
            let mut img = src.mapv(to_byte);
            if let Some(c) = &horizontal {
                img = pass_u8(&img, c, true);
            }
            if let Some(c) = &vertical {
                img = pass_u8(&img, c, false);
            }
            img.mapv(|b| f32::from(b) / 255.0)
        }
        ResizeArithmetic::Float => {
            let mut img = src.to_owned();
            if let Some(c) = &horizontal {
                img = pass_f32(&img, c, true);
            }
            if let Some(c) = &vertical {
                img = pass_f32(&img, c, false);
            }
            img
        }
    })
}

/// `round(255·v)` clamped to a byte (exact inverse of `byte / 255`).
pub(crate) fn to_byte(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    #[test]
    fn weights_are_pillows_triangle() {
        // 8 -> 4: scale 2, support 2; centre of output 1 is 3.0, taps 1..=4
        // (xmin = int(3 - 2 + 0.5) = 1, xmax = int(5.5) = 5) with raw
        // weights 1 - |x + 0.5 - 3| / 2 = 0.25, 0.75, 0.75, 0.25 (sum 2).
        let c = coefficients(8, 4);
        let (first, w) = c.taps(1, &c.weights);
        assert_eq!(first, 1);
        assert_eq!(w, &[0.125, 0.375, 0.375, 0.125]);
        // at the left edge the window is cut and renormalised: output 0,
        // centre 1.0, taps 0..=2 with raw weights 0.75, 0.75, 0.25.
        let (first, w) = c.taps(0, &c.weights);
        assert_eq!(first, 0);
        let want = [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75];
        assert!(w.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15));
        // enlarging keeps support 1: two taps, the plain bilinear weights.
        let c = coefficients(2, 4);
        let (first, w) = c.taps(1, &c.weights);
        assert_eq!(first, 0);
        assert_eq!(w, &[0.75, 0.25]);
    }

    #[test]
    fn shrinking_averages_one_pixel_stripes_that_plain_bilinear_aliases() {
        // 63 -> 21 (scale 3): plain bilinear samples exactly column 3o + 1,
        // so the stripes come out as 1, 0, 1, 0 (full-contrast aliasing);
        // the triangle of support 3 averages taps 3o - 1 ..= 3o + 3 with
        // weights 1/3, 2/3, 1, 2/3, 1/3 (sum 3): 5/9 or 4/9.
        let stripes = Array2::from_shape_fn((4, 63), |(_, j)| (j % 2) as f32);
        for a in [ResizeArithmetic::Float, ResizeArithmetic::PilUint8] {
            let out = resize_antialiased(stripes.view(), 4, 21, a).unwrap();
            for j in 1..20 {
                let want = if j % 2 == 0 { 5.0 / 9.0 } else { 4.0 / 9.0 };
                assert!(
                    (out[[0, j]] - want).abs() <= 0.5 / 255.0,
                    "{a:?} {j} {}",
                    out[[0, j]]
                );
            }
        }
        let plain =
            crate::resize::resize(stripes.view(), 4, 21, crate::Interpolation::Bilinear).unwrap();
        assert!((1..20).all(|j| (plain[[0, j]] - 0.5).abs() > 0.49));
    }

    #[test]
    fn pil_arithmetic_rounds_each_pass_to_bytes() {
        // 3 -> 2 horizontally: scale 1.5, output 0 has centre 0.75, taps
        // 0..=1 (xmax = int(0.75 + 1.5 + 0.5) = 2), raw weights
        // 1 - |0.5 - 0.75| / 1.5 = 5/6 and 1 - |1.5 - 0.75| / 1.5 = 1/2.
        let a = array![[10.0f32 / 255.0, 20.0 / 255.0, 200.0 / 255.0]];
        let out = resize_antialiased(a.view(), 1, 2, ResizeArithmetic::PilUint8).unwrap();
        let w0: f64 = (5.0 / 6.0) / (5.0 / 6.0 + 0.5);
        let want0 = (10.0 * w0 + 20.0 * (1.0 - w0)).round() / 255.0;
        assert_eq!(out[[0, 0]], want0 as f32);
        let f = resize_antialiased(a.view(), 1, 2, ResizeArithmetic::Float).unwrap();
        assert!((f[[0, 0]] - (10.0 * w0 + 20.0 * (1.0 - w0)) as f32 / 255.0).abs() < 1e-6);
        // same size: untouched (PIL copies)
        let same = resize_antialiased(a.view(), 1, 3, ResizeArithmetic::PilUint8).unwrap();
        assert_eq!(same, a);
    }

    #[test]
    fn bad_sizes_and_values_are_errors() {
        let a = array![[0.0f32, 1.0]];
        for (h, w) in [(0, 2), (2, 0), (1 << 40, 1 << 40), (usize::MAX, 2)] {
            assert!(resize_antialiased(a.view(), h, w, ResizeArithmetic::Float).is_err());
        }
        let e = resize_antialiased(
            Array2::<f32>::zeros((0, 3)).view(),
            2,
            2,
            ResizeArithmetic::Float,
        );
        assert!(e.is_err());
        let nan = array![[f32::NAN, 1.0]];
        let e = resize_antialiased(nan.view(), 3, 3, ResizeArithmetic::PilUint8).unwrap_err();
        assert!(e.to_string().contains("resize_antialiased source"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(64)))]

        /// Constant images stay constant; values stay within the source's
        /// range (the weights are non-negative and sum to 1); shapes match.
        #[test]
        fn convex_and_shape_preserving(
            h in 1usize..20, w in 1usize..20, oh in 1usize..30, ow in 1usize..30,
            seed in any::<u64>(), c in 0u8..=255,
        ) {
            let k = Array2::from_elem((h, w), f32::from(c) / 255.0);
            for a in [ResizeArithmetic::Float, ResizeArithmetic::PilUint8] {
                let out = resize_antialiased(k.view(), oh, ow, a).unwrap();
                prop_assert_eq!(out.dim(), (oh, ow));
                prop_assert!(out.iter().all(|&v| (v - f32::from(c) / 255.0).abs() < 1e-6));
            }
            let v = Array2::from_shape_fn((h, w), |(i, j)| {
                ((seed.wrapping_mul(31).wrapping_add((i * 97 + j * 13) as u64) % 256) as f32) / 255.0
            });
            let (lo, hi) = v.iter().fold((1.0f32, 0.0f32), |(l, u), &x| (l.min(x), u.max(x)));
            for a in [ResizeArithmetic::Float, ResizeArithmetic::PilUint8] {
                let out = resize_antialiased(v.view(), oh, ow, a).unwrap();
                prop_assert!(out.iter().all(|&x| x >= lo - 1e-6 && x <= hi + 1e-6));
            }
        }
    }
}
