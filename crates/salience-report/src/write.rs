//! A [`Run`] written to a folder: what a person reads.
//!
//! [`write_run`] writes, inside the folder it is given (created if
//! missing) and nowhere else, with file names made from indices only:
//!
//! | file | what |
//! |---|---|
//! | `grid_XXX.png` | image `XXX`: the input and every method (first row), every aggregate (second row); titled, every tile named, colour bars (diverging for signed maps, sequential for unsigned), each map clipped at its 99th percentile |
//! | `overlay_XXX.png` | the last aggregate (AGG_opt when Decker et al.'s aggregation ran), as \|φ\|, over the input: opaque where the map is large |
//! | `scores.csv` | one row per image × method-or-aggregate × metric |
//! | `config.json` | the [`PipelineConfig`](crate::PipelineConfig) of the run |
//! | `report.md` | the tables (mean ± std over the images, best in bold), the held-out check, notes on undefined cells, AGG_opt's mean weights, the panel, timings, links to the pictures |

use crate::pipeline::{Run, COLUMNS};
use crate::render::{
    colorize, normalize_unsigned, overlay_weighted, upscale_nearest, with_caption, Cell, Colormap,
    HeatmapGrid, RgbImage,
};
use ndarray::{Array2, Ix2};
use salience_core::{AttributionBatch, Result, SalienceError};
use std::fmt::Write as _;
use std::path::Path;

/// The words of a report that only the caller knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportText {
    /// The report's title (`# …`).
    pub title: String,
    /// A Markdown paragraph under the title: the model, the data, what is
    /// explained.
    pub description: String,
    /// One label per image (e.g. `"n01440764_tench.JPEG: tench (0)"`),
    /// used in grid titles, overlay captions and `scores.csv`.
    pub image_labels: Vec<String>,
    /// The explainer specs of the panel, listed verbatim.
    pub specs: Vec<String>,
}

/// The files [`write_run`] wrote, relative to its folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The PNGs (grids and overlays), in image order.
    pub pictures: Vec<String>,
    /// `scores.csv`, `config.json` and `report.md`.
    pub documents: Vec<String>,
}

/// Writes `run` into `out` (see the [module docs](self)). `display` holds
/// one picture per image, the size of the maps (e.g. the input
/// un-normalized by the caller), `text.image_labels` one label per image.
///
/// Errors: `display` or the labels not one per image, a picture whose
/// size differs from the maps', and I/O errors.
pub fn write_run(
    run: &Run,
    out: &Path,
    display: &[RgbImage],
    text: &ReportText,
) -> Result<Written> {
    let n = run.maps.n_samples();
    if display.len() != n || text.image_labels.len() != n {
        return Err(SalienceError::invalid(
            "display pictures / image labels",
            format!("{} / {}", display.len(), text.image_labels.len()),
            &format!("one per image ({n})"),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| io("creating", out, e))?;
    let mut written = Written::default();
    for (i, input) in display.iter().enumerate() {
        let (grid, overlay) = pictures(run, i, input, &text.image_labels[i])?;
        let g = format!("grid_{i:03}.png");
        grid.write_png(out.join(&g))?;
        written.pictures.push(g);
        if let Some(o) = overlay {
            let f = format!("overlay_{i:03}.png");
            o.write_png(out.join(&f))?;
            written.pictures.push(f);
        }
    }
    let config = serde_json::to_string_pretty(&run.config)
        .map_err(|e| SalienceError::invalid("pipeline config", e, "serializable"))?;
    let documents = [
        ("scores.csv", scores_csv(run, &text.image_labels)),
        ("config.json", config),
        ("report.md", report_md(run, text, &written.pictures)?),
    ];
    for (name, body) in documents {
        let path = out.join(name);
        std::fs::write(&path, body).map_err(|e| io("writing", &path, e))?;
    }
    written.documents = vec![
        "scores.csv".into(),
        "config.json".into(),
        "report.md".into(),
    ];
    Ok(written)
}

/// An I/O error about `path`.
fn io(action: &'static str, path: &Path, e: std::io::Error) -> SalienceError {
    SalienceError::io(action, path, e)
}

/// Image `i`'s `[H, W]` map in `batch`.
fn map_of(batch: &AttributionBatch, i: usize) -> Result<Array2<f32>> {
    let m = batch.sample(i)?;
    let shape = m.shape().to_vec();
    m.into_dimensionality::<Ix2>()
        .map(|m| m.to_owned())
        .map_err(|_| SalienceError::invalid("maps", format!("{shape:?}"), "pixel maps [H, W]"))
}

/// The labelled grid of image `i` and the overlay of the last aggregate.
fn pictures(
    run: &Run,
    i: usize,
    input: &RgbImage,
    label: &str,
) -> Result<(HeatmapGrid, Option<RgbImage>)> {
    let mut methods = vec![Cell::image("input", input.clone())];
    let mut first = None;
    for (m, name) in run.maps.names().iter().enumerate() {
        let map = map_of(&run.maps.batch(m)?, i)?;
        first.get_or_insert_with(|| (name.clone(), map.clone()));
        methods.push(Cell::map(name.as_str(), map));
    }
    let (h, w) = first.as_ref().map_or((0, 0), |(_, m)| m.dim());
    if (input.height(), input.width()) != (h, w) {
        return Err(SalienceError::invalid(
            "display picture",
            format!("{}×{}", input.height(), input.width()),
            &format!("the maps' size {h}×{w}"),
        ));
    }
    let mut rows = vec![methods];
    let mut row_labels = vec!["methods".to_string()];
    let mut last = first;
    if !run.aggregates.is_empty() {
        let mut aggs = Vec::with_capacity(run.aggregates.len());
        for (name, batch) in &run.aggregates {
            let map = map_of(batch, i)?;
            last = Some((name.clone(), map.clone()));
            aggs.push(Cell::map(name.as_str(), map));
        }
        rows.push(aggs);
        row_labels.push("aggregates".into());
    }
    // Tiles of at least ~112 pixels.
    let scale = (112 / h.max(1)).clamp(1, 8);
    let grid = HeatmapGrid {
        title: format!("image {i}: {label}"),
        row_labels,
        rows,
        caption: "Each map clipped at its own 99th percentile (the clip values under each tile)."
            .into(),
        scale,
        percentile: 99.0,
    };
    let overlay = match last {
        Some((name, map)) => {
            let weights = normalize_unsigned(map.mapv(f32::abs).view(), 99.0)?;
            let heat = colorize(weights.view(), Colormap::Viridis)?;
            let over = overlay_weighted(input, &heat, weights.view(), 0.8)?;
            let over = upscale_nearest(&over, scale)?;
            let caption = format!(
                "|{name}| over image {i} ({label}): viridis, opaque where the map is large \
                 (clipped at its 99th percentile)"
            );
            Some(with_caption(&over, &caption)?)
        }
        None => None,
    };
    Ok((grid, overlay))
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `image,label,row,metric,value` (value empty where undefined).
fn scores_csv(run: &Run, labels: &[String]) -> String {
    let mut csv = String::from("image,label,row,metric,value\n");
    for s in &run.per_image {
        let label = labels.get(s.image).map_or("", String::as_str);
        let value = s.value.map_or(String::new(), |v| format!("{v:e}"));
        let _ = writeln!(
            csv,
            "{},{},{},{},{value}",
            s.image,
            csv_field(label),
            csv_field(&s.row),
            csv_field(&s.metric)
        );
    }
    csv
}

/// One line per cell that covers fewer than all images.
pub fn partial_notes(run: &Run) -> Vec<String> {
    let n = run.maps.n_samples();
    let mut notes = Vec::new();
    for (name, cells) in run.table.rows() {
        for ((metric, _), c) in run.table.columns().iter().zip(cells) {
            match c {
                Some(s) if s.n < n => notes.push(format!(
                    "{name} / {metric}: over {} of {n} images (undefined for the others, \
                     e.g. an all-zero map)",
                    s.n
                )),
                _ => {}
            }
        }
    }
    notes
}

/// The Markdown report.
fn report_md(run: &Run, text: &ReportText, pictures: &[String]) -> Result<String> {
    let n = run.maps.n_samples();
    let mut md = format!("# {}\n\n{}\n\n", text.title, text.description);
    let _ = writeln!(
        md,
        "{n} images, {} methods, {} aggregates. Mean ± std over the images; the best of \
         each column in bold.\n",
        run.maps.k(),
        run.aggregates.len()
    );
    md.push_str(&run.table.to_markdown(4)?);
    md.push_str(
        "\nA `—` is a metric not computed (sensitivity re-explains every noisy copy, so it \
         is computed for the base methods only).\n",
    );
    for note in partial_notes(run) {
        let _ = write!(md, "\n* {note}");
    }
    let c = &run.config;
    if let (Some(heldout), Some(d)) = (&run.heldout, &c.decker) {
        let _ = write!(
            md,
            "\n\n## The QP's guarantee, checked on fresh perturbations\n\n\
             Decker et al.'s generalized L2 metrics as the optimizer defines them \
             (Average-Sensitivity on abs-max maps; Infidelity), on perturbations the weights \
             were not fitted on (m = {} and {} per image). A base method is the one-hot weight \
             vector. AGG_robust should lead the first column, AGG_faith the second, AGG_opt be \
             good in both (Theorems 4.2 and 4.3).\n\n",
            d.eval_robust_samples, d.eval_faith_samples
        );
        md.push_str(&heldout.to_markdown(4)?);
        if let Some((_, ws)) = run.weights.iter().find(|(name, _)| name == "AGG_opt") {
            md.push_str("\nMean AGG_opt weight per method: ");
            let k = run.maps.k();
            let mean: Vec<String> = (0..k)
                .map(|m| {
                    let s: f64 = ws.iter().filter_map(|w| w.as_slice().get(m)).sum();
                    let name = run.maps.names().get(m).map_or("?", String::as_str);
                    format!("{name} {:.3}", s / ws.len().max(1) as f64)
                })
                .collect();
            md.push_str(&mean.join(", "));
            md.push('\n');
        }
    }
    md.push_str("\n## Panel\n\n```text\n");
    for s in &text.specs {
        let _ = writeln!(md, "{s}");
    }
    md.push_str("```\n\n## Metrics\n\n");
    let m = &c.metrics;
    let _ = writeln!(
        md,
        "* insertion / deletion AUC: softmax of the target, {} steps, blurred (σ = 5, kernel \
         11) / black baselines (Petsiuk et al.);\n\
         * infidelity: {} perturbations per image (Decker et al. App. C.1);\n\
         * faithfulness correlation: {} runs per image;\n\
         * Gini index of |φ| (Quantus);\n\
         * average / max sensitivity: {} noise draws per image{}.\n",
        m.curve_steps
            .map_or("one per image row".to_string(), |s| s.to_string()),
        m.infidelity_perturbations,
        m.faithfulness_runs,
        m.sensitivity_samples,
        if m.sensitivity_samples == 0 {
            " (skipped)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "Columns: {}. Every random draw derives from seed {}; the full configuration is in \
         [config.json](config.json), every per-image score in [scores.csv](scores.csv).\n",
        COLUMNS
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", "),
        c.seed
    );
    md.push_str("## Timing\n\n| stage | seconds |\n|---|---:|\n");
    for (stage, d) in &run.timings {
        let _ = writeln!(md, "| {stage} | {:.2} |", d.as_secs_f64());
    }
    let _ = writeln!(
        md,
        "\n{} logical CPU cores available to the process.\n\n## Pictures\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for f in pictures {
        let _ = writeln!(md, "* [{f}]({f})");
    }
    Ok(md)
}
