//! Similarity of two attribution maps: Spearman rank correlation and SSIM
//! (Wang et al. 2004), as used by the Model Parameter Randomisation Test.

use crate::common::pearson;
use crate::rank::average_ranks;
use ndarray::ArrayView2;
use salience_core::spec::Validate;
use salience_core::{Result, SalienceError};

/// Spearman's rank correlation of two equally long samples: the Pearson
/// correlation of their average ranks (ties share the mean of their ranks,
/// as `scipy.stats.spearmanr`). `None` when either sample is constant (the
/// correlation is undefined).
///
/// ```
/// use salience_metrics::spearman;
/// let r = spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 300.0]).unwrap();
/// assert!((r - 1.0).abs() < 1e-12);
/// let r = spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
/// assert!((r + 1.0).abs() < 1e-12);
/// assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
/// ```
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 || a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    pearson(&average_ranks(a), &average_ranks(b))
}

/// The SSIM window.
///
/// ```
/// assert_eq!(salience_metrics::SsimWindow::default(), salience_metrics::SsimWindow::Uniform { size: 7 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SsimWindow {
    /// A `size × size` box with the sample covariance (`N/(N − 1)`
    /// correction): scikit-image's `structural_similarity` default (7).
    Uniform {
        /// Odd side ≥ 3.
        size: usize,
    },
    /// A Gaussian of standard deviation `sigma`, truncated at 3.5σ, with
    /// population covariances: scikit-image's `gaussian_weights=True`
    /// (σ = 1.5, an 11 × 11 window), Wang et al.'s choice.
    Gaussian {
        /// Standard deviation in pixels (> 0).
        sigma: f64,
    },
}

impl Default for SsimWindow {
    fn default() -> Self {
        SsimWindow::Uniform { size: 7 }
    }
}

/// Options of [`ssim`].
///
/// ```
/// let c = salience_metrics::SsimConfig::default();
/// assert_eq!((c.k1, c.k2, c.data_range), (0.01, 0.03, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsimConfig {
    /// The window (default: 7 × 7 uniform).
    pub window: SsimWindow,
    /// `K1` (default 0.01).
    pub k1: f64,
    /// `K2` (default 0.03).
    pub k2: f64,
    /// The dynamic range `R`; `None` (default, as Quantus) uses
    /// `max(a ∪ b) − min(a ∪ b)`.
    pub data_range: Option<f64>,
}

impl Default for SsimConfig {
    fn default() -> Self {
        SsimConfig {
            window: SsimWindow::default(),
            k1: 0.01,
            k2: 0.03,
            data_range: None,
        }
    }
}

impl Validate for SsimConfig {
    /// `k1`, `k2` finite and > 0; a valid window; `data_range` finite and
    /// > 0 when given.
    fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 > 0.0 && self.k2.is_finite() && self.k2 > 0.0) {
            return Err(SalienceError::invalid(
                "k1/k2",
                format!("{}/{}", self.k1, self.k2),
                "must be finite and > 0",
            ));
        }
        window_weights(&self.window)?;
        match self.data_range {
            Some(r) if !(r.is_finite() && r > 0.0) => Err(SalienceError::invalid(
                "data_range",
                r,
                "must be finite and > 0",
            )),
            _ => Ok(()),
        }
    }
}

/// Mean structural similarity of two maps `[H, W]` (Wang et al. 2004), as
/// scikit-image's `structural_similarity`: with local means `μ`, variances
/// `σ²` and covariance `σ_ab` over the window,
/// `S = (2μ_aμ_b + C1)(2σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2))`,
/// `C1 = (K1·R)²`, `C2 = (K2·R)²`, averaged over the positions where the
/// window lies entirely inside the map (scikit-image crops the borders the
/// same way). Two identical constant maps (`R = 0`) have SSIM 1.
///
/// Errors: shapes differ, a map smaller than the window, NaN/Inf, bad
/// parameters.
///
/// ```
/// use ndarray::Array2;
/// use salience_metrics::{ssim, SsimConfig};
/// let a = Array2::from_shape_fn((8, 8), |(y, x)| (y * 8 + x) as f32);
/// assert!((ssim(a.view(), a.view(), &SsimConfig::default())? - 1.0).abs() < 1e-12);
/// let b = a.mapv(|v| 63.0 - v);
/// assert!(ssim(a.view(), b.view(), &SsimConfig::default())? < 0.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn ssim(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, config: &SsimConfig) -> Result<f64> {
    if a.dim() != b.dim() {
        return Err(SalienceError::shape(
            "ssim second map",
            format!("{:?}", a.shape()),
            b.shape(),
        ));
    }
    salience_core::validate::check_finite(&a, "ssim map")?;
    salience_core::validate::check_finite(&b, "ssim map")?;
    config.validate()?;
    let (weights, cov_norm) = window_weights(&config.window)?;
    let size = weights.len();
    let (h, w) = a.dim();
    if h < size || w < size {
        return Err(SalienceError::invalid(
            "window",
            size,
            &format!("the maps ({h}×{w}) must be at least as large as the SSIM window"),
        ));
    }
    let range = match config.data_range {
        Some(r) if r.is_finite() && r > 0.0 => r,
        Some(r) => {
            return Err(SalienceError::invalid(
                "data_range",
                r,
                "must be finite and > 0",
            ))
        }
        None => {
            let (lo, hi) = a
                .iter()
                .chain(b.iter())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v as f64), hi.max(v as f64))
                });
            if hi - lo <= 0.0 {
                // Both maps are the same constant.
                return Ok(1.0);
            }
            hi - lo
        }
    };
    let c1 = (config.k1 * range).powi(2);
    let c2 = (config.k2 * range).powi(2);
    let mut total = 0.0;
    let mut count = 0usize;
    for y0 in 0..=h - size {
        for x0 in 0..=w - size {
            let (mut ma, mut mb, mut maa, mut mbb, mut mab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (dy, wy) in weights.iter().enumerate() {
                for (dx, wx) in weights.iter().enumerate() {
                    let wt = wy * wx;
                    let va = a[[y0 + dy, x0 + dx]] as f64;
                    let vb = b[[y0 + dy, x0 + dx]] as f64;
                    ma += wt * va;
                    mb += wt * vb;
                    maa += wt * va * va;
                    mbb += wt * vb * vb;
                    mab += wt * va * vb;
                }
            }
            let va = cov_norm * (maa - ma * ma);
            let vb = cov_norm * (mbb - mb * mb);
            let vab = cov_norm * (mab - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * vab + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
        }
    }
    Ok(total / count as f64)
}

/// 1-D window weights (normalised) and the covariance normalisation.
fn window_weights(window: &SsimWindow) -> Result<(Vec<f64>, f64)> {
    match *window {
        SsimWindow::Uniform { size } => {
            if size < 3 || size % 2 == 0 {
                return Err(SalienceError::invalid(
                    "window.size",
                    size,
                    "must be odd and ≥ 3",
                ));
            }
            let np = (size * size) as f64;
            Ok((vec![1.0 / size as f64; size], np / (np - 1.0)))
        }
        SsimWindow::Gaussian { sigma } => {
            if !(sigma.is_finite() && sigma > 0.0 && sigma < 1e3) {
                return Err(SalienceError::invalid(
                    "window.sigma",
                    sigma,
                    "must be finite, > 0 and < 1000",
                ));
            }
            let r = (3.5 * sigma + 0.5) as usize;
            let k: Vec<f64> = (0..2 * r + 1)
                .map(|i| {
                    let d = i as f64 - r as f64;
                    (-d * d / (2.0 * sigma * sigma)).exp()
                })
                .collect();
            let s: f64 = k.iter().sum();
            Ok((k.iter().map(|v| v / s).collect(), 1.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn spearman_ties_and_signs() {
        // Ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4].
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        // Pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]) = 4.5 / √(4.5 · 5).
        assert!((r - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12);
        assert!((spearman(&[3.0, 1.0, 2.0], &[30.0, 10.0, 20.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!(
            (spearman(&[1.0, 2.0, 3.0, 4.0], &[16.0, 9.0, 4.0, 1.0]).unwrap() + 1.0).abs() < 1e-12
        );
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[1.0]), None);
    }

    #[test]
    fn ssim_hand_case_single_window() {
        // 3×3 maps, 3×3 uniform window: one position.
        let a = Array2::from_shape_vec((3, 3), (0..9).map(|v| v as f32).collect()).unwrap();
        let b = a.mapv(|v| 2.0 * v);
        let cfg = SsimConfig {
            window: SsimWindow::Uniform { size: 3 },
            ..Default::default()
        };
        let got = ssim(a.view(), b.view(), &cfg).unwrap();
        // μa = 4, μb = 8, σa² = 60/8 = 7.5, σb² = 30, σab = 15 (sample), R = 16.
        let (c1, c2) = ((0.01f64 * 16.0).powi(2), (0.03f64 * 16.0).powi(2));
        let want =
            ((2.0 * 4.0 * 8.0 + c1) * (2.0 * 15.0 + c2)) / ((16.0 + 64.0 + c1) * (7.5 + 30.0 + c2));
        assert!((got - want).abs() < 1e-12, "{got} {want}");
        // Identical maps: 1; fixed range.
        assert!((ssim(a.view(), a.view(), &cfg).unwrap() - 1.0).abs() < 1e-12);
        let c = Array2::from_elem((3, 3), 2.0f32);
        assert_eq!(ssim(c.view(), c.view(), &cfg).unwrap(), 1.0);
        // Gaussian window of σ = 1.5 is 11 wide.
        let big = Array2::from_shape_fn((12, 12), |(y, x)| ((y * 5 + x * 3) % 7) as f32);
        let g = SsimConfig {
            window: SsimWindow::Gaussian { sigma: 1.5 },
            ..Default::default()
        };
        assert!((ssim(big.view(), big.view(), &g).unwrap() - 1.0).abs() < 1e-12);
        assert!(matches!(
            ssim(a.view(), a.view(), &g),
            Err(SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            ssim(a.view(), big.view(), &cfg),
            Err(SalienceError::ShapeMismatch { .. })
        ));
    }
}
