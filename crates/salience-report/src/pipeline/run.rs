//! [`run`]: the pipeline's stages, in order (attribute, aggregate,
//! optimize, evaluate, held-out check).

use super::config::{DeckerBudget, MetricBudget, PipelineConfig, MAX_IMAGES};
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
use std::time::{Duration, Instant};

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
