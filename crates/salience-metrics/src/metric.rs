//! The [`Metric`] seam: one evaluation batch type ([`EvalBatch`]), one
//! trait implemented by every metric of this crate, and one
//! [`evaluate`] that scores a panel of metrics and feeds a [`ScoreTable`].
//!
//! An [`EvalBatch`] always carries the model, the inputs `[N, ...]`, one
//! target per input and the maps being evaluated; masks, boxes, superpixel
//! segments, the explainer (robustness metrics), a representation
//! (relative representation stability) and an MPRT randomisation cascade
//! are attached when a metric needs them. A metric whose input is missing
//! returns [`SalienceError::InvalidParameter`] naming the missing part
//! (never a panic).
//!
//! Every metric returns per-sample [`Outcomes`]: a score, or undefined with
//! the reason, for each sample; the Monte Carlo metrics also attach each
//! score's standard error ([`Outcomes::sem`]). Through the trait a metric
//! gives exactly its free function's values on the same batch and seeds.
//!
//! | Implementor | Name | Needs | Better |
//! |---|---|---|---|
//! | [`SparsenessConfig`] | `gini_sparseness` | maps | higher |
//! | [`ComplexityConfig`] | `entropy_complexity` | maps | lower |
//! | [`PointingGameConfig`] | `pointing_game` | masks | higher |
//! | [`RankAccuracy`] | `relevance_rank_accuracy` | masks | higher |
//! | [`MassAccuracy`] | `relevance_mass_accuracy` | masks | higher |
//! | [`RankingAuc`] | `ranking_auc` | masks | higher |
//! | [`TopKConfig`] | `top_k_intersection` | masks | higher |
//! | [`BoxLocalizationConfig`] | `box_iou` (per-sample IoU) | boxes | higher |
//! | [`Insertion`] / [`Deletion`] | `insertion` / `deletion` (AUC) | model | higher / lower |
//! | [`InfidelityConfig`] | `infidelity` | model (segments for [`Perturbation::RandomSegments`](crate::Perturbation::RandomSegments)) | lower |
//! | [`CumulativeInfidelityConfig`] | `infidelity_cumulative` | model | lower |
//! | [`FaithfulnessCorrelationConfig`] | `faithfulness_correlation` | model (segments as infidelity) | higher |
//! | [`RoadConfig`] | `road_morf` / `road_lerf` (mean of the curve) | model | MoRF lower, LeRF higher |
//! | [`Sensitivity`] | `avg_sensitivity` / `max_sensitivity` | explainer | lower |
//! | [`Stability`] | `ris` / `ros` / `rrs` | explainer (+ representation for RRS) | lower |
//! | [`Mprt`] | `mprt_spearman` / `mprt_ssim` (last stage) | cascade | lower |
//!
//! ```
//! use ndarray::array;
//! use salience_core::{AttributionBatch, LinearModel, Seeds};
//! use salience_metrics::{evaluate, EvalBatch, MaskBatch, Metric, PointingGameConfig, SparsenessConfig};
//! let model = LinearModel::new(array![[1.0f32, 0.0, 0.0, 0.0]], array![0.0f32])?;
//! let x = ndarray::Array4::<f32>::ones((2, 1, 2, 2));
//! let maps = AttributionBatch::from_pixel_maps(array![
//!     [[0.0f32, 1.0], [0.0, 0.0]],
//!     [[0.0, 0.0], [0.0, 0.0]], // all zero: undefined for both metrics
//! ])?;
//! let masks = MaskBatch::from_f32(array![[[0.0f32, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]].view())?;
//! let batch = EvalBatch::new(&model, x.view().into_dyn(), &[0, 0], &maps)?.with_masks(&masks)?;
//! let pg = PointingGameConfig::default();
//! assert_eq!(pg.score(&batch, Seeds::base(0))?.get(0), Some(1.0));
//! let panel: [&dyn Metric; 2] = [&pg, &SparsenessConfig::default()];
//! let result = evaluate(&panel, &batch, Seeds::base(0))?;
//! assert_eq!(result.outcomes()[0].n_undefined(), 1);
//! let table = result.to_table("my method")?;
//! assert_eq!(table.columns()[1].0, "gini_sparseness");
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::box_localization::{box_localization, BoxLocalizationConfig};
use crate::entropy::{entropy_complexity, ComplexityConfig};
use crate::faithfulness_correlation::FaithfulnessCorrelationConfig;
use crate::infidelity::{infidelity_cumulative, CumulativeInfidelityConfig, InfidelityConfig};
use crate::insertion_deletion::{deletion, insertion, CurveConfig};
use crate::maps::PixelMapConfig;
use crate::mask::MaskBatch;
use crate::mass_accuracy::relevance_mass_accuracy;
use crate::mprt::{mprt, MprtConfig};
use crate::pointing_game::{pointing_game, PointingGameConfig};
use crate::rank_accuracy::relevance_rank_accuracy;
use crate::ranking_auc::ranking_auc;
use crate::road::{road, RoadConfig, RoadOrder};
use crate::scores::{Outcomes, Summary};
use crate::sensitivity::{sensitivity, SensitivityConfig};
use crate::sparseness::{gini_sparseness, SparsenessConfig};
use crate::stability::{relative_stability, Representation, StabilityConfig};
use crate::table::{Better, ScoreTable};
use crate::top_k::{top_k_intersection, TopKConfig};
use crate::BoundingBox;
use ndarray::{ArrayView3, ArrayViewD};
use salience_core::{AttributionBatch, Explainer, Model, Result, SalienceError, Seeds};

/// An explainer factory for MPRT: `explainer_at(0)` explains with the
/// original model, `explainer_at(k)` with the top `k` layers randomised,
/// for `k = 1 ..= n_stages` (see [`mprt`]).
pub type ExplainerAt<'a> = &'a dyn Fn(usize) -> Result<Box<dyn Explainer>>;

/// Everything a metric may need to score one batch of `N` samples: the
/// model, the inputs `[N, ...]`, one target per input and the maps under
/// evaluation, plus (attached with the `with_*` methods, each checked
/// against `N` when attached) masks, boxes, segments, the explainer that
/// made the maps, a representation and an MPRT cascade.
///
/// ```
/// use ndarray::array;
/// use salience_core::{AttributionBatch, LinearModel};
/// use salience_metrics::{EvalBatch, MaskBatch};
/// let model = LinearModel::new(array![[1.0f32, 1.0]], array![0.0f32])?;
/// let x = array![[1.0f32, 2.0]];
/// let maps = AttributionBatch::from_tabular(array![[1.0f32, 2.0]])?;
/// let batch = EvalBatch::new(&model, x.view().into_dyn(), &[0], &maps)?;
/// assert_eq!(batch.len(), 1);
/// assert!(batch.masks().is_none());
/// // Two targets for one input: a typed error.
/// assert!(EvalBatch::new(&model, x.view().into_dyn(), &[0, 0], &maps).is_err());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Clone)]
pub struct EvalBatch<'a> {
    model: &'a dyn Model,
    inputs: ArrayViewD<'a, f32>,
    targets: &'a [usize],
    maps: &'a AttributionBatch,
    n: usize,
    masks: Option<&'a MaskBatch>,
    boxes: Option<&'a [BoundingBox]>,
    segments: Option<ArrayView3<'a, u32>>,
    explainer: Option<&'a dyn Explainer>,
    representation: Option<&'a dyn Representation>,
    cascade: Option<(ExplainerAt<'a>, usize)>,
}

impl<'a> EvalBatch<'a> {
    /// A batch of `model`, `inputs` `[N, ...]`, `targets` (one per input)
    /// and `maps` (one per input).
    ///
    /// Errors: inputs without a batch axis or with `N = 0`
    /// ([`SalienceError::Empty`] / [`SalienceError::ShapeMismatch`]), a
    /// target count other than `N` ([`SalienceError::TargetCount`]), a map
    /// count other than `N` ([`SalienceError::ShapeMismatch`]).
    pub fn new(
        model: &'a dyn Model,
        inputs: ArrayViewD<'a, f32>,
        targets: &'a [usize],
        maps: &'a AttributionBatch,
    ) -> Result<Self> {
        let n = match inputs.shape().first() {
            Some(&n) if inputs.ndim() >= 2 => n,
            _ => {
                return Err(SalienceError::shape(
                    "evaluation inputs",
                    "[N, ...] with at least two axes",
                    inputs.shape(),
                ))
            }
        };
        if n == 0 {
            return Err(SalienceError::Empty("evaluation inputs".into()));
        }
        if targets.len() != n {
            return Err(SalienceError::TargetCount {
                targets: targets.len(),
                inputs: n,
            });
        }
        if maps.len() != n {
            return Err(SalienceError::shape(
                "evaluation maps",
                format!("{n} maps (one per input)"),
                maps.shape(),
            ));
        }
        Ok(EvalBatch {
            model,
            inputs,
            targets,
            maps,
            n,
            masks: None,
            boxes: None,
            segments: None,
            explainer: None,
            representation: None,
            cascade: None,
        })
    }

    /// Attaches one ground-truth mask per sample (localisation metrics).
    ///
    /// Errors: a mask count other than `N` ([`SalienceError::ShapeMismatch`]).
    pub fn with_masks(mut self, masks: &'a MaskBatch) -> Result<Self> {
        if masks.len() != self.n {
            let (n, h, w) = masks.shape();
            return Err(SalienceError::shape(
                "evaluation masks",
                format!("{} masks (one per input)", self.n),
                &[n, h, w],
            ));
        }
        self.masks = Some(masks);
        Ok(self)
    }

    /// Attaches one ground-truth box per sample (box localisation).
    ///
    /// Errors: a box count other than `N` ([`SalienceError::ShapeMismatch`]).
    pub fn with_boxes(mut self, boxes: &'a [BoundingBox]) -> Result<Self> {
        if boxes.len() != self.n {
            return Err(SalienceError::shape(
                "evaluation boxes",
                format!("{} boxes (one per input)", self.n),
                &[boxes.len()],
            ));
        }
        self.boxes = Some(boxes);
        Ok(self)
    }

    /// Attaches superpixel labels `[N, H, W]` (any `u32` labels) for
    /// [`Perturbation::RandomSegments`](crate::Perturbation::RandomSegments).
    ///
    /// Errors: a first axis other than `N` ([`SalienceError::ShapeMismatch`];
    /// `H × W` is checked by the metric against the inputs).
    pub fn with_segments(mut self, segments: ArrayView3<'a, u32>) -> Result<Self> {
        if segments.dim().0 != self.n {
            return Err(SalienceError::shape(
                "evaluation segments",
                format!("[{}, H, W] (one label map per input)", self.n),
                segments.shape(),
            ));
        }
        self.segments = Some(segments);
        Ok(self)
    }

    /// Attaches the explainer that made the maps (sensitivity, relative
    /// stability re-explain perturbed inputs with it).
    pub fn with_explainer(mut self, explainer: &'a dyn Explainer) -> Self {
        self.explainer = Some(explainer);
        self
    }

    /// Attaches an internal representation `L(x)` (relative representation
    /// stability).
    pub fn with_representation(mut self, representation: &'a dyn Representation) -> Self {
        self.representation = Some(representation);
        self
    }

    /// Attaches an MPRT cascade: `explainer_at(k)` explains with the top
    /// `k` layers randomised, `k = 0 ..= n_stages`.
    ///
    /// Errors: `n_stages == 0` ([`SalienceError::InvalidParameter`]).
    pub fn with_cascade(mut self, explainer_at: ExplainerAt<'a>, n_stages: usize) -> Result<Self> {
        if n_stages == 0 {
            return Err(SalienceError::invalid("n_stages", 0, "must be ≥ 1"));
        }
        self.cascade = Some((explainer_at, n_stages));
        Ok(self)
    }

    /// Number of samples `N`.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: a batch has at least one sample.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The model.
    pub fn model(&self) -> &'a dyn Model {
        self.model
    }

    /// The inputs `[N, ...]`.
    pub fn inputs(&self) -> ArrayViewD<'a, f32> {
        self.inputs.clone()
    }

    /// One target class per input.
    pub fn targets(&self) -> &'a [usize] {
        self.targets
    }

    /// The maps under evaluation.
    pub fn maps(&self) -> &'a AttributionBatch {
        self.maps
    }

    /// The ground-truth masks, if attached.
    pub fn masks(&self) -> Option<&'a MaskBatch> {
        self.masks
    }

    /// The ground-truth boxes, if attached.
    pub fn boxes(&self) -> Option<&'a [BoundingBox]> {
        self.boxes
    }

    /// The superpixel labels, if attached.
    pub fn segments(&self) -> Option<ArrayView3<'a, u32>> {
        self.segments
    }

    /// The explainer, if attached.
    pub fn explainer(&self) -> Option<&'a dyn Explainer> {
        self.explainer
    }

    /// The representation, if attached.
    pub fn representation(&self) -> Option<&'a dyn Representation> {
        self.representation
    }

    /// The MPRT cascade and its number of stages, if attached.
    pub fn cascade(&self) -> Option<(ExplainerAt<'a>, usize)> {
        self.cascade
    }
}

/// The typed error of a metric whose batch lacks an input it needs.
fn missing(metric: &str, what: &str, how: &str) -> SalienceError {
    SalienceError::invalid(
        &format!("EvalBatch::{what}"),
        "none",
        &format!("{metric} needs {what}: attach them with EvalBatch::{how}"),
    )
}

fn need<T>(value: Option<T>, metric: &str, what: &str, how: &str) -> Result<T> {
    value.ok_or_else(|| missing(metric, what, how))
}

/// A metric: scores each sample of an [`EvalBatch`] (see the
/// [module docs](self) for the implementors).
pub trait Metric: Send + Sync {
    /// A short column name (`"infidelity"`, `"pointing_game"`, …).
    fn name(&self) -> &str;

    /// Whether higher or lower scores are better.
    fn direction(&self) -> Better;

    /// Per-sample outcomes on `batch`; sample `i` draws its randomness from
    /// `seeds.for_sample(i)`, exactly as the metric's free function.
    ///
    /// Errors: the batch lacks what the metric needs
    /// ([`SalienceError::InvalidParameter`] naming it), and the metric's own
    /// errors (bad parameters, shapes, model failures). An undefined sample
    /// is an [`Outcome::Undefined`](crate::Outcome::Undefined), not an error.
    fn score(&self, batch: &EvalBatch<'_>, seeds: Seeds<'_>) -> Result<Outcomes>;
}

/// Implements [`Metric`] for `$ty`: its name, direction and
/// `score(self, batch, seeds)` body.
macro_rules! metric {
    ($ty:ty, $name:literal, $better:expr, |$s:ident, $b:ident, $seeds:pat_param| $body:expr) => {
        impl Metric for $ty {
            fn name(&self) -> &str {
                $name
            }
            fn direction(&self) -> Better {
                $better
            }
            fn score(&self, $b: &EvalBatch<'_>, $seeds: Seeds<'_>) -> Result<Outcomes> {
                let $s = self;
                $body
            }
        }
    };
}

/// The ground-truth masks of `b`, or the typed error for `metric`.
fn masks_of<'a>(b: &EvalBatch<'a>, metric: &str) -> Result<&'a MaskBatch> {
    need(b.masks, metric, "masks", "with_masks")
}

metric!(
    SparsenessConfig,
    "gini_sparseness",
    Better::Higher,
    |s, b, _| gini_sparseness(b.maps, s)
);
metric!(
    ComplexityConfig,
    "entropy_complexity",
    Better::Lower,
    |s, b, _| entropy_complexity(b.maps, s)
);
metric!(
    PointingGameConfig,
    "pointing_game",
    Better::Higher,
    |s, b, _| pointing_game(b.maps, masks_of(b, "pointing_game")?, s)
);

/// Relevance rank accuracy ([`relevance_rank_accuracy`]) as a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RankAccuracy(pub PixelMapConfig);

/// Relevance mass accuracy ([`relevance_mass_accuracy`]) as a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MassAccuracy(pub PixelMapConfig);

/// Ranking AUC against the mask ([`ranking_auc()`]) as a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RankingAuc(pub PixelMapConfig);

metric!(
    RankAccuracy,
    "relevance_rank_accuracy",
    Better::Higher,
    |s, b, _| relevance_rank_accuracy(b.maps, masks_of(b, "relevance_rank_accuracy")?, &s.0)
);
metric!(
    MassAccuracy,
    "relevance_mass_accuracy",
    Better::Higher,
    |s, b, _| relevance_mass_accuracy(b.maps, masks_of(b, "relevance_mass_accuracy")?, &s.0)
);
metric!(RankingAuc, "ranking_auc", Better::Higher, |s, b, _| {
    ranking_auc(b.maps, masks_of(b, "ranking_auc")?, &s.0)
});
metric!(
    TopKConfig,
    "top_k_intersection",
    Better::Higher,
    |s, b, _| top_k_intersection(b.maps, masks_of(b, "top_k_intersection")?, s)
);
// The per-sample IoU of `box_localization()`.
metric!(
    BoxLocalizationConfig,
    "box_iou",
    Better::Higher,
    |s, b, _| {
        let boxes = need(b.boxes, "box_iou", "boxes", "with_boxes")?;
        Ok(box_localization(b.maps, boxes, s)?.iou)
    }
);

/// The insertion AUC ([`insertion`]) as a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Insertion(pub CurveConfig);

/// The deletion AUC ([`deletion`]) as a [`Metric`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Deletion(pub CurveConfig);

metric!(Insertion, "insertion", Better::Higher, |s, b, seeds| {
    Ok(
        insertion(b.model, b.inputs(), b.maps, b.targets, &s.0, seeds)?
            .auc
            .into(),
    )
});
metric!(Deletion, "deletion", Better::Lower, |s, b, seeds| {
    Ok(
        deletion(b.model, b.inputs(), b.maps, b.targets, &s.0, seeds)?
            .auc
            .into(),
    )
});
metric!(
    InfidelityConfig,
    "infidelity",
    Better::Lower,
    |s, b, seeds| {
        crate::infidelity::run(b.model, b.inputs(), b.maps, b.segments, b.targets, s, seeds)
    }
);
metric!(
    CumulativeInfidelityConfig,
    "infidelity_cumulative",
    Better::Lower,
    |s, b, _| infidelity_cumulative(b.model, b.inputs(), b.maps, b.targets, s)
);
metric!(
    FaithfulnessCorrelationConfig,
    "faithfulness_correlation",
    Better::Higher,
    |s, b, seeds| crate::faithfulness_correlation::run(
        b.model,
        b.inputs(),
        b.maps,
        b.segments,
        b.targets,
        s,
        seeds
    )
);

impl Metric for RoadConfig {
    fn name(&self) -> &str {
        match self.order {
            RoadOrder::MoRF => "road_morf",
            RoadOrder::LeRF => "road_lerf",
        }
    }
    fn direction(&self) -> Better {
        match self.order {
            RoadOrder::MoRF => Better::Lower,
            RoadOrder::LeRF => Better::Higher,
        }
    }
    /// Each sample's mean over the percentages ([`RoadCurves::mean`](crate::RoadCurves::mean)).
    fn score(&self, b: &EvalBatch<'_>, seeds: Seeds<'_>) -> Result<Outcomes> {
        Ok(road(b.model, b.inputs(), b.maps, b.targets, self, seeds)?
            .mean
            .into())
    }
}

/// Which of the two sensitivities [`Sensitivity`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SensitivityStatistic {
    /// `SENS_AVG` (with its standard error over the draws). Default.
    #[default]
    Average,
    /// `SENS_MAX`.
    Max,
}

/// Average or Max Sensitivity ([`sensitivity()`]) as a [`Metric`]; needs
/// the batch's explainer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sensitivity {
    /// The sensitivity options.
    pub config: SensitivityConfig,
    /// Average or max.
    pub statistic: SensitivityStatistic,
}

impl Metric for Sensitivity {
    fn name(&self) -> &str {
        match self.statistic {
            SensitivityStatistic::Average => "avg_sensitivity",
            SensitivityStatistic::Max => "max_sensitivity",
        }
    }
    fn direction(&self) -> Better {
        Better::Lower
    }
    fn score(&self, b: &EvalBatch<'_>, seeds: Seeds<'_>) -> Result<Outcomes> {
        let e = need(b.explainer, self.name(), "explainer", "with_explainer")?;
        let s = sensitivity(e, b.inputs(), b.targets, &self.config, seeds)?;
        match self.statistic {
            SensitivityStatistic::Average => {
                Outcomes::from(s.average).with_sem(s.average_sem, self.config.n_samples)
            }
            SensitivityStatistic::Max => Ok(s.max.into()),
        }
    }
}

/// Which relative stability [`Stability`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StabilityKind {
    /// Relative Input Stability. Default.
    #[default]
    Input,
    /// Relative Output Stability.
    Output,
    /// Relative Representation Stability (needs the batch's representation).
    Representation,
}

/// RIS, ROS or RRS ([`relative_stability`]) as a [`Metric`]; needs the
/// batch's explainer (and representation for RRS).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stability {
    /// The stability options.
    pub config: StabilityConfig,
    /// Which stability.
    pub kind: StabilityKind,
}

impl Metric for Stability {
    fn name(&self) -> &str {
        match self.kind {
            StabilityKind::Input => "ris",
            StabilityKind::Output => "ros",
            StabilityKind::Representation => "rrs",
        }
    }
    fn direction(&self) -> Better {
        Better::Lower
    }
    fn score(&self, b: &EvalBatch<'_>, seeds: Seeds<'_>) -> Result<Outcomes> {
        let e = need(b.explainer, self.name(), "explainer", "with_explainer")?;
        let repr = match self.kind {
            StabilityKind::Representation => Some(need(
                b.representation,
                self.name(),
                "representation",
                "with_representation",
            )?),
            _ => None,
        };
        let s = relative_stability(b.model, e, repr, b.inputs(), b.targets, &self.config, seeds)?;
        match self.kind {
            StabilityKind::Input => Ok(s.ris),
            StabilityKind::Output => Ok(s.ros),
            StabilityKind::Representation => {
                need(s.rrs, self.name(), "representation", "with_representation")
            }
        }
    }
}

/// Which similarity [`Mprt`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MprtSimilarity {
    /// Spearman rank correlation. Default.
    #[default]
    Spearman,
    /// SSIM (image maps only).
    Ssim,
}

/// The MPRT ([`mprt()`]) as a [`Metric`]: each sample's similarity of the
/// fully randomised stage (the last one of the batch's cascade) to the
/// original map. Needs the batch's cascade.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mprt {
    /// The MPRT options.
    pub config: MprtConfig,
    /// Spearman or SSIM.
    pub similarity: MprtSimilarity,
}

impl Metric for Mprt {
    fn name(&self) -> &str {
        match self.similarity {
            MprtSimilarity::Spearman => "mprt_spearman",
            MprtSimilarity::Ssim => "mprt_ssim",
        }
    }
    fn direction(&self) -> Better {
        Better::Lower
    }
    fn score(&self, b: &EvalBatch<'_>, seeds: Seeds<'_>) -> Result<Outcomes> {
        let (at, stages) = need(b.cascade, self.name(), "cascade", "with_cascade")?;
        let r = mprt(at, stages, b.inputs(), b.targets, &self.config, seeds)?;
        let per_stage = match self.similarity {
            MprtSimilarity::Spearman => r.spearman,
            MprtSimilarity::Ssim => r.ssim.ok_or_else(|| {
                SalienceError::invalid("similarity", "Ssim", "SSIM needs image maps")
            })?,
        };
        per_stage
            .into_iter()
            .last()
            .ok_or_else(|| SalienceError::Empty("MPRT stages".into()))
    }
}

/// The outcomes of a panel of metrics on one batch (see [`evaluate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    columns: Vec<(String, Better)>,
    outcomes: Vec<Outcomes>,
}

impl Evaluation {
    /// `(name, direction)` of each metric, in panel order.
    pub fn columns(&self) -> &[(String, Better)] {
        &self.columns
    }

    /// Each metric's per-sample outcomes, in panel order.
    pub fn outcomes(&self) -> &[Outcomes] {
        &self.outcomes
    }

    /// Each metric's summary over its defined samples; `None` where no
    /// sample is defined.
    pub fn summaries(&self) -> Vec<Option<Summary>> {
        self.outcomes
            .iter()
            .map(|o| Some(o.summary()).filter(|s| s.n > 0))
            .collect()
    }

    /// Appends the summaries as the row `method` of `table`, whose columns
    /// must be this panel's ([`SalienceError::InvalidParameter`] otherwise).
    pub fn push_into(&self, table: &mut ScoreTable, method: &str) -> Result<()> {
        if table.columns() != self.columns.as_slice() {
            return Err(SalienceError::invalid(
                "table columns",
                format!("{:?}", table.columns()),
                "must be the evaluated panel's (name, direction) in order",
            ));
        }
        table.push_row(method, self.summaries())
    }

    /// A new [`ScoreTable`] with this panel's columns and the row `method`.
    pub fn to_table(&self, method: &str) -> Result<ScoreTable> {
        let cols: Vec<(&str, Better)> =
            self.columns.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let mut table = ScoreTable::new(&cols)?;
        self.push_into(&mut table, method)?;
        Ok(table)
    }
}

/// Scores every metric of `panel` on `batch` with the same `seeds` (so each
/// column equals its metric's own [`Metric::score`]).
///
/// Errors: an empty panel ([`SalienceError::Empty`]), seeds that do not
/// cover the batch, and the first metric error (a missing batch input, bad
/// parameters, …). Undefined samples are not errors.
pub fn evaluate(
    panel: &[&dyn Metric],
    batch: &EvalBatch<'_>,
    seeds: Seeds<'_>,
) -> Result<Evaluation> {
    if panel.is_empty() {
        return Err(SalienceError::Empty("metric panel".into()));
    }
    seeds.check_len(batch.len())?;
    let mut columns = Vec::with_capacity(panel.len());
    let mut outcomes = Vec::with_capacity(panel.len());
    for metric in panel {
        columns.push((metric.name().to_string(), metric.direction()));
        outcomes.push(metric.score(batch, seeds)?);
    }
    Ok(Evaluation { columns, outcomes })
}
