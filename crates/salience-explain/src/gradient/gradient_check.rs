//! A gradient check for candle models: are the input gradients every
//! gradient explainer is built on right?
//!
//! Autodiff can be silently wrong. In candle 0.11, `Tensor::max_pool2d`'s
//! backward divides the gradient by k² per pool (it should route it to the
//! maximum), and candle-nn's fused `layer_norm`, `rms_norm` and
//! `softmax_last_dim` detach their output, so the gradient of a branch
//! through them is lost. Missing gradients are caught by every gradient
//! explainer ([`salience_core::GradientFault::Detached`]); a *wrong*
//! gradient can only be caught numerically, which [`check_gradients`] does
//! on a few probe inputs, two ways:
//!
//! * **directional finite differences**: at a jittered probe
//!   `x̃ = x + jitter · s · z` (`s = max(1, max|x|)`, z seeded standard
//!   normal noise: real images have exact ties — flat backgrounds — where
//!   ReLU and max pooling are not differentiable and a central difference
//!   averages two one-sided slopes), for `directions` seeded random
//!   directions v (unit max-norm), `∇f(x̃)·v` against the central
//!   difference `(f(x̃ + hv) − f(x̃ − hv)) / 2h` with `h = step · s`; the
//!   median relative error over all (input, direction) pairs is robust to
//!   the odd kink inside `[x̃ − hv, x̃ + hv]`;
//! * **completeness of Integrated Gradients** (zero baseline,
//!   Gauss–Legendre with `ig_steps` points): `|Σ IG − (f(x) − f(0))|`
//!   relative to `|f(x) − f(0)|`.
//!
//! The check passes when both errors are at most `tolerance`. The
//! completeness check assumes the model is smooth enough along the path
//! from 0 for the quadrature to converge; a model that normalises its raw
//! input (e.g. RMS normalisation as the first op, singular at 0) can fail
//! it with a right gradient; raise `tolerance` or probe such a model with
//! the directional check's numbers ([`GradientCheck::directional_error`]).
//! [`GradientCheck::ensure`] turns a failure into a
//! [`salience_core::GradientFault::CheckFailed`] error that names the
//! likely culprit and its replacement in [`crate::ops`].
//!
//! Measured (tests `gradient_faults.rs`,
//! `salience-models/tests/gradient_check.rs`; default tolerance 0.1):
//!
//! | model | directional error | ∇f·v ÷ finite difference | completeness error |
//! |---|---:|---:|---:|
//! | shipped SmallCnn, 4 images | 0.011 | 0.998 | 1.9e-3 |
//! | shipped small ResNet, 1 image | 0.0097 | 1.005 | 1.4e-2 |
//! | 2-pool CNN with candle's `max_pool2d` | ≫ 0.1 | 1/16 | > 0.8 |
//! | the same CNN with `ops::max_pool2d` | < 0.1 | 1.00 ± 0.01 | < 0.05 |

use crate::gradient::integrated_gradients::{IntegratedGradients, IntegratedGradientsConfig};
use crate::gradient::quadrature::Quadrature;
use crate::gradient::{
    chunk_size, contiguous, flat_slice, input_gradients, target_logits, validate, BatchInfo,
    DIFFERENTIABLE_REPLACEMENTS, NO_BACKWARD_OPS,
};
use crate::model::classifier::Classifier;
use ndarray::ArrayViewD;
use rand_distr::{Distribution, StandardNormal};
use salience_core::batch::Pass;
use salience_core::{BatchSize, GradientFault, Result, SalienceError, Seeds};
use salience_perturb::Baseline;

/// Largest number of random directions per probe input.
pub const MAX_DIRECTIONS: usize = 64;

/// Settings of [`check_gradients`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradientCheckConfig {
    /// Random directions per input (1 ..= [`MAX_DIRECTIONS`]). Default 8.
    pub directions: usize,
    /// Finite-difference step relative to `max(1, max|x|)` (finite, in
    /// (0, 0.1]). Default 1e-4: kinks (ReLU, max pooling) dominate the
    /// finite-difference error of real networks, not f32 rounding.
    pub step: f32,
    /// Standard deviation of the jitter added to the probe for the
    /// directional check, relative to `max(1, max|x|)` (finite, in
    /// [0, 1]). Default 0.02.
    pub jitter: f32,
    /// Gauss–Legendre points of the completeness check (≥ 1). Default 64.
    pub ig_steps: usize,
    /// Largest accepted relative error of either check (finite, > 0).
    /// Default 0.1: a correct ReLU network is typically within 1e-2, the
    /// k² error of candle's max pooling is ≥ 0.75.
    pub tolerance: f64,
    /// Seed of the random directions.
    pub seed: u64,
    /// Points per forward/backward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for GradientCheckConfig {
    fn default() -> Self {
        GradientCheckConfig {
            directions: 8,
            step: 1e-4,
            jitter: 0.02,
            ig_steps: 64,
            tolerance: 0.1,
            seed: 0,
            batch_size: BatchSize::Auto,
        }
    }
}

impl GradientCheckConfig {
    /// Checks every field (see their docs).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_DIRECTIONS).contains(&self.directions) {
            return Err(SalienceError::invalid(
                "directions",
                self.directions,
                "must be in 1..=64",
            ));
        }
        if !(self.step.is_finite() && self.step > 0.0 && self.step <= 0.1) {
            return Err(SalienceError::invalid(
                "step",
                self.step,
                "must be in (0, 0.1]",
            ));
        }
        if !(self.jitter.is_finite() && (0.0..=1.0).contains(&self.jitter)) {
            return Err(SalienceError::invalid(
                "jitter",
                self.jitter,
                "must be in [0, 1]",
            ));
        }
        if self.ig_steps == 0 {
            return Err(SalienceError::invalid("ig_steps", 0, "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(SalienceError::invalid(
                "tolerance",
                self.tolerance,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }
}

/// The outcome of [`check_gradients`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCheck {
    /// Median over (input, direction) of `|∇f·v − FD| / max(|∇f·v|, |FD|)`
    /// (pairs where both are below 1e-6·(1 + |f(x)|) are skipped; 0 when
    /// all are).
    pub directional_error: f64,
    /// Median over the same pairs of `∇f·v / FD` (1 for a right gradient;
    /// 1/4 per 2×2 pool for candle's `max_pool2d`).
    pub gradient_ratio: f64,
    /// Largest `|Σ IG − (f(x) − f(0))| / |f(x) − f(0)|` over the inputs
    /// where `|f(x) − f(0)| > 1e-6·(1 + |f(x)|)`; `None` when there is none.
    pub completeness_error: Option<f64>,
    /// The tolerance both errors were compared with.
    pub tolerance: f64,
}

impl GradientCheck {
    /// Whether both errors are within the tolerance.
    pub fn passed(&self) -> bool {
        self.directional_error <= self.tolerance
            && self.completeness_error.is_none_or(|e| e <= self.tolerance)
    }

    /// `Ok(self)` if the check passed, else a
    /// [`GradientFault::CheckFailed`] error naming the likely cause.
    pub fn ensure(self) -> Result<Self> {
        if self.passed() {
            return Ok(self);
        }
        let r = self.gradient_ratio;
        let pool = (2..=4usize)
            .flat_map(|k| (1..=3).map(move |p| (k, p)))
            .find(|&(k, p)| {
                let expected = 1.0 / (k * k) as f64;
                (r / expected.powi(p) - 1.0).abs() < 0.1
            });
        let cause = match pool {
            Some((k, p)) => format!(
                "the gradient is {r:.4} of the finite difference, (1/{k}²)^{p}: the signature of \
                 candle's Tensor::max_pool2d backward, which divides by k² per {k}×{k} pool \
                 instead of routing the gradient to the maximum; use \
                 salience_explain::ops::max_pool2d"
            ),
            None => format!(
                "the gradient is {r:.4} of the finite difference. Likely causes: candle's \
                 max_pool2d / avg_pool2d backward (use salience_explain::ops::max_pool2d), or \
                 a branch through an op without backward ({NO_BACKWARD_OPS}; use \
                 {DIFFERENTIABLE_REPLACEMENTS}), or a model that is not deterministic"
            ),
        };
        let completeness = match self.completeness_error {
            Some(e) => format!("{e:.3e}"),
            None => "not measurable".into(),
        };
        Err(SalienceError::Gradient {
            fault: GradientFault::CheckFailed,
            detail: format!(
                "directional error {:.3e}, completeness error {completeness} (tolerance {:.1e}); {cause}",
                self.directional_error, self.tolerance
            ),
        })
    }
}

/// Checks `clf`'s input gradients on probe `inputs` `[N, ...]` (a few real
/// inputs; the cost is `2·N·directions` forward passes, one gradient pass
/// and an `ig_steps`-point Integrated Gradients) for the `targets` logits.
/// Returns the measured errors; call [`GradientCheck::ensure`] to make a
/// failure an error. Deterministic for a given seed.
///
/// Errors: the gradient explainers' input errors, a bad config, and
/// [`GradientFault::Detached`] / [`GradientFault::InputIndependent`] when no
/// gradient reaches the input.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::gradient::gradient_check::{check_gradients, GradientCheckConfig};
/// use salience_explain::ModuleClassifier;
/// // A model with candle's own max_pool2d: its input gradient is 1/4 of the truth.
/// let w = Tensor::new(&[[1.0f32, -1.0, 2.0, 0.5]], &Device::Cpu).unwrap();
/// let bad = ModuleClassifier::new(
///     move |x: &Tensor| x.max_pool2d(2)?.flatten_from(1)?.matmul(&w.t()?),
///     1,
/// );
/// let x = ndarray::Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (i * 4 + j) as f32 * 0.1).into_dyn();
/// let check = check_gradients(&bad, x.view(), &[0], &GradientCheckConfig::default())?;
/// assert!((check.gradient_ratio - 0.25).abs() < 1e-3);
/// assert!(check.ensure().unwrap_err().to_string().contains("ops::max_pool2d"));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn check_gradients<C: Classifier + ?Sized>(
    clf: &C,
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &GradientCheckConfig,
) -> Result<GradientCheck> {
    config.validate()?;
    let info = validate(&inputs, targets, clf.num_classes())?;
    let (n, f, d) = (info.n, info.features, config.directions);
    let points = n
        .checked_mul(d)
        .and_then(|p| p.checked_mul(2))
        .filter(|p| p.checked_mul(f).is_some())
        .ok_or_else(|| SalienceError::invalid("inputs", n, "too many probe points"))?;
    let bs = chunk_size(
        clf,
        config.batch_size,
        &info.sample_shape,
        points,
        Pass::Forward,
    )?;
    let xs = contiguous(&inputs);
    let fx = target_logits(clf, flat_slice(&xs)?, &info, targets, bs)?;

    // The jittered probe x̃ and its gradient.
    let mut g = salience_core::seed::rng(config.seed);
    let scales: Vec<f32> = flat_slice(&xs)?
        .chunks_exact(f)
        .map(|xi| xi.iter().fold(1f32, |m, v| m.max(v.abs())))
        .collect();
    let mut jittered = xs.to_owned();
    for (xi, s) in jittered
        .as_slice_mut()
        .into_iter()
        .flat_map(|v| v.chunks_exact_mut(f))
        .zip(&scales)
    {
        for v in xi.iter_mut() {
            let z: f32 = StandardNormal.sample(&mut g);
            *v += config.jitter * s * z;
        }
    }
    let x = jittered
        .as_slice()
        .ok_or_else(|| SalienceError::backend_msg("probe not contiguous"))?;
    let grads = input_gradients(clf, jittered.view(), targets, config.batch_size)?;
    let grads = grads
        .as_slice()
        .ok_or_else(|| SalienceError::backend_msg("gradient not contiguous"))?;
    let f_probe = target_logits(clf, x, &info, targets, bs)?;

    // Points x̃ ± h v, grouped by input then direction; the dot products ∇f·v.
    let mut shifted = Vec::with_capacity(points * f);
    let mut point_targets = Vec::with_capacity(points);
    let mut dots = Vec::with_capacity(n * d);
    let mut steps = Vec::with_capacity(n);
    for i in 0..n {
        let xi = &x[i * f..(i + 1) * f];
        let h = config.step * scales[i];
        steps.push(h as f64);
        for _ in 0..d {
            let v: Vec<f32> = (0..f).map(|_| StandardNormal.sample(&mut g)).collect();
            let scale = v
                .iter()
                .fold(0f32, |m, a| m.max(a.abs()))
                .max(f32::MIN_POSITIVE);
            let v: Vec<f32> = v.iter().map(|a| a / scale).collect();
            dots.push(
                v.iter()
                    .zip(&grads[i * f..(i + 1) * f])
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>(),
            );
            for sign in [1f32, -1f32] {
                shifted.extend(xi.iter().zip(&v).map(|(a, b)| a + sign * h * b));
                point_targets.push(targets[i]);
            }
        }
    }
    let shifted_info = BatchInfo {
        n: points,
        sample_shape: info.sample_shape.clone(),
        features: f,
    };
    let fs = target_logits(clf, &shifted, &shifted_info, &point_targets, bs)?;
    let mut errors = Vec::new();
    let mut ratios = Vec::new();
    for i in 0..n {
        let floor = 1e-6 * (1.0 + (f_probe[i] as f64).abs());
        for j in 0..d {
            let p = 2 * (i * d + j);
            let fd = (fs[p] as f64 - fs[p + 1] as f64) / (2.0 * steps[i]);
            let dot = dots[i * d + j];
            let scale = fd.abs().max(dot.abs());
            if scale > floor {
                errors.push((dot - fd).abs() / scale);
                if fd.abs() > floor {
                    ratios.push(dot / fd);
                }
            }
        }
    }

    let ig = IntegratedGradients::with_config(
        clf,
        IntegratedGradientsConfig {
            n_steps: config.ig_steps,
            quadrature: Quadrature::GaussLegendre,
            baseline: Baseline::Zeros,
            batch_size: config.batch_size,
        },
    );
    let out = ig.explain_with_delta(inputs, targets, Seeds::base(config.seed))?;
    let completeness_error = out
        .delta
        .iter()
        .zip(&out.output_difference)
        .zip(&fx)
        .filter(|((_, diff), f)| diff.abs() as f64 > 1e-6 * (1.0 + f.abs() as f64))
        .map(|((delta, diff), _)| (*delta as f64 / *diff as f64).abs())
        .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e))));
    Ok(GradientCheck {
        directional_error: median(&mut errors),
        gradient_ratio: if ratios.is_empty() {
            1.0
        } else {
            median(&mut ratios)
        },
        completeness_error,
        tolerance: config.tolerance,
    })
}

/// The median of `v` (0 for an empty slice); `v` holds finite values.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}
