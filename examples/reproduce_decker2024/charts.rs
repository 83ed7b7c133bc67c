//! PNG charts (`salience_report::render::plot`), written next to the results file;
//! each function returns the Markdown that links its PNGs.

use crate::main_tables::{Strat, ROBUST_PANEL};
use crate::report::{size_bins, Data, LimeResult};
use crate::{Arch, Result};
use salience::metrics::Summary;
use salience::report::render::plot::{
    BarChart, BarSeries, BoxGroup, BoxPlot, LineChart, Series, ValueBounds,
};
use std::path::Path;

/// Box plots of the per-image weights of AGG_robust / AGG_faith / AGG_opt
/// (Figure 4), one PNG per strategy (the CNN's named
/// `decker2024_weights_*`, the ViT's `decker2024_vit_weights_*`).
pub fn weight_boxplots(
    data: &Data,
    id: (Arch, &str),
    methods: &[&str],
    out: &Path,
) -> Result<String> {
    let (arch, exp) = id;
    let prefix = match arch {
        Arch::Cnn => "decker2024".to_string(),
        Arch::Vit => format!("decker2024_{}", arch.name()),
    };
    let mut md = String::from("\n");
    for s in [Strat::Robust, Strat::Faith, Strat::Opt] {
        let key = format!("{exp}/{}", s.name());
        let groups: Vec<BoxGroup> = methods
            .iter()
            .filter_map(|m| {
                let v: Vec<f64> = data
                    .get(&key, &format!("w:{m}"))?
                    .values()
                    .copied()
                    .collect();
                Some(BoxGroup {
                    label: m.to_string(),
                    values: v,
                })
            })
            .collect();
        if groups.is_empty() {
            continue;
        }
        let file = format!(
            "{prefix}_weights_{}_{}.png",
            exp.to_lowercase(),
            s.name().to_lowercase()
        );
        BoxPlot {
            title: format!(
                "{} weights per image ({}, panel {exp}, n = {})",
                s.name(),
                arch.title(),
                data.n_samples
            ),
            y_label: "weight".into(),
            groups,
            width: 760,
            ..Default::default()
        }
        .write_png(out.join(&file))?;
        md.push_str(&format!(
            "![{} weights, {}, panel {exp}]({file})\n",
            s.name(),
            arch.title()
        ));
    }
    Ok(md)
}

/// Mean AGG_opt weight per sparsity level and per variant by object-size
/// bin, with 95 % confidence intervals (Figure 5).
pub fn lime_bars(r: &LimeResult, results: &Path) -> Result<String> {
    let bins: Vec<String> = size_bins().iter().map(|s| s.to_string()).collect();
    let series = |keys: &[String], map: &std::collections::HashMap<(String, usize), Vec<f64>>| {
        keys.iter()
            .map(|k| {
                let stats: Vec<Summary> = (0..3)
                    .map(|b| Summary::of(map.get(&(k.clone(), b)).map_or(&[][..], |v| v)))
                    .collect();
                BarSeries {
                    label: k.clone(),
                    values: stats.iter().map(|s| s.mean).collect(),
                    err: Some(stats.iter().map(|s| 1.96 * s.sem).collect()),
                }
            })
            .collect::<Vec<_>>()
    };
    let levels: Vec<String> = ["none", "low", "high"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let file = "decker2024_lime_sparsity.png";
    BarChart {
        title: "AGG_opt weight by LIME sparsity and object size".into(),
        y_label: "mean weight (95% CI)".into(),
        categories: bins.clone(),
        series: series(&levels, &r.by_sparsity),
        // AGG_opt weights lie on the simplex: the CIs stop at 0 and 1.
        bounds: ValueBounds::UNIT,
        ..Default::default()
    }
    .write_png(results.join(file))?;
    let variants: Vec<String> = crate::lime_sizes::variants()
        .into_iter()
        .map(|v| v.0)
        .collect();
    let file2 = "decker2024_lime_variants.png";
    BarChart {
        title: "AGG_opt weight per LIME variant and object size".into(),
        y_label: "mean weight (95% CI)".into(),
        categories: bins,
        series: series(&variants, &r.weights),
        bounds: ValueBounds::UNIT,
        ..Default::default()
    }
    .write_png(results.join(file2))?;
    Ok(format!(
        "\n![AGG_opt weight by sparsity and object size]({file})\n![AGG_opt weight per LIME variant]({file2})\n"
    ))
}

/// AGG_robust / AGG_opt Average-Sensitivity and AGG_faith / AGG_opt
/// held-out infidelity as the number of methods grows (Tables 8–9).
pub fn count_lines(data: &Data, results: &Path) -> Result<String> {
    let id = |n: usize| {
        if n == ROBUST_PANEL.len() {
            "T1".to_string()
        } else {
            format!("D4-n{n}")
        }
    };
    let mut md = String::from("\n");
    for (file, title, y, lines) in [
        (
            "decker2024_count_sens.png",
            "SENS_avg vs number of methods",
            "SENS_avg (mean ± sem)",
            [("AGG_robust", "SENS_avg"), ("AGG_opt", "SENS_avg")],
        ),
        (
            "decker2024_count_infd.png",
            "held-out infidelity Q vs number of methods",
            "INFD_Q (mean ± sem)",
            [("AGG_faith", "INFD_Q"), ("AGG_opt", "INFD_Q")],
        ),
    ] {
        let series: Vec<Series> = lines
            .iter()
            .map(|(s, m)| {
                let pts: Vec<(f64, f64, f64)> = (2..=ROBUST_PANEL.len())
                    .filter_map(|n| {
                        data.summary(&format!("{}/{s}", id(n)), m)
                            .map(|x| (n as f64, x.mean, x.sem))
                    })
                    .collect();
                Series {
                    label: format!("{s} {m}"),
                    points: pts.iter().map(|p| (p.0, p.1)).collect(),
                    band: Some(pts.iter().map(|p| (p.1 - p.2, p.1 + p.2)).collect()),
                }
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        LineChart {
            title: title.into(),
            x_label: "number of methods (App. D.4 order)".into(),
            y_label: y.into(),
            series,
            // Sensitivity and infidelity are ≥ 0.
            bounds: ValueBounds::NON_NEGATIVE,
            ..Default::default()
        }
        .write_png(results.join(file))?;
        md.push_str(&format!("![{title}]({file})\n"));
    }
    Ok(md)
}
