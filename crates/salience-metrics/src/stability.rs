//! Relative Input, Output and Representation Stability (Agarwal et al.
//! 2022, "Rethinking stability for attribution-based explanations";
//! Decker et al. (2024) C.1, computed there with OpenXAI; Quantus 0.6).
//!
//! For a sample `x` with explanation `e_x`, `m` perturbed inputs `x'_j = x +
//! ε_j` and their explanations `e_{x'}` (same target),
//!
//! ```text
//! RIS = max_j ‖(e_x − e_x')/e_x‖₂ / floor(‖(x − x')/x‖₂)
//! ROS = max_j ‖(e_x − e_x')/e_x‖₂ / floor(‖h(x) − h(x')‖₂)                [`StabilityFormula::Quantus`], the default
//! ROS = max_j ‖(e_x − e_x')/e_x‖₂ / floor(‖(h(x) − h(x'))/h(x)‖₂)         [`StabilityFormula::Relative`]
//! RRS = max_j ‖(e_x − e_x')/e_x‖₂ / floor(‖(L(x) − L(x'))/L(x)‖₂)         L: a [`Representation`]
//! ```
//!
//! `h` are the model's outputs (logits). Divisions inside the norms are
//! element-wise, a zero divisor entry replaced by `ε_min`; norms are
//! flattened L2 norms. **Lower is better.** The two formulas
//! ([`StabilityConfig::formula`]):
//!
//! - [`StabilityFormula::Quantus`] (default, [`StabilityConfig::quantus`]):
//!   exactly Quantus 0.6's `relative_*_stability_objective`: ROS divides by
//!   the *absolute* change of the logits, and `floor(d) = d`, or `ε_min`
//!   when `d == 0` exactly.
//! - [`StabilityFormula::Relative`] ([`StabilityConfig::relative`]): every
//!   denominator is a relative (percent) change, as in Agarwal et al.'s
//!   RIS and RRS, ROS included (`(h(x) − h(x'))/h(x)` element-wise), and
//!   `floor(d) = max(d, ε_min)` (the paper's form). This was salience's
//!   only formula before; on the shipped CNN its ROS is ≈ 2.75× Quantus'
//!   (z = +24). Before the preset was corrected, `default()` was documented
//!   as Quantus but computed this ROS.
//!
//! RIS and RRS are the same in both formulas except for the floor, which
//! only matters when a denominator lies in (0, `ε_min`): Quantus replaces
//! only an exact 0.
//!
//! Only perturbations that keep the model's predicted class (arg-max of
//! `h(x')` equal to that of `h(x)`) enter the maximum: Agarwal et al.
//! restrict `x'` to the neighbourhood with the same prediction. Quantus
//! (`return_nan_when_prediction_changes=True`) sets such a perturbation's
//! value to NaN and then takes `np.max`, which propagates the NaN: in
//! Quantus **one** flipped prediction makes the whole sample NaN. Here the
//! maximum is over the kept perturbations, and a sample for which no
//! perturbation keeps the prediction is undefined
//! ([`Undefined::NoKeptPerturbation`]) without failing the batch
//! ([`Outcomes::strict`] gives the former
//! [`Empty`](salience_core::SalienceError::Empty) error).
//! [`StabilityScores::kept`] reports how many were kept.
//!
//! [`StabilityConfig::quantus`] equals Quantus 0.6 on Quantus' own draws:
//! replaying (with [`relative_stability_with_perturbations`]) the seeded
//! perturbations Quantus drew for a linear model, RIS, ROS and RRS agree to
//! 6.8e-8, 9.5e-7 and 1.3e-7 relative, and a sample with flipped
//! predictions, NaN in Quantus, gets the maximum of Quantus' own per-draw
//! objectives over its kept draws (`tests/quantus_parity.rs`: 12
//! perturbations per sample, `e = x·x·W[t]`, Quantus' default
//! representation `[flatten(x), logits]`).
//!
//! Hand cases in the tests: `x = 2` with `e = x²` gives RIS = 2 + ε/2 at the
//! largest kept ε and RRS = RIS for `L = 3x`; with `h = [x, 0]` Quantus'
//! ROS = 1 + ε/4 = RIS/2 and the relative ROS = RIS. A single perturbation
//! ε ≈ 0.1 with `h = [x + 1, 1]` gives Quantus ROS = 1.025, relative ROS =
//! 3.075 and RIS = 2.05 in both formulas.
//!
//! OpenXAI's exact perturbation parameters are not reproduced
//! ([`StabilityNoise::Gaussian`] gives OpenXAI-style noise). The Decker et
//! al. reproduction (`examples/reproduce_decker2024`) uses
//! [`StabilityConfig::symmetric`] with the `Relative` formula.
//!
//! The `N·m` perturbed copies are generated lazily and, chunk by chunk
//! ([`StabilityConfig::batch_size`] copies), sent once to the model, once to
//! the explainer and once to the representation. Noise `j` of sample `i`
//! comes from `rng(derive_seed(derive_seed(seed_i, 3), j))`; the explainer
//! explains every copy of sample `i` with the sample's own seed.

use crate::common::{argmax, input_geometry};
use crate::scores::{Outcome, Outcomes, Undefined};
use crate::sensitivity::{check_maps, explain_clean};
use ndarray::{Array2, ArrayD, ArrayView1, ArrayViewD, Axis, IxDyn};
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use salience_core::model::{check_model_output, forward_chunked};
use salience_core::seed::{derive_seed, rng};
use salience_core::spec::Validate;
use salience_core::validate::check_targets;
use salience_core::{BatchSize, Explainer, Model, Result, SalienceError, Seeds};

/// An internal representation `L(x)` of a batch `[N, ...]` as `[N, r]`
/// (for instance the activations of the penultimate layer; salience-explain's
/// layer-split models provide one). Any
/// `Fn(ArrayViewD<f32>) -> Result<Array2<f32>>` is a `Representation`.
///
/// ```
/// use ndarray::{Array2, ArrayViewD, Axis};
/// use salience_metrics::Representation;
/// let sum = |x: ArrayViewD<'_, f32>| -> salience_core::Result<Array2<f32>> {
///     Ok(x.sum_axis(Axis(1)).into_dimensionality::<ndarray::Ix1>().unwrap().insert_axis(Axis(1)))
/// };
/// let r = sum.represent(ndarray::array![[1.0f32, 2.0]].into_dyn().view())?;
/// assert_eq!(r, ndarray::array![[3.0]]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub trait Representation: Send + Sync {
    /// The representation `[N, r]` of `inputs` `[N, ...]`.
    fn represent(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>>;
}

impl<F> Representation for F
where
    F: Fn(ArrayViewD<'_, f32>) -> Result<Array2<f32>> + Send + Sync,
{
    fn represent(&self, inputs: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        self(inputs)
    }
}

/// The noise added to make `x'`.
///
/// ```
/// use salience_metrics::StabilityNoise;
/// assert_eq!(StabilityNoise::default(), StabilityNoise::Uniform { low: 0.02, high: 0.2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StabilityNoise {
    /// `ε ~ U[low, high]` i.i.d. per feature (Quantus: `U(0.02, 0.2)`, a
    /// strictly positive shift; use `low = −high` for a symmetric ball).
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound (> low).
        high: f32,
    },
    /// `ε ~ N(0, std²)` i.i.d. per feature (OpenXAI-style Gaussian noise).
    Gaussian {
        /// Standard deviation (> 0).
        std: f32,
    },
}

impl Default for StabilityNoise {
    fn default() -> Self {
        StabilityNoise::Uniform {
            low: 0.02,
            high: 0.2,
        }
    }
}

/// Which denominators [`relative_stability`] uses; see the
/// [module docs](self).
///
/// ```
/// use salience_metrics::{StabilityConfig, StabilityFormula};
/// assert_eq!(StabilityFormula::default(), StabilityFormula::Quantus);
/// assert_eq!(StabilityConfig::relative().formula, StabilityFormula::Relative);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StabilityFormula {
    /// Quantus 0.6 exactly (default): ROS divides by `‖h(x) − h(x')‖₂`;
    /// a denominator that is exactly 0 becomes `ε_min`.
    #[default]
    Quantus,
    /// Relative change in every denominator, ROS by
    /// `‖(h(x) − h(x'))/h(x)‖₂` (element-wise); denominators floored at
    /// `ε_min` by `max` (Agarwal et al.'s form; salience's formula before
    /// the Quantus preset was corrected).
    Relative,
    /// [`Relative`](Self::Relative) restricted to the entries where a
    /// relative change is defined: each relative norm `‖(a − b)/a‖₂` sums
    /// only over the entries with `|a| ≥ ε_min` (OpenXAI clips every
    /// divisor at `1e-3` and Quantus replaces an exact 0 by `ε_min`, so an
    /// input with a black background or a map with exact zeros is
    /// dominated by those entries; here they are left out). A ratio whose
    /// divisors have no entry with `|a| ≥ ε_min` — the clean map, and the
    /// clean input (RIS), outputs (ROS) or representation (RRS) — is
    /// [`Undefined::EmptySupport`] for that sample; the other ratios keep
    /// their scores. Denominators floored at `ε_min` by `max`.
    Support,
}

/// Options of [`relative_stability`].
///
/// `default()` = [`quantus`](Self::quantus): Quantus' formula and defaults
/// (`nr_samples=200`, `U(0.02, 0.2)` noise, `eps_min=1e-6`);
/// [`relative`](Self::relative) is the same with
/// [`StabilityFormula::Relative`]; [`symmetric`](Self::symmetric) uses
/// `U[−0.1, 0.1]`, the L∞ noise of Decker et al. (2024)'s sensitivity metrics.
///
/// ```
/// use salience_metrics::{StabilityConfig, StabilityFormula};
/// let c = StabilityConfig::default();
/// assert_eq!((c.n_samples, c.eps_min, c.formula), (200, 1e-6, StabilityFormula::Quantus));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StabilityConfig {
    /// Noise of the perturbations.
    pub noise: StabilityNoise,
    /// Perturbations per sample, `m` (≥ 1).
    pub n_samples: usize,
    /// `ε_min` (> 0): floor of the denominators and replacement of zero
    /// divisor entries.
    pub eps_min: f64,
    /// Perturbed copies per model / explainer / representation call:
    /// [`BatchSize::Auto`] (default) is 32; `Fixed(n)` is `n`. Scores do
    /// not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
    /// The denominators' formula (default [`StabilityFormula::Quantus`]).
    pub formula: StabilityFormula,
}

impl Default for StabilityConfig {
    fn default() -> Self {
        Self::quantus()
    }
}

impl StabilityConfig {
    /// Quantus' `RelativeInputStability` (and Output, Representation)
    /// formula and defaults.
    ///
    /// ```
    /// assert_eq!(salience_metrics::StabilityConfig::quantus().n_samples, 200);
    /// ```
    pub fn quantus() -> Self {
        StabilityConfig {
            noise: StabilityNoise::default(),
            n_samples: 200,
            eps_min: 1e-6,
            batch_size: BatchSize::Auto,
            formula: StabilityFormula::Quantus,
        }
    }

    /// [`StabilityFormula::Relative`] (relative change in every
    /// denominator, ROS included; Agarwal et al.'s form), otherwise as
    /// [`quantus`](Self::quantus).
    ///
    /// ```
    /// use salience_metrics::{StabilityConfig, StabilityFormula};
    /// assert_eq!(StabilityConfig::relative().formula, StabilityFormula::Relative);
    /// ```
    pub fn relative() -> Self {
        StabilityConfig {
            formula: StabilityFormula::Relative,
            ..Self::quantus()
        }
    }

    /// Symmetric noise `U[−0.1, 0.1]`, otherwise as [`quantus`](Self::quantus).
    ///
    /// ```
    /// use salience_metrics::{StabilityConfig, StabilityNoise};
    /// assert_eq!(StabilityConfig::symmetric().noise, StabilityNoise::Uniform { low: -0.1, high: 0.1 });
    /// ```
    pub fn symmetric() -> Self {
        StabilityConfig {
            noise: StabilityNoise::Uniform {
                low: -0.1,
                high: 0.1,
            },
            ..Self::quantus()
        }
    }
}

impl Validate for StabilityConfig {
    /// Checks every parameter (see the fields).
    fn validate(&self) -> Result<()> {
        match self.noise {
            StabilityNoise::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && high > low) {
                    return Err(SalienceError::invalid(
                        "noise",
                        format!("Uniform {{ low: {low}, high: {high} }}"),
                        "bounds must be finite with low < high",
                    ));
                }
            }
            StabilityNoise::Gaussian { std } => {
                if !(std.is_finite() && std > 0.0) {
                    return Err(SalienceError::invalid(
                        "noise.std",
                        std,
                        "must be finite and > 0",
                    ));
                }
            }
        }
        if self.n_samples == 0 {
            return Err(SalienceError::invalid("n_samples", 0, "must be ≥ 1"));
        }
        if !(self.eps_min.is_finite() && self.eps_min > 0.0) {
            return Err(SalienceError::invalid(
                "eps_min",
                self.eps_min,
                "must be finite and > 0",
            ));
        }
        crate::common::check_batch_size(self.batch_size)?;
        Ok(())
    }
}

/// RIS, ROS and (with a representation) RRS of a batch, per sample; a
/// sample none of whose perturbations kept the prediction is
/// [`Undefined::NoKeptPerturbation`] in all three.
#[derive(Debug, Clone, PartialEq)]
pub struct StabilityScores {
    /// Relative Input Stability per sample (lower is better).
    pub ris: Outcomes,
    /// Relative Output Stability per sample (lower is better).
    pub ros: Outcomes,
    /// Relative Representation Stability per sample, when a representation
    /// was given (lower is better).
    pub rrs: Option<Outcomes>,
    /// Number of perturbations per sample that kept the predicted class.
    pub kept: Vec<usize>,
}

/// RIS, ROS and RRS of `explainer`'s maps for `inputs` `[N, ...]`; see the
/// [module docs](self). `model` gives `h` and the predicted class,
/// `representation` (optional) gives `L`; `targets` are the classes
/// explained.
///
/// Errors: bad parameters or inputs, bad targets, model / explainer /
/// representation failures or shape changes. A sample with no perturbation
/// that keeps its prediction is undefined, not an error.
///
/// ```
/// use ndarray::{array, ArrayViewD};
/// use salience_core::{AttributionBatch, Explainer, LinearModel, Result, Seeds};
/// use salience_metrics::{relative_stability, StabilityConfig};
/// // A constant-gradient explainer is perfectly stable: RIS = ROS = 0.
/// struct Grad;
/// impl Explainer for Grad {
///     fn name(&self) -> &str { "grad" }
///     fn explain(&self, x: ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>) -> Result<AttributionBatch> {
///         AttributionBatch::new(x.mapv(|_| 1.0))
///     }
/// }
/// let model = LinearModel::new(array![[1.0f32, 1.0], [-1.0, -1.0]], array![0.0f32, 0.0])?;
/// let x = array![[1.0f32, 2.0]];
/// let cfg = StabilityConfig { n_samples: 10, ..Default::default() };
/// let s = relative_stability(&model, &Grad, None, x.view().into_dyn(), &[0], &cfg, Seeds::base(0))?;
/// assert_eq!((s.ris.get(0), s.ros.get(0), s.kept[0]), (Some(0.0), Some(0.0), 10));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn relative_stability(
    model: &dyn Model,
    explainer: &dyn Explainer,
    representation: Option<&dyn Representation>,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &StabilityConfig,
    seeds: Seeds<'_>,
) -> Result<StabilityScores> {
    let fill = |i: usize, j: usize, x_i: ArrayView1<'_, f32>, row: &mut [f32]| -> Result<()> {
        let mut rg = rng(derive_seed(derive_seed(seeds.for_sample(i), 3), j as u64));
        match config.noise {
            StabilityNoise::Uniform { low, high } => {
                for (o, &xv) in row.iter_mut().zip(x_i) {
                    *o = xv + rg.random_range(low..=high);
                }
            }
            StabilityNoise::Gaussian { std } => {
                let nd = Normal::new(0.0f32, std)
                    .map_err(|e| SalienceError::invalid("noise.std", std, &e.to_string()))?;
                for (o, &xv) in row.iter_mut().zip(x_i) {
                    *o = xv + nd.sample(&mut rg);
                }
            }
        }
        Ok(())
    };
    let parts = (model, explainer, representation);
    run(
        parts,
        inputs,
        targets,
        config,
        seeds,
        config.n_samples,
        &fill,
    )
}

/// [`relative_stability`] with given perturbed inputs instead of drawn
/// ones: `perturbed` `[N, m, ...]` holds the `m ≥ 1` perturbed copies
/// `x'_ij` of each sample `x_i` `[...]` (`inputs` `[N, ...]`).
/// [`StabilityConfig::noise`] and [`StabilityConfig::n_samples`] are not
/// used; the formula, `ε_min` and the batch size are. `seeds` only seed the
/// explainer (sample `i`'s copies with the sample's own seed).
///
/// This replays perturbations drawn elsewhere, for instance the exact noise
/// Quantus drew (salience's parity tests do so), or scores several
/// explainers on the very same perturbations.
///
/// Errors: as [`relative_stability`], and
/// [`SalienceError::ShapeMismatch`] when `perturbed` is not
/// `[N, m ≥ 1, ...]` with the inputs' `N` and `...`,
/// [`SalienceError::NonFinite`] for NaN/Inf in it.
///
/// ```
/// use ndarray::{array, Array3, ArrayViewD};
/// use salience_core::{AttributionBatch, Explainer, LinearModel, Result, Seeds};
/// use salience_metrics::{relative_stability_with_perturbations, StabilityConfig};
/// /// Φ(x) = x².
/// struct Square;
/// impl Explainer for Square {
///     fn name(&self) -> &str { "square" }
///     fn explain(&self, x: ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>) -> Result<AttributionBatch> {
///         AttributionBatch::new(x.mapv(|v| v * v))
///     }
/// }
/// let model = LinearModel::new(array![[1.0f32], [0.0]], array![0.0f32, 0.0])?;
/// let x = array![[2.0f32]];
/// // One copy x' = 2.5: |Δe/e| = |4 − 6.25| / 4 = 0.5625, |Δx/x| = 0.25.
/// let xs = Array3::from_elem((1, 1, 1), 2.5f32);
/// let s = relative_stability_with_perturbations(
///     &model, &Square, None, x.view().into_dyn(), xs.view().into_dyn(), &[0],
///     &StabilityConfig::quantus(), Seeds::base(0))?;
/// assert!((s.ris.get(0).unwrap() - 2.25).abs() < 1e-12);
/// // Quantus' ROS divides by |Δh| = 0.5.
/// assert!((s.ros.get(0).unwrap() - 1.125).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn relative_stability_with_perturbations(
    model: &dyn Model,
    explainer: &dyn Explainer,
    representation: Option<&dyn Representation>,
    inputs: ArrayViewD<'_, f32>,
    perturbed: ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &StabilityConfig,
    seeds: Seeds<'_>,
) -> Result<StabilityScores> {
    let (shape, ps) = (inputs.shape(), perturbed.shape());
    if shape.is_empty()
        || ps.len() != shape.len() + 1
        || ps[0] != shape[0]
        || ps[2..] != shape[1..]
        || ps[1] == 0
    {
        return Err(SalienceError::shape(
            "stability perturbed inputs",
            format!("[N, m ≥ 1, ...] for inputs {shape:?} = [N, ...]"),
            ps,
        ));
    }
    salience_core::validate::check_finite(&perturbed, "stability perturbed inputs")?;
    let (n, m) = (ps[0], ps[1]);
    let d: usize = shape[1..].iter().product();
    let standard = perturbed.as_standard_layout();
    let given = standard
        .view()
        .into_shape_with_order((n, m, d))
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    let fill = |i: usize, j: usize, _: ArrayView1<'_, f32>, row: &mut [f32]| -> Result<()> {
        for (o, &v) in row.iter_mut().zip(given.slice(ndarray::s![i, j, ..])) {
            *o = v;
        }
        Ok(())
    };
    let parts = (model, explainer, representation);
    run(parts, inputs, targets, config, seeds, m, &fill)
}

/// Writes copy `j` of sample `i` (given `x_i`) into a row of the chunk.
type FillCopy<'a> = dyn Fn(usize, usize, ArrayView1<'_, f32>, &mut [f32]) -> Result<()> + 'a;

/// The model, the explainer and the optional representation.
type Parts<'a> = (
    &'a dyn Model,
    &'a dyn Explainer,
    Option<&'a dyn Representation>,
);

fn run(
    (model, explainer, representation): Parts<'_>,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &StabilityConfig,
    seeds: Seeds<'_>,
    m: usize,
    fill: &FillCopy<'_>,
) -> Result<StabilityScores> {
    config.validate()?;
    let shape = inputs.shape().to_vec();
    let g = input_geometry(&shape, "stability inputs")?;
    check_targets(targets, g.n, model.num_classes())?;
    seeds.check_len(g.n)?;
    let x = crate::common::flat_inputs(inputs, &g, "stability inputs")?;
    let bs = crate::common::explain_batch(config.batch_size)?;
    let eps = config.eps_min;
    let e_x = explain_clean(explainer, &x, &shape, targets, seeds, bs)?;
    let x_dyn = x
        .view()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    let h_x = forward_chunked(model, x_dyn.view(), Some(bs))?;
    let pred: Vec<usize> = h_x
        .outer_iter()
        .map(|r| argmax(&r.iter().copied().collect::<Vec<_>>()))
        .collect();
    let l_x = match representation {
        Some(rep) => Some(represent_chunked(rep, x_dyn.view(), bs, g.n)?),
        None => None,
    };
    let q = e_x.ncols();
    let total =
        g.n.checked_mul(m)
            .ok_or_else(|| SalienceError::invalid("n_samples", m, "too many perturbed copies"))?;
    let mut ris = vec![f64::NEG_INFINITY; g.n];
    let mut ros = vec![f64::NEG_INFINITY; g.n];
    let mut rrs = vec![f64::NEG_INFINITY; g.n];
    let mut kept = vec![0usize; g.n];
    let mut start = 0;
    while start < total {
        let len = bs.min(total - start);
        let mut chunk_shape = shape.clone();
        chunk_shape[0] = len;
        let mut buf = ArrayD::<f32>::zeros(IxDyn(&chunk_shape));
        let mut tg = Vec::with_capacity(len);
        let mut sd = Vec::with_capacity(len);
        {
            let flat = buf
                .as_slice_mut()
                .ok_or_else(|| SalienceError::backend_msg("non-contiguous buffer"))?;
            for (k, row) in flat.chunks_mut(g.d).enumerate() {
                let (i, j) = ((start + k) / m, (start + k) % m);
                fill(i, j, x.row(i), row)?;
                tg.push(targets[i]);
                sd.push(seeds.for_sample(i));
            }
        }
        salience_core::validate::check_finite(&buf, "perturbed inputs")?;
        let h = model.forward(buf.view())?;
        check_model_output(&h, len, model.num_classes())?;
        let e = explainer.explain(buf.view(), &tg, Seeds::per_sample(&sd))?;
        let e = check_maps(&e, len, q, "stability: explanation of perturbed inputs")?;
        let l = match (representation, &l_x) {
            (Some(rep), Some(lx)) => Some(checked_repr(rep, buf.view(), len, lx.ncols())?),
            _ => None,
        };
        let xs = buf
            .view()
            .into_shape_with_order((len, g.d))
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        for k in 0..len {
            let i = (start + k) / m;
            let hk: Vec<f32> = h.row(k).iter().copied().collect();
            if argmax(&hk) != pred[i] {
                continue;
            }
            kept[i] += 1;
            let f = config.formula;
            let rel = |a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>| match f {
                StabilityFormula::Support => support_norm(a.iter(), b.iter(), eps),
                _ => rel_norm(a.iter(), b.iter(), eps),
            };
            let num = rel(e_x.row(i), e.row(k));
            let dx = floor(f, rel(x.row(i), xs.row(k)), eps);
            let dh = match f {
                StabilityFormula::Quantus => abs_norm(h_x.row(i).iter(), h.row(k).iter()),
                _ => rel(h_x.row(i), h.row(k)),
            };
            ris[i] = ris[i].max(num / dx);
            ros[i] = ros[i].max(num / floor(f, dh, eps));
            if let (Some(lx), Some(l)) = (&l_x, &l) {
                let dl = floor(f, rel(lx.row(i), l.row(k)), eps);
                rrs[i] = rrs[i].max(num / dl);
            }
        }
        start += len;
    }
    // Support formula: a sample with no entry |a| ≥ ε_min in a divisor has
    // no relative change there.
    let support = config.formula == StabilityFormula::Support;
    let empty = |a: ArrayView1<'_, f32>| support && !a.iter().any(|v| f64::from(v.abs()) >= eps);
    // Each ratio's own divisors: the map's change over the input's (RIS),
    // the outputs' (ROS) or the representation's (RRS).
    let empty_of = |rows: Option<&Array2<f32>>| -> Vec<bool> {
        (0..g.n)
            .map(|i| empty(e_x.row(i)) || rows.is_some_and(|r| empty(r.row(i))))
            .collect()
    };
    let outcomes = |v: Vec<f64>, empty: Vec<bool>| {
        Outcomes::new(
            v.into_iter()
                .zip(empty)
                .enumerate()
                .map(|(i, (v, empty))| {
                    if kept[i] == 0 {
                        Outcome::Undefined(Undefined::NoKeptPerturbation)
                    } else if empty {
                        Outcome::Undefined(Undefined::EmptySupport)
                    } else {
                        Outcome::Score(v)
                    }
                })
                .collect(),
        )
    };
    Ok(StabilityScores {
        ris: outcomes(ris, empty_of(Some(&x)))?,
        ros: outcomes(ros, empty_of(Some(&h_x)))?,
        rrs: if representation.is_some() {
            Some(outcomes(rrs, empty_of(l_x.as_ref()))?)
        } else {
            None
        },
        kept,
    })
}

/// A denominator `d` floored as `formula` says: Quantus replaces an exact
/// 0 by `eps`, the relative form takes `max(d, eps)`.
fn floor(formula: StabilityFormula, d: f64, eps: f64) -> f64 {
    match formula {
        StabilityFormula::Quantus if d == 0.0 => eps,
        StabilityFormula::Quantus => d,
        StabilityFormula::Relative | StabilityFormula::Support => d.max(eps),
    }
}

/// `‖(a − b) / a‖₂` over the entries with `|a| ≥ eps` only (the
/// [`StabilityFormula::Support`] form; 0 when there is none).
fn support_norm<'a>(
    a: impl Iterator<Item = &'a f32>,
    b: impl Iterator<Item = &'a f32>,
    eps: f64,
) -> f64 {
    a.zip(b)
        .map(|(&a, &b)| (a as f64, b as f64))
        .filter(|(a, _)| a.abs() >= eps)
        .map(|(a, b)| ((a - b) / a).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `‖a − b‖₂`.
fn abs_norm<'a>(a: impl Iterator<Item = &'a f32>, b: impl Iterator<Item = &'a f32>) -> f64 {
    a.zip(b)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `‖(a − b) / a‖₂` with zero entries of `a` replaced by `eps` in the divisor.
fn rel_norm<'a>(
    a: impl Iterator<Item = &'a f32>,
    b: impl Iterator<Item = &'a f32>,
    eps: f64,
) -> f64 {
    a.zip(b)
        .map(|(&a, &b)| {
            let (a, b) = (a as f64, b as f64);
            let div = if a == 0.0 { eps } else { a };
            ((a - b) / div).powi(2)
        })
        .sum::<f64>()
        .sqrt()
}

fn checked_repr(
    rep: &dyn Representation,
    x: ArrayViewD<'_, f32>,
    len: usize,
    r: usize,
) -> Result<Array2<f32>> {
    let l = rep.represent(x)?;
    if l.nrows() != len || (r > 0 && l.ncols() != r) || l.ncols() == 0 {
        return Err(SalienceError::shape(
            "representation output",
            format!("[{len}, r] with the same r for every call"),
            l.shape(),
        ));
    }
    salience_core::validate::check_finite(&l, "representation output")?;
    Ok(l)
}

fn represent_chunked(
    rep: &dyn Representation,
    x: ArrayViewD<'_, f32>,
    bs: usize,
    n: usize,
) -> Result<Array2<f32>> {
    let mut out: Option<Array2<f32>> = None;
    let mut start = 0;
    while start < n {
        let len = bs.min(n - start);
        let chunk = x.slice_axis(Axis(0), (start..start + len).into());
        let r = out.as_ref().map(|o| o.ncols()).unwrap_or(0);
        let l = checked_repr(rep, chunk, len, r)?;
        let o = out.get_or_insert_with(|| Array2::zeros((n, l.ncols())));
        o.slice_axis_mut(Axis(0), (start..start + len).into())
            .assign(&l);
        start += len;
    }
    out.ok_or_else(|| SalienceError::Empty("inputs".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use salience_core::{AttributionBatch, LinearModel};

    /// Φ(x) = x² (element-wise).
    struct Square;
    impl Explainer for Square {
        fn name(&self) -> &str {
            "square"
        }
        fn explain(
            &self,
            x: ArrayViewD<'_, f32>,
            _: &[usize],
            _: Seeds<'_>,
        ) -> Result<AttributionBatch> {
            AttributionBatch::new(x.mapv(|v| v * v))
        }
    }

    /// RIS / ROS of `Square` without a representation.
    fn stab(
        model: &LinearModel,
        x: &Array2<f32>,
        targets: &[usize],
        cfg: &StabilityConfig,
        seed: u64,
    ) -> StabilityScores {
        let x = x.view().into_dyn();
        relative_stability(model, &Square, None, x, targets, cfg, Seeds::base(seed)).unwrap()
    }

    /// The support formula leaves out the entries with a divisor below
    /// ε_min: x = [2, 0], e = x², h = [x0 + x1, 0], one perturbation
    /// x' = [2.5, 0.5]. On entry 0 alone: Δe/e = 2.25/4 = 0.5625,
    /// Δx/x = 0.25, Δh/h = 0.5, so RIS = 2.25 and ROS = 1.125; the relative
    /// formula divides the zero entries by ε_min and reads RIS ≈ 0.5. An
    /// all-zero input (and map) has no support: undefined, not a score.
    #[test]
    fn support_formula_leaves_out_zero_divisors() {
        let model =
            LinearModel::new(array![[1.0f32, 1.0], [0.0, 0.0]], array![0.0f32, 0.0]).unwrap();
        let cfg = StabilityConfig {
            eps_min: 1e-3,
            formula: StabilityFormula::Support,
            ..Default::default()
        };
        let run = |x: Array2<f32>, xs: ndarray::Array3<f32>, cfg: &StabilityConfig| {
            relative_stability_with_perturbations(
                &model,
                &Square,
                None,
                x.view().into_dyn(),
                xs.view().into_dyn(),
                &[0],
                cfg,
                Seeds::base(0),
            )
            .unwrap()
        };
        let (x, xs) = (array![[2.0f32, 0.0]], array![[[2.5f32, 0.5]]]);
        let s = run(x.clone(), xs.clone(), &cfg);
        assert!((s.ris.get(0).unwrap() - 2.25).abs() < 1e-9, "{:?}", s.ris);
        assert!((s.ros.get(0).unwrap() - 1.125).abs() < 1e-9, "{:?}", s.ros);
        let rel = StabilityConfig {
            formula: StabilityFormula::Relative,
            ..cfg
        };
        let r = run(x, xs, &rel).ris.get(0).unwrap();
        assert!((r - 0.5).abs() < 1e-3, "{r}");
        let zero = run(array![[0.0f32, 0.0]], array![[[0.1f32, 0.1]]], &cfg);
        assert_eq!(
            zero.ris.outcomes(),
            &[Outcome::Undefined(Undefined::EmptySupport)]
        );
        assert!(matches!(zero.ros.strict(), Err(SalienceError::Empty(_))));
        assert!(run(array![[0.0f32, 0.0]], array![[[0.1f32, 0.1]]], &rel)
            .ris
            .get(0)
            .is_some());
    }

    /// Each ratio is undefined only through its own divisors: all-zero
    /// outputs (a zero model) leave ROS without support, while RIS, which
    /// divides by the input's change, keeps its 2.25 of the test above.
    #[test]
    fn support_formula_is_undefined_per_ratio() {
        let model = LinearModel::new(Array2::<f32>::zeros((2, 2)), array![0.0f32, 0.0]).unwrap();
        let cfg = StabilityConfig {
            eps_min: 1e-3,
            formula: StabilityFormula::Support,
            ..Default::default()
        };
        let (x, xs) = (array![[2.0f32, 0.0]], array![[[2.5f32, 0.5]]]);
        let s = relative_stability_with_perturbations(
            &model,
            &Square,
            None,
            x.view().into_dyn(),
            xs.view().into_dyn(),
            &[0],
            &cfg,
            Seeds::base(0),
        )
        .unwrap();
        assert!((s.ris.get(0).unwrap() - 2.25).abs() < 1e-9, "{:?}", s.ris);
        assert_eq!(
            s.ros.outcomes(),
            &[Outcome::Undefined(Undefined::EmptySupport)]
        );
    }

    #[test]
    fn hand_case_single_feature() {
        // x = 2, x' = 2 + ε with ε ∈ [0.02, 0.2]; e = x²:
        // |(4 − (2+ε)²)/4| / |ε/2| = (4ε + ε²)/4 · 2/ε = 2 + ε/2, max at the largest ε.
        // L(x) = 3x changes relatively as x does, so RRS = RIS. h(x) = [x, 0]:
        // Quantus' ROS divides by |Δh| = ε, i.e. ((4ε + ε²)/4)/ε = 1 + ε/4 =
        // RIS / 2; the relative formula divides by |Δh/h| = ε/2, so ROS = RIS.
        let model = LinearModel::new(array![[1.0f32], [0.0]], array![0.0f32, 0.0]).unwrap();
        let x = array![[2.0f32]];
        let cfg = StabilityConfig {
            n_samples: 50,
            batch_size: BatchSize::fixed(7).unwrap(),
            ..Default::default()
        };
        let rep = |x: ArrayViewD<'_, f32>| -> Result<Array2<f32>> {
            x.mapv(|v| 3.0 * v)
                .into_dimensionality()
                .map_err(|e| SalienceError::backend("ndarray", e))
        };
        let run = |cfg: &StabilityConfig, seed: u64| {
            relative_stability(
                &model,
                &Square,
                Some(&rep),
                x.view().into_dyn(),
                &[0],
                cfg,
                Seeds::base(seed),
            )
            .unwrap()
        };
        let s = run(&cfg, 4);
        assert_eq!(s.kept, vec![50]);
        let r = s.ris.strict().unwrap().values()[0];
        assert!(r > 2.0 + 0.02 / 2.0 && r <= 2.0 + 0.2 / 2.0 + 1e-5, "{r}");
        // Changed on purpose (issue 24): the default (Quantus) ROS is RIS/2
        // here; it was RIS under the former per-element h(x) division.
        assert!((s.ros.get(0).unwrap() - r / 2.0).abs() < 1e-5);
        assert!((s.rrs.as_ref().unwrap().get(0).unwrap() - r).abs() < 1e-5);
        let rel = run(
            &StabilityConfig {
                formula: StabilityFormula::Relative,
                ..cfg
            },
            4,
        );
        assert_eq!(rel.ris, s.ris);
        assert!((rel.ros.get(0).unwrap() - r).abs() < 1e-5);
        // Chunk size and seed.
        let other = run(
            &StabilityConfig {
                batch_size: BatchSize::fixed(64).unwrap(),
                ..cfg
            },
            4,
        );
        assert_eq!(other, s);
        let reseeded = run(&cfg, 5);
        assert_ne!(reseeded.ris, s.ris);
    }

    #[test]
    fn quantus_and_relative_ros_hand_computed() {
        // One perturbation with ε ≈ 0.1 (U[0.1, 0.1 + 1e-6]); x = 2, e = x²,
        // h(x) = [x + 1, 1]: Δe/e = (4ε + ε²)/4 = 0.1025.
        // Quantus: ‖Δh‖ = ε → ROS = 0.1025 / 0.1 = 1.025.
        // Relative: ‖Δh/h‖ = ε/3 → ROS = 0.1025 · 30 = 3.075 (ratio 3).
        let model = LinearModel::new(array![[1.0f32], [0.0]], array![1.0f32, 1.0]).unwrap();
        let x = array![[2.0f32]];
        let noise = StabilityNoise::Uniform {
            low: 0.1,
            high: 0.100001,
        };
        let q = StabilityConfig {
            noise,
            n_samples: 1,
            ..StabilityConfig::quantus()
        };
        let r = StabilityConfig {
            formula: StabilityFormula::Relative,
            ..q
        };
        let go = |c: &StabilityConfig| stab(&model, &x, &[0], c, 2);
        let (sq, sr) = (go(&q), go(&r));
        assert!(
            (sq.ros.get(0).unwrap() - 1.025).abs() < 2e-4,
            "{:?}",
            sq.ros
        );
        assert!(
            (sr.ros.get(0).unwrap() - 3.075).abs() < 5e-4,
            "{:?}",
            sr.ros
        );
        // RIS is the same in both: 0.1025 / (ε/2) = 2.05.
        assert!((sq.ris.get(0).unwrap() - 2.05).abs() < 2e-4);
        assert_eq!(sq.ris, sr.ris);
        assert_eq!(StabilityConfig::default(), StabilityConfig::quantus());
    }

    #[test]
    fn quantus_floor_replaces_only_exact_zero() {
        assert_eq!(floor(StabilityFormula::Quantus, 0.0, 1e-6), 1e-6);
        assert_eq!(floor(StabilityFormula::Quantus, 1e-9, 1e-6), 1e-9);
        assert_eq!(floor(StabilityFormula::Relative, 1e-9, 1e-6), 1e-6);
        assert_eq!(floor(StabilityFormula::Relative, 0.5, 1e-6), 0.5);
    }

    #[test]
    fn prediction_changes_are_excluded() {
        // Class 0 iff x < 0.1: with x = 0 and positive noise every
        // perturbation with ε ≥ 0.1 flips the prediction.
        let model = LinearModel::new(array![[-1.0f32], [0.0]], array![0.1f32, 0.0]).unwrap();
        let x = array![[0.0f32]];
        let cfg = StabilityConfig {
            n_samples: 40,
            ..Default::default()
        };
        let s = stab(&model, &x, &[0], &cfg, 1);
        assert!(s.kept[0] > 0 && s.kept[0] < 40, "{:?}", s.kept);
        assert!(s.rrs.is_none());
        // Every perturbation flips: the sample is undefined; strict gives
        // the former typed error.
        let flip = StabilityConfig {
            noise: StabilityNoise::Uniform {
                low: 0.2,
                high: 0.3,
            },
            ..cfg
        };
        let all_flip = stab(&model, &x, &[0], &flip, 1);
        assert_eq!(all_flip.kept, vec![0]);
        assert_eq!(
            all_flip.ros.outcomes(),
            &[Outcome::Undefined(Undefined::NoKeptPerturbation)]
        );
        assert!(matches!(
            all_flip.ris.strict(),
            Err(SalienceError::Empty(_))
        ));
    }

    #[test]
    fn one_flipping_sample_does_not_fail_the_batch() {
        // Class 0 iff x < 0.1. Sample 0 (x = 0) flips under U[0.2, 0.3]
        // noise, sample 1 (x = −5) never does. Before: Empty for the batch.
        let model = LinearModel::new(array![[-1.0f32], [0.0]], array![0.1f32, 0.0]).unwrap();
        let x = array![[0.0f32], [-5.0]];
        let cfg = StabilityConfig {
            noise: StabilityNoise::Uniform {
                low: 0.2,
                high: 0.3,
            },
            n_samples: 8,
            ..Default::default()
        };
        let s = stab(&model, &x, &[0, 0], &cfg, 1);
        assert_eq!(s.kept, vec![0, 8]);
        assert_eq!(s.ris.get(0), None);
        assert_eq!(s.ris.summary().n, 1);
        // e = x², x = −5, x' = −5 + ε: RIS = |(25 − (5 − ε)²)/25| / (ε/5)
        // = (10 − ε)/5 ∈ [1.94, 1.96].
        let r = s.ris.get(1).unwrap();
        assert!((1.94 - 1e-5..=1.96 + 1e-5).contains(&r), "{r}");
    }

    #[test]
    fn given_perturbations_hand_computed_and_checked() {
        // x = [2, 4], copies x' = [2.5, 4] and [2, 3] (class 0 kept: h =
        // [x0 + x1, 0]). e = x²: copy 0 |Δe/e| = 0.5625, |Δx/x| = 0.25 → 2.25;
        // copy 1 |Δe/e| = 7/16 = 0.4375, |Δx/x| = 0.25 → 1.75. RIS = 2.25.
        let model =
            LinearModel::new(array![[1.0f32, 1.0], [0.0, 0.0]], array![0.0f32, 0.0]).unwrap();
        let x = array![[2.0f32, 4.0]];
        let xs = ndarray::Array3::from_shape_vec((1, 2, 2), vec![2.5f32, 4.0, 2.0, 3.0]).unwrap();
        let go = |xs: ArrayViewD<'_, f32>| {
            relative_stability_with_perturbations(
                &model,
                &Square,
                None,
                x.view().into_dyn(),
                xs,
                &[0],
                &StabilityConfig::quantus(),
                Seeds::base(0),
            )
        };
        let s = go(xs.view().into_dyn()).unwrap();
        assert_eq!(s.kept, vec![2]);
        assert!((s.ris.get(0).unwrap() - 2.25).abs() < 1e-12);
        // ROS: copy 0 0.5625 / |Δh| 0.5 = 1.125, copy 1 0.4375 / 1; max 1.125.
        assert!((s.ros.get(0).unwrap() - 1.125).abs() < 1e-12);
        // Wrong N, wrong feature shape, m = 0, NaN: typed errors.
        for bad in [
            ndarray::Array3::<f32>::zeros((2, 2, 2)).into_dyn(),
            ndarray::Array3::<f32>::zeros((1, 2, 3)).into_dyn(),
            ndarray::Array3::<f32>::zeros((1, 0, 2)).into_dyn(),
            ndarray::Array2::<f32>::zeros((1, 2)).into_dyn(),
        ] {
            assert!(matches!(
                go(bad.view()),
                Err(SalienceError::ShapeMismatch { .. })
            ));
        }
        let mut nan = xs.clone();
        nan[[0, 1, 1]] = f32::NAN;
        assert!(matches!(
            go(nan.view().into_dyn()),
            Err(SalienceError::NonFinite { .. })
        ));
    }

    #[test]
    fn bad_input_is_typed() {
        let model = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32]).unwrap();
        let x = array![[1.0f32, 2.0]];
        let xv = x.view().into_dyn();
        let s = Seeds::base(0);
        for cfg in [
            StabilityConfig {
                n_samples: 0,
                ..Default::default()
            },
            StabilityConfig {
                eps_min: 0.0,
                ..Default::default()
            },
            StabilityConfig {
                noise: StabilityNoise::Uniform {
                    low: 0.2,
                    high: 0.1,
                },
                ..Default::default()
            },
            StabilityConfig {
                noise: StabilityNoise::Gaussian { std: f32::NAN },
                ..Default::default()
            },
        ] {
            assert!(matches!(
                relative_stability(&model, &Square, None, xv.clone(), &[0], &cfg, s),
                Err(SalienceError::InvalidParameter { .. })
            ));
        }
        assert!(matches!(
            relative_stability(
                &model,
                &Square,
                None,
                xv.clone(),
                &[1],
                &Default::default(),
                s
            ),
            Err(SalienceError::TargetOutOfRange { .. })
        ));
        let bad_rep = |x: ArrayViewD<'_, f32>| -> Result<Array2<f32>> {
            Ok(Array2::zeros((x.shape()[0] + 1, 2)))
        };
        assert!(matches!(
            relative_stability(
                &model,
                &Square,
                Some(&bad_rep),
                xv.clone(),
                &[0],
                &Default::default(),
                s
            ),
            Err(SalienceError::ShapeMismatch { .. })
        ));
    }
}
