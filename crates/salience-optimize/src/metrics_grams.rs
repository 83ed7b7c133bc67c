//! The Gram matrices of AGG_robust and AGG_faith, built from a black-box
//! [`Model`] and a panel of [`Explainer`]s through the salience-core traits
//! only (Decker et al. 2024, Section 4 and App. C.1–C.2).
//!
//! * [`robust_gram`]: Average-Sensitivity of the aggregate,
//!   (1/m) Σ_j ‖φ_w(x) − φ_w(x + ε⁽ʲ⁾)‖², ε⁽ʲ⁾ ~ U\[−r, r\]^d. The panel is
//!   re-run on all m perturbations of all N inputs, `batch_size` perturbed
//!   inputs per [`Explainer::explain`] call.
//! * [`faith_gram`]: Infidelity with binary perturbations,
//!   (1/m) Σ_j (I⁽ʲ⁾ᵀφ_w(x) − (f_t(x) − f_t(h(x, x_b, I⁽ʲ⁾))))², where
//!   h replaces the masked pixels (all channels) by the baseline x_b (a
//!   blurred copy of x by default). The m perturbed inputs of every input
//!   go through [`forward_generated`] in chunks.
//!
//! **Map normalization (App. C.2).** The paper normalizes every attribution
//! map to \[0, 1\] "by taking the absolute value and rescaling based on the
//! maximum", |φ|/max|φ| ([`Normalization::AbsMax`], the default of
//! [`MapNormalization`]). Sensitivity compares maps of the same method, so
//! Φ(x) and Φ(x + ε) must be normalized the same way: [`explain_panel`]
//! builds Φ(x) with the normalization that [`robust_gram`] applies to the
//! perturbed maps. aggopt instead takes |φ|, min-max scales it and then
//! blurs it (σ = 1); that post-processing is not reproduced.
//!
//! **Infidelity and its normalization.** γ1 = Iᵀ is the 0/1 row marking
//! every attribution feature of the masked pixels (all channels for
//! `[N, C, H, W]` maps, the pixel for `[N, H, W]` maps), γ2 = f_t(x) −
//! f_t(x̃) with the raw model scores (no softmax), as in App. C.1 and
//! aggopt. Yeh et al.'s and Captum's `infidelity` differ in two ways:
//! 1. their γ1 is the perturbation *vector* I = x − x̃ (so Iᵀφ = Σ (x − x̃)⊙φ,
//!    which makes φ = ∇f exact), while the paper and aggopt use the binary
//!    indicator (so φ = (x − x_b) ⊙ ∇f — Integrated-Gradients-like
//!    attributions against the same baseline — is exact). A caller who wants
//!    Captum's γ1 can build [`crate::Query::Sparse`] rows with the weights
//!    x − x̃ and accumulate them with [`crate::GramAccumulator`];
//! 2. `normalize=True` rescales the explanation by the least-squares factor
//!    β = E\[Iᵀφ·Δf\]/E\[(Iᵀφ)²\] before squaring. For the aggregate φ_w,
//!    β(w) depends on w, and the β-normalized infidelity
//!    E\[Δf²\] − E\[Iᵀφ_w·Δf\]²/E\[(Iᵀφ_w)²\] is a ratio of quadratics in w,
//!    not wᵀGw for a fixed G, so it is not a generalized L2 metric of φ_w
//!    and is not offered. (aggopt rescales each *method* by its own β_i
//!    before building the Gram, i.e. it optimizes the plain infidelity of
//!    Σ w_i β_i φ_i — a different aggregate from the one it returns; not
//!    reproduced.) Note that because the paper normalizes maps to \[0, 1\]
//!    while Δf is in logit units, the un-normalized infidelity mostly
//!    rewards scale; pass [`Normalization::None`] to optimize the raw maps.
//!
//! **Seeds.** Perturbation j of input i is drawn from
//! `derive_seed(derive_seed(seeds.for_sample(i), tag), j)` with a tag per
//! metric and [`SeedStream`]; explainers on perturbed inputs get the seeds
//! of [`ExplainerSeeds`]. The Grams are accumulated exactly
//! ([`crate::GramAccumulator`]), so they are bitwise identical for any
//! chunk size and thread count.

use crate::gram::{Gram, GramAccumulator};
use crate::perturb::{
    mask_features, perturbation_seed, replace_pixels, sample_slice, Baseline, InputGeometry,
    MetricKind, PixelMasks, SeedStream, UniformNoise,
};
use crate::query::{Mask, Query};
use ndarray::{Array2, ArrayD, ArrayViewD, Axis, IxDyn};
use rayon::prelude::*;
use salience_core::model::{forward_chunked, forward_generated};
use salience_core::seed::derive_seed;
use salience_core::validate::{check_finite, check_targets};
use salience_core::{
    explain_ensemble, AttributionBatch, BatchSize, DegeneratePolicy, Ensemble, Explainer, Model,
    Normalization, Result, SalienceError, Seeds,
};
use salience_metrics::{
    Baseline as MetricBaseline, InfidelityConfig, Perturbation, Projection, ScoreKind,
    AUTO_EXPLAIN_BATCH,
};

/// Tag of the explainer seeds of a perturbed input under
/// [`ExplainerSeeds::Fresh`].
const EXPLAIN_TAG: u64 = 0x4558_504C_0000_0001;

/// How every attribution map is normalized before it enters a Gram.
///
/// ```
/// use salience_core::{DegeneratePolicy, Normalization};
/// let n = salience_optimize::MapNormalization::default();
/// assert_eq!((n.method, n.degenerate), (Normalization::AbsMax, DegeneratePolicy::Error));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapNormalization {
    /// The per-map normalization (App. C.2: abs-max, |φ|/max|φ| ∈ \[0, 1\]).
    pub method: Normalization,
    /// What to do with a map it is undefined for (all zero for abs-max).
    pub degenerate: DegeneratePolicy,
}

impl Default for MapNormalization {
    /// Abs-max, with a typed error on an all-zero map.
    fn default() -> Self {
        MapNormalization {
            method: Normalization::AbsMax,
            degenerate: DegeneratePolicy::Error,
        }
    }
}

impl MapNormalization {
    /// No normalization (raw maps).
    ///
    /// ```
    /// use salience_core::Normalization;
    /// assert_eq!(salience_optimize::MapNormalization::none().method, Normalization::None);
    /// ```
    pub fn none() -> Self {
        MapNormalization {
            method: Normalization::None,
            degenerate: DegeneratePolicy::Error,
        }
    }
}

/// The seeds stochastic explainers get on a perturbed input x_i + ε⁽ʲ⁾.
///
/// ```
/// assert_eq!(salience_optimize::ExplainerSeeds::default(), salience_optimize::ExplainerSeeds::Shared);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExplainerSeeds {
    /// The seeds of the clean input x_i (those of [`explain_panel`]):
    /// common random numbers, so the sensitivity measures the effect of ε
    /// and not the explainer's own sampling noise.
    #[default]
    Shared,
    /// Fresh seeds per perturbation: the explainer's sampling noise counts
    /// as instability too (aggopt's unseeded behaviour).
    Fresh,
}

/// The settings of [`robust_gram`].
///
/// ```
/// let c = salience_optimize::RobustConfig::default();
/// assert_eq!((c.samples, c.noise.radius), (50, 0.1));
/// assert_eq!(c.batch_size, salience_core::BatchSize::Auto); // 32 per explain call
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustConfig {
    /// m, the number of noise samples per input (m_agg = 50 in the paper).
    pub samples: usize,
    /// The noise ε (U\[−0.1, 0.1\]).
    pub noise: UniformNoise,
    /// Perturbed inputs per [`Explainer::explain`] call. Default
    /// [`BatchSize::Auto`]: [`AUTO_EXPLAIN_BATCH`] (32) per call, the
    /// sensitivity metric's `Auto`; the Grams do not depend on it.
    pub batch_size: BatchSize,
    /// Normalization of the perturbed maps; must be the one Φ(x) was
    /// normalized with.
    pub normalization: MapNormalization,
    /// Seeds of the explainers on perturbed inputs.
    pub explainer_seeds: ExplainerSeeds,
    /// Which perturbation stream (fitting or held-out evaluation).
    pub stream: SeedStream,
}

impl Default for RobustConfig {
    fn default() -> Self {
        RobustConfig {
            samples: 50,
            noise: UniformNoise::default(),
            batch_size: BatchSize::Auto,
            normalization: MapNormalization::default(),
            explainer_seeds: ExplainerSeeds::Shared,
            stream: SeedStream::Fit,
        }
    }
}

/// The settings of [`faith_gram`].
///
/// ```
/// use salience_optimize::{Baseline, FaithConfig};
/// let c = FaithConfig::default();
/// assert_eq!((c.samples, c.masks.share), (50, 0.2));
/// assert!(matches!(c.baseline, Baseline::Blur(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaithConfig<'a> {
    /// m, the number of binary perturbations per input (m_agg = 50).
    pub samples: usize,
    /// How the masks I are drawn (20% of the pixels by default).
    pub masks: PixelMasks,
    /// The values that replace the masked pixels.
    pub baseline: Baseline<'a>,
    /// Perturbed inputs per model call. Default [`BatchSize::Auto`] (the
    /// largest chunk the memory budget allows, at most
    /// [`Model::preferred_batch_size`]; see [`salience_core::batch`]); the
    /// Grams do not depend on it.
    pub batch_size: BatchSize,
    /// Which perturbation stream (fitting or held-out evaluation).
    pub stream: SeedStream,
}

impl Default for FaithConfig<'_> {
    /// [`FaithConfig::decker2024`].
    fn default() -> Self {
        FaithConfig::decker2024()
    }
}

impl FaithConfig<'_> {
    /// Decker et al. (2024) C.1–C.2, the preset shared with the metric that
    /// reports it (`salience_metrics::InfidelityConfig::decker2024`):
    /// m = 50 fitting perturbations (m_agg), 20 % of the pixels replaced by
    /// the image blurred with σ = 5, kernel 11 (reflect border).
    ///
    /// ```
    /// use salience_optimize::FaithConfig;
    /// let c = FaithConfig::decker2024();
    /// let m = c.reported_metric()?;
    /// let paper = salience_metrics::InfidelityConfig::decker2024();
    /// assert_eq!(m.perturbation, paper.perturbation);
    /// assert_eq!((m.projection, m.score), (paper.projection, paper.score));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn decker2024() -> Self {
        FaithConfig {
            samples: 50,
            masks: PixelMasks::default(),
            baseline: Baseline::default(),
            batch_size: BatchSize::Auto,
            stream: SeedStream::Fit,
        }
    }

    /// The infidelity metric whose per-sample score is this Gram's
    /// objective: for sample i with seed `s_i`, `wᵀ G_i w` equals
    /// `salience_metrics::infidelity` of the aggregated map φ_w = Φw with this
    /// config and the sample seed `self.stream.infidelity_seed(s_i)`
    /// ([`SeedStream::infidelity_seed`]): the same masks (random pixels,
    /// all channels), the same baseline, indicator `I`, raw scores, no β
    /// (`normalize: false`; β depends on w and cannot enter a fixed Gram —
    /// set `normalize: true` to report Decker et al.'s β-normalised value,
    /// which is ≤ the objective).
    ///
    /// Errors: [`MaskShape::Squares`](crate::MaskShape::Squares) and
    /// [`MaskShape::Grid`](crate::MaskShape::Grid) masks and
    /// [`Baseline::Given`] baselines have no metric twin
    /// ([`SalienceError::InvalidParameter`]).
    pub fn reported_metric(&self) -> Result<InfidelityConfig> {
        if self.masks.shape != crate::MaskShape::Pixels {
            return Err(SalienceError::invalid(
                "faith masks",
                format!("{:?}", self.masks.shape),
                "only MaskShape::Pixels has an infidelity-metric twin",
            ));
        }
        let baseline = match &self.baseline {
            Baseline::Blur(b) => MetricBaseline::Blur {
                sigma: b.sigma,
                kernel_size: b.kernel_size,
            },
            Baseline::Zeros => MetricBaseline::Constant(0.0),
            Baseline::Given(_) => {
                return Err(SalienceError::invalid(
                    "faith baseline",
                    "Given",
                    "a given baseline has no infidelity-metric twin",
                ))
            }
        };
        Ok(InfidelityConfig {
            perturbation: Perturbation::RandomPixels {
                share: self.masks.share,
                baseline,
            },
            projection: Projection::Indicator,
            n_perturbations: self.samples,
            normalize: false,
            score: ScoreKind::Raw,
            batch_size: self.batch_size,
        })
    }
}

/// Φ(x): runs the panel on `x` ([`explain_ensemble`], so method m of input
/// i gets the seed `derive_seed(seeds.for_sample(i), m)`) and normalizes
/// every map.
///
/// ```
/// use ndarray::array;
/// use salience_core::{AttributionBatch, Explainer, Seeds};
/// use salience_optimize::{explain_panel, MapNormalization};
/// struct Twice;
/// impl Explainer for Twice {
///     fn name(&self) -> &str { "twice" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> {
///         AttributionBatch::new(x.mapv(|v| 2.0 * v))
///     }
/// }
/// let x = array![[1.0f32, -4.0]].into_dyn();
/// let e = explain_panel(&[Twice], x.view(), &[0], &MapNormalization::default(), Seeds::base(0))?;
/// assert_eq!(e.map(0)?.iter().copied().collect::<Vec<_>>(), vec![0.25, 1.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn explain_panel<E: Explainer>(
    panel: &[E],
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    normalization: &MapNormalization,
    seeds: Seeds<'_>,
) -> Result<Ensemble> {
    let geo = InputGeometry::of(&x)?;
    check_finite(&x, "inputs")?;
    if targets.len() != geo.n {
        return Err(SalienceError::TargetCount {
            targets: targets.len(),
            inputs: geo.n,
        });
    }
    let e = explain_ensemble(panel, x, targets, seeds)?;
    e.normalize(normalization.method, normalization.degenerate)
}

/// Checks what both Gram builders share and returns the input geometry.
fn check_common(
    ensemble: &Ensemble,
    x: &ArrayViewD<'_, f32>,
    targets: &[usize],
    samples: usize,
    seeds: &Seeds<'_>,
) -> Result<InputGeometry> {
    if samples == 0 {
        return Err(SalienceError::Empty("m = 0 perturbations per input".into()));
    }
    let geo = InputGeometry::of(x)?;
    check_finite(x, "inputs")?;
    if targets.len() != geo.n {
        return Err(SalienceError::TargetCount {
            targets: targets.len(),
            inputs: geo.n,
        });
    }
    if ensemble.n_samples() != geo.n {
        return Err(SalienceError::shape(
            "ensemble",
            format!("[k, {}, ...] (one map per input)", geo.n),
            ensemble.stacked().shape(),
        ));
    }
    seeds.check_len(geo.n)?;
    if geo.n.checked_mul(samples).is_none() {
        return Err(SalienceError::invalid(
            "samples",
            samples,
            "N·m overflows usize",
        ));
    }
    Ok(geo)
}

/// Φ of input i as an owned `[k, d]` array.
pub(crate) fn phi_of(ensemble: &Ensemble, i: usize) -> Array2<f32> {
    ensemble
        .as_flat()
        .index_axis(Axis(1), i)
        .as_standard_layout()
        .into_owned()
}

/// The Average-Sensitivity Gram of every input (AGG_robust, App. C.2):
/// G_i = (1/m) Σ_j (Φ(x_i) − Φ(x_i + ε⁽ʲ⁾))ᵀ(Φ(x_i) − Φ(x_i + ε⁽ʲ⁾))
/// ([`Query::Sensitivity`]), so wᵀG_iw = (1/m) Σ_j ‖φ_w(x_i) − φ_w(x_i + ε⁽ʲ⁾)‖².
///
/// `ensemble` is Φ(x) for the same panel, normalized with
/// `cfg.normalization` (build it with [`explain_panel`]); the panel is run
/// on all N·m perturbed inputs in chunks of `cfg.batch_size`, each with the
/// targets of its input. Targets are range-checked by the explainers.
///
/// **Map normalization (App. C.2).** The paper normalizes every attribution
/// map to \[0, 1\] "by taking the absolute value and rescaling based on the
/// maximum", |φ|/max|φ| ([`Normalization::AbsMax`], the default of
/// [`MapNormalization`]). Sensitivity compares maps of the same method, so
/// Φ(x) and Φ(x + ε) must be normalized the same way: [`explain_panel`]
/// builds Φ(x) with the normalization that [`robust_gram`] applies to the
/// perturbed maps. aggopt instead takes |φ|, min-max scales it and then
/// blurs it (σ = 1); that post-processing is not reproduced.
///
/// **Seeds.** Perturbation j of input i is drawn from
/// `derive_seed(derive_seed(seeds.for_sample(i), tag), j)` with a tag per
/// metric and [`SeedStream`]; explainers on perturbed inputs get the seeds
/// of [`ExplainerSeeds`]. The Grams are accumulated exactly
/// ([`crate::GramAccumulator`]), so they are bitwise identical for any
/// chunk size and thread count.
///
/// ```
/// use ndarray::Array;
/// use salience_core::{AttributionBatch, Explainer, Seeds};
/// use salience_optimize::{explain_panel, robust_gram, RobustConfig};
/// struct Input; // φ(x) = x: as sensitive as it gets
/// struct Ones;  // φ(x) = 1: perfectly robust
/// impl Explainer for Input {
///     fn name(&self) -> &str { "input" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.to_owned()) }
/// }
/// impl Explainer for Ones {
///     fn name(&self) -> &str { "ones" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.mapv(|_| 1.0)) }
/// }
/// let panel: Vec<Box<dyn Explainer>> = vec![Box::new(Input), Box::new(Ones)];
/// let x = Array::from_shape_fn((2, 6), |(i, j)| 1.0 + (i + j) as f32).into_dyn();
/// let cfg = RobustConfig { samples: 8, ..Default::default() };
/// let phi = explain_panel(&panel, x.view(), &[0, 0], &cfg.normalization, Seeds::base(1))?;
/// let grams = robust_gram(&panel, &phi, x.view(), &[0, 0], &cfg, Seeds::base(1))?;
/// assert_eq!(grams.len(), 2);
/// assert!(grams[0].q_methods()[0] > 0.0);
/// assert_eq!(grams[0].q_methods()[1], 0.0);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn robust_gram<E: Explainer>(
    panel: &[E],
    ensemble: &Ensemble,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    cfg: &RobustConfig,
    seeds: Seeds<'_>,
) -> Result<Vec<Gram>> {
    let m = cfg.samples;
    let geo = check_common(ensemble, &x, targets, m, &seeds)?;
    cfg.noise.validate()?;
    let k = panel.len();
    if k != ensemble.k() {
        return Err(SalienceError::invalid(
            "panel",
            k,
            &format!(
                "needs one explainer per map of the ensemble (k = {})",
                ensemble.k()
            ),
        ));
    }
    let n = geo.n;
    let p_in = geo.features();
    let d = ensemble.feature_len();
    let map_dims = ensemble.layout().dims();
    let xs = x.as_standard_layout().into_owned();
    let sample_seeds: Vec<u64> = (0..n).map(|i| seeds.for_sample(i)).collect();
    let mut accs = (0..n)
        .map(|_| GramAccumulator::new(k))
        .collect::<Result<Vec<_>>>()?;
    let total = n * m;
    let chunk = cfg
        .batch_size
        .get()
        .unwrap_or(AUTO_EXPLAIN_BATCH)
        .min(total);
    let mut buf = vec![0.0f32; chunk * p_in];
    let mut in_shape = x.shape().to_vec();
    let mut start = 0;
    while start < total {
        let len = chunk.min(total - start);
        buf[..len * p_in]
            .par_chunks_mut(p_in)
            .enumerate()
            .try_for_each(|(t, out)| {
                let (i, j) = ((start + t) / m, (start + t) % m);
                let seed =
                    perturbation_seed(sample_seeds[i], MetricKind::Sensitivity, cfg.stream, j);
                cfg.noise.apply(sample_slice(&xs, i, p_in)?, out, seed)
            })?;
        in_shape[0] = len;
        let inputs = ArrayViewD::from_shape(IxDyn(&in_shape), &buf[..len * p_in])
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        let chunk_targets: Vec<usize> = (start..start + len).map(|g| targets[g / m]).collect();
        let mut maps: Vec<AttributionBatch> = Vec::with_capacity(k);
        for (mi, e) in panel.iter().enumerate() {
            let s: Vec<u64> = (start..start + len)
                .map(|g| {
                    let (i, j) = (g / m, g % m);
                    match cfg.explainer_seeds {
                        ExplainerSeeds::Shared => derive_seed(sample_seeds[i], mi as u64),
                        ExplainerSeeds::Fresh => derive_seed(
                            derive_seed(
                                perturbation_seed(
                                    sample_seeds[i],
                                    MetricKind::Sensitivity,
                                    cfg.stream,
                                    j,
                                ),
                                EXPLAIN_TAG,
                            ),
                            mi as u64,
                        ),
                    }
                })
                .collect();
            let b = e.explain(inputs.view(), &chunk_targets, Seeds::per_sample(&s))?;
            let mut expect = vec![len];
            expect.extend_from_slice(&map_dims);
            if b.shape() != expect.as_slice() {
                return Err(SalienceError::shape(
                    &format!(
                        "maps of explainer {mi} ('{}') on perturbed inputs",
                        e.name()
                    ),
                    format!("{expect:?} (the ensemble's map shape)"),
                    b.shape(),
                ));
            }
            maps.push(b.normalize(cfg.normalization.method, cfg.normalization.degenerate)?);
        }
        let (s0, s1) = (start / m, (start + len - 1) / m);
        accs[s0..=s1]
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(o, acc)| {
                let i = s0 + o;
                let phi = phi_of(ensemble, i);
                let mut pert = Array2::<f32>::zeros((k, d));
                for g in (i * m).max(start)..((i + 1) * m).min(start + len) {
                    let t = g - start;
                    for (mi, b) in maps.iter().enumerate() {
                        pert.row_mut(mi).assign(&b.as_flat().row(t));
                    }
                    acc.add(
                        phi.view(),
                        &Query::Sensitivity {
                            perturbed: pert.view(),
                        },
                    )?;
                }
                Ok::<(), SalienceError>(())
            })?;
        start += len;
    }
    accs.iter().map(GramAccumulator::finish).collect()
}

/// The Infidelity Gram of every input (AGG_faith, App. C.1–C.2):
/// G_i = (1/m) Σ_j Γ⁽ʲ⁾ᵀΓ⁽ʲ⁾ with Γ⁽ʲ⁾ = I⁽ʲ⁾ᵀΦ(x_i) − Δf⁽ʲ⁾1ᵀ
/// ([`Query::MaskRow`]), Δf⁽ʲ⁾ = f_t(x_i) − f_t(h(x_i, x_b, I⁽ʲ⁾)) for the
/// target t of input i; on the simplex wᵀG_iw is the estimated infidelity
/// of φ_w.
///
/// `ensemble` holds Φ(x) (any normalization — infidelity compares it to
/// raw score differences, so [`MapNormalization::none`] keeps exact
/// attributions exact); its maps are `[N, C, H, W]` like x or `[N, H, W]`
/// pixel maps. The N·m perturbed inputs are generated chunk by chunk into
/// one reused buffer ([`forward_generated`]).
///
/// **Infidelity and its normalization.** γ1 = Iᵀ is the 0/1 row marking
/// every attribution feature of the masked pixels (all channels for
/// `[N, C, H, W]` maps, the pixel for `[N, H, W]` maps), γ2 = f_t(x) −
/// f_t(x̃) with the raw model scores (no softmax), as in App. C.1 and
/// aggopt. Yeh et al.'s and Captum's `infidelity` differ in two ways:
/// 1. their γ1 is the perturbation *vector* I = x − x̃ (so Iᵀφ = Σ (x − x̃)⊙φ,
///    which makes φ = ∇f exact), while the paper and aggopt use the binary
///    indicator (so φ = (x − x_b) ⊙ ∇f — Integrated-Gradients-like
///    attributions against the same baseline — is exact). A caller who wants
///    Captum's γ1 can build [`crate::Query::Sparse`] rows with the weights
///    x − x̃ and accumulate them with [`crate::GramAccumulator`];
/// 2. `normalize=True` rescales the explanation by the least-squares factor
///    β = E\[Iᵀφ·Δf\]/E\[(Iᵀφ)²\] before squaring. For the aggregate φ_w,
///    β(w) depends on w, and the β-normalized infidelity
///    E\[Δf²\] − E\[Iᵀφ_w·Δf\]²/E\[(Iᵀφ_w)²\] is a ratio of quadratics in w,
///    not wᵀGw for a fixed G, so it is not a generalized L2 metric of φ_w
///    and is not offered. (aggopt rescales each *method* by its own β_i
///    before building the Gram, i.e. it optimizes the plain infidelity of
///    Σ w_i β_i φ_i — a different aggregate from the one it returns; not
///    reproduced.) Note that because the paper normalizes maps to \[0, 1\]
///    while Δf is in logit units, the un-normalized infidelity mostly
///    rewards scale; pass [`Normalization::None`] to optimize the raw maps.
///
/// ```
/// use ndarray::{array, Array};
/// use salience_core::{Ensemble, LinearModel};
/// use salience_core::Seeds;
/// use salience_optimize::{faith_gram, Baseline, FaithConfig};
/// // f(x) = x0 + 2·x1 + 3·x2; with a zero baseline φ = a ⊙ x is exact.
/// let model = LinearModel::new(array![[1.0f32, 2.0, 3.0]], array![0.0f32])?;
/// let x = array![[1.0f32, 1.0, 1.0]].into_dyn();
/// let exact = array![[[1.0f32, 2.0, 3.0]], [[1.0, 1.0, 1.0]]].into_dyn();
/// let phi = Ensemble::from_stacked(exact, None)?;
/// let cfg = FaithConfig { samples: 20, baseline: Baseline::Zeros, ..Default::default() };
/// let g = faith_gram(&model, &phi, x.view(), &[0], &cfg, Seeds::base(3))?;
/// assert!(g[0].q_methods()[0] < 1e-10);
/// assert!(g[0].q_methods()[1] > 0.1);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn faith_gram(
    model: &dyn Model,
    ensemble: &Ensemble,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    cfg: &FaithConfig<'_>,
    seeds: Seeds<'_>,
) -> Result<Vec<Gram>> {
    let m = cfg.samples;
    let geo = check_common(ensemble, &x, targets, m, &seeds)?;
    check_targets(targets, geo.n, model.num_classes())?;
    let channels = geo.attribution_channels(ensemble.layout())?;
    cfg.masks.validate(geo.h, geo.w)?;
    let (n, p_in, hw) = (geo.n, geo.features(), geo.pixels());
    let xs = x.as_standard_layout().into_owned();
    let baseline: ArrayD<f32> = cfg.baseline.resolve(x.view())?;
    let sample_seeds: Vec<u64> = (0..n).map(|i| seeds.for_sample(i)).collect();
    let mask_seed = |i: usize, j: usize| {
        perturbation_seed(sample_seeds[i], MetricKind::Infidelity, cfg.stream, j)
    };
    let clean = forward_chunked(model, xs.view(), cfg.batch_size.get())?;
    let scores = forward_generated(
        model,
        n * m,
        &x.shape()[1..],
        cfg.batch_size.get(),
        |start, mut buf| {
            let Some(out) = buf.as_slice_mut() else {
                return Err(SalienceError::backend_msg(
                    "model input buffer not contiguous",
                ));
            };
            out.par_chunks_mut(p_in)
                .enumerate()
                .try_for_each(|(t, out)| {
                    let (i, j) = ((start + t) / m, (start + t) % m);
                    let mask = cfg.masks.sample(geo.h, geo.w, mask_seed(i, j))?;
                    replace_pixels(
                        sample_slice(&xs, i, p_in)?,
                        sample_slice(&baseline, i, p_in)?,
                        &mask,
                        &geo,
                        out,
                    );
                    Ok(())
                })
        },
    )?;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let phi = phi_of(ensemble, i);
            let t = targets[i];
            let mut acc = GramAccumulator::new(ensemble.k())?;
            let mut feats = Vec::new();
            for j in 0..m {
                let mask = cfg.masks.sample(geo.h, geo.w, mask_seed(i, j))?;
                mask_features(&mask, channels, hw, &mut feats);
                let delta = f64::from(clean[[i, t]]) - f64::from(scores[[i * m + j, t]]);
                acc.add(
                    phi.view(),
                    &Query::MaskRow {
                        mask: Mask::Indices(&feats),
                        target: delta,
                    },
                )?;
            }
            acc.finish()
        })
        .collect()
}
