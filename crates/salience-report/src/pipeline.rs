//! The pipeline as one call: [`run`] a panel of explainers on a batch,
//! aggregate, optimize and evaluate, configured by a [`PipelineConfig`].
//!
//! Seeds: every random draw derives from [`PipelineConfig::seed`] and the
//! caller's per-image ids (`derive_seed(seed, id)` per image, then one
//! derived stream per method and per metric), so an image gets the same
//! numbers whatever else is in the batch, and two runs give identical
//! results on the same machine and thread count.
//!
//! ```
//! use ndarray::{array, Array4};
//! use salience_core::{AttributionBatch, Explainer, LinearModel, PixelMaps, ChannelReduction, Seeds};
//! use salience_report::{run, PipelineConfig};
//! /// a ⊙ x (exact for a linear model and a zero baseline).
//! struct Exact(Vec<f32>);
//! impl Explainer for Exact {
//!     fn name(&self) -> &str { "exact" }
//!     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
//!         -> salience_core::Result<AttributionBatch> {
//!         let w = ndarray::Array::from_shape_vec((1, 1, 2, 2), self.0.clone()).unwrap();
//!         AttributionBatch::new((&x * &w.into_dyn()).into_dyn())
//!     }
//! }
//! let w = vec![1.0f32, -2.0, 0.5, 3.0];
//! let model = LinearModel::new(ndarray::Array2::from_shape_vec((1, 4), w.clone()).unwrap(), array![0.0f32])?;
//! let panel = vec![PixelMaps::new(Box::new(Exact(w)) as Box<dyn Explainer>, ChannelReduction::Sum)];
//! let x = Array4::from_shape_fn((2, 1, 2, 2), |(i, _, h, w)| (1 + i + 2 * h + w) as f32);
//! let cfg = PipelineConfig::tiny();
//! let out = run(&model, &panel, x.view().into_dyn(), &[0, 0], &[0, 1], &cfg, &mut |_| {})?;
//! assert_eq!(out.table.rows()[0].0, "exact");
//! assert_eq!(out.per_image.len(), 2 * out.table.rows().len() * out.table.columns().len());
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use ndarray::ArrayViewD;
use salience_aggregate::{Aggregation, Aggregator};
use salience_core::{
    derive_seed, AttributionBatch, DegeneratePolicy, Ensemble, Explainer, Model, Normalization,
    PixelMaps, Result, SalienceError, Seeds,
};
use salience_metrics::{
    Better, CurveConfig, Deletion, FaithfulnessCorrelationConfig, InfidelityConfig, Insertion,
    Metric, ScoreTable, Scores, SensitivityConfig, SparsenessConfig, Summary,
};
use salience_optimize::{
    apply_weights, faith_gram, robust_gram, FaithConfig, Gram, MapNormalization, MetricGrams,
    OptConfig, QpSettings, RobustConfig, SampleWeights, SeedStream, Strategy, Weights,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Most images one [`run`] accepts (each image is explained by every
/// method and re-explained by the robustness metrics).
pub const MAX_IMAGES: usize = 1 << 16;

/// Most perturbations / samples per image of any budget field.
pub const MAX_BUDGET: usize = 1 << 16;

/// The budgets of Decker et al.'s optimal aggregation (AGG_mean,
/// AGG_robust, AGG_faith, AGG_opt with per-image QP weights on abs-max
/// maps) and of its held-out check.
///
/// `Default` is the paper's (m_agg = 50 for both Grams, m_eval = 200
/// held-out perturbations, Section 5.1 / App. C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeckerBudget {
    /// Perturbations per image of the AGG_robust Gram (each re-explains
    /// the image with the whole panel).
    pub robust_samples: usize,
    /// Perturbations per image of the AGG_faith Gram (model calls only).
    pub faith_samples: usize,
    /// Fresh perturbations per image of the held-out sensitivity check.
    pub eval_robust_samples: usize,
    /// Fresh perturbations per image of the held-out infidelity check.
    pub eval_faith_samples: usize,
}

impl Default for DeckerBudget {
    fn default() -> Self {
        DeckerBudget {
            robust_samples: 50,
            faith_samples: 50,
            eval_robust_samples: 50,
            eval_faith_samples: 200,
        }
    }
}

/// The evaluation metrics' budgets. Every base method and aggregate is
/// scored by insertion and deletion AUC (Petsiuk et al.: blurred / black
/// baselines), infidelity (Decker et al. App. C.1), faithfulness
/// correlation (Bhatt et al. as Decker et al. configure it) and the Gini
/// index; base methods also by average and max sensitivity (it re-explains
/// every noisy copy), unless `sensitivity_samples` is 0.
///
/// `Default` is Quantus'/the papers' budgets where they name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricBudget {
    /// Steps of the insertion / deletion curves; `None`: one step per row
    /// of the image (Petsiuk et al.'s 224 steps at 224²).
    pub curve_steps: Option<usize>,
    /// Perturbations per image of infidelity.
    pub infidelity_perturbations: usize,
    /// Runs per image of faithfulness correlation.
    pub faithfulness_runs: usize,
    /// Noise samples per image of average / max sensitivity (0: skip).
    pub sensitivity_samples: usize,
}

impl Default for MetricBudget {
    fn default() -> Self {
        MetricBudget {
            curve_steps: None,
            infidelity_perturbations: InfidelityConfig::decker2024().n_perturbations,
            faithfulness_runs: FaithfulnessCorrelationConfig::decker2024().n_runs,
            sensitivity_samples: SensitivityConfig::decker2024().n_samples,
        }
    }
}

/// What [`run`] does beyond attributing: a plain struct (serde, `Default`
/// = the papers' budgets).
///
/// ```
/// let cfg: salience_report::PipelineConfig =
///     serde_json::from_str(r#"{"seed": 7, "aggregators": ["mean", "ucb"], "decker": null}"#).unwrap();
/// assert_eq!(cfg.seed, 7);
/// assert!(cfg.decker.is_none());
/// assert!(serde_json::from_str::<salience_report::PipelineConfig>(r#"{"sed": 7}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// The one seed every random draw derives from.
    pub seed: u64,
    /// Mahlau & Nolde's aggregators, applied to z-scored maps, as
    /// [`Aggregation`] specs (`"mean"`, `"ucb:eps=-0.5"`, …); the entry
    /// `"mahlau2022"` (or its old name `"paper"`) means every aggregator of
    /// [`Aggregation::mahlau2022`].
    pub aggregators: Vec<String>,
    /// AGG_var (Rieger & Hansen) on abs-max maps.
    pub agg_var: bool,
    /// Decker et al.'s optimal aggregation and its held-out check (`None`:
    /// skipped).
    pub decker: Option<DeckerBudget>,
    /// The metrics' budgets.
    pub metrics: MetricBudget,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            seed: 2024,
            aggregators: vec!["mahlau2022".into()],
            agg_var: true,
            decker: Some(DeckerBudget::default()),
            metrics: MetricBudget::default(),
        }
    }
}

impl PipelineConfig {
    /// The smallest budgets that still exercise every stage (for tests and
    /// smoke runs: 2–8 perturbations everywhere).
    pub fn tiny() -> Self {
        PipelineConfig {
            seed: 0,
            aggregators: vec!["mean".into()],
            agg_var: true,
            decker: Some(DeckerBudget {
                robust_samples: 2,
                faith_samples: 8,
                eval_robust_samples: 2,
                eval_faith_samples: 8,
            }),
            metrics: MetricBudget {
                curve_steps: Some(4),
                infidelity_perturbations: 4,
                faithfulness_runs: 4,
                sensitivity_samples: 2,
            },
        }
    }

    /// Checks every budget (each in `1..=MAX_BUDGET`, sensitivity may be
    /// 0) and parses every aggregator spec.
    pub fn validate(&self) -> Result<()> {
        let m = &self.metrics;
        let mut counts = vec![
            (
                "metrics.infidelity_perturbations",
                m.infidelity_perturbations,
            ),
            ("metrics.faithfulness_runs", m.faithfulness_runs),
        ];
        if let Some(s) = m.curve_steps {
            counts.push(("metrics.curve_steps", s));
        }
        if let Some(d) = &self.decker {
            counts.extend([
                ("decker.robust_samples", d.robust_samples),
                ("decker.faith_samples", d.faith_samples),
                ("decker.eval_robust_samples", d.eval_robust_samples),
                ("decker.eval_faith_samples", d.eval_faith_samples),
            ]);
        }
        for (name, v) in counts {
            if v == 0 || v > MAX_BUDGET {
                return Err(SalienceError::invalid(
                    name,
                    v,
                    &format!("in 1..={MAX_BUDGET}"),
                ));
            }
        }
        if m.sensitivity_samples > MAX_BUDGET {
            return Err(SalienceError::invalid(
                "metrics.sensitivity_samples",
                m.sensitivity_samples,
                &format!("in 0..={MAX_BUDGET}"),
            ));
        }
        self.aggregations().map(|_| ())
    }

    /// The parsed Mahlau & Nolde aggregators.
    fn aggregations(&self) -> Result<Vec<Aggregation>> {
        let mut out = Vec::new();
        for spec in &self.aggregators {
            if spec == "mahlau2022" || spec == "paper" {
                out.extend(Aggregation::mahlau2022());
            } else {
                out.push(spec.parse()?);
            }
        }
        Ok(out)
    }

    /// How many [`Step`]s [`run`] reports for a panel of `k` methods.
    pub fn n_steps(&self, k: usize) -> Result<usize> {
        let aggregates = self.aggregations()?.len()
            + usize::from(self.agg_var)
            + if self.decker.is_some() { 4 } else { 0 };
        let sens = if self.metrics.sensitivity_samples > 0 {
            k
        } else {
            0
        };
        let decker = if self.decker.is_some() { 3 } else { 0 };
        Ok(k + 1 + decker + k + aggregates + sens)
    }
}

/// A progress report of [`run`]: step `done` of `total` starts, doing
/// `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Steps finished so far.
    pub done: usize,
    /// All steps ([`PipelineConfig::n_steps`]).
    pub total: usize,
    /// What the next step does.
    pub message: String,
}

/// One evaluated score: image `image` (its index in the batch), row `row`
/// (a method or an aggregate) and metric `metric`; `None` where the
/// metric is undefined for that image (e.g. an all-zero map) or not
/// computed (sensitivity of an aggregate).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageScore {
    /// Index of the image in the batch.
    pub image: usize,
    /// The method's or aggregate's name.
    pub row: String,
    /// The metric's column name.
    pub metric: String,
    /// The score.
    pub value: Option<f64>,
}

/// Everything [`run`] computed.
#[derive(Debug, Clone)]
pub struct Run {
    /// The base methods' pixel maps (unnormalized), in panel order.
    pub maps: Ensemble,
    /// Every aggregate's maps, in table order.
    pub aggregates: Vec<(String, AttributionBatch)>,
    /// The per-image QP weights of each Decker et al. strategy.
    pub weights: Vec<NamedWeights>,
    /// Mean ± std over the images of every metric, one row per method and
    /// aggregate.
    pub table: ScoreTable,
    /// Decker et al.'s held-out check: the generalized L2 metrics
    /// Q(φ_w) = wᵀ G_eval w on fresh perturbations, per base method
    /// (one-hot w) and strategy; `None` without `decker`.
    pub heldout: Option<ScoreTable>,
    /// Every (image, row, metric) score, image-major.
    pub per_image: Vec<ImageScore>,
    /// Wall time of each stage.
    pub timings: Vec<(String, Duration)>,
    /// The configuration it ran with.
    pub config: PipelineConfig,
}

/// The metric columns of [`Run::table`].
pub const COLUMNS: [(&str, Better); 7] = [
    ("insertion", Better::Higher),
    ("deletion", Better::Lower),
    ("infidelity", Better::Lower),
    ("faithfulness_correlation", Better::Higher),
    ("gini_sparseness", Better::Higher),
    ("avg_sensitivity", Better::Lower),
    ("max_sensitivity", Better::Lower),
];

/// Runs the whole pipeline on `x` (`[N, C, H, W]`): every explainer of
/// `panel` (method `m` of image `i` seeded `derive_seed(s_i, m)` with
/// `s_i = derive_seed(cfg.seed, ids[i])`), the aggregates of `cfg`, the
/// metrics, and the held-out check. `on_step` is called before each of
/// the [`PipelineConfig::n_steps`] steps (a progress bar).
///
/// `ids` name the images for seeding (e.g. their index in a dataset), so
/// an image's numbers do not depend on the rest of the batch.
///
/// Errors: an empty panel or batch, more than [`MAX_IMAGES`] images,
/// `targets` / `ids` not one per image, a target out of range, a bad
/// config ([`PipelineConfig::validate`]), and the first error of any
/// explainer, aggregator or metric.
pub fn run(
    model: &dyn Model,
    panel: &[PixelMaps<Box<dyn Explainer>>],
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    ids: &[u64],
    cfg: &PipelineConfig,
    on_step: &mut dyn FnMut(Step),
) -> Result<Run> {
    cfg.validate()?;
    if panel.is_empty() {
        return Err(SalienceError::Empty("explainer panel".into()));
    }
    if x.ndim() != 4 {
        return Err(SalienceError::invalid(
            "inputs",
            format!("{:?}", x.shape()),
            "must be [N, C, H, W]",
        ));
    }
    let n = x.shape()[0];
    if n == 0 {
        return Err(SalienceError::Empty("image batch".into()));
    }
    if n > MAX_IMAGES {
        return Err(SalienceError::invalid(
            "images",
            n,
            &format!("at most {MAX_IMAGES}"),
        ));
    }
    salience_core::validate::check_targets(targets, n, model.num_classes())?;
    if ids.len() != n {
        return Err(SalienceError::invalid(
            "ids",
            ids.len(),
            &format!("one per image ({n})"),
        ));
    }
    let total = cfg.n_steps(panel.len())?;
    let mut done = 0usize;
    let mut step = |message: String| {
        on_step(Step {
            done,
            total,
            message,
        });
        done += 1;
    };
    let seeds: Vec<u64> = ids.iter().map(|&id| derive_seed(cfg.seed, id)).collect();
    let mut timings = Vec::new();

    // 1. Attribute.
    let mut maps = Vec::with_capacity(panel.len());
    for (m, e) in panel.iter().enumerate() {
        step(format!("explaining: {}", e.name()));
        let t = Instant::now();
        let own: Vec<u64> = seeds.iter().map(|&s| derive_seed(s, m as u64)).collect();
        maps.push((
            e.name().to_string(),
            e.explain(x.view(), targets, Seeds::per_sample(&own))?,
        ));
        timings.push((format!("explain {}", e.name()), t.elapsed()));
    }
    let raw = Ensemble::new(maps)?;

    // 2. Aggregate (and optimize).
    step("aggregating".into());
    let t = Instant::now();
    let mut aggregates: Vec<(String, AttributionBatch)> = Vec::new();
    let aggregations = cfg.aggregations()?;
    if !aggregations.is_empty() {
        let z = raw.normalize(Normalization::ZScore, DegeneratePolicy::Zeros)?;
        for agg in aggregations {
            aggregates.push((agg.name(), agg.aggregate(&z)?));
        }
    }
    let abs_max = MapNormalization {
        method: Normalization::AbsMax,
        degenerate: DegeneratePolicy::Zeros,
    };
    let phi = raw.normalize(abs_max.method, abs_max.degenerate)?;
    if cfg.agg_var {
        let agg_var: Aggregation = "agg-var".parse()?;
        aggregates.push(("AGG_var".into(), agg_var.aggregate(&phi)?));
    }
    timings.push(("aggregate".into(), t.elapsed()));
    let mut weights = Vec::new();
    let mut heldout = None;
    if let Some(budget) = &cfg.decker {
        let (w, h) = decker(
            model,
            panel,
            &raw,
            &phi,
            abs_max,
            x.view(),
            targets,
            &seeds,
            budget,
            &mut step,
            &mut timings,
        )?;
        for (name, ws) in &w {
            aggregates.push((
                name.clone(),
                apply_weights(&phi, SampleWeights::PerSample(ws))?,
            ));
        }
        weights = w;
        heldout = Some(h);
    }

    // 3. Evaluate every base method and every aggregate.
    let mut table = ScoreTable::new(&COLUMNS)?;
    let mut per_image = Vec::new();
    let t = Instant::now();
    // The base methods' maps (one copy each out of the ensemble); the
    // aggregates are evaluated in place.
    let base: Vec<AttributionBatch> = (0..panel.len())
        .map(|m| raw.batch(m))
        .collect::<Result<_>>()?;
    let rows: Vec<(&str, &AttributionBatch, Option<&dyn Explainer>)> = (panel.iter().zip(&base))
        .map(|(e, b)| (e.name(), b, Some(e as &dyn Explainer)))
        .chain(aggregates.iter().map(|(n, b)| (n.as_str(), b, None)))
        .collect();
    for &(name, batch, explainer) in &rows {
        step(format!("evaluating: {name}"));
        let mut columns = evaluate(model, x.view(), targets, &seeds, batch, &cfg.metrics)?;
        match explainer {
            Some(e) if cfg.metrics.sensitivity_samples > 0 => {
                step(format!("sensitivity: {name}"));
                let s = sensitivity(e, x.view(), targets, &seeds, &cfg.metrics)?;
                columns.extend(s);
            }
            _ => columns.extend([vec![None; n], vec![None; n]]),
        }
        let mut cells = Vec::with_capacity(columns.len());
        for col in &columns {
            let defined: Vec<f64> = col.iter().flatten().copied().collect();
            cells.push(if defined.is_empty() {
                None
            } else {
                Some(Scores::new(defined)?.summary())
            });
        }
        table.push_row(name, cells)?;
        for i in 0..n {
            for ((metric, _), col) in COLUMNS.iter().zip(&columns) {
                per_image.push(ImageScore {
                    image: i,
                    row: name.to_string(),
                    metric: (*metric).to_string(),
                    value: col.get(i).copied().flatten(),
                });
            }
        }
    }
    per_image.sort_by_key(|s| s.image);
    timings.push(("metrics".into(), t.elapsed()));
    Ok(Run {
        maps: raw,
        aggregates,
        weights,
        table,
        heldout,
        per_image,
        timings,
        config: cfg.clone(),
    })
}

/// Per-image seeds of metric number `tag` (the same for every row).
fn metric_seeds(seeds: &[u64], tag: u64) -> Vec<u64> {
    seeds.iter().map(|&s| derive_seed(s, 1000 + tag)).collect()
}

/// Insertion, deletion, infidelity, faithfulness correlation and Gini of
/// one batch of maps: per metric, per image (`None` = undefined).
fn evaluate(
    model: &dyn Model,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    maps: &AttributionBatch,
    budget: &MetricBudget,
) -> Result<Vec<Vec<Option<f64>>>> {
    let steps = budget.curve_steps.unwrap_or(x.shape()[2]);
    let insertion = Insertion(CurveConfig {
        n_steps: steps,
        ..CurveConfig::petsiuk_insertion()
    });
    let deletion = Deletion(CurveConfig {
        n_steps: steps,
        ..CurveConfig::petsiuk_deletion()
    });
    let infidelity = InfidelityConfig {
        n_perturbations: budget.infidelity_perturbations,
        ..InfidelityConfig::decker2024()
    };
    let faithfulness = FaithfulnessCorrelationConfig {
        n_runs: budget.faithfulness_runs,
        ..FaithfulnessCorrelationConfig::decker2024()
    };
    let gini = SparsenessConfig::quantus();
    let panel: [&dyn Metric; 5] = [&insertion, &deletion, &infidelity, &faithfulness, &gini];
    let batch = salience_metrics::EvalBatch::new(model, x, targets, maps)?;
    let mut out = Vec::with_capacity(panel.len());
    for (tag, metric) in panel.iter().enumerate() {
        let s = metric_seeds(seeds, tag as u64);
        let outcomes = metric.score(&batch, Seeds::per_sample(&s))?;
        out.push((0..batch.len()).map(|i| outcomes.get(i)).collect());
    }
    Ok(out)
}

/// Average and max sensitivity of one explainer, per image.
fn sensitivity(
    explainer: &dyn Explainer,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    budget: &MetricBudget,
) -> Result<[Vec<Option<f64>>; 2]> {
    let cfg = SensitivityConfig {
        n_samples: budget.sensitivity_samples,
        ..SensitivityConfig::decker2024()
    };
    let s = metric_seeds(seeds, 5);
    let sens = salience_metrics::sensitivity(explainer, x, targets, &cfg, Seeds::per_sample(&s))?;
    let col = |v: &Scores| v.values().iter().map(|&v| Some(v)).collect();
    Ok([col(&sens.average), col(&sens.max)])
}

/// A strategy's name and its per-image weights.
pub type NamedWeights = (String, Vec<Weights>);

/// The four strategies' per-image weights (fitted on the `Fit` stream) and
/// the held-out table (`Eval` stream).
#[allow(clippy::too_many_arguments)]
fn decker(
    model: &dyn Model,
    panel: &[PixelMaps<Box<dyn Explainer>>],
    raw: &Ensemble,
    phi: &Ensemble,
    normalization: MapNormalization,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    budget: &DeckerBudget,
    step: &mut dyn FnMut(String),
    timings: &mut Vec<(String, Duration)>,
) -> Result<(Vec<NamedWeights>, ScoreTable)> {
    let seeds = Seeds::per_sample(seeds);
    step("AGG_robust Gram (re-explains perturbed images)".into());
    let t = Instant::now();
    let robust_cfg = RobustConfig {
        samples: budget.robust_samples,
        normalization,
        ..Default::default()
    };
    let robust = robust_gram(panel, phi, x.view(), targets, &robust_cfg, seeds)?;
    timings.push(("AGG_robust Gram".into(), t.elapsed()));
    step("AGG_faith Gram".into());
    let t = Instant::now();
    let faith_cfg = FaithConfig {
        samples: budget.faith_samples,
        ..Default::default()
    };
    let faith = faith_gram(model, phi, x.view(), targets, &faith_cfg, seeds)?;
    timings.push(("AGG_faith Gram".into(), t.elapsed()));
    let strategies = [
        ("AGG_mean", Strategy::Mean),
        ("AGG_robust", Strategy::Robust),
        ("AGG_faith", Strategy::Faith),
        ("AGG_opt", Strategy::Opt(OptConfig::paper())),
    ];
    let mut all = Vec::new();
    for (name, strategy) in strategies {
        let ws = robust
            .iter()
            .zip(&faith)
            .map(|(r, f)| {
                let grams = MetricGrams {
                    robust: Some(r),
                    faith: Some(f),
                };
                strategy.weights(raw.k(), &grams, &QpSettings::default())
            })
            .collect::<Result<Vec<_>>>()?;
        all.push((name.to_string(), ws));
    }

    step("held-out Grams (fresh perturbations)".into());
    let t = Instant::now();
    let robust_eval = robust_gram(
        panel,
        phi,
        x.view(),
        targets,
        &RobustConfig {
            samples: budget.eval_robust_samples,
            stream: SeedStream::Eval,
            ..robust_cfg
        },
        seeds,
    )?;
    let faith_eval = faith_gram(
        model,
        phi,
        x.view(),
        targets,
        &FaithConfig {
            samples: budget.eval_faith_samples,
            stream: SeedStream::Eval,
            ..faith_cfg
        },
        seeds,
    )?;
    timings.push(("held-out Grams".into(), t.elapsed()));
    let k = raw.k();
    let n = targets.len();
    let one_hot = |m: usize| -> Vec<f64> { (0..k).map(|j| f64::from(u8::from(j == m))).collect() };
    let mut rows: Vec<(String, Vec<Vec<f64>>)> = (raw.names().iter().enumerate())
        .map(|(m, name)| (name.clone(), vec![one_hot(m); n]))
        .collect();
    rows.extend(all.iter().map(|(name, ws)| {
        (
            name.clone(),
            ws.iter().map(|w| w.as_slice().to_vec()).collect(),
        )
    }));
    let mut heldout = ScoreTable::new(&[
        ("SENS_avg (held-out Q)", Better::Lower),
        ("INFD (held-out Q)", Better::Lower),
    ])?;
    for (name, ws) in &rows {
        let q = |grams: &[Gram]| -> Result<Summary> {
            let v = (grams.iter().zip(ws))
                .map(|(g, w)| g.q(w))
                .collect::<Result<Vec<f64>>>()?;
            Ok(Scores::new(v)?.summary())
        };
        heldout.push_row(name, vec![Some(q(&robust_eval)?), Some(q(&faith_eval)?)])?;
    }
    Ok((all, heldout))
}
