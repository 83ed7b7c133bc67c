//! Image resizing (nearest neighbour and bilinear, half-pixel centres as
//! PyTorch's `interpolate(..., align_corners=False)` without antialiasing).

use ndarray::{Array2, ArrayView2};
use salience_core::validate::check_finite;
use salience_core::Result;
use salience_core::SalienceError;

/// How [`resize`] interpolates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The source pixel whose centre is nearest (PyTorch's `nearest-exact`).
    Nearest,
    /// Bilinear between the four nearest source pixel centres, edges
    /// clamped (PyTorch's `bilinear`, `align_corners=False`).
    #[default]
    Bilinear,
}

/// The largest output [`resize`] builds, in pixels (2^28, 1 GiB of f32):
/// a larger `out_h × out_w` (overflow-checked) is an error before anything
/// is allocated.
pub const MAX_RESIZE_PIXELS: usize = 1 << 28;

/// Errors for an empty source or a zero target side (shared by
/// [`resize`] and [`crate::resample::resize_antialiased`]).
pub(crate) fn check_sizes(
    what: &str,
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(SalienceError::Empty(format!("{what}: empty source image")));
    }
    if out_h == 0 || out_w == 0 {
        return Err(SalienceError::invalid(
            "out_h, out_w",
            format!("{out_h}x{out_w}"),
            "the target size must be at least 1x1",
        ));
    }
    Ok(())
}

/// Resizes a single-channel image to `out_h × out_w`.
///
/// Errors when the source or the target is empty, when the target has
/// more than [`MAX_RESIZE_PIXELS`] pixels, and when the source holds a
/// NaN or infinity ([`salience_core::SalienceError::NonFinite`] naming "resize source").
/// Bilinear interpolation of finite values within a few ulps of
/// ±[`f32::MAX`] can round past it; that is reported as a non-finite
/// "resize output" instead of returning an infinity.
///
/// ```
/// use ndarray::array;
/// use salience_datasets::resize::{resize, Interpolation};
/// let a = array![[0.0f32, 1.0], [2.0, 3.0]];
/// let n = resize(a.view(), 4, 4, Interpolation::Nearest).unwrap();
/// assert_eq!(n.row(0).to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
/// let b = resize(a.view(), 4, 4, Interpolation::Bilinear).unwrap();
/// assert_eq!(b.row(0).to_vec(), vec![0.0, 0.25, 0.75, 1.0]);
/// assert_eq!(resize(a.view(), 2, 2, Interpolation::Bilinear).unwrap(), a);
/// ```
pub fn resize(
    src: ArrayView2<'_, f32>,
    out_h: usize,
    out_w: usize,
    interpolation: Interpolation,
) -> Result<Array2<f32>> {
    let (h, w) = src.dim();
    check_sizes("resize", (h, w), (out_h, out_w))?;
    if out_h
        .checked_mul(out_w)
        .is_none_or(|p| p > MAX_RESIZE_PIXELS)
    {
        return Err(SalienceError::invalid(
            "out_h, out_w",
            format!("{out_h}x{out_w}"),
            &format!("the target may have at most MAX_RESIZE_PIXELS = {MAX_RESIZE_PIXELS} pixels"),
        ));
    }
    check_finite(&src, "resize source")?;
    let sy = h as f64 / out_h as f64;
    let sx = w as f64 / out_w as f64;
    let out = match interpolation {
        Interpolation::Nearest => Array2::from_shape_fn((out_h, out_w), |(i, j)| {
            let r = (((i as f64 + 0.5) * sy) as usize).min(h - 1);
            let c = (((j as f64 + 0.5) * sx) as usize).min(w - 1);
            src[[r, c]]
        }),
        Interpolation::Bilinear => {
            let axis = |o: usize, scale: f64, n: usize| -> (usize, usize, f32) {
                let p = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let p0 = (p.floor() as usize).min(n - 1);
                let p1 = (p0 + 1).min(n - 1);
                (p0, p1, (p - p0 as f64).clamp(0.0, 1.0) as f32)
            };
            let rows: Vec<_> = (0..out_h).map(|i| axis(i, sy, h)).collect();
            let cols: Vec<_> = (0..out_w).map(|j| axis(j, sx, w)).collect();
            Array2::from_shape_fn((out_h, out_w), |(i, j)| {
                let (r0, r1, fy) = rows[i];
                let (c0, c1, fx) = cols[j];
                let top = src[[r0, c0]] * (1.0 - fx) + src[[r0, c1]] * fx;
                let bottom = src[[r1, c0]] * (1.0 - fx) + src[[r1, c1]] * fx;
                top * (1.0 - fy) + bottom * fy
            })
        }
    };
    // A convex combination of finite values can still round past f32::MAX.
    check_finite(
        &out,
        "resize output (finite source values near f32::MAX overflowed)",
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    /// Issue 19: a (2^40, 2^40) target panicked or aborted, and NaN input
    /// came back as NaN output with Ok.
    #[test]
    fn huge_targets_and_non_finite_sources_are_errors() {
        let a = array![[0.0f32, 1.0], [2.0, 3.0]];
        for m in [Interpolation::Nearest, Interpolation::Bilinear] {
            for (h, w) in [
                (1 << 40, 1 << 40),
                (usize::MAX, 2),
                (MAX_RESIZE_PIXELS + 1, 1),
            ] {
                let e = resize(a.view(), h, w, m).unwrap_err().to_string();
                assert!(e.contains("MAX_RESIZE_PIXELS"), "{e}");
            }
            let nan = array![[0.0f32, f32::NAN]];
            match resize(nan.view(), 3, 3, m) {
                Err(SalienceError::NonFinite { context, index, .. }) => {
                    assert_eq!((context.as_str(), index), ("resize source", 1));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(salience_core::validate::fuzz_cases(128)))]

        /// Arbitrary sizes and values: a finite image of the target size
        /// whose values lie within the source's range, or a typed error.
        #[test]
        fn resize_never_panics(
            v in proptest::collection::vec(
                prop_oneof![-1e3f32..1e3, Just(f32::MAX), Just(-f32::MAX), Just(f32::NAN)],
                1..20,
            ),
            w in 1usize..5,
            oh in prop_oneof![0usize..40, Just(1usize << 40), Just(usize::MAX)],
            ow in prop_oneof![0usize..40, Just(1usize << 40), Just(usize::MAX)],
            bilinear in any::<bool>(),
        ) {
            let w = w.min(v.len());
            let src = Array2::from_shape_vec((v.len() / w, w), v[..v.len() / w * w].to_vec()).unwrap();
            let m = if bilinear { Interpolation::Bilinear } else { Interpolation::Nearest };
            match resize(src.view(), oh, ow, m) {
                Ok(out) => {
                    prop_assert_eq!(out.dim(), (oh, ow));
                    let lo = src.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let tol = 1e-5 * hi.abs().max(lo.abs());
                    prop_assert!(out.iter().all(|&x| x.is_finite() && x >= lo - tol && x <= hi + tol));
                }
                Err(e) => prop_assert!(
                    oh == 0 || ow == 0 || oh.saturating_mul(ow) > MAX_RESIZE_PIXELS
                        || src.iter().any(|x| !x.is_finite())
                        || e.to_string().contains("resize output")
                ),
            }
        }
    }

    #[test]
    fn bilinear_downsampling_by_two_averages_pairs() {
        let a = array![[0.0f32, 2.0, 4.0, 6.0]];
        let b = resize(a.view(), 1, 2, Interpolation::Bilinear).unwrap();
        assert_eq!(b, array![[1.0f32, 5.0]]);
        let n = resize(a.view(), 1, 2, Interpolation::Nearest).unwrap();
        assert_eq!(n, array![[2.0f32, 6.0]]);
    }

    #[test]
    fn constant_images_stay_constant_and_zeros_stay_zero() {
        let a = ndarray::Array2::from_elem((5, 7), 0.3f32);
        for m in [Interpolation::Nearest, Interpolation::Bilinear] {
            let r = resize(a.view(), 11, 3, m).unwrap();
            assert!(r.iter().all(|&v| (v - 0.3).abs() < 1e-6));
        }
        let z = ndarray::Array2::<f32>::zeros((3, 3));
        assert!(resize(z.view(), 0, 3, Interpolation::Bilinear).is_err());
        let e = ndarray::Array2::<f32>::zeros((0, 3));
        assert!(resize(e.view(), 2, 2, Interpolation::Nearest).is_err());
    }
}
