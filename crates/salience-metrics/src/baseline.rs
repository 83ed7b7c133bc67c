//! Baselines ("uninformative" images) for insertion and deletion: the
//! image that insertion starts from and that deletion ends at.

use ndarray::{Array3, ArrayView3};
use rand_distr::{Distribution, Normal};
use salience_core::{Result, SalienceError};

/// How the baseline of an image `[C, H, W]` is built.
///
/// ```
/// use salience_metrics::Baseline;
/// assert_eq!(Baseline::default(), Baseline::RandomNormal);
/// let black = Baseline::Constant(0.0);
/// let rise_blur = Baseline::Blur { sigma: 5.0, kernel_size: 11 };
/// # let _ = (black, rise_blur);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Baseline {
    /// Mahlau & Nolde (2022)'s baseline (default): every value of channel `c` drawn
    /// independently from `N(μ_c, σ_c)`, the mean and (population) standard
    /// deviation of that channel of the image itself. Seeded: the same
    /// seed gives the same baseline.
    #[default]
    RandomNormal,
    /// Every value set to a constant; `Constant(0.0)` is the black image
    /// (Petsiuk et al.'s deletion baseline). Quantus 0.6's `"black"` is
    /// each sample's *minimum* (its source), which equals 0 only for inputs
    /// whose darkest value is 0; `infidelity_cumulative`'s
    /// `CumulativeBaseline::SampleMin` is that convention.
    Constant(f32),
    /// The image blurred channel by channel with a normalised Gaussian
    /// kernel of odd size `kernel_size` and standard deviation `sigma`
    /// (pixels), borders replicated (Petsiuk et al.'s insertion baseline:
    /// kernel 11, σ = 5; Mahlau & Nolde (2022)'s IG blur: kernel 25, σ = 20).
    Blur {
        /// Standard deviation in pixels (> 0).
        sigma: f32,
        /// Odd kernel width ≥ 1.
        kernel_size: usize,
    },
    /// Every value of channel `c` set to the channel mean `μ_c`. Quantus
    /// 0.6's `"mean"` takes the mean over the whole sample (all channels,
    /// per its source): the same for one-channel inputs, not for RGB.
    ChannelMean,
}

impl Baseline {
    /// Checks the parameters (finite constant, σ > 0, odd kernel).
    ///
    /// ```
    /// use salience_metrics::Baseline;
    /// assert!(Baseline::Blur { sigma: 1.0, kernel_size: 4 }.validate().is_err());
    /// assert!(Baseline::Constant(f32::NAN).validate().is_err());
    /// assert!(Baseline::ChannelMean.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        match *self {
            Baseline::Constant(v) if !v.is_finite() => Err(SalienceError::invalid(
                "baseline",
                format!("Constant({v})"),
                "the constant must be finite",
            )),
            Baseline::Blur { sigma, kernel_size } => {
                if !(sigma.is_finite() && sigma > 0.0) {
                    return Err(SalienceError::invalid(
                        "baseline.sigma",
                        sigma,
                        "must be finite and > 0",
                    ));
                }
                if kernel_size % 2 == 0 || kernel_size > 4097 {
                    return Err(SalienceError::invalid(
                        "baseline.kernel_size",
                        kernel_size,
                        "must be odd, between 1 and 4097",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The baseline of one image `[C, H, W]` (a tabular sample is `[1, 1, D]`).
/// `seed` is only used by [`Baseline::RandomNormal`].
///
/// ```
/// use ndarray::Array3;
/// use salience_metrics::{make_baseline, Baseline};
/// let img = Array3::from_shape_fn((2, 3, 3), |(c, y, x)| (c * 9 + y * 3 + x) as f32);
/// let mean = make_baseline(img.view(), &Baseline::ChannelMean, 0)?;
/// assert_eq!(mean[[0, 2, 2]], 4.0);
/// assert_eq!(mean[[1, 0, 0]], 13.0);
/// let a = make_baseline(img.view(), &Baseline::RandomNormal, 7)?;
/// let b = make_baseline(img.view(), &Baseline::RandomNormal, 7)?;
/// assert_eq!(a, b);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn make_baseline(
    image: ArrayView3<'_, f32>,
    baseline: &Baseline,
    seed: u64,
) -> Result<Array3<f32>> {
    baseline.validate()?;
    salience_core::validate::check_nonempty_shape(image.shape(), "baseline image")?;
    salience_core::validate::check_finite(&image, "baseline image")?;
    let (c, h, w) = image.dim();
    let src: Vec<f32> = image.iter().copied().collect();
    let mut out = vec![0.0f32; src.len()];
    fill_baseline(&src, c, h, w, baseline, seed, &mut out)?;
    Array3::from_shape_vec((c, h, w), out).map_err(|e| SalienceError::Backend(e.to_string()))
}

/// Writes the baseline of the row-major image `src` (`c` planes of
/// `h × w`) into `out` (same length). Parameters must be validated.
pub(crate) fn fill_baseline(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    baseline: &Baseline,
    seed: u64,
    out: &mut [f32],
) -> Result<()> {
    let p = h * w;
    match *baseline {
        Baseline::Constant(v) => out.iter_mut().for_each(|o| *o = v),
        Baseline::ChannelMean => {
            for ch in 0..c {
                let (mean, _) = mean_std(&src[ch * p..(ch + 1) * p]);
                out[ch * p..(ch + 1) * p]
                    .iter_mut()
                    .for_each(|o| *o = mean as f32);
            }
        }
        Baseline::RandomNormal => {
            let mut rng = salience_core::seed::rng(seed);
            for ch in 0..c {
                let (mean, std) = mean_std(&src[ch * p..(ch + 1) * p]);
                let normal = Normal::new(mean, std).map_err(|e| {
                    SalienceError::invalid(
                        "baseline",
                        format!("RandomNormal(μ = {mean}, σ = {std})"),
                        &e.to_string(),
                    )
                })?;
                for o in out[ch * p..(ch + 1) * p].iter_mut() {
                    *o = normal.sample(&mut rng) as f32;
                }
            }
        }
        Baseline::Blur { sigma, kernel_size } => {
            let kernel = gaussian_kernel(sigma as f64, kernel_size);
            let r = (kernel_size / 2) as isize;
            let mut tmp = vec![0.0f64; p];
            for ch in 0..c {
                let plane = &src[ch * p..(ch + 1) * p];
                // Horizontal pass.
                for y in 0..h {
                    for x in 0..w {
                        let mut acc = 0.0f64;
                        for (j, &k) in kernel.iter().enumerate() {
                            let xx = (x as isize + j as isize - r).clamp(0, w as isize - 1);
                            acc += k * plane[y * w + xx as usize] as f64;
                        }
                        tmp[y * w + x] = acc;
                    }
                }
                // Vertical pass.
                let dst = &mut out[ch * p..(ch + 1) * p];
                for y in 0..h {
                    for x in 0..w {
                        let mut acc = 0.0f64;
                        for (j, &k) in kernel.iter().enumerate() {
                            let yy = (y as isize + j as isize - r).clamp(0, h as isize - 1);
                            acc += k * tmp[yy as usize * w + x];
                        }
                        dst[y * w + x] = acc as f32;
                    }
                }
            }
        }
    }
    if let Some((index, &value)) = out.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "baseline".into(),
            index,
            value,
        });
    }
    Ok(())
}

/// Mean and population standard deviation, in f64.
fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.max(0.0).sqrt())
}

/// Normalised 1-D Gaussian weights of odd length `size`.
fn gaussian_kernel(sigma: f64, size: usize) -> Vec<f64> {
    let r = (size / 2) as f64;
    let mut k: Vec<f64> = (0..size)
        .map(|i| {
            let d = i as f64 - r;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_preserves_constants_and_smooths() {
        let img = Array3::from_elem((1, 4, 5), 3.0f32);
        let b = make_baseline(
            img.view(),
            &Baseline::Blur {
                sigma: 2.0,
                kernel_size: 5,
            },
            0,
        )
        .unwrap();
        assert!(b.iter().all(|&v| (v - 3.0).abs() < 1e-5));
        let mut spike = Array3::<f32>::zeros((1, 5, 5));
        spike[[0, 2, 2]] = 1.0;
        let b = make_baseline(
            spike.view(),
            &Baseline::Blur {
                sigma: 1.0,
                kernel_size: 3,
            },
            0,
        )
        .unwrap();
        // Separable kernel, centre weight k0² with k = [e^-½, 1, e^-½]/(1 + 2e^-½).
        let k0 = 1.0 / (1.0 + 2.0 * (-0.5f64).exp());
        assert!((b[[0, 2, 2]] as f64 - k0 * k0).abs() < 1e-6);
        assert!((b.sum() - 1.0).abs() < 1e-5);
        // Kernel size 1 is the identity.
        let id = make_baseline(
            spike.view(),
            &Baseline::Blur {
                sigma: 1.0,
                kernel_size: 1,
            },
            0,
        )
        .unwrap();
        assert_eq!(id, spike);
    }

    #[test]
    fn random_normal_statistics_and_seeding() {
        let img = Array3::from_shape_fn((2, 64, 64), |(c, y, x)| {
            if c == 0 {
                ((y * 64 + x) % 7) as f32
            } else {
                -5.0
            }
        });
        let a = make_baseline(img.view(), &Baseline::RandomNormal, 1).unwrap();
        let b = make_baseline(img.view(), &Baseline::RandomNormal, 2).unwrap();
        assert_ne!(a, b);
        let c0: Vec<f32> = a.index_axis(ndarray::Axis(0), 0).iter().copied().collect();
        let (m_img, s_img) = mean_std(
            &img.index_axis(ndarray::Axis(0), 0)
                .iter()
                .copied()
                .collect::<Vec<_>>(),
        );
        let (m, s) = mean_std(&c0);
        assert!(
            (m - m_img).abs() < 0.15 && (s - s_img).abs() < 0.15,
            "{m} {s}"
        );
        // A constant channel has σ = 0: the baseline is that constant.
        assert!(a.index_axis(ndarray::Axis(0), 1).iter().all(|&v| v == -5.0));
    }
}
