//! Expected Gradients (Erion et al. 2021) and GradientSHAP (Lundberg & Lee
//! 2017, Captum's `GradientShap`): Integrated Gradients averaged over random
//! baselines and random points on the path.
//!
//! For input x, draws j = 1..n_samples pick a baseline x′_j (from a
//! reference set, or generated like [`Baseline::RandomNormal`]) and an
//! optionally noisy input x̃_j = x + N(0, noise_std²); each draw evaluates
//! `n_steps` points x′_j + α (x̃_j − x′_j) with α ~ U(0, 1), and
//! `EG(x) = mean_{j,t} (x̃_j − x′_j) ⊙ ∇f_t(x′_j + α_{jt} (x̃_j − x′_j))`.
//!
//! * Erion et al.'s estimator: `n_steps = 1`, many samples.
//! * Mahlau & Nolde (2022) (App. A): 20 samples × 30 steps, random-normal baseline
//!   ([`ExpectedGradientsConfig::mahlau2022`], the default).
//! * GradientSHAP as in Captum: `n_samples = 5`, `n_steps = 1`, baselines
//!   from a given set, input noise `stdevs = 0`
//!   ([`ExpectedGradientsConfig::gradient_shap`]).
//!
//! All draws of sample i come from `seeds.for_sample(i)`; the N ·
//! n_samples · n_steps points are evaluated in chunks of `batch_size`.

use crate::gradient::{contiguous, flat_slice, gradient_chunk, run_points, validate, PointSource};
use crate::model::classifier::Classifier;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rand_distr::{Distribution, StandardNormal, StandardUniform};
use salience_core::seed::{derive_seed, rng};
use salience_core::validate::check_finite;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};
use salience_perturb::Baseline;

/// Where the baselines of Expected Gradients come from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum References {
    /// A reference set `[M, ...]` (typically training images); each draw
    /// picks one uniformly at random.
    #[serde(skip)]
    Samples(ArrayD<f32>),
    /// A baseline generated from each input (e.g. [`Baseline::RandomNormal`],
    /// drawn afresh for every sample j).
    Generated(Baseline),
}

/// Configuration of [`ExpectedGradients`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpectedGradientsConfig {
    /// Baseline draws per input (≥ 1). Default 20.
    pub n_samples: usize,
    /// Random path points per baseline draw (≥ 1). Default 30.
    pub n_steps: usize,
    /// The baselines. Default: generated random normal (Mahlau & Nolde (2022)).
    pub references: References,
    /// Standard deviation of Gaussian noise added to the input per draw
    /// (absolute, Captum's `stdevs`). Default 0.
    pub noise_std: f32,
    /// Points per forward/backward pass. Default [`BatchSize::Auto`] (the
    /// largest chunk within the memory budget, at most the model's
    /// preferred size; see [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for ExpectedGradientsConfig {
    fn default() -> Self {
        Self::mahlau2022()
    }
}

impl ExpectedGradientsConfig {
    /// Mahlau & Nolde (2022)'s setting: 20 samples × 30 steps, random-normal baseline.
    ///
    /// ```
    /// let c = salience_explain::ExpectedGradientsConfig::mahlau2022();
    /// assert_eq!((c.n_samples, c.n_steps), (20, 30));
    /// ```
    pub fn mahlau2022() -> Self {
        ExpectedGradientsConfig {
            n_samples: 20,
            n_steps: 30,
            references: References::Generated(Baseline::RandomNormal),
            noise_std: 0.0,
            batch_size: BatchSize::Auto,
        }
    }

    /// Captum's `GradientShap` counts (5 samples, 1 point each, no input
    /// noise) over generated random-normal baselines: the registry's
    /// `gradient_shap` (a string spec cannot carry a reference set; see
    /// [`ExpectedGradientsConfig::gradient_shap`] for one).
    ///
    /// ```
    /// let c = salience_explain::ExpectedGradientsConfig::captum();
    /// assert_eq!((c.n_samples, c.n_steps), (5, 1));
    /// ```
    pub fn captum() -> Self {
        ExpectedGradientsConfig {
            n_samples: 5,
            n_steps: 1,
            ..Self::mahlau2022()
        }
    }

    /// Captum's `GradientShap` defaults over the reference set `references`
    /// `[M, ...]`: 5 samples, 1 point each, no input noise.
    ///
    /// ```
    /// let refs = ndarray::Array::zeros((3, 2)).into_dyn();
    /// let c = salience_explain::ExpectedGradientsConfig::gradient_shap(refs);
    /// assert_eq!((c.n_samples, c.n_steps), (5, 1));
    /// ```
    pub fn gradient_shap(references: ArrayD<f32>) -> Self {
        ExpectedGradientsConfig {
            n_samples: 5,
            n_steps: 1,
            references: References::Samples(references),
            noise_std: 0.0,
            batch_size: BatchSize::Auto,
        }
    }
}

/// The Expected Gradients / GradientSHAP explainer. See the
/// [module docs](self).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{ExpectedGradients, ExpectedGradientsConfig, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 1);
/// let refs = ndarray::array![[1.0f32, 1.0]].into_dyn(); // a single reference
/// let eg = ExpectedGradients::new(clf, ExpectedGradientsConfig::gradient_shap(refs));
/// let a = eg.explain(ndarray::array![[3.0f32, 4.0]].into_dyn().view(), &[0], Seeds::base(7))?;
/// // Linear model: (x − x′) ⊙ w whatever α is.
/// assert!((a.view()[[0, 0]] - 2.0).abs() < 1e-5 && (a.view()[[0, 1]] + 6.0).abs() < 1e-5);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExpectedGradients<C> {
    classifier: C,
    config: ExpectedGradientsConfig,
    name: String,
}

impl<C: Classifier> ExpectedGradients<C> {
    /// The explainer with `config`, named `"gradient_shap"` when it uses a
    /// reference set with one step per sample, `"expected_gradients"`
    /// otherwise.
    pub fn new(classifier: C, config: ExpectedGradientsConfig) -> Self {
        let name = if config.n_steps == 1 && matches!(config.references, References::Samples(_)) {
            "gradient_shap"
        } else {
            "expected_gradients"
        };
        ExpectedGradients {
            classifier,
            config,
            name: name.to_string(),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{ExpectedGradients, ExpectedGradientsConfig, ModuleClassifier};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let eg = ExpectedGradients::new(clf, ExpectedGradientsConfig::mahlau2022());
    /// assert_eq!(eg.config().n_steps, 30);
    /// ```
    pub fn config(&self) -> &ExpectedGradientsConfig {
        &self.config
    }

    fn check(&self, n: usize, sample_shape: &[usize]) -> Result<()> {
        let c = &self.config;
        salience_core::validate::check_count("n_samples", c.n_samples)?;
        salience_core::validate::check_count("n_steps", c.n_steps)?;
        if !(c.noise_std.is_finite() && c.noise_std >= 0.0) {
            return Err(SalienceError::invalid(
                "noise_std",
                c.noise_std,
                "must be finite and >= 0",
            ));
        }
        match &c.references {
            References::Generated(b) => b.check(n, sample_shape),
            References::Samples(r) => {
                if r.ndim() != sample_shape.len() + 1
                    || &r.shape()[1..] != sample_shape
                    || r.shape()[0] == 0
                {
                    return Err(SalienceError::shape(
                        "reference set",
                        format!("[M >= 1, ...{sample_shape:?}]"),
                        r.shape(),
                    ));
                }
                check_finite(r, "reference set")
            }
        }
    }
}

struct DrawSource<'a> {
    x: &'a [f32],
    f: usize,
    sample_shape: &'a [usize],
    targets: &'a [usize],
    seeds: Seeds<'a>,
    refs: Option<&'a [f32]>,
    n_refs: usize,
    generated: Option<&'a Baseline>,
    noise_std: f32,
    n_samples: usize,
    n_steps: usize,
    key: Option<(usize, usize)>,
    cur_x: Vec<f32>,
    cur_b: Vec<f32>,
    acc: Vec<f64>,
}

impl DrawSource<'_> {
    /// Generates (x̃_j, x′_j) of input i, draw j, unless cached.
    fn ensure(&mut self, i: usize, j: usize) -> Result<()> {
        if self.key == Some((i, j)) {
            return Ok(());
        }
        let sij = derive_seed(self.seeds.for_sample(i), j as u64);
        let xi = &self.x[i * self.f..(i + 1) * self.f];
        if let (Some(refs), true) = (self.refs, self.n_refs > 0) {
            let u: f64 = StandardUniform.sample(&mut rng(derive_seed(sij, 0)));
            let m = ((u * self.n_refs as f64) as usize).min(self.n_refs - 1);
            self.cur_b
                .copy_from_slice(&refs[m * self.f..(m + 1) * self.f]);
        } else if let Some(b) = self.generated {
            b.fill(
                xi,
                self.sample_shape,
                i,
                derive_seed(sij, 0),
                &mut self.cur_b,
            )?;
        }
        if self.noise_std > 0.0 {
            let mut g = rng(derive_seed(sij, 1));
            let s = self.noise_std as f64;
            for (o, &v) in self.cur_x.iter_mut().zip(xi) {
                let z: f64 = StandardNormal.sample(&mut g);
                *o = (v as f64 + s * z) as f32;
            }
        } else {
            self.cur_x.copy_from_slice(xi);
        }
        self.key = Some((i, j));
        Ok(())
    }

    fn split(&self, p: usize) -> (usize, usize, usize) {
        let per = self.n_samples * self.n_steps;
        let (i, r) = (p / per, p % per);
        (i, r / self.n_steps, r % self.n_steps)
    }
}

impl PointSource for DrawSource<'_> {
    fn fill(&mut self, p: usize, out: &mut [f32]) -> Result<()> {
        let (i, j, t) = self.split(p);
        self.ensure(i, j)?;
        let sij = derive_seed(self.seeds.for_sample(i), j as u64);
        let a: f64 = StandardUniform.sample(&mut rng(derive_seed(sij, 2 + t as u64)));
        let a = a as f32;
        for ((o, x), b) in out.iter_mut().zip(&self.cur_x).zip(&self.cur_b) {
            *o = b + a * (x - b);
        }
        Ok(())
    }
    fn target(&self, p: usize) -> usize {
        self.targets[p / (self.n_samples * self.n_steps)]
    }
    fn consume(&mut self, p: usize, grad: &[f32], _: f32) -> Result<()> {
        let (i, j, _) = self.split(p);
        self.ensure(i, j)?;
        let w = 1.0 / (self.n_samples * self.n_steps) as f64;
        let acc = &mut self.acc[i * self.f..(i + 1) * self.f];
        for (((a, g), x), b) in acc.iter_mut().zip(grad).zip(&self.cur_x).zip(&self.cur_b) {
            *a += w * (*x as f64 - *b as f64) * *g as f64;
        }
        Ok(())
    }
}

impl<C: Classifier> Explainer for ExpectedGradients<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let info = validate(&inputs, targets, self.classifier.num_classes())?;
        self.check(info.n, &info.sample_shape)?;
        seeds.check_len(info.n)?;
        let n_points = info
            .n
            .saturating_mul(self.config.n_samples)
            .saturating_mul(self.config.n_steps);
        let bs = gradient_chunk(&self.classifier, self.config.batch_size, &info, n_points)?;
        let xs = contiguous(&inputs);
        let x = flat_slice(&xs)?;
        let refs_std = match &self.config.references {
            References::Samples(r) => Some(r.as_standard_layout()),
            References::Generated(_) => None,
        };
        let refs = match &refs_std {
            Some(r) => Some(
                r.as_slice()
                    .ok_or_else(|| SalienceError::backend_msg("references not contiguous"))?,
            ),
            None => None,
        };
        let f = info.features;
        let mut src = DrawSource {
            x,
            f,
            sample_shape: &info.sample_shape,
            targets,
            seeds,
            refs,
            n_refs: refs.map_or(0, |r| r.len() / f),
            generated: match &self.config.references {
                References::Generated(b) => Some(b),
                References::Samples(_) => None,
            },
            noise_std: self.config.noise_std,
            n_samples: self.config.n_samples,
            n_steps: self.config.n_steps,
            key: None,
            cur_x: vec![0.0; f],
            cur_b: vec![0.0; f],
            acc: vec![0.0; info.n * f],
        };
        run_points(
            &self.classifier,
            &info.sample_shape,
            n_points,
            bs,
            true,
            &mut src,
        )?;
        let out: Vec<f32> = src.acc.iter().map(|&v| v as f32).collect();
        let a = ArrayD::from_shape_vec(IxDyn(inputs.shape()), out)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(a)
    }
}

impl<M: crate::LayerSplit + 'static> crate::registry::Registry<M> {
    /// Adds `expected_gradients_data`: Expected Gradients with `references`
    /// (`[R, ...]`, real samples, e.g. training images not explained) as
    /// the reference distribution, which a text spec cannot carry. Keys as
    /// `expected_gradients` (preset [`ExpectedGradientsConfig::mahlau2022`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_explain::{registry::Registry, SequentialClassifier};
    /// let m = Arc::new(SequentialClassifier::new(2).push("fc", |x: &candle_core::Tensor| Ok(x.clone())));
    /// let refs = ndarray::ArrayD::<f32>::zeros(vec![4, 2]);
    /// let r = Registry::with_builtins().with_reference_samples(refs);
    /// let spec = "expected_gradients_data:n_samples=8,n_steps=2".parse()?;
    /// assert_eq!(r.build(&spec, &m)?.name(), "expected_gradients");
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_reference_samples(mut self, references: ArrayD<f32>) -> Self {
        self.register(
            "expected_gradients_data",
            std::sync::Arc::new(move |p, m, _| {
                let cfg = ExpectedGradientsConfig {
                    references: References::Samples(references.clone()),
                    ..p.config(&ExpectedGradientsConfig::mahlau2022())?
                };
                Ok(Box::new(ExpectedGradients::new(m.clone(), cfg)))
            }),
        );
        self
    }
}
