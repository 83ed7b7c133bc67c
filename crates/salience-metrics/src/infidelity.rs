//! Infidelity (Yeh et al. 2019, "On the (in)fidelity and sensitivity of
//! explanations"; Decker et al. (2024) C.1).
//!
//! For a sample `x`, its attribution `Φ` and the target score `f`,
//!
//! ```text
//! INFD(Φ, f, x) = E_I[(IᵀΦ − (f(x) − f(x̃)))²]
//! ```
//!
//! estimated with `m` Monte Carlo perturbations `(x̃_j, I_j)` drawn by a
//! [`Perturbation`] (see [`crate::perturbation`] for `I`). **Lower is
//! better**; 0 means the attribution predicts every perturbation's effect
//! exactly (for a linear model `f(x) = wᵀx`, `Φ = w` with
//! [`Projection::Difference`], or `Φ = (x − x_b) ⊙ w` with
//! [`Projection::Indicator`] and a fixed baseline `x_b`).
//!
//! With [`InfidelityConfig::normalize`] (Yeh et al.'s implementation,
//! Captum's `normalize=True`, Decker et al. (2024)) the attribution is first rescaled
//! by the per-sample least-squares factor
//! `β = Σ_j a_j Δ_j / Σ_j a_j²` (`a_j = I_jᵀΦ`, `Δ_j = f(x) − f(x̃_j)`), so
//! the score is `mean_j (β a_j − Δ_j)²` and does not depend on the scale of
//! the map; a map with every `a_j = 0` is then undefined for its sample
//! ([`Undefined::DegenerateMap`]).
//!
//! All `N·(m + 1)` model inputs are generated chunk by chunk and evaluated
//! through [`salience_core::model::forward_generated`].
//!
//! [`infidelity_cumulative`] is Quantus' `Infidelity`, a different
//! quantity: patches are blackened **cumulatively in raster order** and the
//! squared error is averaged over the prefixes (no randomness, no β). On
//! the shipped CNN it measured 337 where the Monte Carlo estimate of
//! [`InfidelityConfig::quantus`] gave 1.53.

use crate::baseline::Baseline;
use crate::common::{check_batch_size, flat_inputs, flat_maps, geometry_with_maps, target_score};
use crate::insertion_deletion::ScoreKind;
use crate::perturbation::{checked_draws, McSettings, Perturbation, Projection};
use crate::scores::{sem_of, Outcome, Outcomes, Scores, Undefined};
use ndarray::{ArrayView3, ArrayViewD};
use salience_core::blur::GaussianBlur;
use salience_core::model::forward_generated;
use salience_core::spec::Validate;
use salience_core::{
    AttributionBatch, BatchSize, DegenerateReason, Model, Result, SalienceError, Seeds,
};

/// Options of [`infidelity()`].
///
/// | preset | perturbation | `I` | m | β | score |
/// |---|---|---|---|---|---|
/// | [`Default`], [`decker2024`](Self::decker2024) = [`paper`](Self::paper) (Decker et al. (2024) C.1) | 20 % of the pixels ← blurred image (σ 5, kernel 11) | indicator | 200 | yes | raw |
/// | [`captum`](Self::captum) | Gaussian noise σ = 0.003 (Captum's docs example; Captum has no default) | `x − x̃` | 10 | no | raw |
/// | [`captum_normalized`](Self::captum_normalized) | as `captum` | `x − x̃` | 10 | yes | raw |
/// | [`quantus`](Self::quantus) | one random 4×4 patch ← 0 ("black") | `x − x̃` | 10 | no | raw |
///
/// Quantus places its patches cumulatively in raster order (one forward per
/// patch); here each perturbation is one patch at a random position, which
/// is Yeh et al.'s "square removal" Monte Carlo estimate. Quantus' own
/// cumulative quantity is [`infidelity_cumulative`].
///
/// ```
/// use salience_metrics::{InfidelityConfig, Projection};
/// let c = InfidelityConfig::default();
/// assert_eq!((c.n_perturbations, c.normalize, c.projection), (200, true, Projection::Indicator));
/// assert!(!InfidelityConfig::captum().normalize);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfidelityConfig {
    /// How perturbations are drawn.
    pub perturbation: Perturbation,
    /// What `Φ` is projected on (ignored for Gaussian noise, where `I = ε`).
    pub projection: Projection,
    /// Perturbations per sample, `m` (≥ 1; ≥ 2 with `normalize`).
    pub n_perturbations: usize,
    /// Apply Yeh et al.'s β rescaling.
    pub normalize: bool,
    /// The target score `f`: raw output (default) or softmax probability.
    pub score: ScoreKind,
    /// Model inputs per forward call: [`BatchSize::Auto`] (default) is the
    /// largest chunk that fits the memory budget, at most the model's
    /// preferred batch size ([`salience_core::batch`]); `Fixed(n)` is `n`.
    /// Scores do not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
}

impl Default for InfidelityConfig {
    fn default() -> Self {
        Self::decker2024()
    }
}

impl InfidelityConfig {
    /// The former name of [`InfidelityConfig::decker2024`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `decker2024`"
    )]
    pub fn paper() -> Self {
        Self::decker2024()
    }

    /// Decker et al. (2024) C.1, the one preset shared with AGG_faith
    /// (`salience_optimize::FaithConfig::decker2024`): 20 % of the pixels
    /// replaced by the image blurred with [`GaussianBlur::rise`] (σ = 5,
    /// kernel 11, reflect border), indicator `I`, β normalisation, m = 200.
    /// Decker et al. (2024) do not specify their blur: σ = 5 with kernel 11
    /// (RISE's blur) is this crate's choice.
    /// AGG_faith's objective `wᵀGw` is this metric with `normalize: false`
    /// (β depends on the weights, so it cannot enter a fixed Gram) on the
    /// same perturbations (`salience_optimize::FaithConfig::reported_metric`).
    ///
    /// ```
    /// use salience_metrics::InfidelityConfig;
    /// assert_eq!(InfidelityConfig::decker2024(), InfidelityConfig::decker2024());
    /// ```
    pub fn decker2024() -> Self {
        let blur = GaussianBlur::rise();
        InfidelityConfig {
            perturbation: Perturbation::RandomPixels {
                share: 0.2,
                baseline: Baseline::Blur {
                    sigma: blur.sigma,
                    kernel_size: blur.kernel_size,
                },
            },
            projection: Projection::Indicator,
            n_perturbations: 200,
            normalize: true,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }

    /// Captum's `infidelity(..., n_perturb_samples=10, normalize=False)`
    /// with the Gaussian `perturb_func` of its documentation (σ = 0.003).
    ///
    /// ```
    /// let c = salience_metrics::InfidelityConfig::captum();
    /// assert_eq!(c.n_perturbations, 10);
    /// ```
    pub fn captum() -> Self {
        InfidelityConfig {
            perturbation: Perturbation::GaussianNoise { std: 0.003 },
            projection: Projection::Difference,
            n_perturbations: 10,
            normalize: false,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }

    /// [`captum`](Self::captum) with `normalize=True`.
    ///
    /// ```
    /// assert!(salience_metrics::InfidelityConfig::captum_normalized().normalize);
    /// ```
    pub fn captum_normalized() -> Self {
        InfidelityConfig {
            normalize: true,
            ..Self::captum()
        }
    }

    /// Quantus' `Infidelity` defaults: patch size 4, black baseline, 10
    /// perturbations, squared error, no β.
    ///
    /// ```
    /// use salience_metrics::{InfidelityConfig, Perturbation, Baseline};
    /// let c = InfidelityConfig::quantus();
    /// assert_eq!(c.perturbation, Perturbation::SquarePatch { size: 4, baseline: Baseline::Constant(0.0) });
    /// ```
    pub fn quantus() -> Self {
        InfidelityConfig {
            perturbation: Perturbation::SquarePatch {
                size: 4,
                baseline: Baseline::Constant(0.0),
            },
            projection: Projection::Difference,
            n_perturbations: 10,
            normalize: false,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }
}

impl Validate for InfidelityConfig {
    /// `n_perturbations` ≥ 1 (≥ 2 with `normalize`), a valid perturbation
    /// and a `batch_size` in range.
    fn validate(&self) -> Result<()> {
        let m = self.n_perturbations;
        if m == 0 {
            return Err(SalienceError::invalid("n_perturbations", 0, "must be ≥ 1"));
        }
        if self.normalize && m < 2 {
            return Err(SalienceError::invalid(
                "n_perturbations",
                m,
                "must be ≥ 2 with normalize (β is fitted over the perturbations)",
            ));
        }
        self.perturbation.validate()?;
        check_batch_size(self.batch_size)
    }
}

impl Validate for CumulativeInfidelityConfig {
    /// `patch_size` ≥ 1 (that it divides the image is checked against the
    /// inputs), a finite constant baseline and a `batch_size` in range.
    fn validate(&self) -> Result<()> {
        check_batch_size(self.batch_size)?;
        if let CumulativeBaseline::Constant(v) = self.baseline {
            if !v.is_finite() {
                return Err(SalienceError::invalid(
                    "baseline",
                    format!("Constant({v})"),
                    "must be finite",
                ));
            }
        }
        if self.patch_size == 0 {
            return Err(SalienceError::invalid(
                "patch_size",
                0,
                "must be ≥ 1 and divide the image size",
            ));
        }
        Ok(())
    }
}

/// Infidelity of each sample's attribution (lower is better); see the
/// [module docs](self).
///
/// `inputs` `[N, C, H, W]`, `[N, H, W]` or `[N, D]`; `attributions`
/// input-shaped, or pixel maps `[N, H, W]` of `[N, C, H, W]` inputs
/// (broadcast over channels); one target per sample; `seeds` seeds the
/// perturbations of each sample.
///
/// Returns per-sample [`Outcomes`] with each score's standard error over
/// its `m` perturbations ([`Outcomes::sem`]): the std (ddof = 1) of the
/// per-perturbation squared errors `(β a_j − Δ_j)²` divided by √m (with
/// `normalize`, β is the fitted factor, treated as fixed). With
/// `normalize`, a sample whose projections are all 0 is
/// [`Undefined::DegenerateMap`] (the other samples keep their scores;
/// [`Outcomes::strict`] gives the former error).
///
/// Errors: shape mismatches, NaN/Inf, `n_perturbations == 0`, invalid
/// perturbation parameters (a patch larger than the image;
/// [`Perturbation::RandomSegments`] needs segments: score through
/// [`Metric`](crate::Metric) with an [`EvalBatch`](crate::EvalBatch)
/// carrying them), bad targets, model failures.
///
/// ```
/// use ndarray::array;
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{infidelity, InfidelityConfig};
/// // f(x) = 2 x0 − x1: the gradient [2, −1] predicts every perturbation exactly.
/// let model = LinearModel::new(array![[2.0f32, -1.0]], array![0.0f32])?;
/// let x = array![[0.3f32, 0.7]];
/// let exact = AttributionBatch::from_tabular(array![[2.0f32, -1.0]])?;
/// let cfg = InfidelityConfig { normalize: false, ..InfidelityConfig::captum() };
/// let s = infidelity(&model, x.view().into_dyn(), &exact, &[0], &cfg, Seeds::base(0))?;
/// assert!(s.strict()?.values()[0] < 1e-9);
/// assert_eq!(s.draws(), Some(10));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn infidelity(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &InfidelityConfig,
    seeds: Seeds<'_>,
) -> Result<Outcomes> {
    run(model, inputs, attributions, None, targets, config, seeds)
}

/// [`infidelity()`] with optional superpixel `segments` `[N, H, W]` (any
/// `u32` labels) for [`Perturbation::RandomSegments`] (the
/// [`Metric`](crate::Metric) implementation passes the batch's segments).
pub(crate) fn run(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    segments: Option<ArrayView3<'_, u32>>,
    targets: &[usize],
    config: &InfidelityConfig,
    seeds: Seeds<'_>,
) -> Result<Outcomes> {
    config.validate()?;
    let m = config.n_perturbations;
    let settings = McSettings {
        perturbation: config.perturbation,
        projection: config.projection,
        m,
        score: config.score,
        batch_size: config.batch_size,
        metric: "infidelity",
    };
    let (g, draws) = checked_draws(
        model,
        inputs,
        attributions,
        segments,
        targets,
        settings,
        seeds,
    )?;
    let mut out = Vec::with_capacity(g.n);
    let mut sem = Vec::with_capacity(g.n);
    for i in 0..g.n {
        let a = draws.proj.row(i);
        let d = draws.delta.row(i);
        let beta = if config.normalize {
            let aa: f64 = a.iter().map(|v| v * v).sum();
            if aa <= 0.0 || !aa.is_finite() {
                out.push(Outcome::Undefined(Undefined::DegenerateMap(
                    DegenerateReason::AllZero,
                )));
                sem.push(0.0);
                continue;
            }
            a.iter().zip(d).map(|(x, y)| x * y).sum::<f64>() / aa
        } else {
            1.0
        };
        let per_draw = a.iter().zip(d).map(|(x, y)| (beta * x - y).powi(2));
        let infd = per_draw.clone().sum::<f64>() / m as f64;
        out.push(Outcome::Score(infd));
        sem.push(sem_of(per_draw));
    }
    Outcomes::new(out)?.with_sem(sem, m)
}

/// The value [`infidelity_cumulative`] sets the patches to.
///
/// ```
/// use salience_metrics::CumulativeBaseline;
/// assert_eq!(CumulativeBaseline::default(), CumulativeBaseline::SampleMin);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CumulativeBaseline {
    /// Quantus' `perturb_baseline="black"` (default): the minimum of the
    /// sample over all its channels and pixels (Quantus'
    /// `get_baseline_value("black")` is `arr.min()` of each sample, not 0).
    /// It equals `Constant(0.0)` only for inputs whose minimum is 0; on
    /// standardised inputs the two differ a lot (parity fixture, 3×8×8
    /// N(0, 1) inputs: 1188 vs 84.8).
    #[default]
    SampleMin,
    /// A constant in every channel (Quantus: a number as
    /// `perturb_baseline`, e.g. `0.0`).
    Constant(f32),
}

/// Options of [`infidelity_cumulative`] (Quantus' `Infidelity`).
///
/// ```
/// use salience_metrics::{CumulativeBaseline, CumulativeInfidelityConfig};
/// let c = CumulativeInfidelityConfig::default();
/// assert_eq!((c.patch_size, c.baseline), (4, CumulativeBaseline::SampleMin));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CumulativeInfidelityConfig {
    /// Side of the square patches (Quantus `perturb_patch_sizes=[4]`);
    /// must divide the image height and width.
    pub patch_size: usize,
    /// The value patches are set to, in every channel (default
    /// [`CumulativeBaseline::SampleMin`], Quantus' `"black"`).
    pub baseline: CumulativeBaseline,
    /// The target score `f`: raw output (default, Quantus' logits) or
    /// softmax probability.
    pub score: ScoreKind,
    /// Model inputs per forward call: [`BatchSize::Auto`] (default) is the
    /// largest chunk that fits the memory budget, at most the model's
    /// preferred batch size ([`salience_core::batch`]); `Fixed(n)` is `n`.
    /// Scores do not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
}

impl Default for CumulativeInfidelityConfig {
    fn default() -> Self {
        CumulativeInfidelityConfig {
            patch_size: 4,
            baseline: CumulativeBaseline::SampleMin,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }
}

/// Quantus' cumulative Infidelity of each sample's attribution (lower is
/// better). With `B` patches of `patch_size²` pixels in raster order
/// (left to right, then top to bottom) and `x_k` the input with patches
/// `1..=k` set to the baseline value in every channel (by default the
/// sample's minimum, Quantus' `"black"`; see [`CumulativeBaseline`]),
///
/// ```text
/// INFD_cum = (1/B) Σ_{k=1..B} ((f(x) − f(x_k)) − Σ Φ ⊙ (x − x_k))²
/// ```
///
/// one forward per patch. This is deterministic: Quantus'
/// `n_perturb_samples=10` repeats the same computation and averages equal
/// values. Quantus' `loss_func="mse"`, `normalise=False`, `abs=False` are
/// assumed (pass maps accordingly). `inputs` `[N, C, H, W]` or `[N, H, W]`;
/// `attributions` input-shaped or pixel maps `[N, H, W]` / `[N, 1, H, W]`
/// (broadcast over the channels, as Quantus' `np.broadcast_to`).
///
/// Equal to Quantus 0.6's `Infidelity` (`perturb_patch_sizes=[s]`, the
/// same baseline) to 1e-5 relative on the parity fixture
/// (`tests/quantus_parity.rs`: linear model, 3×8×8 inputs, patch sizes 4
/// and 2, `"black"` and `0.0`; measured maximum 4.3e-7), for input-shaped
/// and `[N, 1, H, W]` maps.
///
/// Tests pin hand-computed 2×2 cases: 11.5 for 1×1 patches (which also
/// pins the raster order — column order would give 12.25), 36 for one 2×2
/// patch, and 34 for a 2-channel input with a broadcast pixel map (the
/// same for `[N, 1, H, W]`).
///
/// Errors: `patch_size` 0 or not dividing H and W (Quantus' padding path
/// does not run for such sizes either), a non-finite
/// constant baseline, tabular inputs, shape mismatches, NaN/Inf, bad targets, model
/// failures.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel};
/// use salience_metrics::{infidelity_cumulative, CumulativeBaseline, CumulativeInfidelityConfig};
/// // f = Σ w ⊙ x on a 1×2×2 image, 1×1 patches, zero baseline: Φ = w is exact.
/// let model = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.0f32])?;
/// let x = Array4::from_elem((1, 1, 2, 2), 1.0f32);
/// let a = AttributionBatch::from_pixel_maps(array![[[1.0f32, 2.0], [3.0, 4.0]]])?;
/// let cfg = CumulativeInfidelityConfig {
///     patch_size: 1,
///     baseline: CumulativeBaseline::Constant(0.0),
///     ..Default::default()
/// };
/// let s = infidelity_cumulative(&model, x.view().into_dyn(), &a, &[0], &cfg)?;
/// assert_eq!(s.strict()?.values(), &[0.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn infidelity_cumulative(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &CumulativeInfidelityConfig,
) -> Result<Outcomes> {
    config.validate()?;
    let shape = inputs.shape().to_vec();
    let g = geometry_with_maps(&shape, attributions, "infidelity inputs")?;
    if g.tabular {
        return Err(SalienceError::shape(
            "infidelity inputs",
            "images [N, C, H, W] or [N, H, W]",
            &shape,
        ));
    }
    let s = config.patch_size;
    if g.h % s != 0 || g.w % s != 0 {
        return Err(SalienceError::invalid(
            "patch_size",
            s,
            &format!("must be ≥ 1 and divide the image size {}×{}", g.h, g.w),
        ));
    }
    salience_core::validate::check_targets(targets, g.n, model.num_classes())?;
    let x = flat_inputs(inputs, &g, "infidelity inputs")?;
    let phi = flat_maps(attributions, "infidelity attributions")?;
    let (bw, blocks) = (g.w / s, (g.h / s) * (g.w / s));
    let per = blocks + 1;
    // The pixels (row-major indices) of block b, raster order.
    let block_pixels = |b: usize| {
        let (by, bx) = (b / bw, b % bw);
        (0..s).flat_map(move |dy| (0..s).map(move |dx| (by * s + dy) * g.w + bx * s + dx))
    };
    let total =
        g.n.checked_mul(per)
            .ok_or_else(|| SalienceError::invalid("inputs", g.n, "too many model evaluations"))?;
    // The value each sample's patches are set to.
    let baselines: Vec<f32> = (0..g.n)
        .map(|i| match config.baseline {
            CumulativeBaseline::Constant(v) => v,
            CumulativeBaseline::SampleMin => x.row(i).iter().copied().fold(f32::INFINITY, f32::min),
        })
        .collect();
    let outputs = forward_generated(
        model,
        total,
        &shape[1..],
        config.batch_size.get(),
        |start, mut buf| {
            for (r, mut row) in buf.axis_iter_mut(ndarray::Axis(0)).enumerate() {
                let (i, k) = ((start + r) / per, (start + r) % per);
                let out = row
                    .as_slice_mut()
                    .ok_or_else(|| SalienceError::backend_msg("non-contiguous chunk buffer"))?;
                for (o, &v) in out.iter_mut().zip(x.row(i)) {
                    *o = v;
                }
                for b in 0..k {
                    for px in block_pixels(b) {
                        for ch in 0..g.c {
                            out[ch * g.p + px] = baselines[i];
                        }
                    }
                }
            }
            Ok(())
        },
    )?;
    let mut scores = Vec::with_capacity(g.n);
    for (i, &t) in targets.iter().enumerate() {
        let row = |r: usize| outputs.row(r).iter().copied().collect::<Vec<f32>>();
        let f0 = target_score(&row(i * per), t, config.score);
        let (xi, phi_i) = (x.row(i), phi.row(i));
        let phi_i = phi_i
            .as_slice()
            .ok_or_else(|| SalienceError::backend_msg("non-contiguous maps"))?;
        let mut proj = 0.0f64;
        let mut sse = 0.0f64;
        for b in 0..blocks {
            for px in block_pixels(b) {
                for ch in 0..g.c {
                    let k = ch * g.p + px;
                    proj += g.phi(phi_i, k) as f64 * (xi[k] as f64 - baselines[i] as f64);
                }
            }
            let delta = f0 - target_score(&row(i * per + b + 1), t, config.score);
            sse += (delta - proj).powi(2);
        }
        scores.push(sse / blocks as f64);
    }
    Ok(Outcomes::from(Scores::new(scores)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2, Array4};
    use salience_core::LinearModel;

    fn linear_image() -> (LinearModel, Array4<f32>, Array2<f32>) {
        // 2 classes over 2×3×3 images.
        let w = Array2::from_shape_fn((2, 18), |(k, j)| ((k * 5 + j * 7) % 11) as f32 / 5.0 - 1.0);
        let m = LinearModel::new(w.clone(), array![0.3f32, -0.2]).unwrap();
        let x = Array4::from_shape_fn((3, 2, 3, 3), |(n, c, y, xx)| {
            ((n * 13 + c * 5 + y * 3 + xx) % 9) as f32 / 9.0
        });
        (m, x, w)
    }

    #[test]
    fn standard_error_over_draws_hand_checked() {
        // Φ = 0: every draw's error is Δ_j² > 0 (Gaussian noise on a
        // linear model), so the SEM is positive, finite and bounded by
        // max_j error_j / √m ≤ m·mean / √m. sem_of itself is checked by hand
        // below.
        let (m, x, _) = linear_image();
        let zero = AttributionBatch::from_images(Array4::zeros((3, 2, 3, 3))).unwrap();
        let cfg = InfidelityConfig {
            normalize: false,
            n_perturbations: 12,
            ..InfidelityConfig::captum()
        };
        let d = infidelity(
            &m,
            x.view().into_dyn(),
            &zero,
            &[0, 1, 0],
            &cfg,
            Seeds::base(9),
        )
        .unwrap();
        let plain = infidelity(
            &m,
            x.view().into_dyn(),
            &zero,
            &[0, 1, 0],
            &cfg,
            Seeds::base(9),
        )
        .unwrap();
        assert_eq!(d, plain);
        let sem = d.sem().unwrap();
        assert_eq!((d.draws(), sem.len()), (Some(12), 3));
        // SEM ≥ 0, finite, and ≤ the largest possible: std ≤ max error ≤ 12·mean.
        for (s, v) in sem.iter().zip(plain.strict().unwrap().values()) {
            assert!(
                s.is_finite() && *s > 0.0 && *s <= 12.0 * v / 12f64.sqrt(),
                "{s} {v}"
            );
        }
        // Exact map: every error is 0, so the SEM is 0.
        assert_eq!(sem_of([0.0f64; 5].into_iter()), 0.0);
        // sem_of by hand: [1, 2, 3, 4] → std √(5/3), sem √(5/3)/2.
        assert!(
            (sem_of([1.0, 2.0, 3.0, 4.0].into_iter()) - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15
        );
    }

    #[test]
    fn one_channel_maps_equal_pixel_maps() {
        // [N, 1, H, W] maps of 2-channel inputs are broadcast like [N, H, W]
        // ones (before: ShapeMismatch).
        let (m, x, _) = linear_image();
        let px = ndarray::Array3::from_shape_fn((3, 3, 3), |(n, y, xx)| {
            (n + 2 * y + xx) as f32 / 4.0 - 1.0
        });
        let one = AttributionBatch::from_images(px.clone().insert_axis(ndarray::Axis(1))).unwrap();
        let px = AttributionBatch::from_pixel_maps(px).unwrap();
        let patch = Perturbation::SquarePatch {
            size: 2,
            baseline: Baseline::Constant(0.0),
        };
        let quantus = InfidelityConfig {
            perturbation: patch,
            ..InfidelityConfig::quantus()
        };
        for cfg in [quantus, InfidelityConfig::decker2024()] {
            let cfg = InfidelityConfig {
                n_perturbations: 6,
                ..cfg
            };
            let go = |a: &AttributionBatch| {
                infidelity(&m, x.view().into_dyn(), a, &[0, 1, 0], &cfg, Seeds::base(4)).unwrap()
            };
            assert_eq!(go(&one), go(&px));
        }
    }

    #[test]
    fn cumulative_hand_computed() {
        // f = w·x, w = [1, 2, 3, 4] on a 1×2×2 image of ones, Φ = 1, 1×1
        // patches in raster order 0, 1, 2, 3: Δ_k = 1, 3, 6, 10 and
        // ΣΦ(x − x_k) = 1, 2, 3, 4 → errors 0, 1, 3, 6 → (0+1+9+36)/4 = 11.5
        // (column-major order would give 12.25).
        let m = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.0f32]).unwrap();
        let x = Array4::from_elem((1, 1, 2, 2), 1.0f32);
        let a = AttributionBatch::from_pixel_maps(ndarray::Array3::from_elem((1, 2, 2), 1.0f32))
            .unwrap();
        let c1 = CumulativeInfidelityConfig {
            patch_size: 1,
            baseline: CumulativeBaseline::Constant(0.0),
            ..Default::default()
        };
        let s = infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &c1).unwrap();
        assert_eq!(s.strict().unwrap().values(), &[11.5]);
        // One 2×2 patch: (10 − 4)² = 36.
        let c2 = CumulativeInfidelityConfig {
            patch_size: 2,
            baseline: CumulativeBaseline::Constant(0.0),
            ..Default::default()
        };
        let s = infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &c2).unwrap();
        assert_eq!(s.strict().unwrap().values(), &[36.0]);
        // The default 4×4 patch does not divide 2×2: typed error.
        assert!(matches!(
            infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &Default::default()),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn cumulative_default_baseline_is_the_sample_minimum() {
        // Quantus' "black" is each sample's minimum, not 0. f = w·x,
        // w = [1, 2, 3, 4], x = [2, 1, 3, 5] (min 1), Φ = 1, 1×1 patches:
        // x − x_k gains 1, 0, 2, 4 → projections 1, 1, 3, 7; Δ gains
        // 1·1, 2·0, 3·2, 4·4 → 1, 1, 7, 23; errors 0, 0, 4, 16 →
        // (0 + 0 + 16 + 256)/4 = 68 (a 0 baseline gives 133.5, below).
        let m = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.0f32]).unwrap();
        let x = Array4::from_shape_vec((1, 1, 2, 2), vec![2.0f32, 1.0, 3.0, 5.0]).unwrap();
        let a = AttributionBatch::from_pixel_maps(ndarray::Array3::from_elem((1, 2, 2), 1.0f32))
            .unwrap();
        let c = CumulativeInfidelityConfig {
            patch_size: 1,
            ..Default::default()
        };
        let s = infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &c).unwrap();
        assert_eq!(s.strict().unwrap().values(), &[68.0]);
        // Zero baseline: projections 2, 3, 6, 11; Δ 2, 4, 13, 33; errors
        // 0, 1, 7, 22 → (0 + 1 + 49 + 484)/4 = 133.5.
        let zero = CumulativeInfidelityConfig {
            baseline: CumulativeBaseline::Constant(0.0),
            ..c
        };
        let s = infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &zero).unwrap();
        assert_eq!(s.strict().unwrap().values(), &[133.5]);
        let nan = CumulativeInfidelityConfig {
            baseline: CumulativeBaseline::Constant(f32::NAN),
            ..c
        };
        assert!(matches!(
            infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &nan),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn cumulative_broadcasts_pixel_maps_over_channels() {
        // 2 channels of a 1×2 image of ones, w = [ch0: 1, 2 | ch1: 3, 4],
        // pixel map Φ = [1, 0]. Block 0: Δ = 1 + 3 = 4, ΣΦ(x − x₁) = 2 → 4;
        // block 1: Δ = 10, projection still 2 → 64. Mean 34.
        let m = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.0f32]).unwrap();
        let x = Array4::from_elem((1, 2, 1, 2), 1.0f32);
        let c = CumulativeInfidelityConfig {
            patch_size: 1,
            baseline: CumulativeBaseline::Constant(0.0),
            ..Default::default()
        };
        let px = AttributionBatch::from_pixel_maps(array![[[1.0f32, 0.0]]]).unwrap();
        let one = AttributionBatch::from_images(
            Array4::from_shape_vec((1, 1, 1, 2), vec![1.0f32, 0.0]).unwrap(),
        )
        .unwrap();
        for a in [px, one] {
            let s = infidelity_cumulative(&m, x.view().into_dyn(), &a, &[0], &c).unwrap();
            assert_eq!(s.strict().unwrap().values(), &[34.0]);
        }
    }

    #[test]
    fn exact_linear_attribution_has_zero_infidelity() {
        let (m, x, w) = linear_image();
        let targets = [0usize, 1, 1];
        // Φ = W[target] with I = x − x̃: zero for every perturbation kind.
        let grad = Array4::from_shape_fn((3, 2, 3, 3), |(n, c, y, xx)| {
            w[[targets[n], c * 9 + y * 3 + xx]]
        });
        let grad = AttributionBatch::from_images(grad).unwrap();
        let kinds = [
            Perturbation::GaussianNoise { std: 0.5 },
            Perturbation::SquarePatch {
                size: 2,
                baseline: Baseline::Constant(0.3),
            },
            Perturbation::RandomPixels {
                share: 0.2,
                baseline: Baseline::Blur {
                    sigma: 1.0,
                    kernel_size: 3,
                },
            },
            Perturbation::RandomPixelCount {
                count: 4,
                baseline: Baseline::RandomNormal,
            },
        ];
        for p in kinds {
            for normalize in [false, true] {
                let cfg = InfidelityConfig {
                    perturbation: p,
                    projection: Projection::Difference,
                    n_perturbations: 12,
                    normalize,
                    score: ScoreKind::Raw,
                    batch_size: BatchSize::fixed(5).unwrap(),
                };
                let s = infidelity(
                    &m,
                    x.view().into_dyn(),
                    &grad,
                    &targets,
                    &cfg,
                    Seeds::base(9),
                )
                .unwrap();
                assert!(
                    s.strict().unwrap().values().iter().all(|&v| v < 1e-9),
                    "{p:?} {normalize}: {:?}",
                    s.strict().unwrap().values()
                );
            }
        }
        // Indicator I with a fixed baseline: Φ = (x − x_b) ⊙ W is exact.
        let xb = 0.3f32;
        let ixg = Array4::from_shape_fn((3, 2, 3, 3), |(n, c, y, xx)| {
            (x[[n, c, y, xx]] - xb) * w[[targets[n], c * 9 + y * 3 + xx]]
        });
        let ixg = AttributionBatch::from_images(ixg).unwrap();
        let cfg = InfidelityConfig {
            perturbation: Perturbation::RandomPixels {
                share: 0.3,
                baseline: Baseline::Constant(xb),
            },
            normalize: false,
            n_perturbations: 20,
            ..Default::default()
        };
        let s = infidelity(
            &m,
            x.view().into_dyn(),
            &ixg,
            &targets,
            &cfg,
            Seeds::base(1),
        )
        .unwrap();
        assert!(
            s.strict().unwrap().values().iter().all(|&v| v < 1e-9),
            "{:?}",
            s.strict().unwrap().values()
        );
        // Twice the exact map: nonzero without β, zero with β.
        let twice = AttributionBatch::from_images(
            ixg.view().mapv(|v| 2.0 * v).into_dimensionality().unwrap(),
        )
        .unwrap();
        let s = infidelity(
            &m,
            x.view().into_dyn(),
            &twice,
            &targets,
            &cfg,
            Seeds::base(1),
        )
        .unwrap();
        assert!(s.strict().unwrap().values().iter().all(|&v| v > 1e-4));
        let cfg_b = InfidelityConfig {
            normalize: true,
            ..cfg
        };
        let s = infidelity(
            &m,
            x.view().into_dyn(),
            &twice,
            &targets,
            &cfg_b,
            Seeds::base(1),
        )
        .unwrap();
        assert!(
            s.strict().unwrap().values().iter().all(|&v| v < 1e-9),
            "{:?}",
            s.strict().unwrap().values()
        );
    }

    #[test]
    fn hand_computed_single_pixel_case() {
        // f(x) = x0 + 2 x1 + 3 x2 on x = [1, 1, 1]; one pixel set to 0 per
        // perturbation (count 1, black), indicator I, Φ = [1, 1, 1]:
        // a = 1 and Δ ∈ {1, 2, 3} → squared errors {0, 1, 4}.
        let m = LinearModel::new(array![[1.0f32, 2.0, 3.0]], array![0.0f32]).unwrap();
        let x = array![[1.0f32, 1.0, 1.0]];
        let a = AttributionBatch::from_tabular(array![[1.0f32, 1.0, 1.0]]).unwrap();
        let cfg = InfidelityConfig {
            perturbation: Perturbation::RandomPixelCount {
                count: 1,
                baseline: Baseline::Constant(0.0),
            },
            projection: Projection::Indicator,
            n_perturbations: 300,
            normalize: false,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        };
        let s = infidelity(&m, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(2)).unwrap();
        // Each squared error is 0, 1 or 4, so 300·INFD is an integer; its
        // expectation is 5/3.
        let v = s.strict().unwrap().values()[0];
        // Every pixel replaced (count = P): a = ΣΦ = 3, Δ = 6 − 0 = 6 → 9 exactly; β = 2 → 0.
        let all = InfidelityConfig {
            perturbation: Perturbation::RandomPixelCount {
                count: 3,
                baseline: Baseline::Constant(0.0),
            },
            n_perturbations: 2,
            ..cfg
        };
        let s9 = infidelity(&m, x.view().into_dyn(), &a, &[0], &all, Seeds::base(2)).unwrap();
        assert_eq!(s9.strict().unwrap().values(), &[9.0]);
        let s0 = infidelity(
            &m,
            x.view().into_dyn(),
            &a,
            &[0],
            &InfidelityConfig {
                normalize: true,
                ..all
            },
            Seeds::base(2),
        )
        .unwrap();
        assert_eq!(s0.strict().unwrap().values(), &[0.0]);
        assert!(((v * 300.0) - (v * 300.0).round()).abs() < 1e-9);
        assert!((v - 5.0 / 3.0).abs() < 0.35, "{v}");
        // With β: β = Σ aΔ / Σ a² = mean Δ, the score is the variance of Δ
        // (population), 2/3 in expectation.
        let sb = infidelity(
            &m,
            x.view().into_dyn(),
            &a,
            &[0],
            &InfidelityConfig {
                normalize: true,
                ..cfg
            },
            Seeds::base(2),
        )
        .unwrap();
        assert!(
            sb.strict().unwrap().values()[0] < v
                && (sb.strict().unwrap().values()[0] - 2.0 / 3.0).abs() < 0.15,
            "{}",
            sb.strict().unwrap().values()[0]
        );
    }

    #[test]
    fn seeded_and_chunk_invariant() {
        let (m, x, _) = linear_image();
        let a = AttributionBatch::from_images(x.mapv(|v| v * v - 0.2)).unwrap();
        let run = |bs: Option<usize>, seed: u64| {
            let cfg = InfidelityConfig {
                n_perturbations: 6,
                batch_size: BatchSize::from_option(bs).unwrap(),
                ..Default::default()
            };
            infidelity(
                &m,
                x.view().into_dyn(),
                &a,
                &[0, 1, 0],
                &cfg,
                Seeds::base(seed),
            )
            .unwrap()
        };
        let r = run(Some(1), 4);
        for bs in [Some(2), Some(7), Some(64), None] {
            assert_eq!(run(bs, 4), r);
        }
        assert_ne!(run(None, 5), r);
        // A sub-batch with the same per-sample seeds gives the same score.
        let seeds = [7u64, 8, 9];
        let cfg = InfidelityConfig {
            n_perturbations: 6,
            perturbation: Perturbation::SquarePatch {
                size: 2,
                baseline: Baseline::Constant(0.0),
            },
            ..InfidelityConfig::quantus()
        };
        let full = infidelity(
            &m,
            x.view().into_dyn(),
            &a,
            &[0, 1, 0],
            &cfg,
            Seeds::per_sample(&seeds),
        )
        .unwrap();
        let x2 = x.slice(ndarray::s![2..3, .., .., ..]).to_owned();
        let a2 = AttributionBatch::from_images(
            a.view()
                .slice(ndarray::s![2..3, .., .., ..])
                .to_owned()
                .into_dimensionality()
                .unwrap(),
        )
        .unwrap();
        let one = infidelity(
            &m,
            x2.view().into_dyn(),
            &a2,
            &[0],
            &cfg,
            Seeds::per_sample(&seeds[2..]),
        )
        .unwrap();
        assert_eq!(
            one.strict().unwrap().values()[0],
            full.strict().unwrap().values()[2]
        );
    }

    #[test]
    fn bad_input_is_typed() {
        let (m, x, _) = linear_image();
        let a = AttributionBatch::from_images(x.clone()).unwrap();
        let xv = x.view().into_dyn();
        let s = Seeds::base(0);
        let t = [0usize, 0, 0];
        let invalid = |cfg: &InfidelityConfig| {
            matches!(
                infidelity(&m, xv.clone(), &a, &t, cfg, s),
                Err(SalienceError::InvalidParameter { .. })
            )
        };
        let zero = InfidelityConfig {
            n_perturbations: 0,
            ..Default::default()
        };
        assert!(invalid(&zero));
        let big = InfidelityConfig {
            perturbation: Perturbation::SquarePatch {
                size: 4,
                baseline: Baseline::Constant(0.0),
            },
            ..Default::default()
        };
        assert!(invalid(&big));
        let seg = InfidelityConfig {
            perturbation: Perturbation::RandomSegments {
                share: 0.2,
                baseline: Baseline::Constant(0.0),
            },
            ..Default::default()
        };
        assert!(invalid(&seg));
        let segs = ndarray::Array3::<u32>::zeros((3, 2, 3));
        assert!(matches!(
            run(&m, xv.clone(), &a, Some(segs.view()), &t, &seg, s),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        let wrong = AttributionBatch::from_pixel_maps(ndarray::Array3::zeros((3, 3, 2))).unwrap();
        assert!(matches!(
            infidelity(&m, xv.clone(), &wrong, &t, &Default::default(), s),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            infidelity(&m, xv.clone(), &a, &[0, 0, 2], &Default::default(), s),
            Err(SalienceError::TargetOutOfRange { .. })
        ));
        let zeros = AttributionBatch::from_images(Array4::zeros((3, 2, 3, 3))).unwrap();
        assert!(matches!(
            infidelity(&m, xv.clone(), &zeros, &t, &Default::default(), s).and_then(|o| o.strict()),
            Err(SalienceError::DegenerateMap { .. })
        ));
        let mut xn = x.clone();
        xn[[1, 0, 0, 0]] = f32::NAN;
        assert!(matches!(
            infidelity(&m, xn.view().into_dyn(), &a, &t, &Default::default(), s),
            Err(SalienceError::NonFinite { .. })
        ));
        let tab = array![[1.0f32, 2.0]];
        let lm = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32]).unwrap();
        let ta = AttributionBatch::from_tabular(tab.clone()).unwrap();
        assert!(matches!(
            infidelity(
                &lm,
                tab.view().into_dyn(),
                &ta,
                &[0],
                &Default::default(),
                s
            ),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}
