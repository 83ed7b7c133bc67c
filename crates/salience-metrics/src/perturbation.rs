//! Monte Carlo perturbations shared by [`infidelity`](crate::infidelity())
//! and [`faithfulness_correlation`](crate::faithfulness_correlation()).
//!
//! A perturbation of an input `x` (one sample, `d` features) is a perturbed
//! input `x̃` together with a vector `I` that the attribution `Φ` is
//! projected on: the metrics compare `IᵀΦ` with the model's change
//! `f(x) − f(x̃)`. Replacement perturbations choose a set `S` of pixels (all
//! channels of each pixel; features of tabular inputs) and set them to a
//! [`Baseline`] image `x_b`; [`Projection`] says whether `I` is the
//! indicator of `S` (Decker et al. (2024) C.1, Bhatt et al.'s Faithfulness
//! Correlation: `IᵀΦ = Σ_{i∈S} Φ_i`) or the difference `x − x̃` (Yeh et
//! al.'s `I`, Captum and Quantus' Infidelity). Gaussian noise always uses
//! `I = x − x̃ = ε`.
//!
//! Randomness: perturbation `j` of sample `i` is drawn from
//! `rng(derive_seed(derive_seed(seed_i, 1), j))` and the random baseline of
//! sample `i` from `derive_seed(seed_i, 0)`, so scores depend neither on the
//! batch composition nor on the chunk size.

use crate::baseline::{fill_baseline, Baseline};
use crate::common::{
    check_batch_size, flat_inputs, flat_maps, geometry_with_maps, target_score, Geometry,
};
use crate::insertion_deletion::ScoreKind;
use ndarray::{Array2, ArrayView2, ArrayView3, ArrayViewD, Axis};
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use salience_core::model::forward_generated;
use salience_core::seed::{derive_seed, rng};
use salience_core::validate::check_targets;
use salience_core::{AttributionBatch, BatchSize, Model, Result, SalienceError, Seeds};

/// How a Monte Carlo perturbation is drawn.
///
/// ```
/// use salience_metrics::{Baseline, Perturbation};
/// // Decker et al. (2024) C.1: 20 % of the pixels replaced by a blurred image.
/// let p = Perturbation::RandomPixels { share: 0.2, baseline: Baseline::Blur { sigma: 5.0, kernel_size: 11 } };
/// assert!(p.validate().is_ok());
/// assert!(Perturbation::RandomPixels { share: 0.0, baseline: Baseline::Constant(0.0) }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Perturbation {
    /// `x̃ = x − ε` with `ε ~ N(0, std²)` i.i.d. per feature; `I = ε`.
    GaussianNoise {
        /// Standard deviation (> 0).
        std: f32,
    },
    /// One square of `size × size` pixels at a uniformly random position
    /// (entirely inside the image) set to the baseline.
    SquarePatch {
        /// Side in pixels (1 ≤ size ≤ min(H, W)).
        size: usize,
        /// Replacement values.
        baseline: Baseline,
    },
    /// `round(share · H·W)` pixels (at least one) drawn uniformly without
    /// replacement, set to the baseline.
    RandomPixels {
        /// Share of the pixels, in (0, 1].
        share: f64,
        /// Replacement values.
        baseline: Baseline,
    },
    /// Exactly `count` pixels drawn uniformly without replacement, set to
    /// the baseline, all channels of each. Quantus' `subset_size` counts
    /// *features* of the flattened `C·H·W` input (single channel values),
    /// so the two agree only for single-channel images: on RGB, Quantus'
    /// 224 features touch ≈ 224 distinct pixels in one channel each, this
    /// replaces 224 whole pixels (672 values).
    RandomPixelCount {
        /// Number of pixels (1 ≤ count ≤ H·W).
        count: usize,
        /// Replacement values.
        baseline: Baseline,
    },
    /// `round(share · K)` of the `K` superpixels of a segment map (at least
    /// one) drawn uniformly without replacement, set to the baseline. Needs
    /// the segments: score through the [`Metric`](crate::Metric) seam with an
    /// `EvalBatch` built `with_segments`.
    RandomSegments {
        /// Share of the superpixels, in (0, 1].
        share: f64,
        /// Replacement values.
        baseline: Baseline,
    },
}

/// What the attribution is projected on (see the [module docs](self)).
///
/// ```
/// assert_eq!(salience_metrics::Projection::default(), salience_metrics::Projection::Indicator);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Projection {
    /// `I = 1_S`: `IᵀΦ = Σ_{i∈S} Φ_i` (all channels of each chosen pixel for
    /// input-shaped maps, each pixel once for pixel maps). Default.
    #[default]
    Indicator,
    /// `I = x − x̃`: `IᵀΦ = Σ_i (x_i − x̃_i) Φ_i` (a pixel map is broadcast
    /// over channels).
    Difference,
}

impl Perturbation {
    /// Checks the parameters that do not depend on the input size.
    ///
    /// ```
    /// use salience_metrics::Perturbation;
    /// assert!(Perturbation::GaussianNoise { std: -1.0 }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let share_ok = |s: f64| s.is_finite() && s > 0.0 && s <= 1.0;
        match *self {
            Perturbation::GaussianNoise { std } => {
                if !(std.is_finite() && std > 0.0) {
                    return Err(SalienceError::invalid(
                        "perturbation.std",
                        std,
                        "must be finite and > 0",
                    ));
                }
                Ok(())
            }
            Perturbation::SquarePatch { size, baseline } => {
                if size == 0 {
                    return Err(SalienceError::invalid(
                        "perturbation.size",
                        0,
                        "must be ≥ 1",
                    ));
                }
                baseline.validate()
            }
            Perturbation::RandomPixels { share, baseline }
            | Perturbation::RandomSegments { share, baseline } => {
                if !share_ok(share) {
                    return Err(SalienceError::invalid(
                        "perturbation.share",
                        share,
                        "must be in (0, 1]",
                    ));
                }
                baseline.validate()
            }
            Perturbation::RandomPixelCount { count, baseline } => {
                if count == 0 {
                    return Err(SalienceError::invalid(
                        "perturbation.count",
                        0,
                        "must be ≥ 1",
                    ));
                }
                baseline.validate()
            }
        }
    }

    fn baseline(&self) -> Option<Baseline> {
        match *self {
            Perturbation::GaussianNoise { .. } => None,
            Perturbation::SquarePatch { baseline, .. }
            | Perturbation::RandomPixels { baseline, .. }
            | Perturbation::RandomPixelCount { baseline, .. }
            | Perturbation::RandomSegments { baseline, .. } => Some(baseline),
        }
    }

    /// Checks the parameters against a geometry and the segments.
    pub(crate) fn check_for(
        &self,
        g: &Geometry,
        segments: Option<&ArrayView3<'_, u32>>,
    ) -> Result<()> {
        self.validate()?;
        if matches!(self.baseline(), Some(Baseline::Blur { .. })) && g.tabular {
            return Err(SalienceError::invalid(
                "baseline",
                "Blur",
                "a blurred baseline needs image inputs, not tabular [N, D]",
            ));
        }
        match *self {
            Perturbation::SquarePatch { size, .. } if size > g.h.min(g.w) => {
                Err(SalienceError::invalid(
                    "perturbation.size",
                    size,
                    &format!("must be ≤ min(H, W) = {}", g.h.min(g.w)),
                ))
            }
            Perturbation::RandomPixelCount { count, .. } if count > g.p => {
                Err(SalienceError::invalid(
                    "perturbation.count",
                    count,
                    &format!("must be ≤ the number of pixels ({})", g.p),
                ))
            }
            Perturbation::RandomSegments { .. } => match segments {
                None => Err(SalienceError::invalid(
                    "perturbation",
                    "RandomSegments",
                    "needs a segment map: score it through `Metric` with `EvalBatch::with_segments`",
                )),
                Some(s) if s.shape() != [g.n, g.h, g.w] => Err(SalienceError::shape(
                    "segments",
                    format!("[{}, {}, {}]", g.n, g.h, g.w),
                    s.shape(),
                )),
                Some(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// For every sample, the projections `IᵀΦ` and model changes
/// `f(x) − f(x̃)` of `m` perturbations.
pub(crate) struct Draws {
    /// `[N, m]` projections.
    pub proj: Array2<f64>,
    /// `[N, m]` model changes.
    pub delta: Array2<f64>,
}

/// Arguments of [`draw_and_evaluate`].
pub(crate) struct McArgs<'a> {
    pub model: &'a dyn Model,
    pub g: Geometry,
    pub sample_shape: &'a [usize],
    pub x: ArrayView2<'a, f32>,
    pub phi: ArrayView2<'a, f32>,
    pub segments: Option<ArrayView3<'a, u32>>,
    pub targets: &'a [usize],
    pub perturbation: Perturbation,
    pub projection: Projection,
    pub m: usize,
    pub score: ScoreKind,
    pub batch_size: BatchSize,
    pub seeds: Seeds<'a>,
}

/// The settings of a Monte-Carlo metric run, as in [`McArgs`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct McSettings {
    pub perturbation: Perturbation,
    pub projection: Projection,
    pub m: usize,
    pub score: ScoreKind,
    pub batch_size: BatchSize,
    /// The metric's name, for error contexts.
    pub metric: &'static str,
}

/// The shared front of the Monte-Carlo metrics: checks the batch size,
/// geometry, perturbation, targets and seeds, flattens the inputs and
/// attributions (error contexts `"{metric} inputs"` and
/// `"{metric} attributions"`) and runs [`draw_and_evaluate`].
pub(crate) fn checked_draws(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    segments: Option<ArrayView3<'_, u32>>,
    targets: &[usize],
    settings: McSettings,
    seeds: Seeds<'_>,
) -> Result<(Geometry, Draws)> {
    let metric = settings.metric;
    check_batch_size(settings.batch_size)?;
    let inputs_ctx = format!("{metric} inputs");
    let shape = inputs.shape().to_vec();
    let g = geometry_with_maps(&shape, attributions, &inputs_ctx)?;
    settings.perturbation.check_for(&g, segments.as_ref())?;
    check_targets(targets, g.n, model.num_classes())?;
    seeds.check_len(g.n)?;
    let x = flat_inputs(inputs, &g, &inputs_ctx)?;
    let phi = flat_maps(attributions, &format!("{metric} attributions"))?;
    let draws = draw_and_evaluate(McArgs {
        model,
        g,
        sample_shape: &shape[1..],
        x: x.view(),
        phi: phi.view(),
        segments,
        targets,
        perturbation: settings.perturbation,
        projection: settings.projection,
        m: settings.m,
        score: settings.score,
        batch_size: settings.batch_size,
        seeds,
    })?;
    Ok((g, draws))
}

/// The seed of Monte Carlo perturbation `j` (0-based) of a sample whose
/// seed is `sample_seed`: `derive_seed(derive_seed(sample_seed, 1), j)`.
/// [`infidelity`](crate::infidelity()) and
/// [`faithfulness_correlation`](crate::faithfulness_correlation()) draw
/// perturbation `j` from `rng(perturbation_seed(seed_i, j))`; AGG_faith's
/// Gram (`salience_optimize::faith_gram`) draws its masks from the same
/// seeds, so the objective it optimizes is this crate's infidelity on the
/// same perturbations.
///
/// ```
/// use salience_core::derive_seed;
/// use salience_metrics::perturbation::perturbation_seed;
/// assert_eq!(perturbation_seed(7, 3), derive_seed(derive_seed(7, 1), 3));
/// ```
pub fn perturbation_seed(sample_seed: u64, j: usize) -> u64 {
    derive_seed(derive_seed(sample_seed, 1), j as u64)
}

/// The pixels (flat indices `y·w + x`, in draw order) that
/// [`Perturbation::RandomPixels`] with this `share` replaces in an image of
/// `pixels` pixels, for the perturbation seeded `seed` (see
/// [`perturbation_seed`]): `round(share·pixels)` (at least one) distinct
/// pixels drawn uniformly without replacement. The one definition of the
/// random-pixel mask, shared with AGG_faith's Gram.
///
/// Errors: `share` outside (0, 1], `pixels == 0`.
///
/// ```
/// use salience_metrics::perturbation::random_pixel_mask;
/// let m = random_pixel_mask(0.25, 16, 3)?;
/// assert_eq!(m.len(), 4);
/// assert_eq!(m, random_pixel_mask(0.25, 16, 3)?);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn random_pixel_mask(share: f64, pixels: usize, seed: u64) -> Result<Vec<usize>> {
    if !(share.is_finite() && share > 0.0 && share <= 1.0) {
        return Err(SalienceError::invalid(
            "perturbation.share",
            share,
            "must be in (0, 1]",
        ));
    }
    if pixels == 0 {
        return Err(SalienceError::Empty("an image of 0 pixels".into()));
    }
    Ok(random_pixels(share, pixels, &mut rng(seed)).collect())
}

/// `round(share·p)` (clamped to 1..=p) distinct indices below `p`.
fn random_pixels<R: rand::Rng + ?Sized>(
    share: f64,
    p: usize,
    r: &mut R,
) -> impl Iterator<Item = usize> + use<R> {
    let k = ((share * p as f64).round() as usize).clamp(1, p);
    rand::seq::index::sample(r, p, k).into_iter()
}

struct SampleState {
    sample: usize,
    x: Vec<f32>,
    base: Vec<f32>,
    phi: Vec<f32>,
    labels: Vec<u32>,
    distinct: Vec<u32>,
    chosen: Vec<usize>,
}

/// Draws `m` perturbations of every sample and evaluates the model on the
/// `N·(m + 1)` inputs (each sample's clean input first) in generated chunks.
pub(crate) fn draw_and_evaluate(a: McArgs<'_>) -> Result<Draws> {
    let g = a.g;
    let per = a.m + 1;
    let total = g
        .n
        .checked_mul(per)
        .ok_or_else(|| SalienceError::invalid("n_perturbations", a.m, "too many evaluations"))?;
    let mut proj = Array2::<f64>::zeros((g.n, a.m));
    let mut st = SampleState {
        sample: usize::MAX,
        x: Vec::new(),
        base: vec![0.0; g.d],
        phi: Vec::new(),
        labels: Vec::new(),
        distinct: Vec::new(),
        chosen: Vec::new(),
    };
    let baseline = a.perturbation.baseline();
    let scores = forward_generated(
        a.model,
        total,
        a.sample_shape,
        a.batch_size.get(),
        |start, mut buf| {
            for (r, mut row) in buf.outer_iter_mut().enumerate() {
                let gi = start + r;
                let (i, j) = (gi / per, gi % per);
                if st.sample != i {
                    st.sample = i;
                    st.x = a.x.row(i).iter().copied().collect();
                    st.phi = a.phi.row(i).iter().copied().collect();
                    if let Some(b) = baseline {
                        fill_baseline(
                            &st.x,
                            g.c,
                            g.h,
                            g.w,
                            &b,
                            derive_seed(a.seeds.for_sample(i), 0),
                            &mut st.base,
                        )?;
                    }
                    if let Some(seg) = &a.segments {
                        st.labels = seg.index_axis(Axis(0), i).iter().copied().collect();
                        let mut d = st.labels.clone();
                        d.sort_unstable();
                        d.dedup();
                        st.distinct = d;
                    }
                }
                let out = row
                    .as_slice_mut()
                    .ok_or_else(|| SalienceError::backend_msg("non-contiguous chunk buffer"))?;
                if j == 0 {
                    out.copy_from_slice(&st.x);
                    continue;
                }
                let seed = perturbation_seed(a.seeds.for_sample(i), j - 1);
                proj[[i, j - 1]] = perturb_one(&a, &mut st, seed, out)?;
            }
            Ok(())
        },
    )?;
    let mut delta = Array2::<f64>::zeros((g.n, a.m));
    for i in 0..g.n {
        let clean: Vec<f32> = scores.row(i * per).iter().copied().collect();
        let f0 = target_score(&clean, a.targets[i], a.score);
        for j in 0..a.m {
            let row: Vec<f32> = scores.row(i * per + j + 1).iter().copied().collect();
            delta[[i, j]] = f0 - target_score(&row, a.targets[i], a.score);
        }
    }
    Ok(Draws { proj, delta })
}

/// Writes one perturbed input into `out`; returns `IᵀΦ`.
fn perturb_one(a: &McArgs<'_>, st: &mut SampleState, seed: u64, out: &mut [f32]) -> Result<f64> {
    let g = &a.g;
    let mut r = rng(seed);
    if let Perturbation::GaussianNoise { std } = a.perturbation {
        let normal = Normal::new(0.0f32, std)
            .map_err(|e| SalienceError::invalid("perturbation.std", std, &e.to_string()))?;
        let mut acc = 0.0f64;
        for (k, (o, &xv)) in out.iter_mut().zip(&st.x).enumerate() {
            let e = normal.sample(&mut r);
            *o = xv - e;
            acc += e as f64 * g.phi(&st.phi, k) as f64;
        }
        return Ok(acc);
    }
    // Choose the pixels.
    st.chosen.clear();
    match a.perturbation {
        Perturbation::SquarePatch { size, .. } => {
            let y0 = r.random_range(0..=g.h - size);
            let x0 = r.random_range(0..=g.w - size);
            for y in y0..y0 + size {
                for x in x0..x0 + size {
                    st.chosen.push(y * g.w + x);
                }
            }
        }
        Perturbation::RandomPixels { share, .. } => {
            st.chosen.extend(random_pixels(share, g.p, &mut r));
        }
        Perturbation::RandomPixelCount { count, .. } => {
            st.chosen
                .extend(rand::seq::index::sample(&mut r, g.p, count.min(g.p)).iter());
        }
        Perturbation::RandomSegments { share, .. } => {
            let kk = st.distinct.len();
            let k = ((share * kk as f64).round() as usize).clamp(1, kk.max(1));
            let mut picked: Vec<u32> = rand::seq::index::sample(&mut r, kk, k.min(kk))
                .iter()
                .filter_map(|t| st.distinct.get(t).copied())
                .collect();
            picked.sort_unstable();
            for (px, l) in st.labels.iter().enumerate() {
                if picked.binary_search(l).is_ok() {
                    st.chosen.push(px);
                }
            }
        }
        Perturbation::GaussianNoise { .. } => {}
    }
    out.copy_from_slice(&st.x);
    let mut acc = 0.0f64;
    for &px in &st.chosen {
        for ch in 0..g.c {
            let k = ch * g.p + px;
            out[k] = st.base[k];
            if a.projection == Projection::Difference {
                acc += (st.x[k] - st.base[k]) as f64 * g.phi(&st.phi, k) as f64;
            } else if !g.per_pixel || ch == 0 {
                acc += g.phi(&st.phi, k) as f64;
            }
        }
    }
    Ok(acc)
}
