//! The explainer registry: build any explainer from a name and
//! parameters, so that a panel of methods can be described as data (a
//! list, a config file) — the "attributer" of Gattas (2020).
//!
//! # Spec syntax
//! An [`ExplainerSpec`] is `name` or `name:key=value,key=value,...`
//! (names and keys are case-insensitive and stored lower-case; values are
//! kept as written). It parses with [`str::parse`] and prints back with
//! `Display`; the round trip is exact. A panel is a list of specs
//! separated by `;` or new lines ([`ExplainerSpec::parse_list`]). Wrappers
//! take the name of the inner method in `inner` and pass every
//! `inner.`-prefixed key to it, so nesting composes:
//! `smoothgrad:inner=integrated_gradients,inner.n_steps=16,n_samples=20`.
//!
//! # Built-in methods ([`Registry::with_builtins`])
//!
//! | name (aliases) | keys (default) |
//! |---|---|
//! | `saliency` | `abs` (false), `batch_size` (64) |
//! | `input_x_gradient` (`ixg`) | `batch_size` |
//! | `integrated_gradients` (`ig`) | `n_steps` (50), `quadrature` = `gauss_legendre` \| `riemann_left` \| `riemann_right` \| `riemann_middle` \| `riemann_trapezoid`, baseline keys, `batch_size` |
//! | `smoothgrad`, `smoothgrad_sq`, `vargrad` | `inner` (`saliency`), `inner.*`, `n_samples` (50), `sigma` (0.15), `noise` = `relative` (σ·(max−min)) \| `absolute`, `batch_size` |
//! | `expected_gradients` (`eg`) | `n_samples` (20), `n_steps` (30), baseline keys (`normal`), `noise_std` (0), `batch_size` |
//! | `gradient_shap` | as `expected_gradients`, defaults 5 samples × 1 step (Captum), baseline `normal` |
//! | `grad_cam` | `layer` (required), `relu` (true), `batch_size` |
//! | `grad_cam_plus_plus` (`grad_cam_pp`) | as `grad_cam` |
//! | `eigen_cam` | `layer` (required), `center` (true), `relu` (true), `batch_size` |
//! | `poly_cam` | `layers` (required, forward order, separated by `\|`), `variant` = `plus_minus` \| `plus` \| `minus`, `lnorm` (true), `batch_size` |
//! | `occlusion` | `window` (4), `stride` (1) (square, all channels), baseline keys (`zeros`), `batch_size` |
//! | `feature_ablation` | feature-mask keys (`element`), baseline keys, `batch_size` |
//! | `shapley_sampling` | `n_permutations` (25), feature-mask keys, baseline keys, `batch_size` |
//! | `kernel_shap` | `n_samples` (25), feature-mask keys, baseline keys, `batch_size` |
//! | `lime` | `n_samples` (25), `surrogate` = `ols` \| `ridge` \| `lasso` (Captum's lasso λ = 0.01), `lambda`, feature-mask keys, baseline keys, `batch_size` |
//! | `rise` | `n_masks` (4000), `grid` (7), `p_keep` (0.5), baseline keys, `batch_size` |
//! | `igos_pp` (`igos++`, `igospp`) | `preset` = `mahlau2022` (Mahlau & Nolde 2022, App. A; default) \| `reference` (authors' code), then overrides: `mask_size` (50), `iterations` (20), `ig_steps` (25), `l1` (20), `l2` (30), `alpha_max` (10), `alpha_min` (1e-5), `armijo` (1e-4), `decay` (0.2), `tv_beta` (2), `tv_sigma` (0.01), `noise_std` (0.2), `softmax` (true), baseline keys (`normal`; `blur` σ 50, 51 × 51 for `reference`), `batch_size` |
//!
//! Every method also takes `reduce` = `sum` \| `sumabs` \| `maxabs` \|
//! `l2`: its `[N, C, H, W]` maps are reduced to `[N, H, W]` pixel maps
//! (the [`PixelMaps`] adapter), so that they stack with the CAM methods'
//! `[N, H, W]` maps in one ensemble: `ig:n_steps=16,reduce=sum; grad_cam:layer=conv2`.
//!
//! The perturbation methods run the model as a black box through
//! [`CandleModel`]. Feature-mask keys: `feature_mask` = `element` \|
//! `patches` (`patch_size`, 4) \| `slic` (`n_segments`, `compactness`).
//! NoiseGrad / FusionGrad need a [`crate::WeightMapModel`] and the
//! rule-based methods a [`crate::RuleForward`] model, which a plain
//! [`LayerSplit`] is not: register them with [`Registry::register`] and a
//! closure that captures such a model.
//!
//! Transformers ([`AttentionModel`]) add `attention_rollout` and
//! `gradient_rollout` with [`Registry::with_attention`], and (with a
//! [`crate::RuleForward`] forward pass) `attnlrp` and `cp_lrp` with
//! [`Registry::with_attention_lrp`]; without it those names are typed errors.
//!
//! Baseline keys: `baseline` = `zeros` \| `constant` \| `blur` \| `normal`,
//! with `value` (constant, 0), `sigma` and `kernel_size` (blur, seed
//! `000`'s 20 and 25). Tensor-valued parameters (a given baseline, a
//! GradientSHAP reference set) cannot be written in a string: register a
//! closure that captures them ([`Registry::register`]).
//!
//! Unknown names, unknown keys and unparsable values are typed errors
//! ([`SalienceError::InvalidParameter`]).
//!
//! # Models
//! The registry builds explainers over an `Arc<M>` with `M: LayerSplit`
//! (gradient methods only need the [`Classifier`](crate::Classifier)
//! half; CAM methods need the split). `Arc` makes the model shareable by
//! every explainer of a panel without requiring `M: Clone`
//! ([`SequentialClassifier`](crate::SequentialClassifier) holds boxed
//! layers and is not `Clone`).
//!
//! # Extending
//! Methods living elsewhere (NoiseGrad/FusionGrad, perturbation methods)
//! are added with [`Registry::register`]: a builder receives the spec's
//! [`Params`] (take every key it understands; leftovers are reported as
//! unknown keys), the model, and the registry (to build an `inner`
//! explainer with [`Registry::build_inner`]).

use crate::adapter::CandleModel;
use crate::attention::{
    AttentionModel, AttentionRollout, AttentionRolloutConfig, GradientRollout,
    GradientRolloutConfig, HeadFusion,
};
use crate::baseline::Baseline;
use crate::eigen_cam::{EigenCam, EigenCamConfig};
use crate::expected_gradients::{ExpectedGradients, ExpectedGradientsConfig, References};
use crate::feature_ablation::{FeatureAblation, FeatureAblationConfig};
use crate::feature_mask::FeatureMask;
use crate::grad_cam::{GradCam, GradCamConfig};
use crate::grad_cam_plus_plus::GradCamPlusPlus;
use crate::igos::{IGosConfig, IGosPlusPlus};
use crate::input_x_gradient::InputXGradient;
use crate::integrated_gradients::{IntegratedGradients, IntegratedGradientsConfig};
use crate::kernel_shap::{KernelShap, KernelShapConfig};
use crate::lime::{Lime, LimeConfig};
use crate::linear_fit::Surrogate;
use crate::noise_tunnel::{NoiseKind, NoiseScale, NoiseTunnel, NoiseTunnelConfig};
use crate::occlusion::{Occlusion, OcclusionConfig};
use crate::poly_cam::{PolyCam, PolyCamConfig, PolyCamVariant};
use crate::quadrature::Quadrature;
use crate::rise::{Rise, RiseConfig};
use crate::saliency::{Saliency, SaliencyConfig};
use crate::shapley_sampling::{ShapleySamplingConfig, ShapleyValueSampling};
use crate::slic::SlicConfig;
use crate::split::LayerSplit;
use salience_core::{ChannelReduction, Explainer, PixelMaps, Result, SalienceError};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A method name and its parameters, e.g. `integrated_gradients:n_steps=32`.
///
/// ```
/// use salience_explain::registry::ExplainerSpec;
/// let s: ExplainerSpec = "IG:n_steps=32, quadrature=riemann_left".parse()?;
/// assert_eq!(s.name, "ig");
/// assert_eq!(s.to_string(), "ig:n_steps=32,quadrature=riemann_left");
/// assert_eq!(s.to_string().parse::<ExplainerSpec>()?, s);
/// assert!("saliency:abs".parse::<ExplainerSpec>().is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExplainerSpec {
    /// The method name (lower-case).
    pub name: String,
    /// `key = value` pairs in the order written (keys lower-case, unique).
    pub params: Vec<(String, String)>,
}

impl ExplainerSpec {
    /// A spec with no parameters. The name is trimmed and lower-cased and
    /// must be what the parser accepts (ASCII letters, digits, `_`, `-`,
    /// `+`), so that every spec prints back to text that parses to it.
    ///
    /// ```
    /// use salience_explain::registry::ExplainerSpec;
    /// assert_eq!(ExplainerSpec::new("Saliency")?.to_string(), "saliency");
    /// assert!(ExplainerSpec::new("a:b").is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(name: &str) -> Result<Self> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        {
            return Err(bad(
                "explainer",
                &name,
                "a method name is ASCII letters, digits, `_`, `-` or `+`",
            ));
        }
        Ok(ExplainerSpec {
            name,
            params: Vec::new(),
        })
    }

    /// Adds (or replaces) parameter `key` (trimmed, lower-cased) with
    /// `value` (trimmed). Both must be non-empty; the key may not contain
    /// `=`, and neither may contain `,`, `;`, `#` or a line break (the
    /// separators of the spec and panel syntax), so the spec prints back
    /// to text that parses to it.
    ///
    /// ```
    /// use salience_explain::registry::ExplainerSpec;
    /// let s = ExplainerSpec::new("grad_cam")?.with("layer", "conv2")?;
    /// assert_eq!(s.to_string(), "grad_cam:layer=conv2");
    /// assert!(s.clone().with("", "x").is_err());
    /// assert!(s.with("layers", "a,b").is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with(mut self, key: &str, value: &str) -> Result<Self> {
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        check_token(&key, "explainer parameter name", "=,;#\n\r")?;
        check_token(value, &key, ",;#\n\r")?;
        match self.params.iter_mut().find(|(k, _)| *k == key) {
            Some(p) => p.1 = value.to_string(),
            None => self.params.push((key, value.to_string())),
        }
        Ok(self)
    }

    /// Parses a panel: specs separated by `;` or new lines (blank entries
    /// and `#` comments skipped).
    ///
    /// ```
    /// use salience_explain::registry::ExplainerSpec;
    /// let panel = ExplainerSpec::parse_list("saliency\n# a comment\nig:n_steps=8; grad_cam:layer=c")?;
    /// assert_eq!(panel.len(), 3);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn parse_list(text: &str) -> Result<Vec<ExplainerSpec>> {
        text.split(['\n', ';'])
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::parse)
            .collect()
    }
}

fn bad(key: &str, value: &str, reason: &str) -> SalienceError {
    SalienceError::invalid(key, value, reason)
}

/// Checks that a key or value is non-empty and free of `forbidden`.
fn check_token(token: &str, what: &str, forbidden: &str) -> Result<()> {
    if token.is_empty() {
        return Err(bad(what, "<empty>", "must not be empty"));
    }
    if let Some(c) = token.chars().find(|c| forbidden.contains(*c)) {
        return Err(bad(
            what,
            token,
            &format!("contains {c:?}, a separator of the spec syntax"),
        ));
    }
    Ok(())
}

impl std::str::FromStr for ExplainerSpec {
    type Err = SalienceError;

    fn from_str(spec: &str) -> Result<Self> {
        let (name, params) = match spec.split_once(':') {
            Some((n, p)) => (n, p),
            None => (spec, ""),
        };
        let mut out = ExplainerSpec::new(name)
            .map_err(|_| bad("explainer", spec, "expected name or name:key=value,..."))?;
        for kv in params.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("explainer parameter", kv.trim(), "expected key=value"))?;
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() || v.trim().is_empty() {
                return Err(bad("explainer parameter", kv.trim(), "empty key or value"));
            }
            if out.params.iter().any(|(key, _)| *key == k) {
                return Err(bad(&k, v.trim(), "parameter given twice"));
            }
            out = out.with(&k, v)?;
        }
        Ok(out)
    }
}

impl fmt::Display for ExplainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

/// The parameters of a spec being built: builders take the keys they know;
/// [`Params::finish`] reports the rest as unknown.
#[derive(Debug, Clone)]
pub struct Params {
    method: String,
    rest: Vec<(String, String)>,
}

impl Params {
    /// The parameters of `spec`.
    ///
    /// ```
    /// use salience_explain::registry::{ExplainerSpec, Params};
    /// let mut p = Params::new(&"ig:n_steps=8".parse::<ExplainerSpec>()?);
    /// assert_eq!(p.get_or("n_steps", 50usize)?, 8);
    /// assert_eq!(p.get_or("batch_size", 64usize)?, 64);
    /// p.finish()?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(spec: &ExplainerSpec) -> Self {
        Params {
            method: spec.name.clone(),
            rest: spec.params.clone(),
        }
    }

    /// Removes and returns the raw value of `key`.
    pub fn take(&mut self, key: &str) -> Option<String> {
        let i = self.rest.iter().position(|(k, _)| k == key)?;
        Some(self.rest.remove(i).1)
    }

    /// Parses `key` if present (typed error if unparsable), else `default`.
    pub fn get_or<T: std::str::FromStr>(&mut self, key: &str, default: T) -> Result<T> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| bad(key, &v, &format!("not a valid value for `{}`", self.method))),
        }
    }

    /// The value of a required key.
    pub fn required(&mut self, key: &str) -> Result<String> {
        self.take(key)
            .ok_or_else(|| bad(key, "<missing>", &format!("required by `{}`", self.method)))
    }

    /// Removes every `prefix.`-key, returning them without the prefix.
    pub fn take_prefixed(&mut self, prefix: &str) -> Vec<(String, String)> {
        let p = format!("{prefix}.");
        let (mine, rest): (Vec<_>, Vec<_>) =
            self.rest.drain(..).partition(|(k, _)| k.starts_with(&p));
        self.rest = rest;
        mine.into_iter()
            .map(|(k, v)| (k[p.len()..].to_string(), v))
            .collect()
    }

    /// Errors on the first key no builder took.
    pub fn finish(self) -> Result<()> {
        match self.rest.first() {
            None => Ok(()),
            Some((k, v)) => Err(bad(
                k,
                v,
                &format!("unknown parameter of `{}`", self.method),
            )),
        }
    }
}

/// A builder: the spec's parameters, the shared model and the registry
/// (for inner explainers) to an explainer.
pub type Builder<M> =
    Arc<dyn Fn(&mut Params, &Arc<M>, &Registry<M>) -> Result<Box<dyn Explainer>> + Send + Sync>;

/// Explainer builders by name. See the [module docs](self).
pub struct Registry<M: LayerSplit + 'static> {
    builders: BTreeMap<String, Builder<M>>,
    aliases: BTreeMap<String, String>,
}

impl<M: LayerSplit + 'static> fmt::Debug for Registry<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish()
    }
}

impl<M: LayerSplit + 'static> Registry<M> {
    /// A registry with no methods.
    ///
    /// ```
    /// use salience_explain::{registry::Registry, SequentialClassifier};
    /// assert!(Registry::<SequentialClassifier>::empty().names().is_empty());
    /// ```
    pub fn empty() -> Self {
        Registry {
            builders: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }

    /// The names registered (canonical names, sorted).
    pub fn names(&self) -> Vec<String> {
        self.builders.keys().cloned().collect()
    }

    /// Registers (or replaces) method `name`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_explain::{registry::Registry, Saliency, SequentialClassifier};
    /// let mut r = Registry::<SequentialClassifier>::empty();
    /// r.register("my_saliency", Arc::new(|p, m, _| {
    ///     let abs = p.get_or("abs", true)?;
    ///     let cfg = salience_explain::SaliencyConfig { abs, ..Default::default() };
    ///     Ok(Box::new(Saliency::with_config(m.clone(), cfg)))
    /// }));
    /// assert_eq!(r.names(), vec!["my_saliency".to_string()]);
    /// ```
    pub fn register(&mut self, name: &str, builder: Builder<M>) -> &mut Self {
        self.builders.insert(name.to_ascii_lowercase(), builder);
        self
    }

    /// Makes `alias` another name of `name`.
    pub fn alias(&mut self, alias: &str, name: &str) -> &mut Self {
        self.aliases
            .insert(alias.to_ascii_lowercase(), name.to_ascii_lowercase());
        self
    }

    /// Every built-in method of this crate (see the [module docs](self)).
    ///
    /// ```
    /// use salience_explain::{registry::Registry, SequentialClassifier};
    /// let r = Registry::<SequentialClassifier>::with_builtins();
    /// assert!(r.names().contains(&"grad_cam".to_string()));
    /// ```
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        r.register(
            "saliency",
            Arc::new(|p, m, _| {
                let cfg = SaliencyConfig {
                    abs: p.get_or("abs", false)?,
                    batch_size: batch(p)?,
                };
                Ok(Box::new(Saliency::with_config(m.clone(), cfg)))
            }),
        );
        r.register(
            "input_x_gradient",
            Arc::new(|p, m, _| {
                Ok(Box::new(
                    InputXGradient::new(m.clone()).with_batch_size(batch(p)?),
                ))
            }),
        );
        r.register(
            "integrated_gradients",
            Arc::new(|p, m, _| {
                let d = IntegratedGradientsConfig::default();
                let cfg = IntegratedGradientsConfig {
                    n_steps: p.get_or("n_steps", d.n_steps)?,
                    quadrature: quadrature(p)?,
                    baseline: baseline(p, Baseline::Zeros)?,
                    batch_size: batch(p)?,
                };
                Ok(Box::new(IntegratedGradients::with_config(m.clone(), cfg)))
            }),
        );
        for (name, kind) in [
            ("smoothgrad", NoiseKind::SmoothGrad),
            ("smoothgrad_sq", NoiseKind::SmoothGradSquared),
            ("vargrad", NoiseKind::VarGrad),
        ] {
            r.register(
                name,
                Arc::new(move |p, m, reg| {
                    let inner = reg.build_inner(p, "saliency", m)?;
                    let d = NoiseTunnelConfig::default();
                    let sigma: f32 = p.get_or("sigma", 0.15)?;
                    let noise = match p.take("noise").as_deref() {
                        None | Some("relative") => NoiseScale::Relative(sigma),
                        Some("absolute") => NoiseScale::Absolute(sigma),
                        Some(v) => return Err(bad("noise", v, "expected relative or absolute")),
                    };
                    let cfg = NoiseTunnelConfig {
                        kind,
                        n_samples: p.get_or("n_samples", d.n_samples)?,
                        noise,
                        batch_size: batch(p)?,
                    };
                    Ok(Box::new(NoiseTunnel::new(inner, cfg)))
                }),
            );
        }
        for (name, preset) in [
            ("expected_gradients", ExpectedGradientsConfig::mahlau2022()),
            (
                "gradient_shap",
                ExpectedGradientsConfig {
                    n_samples: 5,
                    n_steps: 1,
                    ..ExpectedGradientsConfig::mahlau2022()
                },
            ),
        ] {
            r.register(
                name,
                Arc::new(move |p, m, _| {
                    let cfg = ExpectedGradientsConfig {
                        n_samples: p.get_or("n_samples", preset.n_samples)?,
                        n_steps: p.get_or("n_steps", preset.n_steps)?,
                        references: References::Generated(baseline(p, Baseline::RandomNormal)?),
                        noise_std: p.get_or("noise_std", preset.noise_std)?,
                        batch_size: batch(p)?,
                    };
                    Ok(Box::new(ExpectedGradients::new(m.clone(), cfg)))
                }),
            );
        }
        r.register(
            "grad_cam",
            Arc::new(|p, m, _| {
                Ok(Box::new(GradCam::with_config(
                    m.clone(),
                    grad_cam_config(p)?,
                )))
            }),
        );
        r.register(
            "grad_cam_plus_plus",
            Arc::new(|p, m, _| {
                Ok(Box::new(GradCamPlusPlus::with_config(
                    m.clone(),
                    grad_cam_config(p)?,
                )))
            }),
        );
        r.register(
            "eigen_cam",
            Arc::new(|p, m, _| {
                let layer = p.required("layer")?;
                let cfg = EigenCamConfig {
                    center: p.get_or("center", true)?,
                    relu: p.get_or("relu", true)?,
                    batch_size: batch(p)?,
                    ..EigenCamConfig::new(&layer)
                };
                Ok(Box::new(EigenCam::with_config(m.clone(), cfg)))
            }),
        );
        r.register(
            "poly_cam",
            Arc::new(|p, m, _| {
                let layers = p.required("layers")?;
                let layers: Vec<&str> = layers.split('|').map(str::trim).collect();
                let variant = match p.take("variant").as_deref() {
                    None | Some("plus_minus") | Some("pm") => PolyCamVariant::PlusMinus,
                    Some("plus") => PolyCamVariant::Plus,
                    Some("minus") => PolyCamVariant::Minus,
                    Some(v) => return Err(bad("variant", v, "expected plus_minus, plus or minus")),
                };
                let cfg = PolyCamConfig {
                    variant,
                    lnorm: p.get_or("lnorm", true)?,
                    batch_size: batch(p)?,
                    ..PolyCamConfig::new(&layers)
                };
                Ok(Box::new(PolyCam::with_config(m.clone(), cfg)))
            }),
        );
        for (alias, name) in [
            ("ig", "integrated_gradients"),
            ("ixg", "input_x_gradient"),
            ("eg", "expected_gradients"),
            ("grad_cam_pp", "grad_cam_plus_plus"),
            ("gradcam", "grad_cam"),
            ("eigencam", "eigen_cam"),
            ("polycam", "poly_cam"),
        ] {
            r.alias(alias, name);
        }
        register_perturbation(&mut r);
        crate::attn_lrp::register_unsupported(&mut r);
        // NoiseGrad / FusionGrad need a `WeightMapModel` (the model's weight
        // map and builder), and the rule-based methods a `RuleForward`
        // model; neither can be built from a plain `LayerSplit`, so register
        // them with a closure that captures such a model:
        // `r.register("noisegrad", Arc::new(move |p, _, reg| ...))`.
        r
    }

    /// Builds the explainer of `spec` over `model`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use candle_core::Tensor;
    /// use salience_explain::{registry::Registry, SequentialClassifier};
    /// let m = Arc::new(SequentialClassifier::new(1).push("fc", |x: &Tensor| Ok(x.clone())));
    /// let r = Registry::with_builtins();
    /// let e = r.build(&"saliency:abs=true".parse()?, &m)?;
    /// assert_eq!(e.name(), "saliency_abs");
    /// assert!(r.build(&"nope".parse()?, &m).is_err());
    /// assert!(r.build(&"saliency:bogus=1".parse()?, &m).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn build(&self, spec: &ExplainerSpec, model: &Arc<M>) -> Result<Box<dyn Explainer>> {
        let name = self.aliases.get(&spec.name).unwrap_or(&spec.name);
        let builder = self.builders.get(name).ok_or_else(|| {
            bad(
                "explainer",
                &spec.name,
                &format!("unknown method; known: {}", self.names().join(", ")),
            )
        })?;
        let mut params = Params::new(spec);
        let reduce = params
            .take("reduce")
            .map(|r| r.parse::<ChannelReduction>())
            .transpose()?;
        let e = builder(&mut params, model, self)?;
        params.finish()?;
        Ok(match reduce {
            None => e,
            Some(r) => Box::new(PixelMaps::new(e, r)),
        })
    }

    /// Builds the inner explainer of a wrapper from the `inner` key
    /// (default `default`) and the `inner.`-prefixed keys of `params`.
    pub fn build_inner(
        &self,
        params: &mut Params,
        default: &str,
        model: &Arc<M>,
    ) -> Result<Box<dyn Explainer>> {
        let name = params.take("inner").unwrap_or_else(|| default.to_string());
        let mut spec: ExplainerSpec = name.parse()?;
        for (k, v) in params.take_prefixed("inner") {
            spec = spec.with(&k, &v)?;
        }
        self.build(&spec, model)
    }

    /// Builds a panel from a list of specs.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_explain::{registry::{ExplainerSpec, Registry}, SequentialClassifier};
    /// let m = Arc::new(SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone())));
    /// let specs = ExplainerSpec::parse_list("saliency; ig:n_steps=4; smoothgrad:inner=ig,inner.n_steps=2")?;
    /// let panel = Registry::with_builtins().build_panel(&specs, &m)?;
    /// assert_eq!(panel.len(), 3);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn build_panel(
        &self,
        specs: &[ExplainerSpec],
        model: &Arc<M>,
    ) -> Result<Vec<Box<dyn Explainer>>> {
        specs.iter().map(|s| self.build(s, model)).collect()
    }
}

impl<M: LayerSplit + AttentionModel + 'static> Registry<M> {
    /// Adds the attention methods of transformer models
    /// ([`AttentionModel`]): `attention_rollout` (keys `head_fusion` =
    /// `mean` \| `max` \| `min` (mean), `discard_ratio` (0), `batch_size`)
    /// and `gradient_rollout` (`batch_size`); aliases `rollout` and
    /// `chefer2021`.
    pub fn with_attention(mut self) -> Self {
        self.register(
            "attention_rollout",
            Arc::new(|p, m, _| {
                let cfg = AttentionRolloutConfig {
                    head_fusion: p.get_or("head_fusion", HeadFusion::Mean)?,
                    discard_ratio: p.get_or("discard_ratio", 0.0)?,
                    batch_size: batch(p)?,
                };
                Ok(Box::new(AttentionRollout::with_config(m.clone(), cfg)))
            }),
        );
        self.register(
            "gradient_rollout",
            Arc::new(|p, m, _| {
                let cfg = GradientRolloutConfig {
                    batch_size: batch(p)?,
                };
                Ok(Box::new(GradientRollout::with_config(m.clone(), cfg)))
            }),
        );
        self.alias("rollout", "attention_rollout");
        self.alias("chefer2021", "gradient_rollout");
        self
    }
}

impl<M: LayerSplit + 'static> Default for Registry<M> {
    fn default() -> Self {
        Self::with_builtins()
    }
}

/// Builds one explainer from a spec string with the built-in registry.
///
/// ```
/// use std::sync::Arc;
/// use salience_explain::{registry, SequentialClassifier};
/// let m = Arc::new(SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone())));
/// let e = registry::build("integrated_gradients:n_steps=32,baseline=zeros,quadrature=gauss_legendre", &m)?;
/// assert_eq!(e.name(), "integrated_gradients");
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn build<M: LayerSplit + 'static>(spec: &str, model: &Arc<M>) -> Result<Box<dyn Explainer>> {
    Registry::with_builtins().build(&spec.parse()?, model)
}

/// Builds a panel from a list of spec strings (`;` or new-line separated)
/// with the built-in registry.
///
/// ```
/// use std::sync::Arc;
/// use salience_explain::{registry, SequentialClassifier};
/// let m = Arc::new(SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone())));
/// assert_eq!(registry::build_panel("saliency\ninput_x_gradient", &m)?.len(), 2);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn build_panel<M: LayerSplit + 'static>(
    specs: &str,
    model: &Arc<M>,
) -> Result<Vec<Box<dyn Explainer>>> {
    Registry::with_builtins().build_panel(&ExplainerSpec::parse_list(specs)?, model)
}

fn batch(p: &mut Params) -> Result<usize> {
    p.get_or("batch_size", crate::gradient::DEFAULT_BATCH_SIZE)
}

fn quadrature(p: &mut Params) -> Result<Quadrature> {
    Ok(match p.take("quadrature").as_deref() {
        None | Some("gauss_legendre") | Some("gausslegendre") => Quadrature::GaussLegendre,
        Some("riemann_left") => Quadrature::RiemannLeft,
        Some("riemann_right") => Quadrature::RiemannRight,
        Some("riemann_middle") => Quadrature::RiemannMiddle,
        Some("riemann_trapezoid") => Quadrature::RiemannTrapezoid,
        Some(v) => {
            return Err(bad(
                "quadrature",
                v,
                "expected gauss_legendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid",
            ))
        }
    })
}

fn baseline(p: &mut Params, default: Baseline) -> Result<Baseline> {
    let seed = Baseline::blur_mahlau2022();
    let (s0, k0) = match seed {
        Baseline::Blur { sigma, kernel_size } => (sigma, kernel_size),
        _ => (20.0, 25),
    };
    let b = match p.take("baseline").as_deref() {
        None => default,
        Some("zeros") | Some("zero") => Baseline::Zeros,
        Some("constant") => Baseline::Constant(p.get_or("value", 0.0)?),
        Some("blur") => Baseline::Blur {
            sigma: p.get_or("sigma", s0)?,
            kernel_size: p.get_or("kernel_size", k0)?,
        },
        Some("normal") | Some("random_normal") => Baseline::RandomNormal,
        Some(v) => {
            return Err(bad(
                "baseline",
                v,
                "expected zeros, constant, blur or normal",
            ))
        }
    };
    Ok(b)
}

fn grad_cam_config(p: &mut Params) -> Result<GradCamConfig> {
    let layer = p.required("layer")?;
    Ok(GradCamConfig {
        relu: p.get_or("relu", true)?,
        batch_size: batch(p)?,
        ..GradCamConfig::new(&layer)
    })
}

/// Parses `feature_mask=element|patches|slic` (with `patch_size`,
/// `n_segments`, `compactness`).
fn feature_mask(p: &mut Params, default: FeatureMask) -> Result<FeatureMask> {
    Ok(match p.take("feature_mask").as_deref() {
        None => default,
        Some("element") | Some("per_element") => FeatureMask::PerElement,
        Some("patches") => FeatureMask::Patches {
            size: p.get_or("patch_size", 4)?,
        },
        Some("slic") => {
            let d = SlicConfig::default();
            FeatureMask::Slic(SlicConfig {
                n_segments: p.get_or("n_segments", d.n_segments)?,
                compactness: p.get_or("compactness", d.compactness)?,
                ..d
            })
        }
        Some(v) => return Err(bad("feature_mask", v, "expected element, patches or slic")),
    })
}

/// The black-box perturbation methods, run on the model through
/// [`CandleModel`]: `occlusion` (`window`, `stride`: square sizes over all
/// channels), `feature_ablation`, `shapley_sampling` (`n_permutations`),
/// `kernel_shap` (`n_samples`), `lime` (`n_samples`, `surrogate=ols|ridge|lasso`,
/// `lambda`) and `rise` (`n_masks`, `grid`, `p_keep`); all take
/// `baseline=…` and `batch_size`, the group-based ones `feature_mask=…`.
fn register_perturbation<M: LayerSplit + 'static>(r: &mut Registry<M>) {
    r.register(
        "occlusion",
        Arc::new(|p, m, _| {
            let mut cfg = OcclusionConfig::square(p.get_or("window", 4)?, p.get_or("stride", 1)?);
            cfg.baseline = baseline(p, Baseline::Zeros)?;
            cfg.batch_size = p.get_or("batch_size", cfg.batch_size)?;
            Ok(Box::new(Occlusion::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "feature_ablation",
        Arc::new(|p, m, _| {
            let d = FeatureAblationConfig::default();
            let cfg = FeatureAblationConfig {
                feature_mask: feature_mask(p, d.feature_mask.clone())?,
                baseline: baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
            };
            Ok(Box::new(FeatureAblation::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "shapley_sampling",
        Arc::new(|p, m, _| {
            let d = ShapleySamplingConfig::default();
            let cfg = ShapleySamplingConfig {
                n_permutations: p.get_or("n_permutations", d.n_permutations)?,
                feature_mask: feature_mask(p, d.feature_mask.clone())?,
                baseline: baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
            };
            Ok(Box::new(ShapleyValueSampling::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "kernel_shap",
        Arc::new(|p, m, _| {
            let d = KernelShapConfig::default();
            let cfg = KernelShapConfig {
                n_samples: p.get_or("n_samples", d.n_samples)?,
                feature_mask: feature_mask(p, d.feature_mask.clone())?,
                baseline: baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
            };
            Ok(Box::new(KernelShap::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "lime",
        Arc::new(|p, m, _| {
            let d = LimeConfig::default();
            let surrogate = match p.take("surrogate").as_deref() {
                None => d.surrogate,
                Some("ols") | Some("linear") => Surrogate::LinearRegression,
                Some("ridge") => Surrogate::Ridge {
                    lambda: p.get_or("lambda", 1.0)?,
                },
                Some("lasso") => Surrogate::Lasso {
                    lambda: p.get_or("lambda", 0.01)?,
                },
                Some(v) => return Err(bad("surrogate", v, "expected ols, ridge or lasso")),
            };
            let cfg = LimeConfig {
                n_samples: p.get_or("n_samples", d.n_samples)?,
                feature_mask: feature_mask(p, d.feature_mask.clone())?,
                surrogate,
                baseline: baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
                ..d
            };
            Ok(Box::new(Lime::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "rise",
        Arc::new(|p, m, _| {
            let d = RiseConfig::default();
            let cfg = RiseConfig {
                n_masks: p.get_or("n_masks", d.n_masks)?,
                grid: p.get_or("grid", d.grid)?,
                p_keep: p.get_or("p_keep", d.p_keep)?,
                baseline: baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
            };
            Ok(Box::new(Rise::with_config(
                CandleModel::new(m.clone()),
                cfg,
            )))
        }),
    );
    r.register(
        "igos_pp",
        Arc::new(|p, m, _| {
            let d = match p.take("preset").as_deref() {
                None | Some("mahlau2022") | Some("default") => IGosConfig::mahlau2022(),
                Some("reference") => IGosConfig::reference(),
                Some(v) => return Err(bad("preset", v, "expected mahlau2022 or reference")),
            };
            let cfg = IGosConfig {
                mask_size: p.get_or("mask_size", d.mask_size)?,
                iterations: p.get_or("iterations", d.iterations)?,
                ig_steps: p.get_or("ig_steps", d.ig_steps)?,
                l1: p.get_or("l1", d.l1)?,
                l2: p.get_or("l2", d.l2)?,
                alpha_max: p.get_or("alpha_max", d.alpha_max)?,
                alpha_min: p.get_or("alpha_min", d.alpha_min)?,
                armijo: p.get_or("armijo", d.armijo)?,
                decay: p.get_or("decay", d.decay)?,
                tv_beta: p.get_or("tv_beta", d.tv_beta)?,
                tv_sigma: p.get_or("tv_sigma", d.tv_sigma)?,
                noise_std: p.get_or("noise_std", d.noise_std)?,
                softmax: p.get_or("softmax", d.softmax)?,
                baseline: igos_baseline(p, d.baseline.clone())?,
                batch_size: p.get_or("batch_size", d.batch_size)?,
            };
            cfg.check()?;
            Ok(Box::new(IGosPlusPlus::with_config(m.clone(), cfg)))
        }),
    );
    r.alias("igos++", "igos_pp");
    r.alias("igospp", "igos_pp");
}

/// The baseline keys for iGOS++: as [`baseline`], except that `blur`
/// defaults to the preset's blur (the reference's σ = 50, 51 × 51) when the
/// preset has one.
fn igos_baseline(p: &mut Params, default: Baseline) -> Result<Baseline> {
    let (s0, k0) = match (default.clone(), Baseline::blur_mahlau2022()) {
        (Baseline::Blur { sigma, kernel_size }, _) | (_, Baseline::Blur { sigma, kernel_size }) => {
            (sigma, kernel_size)
        }
        _ => (20.0, 25),
    };
    Ok(match p.take("baseline").as_deref() {
        None => default,
        Some("zeros") | Some("zero") => Baseline::Zeros,
        Some("constant") => Baseline::Constant(p.get_or("value", 0.0)?),
        Some("blur") => Baseline::Blur {
            sigma: p.get_or("sigma", s0)?,
            kernel_size: p.get_or("kernel_size", k0)?,
        },
        Some("normal") | Some("random_normal") => Baseline::RandomNormal,
        Some(v) => {
            return Err(bad(
                "baseline",
                v,
                "expected zeros, constant, blur or normal",
            ))
        }
    })
}
