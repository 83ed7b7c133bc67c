//! NoiseGrad and FusionGrad (Bykov et al., AAAI 2022) around any explainer.
//!
//! * **NoiseGrad** (eq. 1): E_NG(x) = 1/N Σᵢ E(x, f(·, Wᵢ)) with
//!   Wᵢ = Ŵ ⊙ ηᵢ, ηᵢ ~ N(1, σ_NG² I): the base explanation averaged over
//!   N models whose weights carry multiplicative Gaussian noise.
//! * **FusionGrad** (eq. 2): E_FG(x) = 1/N Σᵢ 1/M Σⱼ E(x + ξⱼ, f(·, Wᵢ)),
//!   ξⱼ ~ N(0, σ_SG² I): SmoothGrad ([`NoiseTunnel`]) of the base explainer
//!   on each of the N models.
//!
//! The base explainer is built per model draw by a factory,
//! `Fn(WeightMapModel<M>) -> Result<E>` (e.g. `|m| Ok(Saliency::new(m))`),
//! so any explainer of this crate (or of the user) can be enhanced.
//!
//! # Defaults
//! The paper uses N = 10 ("sufficient for all methods") and sets σ_NG with
//! the accuracy-drop heuristic ([`crate::noise::noise_sigma`]); Figure 5 finds
//! σ_NG ∈ [0.2, 0.4] good on CMNIST and the reference implementation
//! defaults to 0.2, so [`NoiseGradConfig::default`] is N = 10, σ_NG = 0.2.
//! For FusionGrad the paper halves both heuristics' σ: σ_NG = 0.1 and
//! σ_SG = 0.1 · (max − min) of the input (α_SG = 0.2 halved; also the
//! appendix's α_SG = 0.1), with N = M = 10. The `reference()` presets follow
//! the authors' code instead (NoiseGrad N = 25; FusionGrad σ_SG = 0.4
//! absolute).
//!
//! # Seeding and memory
//! Model draw j uses the weight noise of `derive_seed(model_seed, j)`
//! ([`WeightMapModel::perturbed_with`]): the N models are shared by every
//! input, as in the paper, and do not depend on how a dataset is split into
//! batches. The base explainer of draw j gets the per-sample seeds
//! `derive_seed(seeds.for_sample(i), j)` (FusionGrad's input noise comes from
//! these), so results do not depend on the batch composition nor on any
//! chunk size. Draws are processed one after the other and accumulated, so
//! memory holds one perturbed model and one explanation at a time; each base
//! explanation is chunked by the base explainer itself.

use crate::gradient::validate;
use crate::model::weight_map::{ParamFilter, WeightMapModel};
use crate::noise::noise_tunnel::{NoiseKind, NoiseScale, NoiseTunnel, NoiseTunnelConfig};
use crate::Classifier;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::seed::derive_seed;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};

/// Configuration of [`NoiseGrad`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseGradConfig {
    /// Number N of model draws (≥ 1). Default 10 (the paper).
    pub n_models: usize,
    /// σ_NG, the standard deviation of the multiplicative weight noise
    /// N(1, σ²) (finite, ≥ 0). Default 0.2.
    pub sigma: f32,
    /// Which tensors are perturbed. Default: all parameters, not batch-norm
    /// running statistics (see [`ParamFilter`]).
    pub filter: ParamFilter,
    /// Seed of the model draws. Default 0.
    pub model_seed: u64,
}

impl Default for NoiseGradConfig {
    fn default() -> Self {
        NoiseGradConfig {
            n_models: 10,
            sigma: 0.2,
            filter: ParamFilter::Parameters,
            model_seed: 0,
        }
    }
}

impl NoiseGradConfig {
    /// Bykov et al. (2022)'s setting: N = 10 draws, σ_NG = 0.2 (use
    /// [`crate::noise::noise_sigma`] to set σ by the accuracy-drop heuristic).
    ///
    /// ```
    /// assert_eq!(salience_explain::NoiseGradConfig::bykov2022().n_models, 10);
    /// ```
    pub fn bykov2022() -> Self {
        Self::default()
    }

    /// The former name of [`NoiseGradConfig::bykov2022`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `bykov2022`"
    )]
    pub fn paper() -> Self {
        Self::bykov2022()
    }

    /// The authors' reference implementation (the NoiseGrad library): N = 25, σ_NG = 0.2.
    ///
    /// ```
    /// assert_eq!(salience_explain::NoiseGradConfig::noisegrad().n_models, 25);
    /// ```
    pub fn noisegrad() -> Self {
        NoiseGradConfig {
            n_models: 25,
            ..Self::default()
        }
    }

    /// The former name of [`NoiseGradConfig::noisegrad`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `noisegrad`"
    )]
    pub fn reference() -> Self {
        Self::noisegrad()
    }
}

/// Configuration of [`FusionGrad`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FusionGradConfig {
    /// Number N of model draws (≥ 1). Default 10.
    pub n_models: usize,
    /// σ_NG of the multiplicative weight noise. Default 0.1 (the paper's
    /// heuristic halves NoiseGrad's σ).
    pub sigma_ng: f32,
    /// Number M of input draws per model (≥ 1). Default 10.
    pub n_inputs: usize,
    /// σ_SG of the additive input noise. Default relative 0.1 (α_SG = 0.2
    /// halved), i.e. 0.1 · (max − min) of each input.
    pub noise: NoiseScale,
    /// Which tensors are perturbed. Default: all parameters.
    pub filter: ParamFilter,
    /// Seed of the model draws. Default 0.
    pub model_seed: u64,
    /// Noisy inputs per call of the base explainer. Default
    /// [`BatchSize::Auto`] (as in [`NoiseTunnelConfig::batch_size`]).
    pub batch_size: BatchSize,
}

impl Default for FusionGradConfig {
    fn default() -> Self {
        FusionGradConfig {
            n_models: 10,
            sigma_ng: 0.1,
            n_inputs: 10,
            noise: NoiseScale::Relative(0.1),
            filter: ParamFilter::Parameters,
            model_seed: 0,
            batch_size: BatchSize::Auto,
        }
    }
}

impl FusionGradConfig {
    /// Bykov et al. (2022)'s heuristic setting (the default).
    ///
    /// ```
    /// use salience_explain::{FusionGradConfig, NoiseScale};
    /// assert_eq!(FusionGradConfig::bykov2022().noise, NoiseScale::Relative(0.1));
    /// ```
    pub fn bykov2022() -> Self {
        Self::default()
    }

    /// The former name of [`FusionGradConfig::bykov2022`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `bykov2022`"
    )]
    pub fn paper() -> Self {
        Self::bykov2022()
    }

    /// The authors' reference implementation (the NoiseGrad library's
    /// `NoiseGradPlusPlus`): N = M =
    /// 10, σ_NG = 0.2, σ_SG = 0.4 absolute.
    ///
    /// ```
    /// use salience_explain::{FusionGradConfig, NoiseScale};
    /// assert_eq!(FusionGradConfig::noisegrad().noise, NoiseScale::Absolute(0.4));
    /// ```
    pub fn noisegrad() -> Self {
        FusionGradConfig {
            sigma_ng: 0.2,
            noise: NoiseScale::Absolute(0.4),
            ..Self::default()
        }
    }

    /// The former name of [`FusionGradConfig::noisegrad`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `noisegrad`"
    )]
    pub fn reference() -> Self {
        Self::noisegrad()
    }
}

/// What [`NoiseGrad`] and [`FusionGrad`] hold: the unperturbed model, the
/// factory of the base explainer, the configuration and the display name
/// `prefix(base name)`.
struct Drawn<M, F, C> {
    model: WeightMapModel<M>,
    factory: F,
    config: C,
    name: String,
}

impl<M: Classifier, F, C> Drawn<M, F, C> {
    /// Builds the base explainer once on the unperturbed model (for its
    /// name), so a failing factory is reported here.
    fn new<E: Explainer>(
        model: WeightMapModel<M>,
        factory: F,
        config: C,
        prefix: &str,
    ) -> Result<Self>
    where
        F: Fn(WeightMapModel<M>) -> Result<E>,
    {
        let name = format!("{prefix}({})", factory(model.clone())?.name());
        Ok(Drawn {
            model,
            factory,
            config,
            name,
        })
    }
}

impl<M, F, C: std::fmt::Debug> Drawn<M, F, C> {
    /// The `Debug` output of the public wrapper `ty`.
    fn fmt_as(&self, ty: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(ty)
            .field("name", &self.name)
            .field("config", &self.config)
            .finish()
    }
}

/// Writes what [`NoiseGrad`] and [`FusionGrad`] share around their
/// [`Drawn`]: `Debug`, `new` (the default configuration), `with_models`,
/// `with_model_seed`, `config`, `model` and the [`Explainer`] impl, whose
/// `explain` runs `$body` with `$this` = `self` and the call's inputs,
/// targets and seeds.
macro_rules! drawn_explainer {
    ($ty:ident, $config:ident, $prefix:literal, |$this:ident, $inputs:ident, $targets:ident, $seeds:ident| $body:block) => {
        impl<M, F> std::fmt::Debug for $ty<M, F> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt_as(stringify!($ty), f)
            }
        }

        impl<M, F, E> $ty<M, F>
        where
            M: Classifier,
            F: Fn(WeightMapModel<M>) -> Result<E> + Send + Sync,
            E: Explainer,
        {
            /// The explainer with the default configuration (the paper's).
            /// Builds the base explainer once on the unperturbed model (for
            /// its name), so a failing factory is reported here.
            pub fn new(model: WeightMapModel<M>, factory: F) -> Result<Self> {
                Self::with_config(model, factory, $config::default())
            }

            /// The explainer with `config` (see its presets); the base
            /// explainer is built once, as in `new`.
            pub fn with_config(
                model: WeightMapModel<M>,
                factory: F,
                config: $config,
            ) -> Result<Self> {
                Drawn::new(model, factory, config, $prefix).map($ty)
            }
        }

        impl<M, F> $ty<M, F> {
            /// Sets the number of model draws N.
            pub fn with_models(mut self, n_models: usize) -> Self {
                self.0.config.n_models = n_models;
                self
            }

            /// Sets the seed of the model draws.
            pub fn with_model_seed(mut self, seed: u64) -> Self {
                self.0.config.model_seed = seed;
                self
            }

            /// The configuration.
            pub fn config(&self) -> &$config {
                &self.0.config
            }

            /// The unperturbed model.
            pub fn model(&self) -> &WeightMapModel<M> {
                &self.0.model
            }
        }

        impl<M, F, E> Explainer for $ty<M, F>
        where
            M: Classifier,
            F: Fn(WeightMapModel<M>) -> Result<E> + Send + Sync,
            E: Explainer,
        {
            fn name(&self) -> &str {
                &self.0.name
            }

            fn explain(
                &self,
                inputs: ArrayViewD<'_, f32>,
                targets: &[usize],
                seeds: Seeds<'_>,
            ) -> Result<AttributionBatch> {
                let ($this, $inputs, $targets, $seeds) = (self, inputs, targets, seeds);
                $body
            }
        }
    };
}

fn check_draws(n_models: usize, sigma: f32) -> Result<()> {
    salience_core::validate::check_count("n_models", n_models)?;
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(SalienceError::invalid(
            "sigma_ng",
            sigma,
            "must be finite and >= 0",
        ));
    }
    Ok(())
}

/// The average of `make(model draw j)`'s explanations over `n_models`
/// draws, accumulated one draw at a time.
#[allow(clippy::too_many_arguments)]
fn average_over_draws<M, E>(
    model: &WeightMapModel<M>,
    n_models: usize,
    sigma: f32,
    filter: &ParamFilter,
    model_seed: u64,
    make: &dyn Fn(WeightMapModel<M>) -> Result<E>,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: Seeds<'_>,
) -> Result<AttributionBatch>
where
    M: Classifier,
    E: Explainer,
{
    check_draws(n_models, sigma)?;
    let info = validate(&inputs, targets, model.num_classes())?;
    seeds.check_len(info.n)?;
    let mut sum: Vec<f64> = Vec::new();
    let mut out_shape: Option<Vec<usize>> = None;
    let mut inner = vec![0u64; info.n];
    for j in 0..n_models as u64 {
        let draw = model.perturbed_with(sigma, derive_seed(model_seed, j), filter)?;
        let e = make(draw)?;
        for (i, s) in inner.iter_mut().enumerate() {
            *s = derive_seed(seeds.for_sample(i), j);
        }
        let maps = e.explain(inputs.view(), targets, Seeds::per_sample(&inner))?;
        let shape = maps.shape().to_vec();
        match &out_shape {
            None => {
                if shape.first() != Some(&info.n) {
                    return Err(SalienceError::shape(
                        "base explainer output",
                        format!("[{}, ...]", info.n),
                        &shape,
                    ));
                }
                sum = vec![0.0; maps.as_flat().len()];
                out_shape = Some(shape);
            }
            Some(s) if *s != shape => {
                return Err(SalienceError::shape(
                    "base explainer output",
                    format!("{s:?} for every model draw"),
                    &shape,
                ));
            }
            Some(_) => {}
        }
        let flat = maps.as_flat();
        for (a, &v) in sum.iter_mut().zip(flat.iter()) {
            *a += v as f64;
        }
    }
    let nf = n_models as f64;
    let out: Vec<f32> = sum.iter().map(|a| (a / nf) as f32).collect();
    let arr = ArrayD::from_shape_vec(IxDyn(&out_shape.unwrap_or_default()), out)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    AttributionBatch::new(arr)
}

/// NoiseGrad around the explainer that `factory` builds for each model
/// draw. See the [module docs](self).
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{ModuleClassifier, NoiseGrad, NoiseGradConfig, Saliency, WeightMapModel};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu)?;
/// let model = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
///     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 1, vb.pp("fc"))?, 1))
/// })?;
/// let ng = NoiseGrad::new(model.clone(), |m| Ok(Saliency::new(m)))?;
/// assert_eq!(ng.name(), "noisegrad(saliency)");
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// let a = ng.explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.shape(), &[1, 2]);
/// let ng = NoiseGrad::with_config(model, |m| Ok(Saliency::new(m)), NoiseGradConfig::noisegrad())?;
/// assert_eq!(ng.config().n_models, 25);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NoiseGrad<M, F>(Drawn<M, F, NoiseGradConfig>);

// The average of the base explanations over the model draws.
drawn_explainer!(
    NoiseGrad,
    NoiseGradConfig,
    "noisegrad",
    |this, inputs, targets, seeds| {
        let c = &this.0.config;
        average_over_draws(
            &this.0.model,
            c.n_models,
            c.sigma,
            &c.filter,
            c.model_seed,
            &|m| (this.0.factory)(m),
            inputs,
            targets,
            seeds,
        )
    }
);

impl<M, F> NoiseGrad<M, F> {
    /// Sets σ_NG.
    pub fn with_sigma(mut self, sigma: f32) -> Self {
        self.0.config.sigma = sigma;
        self
    }
}

/// FusionGrad: SmoothGrad ([`NoiseTunnel`]) of the explainer that
/// `factory` builds, averaged over NoiseGrad model draws. See the
/// [module docs](self).
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{FusionGrad, FusionGradConfig, ModuleClassifier, Saliency, WeightMapModel};
/// let w = Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu)?;
/// let model = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
///     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 1, vb.pp("fc"))?, 1))
/// })?;
/// let fg = FusionGrad::new(model.clone(), |m| Ok(Saliency::new(m)))?;
/// assert_eq!(fg.name(), "fusiongrad(saliency)");
/// let x = ndarray::array![[3.0f32, 4.0]].into_dyn();
/// assert_eq!(fg.explain(x.view(), &[0], Seeds::base(0))?.shape(), &[1, 2]);
/// let fg = FusionGrad::with_config(model, |m| Ok(Saliency::new(m)), FusionGradConfig::noisegrad())?;
/// assert_eq!(fg.config().sigma_ng, 0.2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FusionGrad<M, F>(Drawn<M, F, FusionGradConfig>);

// The average over the model draws of SmoothGrad of the base explainer.
drawn_explainer!(
    FusionGrad,
    FusionGradConfig,
    "fusiongrad",
    |this, inputs, targets, seeds| {
        let c = &this.0.config;
        if c.n_inputs == 0 {
            return Err(SalienceError::invalid("n_inputs", 0, "must be at least 1"));
        }
        let tc = this.tunnel_config();
        average_over_draws(
            &this.0.model,
            c.n_models,
            c.sigma_ng,
            &c.filter,
            c.model_seed,
            &|m| Ok(NoiseTunnel::new((this.0.factory)(m)?, tc.clone())),
            inputs,
            targets,
            seeds,
        )
    }
);

impl<M, F> FusionGrad<M, F> {
    /// Sets the number of input draws M per model.
    pub fn with_inputs(mut self, n_inputs: usize) -> Self {
        self.0.config.n_inputs = n_inputs;
        self
    }

    /// Sets σ_NG.
    pub fn with_sigma_ng(mut self, sigma: f32) -> Self {
        self.0.config.sigma_ng = sigma;
        self
    }

    /// Sets σ_SG.
    pub fn with_noise(mut self, noise: NoiseScale) -> Self {
        self.0.config.noise = noise;
        self
    }

    /// Sets the number of noisy inputs per call of the base explainer.
    pub fn with_batch_size(mut self, batch_size: BatchSize) -> Self {
        self.0.config.batch_size = batch_size;
        self
    }

    fn tunnel_config(&self) -> NoiseTunnelConfig {
        NoiseTunnelConfig {
            kind: NoiseKind::SmoothGrad,
            n_samples: self.0.config.n_inputs,
            noise: self.0.config.noise,
            batch_size: self.0.config.batch_size,
        }
    }
}
