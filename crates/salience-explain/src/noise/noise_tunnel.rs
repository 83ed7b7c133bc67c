//! SmoothGrad (Smilkov et al. 2017), SmoothGrad² and VarGrad (Adebayo et
//! al. 2018) as wrappers around any explainer ([`NoiseTunnel`]).
//!
//! For each input x and noise sample j = 1..n, the inner explainer is run
//! on x + ε_j, ε_j ~ N(0, σ²), and the maps are combined: their mean
//! (SmoothGrad), the mean of their squares (SmoothGrad²) or their variance
//! (VarGrad).
//!
//! # Noise conventions
//! Two conventions for σ are in use, and mixing them up is a common
//! mistake (zennit #201):
//! * **relative** ([`NoiseScale::Relative`], the default): σ = r · (max(x) −
//!   min(x)) per input, the SmoothGrad paper's "noise level" (10–20%; PAIR's
//!   `stdev_spread = 0.15`, Zennit's `noise_level = 0.1`). Default r = 0.15.
//! * **absolute** ([`NoiseScale::Absolute`]): σ as given, Captum's
//!   `NoiseTunnel(stdevs=…)` (default 1.0).
//!
//! # Chunking
//! The n × N noisy inputs are formed `batch_size` at a time and passed to
//! the inner explainer in one call, which chunks again internally, so
//! wrappers nest (SmoothGrad of Integrated Gradients) with memory flat in
//! `n_samples`. Noise for sample i, draw j comes from
//! `derive_seed(seeds.for_sample(i), 2j)` and the inner explainer gets
//! `derive_seed(seeds.for_sample(i), 2j + 1)`, so results do not depend on
//! the batch size or on the other inputs of the batch.

use crate::gradient::{flat_slice, DEFAULT_BATCH_SIZE};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience_core::batch::sample_bytes;
use salience_core::seed::{derive_seed, rng};
use salience_core::validate::{check_finite, check_nonempty_shape};
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};

/// How noise maps are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum NoiseKind {
    /// Mean of the maps (SmoothGrad).
    #[default]
    #[serde(rename = "smoothgrad")]
    SmoothGrad,
    /// Mean of the squared maps (SmoothGrad²).
    #[serde(rename = "smoothgrad_sq")]
    SmoothGradSquared,
    /// Variance of the maps, `E[a²] − E[a]²` (VarGrad).
    #[serde(rename = "vargrad")]
    VarGrad,
}

/// The standard deviation of the input noise. See the
/// [module docs](self) for the two conventions.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NoiseScale {
    /// σ as given (Captum's `stdevs`).
    Absolute(f32),
    /// σ = r · (max − min) of each input (SmoothGrad paper, PAIR, Zennit).
    Relative(f32),
}

impl Default for NoiseScale {
    fn default() -> Self {
        NoiseScale::Relative(0.15)
    }
}

/// Configuration of [`NoiseTunnel`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseTunnelConfig {
    /// How maps are combined. Default SmoothGrad.
    pub kind: NoiseKind,
    /// Noise draws per input (≥ 1). Default 50 (the SmoothGrad paper).
    pub n_samples: usize,
    /// Noise standard deviation. Default relative 0.15.
    pub noise: NoiseScale,
    /// Noisy inputs per call of the inner explainer. Default
    /// [`BatchSize::Auto`]: at most 64, within the memory budget at three
    /// input copies per noisy input (the noisy input, the inner map, its
    /// share of the accumulators; [`salience_core::batch`]). The inner
    /// explainer chunks its own model passes by its own batch size.
    pub batch_size: BatchSize,
}

impl Default for NoiseTunnelConfig {
    fn default() -> Self {
        NoiseTunnelConfig {
            kind: NoiseKind::SmoothGrad,
            n_samples: 50,
            noise: NoiseScale::default(),
            batch_size: BatchSize::Auto,
        }
    }
}

impl NoiseTunnelConfig {
    /// Captum's `NoiseTunnel` defaults: 5 samples, absolute σ = 1.
    ///
    /// ```
    /// use salience_explain::{NoiseScale, NoiseTunnelConfig};
    /// assert_eq!(NoiseTunnelConfig::captum().noise, NoiseScale::Absolute(1.0));
    /// ```
    pub fn captum() -> Self {
        NoiseTunnelConfig {
            n_samples: 5,
            noise: NoiseScale::Absolute(1.0),
            ..Self::default()
        }
    }

    /// Zennit's `SmoothGrad` defaults: 20 samples, relative σ = 0.1. (Zennit
    /// makes its last draw noise-free; here every draw is noisy.)
    ///
    /// ```
    /// use salience_explain::{NoiseScale, NoiseTunnelConfig};
    /// assert_eq!(NoiseTunnelConfig::zennit().noise, NoiseScale::Relative(0.1));
    /// ```
    pub fn zennit() -> Self {
        NoiseTunnelConfig {
            n_samples: 20,
            noise: NoiseScale::Relative(0.1),
            ..Self::default()
        }
    }
}

/// SmoothGrad / SmoothGrad² / VarGrad around any [`Explainer`].
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 1);
/// let sg = NoiseTunnel::smoothgrad(Saliency::new(clf)).with_samples(8);
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// // A linear model's gradient does not depend on x: SmoothGrad = Saliency.
/// let a = sg.explain(x.view(), &[0], Seeds::base(1))?;
/// assert_eq!(a.view(), ndarray::array![[1.0f32, -2.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NoiseTunnel<E> {
    inner: E,
    config: NoiseTunnelConfig,
    name: String,
}

impl<E: Explainer> NoiseTunnel<E> {
    /// Wraps `inner` with `config`.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseKind, NoiseTunnel, NoiseTunnelConfig, Saliency};
    /// use salience_core::Explainer;
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let cfg = NoiseTunnelConfig { kind: NoiseKind::VarGrad, ..NoiseTunnelConfig::captum() };
    /// assert_eq!(NoiseTunnel::new(Saliency::new(clf), cfg).name(), "vargrad(saliency)");
    /// ```
    pub fn new(inner: E, config: NoiseTunnelConfig) -> Self {
        let prefix = match config.kind {
            NoiseKind::SmoothGrad => "smoothgrad",
            NoiseKind::SmoothGradSquared => "smoothgrad_sq",
            NoiseKind::VarGrad => "vargrad",
        };
        let name = format!("{prefix}({})", inner.name());
        NoiseTunnel {
            inner,
            config,
            name,
        }
    }

    /// SmoothGrad with the default configuration.
    pub fn smoothgrad(inner: E) -> Self {
        Self::new(inner, NoiseTunnelConfig::default())
    }

    /// SmoothGrad² with the default configuration.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
    /// use salience_core::Explainer;
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// assert_eq!(NoiseTunnel::smoothgrad_sq(Saliency::new(clf)).name(), "smoothgrad_sq(saliency)");
    /// ```
    pub fn smoothgrad_sq(inner: E) -> Self {
        Self::new(
            inner,
            NoiseTunnelConfig {
                kind: NoiseKind::SmoothGradSquared,
                ..NoiseTunnelConfig::default()
            },
        )
    }

    /// VarGrad with the default configuration.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
    /// use salience_core::Explainer;
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// assert_eq!(NoiseTunnel::vargrad(Saliency::new(clf)).name(), "vargrad(saliency)");
    /// ```
    pub fn vargrad(inner: E) -> Self {
        Self::new(
            inner,
            NoiseTunnelConfig {
                kind: NoiseKind::VarGrad,
                ..NoiseTunnelConfig::default()
            },
        )
    }

    /// Sets the number of noise draws per input.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// assert_eq!(NoiseTunnel::smoothgrad(Saliency::new(clf)).with_samples(10).config().n_samples, 10);
    /// ```
    pub fn with_samples(mut self, n_samples: usize) -> Self {
        self.config.n_samples = n_samples;
        self
    }

    /// Sets the noise scale.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseScale, NoiseTunnel, Saliency};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let sg = NoiseTunnel::smoothgrad(Saliency::new(clf)).with_noise(NoiseScale::Absolute(0.5));
    /// assert_eq!(sg.config().noise, NoiseScale::Absolute(0.5));
    /// ```
    pub fn with_noise(mut self, noise: NoiseScale) -> Self {
        self.config.noise = noise;
        self
    }

    /// Sets the number of noisy inputs per call of the inner explainer.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// let four = salience_core::BatchSize::fixed(4)?;
    /// assert_eq!(NoiseTunnel::smoothgrad(Saliency::new(clf)).with_batch_size(four).config().batch_size, four);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: BatchSize) -> Self {
        self.config.batch_size = batch_size;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &NoiseTunnelConfig {
        &self.config
    }

    /// The wrapped explainer.
    ///
    /// ```
    /// use salience_explain::{ModuleClassifier, NoiseTunnel, Saliency};
    /// use salience_core::Explainer;
    /// let clf = ModuleClassifier::new(|x: &candle_core::Tensor| Ok(x.clone()), 2);
    /// assert_eq!(NoiseTunnel::smoothgrad(Saliency::new(clf)).inner().name(), "saliency");
    /// ```
    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn check_config(&self) -> Result<()> {
        let c = &self.config;
        salience_core::validate::check_count("n_samples", c.n_samples)?;
        let (name, v) = match c.noise {
            NoiseScale::Absolute(s) => ("noise (absolute sigma)", s),
            NoiseScale::Relative(r) => ("noise (relative sigma)", r),
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(SalienceError::invalid(name, v, "must be finite and >= 0"));
        }
        Ok(())
    }
}

impl<E: Explainer> Explainer for NoiseTunnel<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        self.check_config()?;
        let shape = inputs.shape().to_vec();
        if shape.len() < 2 {
            return Err(SalienceError::shape(
                "explainer inputs",
                "[N, ...] of rank 2 to 4",
                &shape,
            ));
        }
        check_nonempty_shape(&shape, "explainer inputs")?;
        check_finite(&inputs, "explainer inputs")?;
        let n = shape[0];
        if targets.len() != n {
            return Err(SalienceError::TargetCount {
                targets: targets.len(),
                inputs: n,
            });
        }
        seeds.check_len(n)?;
        let xs = inputs.as_standard_layout();
        let x = flat_slice(&xs)?;
        let f: usize = shape[1..].iter().product();
        let sigmas: Vec<f32> = (0..n)
            .map(|i| match self.config.noise {
                NoiseScale::Absolute(s) => s,
                NoiseScale::Relative(r) => {
                    let row = &x[i * f..(i + 1) * f];
                    let (lo, hi) = row
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                            (l.min(v), h.max(v))
                        });
                    r * (hi - lo)
                }
            })
            .collect();
        let s = self.config.n_samples;
        let total = n * s;
        let per_point = sample_bytes(&shape[1..]).saturating_mul(3);
        let bs = self
            .config
            .batch_size
            .resolve(per_point, total, DEFAULT_BATCH_SIZE)?;
        let mut sum: Vec<f64> = Vec::new();
        let mut sumsq: Vec<f64> = Vec::new();
        let mut out_shape: Option<Vec<usize>> = None;
        let mut start = 0;
        while start < total {
            let len = (total - start).min(bs);
            let mut buf = vec![0f32; len * f];
            let mut tg = Vec::with_capacity(len);
            let mut inner_seeds = Vec::with_capacity(len);
            for (q, row) in buf.chunks_exact_mut(f).enumerate() {
                let p = start + q;
                let (i, j) = (p / s, (p % s) as u64);
                let si = seeds.for_sample(i);
                let mut g = rng(derive_seed(si, 2 * j));
                let sigma = sigmas[i] as f64;
                for (o, &v) in row.iter_mut().zip(&x[i * f..(i + 1) * f]) {
                    let z: f64 = StandardNormal.sample(&mut g);
                    *o = (v as f64 + sigma * z) as f32;
                    if !o.is_finite() {
                        return Err(SalienceError::invalid(
                            "sigma",
                            sigma,
                            &format!(
                                "the noisy copy of input {i} (value {v} plus sigma times a \
                                 standard normal draw) overflows f32; use a smaller noise level"
                            ),
                        ));
                    }
                }
                tg.push(targets[i]);
                inner_seeds.push(derive_seed(si, 2 * j + 1));
            }
            let mut bshape = vec![len];
            bshape.extend_from_slice(&shape[1..]);
            let noisy = ArrayD::from_shape_vec(IxDyn(&bshape), buf)
                .map_err(|e| SalienceError::backend("ndarray", e))?;
            let maps = self
                .inner
                .explain(noisy.view(), &tg, Seeds::per_sample(&inner_seeds))?;
            let ms = maps.shape().to_vec();
            if ms.first() != Some(&len) {
                return Err(SalienceError::shape(
                    "inner explainer output",
                    format!("[{len}, ...]"),
                    &ms,
                ));
            }
            match &out_shape {
                None => {
                    let per: usize = ms[1..].iter().product();
                    sum = vec![0.0; n * per];
                    sumsq = vec![0.0; n * per];
                    out_shape = Some(ms[1..].to_vec());
                }
                Some(os) if os.as_slice() != &ms[1..] => {
                    return Err(SalienceError::shape(
                        "inner explainer output",
                        format!("[N, ...{os:?}] for every chunk"),
                        &ms,
                    ));
                }
                Some(_) => {}
            }
            let flat = maps.as_flat();
            let per = flat.ncols();
            for (q, row) in flat.axis_iter(Axis(0)).enumerate() {
                let i = (start + q) / s;
                let acc = &mut sum[i * per..(i + 1) * per];
                let acc2 = &mut sumsq[i * per..(i + 1) * per];
                for ((a, a2), &v) in acc.iter_mut().zip(acc2.iter_mut()).zip(row.iter()) {
                    let v = v as f64;
                    *a += v;
                    *a2 += v * v;
                }
            }
            start += len;
        }
        let per_shape = out_shape.unwrap_or_default();
        let sf = s as f64;
        let out: Vec<f32> = sum
            .iter()
            .zip(&sumsq)
            .map(|(a, a2)| {
                let m = a / sf;
                let v = match self.config.kind {
                    NoiseKind::SmoothGrad => m,
                    NoiseKind::SmoothGradSquared => a2 / sf,
                    NoiseKind::VarGrad => (a2 / sf - m * m).max(0.0),
                };
                v as f32
            })
            .collect();
        let mut full = vec![n];
        full.extend_from_slice(&per_shape);
        let arr = ArrayD::from_shape_vec(IxDyn(&full), out)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(arr)
    }
}
