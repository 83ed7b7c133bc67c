//! EigenCAM (Muhammad & Yeasin 2020): the projection of a layer's
//! activations on their first principal component. Target-independent and
//! gradient-free.
//!
//! For one input with activations `A` `[K, h, w]`, let `X` be the
//! `[h·w, K]` matrix whose rows are pixels. With centering (the default,
//! pytorch-grad-cam ≥ 1.4: each channel's spatial mean is subtracted
//! first; the paper does not center), `X ← X − 1 μᵀ`. The map is `X v₁`,
//! `v₁` the leading right singular vector of `X`, then ReLU (as
//! pytorch-grad-cam's `BaseCAM`), upsampled to the input (see
//! [`crate::cam`]).
//!
//! # Sign convention
//! A singular vector is defined up to sign (pytorch-grad-cam inherits
//! LAPACK's arbitrary choice). Here the sign is fixed so that the map
//! correlates non-negatively with the channel-summed activation:
//! `⟨X v₁, X 1⟩ ≥ 0`, i.e. `σ₁² ⟨v₁, 1⟩ ≥ 0` (for uncentred non-negative
//! activations this is the Perron–Frobenius sign, `v₁ ≥ 0`); on a tie the
//! first non-zero entry of the map is positive.
//!
//! # Computation
//! `v₁` (or the leading eigenvector `u₁` of `X Xᵀ` when `h·w < K`, with
//! `X v₁ = σ₁ u₁`) is found deterministically in f64 by power iteration on
//! the smaller Gram matrix, after squaring it a few times to widen the
//! spectral gap, started from the Gram matrix's column of largest
//! diagonal.

use crate::cam::run_layer_cam;
use crate::gradient::DEFAULT_BATCH_SIZE;
use crate::split::LayerSplit;
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, Explainer, Result, Seeds};

/// Configuration of [`EigenCam`].
#[derive(Debug, Clone, PartialEq)]
pub struct EigenCamConfig {
    /// The layer whose activations are projected.
    pub layer: String,
    /// Subtract each channel's spatial mean before the SVD
    /// (pytorch-grad-cam). Default `true`; `false` is the paper's form.
    pub center: bool,
    /// Apply a final ReLU (pytorch-grad-cam). Default `true`.
    pub relu: bool,
    /// Inputs per forward pass. Default 64.
    pub batch_size: usize,
}

impl EigenCamConfig {
    /// pytorch-grad-cam's EigenCAM at `layer` (centred, ReLU).
    ///
    /// ```
    /// assert!(salience_explain::EigenCamConfig::new("conv2").center);
    /// ```
    pub fn new(layer: &str) -> Self {
        EigenCamConfig {
            layer: layer.to_string(),
            center: true,
            relu: true,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    /// The paper's form: no centering (ReLU kept).
    ///
    /// ```
    /// assert!(!salience_explain::EigenCamConfig::paper("conv2").center);
    /// ```
    pub fn paper(layer: &str) -> Self {
        EigenCamConfig {
            center: false,
            ..Self::new(layer)
        }
    }
}

/// The EigenCAM explainer. Deterministic; ignores targets (they are still
/// validated) and seeds.
///
/// ```
/// use candle_core::Tensor;
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{EigenCam, EigenCamConfig, SequentialClassifier};
/// let m = SequentialClassifier::new(1)
///     .push("features", |x: &Tensor| Ok(x.clone()))
///     .push("head", |a: &Tensor| a.flatten_from(1)?.sum_keepdim(1));
/// // One channel: the uncentred projection is the activation itself.
/// let x = ndarray::Array4::from_shape_vec((1, 1, 1, 3), vec![1.0f32, 2.0, 0.0])?.into_dyn();
/// let e = EigenCam::with_config(&m, EigenCamConfig::paper("features"));
/// let a = e.explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EigenCam<M> {
    model: M,
    config: EigenCamConfig,
}

impl<M: LayerSplit> EigenCam<M> {
    /// pytorch-grad-cam's EigenCAM at `layer`.
    pub fn new(model: M, layer: &str) -> Self {
        Self::with_config(model, EigenCamConfig::new(layer))
    }

    /// EigenCAM with `config`.
    pub fn with_config(model: M, config: EigenCamConfig) -> Self {
        EigenCam { model, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{EigenCam, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert!(EigenCam::new(m, "fc").config().relu);
    /// ```
    pub fn config(&self) -> &EigenCamConfig {
        &self.config
    }
}

/// The first-principal-component projection of one sample's `[k, hw]`
/// activations (channel-major, as the layer returns them), length `hw`,
/// before the ReLU. See the module docs for the sign convention.
///
/// ```
/// use salience_explain::eigen_cam::principal_projection;
/// // Two channels, A₁ = 2·A₀ (rank one after centering): v₁ ∝ (1, 2).
/// let a = [1.0f32, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0];
/// let p = principal_projection(&a, 2, 4, true);
/// let s5 = 5f64.sqrt();
/// for (got, want) in p.iter().zip([-1.5 * s5, -0.5 * s5, 0.5 * s5, 1.5 * s5]) {
///     assert!((got - want).abs() < 1e-9);
/// }
/// ```
pub fn principal_projection(acts: &[f32], k: usize, hw: usize, center: bool) -> Vec<f64> {
    // X: [hw, k] row-major, f64.
    let mut x = vec![0f64; hw * k];
    for (c, a_c) in acts.chunks_exact(hw).take(k).enumerate() {
        let mean = if center {
            a_c.iter().map(|&v| v as f64).sum::<f64>() / hw as f64
        } else {
            0.0
        };
        for (i, &v) in a_c.iter().enumerate() {
            x[i * k + c] = v as f64 - mean;
        }
    }
    let mut p = if hw <= k {
        // u₁ of X Xᵀ ([hw, hw]); X v₁ = σ₁ u₁ = sqrt(λ₁) u₁.
        let mut g = vec![0f64; hw * hw];
        for i in 0..hw {
            for j in i..hw {
                let s: f64 = (0..k).map(|c| x[i * k + c] * x[j * k + c]).sum();
                g[i * hw + j] = s;
                g[j * hw + i] = s;
            }
        }
        let (lambda, u) = leading_eigen(&g, hw);
        let s = lambda.max(0.0).sqrt();
        u.into_iter().map(|v| v * s).collect::<Vec<_>>()
    } else {
        // v₁ of Xᵀ X ([k, k]); the map is X v₁.
        let mut g = vec![0f64; k * k];
        for row in x.chunks_exact(k) {
            for a in 0..k {
                let ra = row[a];
                if ra == 0.0 {
                    continue;
                }
                for b in a..k {
                    g[a * k + b] += ra * row[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                g[a * k + b] = g[b * k + a];
            }
        }
        let (_, v) = leading_eigen(&g, k);
        x.chunks_exact(k)
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect()
    };
    // Sign: ⟨p, X 1⟩ ≥ 0, ties broken by the first non-zero entry.
    let corr: f64 = x
        .chunks_exact(k)
        .zip(&p)
        .map(|(row, pi)| pi * row.iter().sum::<f64>())
        .sum();
    let scale = p.iter().fold(0f64, |m, v| m.max(v.abs()));
    let flip = if corr.abs() > 1e-12 * scale * scale.max(1.0) * (hw as f64) {
        corr < 0.0
    } else {
        p.iter()
            .find(|v| v.abs() > 1e-12 * scale)
            .is_some_and(|v| *v < 0.0)
    };
    if flip {
        p.iter_mut().for_each(|v| *v = -*v);
    }
    p
}

/// The largest eigenvalue and its unit eigenvector of a symmetric PSD
/// `[n, n]` matrix (power iteration on repeated squares; deterministic).
/// A zero matrix gives `(0, 0-vector)`.
fn leading_eigen(g: &[f64], n: usize) -> (f64, Vec<f64>) {
    let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
    if n == 0 || trace.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return (0.0, vec![0.0; n]);
    }
    // Widen the gap: M = (G / tr G)^(2^s), bounded cost n³ per squaring.
    let squarings = if n <= 128 {
        6
    } else if n <= 512 {
        3
    } else {
        0
    };
    let mut m: Vec<f64> = g.iter().map(|v| v / trace).collect();
    for _ in 0..squarings {
        let mut sq = vec![0f64; n * n];
        for i in 0..n {
            for l in 0..n {
                let a = m[i * n + l];
                if a == 0.0 {
                    continue;
                }
                for j in 0..n {
                    sq[i * n + j] += a * m[l * n + j];
                }
            }
        }
        let t: f64 = (0..n).map(|i| sq[i * n + i]).sum();
        if t.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            break;
        }
        m = sq.into_iter().map(|v| v / t).collect();
    }
    // Start from the column with the largest diagonal.
    let j0 = (0..n)
        .max_by(|&a, &b| m[a * n + a].total_cmp(&m[b * n + b]))
        .unwrap_or(0);
    let mut v: Vec<f64> = (0..n).map(|i| m[i * n + j0]).collect();
    normalize(&mut v);
    for _ in 0..2_000 {
        let mut nv = matvec(&m, &v, n);
        if !normalize(&mut nv) {
            break;
        }
        let diff: f64 = nv
            .iter()
            .zip(&v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        v = nv;
        if diff < 1e-12 {
            break;
        }
    }
    // Rayleigh quotient on the original matrix.
    let gv = matvec(g, &v, n);
    let lambda: f64 = gv.iter().zip(&v).map(|(a, b)| a * b).sum();
    (lambda, v)
}

fn matvec(m: &[f64], v: &[f64], n: usize) -> Vec<f64> {
    m.chunks_exact(n)
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

/// Scales `v` to unit norm; false if it is zero or not finite.
fn normalize(v: &mut [f64]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

impl<M: LayerSplit> Explainer for EigenCam<M> {
    fn name(&self) -> &str {
        "eigen_cam"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let (center, relu) = (self.config.center, self.config.relu);
        run_layer_cam(
            &self.model,
            &inputs,
            targets,
            &self.config.layer,
            self.config.batch_size,
            false,
            &|a, _g, k, h, w| {
                let mut p = principal_projection(a, k, h * w, center);
                if relu {
                    p.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                p
            },
        )
    }
}
