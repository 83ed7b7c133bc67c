//! The noise-level charts (Figures 3 and 9 analogues), drawn from the
//! merged records only (plus the run-level accuracy curve).

use salience::report::records::Merged;
use salience::report::render::plot::{LineChart, Series};
use std::path::Path;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What the charts are drawn from.
pub struct ChartInput<'a> {
    /// The architecture's records stem: the charts' file names start with
    /// it (`bykov2022_fig3_auc.png`, `bykov2022_vgg_fig3_auc.png`).
    pub stem: &'a str,
    /// The merged per-image records.
    pub merged: &'a Merged,
    /// The heuristic σ_NG*.
    pub sigma_star: f32,
    /// σ_NG values of the NoiseGrad sweep.
    pub sweep_ng: &'a [f32],
    /// α_SG values of the SmoothGrad sweep.
    pub sweep_sg: &'a [f32],
    /// FusionGrad grid: α_SG values and σ_NG values.
    pub fg_alpha: &'a [f32],
    pub fg_sigma: &'a [f32],
    /// (σ, ACC(σ), AD(σ)) on the labelled set.
    pub accuracy: &'a [(f32, f32, f32)],
    /// Output folder.
    pub dir: &'a Path,
}

/// Mean and standard error of `metric` of `method` relative to Baseline,
/// per image: value_i / baseline_i − 1 (the paper's dAUC), `None` when
/// the records are missing.
fn relative(m: &Merged, method: &str, metric: &str) -> Option<(f64, f64)> {
    let base = m.values("Baseline", metric);
    let v = m.values(method, metric);
    if v.is_empty() || v.len() != base.len() {
        return None;
    }
    let r: Vec<f64> = v
        .iter()
        .zip(&base)
        .filter(|&(_, &b)| b > 0.0)
        .map(|(&a, &b)| a / b - 1.0)
        .collect();
    mean_sem(&r)
}

/// Mean and standard error of `metric` of `method`.
fn absolute(m: &Merged, method: &str, metric: &str) -> Option<(f64, f64)> {
    mean_sem(&m.values(method, metric))
}

fn mean_sem(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, (var / n).sqrt()))
}

/// A series from (x, Some((mean, sem))) points, with a ±sem band.
fn series(label: &str, points: Vec<(f64, Option<(f64, f64)>)>) -> Option<Series> {
    let pts: Vec<(f64, f64, f64)> = points
        .into_iter()
        .filter_map(|(x, v)| v.map(|(m, s)| (x, m, s)))
        .collect();
    if pts.is_empty() {
        return None;
    }
    Some(
        Series::new(label, pts.iter().map(|&(x, m, _)| (x, m)).collect())
            .with_band(pts.iter().map(|&(_, m, s)| (m - s, m + s)).collect()),
    )
}

fn chart(title: &str, x: &str, y: &str, series: Vec<Option<Series>>) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        series: series.into_iter().flatten().collect(),
        width: 720,
        height: 460,
        ..Default::default()
    }
}

/// Writes the charts; returns the file names.
pub fn write_charts(c: &ChartInput<'_>) -> Result<Vec<String>> {
    let m = c.merged;
    let mut files = Vec::new();
    let mut save = |name: &str, ch: LineChart| -> Result<()> {
        ch.write_png(c.dir.join(name))?;
        files.push(name.to_string());
        Ok(())
    };
    // Figure 3 (left) as lines: relative improvement over Baseline against
    // σ_NG, NoiseGrad (α_SG = 0) and FusionGrad at each α_SG (its σ_NG = 0
    // point is SmoothGrad at that α_SG).
    for (metric, what) in [("auc", "ranking AUC"), ("rra", "relevance rank accuracy")] {
        let mut lines = vec![series(
            "NoiseGrad (a_SG = 0)",
            std::iter::once((0.0, Some((0.0, 0.0))))
                .chain(
                    c.sweep_ng
                        .iter()
                        .map(|&s| (s as f64, relative(m, &format!("ng@{s}"), metric))),
                )
                .collect(),
        )];
        for &a in c.fg_alpha {
            let sg0 = relative(m, &format!("sg@{a}"), metric);
            lines.push(series(
                &format!("FusionGrad a_SG = {a}"),
                std::iter::once((0.0, sg0))
                    .chain(
                        c.fg_sigma
                            .iter()
                            .map(|&s| (s as f64, relative(m, &format!("fg@{s}@{a}"), metric))),
                    )
                    .collect(),
            ));
        }
        save(
            &format!("{}_fig3_{metric}.png", c.stem),
            chart(
                &format!(
                    "Relative {what} gain over Baseline vs weight noise (s_NG* = {:.3})",
                    c.sigma_star
                ),
                "s_NG (multiplicative weight noise std)",
                &format!("{what} / Baseline - 1 (mean ± sem)"),
                lines,
            ),
        )?;
    }
    // SmoothGrad alone against α_SG.
    let sg = |metric: &str| -> Vec<(f64, Option<(f64, f64)>)> {
        std::iter::once((0.0, Some((0.0, 0.0))))
            .chain(
                c.sweep_sg
                    .iter()
                    .map(|&a| (a as f64, relative(m, &format!("sg@{a}"), metric))),
            )
            .collect()
    };
    save(
        &format!("{}_sweep_sg.png", c.stem),
        chart(
            "SmoothGrad: relative gain over Baseline vs input noise",
            "a_SG (input noise std / (max - min))",
            "metric / Baseline - 1 (mean ± sem)",
            vec![
                series("ranking AUC", sg("auc")),
                series("relevance rank accuracy", sg("rra")),
            ],
        ),
    )?;
    // Figure 9: the model's accuracy under weight noise (what eq. 5 uses),
    // and the attribution quality against the relative accuracy drop.
    let acc: Vec<(f64, f64)> = c
        .accuracy
        .iter()
        .map(|&(s, a, _)| (s as f64, a as f64))
        .collect();
    let ad: Vec<(f64, f64)> = c
        .accuracy
        .iter()
        .map(|&(s, _, d)| (s as f64, d as f64))
        .collect();
    let s_max = c.accuracy.iter().map(|a| a.0 as f64).fold(0.0, f64::max);
    save(
        &format!("{}_fig9_accuracy.png", c.stem),
        chart(
            "Accuracy of the noisy models on the labelled set (eq. 5)",
            "s_NG (multiplicative weight noise std)",
            "accuracy / relative accuracy drop AD",
            vec![
                Some(Series::new("ACC(s_NG)", acc)),
                Some(Series::new("AD(s_NG)", ad)),
                Some(Series::new(
                    "AD = 5 % (heuristic)",
                    vec![(0.0, 0.05), (s_max, 0.05)],
                )),
            ],
        ),
    )?;
    let by_drop = |metric: &str| -> Vec<(f64, Option<(f64, f64)>)> {
        c.accuracy
            .iter()
            .map(|&(s, _, d)| {
                let v = if s == 0.0 {
                    absolute(m, "Baseline", metric)
                } else {
                    absolute(m, &format!("ng@{s}"), metric)
                };
                (d as f64, v)
            })
            .collect()
    };
    let auc = by_drop("auc");
    let rra = by_drop("rra");
    let lo = auc
        .iter()
        .chain(&rra)
        .filter_map(|p| p.1.map(|v| v.0 - v.1))
        .fold(f64::INFINITY, f64::min);
    let hi = auc
        .iter()
        .chain(&rra)
        .filter_map(|p| p.1.map(|v| v.0 + v.1))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut lines = vec![
        series("NoiseGrad ranking AUC", auc),
        series("NoiseGrad rank accuracy", rra),
    ];
    if lo.is_finite() && hi.is_finite() {
        lines.push(Some(Series::new("AD = 5 %", vec![(0.05, lo), (0.05, hi)])));
    }
    save(
        &format!("{}_fig9_quality_vs_drop.png", c.stem),
        chart(
            "NoiseGrad localization vs relative accuracy drop (Fig. 9)",
            "relative accuracy drop AD(s_NG)",
            "mean ± sem over images",
            lines,
        ),
    )?;
    Ok(files)
}
