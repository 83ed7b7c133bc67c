//! ROAD — RemOve And Debias (Rong et al. 2022; Decker et al. (2024) C.1).
//!
//! For each sample and each percentage `p` of a list, the `⌊p/100 · P⌋`
//! pixels (all channels) that come first in the order of the attribution
//! pixel map are removed and filled in by [noisy linear
//! imputation](crate::imputation), and the model scores the imputed image:
//!
//! * **MoRF** (most relevant first: pixels by decreasing attribution) — a
//!   good map makes the score fall fast: **lower is better**;
//! * **LeRF** (least relevant first: by increasing attribution) — a good
//!   map keeps the score: **higher is better**.
//!
//! Ties keep pixel-index order (MoRF: lower index first; LeRF is the exact
//! reverse of the MoRF order). The result is one curve per sample over the
//! percentages (accuracy — arg-max equals the target, Quantus' score —,
//! softmax probability, or raw output) plus the clean score, so that Decker
//! et al. (2024)'s "decrease in confidence" (their MoRF_p) is the mean of
//! `curve − clean`
//! ([`RoadCurves::change`]). The `N·K` imputations are computed chunk by
//! chunk inside [`salience_core::model::forward_generated`] (in parallel
//! within a chunk; the noise of sample `i` at percentage `k` comes from
//! `derive_seed(derive_seed(seed_i, 4), k)`, so neither threads nor chunk
//! size change the scores: bit for bit for a batch-invariant model such as
//! `LinearModel`; a candle model's logits move in the last bits with the
//! batch, docs/architecture.md § Determinism).
//!
//! The order comes from the pixel map: image attributions are reduced
//! with [`RoadConfig::reduction`] (default `Sum`); pixel maps `[N, H, W]`
//! and, for multi-channel inputs, `[N, 1, H, W]` are used as they are.
//! Percentages must lie in the open interval (0, 100) and the list must be
//! non-empty; tabular inputs are rejected. pytorch-grad-cam thresholds by
//! percentile, which removes tied pixels together; here exactly
//! `⌊p·P/100⌋` pixels are removed, as in Quantus.
//!
//! Tests: the imputation reproduces a linear ramp in the interior (noise
//! 0); one removed pixel gets exactly the weighted mean of its 8
//! neighbours; the noise is seeded and touches only removed pixels; on an
//! additive model MoRF falls below LeRF at every percentage; chunk
//! invariance and typed errors.

use crate::common::{argmax, check_batch_size, flat_inputs, geometry_with_maps, target_score};
use crate::imputation::{impute_into, ImputationConfig};
use crate::insertion_deletion::ScoreKind;
use crate::rank::descending_order;
use crate::scores::Scores;
use ndarray::{Array1, Array2, ArrayViewD, Axis};
use rayon::prelude::*;
use salience_core::model::forward_generated;
use salience_core::seed::derive_seed;
use salience_core::spec::Validate;
use salience_core::validate::{check_finite, check_targets};
use salience_core::{
    AttributionBatch, BatchSize, ChannelReduction, Layout, Model, Result, SalienceError, Seeds,
};

/// Which pixels ROAD removes first.
///
/// ```
/// assert_eq!(salience_metrics::RoadOrder::default(), salience_metrics::RoadOrder::MoRF);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RoadOrder {
    /// Most relevant first (lower curve is better). Default.
    #[default]
    #[serde(rename = "morf")]
    MoRF,
    /// Least relevant first (higher curve is better).
    #[serde(rename = "lerf")]
    LeRF,
}

/// What the ROAD curve records.
///
/// ```
/// assert_eq!(salience_metrics::RoadScore::default(), salience_metrics::RoadScore::Accuracy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RoadScore {
    /// 1 if the arg-max of the model output is the target, else 0 (Quantus).
    #[default]
    Accuracy,
    /// Softmax probability of the target (pytorch-grad-cam, Decker et al. (2024)).
    Probability,
    /// Raw output for the target.
    Raw,
}

/// Options of [`road`].
///
/// | preset | percentages | score |
/// |---|---|---|
/// | [`Default`], [`quantus`](Self::quantus) | 1, 3, …, 99 | accuracy |
/// | [`paper`](Self::paper) (Decker et al. (2024), via pytorch-grad-cam) | 10, 20, 30 | probability |
/// | [`grad_cam`](Self::grad_cam) (`ROAD*Average`) | 10, 20, …, 90 | probability |
///
/// All use ROAD's imputation noise σ = 0.01 and the MoRF order.
///
/// ```
/// use salience_metrics::RoadConfig;
/// let c = RoadConfig::default();
/// assert_eq!(c.percentages.len(), 50);
/// assert_eq!(RoadConfig::decker2024().percentages, vec![10.0, 20.0, 30.0]);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoadConfig {
    /// Percentages of removed pixels, each in the open interval (0, 100).
    pub percentages: Vec<f64>,
    /// MoRF or LeRF.
    pub order: RoadOrder,
    /// What the curve records.
    pub score: RoadScore,
    /// Imputation noise and solver tolerance.
    pub imputation: ImputationConfig,
    /// Channel reduction for `[N, C, H, W]` attributions (default `Sum`:
    /// signed evidence, so MoRF removes the most positive pixels first).
    pub reduction: ChannelReduction,
    /// Model inputs per forward call: [`BatchSize::Auto`] (default) is the
    /// largest chunk that fits the memory budget, at most the model's
    /// preferred batch size ([`salience_core::batch`]); `Fixed(n)` is `n`.
    /// Scores do not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
}

impl Default for RoadConfig {
    fn default() -> Self {
        Self::quantus()
    }
}

impl RoadConfig {
    /// Quantus' `ROAD`: `percentages=range(1, 100, 2)`, `noise=0.01`,
    /// MoRF, accuracy.
    ///
    /// ```
    /// assert_eq!(salience_metrics::RoadConfig::quantus().percentages[1], 3.0);
    /// ```
    pub fn quantus() -> Self {
        RoadConfig {
            percentages: (1..100).step_by(2).map(|p| p as f64).collect(),
            order: RoadOrder::MoRF,
            score: RoadScore::Accuracy,
            imputation: ImputationConfig::default(),
            reduction: ChannelReduction::Sum,
            batch_size: BatchSize::Auto,
        }
    }

    /// Decker et al. (2024) Table 1: MoRF at 10, 20 and 30 %, softmax probability
    /// (report `change()`: the decrease in confidence).
    ///
    /// ```
    /// assert_eq!(salience_metrics::RoadConfig::decker2024().score, salience_metrics::RoadScore::Probability);
    /// ```
    pub fn decker2024() -> Self {
        RoadConfig {
            percentages: vec![10.0, 20.0, 30.0],
            score: RoadScore::Probability,
            ..Self::quantus()
        }
    }

    /// The former name of [`RoadConfig::decker2024`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `decker2024`"
    )]
    pub fn paper() -> Self {
        Self::decker2024()
    }

    /// pytorch-grad-cam's `ROADMostRelevantFirstAverage` percentiles
    /// 10, 20, …, 90, probability.
    ///
    /// ```
    /// assert_eq!(salience_metrics::RoadConfig::grad_cam().percentages.len(), 9);
    /// ```
    pub fn grad_cam() -> Self {
        RoadConfig {
            percentages: (1..10).map(|p| 10.0 * p as f64).collect(),
            score: RoadScore::Probability,
            ..Self::quantus()
        }
    }
}

/// ROAD curves of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadCurves {
    /// The percentages, as given.
    pub percentages: Vec<f64>,
    /// `[N, K]`: the score after removing each percentage.
    pub curves: Array2<f64>,
    /// The score of each unperturbed input.
    pub clean: Array1<f64>,
    /// Per sample, the mean of its curve over the percentages.
    pub mean: Scores,
}

impl RoadCurves {
    /// `curves − clean`: the change of the score (Decker et al. (2024)'s MoRF_p is the
    /// mean over samples of this at `p`).
    ///
    /// ```
    /// use ndarray::{array, Array4};
    /// use salience_core::{AttributionBatch, LinearModel, Seeds};
    /// use salience_metrics::{road, RoadConfig, RoadScore};
    /// let model = LinearModel::new(array![[1.0f32, 1.0, 1.0, 1.0]], array![0.0f32])?;
    /// let x = Array4::from_elem((1, 1, 2, 2), 1.0f32);
    /// let a = AttributionBatch::from_pixel_maps(array![[[1.0f32, 0.0], [0.0, 0.0]]])?;
    /// let cfg = RoadConfig { percentages: vec![50.0], score: RoadScore::Raw, ..Default::default() };
    /// let r = road(&model, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0))?;
    /// assert_eq!(r.change().shape(), &[1, 1]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn change(&self) -> Array2<f64> {
        &self.curves - &self.clean.view().insert_axis(Axis(1))
    }
}

impl Validate for RoadConfig {
    /// At least one percentage, each in (0, 100); a valid imputation;
    /// a `batch_size` in range.
    fn validate(&self) -> Result<()> {
        if self.percentages.is_empty() {
            return Err(SalienceError::Empty("ROAD percentages".into()));
        }
        if let Some(&p) = self
            .percentages
            .iter()
            .find(|&&p| !(p.is_finite() && p > 0.0 && p < 100.0))
        {
            return Err(SalienceError::invalid(
                "percentages",
                p,
                "every percentage must be in (0, 100)",
            ));
        }
        self.imputation.validate()?;
        check_batch_size(self.batch_size)
    }
}

/// ROAD curves (MoRF: lower is better; LeRF: higher is better); see the
/// [module docs](self).
///
/// `inputs` `[N, C, H, W]` or `[N, H, W]` (images: the imputation needs
/// neighbours); `attributions` input-shaped (reduced with
/// [`RoadConfig::reduction`]) or pixel maps `[N, H, W]` — for
/// multi-channel inputs also `[N, 1, H, W]` — used as they are.
///
/// Errors: percentages empty or outside (0, 100), shape mismatches,
/// NaN/Inf, tabular inputs, bad targets, solver or model failures.
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{road, RoadConfig, RoadOrder, RoadScore};
/// // An additive model on a 4×4 image; the map ranks pixels by their weight.
/// let w: Vec<f32> = (0..16).map(|i| i as f32).collect();
/// let model = LinearModel::new(ndarray::Array2::from_shape_vec((1, 16), w.clone()).unwrap(), array![0.0f32])?;
/// let x = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, y, x)| if (y + x) % 2 == 0 { 1.0 } else { 0.0 });
/// let a = AttributionBatch::from_pixel_maps(ndarray::Array3::from_shape_vec((1, 4, 4), w).unwrap())?;
/// let mut cfg = RoadConfig { percentages: vec![25.0, 50.0], score: RoadScore::Raw, ..Default::default() };
/// let morf = road(&model, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0))?;
/// cfg.order = RoadOrder::LeRF;
/// let lerf = road(&model, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0))?;
/// assert_eq!(morf.curves.shape(), &[1, 2]);
/// # let _ = lerf;
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn road(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &RoadConfig,
    seeds: Seeds<'_>,
) -> Result<RoadCurves> {
    config.validate()?;
    let shape = inputs.shape().to_vec();
    let g = geometry_with_maps(&shape, attributions, "ROAD inputs")?;
    if g.tabular {
        return Err(SalienceError::shape(
            "ROAD inputs",
            "images [N, C, H, W] or [N, H, W]",
            &shape,
        ));
    }
    check_targets(targets, g.n, model.num_classes())?;
    seeds.check_len(g.n)?;
    let x = flat_inputs(inputs, &g, "ROAD inputs")?;
    // Pixel maps ([N, H, W], or [N, 1, H, W] of multi-channel inputs) are
    // used as they are; input-shaped maps are reduced.
    let maps = match attributions.layout() {
        Layout::Image { .. } if !g.per_pixel => attributions
            .reduce_channels(config.reduction)?
            .as_flat()
            .to_owned(),
        _ => attributions.as_flat().to_owned(),
    };
    check_finite(&maps, "ROAD attributions")?;
    let orders: Vec<Vec<usize>> = maps
        .outer_iter()
        .map(|r| {
            let mut o = descending_order(&r.iter().copied().collect::<Vec<_>>());
            if config.order == RoadOrder::LeRF {
                o.reverse();
            }
            o
        })
        .collect();
    let counts: Vec<usize> = config
        .percentages
        .iter()
        .map(|&pc| ((pc / 100.0 * g.p as f64).floor() as usize).min(g.p - 1))
        .collect();
    let k = counts.len();
    let per = k + 1;
    let (c, h, w, p, d) = (g.c, g.h, g.w, g.p, g.d);
    let scores = forward_generated(
        model,
        g.n * per,
        &shape[1..],
        config.batch_size.get(),
        |start, mut buf| {
            let rows: Vec<_> = buf.axis_iter_mut(Axis(0)).enumerate().collect();
            rows.into_par_iter()
                .try_for_each(|(r, mut row)| -> Result<()> {
                    let gi = start + r;
                    let (i, kk) = (gi / per, gi % per);
                    let out = row
                        .as_slice_mut()
                        .ok_or_else(|| SalienceError::backend_msg("non-contiguous chunk buffer"))?;
                    let src = x.row(i);
                    let src = src
                        .as_slice()
                        .ok_or_else(|| SalienceError::backend_msg("non-contiguous inputs"))?;
                    out.copy_from_slice(src);
                    if kk == 0 {
                        return Ok(());
                    }
                    let mut mask = vec![false; p];
                    for &px in &orders[i][..counts[kk - 1]] {
                        mask[px] = true;
                    }
                    let seed = derive_seed(derive_seed(seeds.for_sample(i), 4), (kk - 1) as u64);
                    debug_assert_eq!(out.len(), d);
                    impute_into(src, &mask, c, h, w, &config.imputation, seed, out)
                })
        },
    )?;
    let value = |row: ndarray::ArrayView1<'_, f32>, t: usize| -> f64 {
        let v: Vec<f32> = row.iter().copied().collect();
        match config.score {
            RoadScore::Accuracy => f64::from(u8::from(argmax(&v) == t)),
            RoadScore::Probability => target_score(&v, t, ScoreKind::Softmax),
            RoadScore::Raw => target_score(&v, t, ScoreKind::Raw),
        }
    };
    let mut curves = Array2::<f64>::zeros((g.n, k));
    let mut clean = Array1::<f64>::zeros(g.n);
    for i in 0..g.n {
        clean[i] = value(scores.row(i * per), targets[i]);
        for kk in 0..k {
            curves[[i, kk]] = value(scores.row(i * per + kk + 1), targets[i]);
        }
    }
    let mean = Scores::new(curves.outer_iter().map(|r| r.sum() / k as f64).collect())?;
    Ok(RoadCurves {
        percentages: config.percentages.clone(),
        curves,
        clean,
        mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3, Array4};
    use salience_core::LinearModel;

    /// An additive model on a 1×6×6 image whose weights are large on the
    /// top-left 3×3 block; x is a checkerboard, so imputation changes the
    /// removed pixels' values a lot.
    fn setup() -> (LinearModel, Array4<f32>, Vec<f32>) {
        let w: Vec<f32> = (0..36)
            .map(|i| {
                if (i / 6) < 3 && (i % 6) < 3 {
                    5.0 + i as f32 * 0.01
                } else {
                    0.01 * i as f32
                }
            })
            .collect();
        let m = LinearModel::new(
            ndarray::Array2::from_shape_vec((1, 36), w.clone()).unwrap(),
            array![0.0f32],
        )
        .unwrap();
        let x = Array4::from_shape_fn(
            (1, 1, 6, 6),
            |(_, _, y, xx)| if y < 3 && xx < 3 { 2.0 } else { 0.0 },
        );
        (m, x, w)
    }

    #[test]
    fn morf_falls_faster_than_lerf_on_an_additive_model() {
        let (m, x, w) = setup();
        // The exact attribution x ⊙ w.
        let a = Array3::from_shape_fn((1, 6, 6), |(_, y, xx)| x[[0, 0, y, xx]] * w[y * 6 + xx]);
        let a = AttributionBatch::from_pixel_maps(a).unwrap();
        let mut cfg = RoadConfig {
            percentages: vec![10.0, 25.0, 50.0],
            score: RoadScore::Raw,
            ..Default::default()
        };
        cfg.imputation.noise = 0.0;
        let morf = road(&m, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0)).unwrap();
        cfg.order = RoadOrder::LeRF;
        let lerf = road(&m, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0)).unwrap();
        let f0 = morf.clean[0];
        assert!((f0 - lerf.clean[0]).abs() < 1e-9);
        for kk in 0..3 {
            assert!(
                morf.curves[[0, kk]] < lerf.curves[[0, kk]] - 1.0,
                "{morf:?} {lerf:?}"
            );
        }
        // LeRF removes only zero pixels far from the block first: the score barely moves.
        assert!((lerf.curves[[0, 0]] - f0).abs() < 0.5);
        assert!(morf.mean.values()[0] < lerf.mean.values()[0]);
        assert_eq!(morf.change()[[0, 0]], morf.curves[[0, 0]] - f0);
    }

    #[test]
    fn seeded_chunk_invariant_and_accuracy() {
        let (m, x, _) = setup();
        let x3 = Array4::from_shape_fn((3, 1, 6, 6), |(n, _, y, xx)| {
            x[[0, 0, y, xx]] + n as f32 * 0.1
        });
        let a = AttributionBatch::from_images(x3.mapv(|v| v * 0.5 + 0.1)).unwrap();
        let run = |bs: Option<usize>, seed: u64, score: RoadScore| {
            let cfg = RoadConfig {
                percentages: vec![20.0, 60.0],
                batch_size: BatchSize::from_option(bs).unwrap(),
                score,
                ..Default::default()
            };
            road(
                &m,
                x3.view().into_dyn(),
                &a,
                &[0, 0, 0],
                &cfg,
                Seeds::base(seed),
            )
            .unwrap()
        };
        let r = run(Some(1), 1, RoadScore::Raw);
        for bs in [Some(2), Some(5), None] {
            assert_eq!(run(bs, 1, RoadScore::Raw), r);
        }
        assert_ne!(run(None, 2, RoadScore::Raw).curves, r.curves);
        // One class: accuracy is always 1.
        assert!(run(None, 1, RoadScore::Accuracy)
            .curves
            .iter()
            .all(|&v| v == 1.0));
    }

    #[test]
    fn one_channel_maps_of_rgb_inputs_are_pixel_maps() {
        // Before: [N, 1, H, W] maps of 3-channel inputs were a ShapeMismatch.
        let w: Vec<f32> = (0..3 * 36).map(|i| (i % 7) as f32 - 3.0).collect();
        let m = LinearModel::new(
            ndarray::Array2::from_shape_vec((1, 108), w).unwrap(),
            array![0.0f32],
        )
        .unwrap();
        let x = Array4::from_shape_fn((2, 3, 6, 6), |(n, c, y, xx)| {
            ((n + c + y * 6 + xx) % 5) as f32 / 4.0
        });
        let px = Array3::from_shape_fn((2, 6, 6), |(n, y, xx)| {
            ((n * 7 + y * 6 + xx) % 11) as f32 - 5.0
        });
        let flat = AttributionBatch::from_pixel_maps(px.clone()).unwrap();
        let one = AttributionBatch::from_images(px.insert_axis(Axis(1))).unwrap();
        assert_eq!(one.shape(), &[2, 1, 6, 6]);
        let cfg = RoadConfig {
            percentages: vec![20.0, 50.0],
            score: RoadScore::Raw,
            ..Default::default()
        };
        let xv = x.view().into_dyn();
        let a = road(&m, xv.clone(), &flat, &[0, 0], &cfg, Seeds::base(3)).unwrap();
        let b = road(&m, xv, &one, &[0, 0], &cfg, Seeds::base(3)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_input_is_typed() {
        let (m, x, _) = setup();
        let xv = x.view().into_dyn();
        let a = AttributionBatch::from_images(x.clone()).unwrap();
        let s = Seeds::base(0);
        for bad in [vec![0.0], vec![100.0], vec![-5.0], vec![50.0, f64::NAN]] {
            let cfg = RoadConfig {
                percentages: bad,
                ..Default::default()
            };
            assert!(matches!(
                road(&m, xv.clone(), &a, &[0], &cfg, s),
                Err(SalienceError::InvalidParameter { .. })
            ));
        }
        let empty = RoadConfig {
            percentages: vec![],
            ..Default::default()
        };
        assert!(matches!(
            road(&m, xv.clone(), &a, &[0], &empty, s),
            Err(SalienceError::Empty(_))
        ));
        let wrong = AttributionBatch::from_pixel_maps(Array3::zeros((1, 6, 5))).unwrap();
        assert!(matches!(
            road(&m, xv.clone(), &wrong, &[0], &Default::default(), s),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        let tab = array![[1.0f32, 2.0]];
        let lm = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32]).unwrap();
        let ta = AttributionBatch::from_tabular(tab.clone()).unwrap();
        assert!(matches!(
            road(
                &lm,
                tab.view().into_dyn(),
                &ta,
                &[0],
                &Default::default(),
                s
            ),
            Err(SalienceError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            road(&m, xv.clone(), &a, &[3], &Default::default(), s),
            Err(SalienceError::TargetOutOfRange { .. })
        ));
    }
}
