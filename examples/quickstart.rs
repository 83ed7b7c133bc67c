//! Quickstart: the whole pipeline — attribute, aggregate, optimize,
//! evaluate, render — on the shipped Fashion-MNIST CNN and test images.
//!
//! `cargo run --release --example quickstart [-- --out DIR]`
//!
//! 1. Picks `N_IMAGES` correctly classified test images (a seeded shuffle of
//!    the shipped sample) and explains the predicted class.
//! 2. Runs a panel of explainers built from text specs (`PANEL`).
//! 3. Aggregates the maps with every aggregator of Mahlau & Nolde (z-scored
//!    maps), AGG_var (Rieger & Hansen) and Decker et al.'s AGG_mean /
//!    AGG_robust / AGG_faith / AGG_opt (abs-max maps, per-image QP weights).
//! 4. Evaluates every method and aggregate: insertion and deletion AUC,
//!    infidelity, faithfulness correlation, average/max sensitivity (base
//!    methods only: it re-explains every perturbed input) and Gini.
//! 5. Prints the table (mean ± std over the images) and writes heatmap PNGs
//!    and `report.md` to the output folder (default `target/quickstart/`).
//!
//! Every random draw comes from `SEED`: two runs print identical tables.

use common::progress_bar;
use indicatif::ProgressBar;
use ndarray::{Array2, Array4, ArrayViewD, Axis};
use salience::aggregate::{Aggregation, Aggregator};
use salience::core::render::{
    colorize, gray_image, normalize_unsigned, overlay_weighted, upscale_nearest, with_caption,
    Cell, Colormap, HeatmapGrid,
};
use salience::core::{derive_seed, AttributionBatch, ChannelReduction, Model, PixelMaps};
use salience::data::models::SmallCnn;
use salience::data::{assets, LabelledImages};
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{
    CandleModel, Composite, DeepLift, ExpectedGradients, ExpectedGradientsConfig, Lrp, References,
};
use salience::metrics::{
    deletion, faithfulness_correlation, gini_sparseness, infidelity, insertion, on_defined_samples,
    sensitivity, Better, CurveConfig, FaithfulnessCorrelationConfig, InfidelityConfig,
    SampleSubset, ScoreTable, Scores, SensitivityConfig, SparsenessConfig, Summary,
};
use salience::optimize::{
    apply_weights, faith_gram, robust_gram, FaithConfig, Gram, MapNormalization, MetricGrams,
    OptConfig, QpSettings, RobustConfig, SampleWeights, SeedStream, Strategy, Weights,
};
use salience::{DegeneratePolicy, Ensemble, Explainer, Normalization, Seeds};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The explainer panel, one registry spec per line (`name:key=value,...`;
/// see `salience_explain::registry`). Lines starting with `#` are skipped.
const PANEL: &str = "\
saliency
input_x_gradient
integrated_gradients:n_steps=16
smoothgrad:n_samples=12,sigma=0.15
grad_cam:layer=conv2
occlusion:window=4,stride=2
kernel_shap:n_samples=128,feature_mask=patches,patch_size=4
expected_gradients_data:n_samples=8,n_steps=2
deeplift
lrp:composite=epsilon_gamma_box
";

/// The one seed every random draw derives from.
const SEED: u64 = 2024;
/// Number of test images explained.
const N_IMAGES: usize = 10;
/// Perturbations per image for the AGG_robust Gram (m_agg; the paper uses
/// 50, each one re-explains the image with the whole panel).
const M_ROBUST: usize = 6;
/// Perturbations per image for the AGG_faith Gram (model calls only).
const M_FAITH: usize = 50;
/// Fresh perturbations per image for the held-out Infidelity check
/// (m_eval = 200 in the paper).
const M_EVAL: usize = 200;
/// Perturbations per image for Infidelity and Faithfulness Correlation.
const M_METRIC: usize = 32;
/// Noise samples per image for Average/Max Sensitivity.
const M_SENSITIVITY: usize = 5;
/// Reference images (the first ones of the sample that are not explained)
/// for Expected Gradients.
const N_REFERENCES: usize = 64;
/// Nearest-neighbour upscaling of 28×28 tiles in the PNGs.
const SCALE: usize = 4;

/// The metric columns of the table and their directions.
const METRICS: [(&str, Better); 7] = [
    ("insertion", Better::Higher),
    ("deletion", Better::Lower),
    ("infidelity", Better::Lower),
    ("faith-corr", Better::Higher),
    ("avg-sens", Better::Lower),
    ("max-sens", Better::Lower),
    ("gini", Better::Higher),
];

fn main() -> Result<()> {
    let out = output_dir()?;
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut timings: Vec<(String, Duration)> = Vec::new();

    // The shipped model and images: nothing is downloaded.
    let cnn = Arc::new(assets::small_cnn(&candle_core::Device::Cpu)?);
    let model = CandleModel::new(cnn.clone());
    let data = assets::fashion_mnist_sample()?;
    let (chosen, x) = pick_images(&model, &data)?;
    let targets: Vec<usize> = chosen.iter().map(|&(_, label)| label).collect();
    // Per-image seeds, derived from the image's index in the sample: an
    // image gets the same random numbers whatever else is explained.
    let seeds: Vec<u64> = chosen
        .iter()
        .map(|&(i, _)| derive_seed(SEED, i as u64))
        .collect();
    let x = x.into_dyn();

    let specs = ExplainerSpec::parse_list(PANEL)?;
    let references = reference_images(&data, &chosen)?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = registry(references)
        .build_panel(&specs, &cnn)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let k = panel.len();
    let n_aggregates = Aggregation::mahlau2022().len() + 5;
    let progress = progress_bar((k + 3 + (k + n_aggregates) + k) as u64)?;

    // 1. Attribute, 2. aggregate (and optimize).
    let raw = attribute(&panel, x.view(), &targets, &seeds, &progress, &mut timings)?;
    let (aggregates, opt_weights, heldout) = aggregate_all(
        &model,
        &panel,
        &raw,
        x.view(),
        &targets,
        &seeds,
        &progress,
        &mut timings,
    )?;

    // 3. Evaluate every base method and every aggregate.
    let mut table = ScoreTable::new(&METRICS)?;
    let t = Instant::now();
    let rows = panel
        .iter()
        .enumerate()
        .map(|(m, e)| Ok((e.name().to_string(), raw.batch(m)?, Some(e))))
        .chain(
            aggregates
                .iter()
                .map(|(n, b)| Ok((n.clone(), b.clone(), None))),
        )
        .collect::<Result<Vec<_>>>()?;
    for (name, map, explainer) in &rows {
        progress.set_message(format!("evaluating: {name}"));
        let mut cells = evaluate(&model, x.view(), &targets, &seeds, map)?;
        progress.inc(1);
        if let Some(e) = explainer {
            // Sensitivity re-explains M_SENSITIVITY noisy copies of each image.
            progress.set_message(format!("sensitivity: {name}"));
            let (avg, max) = sensitivity_cells(e, x.view(), &targets, &seeds)?;
            if let Some(slots) = cells.get_mut(4..6) {
                slots.copy_from_slice(&[avg, max]);
            }
            progress.inc(1);
        }
        table.push_row(name, cells)?;
    }
    timings.push(("metrics".into(), t.elapsed()));
    progress.finish_and_clear();

    // 4. Report.
    println!(
        "salience quickstart: small CNN, {} Fashion-MNIST test images, {k} methods, {} aggregates (mean ± std over images)\n",
        targets.len(),
        aggregates.len()
    );
    println!("{}", table.to_text(4)?);
    println!(
        "Decker et al.'s generalized L2 metrics on fresh perturbations (m = {M_ROBUST} / {M_EVAL} per image; \
         the aggregates' weights were fitted on other draws):\n"
    );
    println!("{}", heldout.to_text(4)?);
    let notes = partial_notes(&table, targets.len());
    for note in &notes {
        println!("note: {note}");
    }
    let t = Instant::now();
    let pngs = render(&out, x.view(), &targets, &raw, &aggregates)?;
    timings.push(("render PNGs".into(), t.elapsed()));
    timings.push(("total".into(), started.elapsed()));
    let report = report_md(&ReportInput {
        table: &table,
        heldout: &heldout,
        specs: &specs,
        chosen: &chosen,
        weights: &opt_weights,
        names: raw.names(),
        aggregates: &aggregates,
        timings: &timings,
        pngs: &pngs,
        notes: &notes,
    })?;
    let path = out.join("report.md");
    std::fs::write(&path, report)?;
    println!(
        "wrote {} and {} PNGs to {}",
        path.display(),
        pngs.len(),
        out.display()
    );
    Ok(())
}

/// Runs every method of the panel on all images at once (each explainer
/// batches internally); method m of image i gets the seed
/// `derive_seed(seed_i, m)`, as `explain_ensemble` and the optimizer's Grams
/// expect.
fn attribute(
    panel: &[PixelMaps<Box<dyn Explainer>>],
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    progress: &ProgressBar,
    timings: &mut Vec<(String, Duration)>,
) -> Result<Ensemble> {
    let mut maps = Vec::with_capacity(panel.len());
    for (m, e) in panel.iter().enumerate() {
        progress.set_message(format!("explaining: {}", e.name()));
        let t = Instant::now();
        let own: Vec<u64> = seeds.iter().map(|&s| derive_seed(s, m as u64)).collect();
        let batch = e.explain(x.view(), targets, Seeds::per_sample(&own))?;
        maps.push((e.name().to_string(), batch));
        timings.push((format!("explain {}", e.name()), t.elapsed()));
        progress.inc(1);
    }
    Ok(Ensemble::new(maps)?)
}

/// A method's or aggregate's name and its maps.
type NamedMaps = (String, AttributionBatch);

/// Every aggregate, in table order: the Mahlau & Nolde aggregators on
/// z-scored maps, then on abs-max maps AGG_var and the Decker et al.
/// strategies with per-image QP weights (AGG_opt last). Also returns the
/// AGG_opt weights.
#[allow(clippy::too_many_arguments)]
fn aggregate_all(
    model: &dyn Model,
    panel: &[PixelMaps<Box<dyn Explainer>>],
    raw: &Ensemble,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    progress: &ProgressBar,
    timings: &mut Vec<(String, Duration)>,
) -> Result<(Vec<NamedMaps>, Vec<Weights>, ScoreTable)> {
    let t = Instant::now();
    let mut aggregates: Vec<NamedMaps> = Vec::new();
    let z = raw.normalize(Normalization::ZScore, DegeneratePolicy::Zeros)?;
    for agg in Aggregation::mahlau2022() {
        aggregates.push((agg.name(), agg.aggregate(&z)?));
    }
    let abs_max = MapNormalization {
        method: Normalization::AbsMax,
        degenerate: DegeneratePolicy::Zeros,
    };
    let phi = raw.normalize(abs_max.method, abs_max.degenerate)?;
    let agg_var: Aggregation = "agg-var".parse()?;
    aggregates.push(("AGG_var".into(), agg_var.aggregate(&phi)?));
    timings.push(("aggregate (Mahlau & Nolde, AGG_var)".into(), t.elapsed()));

    // The Gram matrices of Average-Sensitivity (re-explains perturbed
    // images with the whole panel) and Infidelity (model calls only).
    progress.set_message("AGG_robust Gram (re-explains perturbed images)");
    let t = Instant::now();
    let robust_cfg = RobustConfig {
        samples: M_ROBUST,
        normalization: abs_max,
        ..Default::default()
    };
    let seeds = Seeds::per_sample(seeds);
    let robust = robust_gram(panel, &phi, x.view(), targets, &robust_cfg, seeds)?;
    timings.push(("AGG_robust Gram".into(), t.elapsed()));
    progress.inc(1);
    progress.set_message("AGG_faith Gram");
    let t = Instant::now();
    let faith_cfg = FaithConfig {
        samples: M_FAITH,
        ..Default::default()
    };
    let faith = faith_gram(model, &phi, x.view(), targets, &faith_cfg, seeds)?;
    timings.push(("AGG_faith Gram".into(), t.elapsed()));
    progress.inc(1);

    let strategies = [
        ("AGG_mean", Strategy::Mean),
        ("AGG_robust", Strategy::Robust),
        ("AGG_faith", Strategy::Faith),
        ("AGG_opt", Strategy::Opt(OptConfig::paper())),
    ];
    let mut all_weights: Vec<(String, Vec<Weights>)> = Vec::new();
    for (name, strategy) in strategies {
        let weights = robust
            .iter()
            .zip(&faith)
            .map(|(r, f)| {
                let grams = MetricGrams {
                    robust: Some(r),
                    faith: Some(f),
                };
                strategy.weights(raw.k(), &grams, &QpSettings::default())
            })
            .collect::<salience::core::Result<Vec<_>>>()?;
        let maps = apply_weights(&phi, SampleWeights::PerSample(&weights))?;
        aggregates.push((name.into(), maps));
        all_weights.push((name.into(), weights));
    }

    // Held-out check of the QP (Decker et al. (2024)'s protocol): the same two
    // generalized L2 metrics on fresh perturbations (the `Eval` stream),
    // Q(φ_w) = wᵀ G_eval w per image, for every base method (a one-hot w)
    // and every convex aggregate.
    progress.set_message("held-out Grams (fresh perturbations)");
    let t = Instant::now();
    let robust_eval = robust_gram(
        panel,
        &phi,
        x.view(),
        targets,
        &RobustConfig {
            stream: SeedStream::Eval,
            ..robust_cfg
        },
        seeds,
    )?;
    let faith_eval = faith_gram(
        model,
        &phi,
        x.view(),
        targets,
        &FaithConfig {
            samples: M_EVAL,
            stream: SeedStream::Eval,
            ..faith_cfg
        },
        seeds,
    )?;
    timings.push(("held-out Grams".into(), t.elapsed()));
    progress.inc(1);
    let k = raw.k();
    let one_hot = |m: usize| -> Vec<f64> { (0..k).map(|j| f64::from(u8::from(j == m))).collect() };
    let mut rows: Vec<(String, Vec<Vec<f64>>)> = raw
        .names()
        .iter()
        .enumerate()
        .map(|(m, name)| (name.clone(), vec![one_hot(m); targets.len()]))
        .collect();
    rows.extend(all_weights.iter().map(|(name, ws)| {
        (
            name.clone(),
            ws.iter().map(|w| w.as_slice().to_vec()).collect(),
        )
    }));
    let mut heldout = ScoreTable::new(&[
        ("SENS_avg (held-out Q)", Better::Lower),
        ("INFD (held-out Q)", Better::Lower),
    ])?;
    for (name, weights) in &rows {
        let q = |grams: &[Gram]| -> salience::core::Result<Summary> {
            let v = grams
                .iter()
                .zip(weights)
                .map(|(g, w)| g.q(w))
                .collect::<salience::core::Result<Vec<f64>>>()?;
            Ok(Scores::new(v)?.summary())
        };
        heldout.push_row(name, vec![Some(q(&robust_eval)?), Some(q(&faith_eval)?)])?;
    }
    let opt = all_weights
        .into_iter()
        .find(|(n, _)| n == "AGG_opt")
        .map(|(_, w)| w)
        .unwrap_or_default();
    Ok((aggregates, opt, heldout))
}

/// The output folder: `--out DIR` or `target/quickstart`.
fn output_dir() -> Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    let mut out = PathBuf::from("target/quickstart");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().ok_or("--out needs a folder")?.into(),
            "-h" | "--help" => {
                println!("usage: quickstart [--out DIR]   (default target/quickstart)");
                std::process::exit(0);
            }
            other => {
                return Err(
                    format!("unknown argument `{other}`; usage: quickstart [--out DIR]").into(),
                )
            }
        }
    }
    Ok(out)
}

/// An image's index in the shipped sample and its (predicted = true) class.
type ImageId = (usize, usize);

/// `N_IMAGES` correctly classified images from a seeded shuffle of the
/// shipped sample: their (index, class) and the batch `[N, 1, 28, 28]`.
fn pick_images(model: &dyn Model, data: &LabelledImages) -> Result<(Vec<ImageId>, Array4<f32>)> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut salience::core::seed::rng(SEED));
    // Classify a generous prefix in one batched call.
    let candidates: Vec<usize> = order.into_iter().take(4 * N_IMAGES).collect();
    let batch = data.images.select(Axis(0), &candidates);
    let scores = model.forward(batch.view().into_dyn())?;
    let mut chosen = Vec::new();
    for (row, &i) in scores.outer_iter().zip(&candidates) {
        let predicted = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(c, _)| c);
        match (predicted, data.labels.get(i)) {
            (Some(p), Some(&label)) if p == label && chosen.len() < N_IMAGES => {
                chosen.push((i, label))
            }
            _ => {}
        }
    }
    if chosen.len() < N_IMAGES {
        return Err(format!("only {} correctly classified candidates", chosen.len()).into());
    }
    let idx: Vec<usize> = chosen.iter().map(|&(i, _)| i).collect();
    Ok((chosen, data.images.select(Axis(0), &idx)))
}

/// Expected Gradients' reference distribution: `N_REFERENCES` images of the
/// sample that are not explained.
fn reference_images(
    data: &LabelledImages,
    chosen: &[(usize, usize)],
) -> Result<ndarray::ArrayD<f32>> {
    let idx: Vec<usize> = (0..data.len())
        .filter(|i| !chosen.iter().any(|&(c, _)| c == *i))
        .take(N_REFERENCES)
        .collect();
    Ok(data.images.select(Axis(0), &idx).into_dyn())
}

/// The built-in registry plus `expected_gradients_data` (Expected Gradients
/// with real images as references, which a text spec cannot carry). Register
/// DeepLIFT / LRP builders here once `SmallCnn` implements `RuleForward`.
fn registry(references: ndarray::ArrayD<f32>) -> Registry<SmallCnn> {
    let mut registry = Registry::<SmallCnn>::with_builtins();
    registry.register(
        "expected_gradients_data",
        Arc::new(move |p, m, _| {
            let cfg = ExpectedGradientsConfig {
                n_samples: p.get_or("n_samples", 16)?,
                n_steps: p.get_or("n_steps", 2)?,
                references: References::Samples(references.clone()),
                ..ExpectedGradientsConfig::mahlau2022()
            };
            Ok(Box::new(ExpectedGradients::new(m.clone(), cfg)) as Box<dyn Explainer>)
        }),
    );
    // The rule-based methods need the model's `RuleForward` (the shipped
    // SmallCnn has one); the registry's builtins only know `LayerSplit`.
    registry.register(
        "deeplift",
        Arc::new(|_, m, _| Ok(Box::new(DeepLift::new(m.clone())) as Box<dyn Explainer>)),
    );
    registry.register(
        "lrp",
        Arc::new(|p, m, _| {
            // Inputs lie in [0, 1]: the zᴮ bounds of the first layer.
            let composite = match p
                .get_or("composite", "epsilon_gamma_box".to_string())?
                .as_str()
            {
                "epsilon_plus" => Composite::epsilon_plus(),
                "epsilon_plus_flat" => Composite::epsilon_plus_flat(),
                "epsilon_gamma_box" => Composite::epsilon_gamma_box(0.0, 1.0),
                other => {
                    return Err(salience::SalienceError::invalid(
                        "lrp composite",
                        other,
                        "epsilon_plus, epsilon_plus_flat or epsilon_gamma_box",
                    ))
                }
            };
            Ok(Box::new(Lrp::with_composite(m.clone(), composite)) as Box<dyn Explainer>)
        }),
    );
    registry
}

/// Per-image seeds for metric number `tag` (the same for every method).
fn metric_seeds(seeds: &[u64], tag: u64) -> Vec<u64> {
    seeds.iter().map(|&s| derive_seed(s, 1000 + tag)).collect()
}

/// A metric's summary over the images it is defined for (an all-zero
/// Grad-CAM map has no Gini index or correlation; those images are left
/// out and the summary's `n` says how many remain), `None` if none is.
fn summary_where_defined(
    x: ArrayViewD<'_, f32>,
    maps: &AttributionBatch,
    targets: &[usize],
    seeds: &[u64],
    metric: &dyn Fn(&SampleSubset) -> salience::core::Result<Scores>,
) -> Result<Option<Summary>> {
    let scored = on_defined_samples(x, maps, targets, seeds, metric)?;
    Ok(scored.map(|(scores, _)| scores.summary()))
}

/// The model-based metrics and Gini of one batch of maps (sensitivity is
/// left empty: it needs the explainer, see [`sensitivity_cells`]).
fn evaluate(
    model: &dyn Model,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
    maps: &AttributionBatch,
) -> Result<Vec<Option<Summary>>> {
    // 28 steps of 28 pixels; Petsiuk et al.'s baselines (blur / black).
    let ins_cfg = CurveConfig {
        n_steps: 28,
        ..CurveConfig::petsiuk_insertion()
    };
    let del_cfg = CurveConfig {
        n_steps: 28,
        ..CurveConfig::petsiuk_deletion()
    };
    let inf_cfg = InfidelityConfig {
        n_perturbations: M_METRIC,
        ..InfidelityConfig::decker2024()
    };
    let fc_cfg = FaithfulnessCorrelationConfig {
        n_runs: M_METRIC,
        ..FaithfulnessCorrelationConfig::decker2024()
    };
    // Metric number `tag` draws from its own per-image stream.
    let seeded = |s: &SampleSubset, tag: u64| metric_seeds(&s.seeds, tag);
    let run = |metric: &dyn Fn(&SampleSubset) -> salience::core::Result<Scores>| {
        summary_where_defined(x.view(), maps, targets, seeds, metric)
    };
    Ok(vec![
        run(&|s| {
            let sd = seeded(s, 0);
            let c = insertion(
                model,
                s.inputs.view(),
                &s.maps,
                &s.targets,
                &ins_cfg,
                Seeds::per_sample(&sd),
            );
            c.map(|c| c.auc)
        })?,
        run(&|s| {
            let sd = seeded(s, 1);
            let c = deletion(
                model,
                s.inputs.view(),
                &s.maps,
                &s.targets,
                &del_cfg,
                Seeds::per_sample(&sd),
            );
            c.map(|c| c.auc)
        })?,
        run(&|s| {
            let sd = seeded(s, 2);
            infidelity(
                model,
                s.inputs.view(),
                &s.maps,
                &s.targets,
                &inf_cfg,
                Seeds::per_sample(&sd),
            )?
            .strict()
        })?,
        run(&|s| {
            let sd = seeded(s, 3);
            faithfulness_correlation(
                model,
                s.inputs.view(),
                &s.maps,
                &s.targets,
                &fc_cfg,
                Seeds::per_sample(&sd),
            )?
            .strict()
        })?,
        None,
        None,
        run(&|s| gini_sparseness(&s.maps, &SparsenessConfig::quantus())?.strict())?,
    ])
}

/// One line per cell that covers fewer than `n` images (maps degenerate
/// for that metric).
fn partial_notes(table: &ScoreTable, n: usize) -> Vec<String> {
    let mut notes = Vec::new();
    for (name, cells) in table.rows() {
        for ((metric, _), c) in table.columns().iter().zip(cells) {
            match c {
                Some(s) if s.n < n => notes.push(format!(
                    "{name} / {metric}: over {} of {n} images (the others' maps are all zero)",
                    s.n
                )),
                _ => {}
            }
        }
    }
    notes
}

/// Average and Max Sensitivity of an explainer (relative, U[−0.1, 0.1]
/// noise, `M_SENSITIVITY` samples per image).
fn sensitivity_cells(
    explainer: &dyn Explainer,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: &[u64],
) -> Result<(Option<Summary>, Option<Summary>)> {
    let cfg = SensitivityConfig {
        n_samples: M_SENSITIVITY,
        ..SensitivityConfig::decker2024()
    };
    let s = metric_seeds(seeds, 4);
    let sens = sensitivity(explainer, x, targets, &cfg, Seeds::per_sample(&s))?;
    Ok((Some(sens.average.summary()), Some(sens.max.summary())))
}

/// Writes, per image, `grid_XX.png` (input, every method, every aggregate)
/// and `overlay_XX.png` (AGG_opt over the input); returns the file names.
fn render(
    out: &std::path::Path,
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    raw: &Ensemble,
    aggregates: &[NamedMaps],
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for (i, &class) in targets.iter().enumerate() {
        // The single channel of image i, [28, 28].
        let sample = x.index_axis(Axis(0), i);
        let input = gray_image(sample.index_axis(Axis(0), 0).into_dimensionality()?)?;
        let map = |batch: &AttributionBatch| -> Result<Array2<f32>> {
            Ok(batch
                .sample(i)?
                .into_dimensionality::<ndarray::Ix2>()?
                .to_owned())
        };
        // Row 1: the input and the methods; row 2: the aggregates.
        let mut methods = vec![Cell::image("input", input.clone())];
        for (m, name) in raw.names().iter().enumerate() {
            methods.push(Cell::map(name.as_str(), map(&raw.batch(m)?)?));
        }
        let aggs = (aggregates.iter())
            .map(|(name, batch)| Ok(Cell::map(name.as_str(), map(batch)?)))
            .collect::<Result<Vec<_>>>()?;
        let grid_file = format!("grid_{i:02}_class{class}.png");
        HeatmapGrid {
            title: format!("Fashion-MNIST test image {i}, class {class}"),
            row_labels: vec!["methods".into(), "aggregates".into()],
            rows: vec![methods, aggs],
            caption: "Each map clipped at its own 99th percentile (the clip values under \
                      each tile)."
                .into(),
            scale: SCALE,
            percentile: 99.0,
        }
        .write_png(out.join(&grid_file))?;
        files.push(grid_file);
        // AGG_opt (the last aggregate, abs-max maps ≥ 0) over the input,
        // opaque where the map is large.
        let (opt_name, opt) = aggregates.last().ok_or("no aggregate to overlay")?;
        let map = map(opt)?;
        let weights = normalize_unsigned(map.view(), 99.0)?;
        let heat = colorize(weights.view(), Colormap::Viridis)?;
        let over = overlay_weighted(&input, &heat, weights.view(), 0.8)?;
        let over = upscale_nearest(&over, 2 * SCALE)?;
        let caption = format!(
            "{opt_name} over test image {i} (class {class}): viridis, opaque where the map \
             is large (clipped at its 99th percentile)"
        );
        let over_file = format!("overlay_{i:02}_class{class}.png");
        with_caption(&over, &caption)?.write_png(out.join(&over_file))?;
        files.push(over_file);
    }
    Ok(files)
}

/// What goes into `report.md`.
struct ReportInput<'a> {
    table: &'a ScoreTable,
    heldout: &'a ScoreTable,
    specs: &'a [ExplainerSpec],
    chosen: &'a [(usize, usize)],
    weights: &'a [Weights],
    names: &'a [String],
    aggregates: &'a [NamedMaps],
    timings: &'a [(String, Duration)],
    pngs: &'a [String],
    notes: &'a [String],
}

/// The Markdown report.
fn report_md(r: &ReportInput<'_>) -> Result<String> {
    let mut md = String::from("# salience quickstart report\n\n");
    md.push_str(&format!(
        "Small CNN (Fashion-MNIST, shipped weights), {} correctly classified test images \
         (indices {:?} of the shipped sample, chosen by a shuffle seeded with {SEED}); \
         the predicted class is explained. Mean ± std over the images; the best of each \
         column is in bold.\n\n",
        r.chosen.len(),
        r.chosen.iter().map(|c| c.0).collect::<Vec<_>>()
    ));
    md.push_str(&r.table.to_markdown(4)?);
    md.push_str(
        "\nSensitivity (it re-explains every noisy copy) is computed for the base methods only.\n",
    );
    for note in r.notes {
        md.push_str(&format!("\n* {note}"));
    }
    md.push('\n');
    md.push_str(&format!(
        "\n## The QP's guarantee, checked on fresh perturbations\n\n\
         Decker et al.'s generalized L2 metrics as the optimizer defines them (Average-Sensitivity on \
         abs-max-normalized maps, U[−0.1, 0.1] noise; Infidelity without β, 20 % of the pixels replaced \
         by a blurred copy), on perturbations drawn from the held-out stream (m = {M_ROBUST} and \
         {M_EVAL} per image), which the weights were not fitted on. A base method is the one-hot \
         weight vector. AGG_robust should lead the first column, AGG_faith the second, AGG_opt be \
         good in both (Theorems 4.2 and 4.3).\n\n"
    ));
    md.push_str(&r.heldout.to_markdown(4)?);
    md.push_str("\n## Explainers (registry specs)\n\n```text\n");
    for s in r.specs {
        md.push_str(&format!("{s}\n"));
    }
    md.push_str("```\n\nAll maps are reduced to pixel maps (sum over the single channel).\n");
    md.push_str("\n## Aggregation\n\n");
    md.push_str("* Mahlau & Nolde aggregators (paper defaults) on z-scored maps: ");
    md.push_str(
        &r.aggregates
            .iter()
            .take(10)
            .map(|a| format!("`{}`", a.0))
            .collect::<Vec<_>>()
            .join(", "),
    );
    md.push_str(&format!(
        ".\n* AGG_var (Rieger & Hansen, `agg-var`) and Decker et al.'s AGG_mean / AGG_robust / \
         AGG_faith / AGG_opt (λ_robust = λ_faith = 1, each Gram scaled by its Frobenius norm) on abs-max maps; per-image QP weights \
         fitted on m = {M_ROBUST} sensitivity perturbations (U[−0.1, 0.1], shared explainer seeds) \
         and m = {M_FAITH} infidelity perturbations (20 % pixels → Gaussian blur σ = 10).\n\n"
    ));
    md.push_str("Mean AGG_opt weight per method: ");
    let k = r.names.len();
    let mean_w: Vec<String> = (0..k)
        .map(|m| {
            let w = r
                .weights
                .iter()
                .filter_map(|w| w.as_slice().get(m))
                .sum::<f64>()
                / r.weights.len().max(1) as f64;
            format!("{} {w:.3}", r.names[m])
        })
        .collect();
    md.push_str(&mean_w.join(", "));
    md.push_str("\n\n## Metrics\n\n");
    md.push_str(&format!(
        "* insertion / deletion AUC: softmax of the target, 28 steps of 28 pixels, blur (σ = 5, \
           kernel 11) / black baselines (Petsiuk et al.);\n\
         * infidelity: {M_METRIC} perturbations of 20 % of the pixels by a blurred copy, β-normalized (Decker et al. (2024) C.1);\n\
         * faithfulness correlation: the same kind of perturbations, {M_METRIC} runs, Pearson;\n\
         * average / max sensitivity: {M_SENSITIVITY} draws of U[−0.1, 0.1], relative to ‖φ(x)‖;\n\
         * Gini: Quantus' (|φ|, ε = 1e-7).\n\n\
         A `—` is a metric not computed (sensitivity of the aggregates); images whose map is \
         all zero are left out of the metrics undefined for them (listed under the table).\n\n"
    ));
    md.push_str(&format!(
        "Seeds: every draw derives from `SEED = {SEED}` (per image: `derive_seed(SEED, index)`).\n"
    ));
    md.push_str(&format!(
        "\nBudget (constants of `examples/quickstart.rs`): N_IMAGES = {N_IMAGES}, \
         M_ROBUST = {M_ROBUST}, M_FAITH = {M_FAITH}, M_METRIC = {M_METRIC}, \
         M_SENSITIVITY = {M_SENSITIVITY}, N_REFERENCES = {N_REFERENCES}.\n"
    ));
    md.push_str("\n## Timing\n\n| stage | seconds |\n|---|---:|\n");
    for (stage, d) in r.timings {
        md.push_str(&format!("| {stage} | {:.2} |\n", d.as_secs_f64()));
    }
    md.push_str(&format!(
        "\nMachine: {} logical CPU cores available to this process, CPU candle backend.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    let quoted = |names: Vec<&String>| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    md.push_str(&format!(
        "\n## Heatmaps\n\nEach grid (titled, every tile named, with colour bars): first \
         row the input, then the methods ({}); second row the aggregates ({})",
        quoted(r.names.iter().collect()),
        quoted(r.aggregates.iter().map(|a| &a.0).collect())
    ));
    md.push_str(
        ", left to right. Signed maps: blue < 0 < red (RdBu); unsigned maps: viridis; \
         each clipped at its 99th percentile. Each overlay: the AGG_opt map over the input, \
         opaque where it is large.\n\n",
    );
    for f in r.pngs {
        md.push_str(&format!("* [{f}]({f})\n"));
    }
    Ok(md)
}
