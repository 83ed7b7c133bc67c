//! Baselines (reference inputs x′) for path methods: zeros, a constant, a
//! blurred copy of the input, per-channel random normal noise, or a given
//! array.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience_core::blur::GaussianBlur;
use salience_core::seed::rng;
use salience_core::validate::check_finite;
use salience_core::{Result, SalienceError};

/// The baseline x′ of a path method (Integrated Gradients, Expected
/// Gradients).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Baseline {
    /// x′ = 0 (Captum's default).
    #[default]
    #[serde(alias = "zero")]
    Zeros,
    /// x′ = c everywhere.
    Constant(f32),
    /// x′ = `values[k]` wherever the first per-sample axis has index k: one
    /// value per channel of `[N, C, H, W]` inputs (e.g. the dataset mean
    /// colour), one per row of `[N, H, W]`, one per feature of `[N, D]`.
    PerChannel(Vec<f32>),
    /// x′ = the input blurred by a Gaussian of standard deviation `sigma`
    /// (pixels) truncated to `kernel_size × kernel_size` (odd), per channel,
    /// with reflect padding: [`salience_core::blur::GaussianBlur`], torchvision's `gaussian_blur`. Needs image
    /// inputs `[N, C, H, W]` or `[N, H, W]`. Mahlau & Nolde (2022) uses σ = 20,
    /// 25 × 25 ([`Baseline::blur_mahlau2022`]).
    Blur {
        /// Standard deviation in pixels (> 0).
        sigma: f32,
        /// Kernel side (odd, ≥ 1).
        kernel_size: usize,
    },
    /// x′ drawn pixel by pixel from N(μ_c, σ_c²), with μ_c and σ_c the mean
    /// and (population) standard deviation of channel c of the input
    /// (Mahlau & Nolde (2022)'s "Normal" baseline). Channels are axis 1 of
    /// `[N, C, H, W]`; other ranks have one channel. Sample i draws from
    /// its own seed, so the baseline does not depend on the batch.
    #[serde(alias = "normal")]
    RandomNormal,
    /// A given baseline: either one sample's shape (shared by all inputs)
    /// or `[N, ...]` (one per input).
    #[serde(skip)]
    Given(ArrayD<f32>),
}

impl Baseline {
    /// The blur baseline of Mahlau & Nolde (2022) (σ = 20, 25 × 25 kernel).
    ///
    /// ```
    /// use salience_perturb::Baseline;
    /// assert_eq!(Baseline::blur_mahlau2022(), Baseline::Blur { sigma: 20.0, kernel_size: 25 });
    /// ```
    pub fn blur_mahlau2022() -> Self {
        Baseline::Blur {
            sigma: 20.0,
            kernel_size: 25,
        }
    }

    /// A short name for explainer names (`"zeros"`, `"blur"`, …).
    ///
    /// ```
    /// assert_eq!(salience_perturb::Baseline::RandomNormal.label(), "normal");
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            Baseline::Zeros => "zeros",
            Baseline::Constant(_) => "constant",
            Baseline::PerChannel(_) => "per_channel",
            Baseline::Blur { .. } => "blur",
            Baseline::RandomNormal => "normal",
            Baseline::Given(_) => "given",
        }
    }

    /// Checks the baseline's parameters against a batch of `n` inputs of
    /// per-sample shape `sample_shape`.
    ///
    /// ```
    /// use salience_perturb::Baseline;
    /// assert!(Baseline::Blur { sigma: 1.0, kernel_size: 3 }.check(2, &[1, 4, 4]).is_ok());
    /// assert!(Baseline::Blur { sigma: 1.0, kernel_size: 4 }.check(2, &[1, 4, 4]).is_err());
    /// assert!(Baseline::Blur { sigma: 1.0, kernel_size: usize::MAX }.check(2, &[1, 4, 4]).is_err());
    /// assert!(Baseline::Blur { sigma: 1.0, kernel_size: 3 }.check(2, &[16]).is_err());
    /// ```
    pub fn check(&self, n: usize, sample_shape: &[usize]) -> Result<()> {
        match self {
            Baseline::Zeros | Baseline::RandomNormal => Ok(()),
            Baseline::Constant(c) => {
                if c.is_finite() {
                    Ok(())
                } else {
                    Err(SalienceError::invalid(
                        "baseline constant",
                        c,
                        "must be finite",
                    ))
                }
            }
            Baseline::PerChannel(v) => {
                let c = sample_shape.first().copied().unwrap_or(0);
                if v.len() != c {
                    return Err(SalienceError::shape(
                        "per-channel baseline",
                        format!("[{c}] (one value per index of the first per-sample axis)"),
                        &[v.len()],
                    ));
                }
                if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                    return Err(SalienceError::invalid(
                        "per-channel baseline value",
                        bad,
                        "must be finite",
                    ));
                }
                Ok(())
            }
            Baseline::Blur { sigma, kernel_size } => {
                GaussianBlur::new(*sigma, *kernel_size)?;
                if !(2..=3).contains(&sample_shape.len()) {
                    let mut s = vec![n];
                    s.extend_from_slice(sample_shape);
                    return Err(SalienceError::shape(
                        "blur baseline input",
                        "[N, C, H, W] or [N, H, W]",
                        &s,
                    ));
                }
                Ok(())
            }
            Baseline::Given(b) => {
                let ok = b.shape() == sample_shape
                    || (b.ndim() == sample_shape.len() + 1
                        && b.shape()[0] == n
                        && &b.shape()[1..] == sample_shape);
                if !ok {
                    return Err(SalienceError::shape(
                        "given baseline",
                        format!("{sample_shape:?} or [{n}, ...{sample_shape:?}]"),
                        b.shape(),
                    ));
                }
                check_finite(b, "given baseline")
            }
        }
    }

    /// The baselines `[N, ...]` of a batch of inputs `[N, ...]`, input i's
    /// drawn from `seeds.for_sample(i)` (only [`Baseline::RandomNormal`]
    /// is random). Explainers call the same code, so this is exactly the x′
    /// they integrate from.
    ///
    /// ```
    /// use salience_core::Seeds;
    /// use salience_perturb::Baseline;
    /// let x = ndarray::array![[1.0f32, 3.0], [2.0, 2.0]].into_dyn();
    /// let b = Baseline::Constant(0.5).generate(x.view(), Seeds::base(0))?;
    /// assert!(b.iter().all(|&v| v == 0.5));
    /// let r = Baseline::RandomNormal.generate(x.view(), Seeds::base(3))?;
    /// assert_eq!(r.iter().skip(2).copied().collect::<Vec<f32>>(), vec![2.0, 2.0]); // std 0: the mean
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn generate(
        &self,
        inputs: ArrayViewD<'_, f32>,
        seeds: salience_core::Seeds<'_>,
    ) -> Result<ArrayD<f32>> {
        let shape = inputs.shape().to_vec();
        if shape.len() < 2 {
            return Err(SalienceError::shape("baseline inputs", "[N, ...]", &shape));
        }
        salience_core::validate::check_nonempty_shape(&shape, "baseline inputs")?;
        check_finite(&inputs, "baseline inputs")?;
        let n = shape[0];
        seeds.check_len(n)?;
        self.check(n, &shape[1..])?;
        let xs = inputs.as_standard_layout();
        let data = xs
            .as_slice()
            .ok_or_else(|| SalienceError::backend_msg("input not contiguous"))?;
        let f: usize = shape[1..].iter().product();
        let mut out = vec![0f32; data.len()];
        for (i, (xi, oi)) in data
            .chunks_exact(f)
            .zip(out.chunks_exact_mut(f))
            .enumerate()
        {
            self.fill(xi, &shape[1..], i, seeds.for_sample(i), oi)?;
        }
        ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| SalienceError::backend("ndarray", e))
    }

    /// Writes the baseline of input `i` (features `x`, per-sample shape
    /// `sample_shape`) into `out`; `seed` drives [`Baseline::RandomNormal`].
    /// Call [`Baseline::check`] first. `x` and `out` must hold one sample
    /// (the product of `sample_shape`), and a per-input
    /// [`Baseline::Given`] must have a row `i`: otherwise a typed error.
    ///
    /// ```
    /// use salience_perturb::Baseline;
    /// let mut out = [0f32; 2];
    /// Baseline::Constant(0.5).fill(&[1.0, 2.0], &[2], 0, 0, &mut out)?;
    /// assert_eq!(out, [0.5, 0.5]);
    /// assert!(Baseline::Zeros.fill(&[1.0, 2.0], &[3], 0, 0, &mut out).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn fill(
        &self,
        x: &[f32],
        sample_shape: &[usize],
        i: usize,
        seed: u64,
        out: &mut [f32],
    ) -> Result<()> {
        let f = sample_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap_or(usize::MAX);
        if x.len() != f || out.len() != f {
            return Err(SalienceError::shape(
                "baseline sample and output",
                format!("{f} values each (sample shape {sample_shape:?})"),
                &[x.len(), out.len()],
            ));
        }
        match self {
            Baseline::Zeros => out.fill(0.0),
            Baseline::Constant(c) => out.fill(*c),
            Baseline::PerChannel(v) => {
                let per = out.len() / v.len().max(1);
                for (chunk, val) in out.chunks_mut(per.max(1)).zip(v) {
                    chunk.fill(*val);
                }
            }
            Baseline::Blur { sigma, kernel_size } => {
                let (planes, h, w) = match *sample_shape {
                    [c, h, w] => (c, h, w),
                    [h, w] => (1, h, w),
                    _ => {
                        return Err(SalienceError::shape(
                            "blur baseline input",
                            "[C, H, W] or [H, W] per sample",
                            sample_shape,
                        ))
                    }
                };
                GaussianBlur::new(*sigma, *kernel_size)?.blur_planes(x, planes, h, w, out)?;
            }
            Baseline::RandomNormal => {
                let channels = if sample_shape.len() == 3 {
                    sample_shape[0]
                } else {
                    1
                };
                let per = x.len() / channels.max(1);
                let mut g = rng(seed);
                for c in 0..channels {
                    let xs = &x[c * per..(c + 1) * per];
                    let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / per as f64;
                    let var =
                        xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / per as f64;
                    let std = var.sqrt();
                    for o in &mut out[c * per..(c + 1) * per] {
                        let z: f64 = StandardNormal.sample(&mut g);
                        *o = (mean + std * z) as f32;
                    }
                }
            }
            Baseline::Given(b) => {
                let f = out.len();
                let s = b
                    .as_slice()
                    .map(std::borrow::Cow::Borrowed)
                    .unwrap_or_else(|| {
                        std::borrow::Cow::Owned(b.as_standard_layout().iter().copied().collect())
                    });
                if s.len() == f {
                    out.copy_from_slice(&s);
                } else {
                    let row = i
                        .checked_mul(f)
                        .and_then(|a| s.get(a..a.checked_add(f)?))
                        .ok_or_else(|| {
                            SalienceError::shape(
                                "given baseline",
                                format!("[{f}] or at least {} rows of {f}", i.saturating_add(1)),
                                b.shape(),
                            )
                        })?;
                    out.copy_from_slice(row);
                }
            }
        }
        Ok(())
    }
}

pub use salience_core::blur::MAX_BLUR_KERNEL;

/// Gaussian blur of every plane of `[N, C, H, W]` or `[N, H, W]` images
/// (the [`Baseline::Blur`] baseline, exposed for metrics and plots).
///
/// ```
/// use salience_perturb::baseline::gaussian_blur;
/// let x = ndarray::Array::from_elem((1, 1, 5, 5), 3.0f32).into_dyn();
/// let b = gaussian_blur(x.view(), 20.0, 25)?; // constant images are unchanged
/// assert!(b.iter().all(|v| (v - 3.0).abs() < 1e-5));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn gaussian_blur(
    x: ArrayViewD<'_, f32>,
    sigma: f32,
    kernel_size: usize,
) -> Result<ArrayD<f32>> {
    let shape = x.shape().to_vec();
    if shape.len() < 3 {
        return Err(SalienceError::shape(
            "gaussian_blur input",
            "[N, C, H, W] or [N, H, W]",
            &shape,
        ));
    }
    Baseline::Blur { sigma, kernel_size }.generate(x, salience_core::Seeds::base(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_normal_matches_channel_moments() {
        let x: Vec<f32> = (0..2 * 64 * 64)
            .map(|i| {
                if i < 4096 {
                    (i % 7) as f32
                } else {
                    10.0 + (i % 3) as f32
                }
            })
            .collect();
        let mut out = vec![0f32; x.len()];
        Baseline::RandomNormal
            .fill(&x, &[2, 64, 64], 0, 9, &mut out)
            .unwrap();
        for c in 0..2 {
            let xs = &x[c * 4096..(c + 1) * 4096];
            let os = &out[c * 4096..(c + 1) * 4096];
            let m = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
            let sd = |s: &[f32]| {
                let mu = m(s);
                (s.iter().map(|v| (v - mu).powi(2)).sum::<f32>() / s.len() as f32).sqrt()
            };
            assert!((m(xs) - m(os)).abs() < 0.1, "mean c={c}");
            assert!((sd(xs) - sd(os)).abs() < 0.1, "std c={c}");
        }
    }

    #[test]
    fn fill_rejects_mismatched_lengths_and_missing_rows() {
        let mut out = vec![0f32; 2];
        assert!(matches!(
            Baseline::Zeros.fill(&[1.0, 2.0, 3.0], &[2], 0, 0, &mut out),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        let given = Baseline::Given(
            ndarray::ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        );
        given.fill(&[0.0, 0.0], &[2], 1, 0, &mut out).unwrap();
        assert_eq!(out, [3.0, 4.0]);
        assert!(matches!(
            given.fill(&[0.0, 0.0], &[2], 2, 0, &mut out),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            given.fill(&[0.0, 0.0], &[2], usize::MAX, 0, &mut out),
            Err(SalienceError::ShapeMismatch { .. })
        ));
    }
}
