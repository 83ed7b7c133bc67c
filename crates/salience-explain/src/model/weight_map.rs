//! A re-parameterizable model ([`WeightMapModel`]): the same architecture
//! run with a different weight map, for NoiseGrad (weights multiplied by
//! N(1, σ²) noise) and the Model Parameter Randomisation Test (layers
//! re-initialised at random), without the user rewriting the model.
//!
//! The model is described by the function the user already has for
//! loading it, `Fn(VarBuilder) -> candle_core::Result<M>`, and a weight map
//! (name → tensor, from a safetensors file, a [`candle_nn::VarMap`] or a
//! `HashMap`). A new weight map gives a new model by calling the builder
//! with `VarBuilder::from_tensors(new_map)`.
//!
//! # Which tensors are perturbed
//! [`ParamFilter`] selects them. The default, [`ParamFilter::Parameters`],
//! perturbs every trainable parameter (weights, biases, batch-norm scale
//! and shift) and leaves batch-norm running statistics (`running_mean`,
//! `running_var`, `num_batches_tracked`) alone: this is what the NoiseGrad
//! reference implementation does (it multiplies `model.parameters()`,
//! which excludes buffers). The paper's text says "all weights";
//! [`ParamFilter::All`] perturbs every tensor of the map, running statistics
//! included.
//!
//! # Seeding
//! The noise (or random values) of a tensor is drawn from
//! `derive_seed(seed, fnv1a(name))`: it depends only on the seed and the
//! tensor's name, not on the map's iteration order nor on which other
//! tensors the filter selects. In a cascading randomisation, a layer
//! therefore keeps the same random values in every later step.

use crate::model::classifier::Classifier;
use crate::model::convert::candle_error;
use crate::model::split::LayerSplit;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use salience_core::seed::{derive_seed, rng};
use salience_core::{Result, SalienceError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The model constructor: the same function used to load the model,
/// `|vb| MyNet::new(vb)`.
pub type ModelBuilder<M> = Arc<dyn Fn(VarBuilder) -> candle_core::Result<M> + Send + Sync>;

/// The names of batch-norm running statistics (buffers, not parameters).
const BUFFER_SUFFIXES: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Which tensors of a weight map are perturbed by [`WeightMapModel::perturbed_with`].
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ParamFilter {
    /// Every tensor of the map, batch-norm running statistics included.
    All,
    /// Every tensor except batch-norm running statistics (names ending in
    /// `running_mean`, `running_var` or `num_batches_tracked`): PyTorch's
    /// `model.parameters()`, as in the NoiseGrad reference implementation.
    #[default]
    Parameters,
    /// Parameters (as [`ParamFilter::Parameters`]) whose name equals one of
    /// these prefixes or starts with `prefix.`.
    Prefixes(Vec<String>),
    /// Tensors for which the predicate returns `true`.
    #[serde(skip)]
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl std::fmt::Debug for ParamFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamFilter::All => write!(f, "All"),
            ParamFilter::Parameters => write!(f, "Parameters"),
            ParamFilter::Prefixes(p) => f.debug_tuple("Prefixes").field(p).finish(),
            ParamFilter::Custom(_) => write!(f, "Custom(..)"),
        }
    }
}

/// `true` if `name` is `prefix` or lies under it (`prefix.` …). An empty
/// prefix matches everything.
fn under_prefix(name: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'.'))
}

fn is_buffer(name: &str) -> bool {
    BUFFER_SUFFIXES.iter().any(|s| name.ends_with(s))
}

impl ParamFilter {
    /// Whether tensor `name` is selected.
    ///
    /// ```
    /// use salience_explain::ParamFilter;
    /// assert!(ParamFilter::Parameters.selects("bn.weight"));
    /// assert!(!ParamFilter::Parameters.selects("bn.running_var"));
    /// assert!(ParamFilter::All.selects("bn.running_var"));
    /// let p = ParamFilter::Prefixes(vec!["fc".into()]);
    /// assert!(p.selects("fc.weight") && !p.selects("fc2.weight"));
    /// ```
    pub fn selects(&self, name: &str) -> bool {
        match self {
            ParamFilter::All => true,
            ParamFilter::Parameters => !is_buffer(name),
            ParamFilter::Prefixes(ps) => {
                !is_buffer(name) && ps.iter().any(|p| under_prefix(name, p))
            }
            ParamFilter::Custom(f) => f(name),
        }
    }
}

/// How [`WeightMapModel::randomized`] draws the new values of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Randomization {
    /// Gaussian with the tensor's own mean and standard deviation (keeps
    /// each layer's scale; a constant tensor stays constant). The default.
    #[default]
    MatchMoments,
    /// Gaussian N(mean, std²).
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation (≥ 0).
        std: f32,
    },
    /// PyTorch's default re-initialisation (`reset_parameters()` of
    /// `Linear` / `Conv`, what Quantus' MPRT calls): U(−b, b) with
    /// b = 1/√fan_in, where fan_in is the product of all but the first
    /// dimension of the weight. A rank-1 tensor `x.bias` uses the fan-in of
    /// its sibling `x.weight` when that is of rank ≥ 2. Other rank-1
    /// tensors follow the batch-norm reset: names ending in `weight` or
    /// `running_var` become 1, the rest 0.
    PytorchDefault,
}

/// A model of type `M` built from a weight map, which can be rebuilt with
/// perturbed or randomised weights. Implements [`Classifier`] (and
/// [`LayerSplit`] when `M` does) by delegating to the built `M`. Cloning is
/// cheap (the weights and the model are shared).
///
/// The builder receives a `VarBuilder` of dtype f32 on the model's device
/// (explainers work in f32); tensors stored in another dtype are converted
/// when the model is built. Perturbed and randomised maps keep each
/// tensor's dtype and device.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{Module, VarBuilder, VarMap};
/// use salience_explain::{Classifier, WeightMapModel};
///
/// // The user's model, built from a VarBuilder as usual.
/// struct Net { fc: candle_nn::Linear }
/// impl Classifier for Net {
///     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> { self.fc.forward(x) }
///     fn num_classes(&self) -> usize { 2 }
///     fn device(&self) -> &Device { &Device::Cpu }
/// }
/// let build = |vb: VarBuilder| Ok(Net { fc: candle_nn::linear(3, 2, vb.pp("fc"))? });
///
/// let varmap = VarMap::new();
/// let _trained = build(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
/// let model = WeightMapModel::from_varmap(&varmap, &Device::Cpu, build)?;
/// let noisy = model.perturbed(0.2, 7)?;
/// let x = Tensor::ones((1, 3), DType::F32, &Device::Cpu)?;
/// assert_eq!(noisy.logits(&x)?.dims(), &[1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WeightMapModel<M> {
    weights: Arc<HashMap<String, Tensor>>,
    builder: ModelBuilder<M>,
    model: Arc<M>,
    device: Device,
}

impl<M> Clone for WeightMapModel<M> {
    fn clone(&self) -> Self {
        WeightMapModel {
            weights: Arc::clone(&self.weights),
            builder: Arc::clone(&self.builder),
            model: Arc::clone(&self.model),
            device: self.device.clone(),
        }
    }
}

impl<M> std::fmt::Debug for WeightMapModel<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightMapModel")
            .field("weights", &{
                let mut n: Vec<&String> = self.weights.keys().collect();
                n.sort();
                n
            })
            .field("device", &self.device)
            .finish()
    }
}

/// FNV-1a hash of a name: a stable per-tensor stream index.
fn name_stream(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn check_sigma(sigma: f32) -> Result<()> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(SalienceError::invalid(
            "sigma",
            sigma,
            "must be finite and >= 0",
        ));
    }
    Ok(())
}

/// The values of a tensor as f32, with its dtype.
fn values(t: &Tensor) -> Result<(Vec<f32>, DType)> {
    let v = t
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(candle_error)?;
    Ok((v, t.dtype()))
}

/// A tensor of the given shape, dtype and device from f32 values.
fn rebuild(v: Vec<f32>, like: &Tensor, dtype: DType) -> Result<Tensor> {
    Tensor::from_vec(v, like.shape(), like.device())
        .and_then(|t| t.to_dtype(dtype))
        .map_err(candle_error)
}

impl<M: Classifier> WeightMapModel<M> {
    /// Builds the model from a weight map. The map is kept (its tensors are
    /// shared, not copied): do not mutate them in place afterwards.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use candle_core::{Device, Tensor};
    /// use salience_explain::{ModuleClassifier, WeightMapModel};
    /// let w = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu)?;
    /// let map = HashMap::from([("fc.weight".to_string(), w)]);
    /// let m = WeightMapModel::new(map, &Device::Cpu, |vb| {
    ///     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 1, vb.pp("fc"))?, 1))
    /// })?;
    /// assert_eq!(m.names(), vec!["fc.weight".to_string()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<B>(weights: HashMap<String, Tensor>, device: &Device, builder: B) -> Result<Self>
    where
        B: Fn(VarBuilder) -> candle_core::Result<M> + Send + Sync + 'static,
    {
        Self::with_builder(weights, device, Arc::new(builder))
    }

    /// As [`WeightMapModel::new`], with a shared builder.
    pub fn with_builder(
        weights: HashMap<String, Tensor>,
        device: &Device,
        builder: ModelBuilder<M>,
    ) -> Result<Self> {
        if weights.is_empty() {
            return Err(SalienceError::Empty("weight map".into()));
        }
        // VarBuilder::from_tensors converts any dtype to f32 silently: an
        // integer tensor would become garbage weights, so only float
        // tensors are accepted.
        let mut bad: Vec<String> = weights
            .iter()
            .filter(|(_, t)| !t.dtype().is_float())
            .map(|(name, t)| format!("{name} ({:?})", t.dtype()))
            .collect();
        if !bad.is_empty() {
            bad.sort();
            return Err(SalienceError::Model(format!(
                "weight map: tensors of a non-float dtype: {}",
                bad.join(", ")
            )));
        }
        let weights = Arc::new(weights);
        let model = Self::build(&weights, device, &builder)?;
        Ok(WeightMapModel {
            weights,
            builder,
            model: Arc::new(model),
            device: device.clone(),
        })
    }

    fn build(
        weights: &HashMap<String, Tensor>,
        device: &Device,
        builder: &ModelBuilder<M>,
    ) -> Result<M> {
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, device);
        builder(vb).map_err(|e| SalienceError::Model(format!("building the model: {e}")))
    }

    /// Loads the weights from a safetensors file onto `device`.
    ///
    /// ```no_run
    /// use salience_explain::{ModuleClassifier, WeightMapModel};
    /// let m = WeightMapModel::from_safetensors("model.safetensors", &candle_core::Device::Cpu, |vb| {
    ///     Ok(ModuleClassifier::new(candle_nn::linear(4, 2, vb.pp("fc"))?, 2))
    /// })?;
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn from_safetensors<P, B>(path: P, device: &Device, builder: B) -> Result<Self>
    where
        P: AsRef<Path>,
        B: Fn(VarBuilder) -> candle_core::Result<M> + Send + Sync + 'static,
    {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| SalienceError::io("reading", path, e))?;
        let weights = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| SalienceError::backend(format!("parsing {}", path.display()), e))?;
        Self::new(weights, device, builder)
    }

    /// Snapshots the current values of a [`VarMap`] (copies them, so later
    /// training steps on the `VarMap` do not change this model).
    pub fn from_varmap<B>(varmap: &VarMap, device: &Device, builder: B) -> Result<Self>
    where
        B: Fn(VarBuilder) -> candle_core::Result<M> + Send + Sync + 'static,
    {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| SalienceError::backend_msg("VarMap lock poisoned"))?;
        let mut weights = HashMap::with_capacity(data.len());
        for (name, var) in data.iter() {
            let t = var.as_tensor().copy().map_err(candle_error)?;
            weights.insert(name.clone(), t);
        }
        drop(data);
        Self::new(weights, device, builder)
    }

    /// A model of the same architecture with another weight map.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use candle_core::{Device, Tensor};
    /// # use salience_explain::{Classifier, ModuleClassifier, WeightMapModel};
    /// let map = |v: f32| HashMap::from([("w".to_string(), Tensor::new(&[[v]], &Device::Cpu).unwrap())]);
    /// let m = WeightMapModel::new(map(1.0), &Device::Cpu, |vb| {
    ///     Ok(ModuleClassifier::new(candle_nn::Linear::new(vb.get((1, 1), "w")?, None), 1))
    /// })?;
    /// let m2 = m.with_weights(map(3.0))?;
    /// let x = Tensor::new(&[[2.0f32]], &Device::Cpu)?;
    /// assert_eq!(m2.logits(&x)?.to_vec2::<f32>()?, vec![vec![6.0]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_weights(&self, weights: HashMap<String, Tensor>) -> Result<Self> {
        Self::with_builder(weights, &self.device, Arc::clone(&self.builder))
    }

    /// The names of the tensors of the weight map, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.weights.keys().cloned().collect();
        n.sort();
        n
    }

    /// The weight map.
    pub fn weights(&self) -> &HashMap<String, Tensor> {
        &self.weights
    }

    /// The built model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The builder.
    pub fn builder(&self) -> &ModelBuilder<M> {
        &self.builder
    }

    /// A model whose parameters (see [`ParamFilter::Parameters`]) are all
    /// multiplied element-wise by independent N(1, σ²) noise (NoiseGrad's
    /// θ̃ = θ ⊙ η). σ = 0 gives the same weights.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use candle_core::{Device, Tensor};
    /// # use salience_explain::{ModuleClassifier, WeightMapModel};
    /// let w = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu)?;
    /// let m = WeightMapModel::new(HashMap::from([("w".to_string(), w)]), &Device::Cpu, |vb| {
    ///     Ok(ModuleClassifier::new(candle_nn::Linear::new(vb.get((1, 2), "w")?, None), 1))
    /// })?;
    /// let a = m.perturbed(0.1, 3)?;
    /// let b = m.perturbed(0.1, 3)?;
    /// assert_eq!(a.weights()["w"].to_vec2::<f32>()?, b.weights()["w"].to_vec2::<f32>()?);
    /// assert!(m.perturbed(-1.0, 3).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn perturbed(&self, sigma: f32, seed: u64) -> Result<Self> {
        self.perturbed_with(sigma, seed, &ParamFilter::Parameters)
    }

    /// As [`WeightMapModel::perturbed`], perturbing the tensors selected by
    /// `filter` only.
    pub fn perturbed_with(&self, sigma: f32, seed: u64, filter: &ParamFilter) -> Result<Self> {
        check_sigma(sigma)?;
        let mut out = HashMap::with_capacity(self.weights.len());
        for (name, t) in self.weights.iter() {
            if sigma == 0.0 || !filter.selects(name) {
                out.insert(name.clone(), t.clone());
                continue;
            }
            // The noise is drawn on the host (seeded) and multiplied on the
            // weights' device: one upload per tensor, no download.
            let mut g = rng(derive_seed(seed, name_stream(name)));
            let s = sigma as f64;
            let eta: Vec<f32> = (0..t.elem_count())
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut g);
                    (1.0 + s * z) as f32
                })
                .collect();
            let noisy = Tensor::from_vec(eta, t.shape(), t.device())
                .and_then(|e| e.to_dtype(t.dtype()))
                .and_then(|e| t.mul(&e))
                .map_err(candle_error)?;
            out.insert(name.clone(), noisy);
        }
        self.with_weights(out)
    }

    /// `n` perturbed models, draw `j` from `derive_seed(seed, j)`: the same
    /// models as [`crate::NoiseGrad`] with `model_seed = seed` and the σ
    /// search of [`crate::noise::noise_sigma`] with the same seed. All `n` models
    /// are held in memory (NoiseGrad itself builds one draw at a time).
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use candle_core::{Device, Tensor};
    /// # use salience_explain::{ModuleClassifier, ParamFilter, WeightMapModel};
    /// # let w = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu)?;
    /// # let m = WeightMapModel::new(HashMap::from([("w".to_string(), w)]), &Device::Cpu, |vb| {
    /// #     Ok(ModuleClassifier::new(candle_nn::Linear::new(vb.get((1, 2), "w")?, None), 1))
    /// # })?;
    /// assert_eq!(m.noise_draws(3, 0.2, 0, &ParamFilter::default())?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn noise_draws(
        &self,
        n: usize,
        sigma: f32,
        seed: u64,
        filter: &ParamFilter,
    ) -> Result<Vec<Self>> {
        (0..n as u64)
            .map(|j| self.perturbed_with(sigma, derive_seed(seed, j), filter))
            .collect()
    }

    /// The tensor names of each layer prefix, in the given (forward)
    /// order: `prefix` selects `prefix` itself and every `prefix.…` name.
    /// Errors if a prefix selects nothing.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use candle_core::{Device, Tensor};
    /// # use salience_explain::{ModuleClassifier, WeightMapModel};
    /// let t = |v: f32| Tensor::new(&[[v]], &Device::Cpu).unwrap();
    /// let map = HashMap::from([
    ///     ("l1.weight".to_string(), t(1.0)),
    ///     ("l2.weight".to_string(), t(2.0)),
    /// ]);
    /// let m = WeightMapModel::new(map, &Device::Cpu, |vb| {
    ///     let a = candle_nn::linear_no_bias(1, 1, vb.pp("l1"))?;
    ///     let b = candle_nn::linear_no_bias(1, 1, vb.pp("l2"))?;
    ///     let f = move |x: &Tensor| candle_nn::Module::forward(&b, &candle_nn::Module::forward(&a, x)?);
    ///     Ok(ModuleClassifier::new(f, 1))
    /// })?;
    /// let g = m.parameter_groups(&["l1", "l2"])?;
    /// assert_eq!(g[1], ("l2".to_string(), vec!["l2.weight".to_string()]));
    /// assert!(m.parameter_groups(&["l3"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameter_groups(&self, prefixes: &[&str]) -> Result<Vec<(String, Vec<String>)>> {
        let names = self.names();
        prefixes
            .iter()
            .map(|p| {
                let g: Vec<String> = names
                    .iter()
                    .filter(|n| under_prefix(n, p))
                    .cloned()
                    .collect();
                if g.is_empty() {
                    Err(SalienceError::invalid(
                        "layer",
                        p,
                        &format!("no tensor under this prefix; the weight map has {names:?}"),
                    ))
                } else {
                    Ok((p.to_string(), g))
                }
            })
            .collect()
    }

    /// A model whose tensors under the given layer prefixes (see
    /// [`WeightMapModel::parameter_groups`]) are replaced by random values
    /// drawn per `randomization`, every other tensor unchanged.
    pub fn randomized(
        &self,
        prefixes: &[&str],
        randomization: Randomization,
        seed: u64,
    ) -> Result<Self> {
        if let Randomization::Normal { mean, std } = randomization {
            if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
                return Err(SalienceError::invalid(
                    "randomization",
                    format!("Normal {{ mean: {mean}, std: {std} }}"),
                    "mean must be finite, std finite and >= 0",
                ));
            }
        }
        let groups = self.parameter_groups(prefixes)?;
        let mut out: HashMap<String, Tensor> = (*self.weights).clone();
        for name in groups.iter().flat_map(|(_, g)| g) {
            let t = match self.weights.get(name) {
                Some(t) => t,
                None => continue,
            };
            let (v, dtype) = values(t)?;
            let mut g = rng(derive_seed(seed, name_stream(name)));
            let nv = self.random_values(name, t, &v, randomization, &mut g);
            out.insert(name.clone(), rebuild(nv, t, dtype)?);
        }
        self.with_weights(out)
    }

    fn random_values(
        &self,
        name: &str,
        t: &Tensor,
        v: &[f32],
        randomization: Randomization,
        g: &mut salience_core::seed::SalienceRng,
    ) -> Vec<f32> {
        let normal = |mean: f64, std: f64, g: &mut salience_core::seed::SalienceRng| {
            (0..v.len())
                .map(|_| {
                    let z: f64 = StandardNormal.sample(g);
                    (mean + std * z) as f32
                })
                .collect::<Vec<f32>>()
        };
        match randomization {
            Randomization::Normal { mean, std } => normal(mean as f64, std as f64, g),
            Randomization::MatchMoments => {
                let n = v.len().max(1) as f64;
                let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
                let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
                normal(mean, var.sqrt(), g)
            }
            Randomization::PytorchDefault => {
                let dims = t.dims();
                let fan_in = if dims.len() >= 2 {
                    Some(dims[1..].iter().product::<usize>())
                } else if let Some(base) = name.strip_suffix("bias") {
                    self.weights
                        .get(&format!("{base}weight"))
                        .filter(|w| w.rank() >= 2)
                        .map(|w| w.dims()[1..].iter().product::<usize>())
                } else {
                    None
                };
                match fan_in {
                    Some(f) => {
                        let b = 1.0 / (f.max(1) as f32).sqrt();
                        (0..v.len()).map(|_| g.random_range(-b..=b)).collect()
                    }
                    None => {
                        let one = name.ends_with("weight") || name.ends_with("running_var");
                        vec![if one { 1.0 } else { 0.0 }; v.len()]
                    }
                }
            }
        }
    }

    /// Cascading (top-down) randomisation for the Model Parameter
    /// Randomisation Test (Adebayo et al. 2018): given the layer prefixes
    /// in forward order, step k (k = 1..L) randomises the last k layers.
    /// Each layer keeps the same random values in every step (they depend
    /// only on `seed` and the tensor name). The models are built lazily, one
    /// per iteration. Yields `(name of the layer randomised last, model)`.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use candle_core::{Device, Tensor};
    /// # use salience_explain::{ModuleClassifier, Randomization, WeightMapModel};
    /// # let w = Tensor::new(&[[1.0f32, 2.0]], &Device::Cpu)?;
    /// # let m = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
    /// #     Ok(ModuleClassifier::new(candle_nn::linear_no_bias(2, 1, vb.pp("fc"))?, 1))
    /// # })?;
    /// let steps: Vec<_> = m
    ///     .cascading_randomization(&["fc"], Randomization::default(), 0)?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(steps[0].0, "fc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cascading_randomization<'a>(
        &'a self,
        layers_forward_order: &[&str],
        randomization: Randomization,
        seed: u64,
    ) -> Result<CascadingRandomization<'a, M>> {
        if layers_forward_order.is_empty() {
            return Err(SalienceError::Empty("layers to randomise".into()));
        }
        // Validate every prefix up front.
        self.parameter_groups(layers_forward_order)?;
        Ok(CascadingRandomization {
            model: self,
            layers: layers_forward_order.iter().map(|s| s.to_string()).collect(),
            randomization,
            seed,
            step: 0,
        })
    }
}

/// The iterator of [`WeightMapModel::cascading_randomization`].
pub struct CascadingRandomization<'a, M> {
    model: &'a WeightMapModel<M>,
    layers: Vec<String>,
    randomization: Randomization,
    seed: u64,
    step: usize,
}

impl<M: Classifier> Iterator for CascadingRandomization<'_, M> {
    type Item = Result<(String, WeightMapModel<M>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let l = self.layers.len();
        if self.step >= l {
            return None;
        }
        self.step += 1;
        let top: Vec<&str> = self.layers[l - self.step..]
            .iter()
            .map(String::as_str)
            .collect();
        let name = top.first().map(|s| s.to_string()).unwrap_or_default();
        Some(
            self.model
                .randomized(&top, self.randomization, self.seed)
                .map(|m| (name, m)),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let r = self.layers.len() - self.step;
        (r, Some(r))
    }
}

impl<M: Classifier> Classifier for WeightMapModel<M> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.model.logits(x)
    }
    fn num_classes(&self) -> usize {
        self.model.num_classes()
    }
    fn device(&self) -> &Device {
        self.model.device()
    }
    fn preferred_batch_size(&self) -> usize {
        self.model.preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.model.activation_bytes(sample_shape)
    }
}

impl<M: LayerSplit> LayerSplit for WeightMapModel<M> {
    fn layer_names(&self) -> Vec<String> {
        self.model.layer_names()
    }
    fn activations(&self, x: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        self.model.activations(x, layer)
    }
    fn head(&self, a: &Tensor, layer: &str) -> candle_core::Result<Tensor> {
        self.model.head(a, layer)
    }
}
