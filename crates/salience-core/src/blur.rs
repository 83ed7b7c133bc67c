//! The one Gaussian blur of the workspace: torchvision's
//! `transforms.functional.gaussian_blur` (separable, normalised kernel of
//! odd side `kernel_size`, `reflect` border).
//!
//! Used by the blurred baselines of the explainers (Integrated Gradients'
//! `Baseline::Blur`), of the metrics (insertion, infidelity, faithfulness
//! correlation) and of AGG_faith's Gram, so a blurred baseline means the
//! same image everywhere.
//!
//! **Kernel.** `k_t ∝ exp(−t²/(2σ²))` for `t = −r..=r`, `r = (kernel_size −
//! 1)/2`, normalised to sum 1 (torchvision's `_get_gaussian_kernel1d`).
//!
//! **Border.** `reflect` padding, the edge pixel *not* repeated
//! (`c b | a b c d | c b`), torchvision's (and `torch.nn.functional.pad`'s
//! `"reflect"`, numpy's `"reflect"`; scipy calls it `"mirror"`). torchvision
//! refuses a kernel whose half-width reaches the image side; here the
//! reflection continues periodically (period `2(n − 1)`), so such a kernel
//! still gives a convex combination of the plane's values, and a side of 1
//! repeats its only pixel. Parity with torchvision (≤ 1e-6 absolute) is
//! pinned by `tests/blur_parity.rs` on a fixture written by
//! `scripts/parity/blur_fixture.py`.
//!
//! ```
//! use salience_core::blur::GaussianBlur;
//! let x = ndarray::Array::from_elem((1, 1, 5, 5), 3.0f32).into_dyn();
//! let b = GaussianBlur::new(20.0, 25)?.apply(x.view())?;
//! assert!(b.iter().all(|v| (v - 3.0).abs() < 1e-5)); // constants are kept
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::validate::check_finite;
use crate::{Result, SalienceError};
use ndarray::{ArrayD, ArrayViewD};

/// The largest accepted kernel side (odd): far beyond any image side a blur
/// is useful for, small enough that the kernel is never a large allocation.
pub const MAX_BLUR_KERNEL: usize = 4095;

/// A Gaussian blur: standard deviation `sigma` (pixels) and odd kernel side
/// `kernel_size`; see the [module docs](self) for the kernel and the border.
///
/// ```
/// use salience_core::blur::GaussianBlur;
/// assert!(GaussianBlur::new(1.0, 4).is_err()); // even side
/// assert!(GaussianBlur::new(0.0, 3).is_err());
/// assert_eq!(GaussianBlur::rise(), GaussianBlur { sigma: 5.0, kernel_size: 11 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianBlur {
    /// Standard deviation in pixels (finite, > 0).
    pub sigma: f32,
    /// Kernel side (odd, 1 ..= [`MAX_BLUR_KERNEL`]).
    pub kernel_size: usize,
}

impl Default for GaussianBlur {
    /// [`GaussianBlur::rise`] (σ = 5, kernel 11): the blurred baseline of
    /// Decker et al. (2024)'s infidelity on both the metric and the AGG_faith
    /// side.
    fn default() -> Self {
        GaussianBlur::rise()
    }
}

impl GaussianBlur {
    /// A checked blur.
    pub fn new(sigma: f32, kernel_size: usize) -> Result<Self> {
        let b = GaussianBlur { sigma, kernel_size };
        b.validate()?;
        Ok(b)
    }

    /// Petsiuk et al.'s RISE / insertion baseline: σ = 5, kernel 11.
    pub fn rise() -> Self {
        GaussianBlur {
            sigma: 5.0,
            kernel_size: 11,
        }
    }

    /// Mahlau & Nolde (2022)'s Integrated-Gradients blur: σ = 20, kernel 25.
    ///
    /// ```
    /// assert_eq!(salience_core::blur::GaussianBlur::mahlau2022().kernel_size, 25);
    /// ```
    pub fn mahlau2022() -> Self {
        GaussianBlur {
            sigma: 20.0,
            kernel_size: 25,
        }
    }

    /// Checks σ (finite, > 0) and the kernel side (odd, ≤ [`MAX_BLUR_KERNEL`]).
    ///
    /// ```
    /// use salience_core::blur::GaussianBlur;
    /// assert!(GaussianBlur { sigma: 1.0, kernel_size: usize::MAX }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(SalienceError::invalid(
                "blur sigma",
                self.sigma,
                "must be finite and > 0",
            ));
        }
        if self.kernel_size % 2 == 0 || self.kernel_size > MAX_BLUR_KERNEL {
            return Err(SalienceError::invalid(
                "blur kernel_size",
                self.kernel_size,
                "must be odd, between 1 and MAX_BLUR_KERNEL (4095)",
            ));
        }
        Ok(())
    }

    /// The normalised 1-D kernel (length `kernel_size`).
    ///
    /// ```
    /// let k = salience_core::blur::GaussianBlur::new(1.0, 3)?.kernel()?;
    /// let e = (-0.5f64).exp();
    /// assert!((k[1] - 1.0 / (1.0 + 2.0 * e)).abs() < 1e-12);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn kernel(&self) -> Result<Vec<f64>> {
        self.validate()?;
        let r = (self.kernel_size as f64 - 1.0) / 2.0;
        let s = f64::from(self.sigma);
        let mut k: Vec<f64> = (0..self.kernel_size)
            .map(|t| (-0.5 * ((t as f64 - r) / s).powi(2)).exp())
            .collect();
        let z: f64 = k.iter().sum();
        k.iter_mut().for_each(|v| *v /= z);
        Ok(k)
    }

    /// Blurs `planes` row-major `h × w` planes of `src` into `out` (same
    /// length `planes·h·w`), accumulating in f64. Non-finite input is a
    /// [`SalienceError::NonFinite`]; finite input gives finite output (each
    /// value is a convex combination of its plane's values).
    ///
    /// ```
    /// use salience_core::blur::GaussianBlur;
    /// let mut out = [0.0f32; 3];
    /// GaussianBlur::new(1.0, 3)?.blur_planes(&[0.0, 1.0, 0.0], 1, 1, 3, &mut out)?;
    /// // reflect border: the neighbours of x0 are x1 and x1.
    /// let e = (-0.5f32).exp();
    /// assert!((out[0] - 2.0 * e / (1.0 + 2.0 * e)).abs() < 1e-6);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn blur_planes(
        &self,
        src: &[f32],
        planes: usize,
        h: usize,
        w: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let k = self.kernel()?;
        let len = planes
            .checked_mul(h)
            .and_then(|v| v.checked_mul(w))
            .ok_or_else(|| SalienceError::invalid("blur planes", planes, "size overflows"))?;
        if src.len() != len || out.len() != len {
            return Err(SalienceError::shape(
                "blur buffers",
                format!("[{len}] (planes·h·w) for the input and the output"),
                &[src.len(), out.len()],
            ));
        }
        if let Some((index, &value)) = src.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SalienceError::NonFinite {
                context: "blurred input".into(),
                index,
                value,
            });
        }
        if len == 0 {
            return Ok(());
        }
        let mut tmp = vec![0.0f64; h * w];
        for (s, o) in src.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
            blur_plane(s, &mut tmp, h, w, &k, o);
        }
        Ok(())
    }

    /// Blurs every channel of a batch `[N, C, H, W]` or `[N, H, W]` over its
    /// last two axes.
    ///
    /// ```
    /// use ndarray::Array;
    /// use salience_core::blur::GaussianBlur;
    /// let tabular = Array::<f32, _>::zeros((2, 5)).into_dyn();
    /// assert!(GaussianBlur::rise().apply(tabular.view()).is_err());
    /// ```
    pub fn apply(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        let shape = x.shape().to_vec();
        if !(3..=4).contains(&shape.len()) || shape.contains(&0) {
            return Err(SalienceError::shape(
                "blurred input",
                "[N, C, H, W] or [N, H, W] (a blur needs two spatial axes)",
                &shape,
            ));
        }
        self.validate()?;
        check_finite(&x, "blurred input")?;
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let src = x.as_standard_layout();
        let Some(s) = src.as_slice() else {
            return Err(SalienceError::backend_msg("blur input not contiguous"));
        };
        let mut out = ArrayD::<f32>::zeros(x.raw_dim());
        let Some(o) = out.as_slice_mut() else {
            return Err(SalienceError::backend_msg("blur buffer not contiguous"));
        };
        self.blur_planes(s, s.len() / (h * w), h, w, o)?;
        Ok(out)
    }
}

/// torchvision's `reflect` index (`…, 2, 1, | 0, 1, …, n−1, | n−2, …`) of
/// any integer offset on an axis of length `n ≥ 1`, continued periodically.
///
/// ```
/// use salience_core::blur::reflect_index;
/// let v: Vec<usize> = (-3..7).map(|i| reflect_index(i, 4)).collect();
/// assert_eq!(v, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
/// assert_eq!(reflect_index(-5, 1), 0);
/// ```
pub fn reflect_index(i: isize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    if m < n as isize {
        m as usize
    } else {
        (period - m) as usize
    }
}

/// Separable blur of one plane: rows into `tmp`, columns into `out`.
fn blur_plane(x: &[f32], tmp: &mut [f64], h: usize, w: usize, k: &[f64], out: &mut [f32]) {
    let r = (k.len() / 2) as isize;
    for y in 0..h {
        let row = &x[y * w..(y + 1) * w];
        for c in 0..w {
            let mut acc = 0.0f64;
            for (t, kv) in k.iter().enumerate() {
                acc += kv * f64::from(row[reflect_index(c as isize + t as isize - r, w)]);
            }
            tmp[y * w + c] = acc;
        }
    }
    for y in 0..h {
        for c in 0..w {
            let mut acc = 0.0f64;
            for (t, kv) in k.iter().enumerate() {
                acc += kv * tmp[reflect_index(y as isize + t as isize - r, h) * w + c];
            }
            out[y * w + c] = acc as f32;
        }
    }
}
