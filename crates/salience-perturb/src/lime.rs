//! LIME (Ribeiro et al. 2016) for any [`Model`]: interpretable binary
//! features z ∈ {0, 1}^M over feature groups (superpixels by
//! [`crate::slic()`], square patches, or a given mask), a weighted linear
//! surrogate fitted to the model's target score on perturbed inputs, and the
//! surrogate's coefficients as the attributions of the groups.
//!
//! * Perturbations: z_k has independent Bernoulli(½) entries (Captum's
//!   default `perturb_func`, also `lime_image`'s); the perturbed input keeps
//!   the input where z = 1 and takes the baseline where z = 0.
//! * Similarity (Captum's `get_exp_kernel_similarity_function`):
//!   `π(z) = exp(−d² / (2 w²))` for a distance d and kernel width w. The
//!   distance is cosine (1 − cos) or Euclidean, measured either between the
//!   input and the perturbed input ([`LimeSpace::Input`], Captum's
//!   default) or between z and the all-ones vector
//!   ([`LimeSpace::Interpretable`], `lime_image`'s, whose kernel
//!   `sqrt(exp(−d²/w²))` is the same function). A zero vector has cosine
//!   similarity 0 (distance 1), as torch's and scikit-learn's.
//! * Surrogate: [`Surrogate`] — OLS, ridge(λ) or lasso(λ) by coordinate
//!   descent, with an intercept, weighted by π (see
//!   [`crate::linear_fit`]). At most [`MAX_SURROGATE_FEATURES`] (4096)
//!   interpretable features, as the Gram matrix is dense m × m:
//!   group pixels with patches or superpixels.
//! * Attribution: coefficient β_g written to every element of group g
//!   (Captum's `return_input_shape=True`).
//!
//! Model evaluations per input: `n_samples`.
//!
//! Defaults ([`LimeConfig::default`] = [`LimeConfig::captum`]): 25 samples,
//! every element its own feature, cosine distance in input space with
//! width 1, lasso λ = 0.01, zero baseline. Presets: [`LimeConfig::decker2024`]
//! (SLIC ≈ 100 superpixels or 16 × 16 patches, lasso λ ∈ {0.1, 0.01} or OLS)
//! and [`LimeConfig::lime_image`] (the `lime` package's image explainer:
//! 1000 samples, the first one the unperturbed input, cosine distance in
//! interpretable space with width 0.25, ridge λ = 1; `lime` segments with
//! quickshift, here SLIC). The tabular `lime` width 0.75·√M is available
//! through [`LimeKernel::tabular`].

use crate::baseline::Baseline;
use crate::feature_mask::{FeatureGroups, FeatureMask};
use crate::linear_fit::{fit_weighted, Surrogate, MAX_SURROGATE_FEATURES};
use crate::perturb::{
    check_design_size, check_positive, prepare, PerturbationSource, STREAM_PERTURB,
};
use crate::slic::SlicConfig;
use ndarray::ArrayViewD;
use rand::RngExt;
use salience_core::seed::{derive_seed, rng};
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Explainer, Model, Result, SalienceError, Seeds};

/// The distance of LIME's similarity kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LimeDistance {
    /// 1 − cosine similarity (Captum's and `lime_image`'s default).
    #[default]
    Cosine,
    /// Euclidean distance.
    Euclidean,
}

/// Where LIME's distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LimeSpace {
    /// Between the input and the perturbed input (Captum).
    #[default]
    Input,
    /// Between z and the all-ones vector (the `lime` package).
    Interpretable,
}

/// LIME's similarity kernel `exp(−d² / (2 w²))`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimeKernel {
    /// The distance.
    pub distance: LimeDistance,
    /// Where it is measured.
    pub space: LimeSpace,
    /// The kernel width w (> 0), or, if `None`, 0.75 · √M (the `lime`
    /// package's tabular default, M = number of groups).
    pub width: Option<f64>,
}

impl Default for LimeKernel {
    fn default() -> Self {
        LimeKernel {
            distance: LimeDistance::Cosine,
            space: LimeSpace::Input,
            width: Some(1.0),
        }
    }
}

impl LimeKernel {
    /// The `lime` package's tabular kernel: Euclidean distance in
    /// interpretable space, width 0.75·√M.
    ///
    /// ```
    /// assert_eq!(salience_perturb::LimeKernel::tabular().width, None);
    /// ```
    pub fn tabular() -> Self {
        LimeKernel {
            distance: LimeDistance::Euclidean,
            space: LimeSpace::Interpretable,
            width: None,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Some(w) = self.width {
            if !(w.is_finite() && w > 0.0) {
                return Err(SalienceError::invalid(
                    "kernel width",
                    w,
                    "must be finite and > 0",
                ));
            }
        }
        Ok(())
    }

    fn similarity(&self, d: f64, m: usize) -> f64 {
        let w = self.width.unwrap_or(0.75 * (m as f64).sqrt());
        (-d * d / (2.0 * w * w)).exp()
    }
}

/// Configuration of [`Lime`]. See the [module docs](self) for the defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimeConfig {
    /// Perturbed samples per input (≥ 1). Default 25 (Captum's).
    pub n_samples: usize,
    /// The interpretable features. Default [`FeatureMask::PerElement`].
    pub feature_mask: FeatureMask,
    /// The similarity kernel. Default cosine, input space, width 1.
    pub kernel: LimeKernel,
    /// The surrogate model. Default lasso λ = 0.01.
    pub surrogate: Surrogate,
    /// Make the first sample the unperturbed input (z = 1), as the `lime`
    /// package does. Default false (Captum).
    pub include_original: bool,
    /// The values of absent groups. Default zeros.
    pub baseline: Baseline,
    /// Perturbed inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl Default for LimeConfig {
    fn default() -> Self {
        LimeConfig {
            n_samples: 25,
            feature_mask: FeatureMask::PerElement,
            kernel: LimeKernel::default(),
            surrogate: Surrogate::Lasso { lambda: 0.01 },
            include_original: false,
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl LimeConfig {
    /// Captum's defaults (= `Default`).
    ///
    /// ```
    /// use salience_perturb::LimeConfig as C;
    /// assert_eq!(C::captum(), C::default());
    /// ```
    pub fn captum() -> Self {
        Self::default()
    }

    /// Decker et al. (2024)'s variants: Captum's LIME over `feature_mask` (SLIC with
    /// about 100 superpixels, or 16 × 16 patches) with the given surrogate
    /// (lasso λ = 0.1 "high", λ = 0.01 "medium", or OLS "none").
    ///
    /// ```
    /// use salience_perturb::{FeatureMask, LimeConfig, SlicConfig, Surrogate};
    /// let c = LimeConfig::decker2024(FeatureMask::Slic(SlicConfig::default()), Surrogate::Lasso { lambda: 0.1 });
    /// assert_eq!(c.n_samples, 25);
    /// ```
    pub fn decker2024(feature_mask: FeatureMask, surrogate: Surrogate) -> Self {
        LimeConfig {
            feature_mask,
            surrogate,
            ..Self::default()
        }
    }

    /// The `lime` package's image explainer: 1000 samples (the first the
    /// unperturbed input), cosine distance in interpretable space with
    /// width 0.25, ridge λ = 1, over SLIC superpixels (`lime` uses
    /// quickshift).
    ///
    /// ```
    /// assert_eq!(salience_perturb::LimeConfig::lime_image().n_samples, 1000);
    /// ```
    pub fn lime_image() -> Self {
        LimeConfig {
            n_samples: 1000,
            feature_mask: FeatureMask::Slic(SlicConfig::default()),
            kernel: LimeKernel {
                distance: LimeDistance::Cosine,
                space: LimeSpace::Interpretable,
                width: Some(0.25),
            },
            surrogate: Surrogate::Ridge { lambda: 1.0 },
            include_original: true,
            ..Self::default()
        }
    }
}

/// The LIME explainer over any [`Model`]. See the [module docs](self).
///
/// ```
/// use ndarray::array;
/// use salience_core::{Explainer, LinearModel, Seeds};
/// use salience_perturb::{FeatureMask, Lime, LimeConfig, Surrogate};
/// let m = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.5f32])?;
/// let x = array![[1.0f32, 1.0, 2.0, 1.0]].into_dyn();
/// let cfg = LimeConfig {
///     n_samples: 40,
///     feature_mask: FeatureMask::Given(array![0usize, 0, 1, 1].into_dyn()),
///     surrogate: Surrogate::LinearRegression,
///     ..LimeConfig::default()
/// };
/// let a = Lime::with_config(m, cfg).explain(x.view(), &[0], Seeds::base(0))?;
/// // OLS on a linear model: group sums of x ⊙ W, 3 and 10.
/// let v: Vec<f32> = a.view().iter().copied().collect();
/// assert!((v[0] - 3.0).abs() < 1e-3 && (v[3] - 10.0).abs() < 1e-3);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Lime<M> {
    model: M,
    config: LimeConfig,
}

impl<M: Model> Lime<M> {
    /// LIME with the default (Captum) configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::Lime::new(m);
    /// assert_eq!(e.config().surrogate, salience_perturb::Surrogate::Lasso { lambda: 0.01 });
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, LimeConfig::default())
    }

    /// LIME with `config`.
    pub fn with_config(model: M, config: LimeConfig) -> Self {
        Lime { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &LimeConfig {
        &self.config
    }

    /// Model evaluations per input: `n_samples`.
    ///
    /// ```
    /// use salience_perturb::Lime;
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// assert_eq!(Lime::new(m).model_evaluations(), 25);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self) -> usize {
        self.config.n_samples
    }
}

/// The interpretable samples of one input, `[n_samples, m]` 0/1.
fn samples(m: usize, n: usize, include_original: bool, seed: u64) -> Vec<u8> {
    let mut g = rng(derive_seed(seed, STREAM_PERTURB));
    let mut z = vec![0u8; n * m];
    for (k, row) in z.chunks_exact_mut(m).enumerate() {
        if include_original && k == 0 {
            row.fill(1);
        } else {
            for v in row.iter_mut() {
                *v = g.random::<bool>() as u8;
            }
        }
    }
    z
}

fn distance(kind: LimeDistance, a: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (mut dot, mut na, mut nb, mut sq) = (0f64, 0f64, 0f64, 0f64);
    for (u, v) in a {
        dot += u * v;
        na += u * u;
        nb += v * v;
        sq += (u - v) * (u - v);
    }
    match kind {
        LimeDistance::Euclidean => sq.sqrt(),
        LimeDistance::Cosine => {
            let den = na.sqrt() * nb.sqrt();
            if den > 1e-12 {
                1.0 - dot / den
            } else {
                1.0
            }
        }
    }
}

struct Source<'a> {
    groups: &'a [FeatureGroups],
    z: &'a [Vec<u8>],
    kernel: LimeKernel,
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    weights: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
}

impl PerturbationSource for Source<'_> {
    fn fill(&mut self, i: usize, k: usize, out: &mut [f32]) -> Result<()> {
        let r = i * self.f..(i + 1) * self.f;
        let (x, b) = (&self.x[r.clone()], &self.base[r]);
        let m = self.groups[i].count();
        let z = &self.z[i][k * m..(k + 1) * m];
        for (e, &gid) in self.groups[i].ids().iter().enumerate() {
            out[e] = if z[gid] == 1 { x[e] } else { b[e] };
        }
        let d = match self.kernel.space {
            LimeSpace::Input => distance(
                self.kernel.distance,
                x.iter()
                    .zip(out.iter())
                    .map(|(u, v)| (*u as f64, *v as f64)),
            ),
            LimeSpace::Interpretable => {
                distance(self.kernel.distance, z.iter().map(|&v| (1.0, v as f64)))
            }
        };
        self.weights[i][k] = self.kernel.similarity(d, m);
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        self.y[i][k] = score as f64;
        Ok(())
    }
}

impl<M: Model> Explainer for Lime<M> {
    fn name(&self) -> &str {
        "lime"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let cfg = &self.config;
        check_positive("n_samples", cfg.n_samples)?;
        cfg.kernel.check()?;
        cfg.surrogate.check()?;
        let p = prepare(&inputs, targets, &self.model, &cfg.baseline, seeds)?;
        let groups = p.groups(&cfg.feature_mask)?;
        if let Some(g) = groups.iter().find(|g| g.count() > MAX_SURROGATE_FEATURES) {
            return Err(SalienceError::invalid(
                "feature groups",
                g.count(),
                &format!("LIME supports at most {MAX_SURROGATE_FEATURES} interpretable features; use patches or superpixels"),
            ));
        }
        let n = cfg.n_samples;
        for g in &groups {
            check_design_size(n, g.count())?;
        }
        let z: Vec<Vec<u8>> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| samples(g.count(), n, cfg.include_original, seeds.for_sample(i)))
            .collect();
        let mut src = Source {
            groups: &groups,
            z: &z,
            kernel: cfg.kernel,
            x: &p.x,
            base: &p.base,
            f: p.features,
            weights: vec![vec![0.0; n]; p.n],
            y: vec![vec![0.0; n]; p.n],
        };
        p.run(&self.model, &vec![n; p.n], cfg.batch_size, &mut src)?;
        let mut coefficients = Vec::with_capacity(p.n);
        for (i, g) in groups.iter().enumerate() {
            let design: Vec<f64> = z[i].iter().map(|&v| v as f64).collect();
            let fit = fit_weighted(
                &design,
                n,
                g.count(),
                &src.y[i],
                &src.weights[i],
                cfg.surrogate,
                true,
            )?;
            coefficients.push(fit.coefficients);
        }
        p.spread(&groups, &coefficients)
    }
}
