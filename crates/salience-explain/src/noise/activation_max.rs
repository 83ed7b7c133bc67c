//! Activation maximization (Erhan et al. 2009), the global explanation of
//! Bykov et al. 2022 (eq. 3, Figure 6): gradient ascent on the input of a
//! class logit or of a neuron (a channel of a [`LayerSplit`] layer),
//!
//! x* = argmax_x 1/N Σᵢ g(x, Wᵢ),
//!
//! averaged over the given models: one model for plain activation
//! maximization, NoiseGrad draws ([`WeightMapModel::noise_draws`]) for the
//! NoiseGrad-enhanced version.
//!
//! Each step, per image: jitter (a random roll of the image by up to
//! `jitter` pixels in H and W, undone on the gradient), the gradient of the
//! objective averaged over the models (one backward pass per model, so
//! memory does not grow with the number of models), an ascent step
//! `x ← x + lr · g / rms(g)` (or `lr · g` without normalisation), L2 decay
//! `x ← (1 − l2_decay) · x`, a Gaussian blur every `blur_every` steps, and
//! clipping to a range. These are the regularisers of Yosinski et al.
//! (2015, "Understanding neural networks through deep visualization");
//! the defaults are typical values of that family, not tuned.
//!
//! Images are optimised `batch_size` at a time; image i starts from
//! N(0, init_scale²) noise drawn from `derive_seed(seeds.for_sample(i), 0)`
//! and step s jitters with `derive_seed(seeds.for_sample(i), s + 1)`, so the
//! result does not depend on the batch size.
//!
//! [`WeightMapModel::noise_draws`]: crate::WeightMapModel::noise_draws

use crate::model::convert::{candle_error, tensor_to_vec};
use crate::model::split::LayerSplit;
use crate::Classifier;
use candle_core::{Tensor, Var};
use ndarray::{ArrayD, IxDyn};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use salience_core::batch::{per_sample_bytes, sample_bytes, Pass};
use salience_core::seed::{derive_seed, rng};
use salience_core::{BatchSize, Result, SalienceError, Seeds};
use salience_perturb::baseline::gaussian_blur;

/// Configuration of activation maximization.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivationMaxConfig {
    /// Ascent steps (≥ 1). Default 128.
    pub steps: usize,
    /// Step size (finite, > 0). Default 0.05.
    pub learning_rate: f32,
    /// Divide each image's gradient by its root mean square before the
    /// step (robust to the objective's scale). Default `true`.
    pub normalize_gradient: bool,
    /// L2 decay per step, in [0, 1): x ← (1 − l2_decay)·x. Default 1e-3.
    pub l2_decay: f32,
    /// Largest random roll, in pixels, along H and W per step (image
    /// inputs only; 0 disables). Default 2.
    pub jitter: usize,
    /// Blur every this many steps (0 disables; image inputs only).
    /// Default 4.
    pub blur_every: usize,
    /// Standard deviation of the blur, in pixels (finite, > 0). The kernel
    /// spans ±⌈3σ⌉. Default 0.5.
    pub blur_sigma: f32,
    /// Clip the input to `[lo, hi]` after every step. Default `None`.
    pub clip: Option<(f32, f32)>,
    /// Standard deviation of the initial noise (finite, ≥ 0). Default 0.01.
    pub init_scale: f32,
    /// Images optimised together. Default [`BatchSize::Auto`]: at most 64,
    /// within the memory budget at the estimate for a model with no
    /// activation estimate ([`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for ActivationMaxConfig {
    fn default() -> Self {
        ActivationMaxConfig {
            steps: 128,
            learning_rate: 0.05,
            normalize_gradient: true,
            l2_decay: 1e-3,
            jitter: 2,
            blur_every: 4,
            blur_sigma: 0.5,
            clip: None,
            init_scale: 0.01,
            batch_size: BatchSize::Auto,
        }
    }
}

impl ActivationMaxConfig {
    /// Plain gradient ascent: no decay, jitter, blur nor clipping (also
    /// valid for tabular inputs).
    ///
    /// ```
    /// let c = salience_explain::ActivationMaxConfig::plain();
    /// assert_eq!((c.jitter, c.blur_every, c.l2_decay), (0, 0, 0.0));
    /// ```
    pub fn plain() -> Self {
        ActivationMaxConfig {
            l2_decay: 0.0,
            jitter: 0,
            blur_every: 0,
            clip: None,
            ..Self::default()
        }
    }

    fn check(&self, sample_shape: &[usize]) -> Result<()> {
        let c = self;
        salience_core::validate::check_count("steps", c.steps)?;
        if !(c.learning_rate.is_finite() && c.learning_rate > 0.0) {
            return Err(SalienceError::invalid(
                "learning_rate",
                c.learning_rate,
                "must be finite and > 0",
            ));
        }
        if !(c.l2_decay.is_finite() && (0.0..1.0).contains(&c.l2_decay)) {
            return Err(SalienceError::invalid(
                "l2_decay",
                c.l2_decay,
                "must be in [0, 1)",
            ));
        }
        if !(c.init_scale.is_finite() && c.init_scale >= 0.0) {
            return Err(SalienceError::invalid(
                "init_scale",
                c.init_scale,
                "must be finite and >= 0",
            ));
        }
        if c.blur_every > 0 && !(c.blur_sigma.is_finite() && c.blur_sigma > 0.0) {
            return Err(SalienceError::invalid(
                "blur_sigma",
                c.blur_sigma,
                "must be finite and > 0",
            ));
        }
        if let Some((lo, hi)) = c.clip {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(SalienceError::invalid(
                    "clip",
                    format!("({lo}, {hi})"),
                    "must be finite with lo < hi",
                ));
            }
        }
        if sample_shape.len() < 2 && (c.jitter > 0 || c.blur_every > 0) {
            return Err(SalienceError::invalid(
                "jitter / blur_every",
                format!("{} / {}", c.jitter, c.blur_every),
                "need image inputs ([H, W] or [C, H, W]); use ActivationMaxConfig::plain()",
            ));
        }
        Ok(())
    }
}

/// The result of activation maximization.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationMaxResult {
    /// The optimised inputs `[n, ...sample_shape]`.
    pub inputs: ArrayD<f32>,
    /// `objective[s][i]`: the objective of image i (averaged over the
    /// models) at step s, evaluated on the (jittered) input before the
    /// step's update.
    pub objective: Vec<Vec<f32>>,
}

/// Which scalar per image is maximised.
enum Objective<'a> {
    Class(&'a [usize]),
    Neuron {
        layer: &'a str,
        channels: &'a [usize],
    },
}

/// Rolls a `[.., H, W]` sample by (dy, dx) with wrap-around.
fn roll(src: &[f32], h: usize, w: usize, dy: isize, dx: isize, out: &mut [f32]) {
    let plane = h * w;
    for (p_in, p_out) in src.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        for i in 0..h {
            let ti = (i as isize + dy).rem_euclid(h as isize) as usize;
            for j in 0..w {
                let tj = (j as isize + dx).rem_euclid(w as isize) as usize;
                p_out[ti * w + tj] = p_in[i * w + j];
            }
        }
    }
}

fn check_models<C: Classifier>(models: &[C]) -> Result<usize> {
    let first = models
        .first()
        .ok_or_else(|| SalienceError::Empty("models".into()))?;
    let k = first.num_classes();
    if let Some(m) = models.iter().find(|m| m.num_classes() != k) {
        return Err(SalienceError::invalid(
            "models",
            m.num_classes(),
            &format!("every model must have the same number of classes ({k})"),
        ));
    }
    Ok(k)
}

fn check_sample_shape(sample_shape: &[usize]) -> Result<()> {
    if !(1..=3).contains(&sample_shape.len()) || sample_shape.contains(&0) {
        return Err(SalienceError::shape(
            "sample shape",
            "[D], [H, W] or [C, H, W] with no zero dimension",
            sample_shape,
        ));
    }
    Ok(())
}

/// The objective values `[len]` of model `m` for input `x`.
fn objective_values<C: LayerSplitOrClassifier>(
    m: &C,
    x: &Tensor,
    obj: &Objective<'_>,
    idx: &Tensor,
) -> Result<Tensor> {
    let scores = match obj {
        Objective::Class(_) => m.logits_of(x)?,
        Objective::Neuron { layer, .. } => {
            let a = m.activations_of(x, layer)?;
            let a = if a.rank() > 2 {
                a.flatten_from(2)
                    .and_then(|a| a.mean(2))
                    .map_err(candle_error)?
            } else {
                a
            };
            if a.rank() != 2 {
                return Err(SalienceError::Model(format!(
                    "activations of layer `{layer}` have shape {:?}; expected [N, C, ...]",
                    a.dims()
                )));
            }
            a
        }
    };
    let width = scores.dims().get(1).copied().unwrap_or(0);
    let max_idx = match obj {
        Objective::Class(c) => c.iter().max(),
        Objective::Neuron { channels, .. } => channels.iter().max(),
    };
    if let Some(&mx) = max_idx {
        if mx >= width {
            return Err(match obj {
                Objective::Class(_) => SalienceError::TargetOutOfRange {
                    sample: 0,
                    target: mx,
                    num_classes: width,
                },
                Objective::Neuron { layer, .. } => SalienceError::invalid(
                    "channel",
                    mx,
                    &format!("layer `{layer}` has {width} channels"),
                ),
            });
        }
    }
    scores
        .gather(idx, 1)
        .and_then(|s| s.squeeze(1))
        .map_err(candle_error)
}

/// Internal: what the optimiser needs from a model (logits, and
/// activations when maximising a neuron).
trait LayerSplitOrClassifier: Classifier {
    fn logits_of(&self, x: &Tensor) -> Result<Tensor> {
        self.logits(x).map_err(candle_error)
    }
    fn activations_of(&self, _x: &Tensor, layer: &str) -> Result<Tensor> {
        Err(SalienceError::invalid(
            "layer",
            layer,
            "the model does not implement LayerSplit",
        ))
    }
}

/// A classifier (class objectives only).
struct Plain<'a, C>(&'a C);
/// A layer-split model (neuron objectives).
struct Split<'a, C>(&'a C);

impl<C: Classifier> Classifier for Plain<'_, C> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.logits(x)
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn device(&self) -> &candle_core::Device {
        self.0.device()
    }
}
impl<C: Classifier> LayerSplitOrClassifier for Plain<'_, C> {}

impl<C: LayerSplit> Classifier for Split<'_, C> {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.logits(x)
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn device(&self) -> &candle_core::Device {
        self.0.device()
    }
}
impl<C: LayerSplit> LayerSplitOrClassifier for Split<'_, C> {
    fn activations_of(&self, x: &Tensor, layer: &str) -> Result<Tensor> {
        self.0.activations(x, layer).map_err(candle_error)
    }
}

fn run<C: LayerSplitOrClassifier>(
    models: &[C],
    sample_shape: &[usize],
    obj: Objective<'_>,
    cfg: &ActivationMaxConfig,
    seeds: Seeds<'_>,
) -> Result<ActivationMaxResult> {
    check_sample_shape(sample_shape)?;
    cfg.check(sample_shape)?;
    let n = match &obj {
        Objective::Class(c) => c.len(),
        Objective::Neuron { channels, .. } => channels.len(),
    };
    if n == 0 {
        return Err(SalienceError::Empty("objectives".into()));
    }
    seeds.check_len(n)?;
    let per_point = per_sample_bytes(None, sample_bytes(sample_shape), Pass::ForwardBackward);
    let chunk = cfg
        .batch_size
        .resolve(per_point, n, crate::gradient::DEFAULT_BATCH_SIZE)?;
    let f: usize = sample_shape.iter().product();
    let (h, w) = match sample_shape.len() {
        1 => (1, sample_shape[0]),
        r => (sample_shape[r - 2], sample_shape[r - 1]),
    };
    let device = models
        .first()
        .map(|m| m.device().clone())
        .ok_or_else(|| SalienceError::Empty("models".into()))?;
    let nm = models.len() as f32;
    let mut out = vec![0f32; n * f];
    let mut trace = vec![vec![0f32; n]; cfg.steps];
    let kernel = 2 * (3.0 * cfg.blur_sigma).ceil().max(1.0) as usize + 1;
    let mut start = 0;
    while start < n {
        let len = (n - start).min(chunk);
        let sample_seed: Vec<u64> = (start..start + len).map(|i| seeds.for_sample(i)).collect();
        // Initial noise.
        let mut x = vec![0f32; len * f];
        for (row, &s) in x.chunks_exact_mut(f).zip(&sample_seed) {
            let mut g = rng(derive_seed(s, 0));
            for v in row.iter_mut() {
                let z: f32 = StandardNormal.sample(&mut g);
                *v = z * cfg.init_scale;
            }
        }
        let ids: Vec<u32> = match &obj {
            Objective::Class(c) => &c[start..start + len],
            Objective::Neuron { channels, .. } => &channels[start..start + len],
        }
        .iter()
        .map(|&c| u32::try_from(c).map_err(|_| SalienceError::invalid("target", c, "exceeds u32")))
        .collect::<Result<_>>()?;
        let idx = Tensor::from_vec(ids, (len, 1), &device).map_err(candle_error)?;
        let mut shape = vec![len];
        shape.extend_from_slice(sample_shape);
        let mut jittered = vec![0f32; len * f];
        let mut shifts = vec![(0isize, 0isize); len];
        for (step, trace_row) in trace.iter_mut().enumerate() {
            // Jitter.
            for (q, (&s, sh)) in sample_seed.iter().zip(shifts.iter_mut()).enumerate() {
                *sh = if cfg.jitter > 0 {
                    let mut g = rng(derive_seed(s, step as u64 + 1));
                    let j = cfg.jitter as i64;
                    let dy: i64 = g.random_range(-j..=j);
                    let dx: i64 = g.random_range(-j..=j);
                    (dy as isize, dx as isize)
                } else {
                    (0, 0)
                };
                let (src, dst) = (&x[q * f..(q + 1) * f], &mut jittered[q * f..(q + 1) * f]);
                roll(src, h, w, sh.0, sh.1, dst);
            }
            // Gradient of the objective averaged over the models.
            let xv = Var::from_slice(&jittered, shape.as_slice(), &device).map_err(candle_error)?;
            let mut grad = vec![0f32; len * f];
            let mut values = vec![0f32; len];
            for m in models {
                let v = objective_values(m, xv.as_tensor(), &obj, &idx)?;
                let grads = v
                    .sum_all()
                    .and_then(|s| s.backward())
                    .map_err(candle_error)?;
                if let Some(g) = grads.get(xv.as_tensor()) {
                    for (a, b) in grad.iter_mut().zip(tensor_to_vec(g)?) {
                        *a += b / nm;
                    }
                }
                for (a, b) in values.iter_mut().zip(tensor_to_vec(&v)?) {
                    *a += b / nm;
                }
            }
            if let Some((index, &value)) = grad
                .iter()
                .chain(values.iter())
                .enumerate()
                .find(|(_, v)| !v.is_finite())
            {
                return Err(SalienceError::NonFinite {
                    context: "activation-maximization objective or gradient".into(),
                    index,
                    value,
                });
            }
            trace_row[start..start + len].copy_from_slice(&values);
            // Undo the jitter on the gradient, step, decay, clip.
            for (q, &(dy, dx)) in shifts.iter().enumerate() {
                let gq = &grad[q * f..(q + 1) * f];
                let xq = &mut x[q * f..(q + 1) * f];
                let mut g = vec![0f32; f];
                roll(gq, h, w, -dy, -dx, &mut g);
                let scale = if cfg.normalize_gradient {
                    let rms =
                        (g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / f as f64).sqrt();
                    if rms > 0.0 {
                        cfg.learning_rate as f64 / rms
                    } else {
                        0.0
                    }
                } else {
                    cfg.learning_rate as f64
                };
                for (xv, gv) in xq.iter_mut().zip(&g) {
                    let nx = (*xv as f64 + scale * *gv as f64) * (1.0 - cfg.l2_decay as f64);
                    *xv = nx as f32;
                    if !xv.is_finite() {
                        return Err(SalienceError::invalid(
                            "learning_rate",
                            cfg.learning_rate,
                            &format!(
                                "the image diverged to a non-finite value at step {step}; \
                                 use a smaller learning rate or clip the image"
                            ),
                        ));
                    }
                }
            }
            if cfg.blur_every > 0 && (step + 1) % cfg.blur_every == 0 {
                let mut bshape = vec![len];
                bshape.extend_from_slice(sample_shape);
                if sample_shape.len() == 2 {
                    bshape.insert(1, 1);
                }
                let arr = ArrayD::from_shape_vec(IxDyn(&bshape), std::mem::take(&mut x))
                    .map_err(|e| SalienceError::backend("ndarray", e))?;
                x = gaussian_blur(arr.view(), cfg.blur_sigma, kernel)?
                    .into_raw_vec_and_offset()
                    .0;
            }
            if let Some((lo, hi)) = cfg.clip {
                x.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
            }
        }
        out[start * f..(start + len) * f].copy_from_slice(&x);
        start += len;
    }
    let mut full = vec![n];
    full.extend_from_slice(sample_shape);
    let inputs = ArrayD::from_shape_vec(IxDyn(&full), out)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    Ok(ActivationMaxResult {
        inputs,
        objective: trace,
    })
}

/// Inputs `[classes.len(), ...sample_shape]` maximising the logit of each
/// class in `classes`, averaged over `models` (NoiseGrad draws for the
/// NoiseGrad-enhanced global explanation).
///
/// ```
/// use std::collections::HashMap;
/// use candle_core::{Device, Tensor};
/// use salience_core::Seeds;
/// use salience_explain::{maximize_class, ActivationMaxConfig, ModuleClassifier, ParamFilter, WeightMapModel};
/// let w = Tensor::new(&[[1.0f32, -1.0, 0.5, 0.0], [0.0, 1.0, 0.0, -2.0]], &Device::Cpu)?;
/// let model = WeightMapModel::new(HashMap::from([("fc.weight".to_string(), w)]), &Device::Cpu, |vb| {
///     let fc = candle_nn::linear_no_bias(4, 2, vb.pp("fc"))?;
///     Ok(ModuleClassifier::new(move |x: &Tensor| candle_nn::Module::forward(&fc, &x.flatten_from(1)?), 2))
/// })?;
/// let cfg = ActivationMaxConfig { steps: 20, ..ActivationMaxConfig::default() };
/// // Plain activation maximization, then averaged over 4 NoiseGrad draws.
/// let plain = maximize_class(&[model.clone()], &[1, 2, 2], &[0, 1], &cfg, Seeds::base(0))?;
/// let draws = model.noise_draws(4, 0.2, 0, &ParamFilter::default())?;
/// let ng = maximize_class(&draws, &[1, 2, 2], &[0, 1], &cfg, Seeds::base(0))?;
/// assert_eq!(ng.inputs.shape(), &[2, 1, 2, 2]);
/// assert!(plain.objective[19][0] > plain.objective[0][0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn maximize_class<C: Classifier>(
    models: &[C],
    sample_shape: &[usize],
    classes: &[usize],
    cfg: &ActivationMaxConfig,
    seeds: Seeds<'_>,
) -> Result<ActivationMaxResult> {
    let k = check_models(models)?;
    if let Some((index, &target)) = classes.iter().enumerate().find(|&(_, &c)| c >= k) {
        return Err(SalienceError::TargetOutOfRange {
            sample: index,
            target,
            num_classes: k,
        });
    }
    let wrapped: Vec<Plain<'_, C>> = models.iter().map(Plain).collect();
    run(
        &wrapped,
        sample_shape,
        Objective::Class(classes),
        cfg,
        seeds,
    )
}

/// Inputs `[channels.len(), ...sample_shape]` maximising the mean
/// activation of each channel in `channels` of layer `layer` (the whole
/// activation for `[N, C]` layers), averaged over `models`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::Seeds;
/// use salience_explain::{maximize_neuron, ActivationMaxConfig, SequentialClassifier};
/// let w = Tensor::new(&[[1.0f32, -1.0, 0.5, 0.0], [0.0, 1.0, 0.0, -2.0]], &Device::Cpu)?;
/// let m = SequentialClassifier::new(2)
///     .push("flatten", |x: &Tensor| x.flatten_from(1))
///     .push("fc", candle_nn::Linear::new(w, None));
/// let cfg = ActivationMaxConfig { steps: 10, ..ActivationMaxConfig::default() };
/// let r = maximize_neuron(&[m], &[1, 2, 2], "fc", &[1], &cfg, Seeds::base(0))?;
/// assert_eq!(r.inputs.shape(), &[1, 1, 2, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn maximize_neuron<C: LayerSplit>(
    models: &[C],
    sample_shape: &[usize],
    layer: &str,
    channels: &[usize],
    cfg: &ActivationMaxConfig,
    seeds: Seeds<'_>,
) -> Result<ActivationMaxResult> {
    check_models(models)?;
    for m in models {
        m.check_layer(layer)?;
    }
    let wrapped: Vec<Split<'_, C>> = models.iter().map(Split).collect();
    run(
        &wrapped,
        sample_shape,
        Objective::Neuron { layer, channels },
        cfg,
        seeds,
    )
}
