//! Insertion and deletion curves and their AUC (Petsiuk et al. 2018, RISE;
//! Mahlau & Nolde (2022) §4).
//!
//! Pixels are ordered by the attribution pixel map, largest first (image
//! attributions are reduced with [`CurveConfig::reduction`]; ties are broken
//! by pixel index, lower first — Mahlau & Nolde (2022) inserts tied pixels "in random
//! order", we keep it deterministic). With `P` pixels and
//! `S = min(n_steps, P)` steps, after step `k` the first
//! `m_k = ⌊k·P/S⌋` pixels of the order (all channels of each) are changed:
//!
//! * **insertion** starts from the [`Baseline`] and copies in pixels of the
//!   image — a good map makes the score rise fast: **higher AUC is better**;
//! * **deletion** starts from the image and replaces pixels with the
//!   baseline — a good map makes the score fall fast: **lower AUC is
//!   better**.
//!
//! The curve is the model's score for the target class at the `S + 1`
//! points `x_k = m_k / P ∈ [0, 1]` (both ends included); the score is the
//! softmax probability by default (Mahlau & Nolde (2022) and RISE use probabilities) or
//! the raw output ([`ScoreKind`]). The AUC is the trapezoid rule over
//! `x_k`. All `N·(S + 1)` perturbed inputs are generated chunk by chunk into
//! one reused buffer and evaluated through
//! [`salience_core::model::forward_generated`], so memory stays flat and the
//! scores do not depend on the chunk size. There is never one forward per
//! step, and samples are grouped so that short curves still fill a chunk.
//! Scores are identical at every chunk size (tested with batch sizes
//! 1–100): bit for bit for a batch-invariant model such as
//! `LinearModel`; a candle model's logits move in the last bits with the
//! batch (docs/architecture.md § Determinism). The random baseline of
//! sample `i` is seeded by `Seeds::for_sample(i)`, so a sub-batch with the
//! same per-sample seeds gets the same baselines.
//!
//! RISE computes the same trapezoid with uniform spacing; here the spacing
//! is exact when `P` is not a multiple of `S`. RISE's insertion blur
//! (kernel 11, σ = 5) pads with zeros (through `conv2d`), while
//! [`Baseline::Blur`] reflects at the border, so border pixels differ
//! slightly.
//!
//! Accepted inputs: images `[N, C, H, W]` with input-shaped attributions
//! (reduced) or pixel maps `[N, H, W]` — for `C > 1` also `[N, 1, H, W]` —
//! used as they are (not passed through `abs`); single-channel `[N, H, W]`;
//! tabular `[N, D]` with the features as "pixels" (a `Blur` baseline is
//! rejected there).
//!
//! Relation to the references: Quantus has no insertion metric; its
//! `PixelFlipping` is a deletion curve (one feature per step by default,
//! black baseline, reporting the curve rather than an area under a [0, 1]
//! axis) and `RegionPerturbation` the patch-wise MoRF/LeRF variant (not
//! implemented here). Captum has neither.

use crate::baseline::{fill_baseline, Baseline};
use crate::common::target_score;
use crate::rank::descending_order;
use crate::scores::Scores;
use ndarray::{Array2, ArrayViewD, Axis};
use salience_core::model::forward_generated;
use salience_core::spec::Validate;
use salience_core::validate::{check_finite, check_targets};
use salience_core::{
    AttributionBatch, BatchSize, ChannelReduction, Layout, Model, Result, SalienceError, Seeds,
};

/// Which model output the curves record.
///
/// ```
/// use salience_metrics::ScoreKind;
/// assert_eq!(ScoreKind::default(), ScoreKind::Softmax);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScoreKind {
    /// Softmax probability of the target class, computed here from the
    /// model's outputs (default; for models that return logits).
    #[default]
    Softmax,
    /// The model's output for the target class as is (for models that
    /// already return probabilities, or to score logits).
    Raw,
}

/// Options of [`insertion`] and [`deletion`].
///
/// Defaults follow Mahlau & Nolde (2022): 1000 steps (clamped to the number of pixels),
/// the per-channel random-normal baseline, softmax probability, image
/// attributions reduced with `SumAbs`, chunks of the model's preferred
/// batch size.
///
/// ```
/// use salience_metrics::{Baseline, CurveConfig, ScoreKind};
/// let c = CurveConfig::default();
/// assert_eq!((c.n_steps, c.baseline, c.score), (1000, Baseline::RandomNormal, ScoreKind::Softmax));
/// assert_eq!(CurveConfig::petsiuk_deletion().baseline, Baseline::Constant(0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurveConfig {
    /// Number of steps (≥ 1; clamped to the number of pixels). Default 1000.
    pub n_steps: usize,
    /// The baseline image (default [`Baseline::RandomNormal`]).
    pub baseline: Baseline,
    /// Softmax probability (default) or raw score.
    pub score: ScoreKind,
    /// Channel reduction for `[N, C, H, W]` attributions (default `SumAbs`).
    pub reduction: ChannelReduction,
    /// Model inputs per forward call: [`BatchSize::Auto`] (default) is the
    /// model's preferred batch size (the same chunk also sets how many
    /// samples' curves are generated together); `Fixed(n)` is `n`. Scores
    /// do not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
}

impl Default for CurveConfig {
    fn default() -> Self {
        CurveConfig {
            n_steps: 1000,
            baseline: Baseline::RandomNormal,
            score: ScoreKind::Softmax,
            reduction: ChannelReduction::SumAbs,
            batch_size: BatchSize::Auto,
        }
    }
}

impl CurveConfig {
    /// Petsiuk et al.'s insertion: blurred baseline (kernel 11, σ = 5),
    /// 224 steps (224 pixels per step on 224×224 images).
    ///
    /// ```
    /// let c = salience_metrics::CurveConfig::petsiuk_insertion();
    /// assert_eq!(c.n_steps, 224);
    /// ```
    pub fn petsiuk_insertion() -> Self {
        CurveConfig {
            n_steps: 224,
            baseline: Baseline::Blur {
                sigma: 5.0,
                kernel_size: 11,
            },
            ..Default::default()
        }
    }

    /// Petsiuk et al.'s deletion: black (zero) baseline, 224 steps.
    ///
    /// ```
    /// let c = salience_metrics::CurveConfig::petsiuk_deletion();
    /// assert_eq!(c.baseline, salience_metrics::Baseline::Constant(0.0));
    /// ```
    pub fn petsiuk_deletion() -> Self {
        CurveConfig {
            n_steps: 224,
            baseline: Baseline::Constant(0.0),
            ..Default::default()
        }
    }
}

/// Insertion or deletion curves of a batch.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{insertion, Baseline, CurveConfig, ScoreKind};
/// let model = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32])?;
/// let x = Array4::<f32>::ones((1, 1, 1, 2));
/// let a = AttributionBatch::from_pixel_maps(array![[[2.0f32, 1.0]]])?;
/// let cfg = CurveConfig { baseline: Baseline::Constant(0.0), score: ScoreKind::Raw, ..Default::default() };
/// let r = insertion(&model, x.into_dyn().view(), &a, &[0], &cfg, Seeds::base(0))?;
/// assert_eq!(r.fractions, vec![0.0, 0.5, 1.0]); // 1000 steps clamped to 2 pixels
/// assert_eq!(r.curves.row(0).to_vec(), vec![0.0, 1.0, 2.0]);
/// assert_eq!(r.auc.values(), &[1.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbationCurves {
    /// Fraction of pixels changed at each point, `x_k = m_k / P`, from 0 to
    /// 1 (`S + 1` points, shared by all samples).
    pub fractions: Vec<f64>,
    /// The curves, `[N, S + 1]`: the target score at each point.
    pub curves: Array2<f64>,
    /// Area under each curve (trapezoid rule over `fractions`).
    pub auc: Scores,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Insertion,
    Deletion,
}

impl Validate for CurveConfig {
    /// `n_steps` ≥ 1, a `batch_size` in range, and a valid baseline.
    fn validate(&self) -> Result<()> {
        if self.n_steps == 0 {
            return Err(SalienceError::invalid("n_steps", 0, "must be ≥ 1"));
        }
        crate::common::check_batch_size(self.batch_size)?;
        self.baseline.validate()
    }
}

/// Insertion curves and AUC (higher is better); see the
/// [module docs](self).
///
/// `inputs` are the images `[N, C, H, W]` (also accepted: `[N, H, W]`
/// single-channel images and tabular `[N, D]`), `attributions` are
/// `[N, C, H, W]` (reduced) or `[N, H, W]` / `[N, 1, H, W]` pixel maps for
/// images and `[N, D]` for tabular inputs, `targets` has one class per sample, and `seeds` seeds
/// the random baseline (sample `i` uses `seeds.for_sample(i)`).
///
/// Errors: shape mismatches, NaN/Inf inputs, `n_steps == 0`, invalid
/// baseline parameters (a blur of tabular inputs), bad targets, model
/// failures.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{insertion, Baseline, CurveConfig};
/// // Two classes; class 0 likes pixel 0.
/// let model = LinearModel::new(array![[3.0f32, 0.0, 0.0, 0.0], [0.0; 4]], array![0.0f32, 0.0])?;
/// let x = Array4::<f32>::ones((1, 1, 2, 2));
/// let good = AttributionBatch::from_pixel_maps(array![[[1.0f32, 0.0], [0.0, 0.0]]])?;
/// let bad = AttributionBatch::from_pixel_maps(array![[[0.0f32, 0.0], [0.0, 1.0]]])?;
/// // Softmax probability of class 0, inserting into a black image.
/// let cfg = CurveConfig { baseline: Baseline::Constant(0.0), ..Default::default() };
/// let g = insertion(&model, x.view().into_dyn(), &good, &[0], &cfg, Seeds::base(1))?;
/// let b = insertion(&model, x.view().into_dyn(), &bad, &[0], &cfg, Seeds::base(1))?;
/// assert!(g.auc.mean() > b.auc.mean());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn insertion(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &CurveConfig,
    seeds: Seeds<'_>,
) -> Result<PerturbationCurves> {
    curves(
        model,
        inputs,
        attributions,
        targets,
        config,
        seeds,
        Mode::Insertion,
    )
}

/// Deletion curves and AUC (lower is better); see the [module docs](self)
/// and [`insertion`] for the arguments.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{deletion, Baseline, CurveConfig, ScoreKind};
/// let model = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32])?;
/// let x = Array4::<f32>::ones((1, 1, 1, 2));
/// let a = AttributionBatch::from_pixel_maps(array![[[2.0f32, 1.0]]])?;
/// let cfg = CurveConfig { baseline: Baseline::Constant(0.0), score: ScoreKind::Raw, ..Default::default() };
/// let r = deletion(&model, x.into_dyn().view(), &a, &[0], &cfg, Seeds::base(0))?;
/// assert_eq!(r.curves.row(0).to_vec(), vec![2.0, 1.0, 0.0]);
/// assert_eq!(r.auc.values(), &[1.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn deletion(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &CurveConfig,
    seeds: Seeds<'_>,
) -> Result<PerturbationCurves> {
    curves(
        model,
        inputs,
        attributions,
        targets,
        config,
        seeds,
        Mode::Deletion,
    )
}

/// Per-sample geometry: channels, pixels per channel.
fn geometry(
    inputs: &[usize],
    attributions: &AttributionBatch,
) -> Result<(usize, usize, usize, usize)> {
    let found = attributions.shape();
    let bad = || {
        SalienceError::shape(
            "insertion/deletion attributions",
            format!(
                "attributions matching inputs {inputs:?}: [N, C, H, W] or [N, H, W] for images, [N, D] for tabular"
            ),
            found,
        )
    };
    // (c, h, w) of the inputs.
    let (c, h, w) = match *inputs {
        [_, d] => (1, 1, d),
        [_, h, w] => (1, h, w),
        [_, c, h, w] => (c, h, w),
        _ => {
            return Err(SalienceError::shape(
                "insertion/deletion inputs",
                "[N, C, H, W], [N, H, W] or [N, D]",
                inputs,
            ))
        }
    };
    let ok = match (inputs.len(), attributions.layout()) {
        (2, Layout::Tabular { d }) => d == w,
        (3, Layout::PixelMap { h: ah, w: aw }) => (ah, aw) == (h, w),
        (4, Layout::PixelMap { h: ah, w: aw }) => (ah, aw) == (h, w),
        // A one-channel map of multi-channel images is a pixel map.
        (4, Layout::Image { c: 1, h: ah, w: aw }) if c > 1 => (ah, aw) == (h, w),
        (
            4,
            Layout::Image {
                c: ac,
                h: ah,
                w: aw,
            },
        ) => (ac, ah, aw) == (c, h, w),
        _ => false,
    };
    if !ok || found[0] != inputs[0] {
        return Err(bad());
    }
    Ok((c, h, w, h * w))
}

/// The pixel maps `[N, P]` by which pixels are ordered: input-shaped image
/// maps reduced, pixel maps (`[N, H, W]`, or `[N, 1, H, W]` of inputs with
/// `c > 1` channels) as they are.
fn order_maps(
    attributions: &AttributionBatch,
    reduction: ChannelReduction,
    c: usize,
) -> Result<Array2<f32>> {
    let flat = match attributions.layout() {
        Layout::Image { c: ac, .. } if !(ac == 1 && c > 1) => attributions
            .reduce_channels(reduction)?
            .as_flat()
            .to_owned(),
        _ => attributions.as_flat().to_owned(),
    };
    check_finite(&flat, "reduced attributions")?;
    Ok(flat)
}

fn curves(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &CurveConfig,
    seeds: Seeds<'_>,
    mode: Mode,
) -> Result<PerturbationCurves> {
    config.validate()?;
    let shape = inputs.shape().to_vec();
    salience_core::validate::check_nonempty_shape(&shape, "insertion/deletion inputs")?;
    let (c, h, w, p) = geometry(&shape, attributions)?;
    if shape.len() == 2 && matches!(config.baseline, Baseline::Blur { .. }) {
        return Err(SalienceError::invalid(
            "baseline",
            "Blur",
            "a blurred baseline needs image inputs, not tabular [N, D]",
        ));
    }
    check_finite(&inputs, "insertion/deletion inputs")?;
    let n = shape[0];
    check_targets(targets, n, model.num_classes())?;
    seeds.check_len(n)?;
    let inputs = inputs.as_standard_layout();
    let flat_inputs = inputs
        .view()
        .into_shape_with_order((n, c * p))
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    let maps = order_maps(attributions, config.reduction, c)?;

    let s = config.n_steps.min(p);
    let points = s + 1;
    let marks: Vec<usize> = (0..points)
        .map(|k| ((k as u128 * p as u128) / s as u128) as usize)
        .collect();
    let fractions: Vec<f64> = marks.iter().map(|&m| m as f64 / p as f64).collect();

    let bs = config
        .batch_size
        .get()
        .unwrap_or_else(|| model.preferred_batch_size())
        .max(1);
    // Samples per forward_generated call: enough to fill a chunk when the
    // curves are short, one at a time when they are long (bounds the
    // [group · (S+1), classes] score buffer).
    let group = (bs / points).max(1);
    let sample_shape = &shape[1..];
    let mut curves = Array2::<f64>::zeros((n, points));

    let mut first = 0;
    while first < n {
        let count = group.min(n - first);
        let mut state = State {
            sample: usize::MAX,
            applied: 0,
            cur: vec![0.0; c * p],
            end: vec![0.0; c * p],
            order: Vec::new(),
        };
        let scores = forward_generated(
            model,
            count * points,
            sample_shape,
            Some(bs),
            |start, mut buf| {
                for (j, mut row) in buf.outer_iter_mut().enumerate() {
                    let g = start + j;
                    let (i, k) = (first + g / points, g % points);
                    let m = marks[k];
                    if state.sample != i || m < state.applied {
                        let x = flat_inputs.row(i);
                        let x: Vec<f32> = x.iter().copied().collect();
                        let mut base = vec![0.0f32; c * p];
                        fill_baseline(
                            &x,
                            c,
                            h,
                            w,
                            &config.baseline,
                            seeds.for_sample(i),
                            &mut base,
                        )?;
                        let map = maps.row(i);
                        let map: Vec<f32> = map.iter().copied().collect();
                        state.order = descending_order(&map);
                        match mode {
                            Mode::Insertion => {
                                state.cur = base;
                                state.end = x;
                            }
                            Mode::Deletion => {
                                state.cur = x;
                                state.end = base;
                            }
                        }
                        state.sample = i;
                        state.applied = 0;
                    }
                    for &px in &state.order[state.applied..m] {
                        for ch in 0..c {
                            state.cur[ch * p + px] = state.end[ch * p + px];
                        }
                    }
                    state.applied = m;
                    for (o, &v) in row.iter_mut().zip(&state.cur) {
                        *o = v;
                    }
                }
                Ok(())
            },
        )?;
        for (g, out) in scores.axis_iter(Axis(0)).enumerate() {
            let (i, k) = (first + g / points, g % points);
            let out: Vec<f32> = out.iter().copied().collect();
            curves[[i, k]] = target_score(&out, targets[i], config.score);
        }
        first += count;
    }

    let auc: Vec<f64> = curves
        .axis_iter(Axis(0))
        .map(|y| {
            (0..s)
                .map(|k| (fractions[k + 1] - fractions[k]) * (y[k] + y[k + 1]) / 2.0)
                .sum()
        })
        .collect();
    Ok(PerturbationCurves {
        fractions,
        curves,
        auc: Scores::new(auc)?,
    })
}

struct State {
    sample: usize,
    applied: usize,
    cur: Vec<f32>,
    end: Vec<f32>,
    order: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3, Array4};
    use salience_core::LinearModel;

    fn additive() -> (LinearModel, Array4<f32>) {
        // Score = 4 x0 + 3 x1 + 2 x2 + 1 x3 on a 1×2×2 image of ones.
        let m = LinearModel::new(array![[4.0f32, 3.0, 2.0, 1.0]], array![0.0f32]).unwrap();
        (m, Array4::<f32>::ones((1, 1, 2, 2)))
    }

    fn raw_black(n_steps: usize) -> CurveConfig {
        CurveConfig {
            n_steps,
            baseline: Baseline::Constant(0.0),
            score: ScoreKind::Raw,
            ..Default::default()
        }
    }

    #[test]
    fn hand_computed_additive_model() {
        let (m, x) = additive();
        let a = AttributionBatch::from_pixel_maps(array![[[4.0f32, 3.0], [2.0, 1.0]]]).unwrap();
        type Run = fn(
            &dyn Model,
            ArrayViewD<'_, f32>,
            &AttributionBatch,
            &[usize],
            &CurveConfig,
            Seeds<'_>,
        ) -> Result<PerturbationCurves>;
        let curve = |run: Run, a: &AttributionBatch, n_steps: usize| {
            run(
                &m,
                x.view().into_dyn(),
                a,
                &[0],
                &raw_black(n_steps),
                Seeds::base(0),
            )
            .unwrap()
        };
        // Insertion, 4 steps: scores 0, 4, 7, 9, 10 at x = 0, ¼, ½, ¾, 1:
        // AUC = ¼ (2 + 5.5 + 8 + 9.5) = 6.25.
        let r = curve(insertion, &a, 4);
        assert_eq!(r.fractions, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(r.curves.row(0).to_vec(), vec![0.0, 4.0, 7.0, 9.0, 10.0]);
        assert!((r.auc.values()[0] - 6.25).abs() < 1e-12);
        // n_steps larger than P is clamped to P.
        let r2 = curve(insertion, &a, 1000);
        assert_eq!(r2, r);
        // 2 steps: 0, 7, 10 at 0, ½, 1 → ½ (3.5 + 8.5) = 6.
        let r3 = curve(insertion, &a, 2);
        assert!((r3.auc.values()[0] - 6.0).abs() < 1e-12);
        // 3 steps over 4 pixels: m = 0, 1, 2, 4 → scores 0, 4, 7, 10 at 0, ¼, ½, 1:
        // ¼·2 + ¼·5.5 + ½·8.5 = 6.125.
        let r4 = curve(insertion, &a, 3);
        assert!((r4.auc.values()[0] - 6.125).abs() < 1e-12);
        // Deletion: 10, 6, 3, 1, 0 → ¼ (8 + 4.5 + 2 + 0.5) = 3.75.
        let d = curve(deletion, &a, 4);
        assert!((d.auc.values()[0] - 3.75).abs() < 1e-12);
        // The reversed (worst) order: insertion 0,1,3,6,10 → ¼(0.5+2+4.5+8) = 3.75.
        let bad = AttributionBatch::from_pixel_maps(array![[[1.0f32, 2.0], [3.0, 4.0]]]).unwrap();
        let rb = curve(insertion, &bad, 4);
        assert!((rb.auc.values()[0] - 3.75).abs() < 1e-12);
    }

    #[test]
    fn image_attributions_and_channels() {
        // 2 channels; the model weighs channel 1 of pixel 1 only.
        let mut w = ndarray::Array2::<f32>::zeros((2, 4));
        w[[0, 3]] = 5.0; // feature 3 = channel 1, pixel 1
        let m = LinearModel::new(w, array![0.0f32, 0.0]).unwrap();
        let x = Array4::<f32>::ones((1, 2, 1, 2));
        let mut a = Array4::<f32>::zeros((1, 2, 1, 2));
        a[[0, 1, 0, 1]] = -1.0; // SumAbs makes pixel 1 first
        let a = AttributionBatch::from_images(a).unwrap();
        let r = insertion(
            &m,
            x.view().into_dyn(),
            &a,
            &[0],
            &raw_black(2),
            Seeds::base(0),
        )
        .unwrap();
        assert_eq!(r.curves.row(0).to_vec(), vec![0.0, 5.0, 5.0]);
    }

    #[test]
    fn one_channel_maps_of_two_channel_images_are_pixel_maps() {
        // Before: [N, 1, H, W] maps of 2-channel inputs were a ShapeMismatch.
        // The map [−1, 0] is used as it is (pixel 1 first), exactly like the
        // [N, H, W] map; a SumAbs reduction would have put pixel 0 first.
        let mut w = ndarray::Array2::<f32>::zeros((2, 4));
        w[[0, 3]] = 5.0;
        let m = LinearModel::new(w, array![0.0f32, 0.0]).unwrap();
        let x = Array4::<f32>::ones((1, 2, 1, 2));
        let one = AttributionBatch::from_images(
            Array4::from_shape_vec((1, 1, 1, 2), vec![-1.0f32, 0.0]).unwrap(),
        )
        .unwrap();
        let px = AttributionBatch::from_pixel_maps(array![[[-1.0f32, 0.0]]]).unwrap();
        let run = |a: &AttributionBatch| {
            insertion(
                &m,
                x.view().into_dyn(),
                a,
                &[0],
                &raw_black(2),
                Seeds::base(0),
            )
            .unwrap()
        };
        let r = run(&one);
        assert_eq!(r.curves.row(0).to_vec(), vec![0.0, 5.0, 5.0]);
        assert_eq!(r, run(&px));
    }

    #[test]
    fn softmax_scores_are_probabilities() {
        let m = LinearModel::new(array![[1.0f32, 1.0], [0.0, 0.0]], array![0.0f32, 0.0]).unwrap();
        let x = Array3::<f32>::ones((1, 1, 2));
        let a = AttributionBatch::from_pixel_maps(array![[[1.0f32, 0.0]]]).unwrap();
        let cfg = CurveConfig {
            baseline: Baseline::Constant(0.0),
            ..Default::default()
        };
        let r = insertion(&m, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0)).unwrap();
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        let want = [0.5, sig(1.0), sig(2.0)];
        for (g, w) in r.curves.row(0).iter().zip(want) {
            assert!((g - w).abs() < 1e-7);
        }
    }

    #[test]
    fn same_scores_at_any_chunk_size_and_seeded() {
        let m = LinearModel::new(
            ndarray::Array2::from_shape_fn((3, 2 * 5 * 4), |(k, j)| {
                ((k * 7 + j * 3) % 5) as f32 - 2.0
            }),
            array![0.1f32, 0.0, -0.1],
        )
        .unwrap();
        let x = Array4::from_shape_fn((3, 2, 5, 4), |(n, c, y, xx)| {
            ((n + c * 3 + y * 5 + xx) % 7) as f32 / 7.0
        });
        let a =
            AttributionBatch::from_images(Array4::from_shape_fn((3, 2, 5, 4), |(n, c, y, xx)| {
                ((n * 11 + c + y * 3 + xx * 5) % 6) as f32
            }))
            .unwrap();
        let targets = [0, 1, 2];
        let run = |bs: Option<usize>, seed: u64| {
            let cfg = CurveConfig {
                n_steps: 7,
                batch_size: BatchSize::from_option(bs).unwrap(),
                ..Default::default()
            };
            insertion(
                &m,
                x.view().into_dyn(),
                &a,
                &targets,
                &cfg,
                Seeds::base(seed),
            )
            .unwrap()
        };
        let reference = run(Some(1), 3);
        for bs in [Some(2), Some(5), Some(8), Some(13), Some(100), None] {
            assert_eq!(run(bs, 3), reference, "batch size {bs:?}");
        }
        assert_ne!(run(Some(4), 4).curves, reference.curves);
        // Per-sample seeds: a sub-batch sees the same baseline.
        let seeds = [10u64, 11, 12];
        let cfg = CurveConfig {
            n_steps: 7,
            ..Default::default()
        };
        let full = deletion(
            &m,
            x.view().into_dyn(),
            &a,
            &targets,
            &cfg,
            Seeds::per_sample(&seeds),
        )
        .unwrap();
        let x1 = x.slice(ndarray::s![1..2, .., .., ..]).to_owned();
        let a1 = AttributionBatch::from_images(
            a.view()
                .slice_axis(Axis(0), (1..2).into())
                .to_owned()
                .into_dimensionality()
                .unwrap(),
        )
        .unwrap();
        let one = deletion(
            &m,
            x1.view().into_dyn(),
            &a1,
            &[1],
            &cfg,
            Seeds::per_sample(&seeds[1..]),
        )
        .unwrap();
        assert_eq!(one.curves.row(0), full.curves.row(1));
    }

    #[test]
    fn bad_input_is_typed() {
        let (m, x) = additive();
        let a = AttributionBatch::from_pixel_maps(array![[[4.0f32, 3.0], [2.0, 1.0]]]).unwrap();
        let xv = x.view().into_dyn();
        let s = Seeds::base(0);
        assert!(matches!(
            insertion(&m, xv.clone(), &a, &[0], &raw_black(0), s),
            Err(SalienceError::InvalidParameter { .. })
        ));
        let mut xn = x.clone();
        xn[[0, 0, 1, 1]] = f32::NAN;
        assert!(matches!(
            insertion(&m, xn.view().into_dyn(), &a, &[0], &raw_black(4), s),
            Err(SalienceError::NonFinite { .. })
        ));
        let wrong = AttributionBatch::from_pixel_maps(Array3::<f32>::ones((1, 2, 3))).unwrap();
        assert!(matches!(
            deletion(&m, xv.clone(), &wrong, &[0], &raw_black(4), s),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            deletion(&m, xv.clone(), &a, &[1], &raw_black(4), s),
            Err(SalienceError::TargetOutOfRange { .. })
        ));
        assert!(matches!(
            deletion(&m, xv.clone(), &a, &[0, 0], &raw_black(4), s),
            Err(SalienceError::TargetCount { .. })
        ));
        let blur_tab = CurveConfig {
            baseline: Baseline::Blur {
                sigma: 1.0,
                kernel_size: 3,
            },
            ..Default::default()
        };
        let tab = AttributionBatch::from_tabular(array![[1.0f32, 2.0, 3.0, 4.0]]).unwrap();
        let xt = array![[1.0f32, 1.0, 1.0, 1.0]].into_dyn();
        assert!(matches!(
            insertion(&m, xt.view(), &tab, &[0], &blur_tab, s),
            Err(SalienceError::InvalidParameter { .. })
        ));
        // Tabular inputs work with the other baselines.
        let r = insertion(&m, xt.view(), &tab, &[0], &raw_black(4), s).unwrap();
        assert_eq!(r.curves.row(0).to_vec(), vec![0.0, 1.0, 3.0, 6.0, 10.0]);
    }
}
