//! Baselines ("uninformative" images) for insertion and deletion: the
//! image that insertion starts from and that deletion ends at.

use ndarray::{Array3, ArrayView3};
use rand_distr::{Distribution, Normal};
use salience_core::blur::GaussianBlur;
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
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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
    /// (pixels), reflect border: [`salience_core::blur::GaussianBlur`],
    /// torchvision's `gaussian_blur` (Petsiuk et al.'s insertion baseline:
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
                GaussianBlur::new(sigma, kernel_size).map(|_| ())
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
    Array3::from_shape_vec((c, h, w), out).map_err(|e| SalienceError::backend("ndarray", e))
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
            GaussianBlur::new(sigma, kernel_size)?.blur_planes(src, c, h, w, out)?;
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
