//! Integrated Gradients (Sundararajan et al. 2017):
//! `IG(x) = (x − x′) ⊙ ∫₀¹ ∇f_t(x′ + α (x − x′)) dα`, with a choice of
//! [`Quadrature`] and [`Baseline`], and the completeness delta
//! `Σ IG(x) − (f_t(x) − f_t(x′))`.
//!
//! **Parity with Captum 0.9** (fixture from Captum itself,
//! `tests/captum_parity.rs`, a ReLU / max-pool CNN, 50 steps, zero
//! baseline): Gauss–Legendre (the default, Captum's) agrees to 1.4e-7
//! relative to the largest attribution (5.7e-6 on the shipped CNN). Captum's `riemann_trapezoid` uses
//! the same nodes `k/(n − 1)` as [`Quadrature::RiemannTrapezoid`] but
//! weights `1/n` (halved at both ends), which sum to `(n − 1)/n` instead of
//! 1: its attributions are salience's × `(n − 1)/n` (measured to 2.1e-7),
//! i.e. salience's are larger by `1/(n − 1)` (2.04e-2 at n = 50: a 2e-2
//! relative difference before the rescaling), and its
//! convergence delta is that of the scaled sum. Salience's weights are the
//! trapezoid rule's, so completeness holds as `n` grows; multiply by
//! `(n − 1)/n` to reproduce Captum.
//!
//! The N × n_steps path points are evaluated in chunks of `batch_size`
//! points (one forward + one backward pass per chunk); only an `[N, ...]`
//! accumulator is kept, so memory does not grow with `n_steps`.

use crate::gradient::quadrature::Quadrature;
use crate::gradient::{
    chunk_size, contiguous, flat_slice, gradient_chunk, run_points, target_logits, validate,
    BatchInfo, PointSource,
};
use crate::model::classifier::Classifier;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::batch::Pass;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};
use salience_perturb::AttributionsWithDelta;
use salience_perturb::Baseline;

/// Configuration of [`IntegratedGradients`]. The default is Captum's
/// (50 Gauss–Legendre steps, zero baseline).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegratedGradientsConfig {
    /// Number of quadrature points (≥ 1; ≥ 2 for the trapezoid rule). Default 50.
    pub n_steps: usize,
    /// The quadrature rule. Default Gauss–Legendre.
    pub quadrature: Quadrature,
    /// The baseline x′. Default zeros.
    pub baseline: Baseline,
    /// Path points per forward/backward pass. Default [`BatchSize::Auto`]
    /// (the largest chunk within the memory budget, at most the model's
    /// preferred size; see [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for IntegratedGradientsConfig {
    fn default() -> Self {
        IntegratedGradientsConfig {
            n_steps: 50,
            quadrature: Quadrature::GaussLegendre,
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl IntegratedGradientsConfig {
    /// Captum's defaults (= `Default`): 50 Gauss–Legendre steps, zeros.
    ///
    /// ```
    /// use salience_explain::IntegratedGradientsConfig as C;
    /// assert_eq!(C::captum(), C::default());
    /// ```
    pub fn captum() -> Self {
        Self::default()
    }

    /// Zennit's defaults: 20 right-Riemann steps, zeros.
    ///
    /// ```
    /// assert_eq!(salience_explain::IntegratedGradientsConfig::zennit().n_steps, 20);
    /// ```
    pub fn zennit() -> Self {
        IntegratedGradientsConfig {
            n_steps: 20,
            quadrature: Quadrature::RiemannRight,
            ..Self::default()
        }
    }

    /// Mahlau & Nolde (2022)'s setting: blur baseline (σ = 20, 25 × 25), 30 steps.
    ///
    /// ```
    /// assert_eq!(salience_explain::IntegratedGradientsConfig::mahlau2022().n_steps, 30);
    /// ```
    pub fn mahlau2022() -> Self {
        IntegratedGradientsConfig {
            n_steps: 30,
            baseline: Baseline::blur_mahlau2022(),
            ..Self::default()
        }
    }
}

/// The Integrated Gradients explainer. Uses `seeds` only for the
/// [`Baseline::RandomNormal`] baseline (sample i from `seeds.for_sample(i)`).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{IntegratedGradients, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let ig = IntegratedGradients::new(ModuleClassifier::new(candle_nn::Linear::new(w, None), 1));
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// let out = ig.explain_with_delta(x.view(), &[0], Seeds::base(0))?;
/// // Linear model, zero baseline: IG = x ⊙ w.
/// let a = out.attributions.view();
/// assert!((a[[0, 0]] - 3.0).abs() < 1e-5 && (a[[0, 1]] + 8.0).abs() < 1e-5);
/// assert!(out.delta[0].abs() < 1e-4);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IntegratedGradients<C> {
    classifier: C,
    config: IntegratedGradientsConfig,
}

impl<C: Classifier> IntegratedGradients<C> {
    /// Integrated Gradients with the default (Captum) configuration.
    pub fn new(classifier: C) -> Self {
        Self::with_config(classifier, IntegratedGradientsConfig::default())
    }

    /// Integrated Gradients with `config`.
    ///
    /// ```
    /// use salience_explain::{IntegratedGradients, IntegratedGradientsConfig, ModuleClassifier};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let _ig = IntegratedGradients::with_config(clf, IntegratedGradientsConfig::mahlau2022());
    /// ```
    pub fn with_config(classifier: C, config: IntegratedGradientsConfig) -> Self {
        IntegratedGradients { classifier, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{IntegratedGradients, ModuleClassifier};
    /// let ig = IntegratedGradients::new(ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2));
    /// assert_eq!(ig.config().n_steps, 50);
    /// ```
    pub fn config(&self) -> &IntegratedGradientsConfig {
        &self.config
    }

    /// Attributions and the completeness delta of every input (two extra
    /// forward passes per input, chunked).
    pub fn explain_with_delta(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionsWithDelta> {
        let Attributed {
            attr,
            info,
            x,
            base,
        } = self.attribute(&inputs, targets, seeds)?;
        let bs = chunk_size(
            &self.classifier,
            self.config.batch_size,
            &info.sample_shape,
            info.n,
            Pass::Forward,
        )?;
        let fx = target_logits(&self.classifier, &x, &info, targets, bs)?;
        let fb = target_logits(&self.classifier, &base, &info, targets, bs)?;
        let f = info.features;
        let mut delta = Vec::with_capacity(info.n);
        let mut diff = Vec::with_capacity(info.n);
        for i in 0..info.n {
            let s: f64 = attr[i * f..(i + 1) * f].iter().map(|&v| v as f64).sum();
            let d = fx[i] as f64 - fb[i] as f64;
            delta.push((s - d) as f32);
            diff.push(d as f32);
        }
        Ok(AttributionsWithDelta {
            attributions: to_batch(attr, inputs.shape())?,
            delta,
            output_difference: diff,
        })
    }

    /// Returns (attributions, batch info, inputs, baselines), all flat.
    fn attribute(
        &self,
        inputs: &ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<Attributed> {
        let info = validate(inputs, targets, self.classifier.num_classes())?;
        seeds.check_len(info.n)?;
        self.config.baseline.check(info.n, &info.sample_shape)?;
        let (alphas, weights) = self.config.quadrature.nodes_weights(self.config.n_steps)?;
        let n_points = info.n.saturating_mul(alphas.len());
        let bs = gradient_chunk(&self.classifier, self.config.batch_size, &info, n_points)?;
        let xs = contiguous(inputs);
        let x = flat_slice(&xs)?.to_vec();
        let f = info.features;
        let mut base = vec![0f32; x.len()];
        for i in 0..info.n {
            self.config.baseline.fill(
                &x[i * f..(i + 1) * f],
                &info.sample_shape,
                i,
                seeds.for_sample(i),
                &mut base[i * f..(i + 1) * f],
            )?;
        }
        let mut src = PathSource {
            x: &x,
            base: &base,
            f,
            alphas: &alphas,
            weights: &weights,
            targets,
            acc: vec![0f64; x.len()],
        };
        run_points(
            &self.classifier,
            &info.sample_shape,
            n_points,
            bs,
            true,
            &mut src,
        )?;
        let attr: Vec<f32> = src
            .acc
            .iter()
            .zip(x.iter().zip(&base))
            .map(|(g, (xv, bv))| ((*xv as f64 - *bv as f64) * g) as f32)
            .collect();
        Ok(Attributed {
            attr,
            info,
            x,
            base,
        })
    }
}

/// Flat attributions with the inputs and baselines they came from.
struct Attributed {
    attr: Vec<f32>,
    info: BatchInfo,
    x: Vec<f32>,
    base: Vec<f32>,
}

fn to_batch(v: Vec<f32>, shape: &[usize]) -> Result<AttributionBatch> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), v)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    AttributionBatch::new(a)
}

/// Path points x′ + α_k (x − x′), input-major (p = i·S + k).
struct PathSource<'a> {
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    alphas: &'a [f64],
    weights: &'a [f64],
    targets: &'a [usize],
    acc: Vec<f64>,
}

impl PointSource for PathSource<'_> {
    fn fill(&mut self, p: usize, out: &mut [f32]) -> Result<()> {
        let s = self.alphas.len();
        let (i, k) = (p / s, p % s);
        let a = self.alphas[k] as f32;
        let r = i * self.f..(i + 1) * self.f;
        for ((o, x), b) in out.iter_mut().zip(&self.x[r.clone()]).zip(&self.base[r]) {
            *o = b + a * (x - b);
        }
        Ok(())
    }
    fn target(&self, p: usize) -> usize {
        self.targets[p / self.alphas.len()]
    }
    fn consume(&mut self, p: usize, grad: &[f32], _: f32) -> Result<()> {
        let s = self.alphas.len();
        let (i, k) = (p / s, p % s);
        let w = self.weights[k];
        for (a, g) in self.acc[i * self.f..(i + 1) * self.f].iter_mut().zip(grad) {
            *a += w * *g as f64;
        }
        Ok(())
    }
}

impl<C: Classifier> Explainer for IntegratedGradients<C> {
    fn name(&self) -> &str {
        "integrated_gradients"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let a = self.attribute(&inputs, targets, seeds)?;
        to_batch(a.attr, inputs.shape())
    }
}
