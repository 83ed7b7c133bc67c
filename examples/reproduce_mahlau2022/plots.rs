//! The PNG charts: one per figure of the paper (Figures 4–11), each with
//! an insertion panel and a deletion panel side by side (the two metrics
//! live on different scales, as the paper's twin y axes).

use crate::catalogue;
use crate::report::{ablation, Col, Data};
use salience::metrics::Summary;
use salience::report::render::plot::{LineChart, Series};
use salience::report::render::{grid, RgbImage};
use salience::Normalization;
use std::path::Path;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Short names of the methods for chart legends.
const SHORT: [&str; 7] = [
    "SmoothGrad",
    "IG (blur)",
    "EG",
    "Grad-CAM",
    "PolyCAM",
    "iGOS++",
    "RISE",
];

fn panel(
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
    log_x: bool,
) -> Result<RgbImage> {
    Ok(LineChart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        log_x,
        width: 640,
        height: 440,
        ..Default::default()
    }
    .render()?)
}

fn side_by_side(
    dir: &Path,
    run: &str,
    stem: &str,
    left: RgbImage,
    right: RgbImage,
) -> Result<(String, String)> {
    let img = grid(&[left, right], 2, 8, [255, 255, 255])?;
    let file = format!("{run}_{stem}.png");
    img.write_png(dir.join(&file))?;
    Ok((stem.to_string(), file))
}

fn band(s: &[Summary]) -> Vec<(f64, f64)> {
    s.iter().map(|v| (v.mean - v.sem, v.mean + v.sem)).collect()
}

/// A horizontal reference level over [x0, x1].
fn level(label: String, y: f64, x0: f64, x1: f64) -> Series {
    Series::new(label, vec![(x0, y), (x1, y)])
}

fn col_name(col: Col) -> &'static str {
    match col {
        Col::Ins => "insertion AUC (higher is better)",
        Col::Del => "deletion AUC (lower is better)",
        Col::Diff => "insertion - deletion",
    }
}

fn best_method(data: &Data, col: Col) -> Result<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for m in data.methods() {
        let v = Summary::of(&data.column(&catalogue::method_key(m), col)?).mean;
        let better = match best {
            None => true,
            Some((_, b)) => (col == Col::Del && v < b) || (col != Col::Del && v > b),
        };
        if better {
            best = Some((m, v));
        }
    }
    best.ok_or_else(|| "no methods".into())
}

/// Writes every chart into `dir`, file names `<run>_<stem>.png`; returns
/// (stem, file name) pairs. `pixels` is the images' pixel count (the
/// curves' x axis: after step k of S, ⌊k·P/S⌋ of the P pixels changed).
pub fn write_all(
    data: &Data,
    dir: &Path,
    run: &str,
    pixels: usize,
) -> Result<Vec<(String, String)>> {
    let n = data.samples.len();
    let avg = data.full(Normalization::ZScore, "mean");
    let mut out = Vec::new();

    // Figures 5–9: the sweeps.
    for sweep in catalogue::sweeps() {
        let xs: Vec<f64> = sweep.points.iter().map(|p| p.0).collect();
        let (x0, x1) = (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let mut panels = Vec::new();
        for col in [Col::Ins, Col::Del] {
            let s: Vec<Summary> = sweep
                .points
                .iter()
                .map(|(_, spec)| {
                    let k = data.full(Normalization::ZScore, spec);
                    Ok(Summary::of(&data.column(&k, col)?))
                })
                .collect::<Result<Vec<_>>>()?;
            let points: Vec<(f64, f64)> = xs.iter().zip(&s).map(|(&x, v)| (x, v.mean)).collect();
            let (bm, bv) = best_method(data, col)?;
            let series = vec![
                Series::new(format!("{} (± s.e.)", sweep.name), points).with_band(band(&s)),
                level(
                    "Average".into(),
                    Summary::of(&data.column(&avg, col)?).mean,
                    x0,
                    x1,
                ),
                level(format!("best base method ({})", SHORT[bm]), bv, x0, x1),
            ];
            panels.push(panel(
                format!("{}: {} sweep, n = {n}", sweep.figure, sweep.name),
                sweep.param,
                col_name(col),
                series,
                sweep.log_x,
            )?);
        }
        let right = panels.pop().ok_or("panel")?;
        let left = panels.pop().ok_or("panel")?;
        out.push(side_by_side(dir, run, sweep.stem, left, right)?);
    }

    // Figure 11: ensemble size.
    let mut panels = Vec::new();
    for col in [Col::Ins, Col::Del] {
        let mut series = Vec::new();
        for (label, spec) in [("Average", "mean"), ("UCB (eps=-0.5)", "ucb:eps=-0.5")] {
            let a = ablation(data, spec, col)?;
            let ks: Vec<f64> = a.ks.iter().map(|&k| k as f64).collect();
            series.push(
                Series::new(
                    format!("{label}, top-k"),
                    ks.iter().zip(&a.top).map(|(&k, s)| (k, s.mean)).collect(),
                )
                .with_band(band(&a.top)),
            );
            series.push(
                Series::new(
                    format!("{label}, all subsets"),
                    ks.iter()
                        .zip(&a.random)
                        .map(|(&k, s)| (k, s.mean))
                        .collect(),
                )
                .with_band(band(&a.random)),
            );
        }
        panels.push(panel(
            format!("Figure 11: ensemble size, n = {n}"),
            "number of methods k",
            col_name(col),
            series,
            false,
        )?);
    }
    let right = panels.pop().ok_or("panel")?;
    let left = panels.pop().ok_or("panel")?;
    out.push(side_by_side(dir, run, "fig11_ensemble_size", left, right)?);

    // Figures 4 and 10: mean curves.
    let mut fig4: Vec<(String, String)> = data
        .methods()
        .into_iter()
        .map(|m| (SHORT[m].to_string(), catalogue::method_key(m)))
        .collect();
    fig4.push(("Average (z-score)".into(), avg.clone()));
    let fig10: Vec<(String, String)> = catalogue::NORMS
        .iter()
        .map(|&nm| (format!("Average, {}", nm.name()), data.full(nm, "mean")))
        .collect();
    for (stem, title, rows) in [
        (
            "fig4_curves",
            "Figure 4: base methods and the Average",
            &fig4,
        ),
        (
            "fig10_normalization_curves",
            "Figure 10: normalizations (Average)",
            &fig10,
        ),
    ] {
        let mut panels = Vec::new();
        for (prefix, what) in [("ins_curve", "insertion"), ("del_curve", "deletion")] {
            let mut series = Vec::new();
            let mut n_min = n;
            for (label, key) in rows.iter() {
                let (curve, n_curves) = data.mean_curve(key, prefix)?;
                n_min = n_min.min(n_curves);
                let s = curve.len().saturating_sub(1).max(1);
                let points: Vec<(f64, f64)> = curve
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (((k * pixels) / s) as f64 / pixels as f64, v))
                    .collect();
                series.push(Series::new(label.clone(), points));
            }
            panels.push(panel(
                format!("{title}, {what}, n = {n_min}"),
                "fraction of pixels changed",
                "softmax probability of the class",
                series,
                false,
            )?);
        }
        let right = panels.pop().ok_or("panel")?;
        let left = panels.pop().ok_or("panel")?;
        out.push(side_by_side(dir, run, stem, left, right)?);
    }
    Ok(out)
}
