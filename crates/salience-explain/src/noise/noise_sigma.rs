//! The NoiseGrad noise-level heuristic (Bykov et al. 2022, eq. 5 and
//! appendix): choose σ_NG so that the *relative accuracy drop*
//!
//! AD(σ) = 1 − (ACC(σ) − ACC(∞)) / (ACC(0) − ACC(∞))
//!
//! on a labelled set is about 5%, where ACC(σ) is the accuracy of the
//! models with multiplicative weight noise N(1, σ²), ACC(0) the clean
//! accuracy and ACC(∞) the chance level (1/K by default).
//!
//! For FusionGrad the paper gives two rules ([`FusionRule`]):
//! * [`FusionRule::Halve`] (main text): halve both heuristics' values,
//!   σ_NG = σ_NG*/2 and σ_SG = (α_SG/2)·(max − min) with α_SG = 0.2.
//! * [`FusionRule::PlusPlus`] (appendix, "NoiseGrad++", eq. 6): fix the
//!   input noise at α_SG = 0.1 and choose σ_NG so that the drop with *both*
//!   noises, AD₊₊(σ_SG, σ_NG), is again 5%.
//!
//! # Search
//! ACC(σ) averages the accuracy of `n_draws` model draws, draw d using the
//! weight noise of `derive_seed(seed, d)` for every σ (common random
//! numbers: the noise is η = 1 + σz with the same z, so the estimated curve
//! is smooth in σ and the search is reproducible). The search brackets the
//! target by doubling σ from `sigma_init`, then bisects until
//! |AD − target| ≤ `tolerance` or `max_iter` steps, returning the evaluated
//! σ whose drop is closest to the target. The model runs forward only, in
//! chunks of `batch_size` inputs.

use crate::gradient::{chunk_size, contiguous, flat_slice, validate};
use crate::model::convert::{candle_error, tensor_to_vec};
use crate::model::weight_map::{ParamFilter, WeightMapModel};
use crate::noise::noise_tunnel::NoiseScale;
use crate::Classifier;
use candle_core::Tensor;
use ndarray::ArrayViewD;
use rand_distr::{Distribution, StandardNormal};
use salience_core::batch::Pass;
use salience_core::seed::{derive_seed, rng};
use salience_core::{BatchSize, Result, SalienceError};

/// Configuration of the σ search ([`noisegrad_sigma`], [`fusiongrad_sigmas`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseSigmaConfig {
    /// Target relative accuracy drop AD, in (0, 1). Default 0.05 (the paper).
    pub target_drop: f32,
    /// Model draws averaged per evaluated σ (≥ 1). Default 5.
    pub n_draws: usize,
    /// Chance accuracy ACC(∞); `None` means 1/K. Default `None`.
    pub chance_accuracy: Option<f32>,
    /// First σ tried when bracketing (> 0). Default 0.1.
    pub sigma_init: f32,
    /// Largest σ tried; reaching it without the target drop is an error.
    /// Default 16.
    pub sigma_max: f32,
    /// Stop when |AD − target| ≤ tolerance. Default 0.005.
    pub tolerance: f32,
    /// Bisection steps at most. Default 30.
    pub max_iter: usize,
    /// Which tensors are perturbed (as in NoiseGrad). Default all parameters.
    pub filter: ParamFilter,
    /// Seed of the model (and input) noise. Default 0.
    pub seed: u64,
    /// Inputs per forward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for NoiseSigmaConfig {
    fn default() -> Self {
        NoiseSigmaConfig {
            target_drop: 0.05,
            n_draws: 5,
            chance_accuracy: None,
            sigma_init: 0.1,
            sigma_max: 16.0,
            tolerance: 0.005,
            max_iter: 30,
            filter: ParamFilter::Parameters,
            seed: 0,
            batch_size: BatchSize::Auto,
        }
    }
}

impl NoiseSigmaConfig {
    fn check(&self) -> Result<()> {
        let c = self;
        if !(c.target_drop > 0.0 && c.target_drop < 1.0) {
            return Err(SalienceError::invalid(
                "target_drop",
                c.target_drop,
                "must be in (0, 1)",
            ));
        }
        if c.n_draws == 0 {
            return Err(SalienceError::invalid("n_draws", 0, "must be at least 1"));
        }
        if !(c.sigma_init.is_finite() && c.sigma_init > 0.0) {
            return Err(SalienceError::invalid(
                "sigma_init",
                c.sigma_init,
                "must be finite and > 0",
            ));
        }
        if !(c.sigma_max.is_finite() && c.sigma_max >= c.sigma_init) {
            return Err(SalienceError::invalid(
                "sigma_max",
                c.sigma_max,
                "must be finite and >= sigma_init",
            ));
        }
        if !(c.tolerance.is_finite() && c.tolerance >= 0.0) {
            return Err(SalienceError::invalid(
                "tolerance",
                c.tolerance,
                "must be finite and >= 0",
            ));
        }
        if let Some(ch) = c.chance_accuracy {
            if !(0.0..1.0).contains(&ch) {
                return Err(SalienceError::invalid(
                    "chance_accuracy",
                    ch,
                    "must be in [0, 1)",
                ));
            }
        }
        Ok(())
    }
}

/// The result of a σ search.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSigmaEstimate {
    /// The chosen σ_NG.
    pub sigma: f32,
    /// AD at `sigma` (averaged over the draws).
    pub relative_drop: f32,
    /// ACC(0): the clean accuracy.
    pub accuracy_clean: f32,
    /// ACC(σ): the mean accuracy of the noisy models at `sigma`.
    pub accuracy_noisy: f32,
    /// ACC(∞): the chance accuracy used.
    pub chance: f32,
    /// Number of σ values evaluated.
    pub evaluations: usize,
}

/// The FusionGrad rule (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FusionRule {
    /// σ_NG = σ_NG*/2, σ_SG = (α_SG/2)·(max − min); paper α_SG = 0.2.
    Halve {
        /// SmoothGrad's noise level before halving.
        alpha_sg: f32,
    },
    /// σ_SG = α_SG·(max − min) fixed (paper α_SG = 0.1); σ_NG from the
    /// accuracy drop with both noises.
    PlusPlus {
        /// SmoothGrad's noise level.
        alpha_sg: f32,
    },
}

impl Default for FusionRule {
    fn default() -> Self {
        FusionRule::Halve { alpha_sg: 0.2 }
    }
}

/// FusionGrad noise levels chosen by a [`FusionRule`].
#[derive(Debug, Clone, PartialEq)]
pub struct FusionSigmas {
    /// σ_NG for [`crate::FusionGradConfig::sigma_ng`].
    pub sigma_ng: f32,
    /// σ_SG for [`crate::FusionGradConfig::noise`] (relative).
    pub noise: NoiseScale,
    /// The underlying search (for `Halve`, the NoiseGrad search before
    /// halving).
    pub search: NoiseSigmaEstimate,
}

/// The relative accuracy drop AD = 1 − (acc − chance) / (clean − chance).
/// Errors if `clean <= chance` (the drop is undefined).
///
/// ```
/// let ad = salience_explain::noise::noise_sigma::relative_accuracy_drop(0.86, 0.9, 0.1)?;
/// assert!((ad - 0.05).abs() < 1e-6);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn relative_accuracy_drop(accuracy: f32, clean: f32, chance: f32) -> Result<f32> {
    if clean.is_nan() || chance.is_nan() || clean <= chance {
        return Err(SalienceError::invalid(
            "clean accuracy",
            clean,
            &format!("must exceed the chance accuracy {chance} for the relative drop to exist"),
        ));
    }
    Ok(1.0 - (accuracy - chance) / (clean - chance))
}

/// The fraction of `inputs` whose arg-max logit equals the label, with the
/// model run forward in chunks of `batch_size`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::{noise::noise_sigma::accuracy, ModuleClassifier};
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
/// let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 2);
/// let x = ndarray::array![[2.0f32, 1.0], [0.0, 1.0], [3.0, 0.0]].into_dyn();
/// let two = salience_core::BatchSize::fixed(2)?;
/// assert_eq!(accuracy(&clf, x.view(), &[0, 1, 1], two)?, 2.0 / 3.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn accuracy<C: Classifier + ?Sized>(
    clf: &C,
    inputs: ArrayViewD<'_, f32>,
    labels: &[usize],
    batch_size: BatchSize,
) -> Result<f32> {
    let info = validate(&inputs, labels, clf.num_classes())?;
    let batch_size = chunk_size(clf, batch_size, &info.sample_shape, info.n, Pass::Forward)?;
    let x = contiguous(&inputs);
    let data = flat_slice(&x)?;
    Ok(correct(clf, data, &info.sample_shape, labels, batch_size)? as f32 / info.n as f32)
}

/// Number of correct arg-max predictions.
fn correct<C: Classifier + ?Sized>(
    clf: &C,
    data: &[f32],
    sample_shape: &[usize],
    labels: &[usize],
    batch_size: usize,
) -> Result<usize> {
    let f: usize = sample_shape.iter().product();
    let k = clf.num_classes();
    let n = labels.len();
    let mut hits = 0;
    let mut start = 0;
    while start < n {
        let len = (n - start).min(batch_size);
        let mut shape = vec![len];
        shape.extend_from_slice(sample_shape);
        let x = Tensor::from_slice(&data[start * f..(start + len) * f], shape, clf.device())
            .map_err(candle_error)?;
        let logits = clf.logits(&x).map_err(candle_error)?;
        if logits.dims() != [len, k] {
            return Err(SalienceError::Model(format!(
                "classifier returned logits of shape {:?} for a batch of {len} (expected [{len}, {k}])",
                logits.dims()
            )));
        }
        let v = tensor_to_vec(&logits)?;
        for (row, &y) in v.chunks_exact(k).zip(&labels[start..start + len]) {
            if let Some((index, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(SalienceError::NonFinite {
                    context: "model logits".into(),
                    index,
                    value,
                });
            }
            let arg = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0;
            hits += usize::from(arg == y);
        }
        start += len;
    }
    Ok(hits)
}

/// The search state: the data, the (optional) noisy input copies and the
/// clean accuracy.
struct Search<'a, M> {
    model: &'a WeightMapModel<M>,
    sample_shape: Vec<usize>,
    labels: &'a [usize],
    /// One input set per draw (noisy inputs for NoiseGrad++), or the clean one.
    data: Vec<Vec<f32>>,
    cfg: &'a NoiseSigmaConfig,
    /// The resolved chunk size of the forward passes.
    chunk: usize,
    clean: f32,
    chance: f32,
    evaluations: usize,
}

impl<M: Classifier> Search<'_, M> {
    fn accuracy_at(&mut self, sigma: f32) -> Result<f32> {
        self.evaluations += 1;
        let n = self.labels.len();
        let mut total = 0usize;
        for d in 0..self.cfg.n_draws {
            let m = self.model.perturbed_with(
                sigma,
                derive_seed(self.cfg.seed, d as u64),
                &self.cfg.filter,
            )?;
            let data = self.data.get(d).or_else(|| self.data.first());
            let data = data.ok_or_else(|| SalienceError::Empty("labelled inputs".into()))?;
            total += correct(&m, data, &self.sample_shape, self.labels, self.chunk)?;
        }
        Ok(total as f32 / (n * self.cfg.n_draws) as f32)
    }

    fn drop_at(&mut self, sigma: f32) -> Result<(f32, f32)> {
        let acc = self.accuracy_at(sigma)?;
        Ok((relative_accuracy_drop(acc, self.clean, self.chance)?, acc))
    }

    fn run(mut self) -> Result<NoiseSigmaEstimate> {
        let target = self.cfg.target_drop;
        let tol = self.cfg.tolerance;
        let estimate = |s: &Self, sigma: f32, ad: f32, acc: f32| NoiseSigmaEstimate {
            sigma,
            relative_drop: ad,
            accuracy_clean: s.clean,
            accuracy_noisy: acc,
            chance: s.chance,
            evaluations: s.evaluations,
        };
        // With input noise (NoiseGrad++), σ_NG = 0 may already drop enough.
        let (ad0, acc0) = self.drop_at(0.0)?;
        if ad0 >= target - tol {
            return Ok(estimate(&self, 0.0, ad0, acc0));
        }
        let mut best = (0.0f32, ad0, acc0);
        let consider = |best: &mut (f32, f32, f32), s: f32, ad: f32, acc: f32| {
            if (ad - target).abs() < (best.1 - target).abs() {
                *best = (s, ad, acc);
            }
        };
        let mut lo = 0.0f32;
        let mut hi = self.cfg.sigma_init;
        loop {
            let (ad, acc) = self.drop_at(hi)?;
            consider(&mut best, hi, ad, acc);
            if (ad - target).abs() <= tol {
                return Ok(estimate(&self, hi, ad, acc));
            }
            if ad > target {
                break;
            }
            lo = hi;
            if hi >= self.cfg.sigma_max {
                return Err(SalienceError::invalid(
                    "sigma_max",
                    self.cfg.sigma_max,
                    &format!("the relative accuracy drop stays at {ad} < {target} up to sigma_max"),
                ));
            }
            hi = (hi * 2.0).min(self.cfg.sigma_max);
        }
        for _ in 0..self.cfg.max_iter {
            let mid = 0.5 * (lo + hi);
            let (ad, acc) = self.drop_at(mid)?;
            consider(&mut best, mid, ad, acc);
            if (ad - target).abs() <= tol {
                break;
            }
            if ad < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(estimate(&self, best.0, best.1, best.2))
    }
}

/// Shared validation and set-up.
fn search<'a, M: Classifier>(
    model: &'a WeightMapModel<M>,
    inputs: &ArrayViewD<'_, f32>,
    labels: &'a [usize],
    cfg: &'a NoiseSigmaConfig,
    input_alpha: Option<f32>,
) -> Result<Search<'a, M>> {
    cfg.check()?;
    let info = validate(inputs, labels, model.num_classes())?;
    let chunk = chunk_size(
        model,
        cfg.batch_size,
        &info.sample_shape,
        info.n,
        Pass::Forward,
    )?;
    let x = contiguous(inputs);
    let clean_data = flat_slice(&x)?;
    let clean_hits = correct(model, clean_data, &info.sample_shape, labels, chunk)?;
    let clean = clean_hits as f32 / info.n as f32;
    let chance = cfg
        .chance_accuracy
        .unwrap_or(1.0 / model.num_classes().max(1) as f32);
    // Fails early if the model is at chance.
    relative_accuracy_drop(clean, clean, chance)?;
    let data = match input_alpha {
        None => vec![clean_data.to_vec()],
        Some(alpha) => {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(SalienceError::invalid(
                    "alpha_sg",
                    alpha,
                    "must be finite and >= 0",
                ));
            }
            let f = info.features;
            (0..cfg.n_draws as u64)
                .map(|d| {
                    let base = derive_seed(derive_seed(cfg.seed, d), 0x1A9B7);
                    let mut out = clean_data.to_vec();
                    for (i, row) in out.chunks_exact_mut(f).enumerate() {
                        let (lo, hi) = row
                            .iter()
                            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                                (l.min(v), h.max(v))
                            });
                        let s = (alpha * (hi - lo)) as f64;
                        let mut g = rng(derive_seed(base, i as u64));
                        for v in row.iter_mut() {
                            let z: f64 = StandardNormal.sample(&mut g);
                            *v = (*v as f64 + s * z) as f32;
                        }
                    }
                    out
                })
                .collect()
        }
    };
    Ok(Search {
        model,
        sample_shape: info.sample_shape,
        labels,
        data,
        cfg,
        chunk,
        clean,
        chance,
        evaluations: 0,
    })
}

/// σ_NG for NoiseGrad by the accuracy-drop heuristic (eq. 5) on the
/// labelled set `(inputs, labels)`.
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use salience_explain::{noise::noise_sigma::{noisegrad_sigma, NoiseSigmaConfig}, ModuleClassifier, WeightMapModel};
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu)?;
/// let model = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
///     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 2, vb.pp("fc"))?, 2))
/// })?;
/// let x = ndarray::Array2::from_shape_fn((40, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0).into_dyn();
/// let labels: Vec<usize> = x.outer_iter().map(|r| usize::from(r[1] > r[0])).collect();
/// let est = noisegrad_sigma(&model, x.view(), &labels, &NoiseSigmaConfig::default())?;
/// assert!(est.sigma > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn noisegrad_sigma<M: Classifier>(
    model: &WeightMapModel<M>,
    inputs: ArrayViewD<'_, f32>,
    labels: &[usize],
    cfg: &NoiseSigmaConfig,
) -> Result<NoiseSigmaEstimate> {
    search(model, &inputs, labels, cfg, None)?.run()
}

/// σ_NG and σ_SG for FusionGrad by `rule` (see the [module docs](self)).
/// With [`FusionRule::PlusPlus`], if the input noise alone already drops
/// the accuracy by the target, σ_NG = 0 is returned.
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use salience_explain::noise::noise_sigma::{fusiongrad_sigmas, FusionRule, NoiseSigmaConfig};
/// use salience_explain::{ModuleClassifier, NoiseScale, WeightMapModel};
/// let w = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu)?;
/// let model = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
///     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 2, vb.pp("fc"))?, 2))
/// })?;
/// let x = ndarray::Array2::from_shape_fn((40, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0).into_dyn();
/// let labels: Vec<usize> = x.outer_iter().map(|r| usize::from(r[1] > r[0])).collect();
/// let s = fusiongrad_sigmas(&model, x.view(), &labels, FusionRule::default(), &NoiseSigmaConfig::default())?;
/// assert_eq!(s.noise, NoiseScale::Relative(0.1));
/// assert_eq!(s.sigma_ng, s.search.sigma / 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fusiongrad_sigmas<M: Classifier>(
    model: &WeightMapModel<M>,
    inputs: ArrayViewD<'_, f32>,
    labels: &[usize],
    rule: FusionRule,
    cfg: &NoiseSigmaConfig,
) -> Result<FusionSigmas> {
    match rule {
        FusionRule::Halve { alpha_sg } => {
            if !(alpha_sg.is_finite() && alpha_sg >= 0.0) {
                return Err(SalienceError::invalid(
                    "alpha_sg",
                    alpha_sg,
                    "must be finite and >= 0",
                ));
            }
            let est = noisegrad_sigma(model, inputs, labels, cfg)?;
            Ok(FusionSigmas {
                sigma_ng: est.sigma / 2.0,
                noise: NoiseScale::Relative(alpha_sg / 2.0),
                search: est,
            })
        }
        FusionRule::PlusPlus { alpha_sg } => {
            let est = search(model, &inputs, labels, cfg, Some(alpha_sg))?.run()?;
            Ok(FusionSigmas {
                sigma_ng: est.sigma,
                noise: NoiseScale::Relative(alpha_sg),
                search: est,
            })
        }
    }
}
