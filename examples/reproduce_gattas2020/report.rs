//! Tables, charts, example grids and `gattas2020.md`, all computed from the
//! merged records (the grids re-explain a few example images): the
//! localisation and MPRT parts once per architecture whose records are
//! present, then the claims that hold on all of them.

use crate::arch::{Arch, ArchModel};
use crate::common::claims;
use crate::common::provenance::{self, RunEntry};
use crate::common::{permuted_labels, PERMUTED_LABELS_IMAGES, PERMUTED_LABELS_SEED};
use crate::loc::{
    display, method_seeds, predict, registry, LocData, RandomMap, LOC_METRICS, SLIC_KEYS,
};
use crate::sanity::{mprt_stage_models, null_noise_std};
use crate::{Args, Budget, Result, RUN_DATA, RUN_LOC, SEED};
use ndarray::{Array2, ArrayViewD, Axis};
use salience::core::{AttributionBatch, Explainer, Seeds};
use salience::datasets::assets as samples;
use salience::datasets::fashion_mnist::CLASS_NAMES;
use salience::explain::registry::ExplainerSpec;
use salience::metrics::verdict::{Claim, Comparison, Direction, Verdict};
use salience::metrics::{pixel_maps, Better, PixelMapConfig, ScoreTable, Summary};
use salience::models::assets;
use salience::models::SmallCnn;
use salience::report::records::{merge, shard_files, write_records, Merged};
use salience::report::render::{
    gray_image, rgb_image, upscale_nearest, Cell, HeatmapGrid, RgbImage,
};
use salience::report::Shard;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The four methods of the thesis' panel, in table order.
const PANEL_KEYS: [&str; 4] = ["deeplift", "grad_cam", "kernel_shap", "lime"];
/// Localisation rows: the panel and the baselines.
const LOC_ROWS: [&str; 6] = [
    "deeplift",
    "grad_cam",
    "kernel_shap",
    "lime",
    "random",
    "full_box",
];
/// Column titles of the localisation metrics (order of `LOC_METRICS`).
const LOC_TITLES: [&str; 7] = [
    "pointing game",
    "mass accuracy",
    "rank accuracy",
    "box IoU (CAM)",
    "box loc. (IoU ≥ 0.5)",
    "box IoU (all pixels)",
    "mask IoU",
];
/// The SLIC check's columns: title, direction, record metric
/// (`loc::slic_records`).
const SLIC_COLUMNS: [(&str, Better, &str); 4] = [
    ("superpixels", Better::Higher, "segments"),
    (
        "boundary recall (1 px)",
        Better::Higher,
        "boundary_recall_1",
    ),
    (
        "boundary recall (2 px)",
        Better::Higher,
        "boundary_recall_2",
    ),
    (
        "undersegmentation error",
        Better::Lower,
        "undersegmentation",
    ),
];

/// A table of mean ± std of record metrics: one column per
/// `(title, direction, metric)`, one row per `(label, method key)`.
fn metric_table(
    loc: &Merged,
    columns: &[(&str, Better, &str)],
    rows: &[(String, &str)],
) -> Result<ScoreTable> {
    let cols: Vec<(&str, Better)> = columns.iter().map(|&(t, b, _)| (t, b)).collect();
    let mut table = ScoreTable::new(&cols)?;
    for (label, key) in rows {
        table.push_row(
            label,
            columns
                .iter()
                .map(|(_, _, m)| summary(&loc.values(key, m)))
                .collect(),
        )?;
    }
    Ok(table)
}

/// The record metric of the MPRT null of a method, from its seed-to-seed
/// similarities: a method whose two seeds give the same map on every image
/// (Spearman 1, to 1e-9) is deterministic, so its seeds say nothing about
/// its noise and the null is the input-noise similarity
/// (`noise_spearman_1`); a stochastic one's null is its seed-to-seed
/// similarity (`seed_spearman_1`).
fn null_metric(seed_similarities: &[f64]) -> &'static str {
    let deterministic =
        !seed_similarities.is_empty() && seed_similarities.iter().all(|&v| v >= 1.0 - 1e-9);
    if deterministic {
        "noise_spearman_1"
    } else {
        "seed_spearman_1"
    }
}

/// The label of a null metric in the verdicts.
fn null_label(metric: &str) -> &'static str {
    if metric.starts_with("noise_") {
        "input-noise null"
    } else {
        "seed-to-seed null"
    }
}

/// The MPRT verdicts, one claim with one comparison per method (Holm
/// across the methods): Spearman after full randomisation (`last` stages)
/// below the method's null ([`null_metric`]), paired by image. Returns,
/// per method of [`PANEL_KEYS`], the comparison's verdict and its text.
fn mprt_verdicts(loc: &Merged, last: usize) -> Vec<(Verdict, String)> {
    let nulls: Vec<&str> = PANEL_KEYS
        .iter()
        .map(|k| null_metric(&loc.values(k, "seed_spearman_1")))
        .collect();
    let claim = PANEL_KEYS
        .iter()
        .zip(&nulls)
        .fold(Claim::new(), |c, (k, null)| {
            let (x, y) = claims::paired(loc, (k, &format!("mprt_spearman_{last}")), (k, null));
            c.paired(
                &format!("{} randomised", display(k)),
                null_label(null),
                Direction::Less,
                &x,
                &y,
            )
        });
    match claims::evaluate(&claim) {
        Ok(r) => r.pairs.iter().map(|p| (p.verdict, p.to_string())).collect(),
        Err(e) => PANEL_KEYS
            .iter()
            .map(|_| (Verdict::Inconclusive, format!("no test ({e})")))
            .collect(),
    }
}

/// The sanity-check reading of an MPRT verdict: significantly below the
/// null = the map fails to stay similar = the method passes.
fn sanity_reading(v: Verdict) -> &'static str {
    match v {
        Verdict::Agrees => "passes",
        Verdict::Disagrees => "fails (more similar than the null)",
        Verdict::Inconclusive => "inconclusive (not distinguishable from the null)",
    }
}

/// Example images in the grids.
const N_EXAMPLES: usize = 4;
/// Example images in the MPRT grid.
const N_MPRT_EXAMPLES: usize = 2;

/// The record files of `run`: every shard file with `--merge` (or the
/// unsharded file when there is none), else the unsharded file.
fn files(args: &Args, from_shards: bool, run: &str) -> Result<Vec<PathBuf>> {
    let whole = args.out.join(Shard::all().file_name(run));
    if from_shards {
        match shard_files(&args.out, run) {
            Ok(f) => return Ok(f),
            Err(_) if whole.exists() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(vec![whole])
}

/// The provenance stem of a computing process of the architectures
/// `archs`: `gattas2020` for the plain run, `gattas2020.shard-i-of-n` for a
/// shard (its file is `<stem>.run.json`, next to its records); a process
/// without the ResNet (`--model vgg`) is `gattas2020-vgg…`.
pub fn provenance_stem(archs: &[Arch], shard: Shard) -> String {
    let base = process_base(archs);
    let name = shard.file_name(&base);
    name.strip_suffix(".jsonl").unwrap_or(&name).to_string()
}

/// The provenance base name of a process computing `archs`.
fn process_base(archs: &[Arch]) -> String {
    match archs {
        [only] => format!("gattas2020{}", only.suffix()),
        _ => "gattas2020".into(),
    }
}

/// The runs behind the localization records of each architecture in `dir`
/// (one process computes every run of its shard): an architecture's
/// records come from its own process (`gattas2020-vgg…`) where that wrote
/// a provenance file, else from a process of every architecture
/// (`gattas2020…`). Each run once.
fn runs_of(dir: &Path, loc_files: &[(Arch, Vec<PathBuf>)]) -> Result<Vec<RunEntry>> {
    let mut out: Vec<RunEntry> = Vec::new();
    for (arch, files) in loc_files {
        let stem_of = |stem: &str| {
            let own = stem.replacen(&arch.run_loc(), &process_base(&[*arch]), 1);
            let has_own = dir
                .join(provenance::RunProvenance::file_name(&own))
                .exists()
                || (!stem.contains(".shard-")
                    && provenance::load_matching(dir, &format!("{own}.shard-"))
                        .is_ok_and(|v| !v.is_empty()));
            if has_own {
                own
            } else {
                stem.replacen(&arch.run_loc(), "gattas2020", 1)
            }
        };
        for r in provenance::for_records(dir, files, stem_of, |stem| {
            format!("the process that wrote `{stem}.jsonl`")
        })? {
            if !out.iter().any(|o| o.stem == r.stem) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The architectures whose localisation records are in `--out`, with their
/// record files: with `--merge` every architecture (shards or the
/// unsharded file), after a plain run those of `--model`.
fn present_archs(args: &Args, from_shards: bool) -> Result<Vec<(Arch, Vec<PathBuf>)>> {
    let candidates = if from_shards {
        Arch::ALL.to_vec()
    } else {
        args.archs.clone()
    };
    let mut out = Vec::new();
    for arch in candidates {
        if let Ok(f) = files(args, from_shards, &arch.run_loc()) {
            if f.iter().all(|p| p.exists()) {
                out.push((arch, f));
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no localisation records ({}*.jsonl) in {}",
            RUN_LOC,
            args.out.display()
        )
        .into());
    }
    Ok(out)
}

fn summary(v: &[f64]) -> Option<Summary> {
    (!v.is_empty()).then(|| Summary::of(v))
}

/// Merges the records, writes the PNGs and `gattas2020.md`.
pub fn write_results(args: &Args, from_shards: bool) -> Result<()> {
    let started = Instant::now();
    let loc_files = present_archs(args, from_shards)?;
    let locs: Vec<(Arch, Merged)> = loc_files
        .iter()
        .map(|(a, f)| Ok((*a, merge(f)?)))
        .collect::<Result<_>>()?;
    let data_files = files(args, from_shards, RUN_DATA)?;
    if !data_files.iter().all(|p| p.exists()) {
        return Err(format!(
            "no data-randomisation records ({RUN_DATA}*.jsonl) in {}: they are computed with \
             --model resnet or all",
            args.out.display()
        )
        .into());
    }
    let data = merge(&data_files)?;
    let all: Vec<&Merged> = locs.iter().map(|(_, m)| m).chain([&data]).collect();
    for m in all.iter().copied() {
        if m.header.config != args.budget.config() {
            return Err(format!(
                "the records in {} were computed with {}, this call has {}: pass the same \
                 --n-images / --paper as the shards",
                args.out.display(),
                m.header.config,
                args.budget.config()
            )
            .into());
        }
    }
    std::fs::create_dir_all(&args.results)?;
    // The merged records next to the report, so every table and figure can
    // be re-derived without re-running (`--merge --out <results>`).
    for m in all {
        write_records(&args.results, &m.header, &m.records)?;
    }
    let tables = Tables::new(&locs, &data, &args.budget)?;
    let mut pngs = Vec::new();
    for (at, (arch, loc)) in tables.archs.iter().zip(&locs) {
        pngs.extend(arch_charts(&args.results, at, loc)?);
        pngs.extend(with_arch!(*arch, M => arch_grids::<M>(
            &args.results,
            &args.budget,
            loc,
            *arch
        ))?);
    }
    pngs.extend(data_chart(&args.results, &tables, &data)?);
    pngs.extend(data_grid(&args.results, &args.budget)?);
    let infos = runs_of(&args.out, &loc_files)?;
    // The computing runs' provenance goes with the records.
    provenance::copy_to(&infos, &args.results)?;
    let report_s = started.elapsed().as_secs_f64();
    let md = markdown(
        args,
        &tables,
        &locs,
        &data,
        &infos,
        report_s,
        crate::common::cpu_seconds().unwrap_or(0.0),
        &pngs,
    )?;
    std::fs::write(args.results.join("gattas2020.md"), &md)?;
    println!("{md}");
    Ok(())
}

/// The tables of one architecture.
struct ArchTables {
    arch: Arch,
    loc: ScoreTable,
    mprt_spearman: ScoreTable,
    mprt_ssim: ScoreTable,
    seed: ScoreTable,
    slic: ScoreTable,
    per_class: String,
    n_loc: usize,
    n_mprt: usize,
    notes: Vec<String>,
}

/// Every table of the results file.
struct Tables {
    archs: Vec<ArchTables>,
    data: ScoreTable,
    n_data: usize,
    perm_accuracy: f64,
    perm_fit: String,
    shap_samples: usize,
    lime_samples: usize,
    notes: Vec<String>,
}

/// The stage labels of the cascading randomisation of `arch` (k = 1 … the
/// number of layer groups).
fn stage_labels(arch: Arch) -> Vec<String> {
    let groups = arch.mprt_groups();
    let mut v = Vec::new();
    for k in 1..=groups.len() {
        let (name, _) = groups[groups.len() - k];
        v.push(if k == 1 {
            name.to_string()
        } else {
            format!("+{name}")
        });
    }
    v
}

impl ArchTables {
    fn new(arch: Arch, loc: &Merged, budget: &Budget) -> Result<Self> {
        let mut notes = Vec::new();
        let n_groups = arch.mprt_groups().len();
        let cols: Vec<(&str, Better)> = LOC_TITLES.iter().map(|t| (*t, Better::Higher)).collect();
        let mut loc_t = ScoreTable::new(&cols)?;
        let n_loc = loc.values("data", "label").len();
        for key in LOC_ROWS {
            let cells: Vec<Option<Summary>> = LOC_METRICS
                .iter()
                .map(|(metric, _)| {
                    let v = loc.values(key, metric);
                    if !v.is_empty() && v.len() < n_loc {
                        notes.push(format!(
                            "{} / {metric}: over {} of {n_loc} images (constant maps left out)",
                            display(key),
                            v.len()
                        ));
                    }
                    summary(&v)
                })
                .collect();
            if cells.iter().any(Option::is_some) {
                loc_t.push_row(display(key), cells)?;
            }
        }
        let labels = stage_labels(arch);
        let stage_cols: Vec<(&str, Better)> =
            labels.iter().map(|l| (l.as_str(), Better::Lower)).collect();
        let mut sp = ScoreTable::new(&stage_cols)?;
        let mut ss = ScoreTable::new(&stage_cols)?;
        let n_mprt = PANEL_KEYS
            .iter()
            .map(|k| loc.values(k, "mprt_spearman_1").len())
            .max()
            .unwrap_or(0);
        for key in PANEL_KEYS {
            let row = |metric: &str| -> Vec<Option<Summary>> {
                (1..=n_groups)
                    .map(|k| summary(&loc.values(key, &format!("{metric}_{k}"))))
                    .collect()
            };
            sp.push_row(display(key), row("mprt_spearman"))?;
            ss.push_row(display(key), row("mprt_ssim"))?;
            let stops = loc.values(key, "mprt_constant_stage");
            if !stops.is_empty() {
                notes.push(format!(
                    "{}: {} of the MPRT images gave a constant map at some stage (stages {:?}); \
                     their later stages are left out",
                    display(key),
                    stops.len(),
                    stops.iter().map(|&s| s as usize).collect::<Vec<_>>()
                ));
            }
        }
        let seed_rows: Vec<(String, &str)> = PANEL_KEYS
            .iter()
            .map(|k| (display(k).to_string(), *k))
            .collect();
        let seed = metric_table(
            loc,
            &[
                ("two seeds: Spearman", Better::Higher, "seed_spearman_1"),
                ("two seeds: SSIM", Better::Higher, "seed_ssim_1"),
                ("input noise: Spearman", Better::Higher, "noise_spearman_1"),
                ("input noise: SSIM", Better::Higher, "noise_ssim_1"),
            ],
            &seed_rows,
        )?;
        let slic_rows = [
            (
                format!("σ = {} (this run)", budget.slic_sigma),
                SLIC_KEYS[0],
            ),
            ("σ = 0 (scikit-image's default)".to_string(), SLIC_KEYS[1]),
        ];
        let slic = metric_table(loc, &SLIC_COLUMNS, &slic_rows)?;
        Ok(ArchTables {
            arch,
            loc: loc_t,
            mprt_spearman: sp,
            mprt_ssim: ss,
            seed,
            slic,
            per_class: per_class(loc),
            n_loc,
            n_mprt,
            notes,
        })
    }
}

impl Tables {
    fn new(locs: &[(Arch, Merged)], data: &Merged, budget: &Budget) -> Result<Self> {
        let archs = locs
            .iter()
            .map(|(a, loc)| ArchTables::new(*a, loc, budget))
            .collect::<Result<Vec<_>>>()?;
        let mut notes = Vec::new();
        let mut dt = ScoreTable::new(&[("Spearman", Better::Lower), ("SSIM", Better::Lower)])?;
        for key in PANEL_KEYS {
            dt.push_row(
                display(key),
                vec![
                    summary(&data.values(key, "spearman_1")),
                    summary(&data.values(key, "ssim_1")),
                ],
            )?;
            let stops = data.values(key, "constant_stage");
            if !stops.is_empty() {
                notes.push(format!(
                    "{} (data randomisation): {} images gave a constant map (left out)",
                    display(key),
                    stops.len()
                ));
            }
        }
        let perm = data.values("data", "perm_correct");
        let perm_accuracy = perm.iter().sum::<f64>() / perm.len().max(1) as f64;
        Ok(Tables {
            archs,
            data: dt,
            n_data: perm.len(),
            perm_accuracy,
            perm_fit: perm_train_fit()?,
            shap_samples: budget.shap_samples,
            lime_samples: budget.lime_samples,
            notes,
        })
    }
}

/// The permuted-label CNN's inference-mode accuracy on the permuted labels
/// it was trained on (Adebayo et al.'s control memorises them): the first
/// [`PERMUTED_LABELS_IMAGES`] Fashion-MNIST training images with their
/// labels permuted as `train -- cnn --permute-labels` permutes them, and
/// their count; `None` when the training split is not installed.
fn perm_train_accuracy() -> Result<Option<(f64, usize)>> {
    use salience::datasets::fashion_mnist::{load_default, Split};
    let Ok(train) = load_default(Split::Train) else {
        return Ok(None);
    };
    let set = permuted_labels(&train, PERMUTED_LABELS_IMAGES, PERMUTED_LABELS_SEED)?;
    let n = set.labels.len();
    let x = set.to_labelled(0, n)?;
    let model = assets::small_cnn_permuted_labels(&candle_core::Device::Cpu)?;
    let preds = predict(&model, x.images.view().into_dyn())?;
    let hits = preds.iter().zip(&x.labels).filter(|(p, l)| p == l).count();
    Ok(Some((hits as f64 / n.max(1) as f64, n)))
}

/// The report's clause on [`perm_train_accuracy`], measured by this call.
fn perm_train_fit() -> Result<String> {
    let Some((acc, n)) = perm_train_accuracy()? else {
        return Ok(
            "its fit of the permuted training labels is not measured here (the \
                   Fashion-MNIST training split is not installed; \
                   `crates/salience-models/assets/README.md` records it)"
                .into(),
        );
    };
    let reading = if acc >= 0.99 {
        "memorised, as Adebayo et al.'s model"
    } else {
        "only partly memorised, unlike Adebayo et al.'s model"
    };
    Ok(format!(
        "it predicts {:.2} % of the {n} permuted labels it was trained on \
         (measured by this report; chance 10 %: {reading})",
        100.0 * acc
    ))
}

/// Per-class means of the pointing game and the relevance mass accuracy.
fn per_class(loc: &Merged) -> String {
    let label: BTreeMap<usize, usize> = loc
        .records
        .iter()
        .filter(|r| r.method == "data" && r.metric == "label")
        .map(|r| (r.sample, r.value as usize))
        .collect();
    let mut md = String::new();
    for (metric, title) in [
        ("pointing_game", "pointing game"),
        ("mass_accuracy", "relevance mass accuracy"),
    ] {
        let _ = write!(
            md,
            "\n**{title}** (mean per class; n images per class in the header)\n\n| method |"
        );
        let counts: Vec<usize> = (0..CLASS_NAMES.len())
            .map(|c| label.values().filter(|&&l| l == c).count())
            .collect();
        for (c, name) in CLASS_NAMES.iter().enumerate() {
            let _ = write!(md, " {name} ({}) |", counts[c]);
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(CLASS_NAMES.len()));
        md.push('\n');
        for key in ["deeplift", "grad_cam", "kernel_shap", "lime", "random"] {
            let _ = write!(md, "| {} |", display(key));
            for c in 0..CLASS_NAMES.len() {
                let v: Vec<f64> = loc
                    .records
                    .iter()
                    .filter(|r| r.method == key && r.metric == metric)
                    .filter(|r| label.get(&r.sample) == Some(&c))
                    .map(|r| r.value)
                    .collect();
                if v.is_empty() {
                    md.push_str(" — |");
                } else {
                    let _ = write!(md, " {:.2} |", v.iter().sum::<f64>() / v.len() as f64);
                }
            }
            md.push('\n');
        }
    }
    md
}

/// Spearman and SSIM lie in [-1, 1]: bands and error bars stop there.
const CORRELATION: salience::report::render::plot::ValueBounds =
    salience::report::render::plot::ValueBounds {
        min: Some(-1.0),
        max: Some(1.0),
    };

/// The MPRT line charts and the localisation bar chart of one
/// architecture; returns their file names.
fn arch_charts(dir: &Path, t: &ArchTables, loc: &Merged) -> Result<Vec<String>> {
    use salience::report::render::plot::{BarChart, BarSeries, LineChart, Series, ValueBounds};
    let arch = t.arch;
    let groups = arch.mprt_groups();
    let mut out = Vec::new();
    for (metric, title, what) in [
        ("mprt_spearman", "Spearman of |map|", "mprt_spearman"),
        ("mprt_ssim", "SSIM of |map|", "mprt_ssim"),
    ] {
        let file = arch.png(what);
        let series = PANEL_KEYS
            .iter()
            .map(|key| {
                let mut points = vec![(0.0, 1.0)];
                let mut band = vec![(1.0, 1.0)];
                for k in 1..=groups.len() {
                    if let Some(s) = summary(&loc.values(key, &format!("{metric}_{k}"))) {
                        points.push((k as f64, s.mean));
                        band.push((s.mean - s.std, s.mean + s.std));
                    }
                }
                Series {
                    label: display(key).to_string(),
                    points,
                    band: Some(band),
                }
            })
            .collect();
        LineChart {
            title: format!("MPRT, {}, {} images: {title}", arch.name(), t.n_mprt),
            x_label: format!(
                "layers randomised top-down (1 = {}, {} = all); mean ± std",
                groups[groups.len() - 1].0,
                groups.len()
            ),
            y_label: "similarity to the original map".into(),
            series,
            bounds: CORRELATION,
            ..LineChart::default()
        }
        .write_png(dir.join(&file))?;
        out.push(file);
    }
    // The charts' TrueType font has ≥.
    let cats: Vec<String> = LOC_TITLES.iter().map(|s| s.to_string()).collect();
    let series = LOC_ROWS
        .iter()
        .filter(|k| **k != "full_box")
        .map(|key| {
            let s: Vec<Summary> = LOC_METRICS
                .iter()
                .map(|(m, _)| summary(&loc.values(key, m)).unwrap_or(Summary::of(&[0.0])))
                .collect();
            BarSeries {
                label: display(key).to_string(),
                values: s.iter().map(|s| s.mean).collect(),
                err: Some(s.iter().map(|s| s.sem).collect()),
            }
        })
        .collect();
    let file = arch.png("localization");
    BarChart {
        title: format!(
            "Localisation, {}, {} images (mean ± s.e.m.)",
            arch.name(),
            t.n_loc
        ),
        y_label: "score (higher is better)".into(),
        categories: cats,
        series,
        width: 900,
        // Every localisation score is a fraction.
        bounds: ValueBounds::UNIT,
        ..BarChart::default()
    }
    .write_png(dir.join(&file))?;
    out.push(file);
    Ok(out)
}

/// The data randomisation's bar chart; returns its file name.
fn data_chart(dir: &Path, t: &Tables, data: &Merged) -> Result<Vec<String>> {
    use salience::report::render::plot::{BarChart, BarSeries};
    let mut out = Vec::new();
    let file = "gattas2020_data_randomization.png";
    let series = [("spearman_1", "Spearman"), ("ssim_1", "SSIM")]
        .iter()
        .map(|(m, label)| {
            let s: Vec<Summary> = PANEL_KEYS
                .iter()
                .map(|k| summary(&data.values(k, m)).unwrap_or(Summary::of(&[0.0])))
                .collect();
            BarSeries {
                label: label.to_string(),
                values: s.iter().map(|s| s.mean).collect(),
                err: Some(s.iter().map(|s| s.std).collect()),
            }
        })
        .collect();
    BarChart {
        title: format!(
            "Data randomisation: CNN vs permuted-label CNN, {} images",
            t.n_data
        ),
        y_label: "similarity of |map|, mean ± std (lower = passes)".into(),
        categories: PANEL_KEYS.iter().map(|k| display(k).to_string()).collect(),
        series,
        bounds: CORRELATION,
        ..BarChart::default()
    }
    .write_png(dir.join(file))?;
    out.push(file.to_string());
    Ok(out)
}

/// The pixel map of sample `i` of `maps`: signed channel sum or, with
/// `abs`, |channel sum|, each pixel repeated `scale` × `scale` times (so it
/// matches the input tiles with their box outline).
fn tile(maps: &AttributionBatch, i: usize, abs: bool, scale: usize) -> Result<Array2<f32>> {
    let cfg = if abs {
        PixelMapConfig {
            reduction: salience::core::ChannelReduction::Sum,
            sign: salience::metrics::MapSign::Abs,
        }
    } else {
        PixelMapConfig::signed()
    };
    let pm = pixel_maps(maps, &cfg)?;
    let m = pm.index_axis(Axis(0), i);
    let (h, w) = m.dim();
    Ok(Array2::from_shape_fn((h * scale, w * scale), |(y, x)| {
        m[[y / scale, x / scale]]
    }))
}

/// An RGB input tile with the ground-truth box outlined in green.
fn input_tile(
    x: ArrayViewD<'_, f32>,
    i: usize,
    b: &salience::metrics::BoundingBox,
    scale: usize,
) -> Result<RgbImage> {
    let img = x
        .index_axis(Axis(0), i)
        .into_dimensionality::<ndarray::Ix3>()?;
    let im = upscale_nearest(&rgb_image(img)?, scale)?;
    let (w, h) = (im.width(), im.height());
    let mut raw = im.as_raw().to_vec();
    let (t, l) = (b.top * scale, b.left * scale);
    let (bo, r) = ((b.bottom * scale).min(h) - 1, (b.right * scale).min(w) - 1);
    for y in t..=bo {
        for x in l..=r {
            if y == t
                || y == bo
                || x == l
                || x == r
                || y == t + 1
                || y + 1 == bo
                || x == l + 1
                || x + 1 == r
            {
                if let Some(p) = raw.get_mut(3 * (y * w + x)..3 * (y * w + x) + 3) {
                    p.copy_from_slice(&[0, 220, 0]);
                }
            }
        }
    }
    Ok(RgbImage::from_raw(w, h, raw)?)
}

/// The example grids of one architecture (localisation, MPRT); returns
/// their file names.
fn arch_grids<M: ArchModel>(
    dir: &Path,
    budget: &Budget,
    loc: &Merged,
    arch: Arch,
) -> Result<Vec<String>> {
    let dev = candle_core::Device::Cpu;
    let mut out = Vec::new();
    // Localisation: the first run images: input + box, then each method.
    let model = Arc::new(M::shipped(&dev)?);
    let data = LocData::load(model.as_ref())?;
    let n_ex = N_EXAMPLES.min(loc.header.n_samples);
    let sel = data.select(0..n_ex)?;
    let specs = ExplainerSpec::parse_list(&budget.loc_panel(arch))?;
    let reg = registry::<M>();
    let mut maps: Vec<AttributionBatch> = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        let e = reg.build(spec, &model)?;
        let own = method_seeds(&sel.seeds, m);
        maps.push(e.explain(sel.x.view(), &sel.targets, Seeds::per_sample(&own))?);
    }
    let own = method_seeds(&sel.seeds, specs.len());
    maps.push(RandomMap.explain(sel.x.view(), &sel.targets, Seeds::per_sample(&own))?);
    let mut rows = Vec::new();
    for i in 0..n_ex {
        let mask = sel.masks.view();
        let mask = mask.index_axis(Axis(0), i);
        let mut row = vec![
            Cell::image(
                "input + box",
                input_tile(sel.x.view(), i, &sel.boxes[i], 3)?,
            ),
            Cell::image(
                "mask",
                upscale_nearest(
                    &gray_image(mask.mapv(|b| f32::from(u8::from(b))).view())?,
                    3,
                )?,
            ),
        ];
        for (mp, spec) in maps.iter().zip(&specs) {
            row.push(Cell::map(display(&spec.name), tile(mp, i, false, 3)?));
        }
        rows.push(row);
    }
    let file = arch.png("localization_examples");
    HeatmapGrid {
        title: format!("Localisation examples ({}): signed maps", arch.name()),
        rows,
        caption: "Input with the ground-truth box (green), its mask, then each method's \
                  channel-summed map, clipped at its own 99th percentile."
            .into(),
        ..Default::default()
    }
    .write_png(dir.join(&file))?;
    out.push(file);

    // MPRT: per example image, one row per method: input, stages 0..L.
    let models = mprt_stage_models::<M>(arch, &dev)?;
    let groups = arch.mprt_groups();
    let n_mx = N_MPRT_EXAMPLES.min(n_ex);
    let sub = data.select(0..n_mx)?;
    let mut rows: Vec<Vec<Cell>> = vec![Vec::new(); n_mx * specs.len()];
    for (m, spec) in specs.iter().enumerate() {
        let own = method_seeds(&sub.seeds, m);
        for (stage, model) in models.iter().enumerate() {
            let e = reg.build(spec, model)?;
            let b = e.explain(sub.x.view(), &sub.targets, Seeds::per_sample(&own))?;
            let label = if stage == 0 {
                "original".to_string()
            } else {
                format!("top {stage} randomised")
            };
            for i in 0..n_mx {
                rows[i * specs.len() + m].push(Cell::map(label.as_str(), tile(&b, i, true, 2)?));
            }
        }
    }
    let mut row_labels = Vec::new();
    for (r, row) in rows.iter_mut().enumerate() {
        let (i, m) = (r / specs.len(), r % specs.len());
        row.insert(
            0,
            Cell::image("input", input_tile(sub.x.view(), i, &sub.boxes[i], 2)?),
        );
        row_labels.push(format!("image {i}, {}", display(&specs[m].name)));
    }
    let file = arch.png("mprt_examples");
    HeatmapGrid {
        title: format!(
            "MPRT ({}): |map| as the layers are randomised top-down",
            arch.name()
        ),
        row_labels,
        rows,
        caption: format!(
            "Stage k randomises the top k of {} layer groups (1 = {}, {} = all); each |map| \
             clipped at its own 99th percentile.",
            groups.len(),
            groups[groups.len() - 1].0,
            groups.len()
        ),
        ..Default::default()
    }
    .write_png(dir.join(&file))?;
    out.push(file);
    Ok(out)
}

/// The data randomisation's example grid; returns its file name.
fn data_grid(dir: &Path, budget: &Budget) -> Result<Vec<String>> {
    let dev = candle_core::Device::Cpu;
    let mut out = Vec::new();
    // Data randomisation: input, then per method (real CNN, permuted CNN).
    let cnn = Arc::new(assets::small_cnn(&dev)?);
    let perm = Arc::new(assets::small_cnn_permuted_labels(&dev)?);
    let fm = samples::fashion_mnist_sample()?;
    let preds = crate::loc::predict(cnn.as_ref(), fm.images.view().into_dyn())?;
    let chosen: Vec<usize> = (0..fm.labels.len())
        .filter(|&i| preds.get(i) == fm.labels.get(i))
        .take(N_EXAMPLES)
        .collect();
    let x = fm.images.select(Axis(0), &chosen).into_dyn();
    let targets: Vec<usize> = chosen.iter().map(|&i| fm.labels[i]).collect();
    let seeds: Vec<u64> = (0..chosen.len())
        .map(|i| Shard::sample_seed(SEED, i))
        .collect();
    let fspecs = ExplainerSpec::parse_list(&budget.fmnist_panel())?;
    let freg = registry::<SmallCnn>();
    let mut fmaps: Vec<AttributionBatch> = Vec::new();
    for (m, spec) in fspecs.iter().enumerate() {
        let own = method_seeds(&seeds, m);
        for model in [&cnn, &perm] {
            let e = freg.build(spec, model)?;
            fmaps.push(e.explain(x.view(), &targets, Seeds::per_sample(&own))?);
        }
    }
    let mut rows = Vec::new();
    for i in 0..chosen.len() {
        let img: Array2<f32> = x
            .index_axis(Axis(0), i)
            .index_axis(Axis(0), 0)
            .to_owned()
            .into_dimensionality()?;
        let mut row = vec![Cell::image(
            format!("input ({})", CLASS_NAMES[targets[i]]),
            gray_image(img.view())?,
        )];
        for (k, b) in fmaps.iter().enumerate() {
            let model = if k % 2 == 0 { "CNN" } else { "permuted" };
            let name = display(&fspecs[k / 2].name);
            row.push(Cell::map(format!("{name}, {model}"), tile(b, i, false, 1)?));
        }
        rows.push(row);
    }
    let file = "gattas2020_data_randomization_examples.png";
    HeatmapGrid {
        title: "Data randomisation: CNN vs permuted-label CNN".into(),
        rows,
        caption: "Per method: the map on the real CNN, then on the CNN trained on permuted \
                  labels; each clipped at its own 99th percentile."
            .into(),
        scale: 4,
        ..Default::default()
    }
    .write_png(dir.join(file))?;
    out.push(file.to_string());
    Ok(out)
}

/// The mean of a (method, metric) pair, NaN-free (0 when absent).
fn mean(m: &Merged, key: &str, metric: &str) -> f64 {
    summary(&m.values(key, metric)).map_or(0.0, |s| s.mean)
}

/// The results file.
#[allow(clippy::too_many_arguments)]
fn markdown(
    args: &Args,
    t: &Tables,
    locs: &[(Arch, Merged)],
    data: &Merged,
    infos: &[RunEntry],
    report_s: f64,
    report_cpu_s: f64,
    pngs: &[String],
) -> Result<String> {
    let b = &args.budget;
    let p = Budget::paper();
    let mut md =
        String::from("# Reproduction: Gattas (2020), *Evaluating feature attribution methods*\n\n");
    let _ = writeln!(
        md,
        "Generated by `examples/reproduce_gattas2020/` — do not edit by hand.\n"
    );
    md.push_str(&provenance::section(infos));
    let _ = writeln!(md, "* tables and PNGs written by: `{}` at commit `{}` (wall time of this merge (rendering) alone, not of the runs above: {report_s:.0} s; {report_cpu_s:.0} s CPU in all for this process, including the example grids, which re-explain {})", args.command, crate::common::git_commit(), locs.iter().map(|(a, _)| format!("{N_EXAMPLES} + {N_MPRT_EXAMPLES} × {} stages images on the {}", a.mprt_groups().len() + 1, a.name())).collect::<Vec<_>>().join(" and "));
    let _ = writeln!(
        md,
        "* machine: 2-vCPU AMD EPYC, CPU candle backend, release build; other jobs may have shared it (the 1-min load averages above: 2 is a fully busy machine with nothing else running). On a loaded machine the wall time is several times the CPU time; on an idle 2-core machine the run takes about its CPU time or less"
    );
    let _ = writeln!(md, "* seeds: every draw derives from `SEED = {SEED}` per sample (`Shard::sample_seed`), so any `--shard i/n` split draws the same random numbers; every method explains one image per call (`PerInput`), so no model batch mixes images; checked with `--n-images 3` as 1 and as 2 shards: the merged records are bit-identical\n");
    md.push_str("## Setup and budgets\n\n");
    md.push_str("The thesis evaluates DeepLIFT, Grad-CAM, SHAP and LIME on ImageNet validation images with VGG16 (ResNet50 and InceptionV3 as support) by weakly supervised object localisation (WSOL) against the ground-truth boxes, and discusses Adebayo et al.'s sanity checks. Its Results chapter is empty (the text is an unfinished skeleton), so the claims checked below are those of its method and evaluation chapters. Here:\n\n");
    let models: Vec<String> = locs
        .iter()
        .map(|(a, _)| {
            format!(
                "the shipped {} ({}; {:.1} % held-out accuracy)",
                a.name(),
                a.description(),
                100.0 * a.held_out_accuracy()
            )
        })
        .collect();
    let _ = writeln!(md, "* **{} / data**: {} on the shipped localization sample (200 images of 3 × 64 × 64, one Fashion-MNIST item on a textured background, exact masks and boxes). Only the images {} classifies **correctly** are used (the explained class is then both the true and the predicted one), in sample order{};", if locs.len() > 1 { "models" } else { "model" }, models.join("; "), if locs.len() > 1 { "each model" } else { "the model" }, if locs.len() > 1 { ", so the architectures' image sets differ" } else { "" });
    md.push_str("* **panel** (registry specs — the thesis' *attributer*):\n\n");
    for (a, _) in locs {
        let _ = write!(md, "  {}:\n\n```text\n{}```\n\n", a.name(), b.loc_panel(*a));
    }
    let cam_layers: Vec<String> = locs
        .iter()
        .map(|(a, _)| format!("`{}` on the {}", a.grad_cam_layer(), a.name()))
        .collect();
    let _ = writeln!(md, "  DeepLIFT: Rescale rule, zero reference; Grad-CAM on the last convolutional stage ({}; 8 × 8, bilinearly upsampled); KernelSHAP and LIME over SLIC superpixels, zero (black) baseline for absent superpixels, LIME with a ridge surrogate (the `lime` package's default);", cam_layers.join(", "));
    md.push_str("* **metric panel** (the thesis' *evaluator*; `LOC_METRICS` in `loc.rs`, one closure per metric, the panel × metric loop fills the records): pointing game (maximum of |map| inside the mask, no tolerance), relevance mass and rank accuracy (Arras et al.), CAM's box localisation (pixels ≥ 20 % of the min–max range, largest 4-connected component, IoU with the box; localised if IoU ≥ 0.5), the same box from **all** kept pixels (Dabkowski & Gal's variant, which the thesis proposes against the component rule), and the pixel-wise IoU of the kept pixels with the mask (Choe et al.'s mask view). Baselines: a uniform random map and the full-image box (Dabkowski & Gal's \"max box\").\n\n");
    let _ = writeln!(
        md,
        "| budget | this run | `--paper` | the thesis / reference |\n|---|---:|---:|---|"
    );
    let cap = |v: usize| {
        if v == usize::MAX {
            "all".to_string()
        } else {
            v.to_string()
        }
    };
    for at in &t.archs {
        let _ = writeln!(
            md,
            "| localisation images (correctly classified), {} | {} | {} | ImageNet validation set |",
            at.arch.name(),
            at.n_loc,
            cap(p.n_images)
        );
        let _ = writeln!(
            md,
            "| MPRT images, {} | {} | {} | Adebayo et al.: 200 ImageNet images |",
            at.arch.name(),
            at.n_mprt,
            cap(p.n_mprt)
        );
    }
    let _ = writeln!(md, "| data-randomisation images | {} | {} | Adebayo et al.: MNIST / Fashion-MNIST test images |", t.n_data, p.n_fmnist);
    let _ = writeln!(
        md,
        "| KernelSHAP coalitions | {} | {} | `shap`: 2M + 2048 |",
        b.shap_samples, p.shap_samples
    );
    let _ = writeln!(
        md,
        "| LIME samples | {} | {} | `lime`: 1000 |",
        b.lime_samples, p.lime_samples
    );
    let _ = writeln!(
        md,
        "| SLIC superpixels | {} | {} | `lime`: quickshift segments |",
        b.n_segments, p.n_segments
    );
    let cpu: f64 = infos.iter().filter_map(|i| i.prov.as_ref()?.cpu).sum();
    let cpu = if infos
        .iter()
        .any(|i| i.prov.as_ref().and_then(|p| p.cpu).is_none())
    {
        "an unknown amount of CPU time (a run without provenance file)".to_string()
    } else {
        format!("{cpu:.0} s of CPU time")
    };
    let _ = write!(md, "\nThe reduced budgets took {cpu} in this run (all shards; the wall times above are longer when the machine was shared); `--paper` runs the reference budgets (not run here: several hours on 2 cores). A commit reading \"(+ uncommitted changes)\" means the run used the working tree before it was committed.\n\n");

    for (at, (_, loc)) in t.archs.iter().zip(locs) {
        md.push_str(&arch_sections(at, loc, b)?);
    }
    let mut notes = t.notes.clone();
    for at in &t.archs {
        notes.extend(at.notes.iter().map(|n| format!("{}: {n}", at.arch.name())));
    }

    let _ = writeln!(
        md,
        "\n## Sanity check 2: data randomisation ({} Fashion-MNIST test images)\n",
        t.n_data
    );
    let _ = writeln!(md, "The same methods on the shipped Fashion-MNIST CNN and on `assets::small_cnn_permuted_labels()` (same architecture, trained on permuted labels; {}; it predicts the true class of {:.1} % of these images). Panel:\n\n```text\n{}```\n", t.perm_fit, 100.0 * t.perm_accuracy, b.fmnist_panel());
    md.push_str("Each image's true (= the real CNN's predicted) class is explained in both models; similarity of |map| between the two (lower = the explanation depends on what the model learned from the labels; passes).\n\n");
    md.push_str(&t.data.to_markdown(3)?);
    md.push_str("\n![data randomisation](gattas2020_data_randomization.png)\n\nExamples (input, then per method the real CNN's and the permuted CNN's map):\n\n![data randomisation examples](gattas2020_data_randomization_examples.png)\n\n");
    if !notes.is_empty() {
        md.push_str("Notes:\n\n");
        for n in &notes {
            let _ = writeln!(md, "* {n}");
        }
        md.push('\n');
    }

    md.push_str("## Agreement with the paper\n\n");
    md.push_str(&agreement(t, locs, data, infos));

    md.push_str("\n## Timing (wall seconds per stage; the load averages in the run header say whether other jobs shared the machine)\n\n| stage | seconds |\n|---|---:|\n");
    for i in infos {
        for (stage, s) in i.prov.iter().flat_map(|p| &p.stages) {
            let _ = writeln!(md, "| {stage} (run `{}`) | {s:.1} |", i.stem);
        }
    }
    md.push_str("\n## Files\n\n");
    for f in pngs {
        let _ = writeln!(md, "* [{f}]({f})");
    }
    let loc_records: Vec<String> = locs
        .iter()
        .map(|(a, _)| format!("`{}.jsonl`", a.run_loc()))
        .collect();
    let _ = writeln!(md, "* records: {}, `{RUN_DATA}.jsonl` and the runs' provenance `gattas2020*.run.json` next to this report (one line per sample × method × metric; `--merge --out <this folder>` re-derives every table and figure without re-running)", loc_records.join(", "));

    Ok(md)
}

/// The localisation and MPRT sections of one architecture.
fn arch_sections(t: &ArchTables, loc: &Merged, b: &Budget) -> Result<String> {
    let arch = t.arch;
    let groups = arch.mprt_groups();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Localisation: {} ({} images, mean ± std; best in bold)\n",
        arch.name(),
        t.n_loc
    );
    md.push_str(&t.loc.to_markdown(3)?);
    let _ = writeln!(md, "\n![localisation]({})", arch.png("localization"));
    md.push_str(&slic_section(t, loc, b));
    md.push_str("Per class:\n");
    md.push_str(&t.per_class);
    let _ = write!(md, "\nExamples (input with the ground-truth box, mask, then DeepLIFT, Grad-CAM, KernelSHAP, LIME; signed maps, blue < 0 < red):\n\n![examples]({})\n\n", arch.png("localization_examples"));

    let _ = writeln!(
        md,
        "## Sanity check 1: cascading model-parameter randomisation, {} ({} images)\n",
        arch.name(),
        t.n_mprt
    );
    let names: Vec<String> = groups.iter().map(|(n, _)| format!("`{n}`")).collect();
    let _ = write!(md, "`salience_metrics::mprt` on the {} with its {} layer groups ({}, in forward order) re-initialised top-down (PyTorch's `reset_parameters()`, as Quantus; {}), column k = the top k layer groups randomised. Similarity of |map| (channel sum) to the original: Spearman rank correlation and SSIM (max-normalised maps, 7 × 7 window). Lower = the explanation depends more on the learned weights (passes).\n\n**Spearman**\n\n", arch.name(), groups.len(), names.join(", "), arch.mprt_description());
    md.push_str(&t.mprt_spearman.to_markdown(3)?);
    md.push_str("\n**SSIM**\n\n");
    md.push_str(&t.mprt_ssim.to_markdown(3)?);
    let _ = write!(
        md,
        "\n![MPRT Spearman]({})\n![MPRT SSIM]({})\n\n",
        arch.png("mprt_spearman"),
        arch.png("mprt_ssim")
    );
    let _ = write!(md, "Examples (per image, one row per method — DeepLIFT, Grad-CAM, KernelSHAP, LIME —: input, the original |map|, then 1 … {} layer groups randomised):\n\n![MPRT examples]({})\n\n", groups.len(), arch.png("mprt_examples"));
    let _ = writeln!(md, "**Seed stability and the nulls of the MPRT test** (the thesis: LIME's \"instability from random sampling makes an explanation undesirably non-deterministic\"): the unrandomised model explained twice, similarity of |map| (1 = identical): with two seeds, and with another seed on a copy of the input with fresh N(0, {:.2}²) pixel noise (clamped to [0, 1]; {:.2} is the pixel noise the localization sample was generated with, so the model has seen such noise). A method whose two seeds agree on every image is deterministic; its MPRT null is the input-noise column, a stochastic method's the two-seeds column (see the verdicts below).\n", null_noise_std(), null_noise_std());
    md.push_str(&t.seed.to_markdown(3)?);
    md.push('\n');
    Ok(md)
}
/// The SLIC check of the localisation section: how well the superpixels of
/// KernelSHAP and LIME follow the items, with the run's σ and with σ = 0.
fn slic_section(t: &ArchTables, loc: &Merged, b: &Budget) -> String {
    let count = |key: &str, below: f64| {
        loc.values(key, "segments")
            .iter()
            .filter(|&&k| k < below)
            .count()
    };
    let n = loc.values(SLIC_KEYS[0], "segments").len();
    let mut md = format!(
        "\n**SLIC check** (the superpixels of KernelSHAP and LIME, {} requested; `salience_perturb::slic` equals scikit-image 0.26's `slic` label for label on the shipped localization images with σ = 0 and σ = 2, and its boundary recall and undersegmentation error on all 200 of them are identical: `crates/salience-datasets/tests/slic_parity.rs`, fixture `scripts/parity/slic_fixture.py`). Over the {n} images of the run, mean ± std; boundary recall = share of the item mask's outline within 1 / 2 pixels of a superpixel edge, undersegmentation error = share of pixels the best superpixel-constant mask gets wrong:\n\n",
        b.n_segments
    );
    md.push_str(&t.slic.to_markdown(3).unwrap_or_default());
    let _ = writeln!(
        md,
        "\nWith scikit-image's default σ = 0 the images' pixel noise fragments the k-means clusters into specks that the connectivity step merges into one giant segment: {} of {n} images get fewer than 10 superpixels ({} a single one, which makes the KernelSHAP / LIME map constant); with σ = {} (this run), {} images get fewer than 10 and {} a single one. With these superpixels the relevance mass accuracy of KernelSHAP / LIME is {:.3} / {:.3} against the random map's {:.3}; \"KernelSHAP and LIME put more of their relevance on the item than a random map\" (paired by image): {}. With a boundary recall at 2 px of {:.3}, superpixels crossing the item outline cannot explain a score near chance.\n",
        count(SLIC_KEYS[1], 10.0),
        count(SLIC_KEYS[1], 2.0),
        b.slic_sigma,
        count(SLIC_KEYS[0], 10.0),
        count(SLIC_KEYS[0], 2.0),
        mean(loc, "kernel_shap", "mass_accuracy"),
        mean(loc, "lime", "mass_accuracy"),
        mean(loc, "random", "mass_accuracy"),
        claims::cell(&perturbation_beats_random(loc)),
        mean(loc, SLIC_KEYS[0], "boundary_recall_2"),
    );
    md
}

/// "KernelSHAP and LIME put more of their relevance on the item than a
/// random map" (paired by image).
fn perturbation_beats_random(loc: &Merged) -> Claim {
    claims::on_metric(
        loc,
        "mass_accuracy",
        Direction::Greater,
        &[("kernel_shap", "random"), ("lime", "random")],
    )
}

/// One claim tested on one architecture's records: its label (the same on
/// every architecture), its verdict and the rendered test.
#[derive(Debug, Clone)]
struct ArchClaim {
    label: String,
    verdict: Verdict,
    text: String,
}

impl ArchClaim {
    /// The claim `label` evaluated by `common::claims`.
    fn of(label: &str, claim: &Claim) -> Self {
        let (verdict, text) = match claims::evaluate(claim) {
            Ok(r) => (r.verdict, r.to_string()),
            Err(_) => (Verdict::Inconclusive, claims::cell(claim)),
        };
        ArchClaim {
            label: label.to_string(),
            verdict,
            text,
        }
    }
}

/// The claims of the agreement section on one architecture's records, in
/// report order (labels shared across architectures; indices
/// [`CLAIM_GC_BEST`], [`CLAIM_MPRT`], [`CLAIM_DL`], [`CLAIM_SAMPLING`]).
fn arch_claims(loc: &Merged, n_groups: usize) -> Vec<ArchClaim> {
    let others: Vec<(&str, &str)> = PANEL_KEYS
        .iter()
        .filter(|k| **k != "grad_cam")
        .map(|k| ("grad_cam", *k))
        .collect();
    let mut out = vec![
        ArchClaim::of(
            "Grad-CAM localises best (relevance mass accuracy above every other method)",
            &claims::on_metric(loc, "mass_accuracy", Direction::Greater, &others),
        ),
        ArchClaim::of(
            "KernelSHAP and LIME put more relevance on the item than a random map",
            &perturbation_beats_random(loc),
        ),
    ];
    // Each method's null is the similarity of two nuisance draws of the
    // unrandomised model (`null_metric`); a method "passes" when its
    // similarity after full randomisation is significantly below it,
    // paired by image, Holm across the methods.
    for (k, (verdict, text)) in PANEL_KEYS.iter().zip(mprt_verdicts(loc, n_groups)) {
        out.push(ArchClaim {
            label: format!(
                "{} passes the MPRT (fully randomised similarity below its null)",
                display(k)
            ),
            verdict,
            text,
        });
    }
    let dl_claim = Claim {
        comparisons: (1..=n_groups)
            .map(|k| {
                let m = format!("mprt_ssim_{k}");
                let (x, y) = claims::paired(loc, ("deeplift", &m), ("grad_cam", &m));
                Comparison::paired(
                    &format!("DeepLIFT stage {k}"),
                    &format!("Grad-CAM stage {k}"),
                    Direction::Greater,
                    &x,
                    &y,
                )
            })
            .collect(),
    };
    out.push(ArchClaim::of(
        "Input-multiplied methods keep more of the original than Grad-CAM (DeepLIFT's MPRT SSIM above Grad-CAM's at every stage)",
        &dl_claim,
    ));
    // One-sample: the sampling methods' seed-to-seed similarity below 1.
    let sampling_claim = ["kernel_shap", "lime"].iter().fold(Claim::new(), |c, k| {
        let x = loc.values(k, "seed_spearman_1");
        c.against(display(k), "1 (identical)", 1.0, Direction::Less, &x)
    });
    out.push(ArchClaim::of(
        "KernelSHAP's and LIME's sampling makes explanations non-deterministic (seed-to-seed Spearman below 1)",
        &sampling_claim,
    ));
    out
}

/// Index of "Grad-CAM localises best" in [`arch_claims`].
const CLAIM_GC_BEST: usize = 0;
/// The MPRT claim of `PANEL_KEYS[i]` is `CLAIM_MPRT + i`.
const CLAIM_MPRT: usize = 2;
/// Index of the DeepLIFT-vs-Grad-CAM MPRT claim.
const CLAIM_DL: usize = CLAIM_MPRT + PANEL_KEYS.len();
/// Index of the sampling-methods claim.
const CLAIM_SAMPLING: usize = CLAIM_DL + 1;

/// One row of [`holds_on_all`]: the claim, its verdict per architecture
/// (`None` where it was not tested), whether it holds on all.
type HoldsRow = (String, Vec<Option<Verdict>>, bool);

/// Per claim (in first-seen order): its verdict on each architecture of
/// `per_arch` and whether it holds on all of them (agrees on every
/// architecture present).
fn holds_on_all(per_arch: &[(Arch, Vec<ArchClaim>)]) -> Vec<HoldsRow> {
    let mut labels: Vec<&str> = Vec::new();
    for c in per_arch.iter().flat_map(|(_, cs)| cs) {
        if !labels.contains(&c.label.as_str()) {
            labels.push(&c.label);
        }
    }
    labels
        .into_iter()
        .map(|l| {
            let vs: Vec<Option<Verdict>> = per_arch
                .iter()
                .map(|(_, cs)| cs.iter().find(|c| c.label == l).map(|c| c.verdict))
                .collect();
            let all = !vs.is_empty() && vs.iter().all(|v| *v == Some(Verdict::Agrees));
            (l.to_string(), vs, all)
        })
        .collect()
}

/// The table of [`holds_on_all`].
fn holds_table(per_arch: &[(Arch, Vec<ArchClaim>)]) -> String {
    let rows = holds_on_all(per_arch);
    let mut md = String::from("| claim |");
    for (a, _) in per_arch {
        let _ = write!(md, " {} |", a.name());
    }
    md.push_str(" holds on all |\n|---|");
    md.push_str(&"---|".repeat(per_arch.len() + 1));
    md.push('\n');
    for (label, vs, all) in &rows {
        let _ = write!(md, "| {label} |");
        for v in vs {
            let _ = write!(md, " {} |", v.map_or("—".to_string(), |v| v.to_string()));
        }
        let _ = writeln!(md, " {} |", if *all { "**yes**" } else { "no" });
    }
    let n = rows.iter().filter(|r| r.2).count();
    let _ = writeln!(
        md,
        "\n{n} of {} claims hold on all {} architectures present ({}).",
        rows.len(),
        per_arch.len(),
        per_arch
            .iter()
            .map(|(a, _)| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    md
}

/// The "Agreement with the paper" section, from the numbers (every
/// verdict below is computed, not written in advance): the localisation
/// and MPRT claims per architecture, the data randomisation, then the
/// claims that hold on every architecture.
fn agreement(t: &Tables, locs: &[(Arch, Merged)], data: &Merged, infos: &[RunEntry]) -> String {
    let mut md = String::new();
    let mut per_arch = Vec::new();
    for (at, (arch, loc)) in t.archs.iter().zip(locs) {
        let cs = arch_claims(loc, arch.mprt_groups().len());
        let _ = writeln!(md, "### {}\n", arch.name());
        md.push_str(&arch_agreement(at, loc, infos, t, &cs));
        md.push('\n');
        per_arch.push((*arch, cs));
    }
    md.push_str("### Data randomisation (Fashion-MNIST CNN)\n\n");
    md.push_str(&data_agreement(t, data));
    md.push_str("\n### Claims that hold on all architectures\n\n");
    md.push_str("Each claim above, tested on each architecture's own records (the verdicts above); \"holds on all\" = agrees on every architecture present.\n\n");
    md.push_str(&holds_table(&per_arch));
    md
}

/// The agreement items of one architecture, their verdicts from `cs`
/// ([`arch_claims`] of `loc`).
fn arch_agreement(
    at: &ArchTables,
    loc: &Merged,
    infos: &[RunEntry],
    t: &Tables,
    cs: &[ArchClaim],
) -> String {
    let arch = at.arch;
    let mut md = String::new();
    let name = |k: &str| display(k).to_string();

    // 1. Localisation ranking and the chance level.
    let mut by_mass: Vec<(&str, f64)> = PANEL_KEYS
        .iter()
        .map(|k| (*k, mean(loc, k, "mass_accuracy")))
        .collect();
    by_mass.sort_by(|a, b| b.1.total_cmp(&a.1));
    let ranking = by_mass
        .iter()
        .map(|(k, v)| format!("{} {v:.2}", name(k)))
        .collect::<Vec<_>>()
        .join(" > ");
    let beats = PANEL_KEYS
        .iter()
        .map(|k| {
            let won = LOC_METRICS
                .iter()
                .filter(|(m, _)| mean(loc, k, m) > mean(loc, "random", m))
                .count();
            format!("{} {won}/{}", name(k), LOC_METRICS.len())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let gc_best = &cs[CLAIM_GC_BEST].text;
    let shares = loc.values("random", "mass_accuracy");
    let share_lo = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let share_hi = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let _ = writeln!(
        md,
        "1. **Which methods localise best.** The thesis has no results table; from the literature it expects Grad-CAM's coarse maps to \"roughly approximate class-associated regions\" and CAM-style thresholded boxes to localise objects. Relevance mass accuracy (the share of |map| on the item): {ranking} (random map {:.2} = the item's share of the image). Metrics (of {}) on which each method beats the random map: {beats}. CAM box IoU: {} (full-image box {:.2}). {} Not comparable in absolute terms with ImageNet numbers: 64 × 64 synthetic images, one item per image (the random map's mass accuracy, ≈ the item's share of the canvas, ranges {share_lo:.2}–{share_hi:.2} over the images), the {} with {:.1} % held-out accuracy.",
        mean(loc, "random", "mass_accuracy"),
        LOC_METRICS.len(),
        PANEL_KEYS.iter().map(|k| format!("{} {:.2}", name(k), mean(loc, k, "box_iou"))).collect::<Vec<_>>().join(", "),
        mean(loc, "full_box", "box_iou"),
        format_args!("\"Grad-CAM localises best\" (relevance mass accuracy, Grad-CAM against every other method): {gc_best}."),
        arch.name(),
        100.0 * arch.held_out_accuracy(),
    );
    // 2. The connected-component rule.
    let comp: Vec<String> = PANEL_KEYS
        .iter()
        .map(|k| {
            let (a, b) = (mean(loc, k, "box_iou"), mean(loc, k, "box_iou_all"));
            format!(
                "{} {a:.2} → {b:.2}{}",
                name(k),
                if b > a + 0.01 {
                    " (penalised by the rule)"
                } else {
                    ""
                }
            )
        })
        .collect();
    let penalised: Vec<&str> = PANEL_KEYS
        .iter()
        .filter(|k| mean(loc, k, "box_iou_all") > mean(loc, k, "box_iou") + 0.01)
        .map(|k| display(k))
        .collect();
    let helped: Vec<&str> = PANEL_KEYS
        .iter()
        .filter(|k| mean(loc, k, "box_iou_all") + 0.01 < mean(loc, k, "box_iou"))
        .map(|k| display(k))
        .collect();
    let _ = writeln!(
        md,
        "2. **The largest-component rule and perforated maps** (the thesis' critique of CAM's metric, after Dabkowski & Gal): box IoU from the largest component → from all pixels above the threshold: {}. {} {}",
        comp.join(", "),
        if penalised.is_empty() {
            "No method is penalised by the rule here — the critique does not show on these images.".to_string()
        } else {
            format!("Penalised by the rule (the critique holds): {}.", penalised.join(", "))
        },
        if helped.is_empty() {
            String::new()
        } else {
            format!(
                "The rule helps {}: {} scattered pixels above the threshold lie mostly off the item, and boxing all of them covers the background.",
                helped.join(", "),
                if helped.len() == 1 { "its" } else { "their" }
            )
        }
    );
    // 3. MPRT.
    let groups = arch.mprt_groups();
    let last = groups.len();
    // The MPRT verdicts of `arch_claims`, one per method of `PANEL_KEYS`.
    let verdicts: Vec<(Verdict, String)> = (0..PANEL_KEYS.len())
        .map(|i| (cs[CLAIM_MPRT + i].verdict, cs[CLAIM_MPRT + i].text.clone()))
        .collect();
    let verdict_of = |key: &str| {
        PANEL_KEYS
            .iter()
            .position(|k| *k == key)
            .map_or(Verdict::Inconclusive, |i| verdicts[i].0)
    };
    let rows: Vec<String> = PANEL_KEYS
        .iter()
        .map(|k| {
            let f = mean(loc, k, "mprt_spearman_1");
            let l = mean(loc, k, &format!("mprt_spearman_{last}"));
            let null = null_metric(&loc.values(k, "seed_spearman_1"));
            format!(
                "{} {f:.2} → {l:.2} ({}: {:.2})",
                name(k),
                null_label(null),
                mean(loc, k, null)
            )
        })
        .collect();
    let deterministic: Vec<String> = PANEL_KEYS
        .iter()
        .filter(|k| null_metric(&loc.values(k, "seed_spearman_1")).starts_with("noise_"))
        .map(|k| name(k))
        .collect();
    let null_text = format!(
        "The null of each method is the similarity of two nuisance draws of the *unrandomised* model on the same image: two seeds for a stochastic method; for a deterministic one (two seeds identical on every image: {}), whose seed-to-seed similarity is exactly 1 and would make any change look significant, one seed on the image and another on a copy with fresh N(0, {:.2}²) pixel noise (the sample's own noise level).",
        if deterministic.is_empty() {
            "none".to_string()
        } else {
            deterministic.join(", ")
        },
        null_noise_std()
    );
    let tests: Vec<String> = PANEL_KEYS
        .iter()
        .zip(&verdicts)
        .map(|(k, (v, text))| format!("{}: **{}** — {text}", name(k), sanity_reading(*v)))
        .collect();
    let gc_text = format!(
        "\"Grad-CAM passes\" (fully randomised similarity below its null): **{}**.",
        verdict_of("grad_cam")
    );
    let dl_text = format!(
        "\"Input-multiplied methods keep more of the original than Grad-CAM\" (DeepLIFT's SSIM above Grad-CAM's at every stage): {}.",
        cs[CLAIM_DL].text
    );
    let pert_inconclusive: Vec<String> = ["kernel_shap", "lime"]
        .iter()
        .filter(|k| verdict_of(k) != Verdict::Agrees)
        .map(|k| name(k))
        .collect();
    let pert_text = if pert_inconclusive.is_empty() {
        "KernelSHAP and LIME: both significantly below their seed-to-seed null (tests below)."
            .to_string()
    } else {
        format!("{}: the similarity after full randomisation is not significantly below that of two seeds of the *unrandomised* explanation, so at this budget the test cannot tell the randomised model's map from the method's own sampling noise; a larger sampling budget (`--paper`) is needed to judge.", pert_inconclusive.join(", "))
    };
    let _ = writeln!(md, "3. **Model-parameter randomisation** (Adebayo et al., whom the thesis follows in Section 2.5; {} images): mean Spearman of |map| with only `{}` randomised → with every layer randomised: {}. Adebayo et al. found Grad-CAM sensitive to the weights (it passes) and methods that multiply by the input (gradient ⊙ input, Integrated Gradients — DeepLIFT's family) to keep the input's structure; LIME and SHAP were not in their panel. {null_text} {} {} {} Tests (one claim, Holm across the four methods; significantly below the null = the map does not survive the randomisation = passes the sanity check): {}.", at.n_mprt, groups[last - 1].0, rows.join(", "), gc_text, dl_text, pert_text, tests.join("; "));
    // 4. Seeds.
    let rows: Vec<String> = PANEL_KEYS
        .iter()
        .map(|k| format!("{} {:.2}", name(k), mean(loc, k, "seed_spearman_1")))
        .collect();
    let _ = writeln!(md, "4. **LIME's (and KernelSHAP's) sampling makes explanations non-deterministic** (thesis, Section 2.4.1): Spearman between two seeds of the same explanation: {}. {}", rows.join(", "), format_args!("Tested for the sampling methods (seed-to-seed Spearman below 1): {}.", cs[CLAIM_SAMPLING].text));
    // 5. Cost.
    let explain = format!("{}explain ", arch.stage_prefix());
    let per_image = |key: &str| -> Option<f64> {
        let suffix = format!(": {key}");
        let (mut s, mut n) = (0.0, 0usize);
        for i in infos {
            for (stage, v) in i.prov.iter().flat_map(|p| &p.stages) {
                if let Some(rest) = stage.strip_prefix(explain.as_str()) {
                    if rest.ends_with(&suffix) {
                        let count: usize = rest
                            .split_whitespace()
                            .next()
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        s += v;
                        n += count;
                    }
                }
            }
        }
        (n > 0).then(|| s / n as f64)
    };
    let costs: Vec<String> = PANEL_KEYS
        .iter()
        .filter_map(|k| per_image(k).map(|v| format!("{} {v:.3} s", name(k))))
        .collect();
    let _ = writeln!(md, "5. **Cost** (thesis: DeepLIFT \"extremely fast\", one backward pass; LIME \"extremely performance costly\"): wall seconds per image (see the load averages in the run header): {}. The gradient methods need one forward and backward pass; KernelSHAP and LIME one forward pass per perturbation ({} and {} here); per-image wall times come from the runs' provenance files (stages), not per-image records, so this is descriptive (no test).", costs.join(", "), t.shap_samples, t.lime_samples);
    md
}

/// The data randomisation's agreement paragraph.
fn data_agreement(t: &Tables, data: &Merged) -> String {
    let mut md = String::new();
    let name = |k: &str| display(k).to_string();
    let rows: Vec<String> = PANEL_KEYS
        .iter()
        .map(|k| {
            let v = mean(data, k, "spearman_1");
            format!("{} {v:.2}", name(k))
        })
        .collect();
    let _ = writeln!(md, "**Data randomisation** (Adebayo et al.'s second test; {} images): Spearman between the real CNN's and the permuted-label CNN's explanation of the same class: {} (the permuted CNN predicts the true class of {:.1} % of these images; {}). High similarity means the map mostly reflects the input, not what the model learned from the labels. Adebayo et al. report that gradient ⊙ input and Integrated Gradients (DeepLIFT's family) stay similar and that Grad-CAM changes (tested: DeepLIFT's similarity above Grad-CAM's, paired by image): {}.", t.n_data, rows.join(", "), 100.0 * t.perm_accuracy, t.perm_fit, claims::cell(&claims::on_metric(data, "spearman_1", Direction::Greater, &[("deeplift", "grad_cam")])));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process's provenance file is named after its shard, like its records.
    #[test]
    fn provenance_stems_follow_the_record_names() {
        assert_eq!(provenance_stem(&Arch::ALL, Shard::all()), "gattas2020");
        assert_eq!(
            provenance_stem(&Arch::ALL, Shard::new(1, 3).unwrap()),
            "gattas2020.shard-1-of-3"
        );
        // The ResNet alone is today's process; the VGG alone gets its own.
        assert_eq!(provenance_stem(&[Arch::ResNet], Shard::all()), "gattas2020");
        assert_eq!(
            provenance_stem(&[Arch::Vgg], Shard::new(0, 2).unwrap()),
            "gattas2020-vgg.shard-0-of-2"
        );
        // Record and figure names: the ResNet's unchanged.
        assert_eq!(Arch::ResNet.run_loc(), "gattas2020-loc");
        assert_eq!(Arch::Vgg.run_loc(), "gattas2020-loc-vgg");
        assert_eq!(Arch::ResNet.png("mprt_ssim"), "gattas2020_mprt_ssim.png");
        assert_eq!(Arch::Vgg.png("mprt_ssim"), "gattas2020_mprt_ssim_vgg.png");
    }

    /// Issue 23: Adebayo et al.'s data-randomisation control must fit its
    /// random labels; the first shipped model fitted 46.7 % of them. Needs
    /// the Fashion-MNIST training split (Debian `dataset-fashion-mnist`);
    /// without it there is nothing to measure.
    #[test]
    fn shipped_permuted_label_cnn_memorises_its_permuted_training_labels() {
        let Some((acc, n)) = perm_train_accuracy().unwrap() else {
            eprintln!("Fashion-MNIST training split not installed: skipped");
            return;
        };
        assert_eq!(n, PERMUTED_LABELS_IMAGES);
        assert!(acc >= 0.99, "train accuracy on the permuted labels {acc}");
        assert!(perm_train_fit().unwrap().contains("memorised, as"));
    }

    #[test]
    fn permuted_labels_shuffle_the_labels_and_keep_the_images() {
        let images = ndarray::Array3::from_shape_fn((50, 2, 2), |(i, _, _)| i as u8);
        let labels: Vec<u8> = (0..50).map(|i| (i % 10) as u8).collect();
        let set = salience::datasets::GrayImages::new(images.clone(), labels.clone()).unwrap();
        let a = permuted_labels(&set, 40, 7).unwrap();
        // The first 40 images, unchanged; their labels a permutation of
        // their own (class counts kept), seeded.
        assert_eq!(a.images, images.slice(ndarray::s![..40, .., ..]));
        let (mut got, mut want) = (a.labels.clone(), labels[..40].to_vec());
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_ne!(a.labels, labels[..40].to_vec());
        assert_eq!(a.labels, permuted_labels(&set, 40, 7).unwrap().labels);
        assert_ne!(a.labels, permuted_labels(&set, 40, 8).unwrap().labels);
        // More than the set holds: the whole set.
        assert_eq!(permuted_labels(&set, 99, 7).unwrap().labels.len(), 50);
    }

    #[test]
    fn the_null_of_a_deterministic_method_is_the_input_noise_one() {
        assert_eq!(null_metric(&[1.0, 1.0, 1.0 - 1e-12]), "noise_spearman_1");
        assert_eq!(null_metric(&[1.0, 0.5]), "seed_spearman_1");
        // No seed records: nothing says the method is deterministic.
        assert_eq!(null_metric(&[]), "seed_spearman_1");
        assert_eq!(null_label("noise_spearman_1"), "input-noise null");
        assert_eq!(null_label("seed_spearman_1"), "seed-to-seed null");
    }

    fn records(rows: &[(usize, &str, &str, f64)]) -> Merged {
        Merged {
            header: salience::report::records::RunHeader::new(RUN_LOC, 0, SEED, Shard::all(), ""),
            records: rows
                .iter()
                .map(|&(s, k, m, v)| salience::report::records::Record::new(s, k, m, v))
                .collect(),
        }
    }

    /// Twelve images per method: deterministic DeepLIFT randomised far
    /// below its input-noise null (passes), Grad-CAM with a seed null of 1
    /// but a randomised similarity equal to its noise null (a method that
    /// would pass against the trivial seed null is inconclusive against its
    /// real one), LIME randomised at its seed null (inconclusive) and
    /// KernelSHAP above it (fails).
    #[test]
    fn mprt_verdicts_test_each_method_against_its_own_null() {
        let last = Arch::ResNet.mprt_groups().len();
        let stage = format!("mprt_spearman_{last}");
        let mut rows = Vec::new();
        for i in 0..12 {
            let jitter = 0.01 * i as f64;
            rows.push((i, "deeplift", "seed_spearman_1", 1.0));
            rows.push((i, "deeplift", "noise_spearman_1", 0.9 - jitter));
            rows.push((i, "deeplift", stage.as_str(), 0.1 + jitter));
            rows.push((i, "grad_cam", "seed_spearman_1", 1.0));
            rows.push((i, "grad_cam", "noise_spearman_1", 0.4 + jitter));
            let gc = if i % 2 == 0 { 0.05 } else { -0.05 };
            rows.push((
                i,
                "grad_cam",
                stage.as_str(),
                0.4 + jitter + gc * (i as f64 / 12.0),
            ));
            rows.push((i, "lime", "seed_spearman_1", 0.5 + jitter));
            rows.push((
                i,
                "lime",
                stage.as_str(),
                0.5 + jitter + gc * (i as f64 / 12.0),
            ));
            rows.push((i, "kernel_shap", "seed_spearman_1", 0.3 + jitter));
            rows.push((i, "kernel_shap", stage.as_str(), 0.7 + jitter));
        }
        let v = mprt_verdicts(&records(&rows), last);
        let by = |k: &str| v[PANEL_KEYS.iter().position(|p| *p == k).unwrap()].clone();
        for (k, want, null) in [
            ("deeplift", Verdict::Agrees, "input-noise null"),
            ("grad_cam", Verdict::Inconclusive, "input-noise null"),
            ("lime", Verdict::Inconclusive, "seed-to-seed null"),
            ("kernel_shap", Verdict::Disagrees, "seed-to-seed null"),
        ] {
            let (got, text) = by(k);
            assert_eq!(got, want, "{k}: {text}");
            assert!(text.contains(null), "{k}: {text}");
        }
        assert_eq!(sanity_reading(Verdict::Agrees), "passes");
    }

    /// Synthetic records of one architecture: Grad-CAM's mass accuracy
    /// above every other method's on all 12 images when `gc_best`, below
    /// otherwise; the sampling methods' seed-to-seed Spearman below 1.
    fn arch_records(gc_best: bool, n_groups: usize) -> Merged {
        let mut rows = Vec::new();
        let last = format!("mprt_spearman_{n_groups}");
        for i in 0..12 {
            let j = 0.01 * i as f64;
            let gc = if gc_best { 0.8 } else { 0.1 };
            rows.push((i, "grad_cam", "mass_accuracy", gc + j));
            for (k, v) in [("deeplift", 0.5), ("kernel_shap", 0.4), ("lime", 0.45)] {
                rows.push((i, k, "mass_accuracy", v + j));
            }
            rows.push((i, "random", "mass_accuracy", 0.2 + j));
            for k in PANEL_KEYS {
                let sampling = k == "kernel_shap" || k == "lime";
                rows.push((
                    i,
                    k,
                    "seed_spearman_1",
                    if sampling { 0.6 + j } else { 1.0 },
                ));
                rows.push((i, k, "noise_spearman_1", 0.9 - j));
                rows.push((i, k, last.as_str(), 0.1 + j));
            }
        }
        records(&rows)
    }

    /// The cross-architecture table: a claim agreeing on both holds on
    /// all; one agreeing on one architecture and not the other does not;
    /// every claim is tested on both.
    #[test]
    fn claims_hold_on_all_only_where_every_architecture_agrees() {
        let (r, v) = (Arch::ResNet, Arch::Vgg);
        let per_arch = vec![
            (
                r,
                arch_claims(&arch_records(true, 5), r.mprt_groups().len()),
            ),
            (
                v,
                arch_claims(&arch_records(false, 7), v.mprt_groups().len()),
            ),
        ];
        let rows = holds_on_all(&per_arch);
        assert_eq!(rows.len(), per_arch[0].1.len());
        let row = |i: usize| &rows[i];
        // Grad-CAM best: agrees on the ResNet, disagrees on the VGG.
        let (label, vs, all) = row(CLAIM_GC_BEST);
        assert!(label.starts_with("Grad-CAM localises best"));
        assert_eq!(vs, &[Some(Verdict::Agrees), Some(Verdict::Disagrees)]);
        assert!(!all);
        // Perturbation methods above random: agrees on both.
        assert_eq!(row(1).1, [Some(Verdict::Agrees), Some(Verdict::Agrees)]);
        assert!(row(1).2);
        // Every MPRT: fully randomised far below the null on both.
        for i in 0..PANEL_KEYS.len() {
            assert!(row(CLAIM_MPRT + i).2, "{:?}", row(CLAIM_MPRT + i));
        }
        // Sampling non-deterministic: agrees on both.
        assert!(row(CLAIM_SAMPLING).2);
        // DeepLIFT vs Grad-CAM SSIM: no SSIM records, so not on both.
        assert!(!row(CLAIM_DL).2);
        let md = holds_table(&per_arch);
        assert!(md.contains("| claim | small ResNet | small VGG | holds on all |"));
        assert!(md.contains("Grad-CAM localises best"));
        let held = rows.iter().filter(|r| r.2).count();
        assert!(md.contains(&format!("{held} of {} claims hold on all 2", rows.len())));
        // One architecture present: its own verdicts decide.
        let one = holds_on_all(&per_arch[1..]);
        assert!(!one[CLAIM_GC_BEST].2 && one[1].2);
    }

    /// `--merge` finds each architecture's shard files (the ResNet's run
    /// name is a prefix of the VGG's) and each one's provenance: the VGG's
    /// own process where it has one, else the process of both.
    #[test]
    fn merge_finds_each_architectures_records_and_provenance() {
        use salience::report::records::{write_records, Record, RunHeader};
        let dir = std::env::temp_dir().join(format!("gattas_arch_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = crate::tests_args(&dir);
        for arch in Arch::ALL {
            for i in 0..2 {
                let shard = Shard::new(i, 2).unwrap();
                let h = RunHeader::new(&arch.run_loc(), 4, SEED, shard, "");
                write_records(&dir, &h, &[Record::new(2 * i, "data", "label", 1.0)]).unwrap();
            }
        }
        let clock = provenance::RunClock::start();
        for i in 0..2 {
            let shard = Shard::new(i, 2).unwrap();
            clock
                .finish("reproduce_gattas2020", "both", None)
                .save(&dir, &provenance_stem(&Arch::ALL, shard))
                .unwrap();
        }
        let found = present_archs(&args, true).unwrap();
        assert_eq!(
            found.iter().map(|(a, f)| (*a, f.len())).collect::<Vec<_>>(),
            [(Arch::ResNet, 2), (Arch::Vgg, 2)]
        );
        let stems = |found: &[(Arch, Vec<PathBuf>)]| -> Vec<String> {
            runs_of(&dir, found)
                .unwrap()
                .into_iter()
                .map(|r| r.stem)
                .collect()
        };
        // One process of both architectures per shard: listed once.
        assert_eq!(
            stems(&found),
            ["gattas2020.shard-0-of-2", "gattas2020.shard-1-of-2"]
        );
        // A VGG-only process's provenance takes over the VGG's records.
        clock
            .finish("reproduce_gattas2020", "vgg", None)
            .save(
                &dir,
                &provenance_stem(&[Arch::Vgg], Shard::new(1, 2).unwrap()),
            )
            .unwrap();
        assert_eq!(
            stems(&found),
            [
                "gattas2020.shard-0-of-2",
                "gattas2020.shard-1-of-2",
                "gattas2020-vgg.shard-1-of-2"
            ]
        );
        // Without the VGG's records, only the ResNet is reported; a plain
        // run reports the architectures of its --model.
        for i in 0..2 {
            let f = Shard::new(i, 2).unwrap().file_name(&Arch::Vgg.run_loc());
            std::fs::remove_file(dir.join(f)).unwrap();
        }
        let found = present_archs(&args, true).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Arch::ResNet);
        args.archs = vec![Arch::Vgg];
        assert!(present_archs(&args, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
