//! The report sections of the three issue-23 parts (Theorem 4.3 sweep,
//! AGG_faith on logits vs probabilities, stability where it is defined),
//! computed from their merged records only.

use crate::common::claims;
use crate::report::{direction, panel_rows, table, Data};
use crate::stability_part::{STRATS, TAU};
use crate::thm43::{DELTA, M_GRID, QS};
use crate::{faith_target, Arch, Result};
use rand::RngExt as _;
use salience::metrics::verdict::{Claim, Comparison, Direction, Verdict};
use salience::metrics::{Better, Summary};
use salience::report::render::plot::{LineChart, Series, ValueBounds};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The records of the three parts, per architecture (absent where the
/// part was not run).
#[derive(Default)]
pub struct Extra {
    pub thm43: Vec<(Arch, Data)>,
    pub faith_target: Vec<(Arch, Data)>,
    pub stability: Vec<(Arch, Data)>,
}

impl Extra {
    /// The stability records of `arch`.
    pub fn stability(&self, arch: Arch) -> Option<&Data> {
        self.stability.iter().find(|a| a.0 == arch).map(|a| &a.1)
    }
}

/// The verdict of one claim and its rendered cell.
pub fn judge(comparisons: Vec<Comparison>) -> (String, Option<Verdict>) {
    match claims::evaluate(&Claim { comparisons }) {
        Ok(r) => (r.to_string(), Some(r.verdict)),
        Err(e) => (format!("**inconclusive**: no test ({e})"), None),
    }
}

fn mean_ci(v: &[f64]) -> (f64, f64) {
    let s = Summary::of(v);
    (s.mean, 1.96 * s.sem)
}

/// Per-image values of `metric` of `method`, in image order.
fn values(d: &Data, method: &str, metric: &str) -> BTreeMap<usize, f64> {
    d.get(method, metric).cloned().unwrap_or_default()
}

/// The median (NaN for no values).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Sum of the per-image compute times.
fn seconds(d: &Data) -> f64 {
    values(d, "time", "secs").values().sum()
}

/// Least-squares slope of ln y on ln x (points with y > 0 only).
pub fn log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let p: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if p.len() < 2 {
        return None;
    }
    let n = p.len() as f64;
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Bootstrap resamples of the slope.
pub const BOOTSTRAP: usize = 2000;

/// The slope of the mean gap over images against m, and its 95 %
/// percentile bootstrap interval (images resampled with replacement, the
/// same resample for every m). `gaps[j]` are the per-image gaps at `ms[j]`,
/// paired by image.
pub fn slope_with_interval(ms: &[usize], gaps: &[Vec<f64>]) -> Option<(f64, f64, f64)> {
    let n = gaps.first()?.len();
    if n == 0 || gaps.iter().any(|g| g.len() != n) {
        return None;
    }
    // A mean gap of 0 at some m has no logarithm: no slope (the full
    // sample), or the resample is dropped (the bootstrap).
    let slope_of = |idx: &[usize]| {
        let pts: Vec<(f64, f64)> = ms
            .iter()
            .zip(gaps)
            .map(|(&m, g)| {
                let mean = idx.iter().map(|&i| g[i]).sum::<f64>() / idx.len() as f64;
                (m as f64, mean)
            })
            .collect();
        if pts.iter().any(|p| p.1 <= 0.0) {
            return None;
        }
        log_slope(&pts)
    };
    let all: Vec<usize> = (0..n).collect();
    let s = slope_of(&all)?;
    let mut rng = salience::core::seed::rng(0x0074_686d_3433);
    let mut boot: Vec<f64> = (0..BOOTSTRAP)
        .filter_map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            slope_of(&idx)
        })
        .collect();
    boot.sort_by(f64::total_cmp);
    let q = |p: f64| {
        boot.get(((boot.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    Some((s, q(0.025)?, q(0.975)?))
}

/// The computed statement on the slope against the theorem's −1/2.
pub fn slope_statement(s: f64, lo: f64, hi: f64) -> String {
    let head = format!("log-log slope of the mean gap against m: {s:.2} (95 % bootstrap interval [{lo:.2}, {hi:.2}])");
    if hi < -0.5 {
        format!("{head}: the whole interval lies below −0.5, the gap shrinks faster than m^(−1/2), within what the theorem allows")
    } else if lo <= -0.5 {
        format!("{head}: the interval contains −0.5, consistent with a shrinkage at least as fast as m^(−1/2)")
    } else {
        format!("{head}: **the whole interval lies above −0.5**, the mean gap shrinks more slowly than m^(−1/2) — not the rate the theorem predicts for the worst case")
    }
}

/// The Theorem 4.3 section of one architecture.
pub fn thm43_section(arch: Arch, d: &Data, results: &Path) -> Result<String> {
    let mut md = format!(
        "## Theorem 4.3: held-out gap against the number of fitting samples m ({}, Table 1 panel)\n\n",
        arch.title()
    );
    let _ = writeln!(
        md,
        "Theorem 4.3 (App. A, Theorem A.5): with probability at least 1 − δ, the weights ŵ fitted on m \
         metric-evaluation samples satisfy Q(φ_ŵ) − min_w Q(φ_w) ≤ C·√(ln(16k/δ)/m) (the main text's form has a factor 4 \
         inside the root, which the proof derives). Per image, the largest fitting sample (m = {}) is drawn once and \
         ŵ_m is fitted on its first m draws (the draws are i.i.d.; the explanations of the perturbed inputs are computed \
         once and reused for every m); Q(φ_ŵ_m) is evaluated on an independent held-out sample (the evaluation stream), \
         and min_w Q is estimated by the optimum of the held-out sample itself (the in-sample optimum of the held-out \
         Gram, or the smallest held-out Q of any ŵ_m if smaller, so that the QP's tolerance cannot make a gap \
         negative): the best available estimate; its own optimism makes the estimated gap ≥ the true one in \
         expectation, and puts a floor under it as m approaches the held-out size. Bound: the theorem's \
         C·√(4 ln(16k/δ)/m) at δ = {DELTA} with c1, c2, g read from the fitting sample (maxima observed, estimates \
         of the suprema the theorem assumes).\n",
        M_GRID.iter().max().copied().unwrap_or(0)
    );
    let _ = writeln!(
        md,
        "Records: [`{}.jsonl`]({}.jsonl); configuration: `{}`; {} images; compute time (sum over images) {:.0} s.\n",
        crate::thm43::run_name(arch),
        crate::thm43::run_name(arch),
        d.config,
        d.n_samples,
        seconds(d)
    );
    md.push_str("| m |");
    for (name, what) in QS {
        let _ = write!(
            md,
            " {name} gap ({what}): mean ± 95 % CI | median | images with gap 0 | bound (mean) |"
        );
    }
    md.push_str("\n|---:|");
    md.push_str(&"---:|---:|---:|---:|".repeat(QS.len()));
    md.push('\n');
    for m in M_GRID {
        let _ = write!(md, "| {m} |");
        for (name, _) in QS {
            let g: Vec<f64> = values(d, name, &format!("gap:m={m}"))
                .into_values()
                .collect();
            let bd: Vec<f64> = values(d, name, &format!("bound:m={m}"))
                .into_values()
                .collect();
            let (mean, ci) = mean_ci(&g);
            let med = median(&g);
            let bound = if bd.is_empty() {
                "—".to_string()
            } else {
                format!("{:.3e}", Summary::of(&bd).mean)
            };
            let zeros = g.iter().filter(|&&v| v == 0.0).count();
            let _ = write!(
                md,
                " {mean:.3e} ± {ci:.2e} | {med:.3e} | {zeros} of {} | {bound} |",
                g.len()
            );
        }
        md.push('\n');
    }
    md.push('\n');
    let (m_lo, m_hi) = (
        M_GRID.iter().min().copied().unwrap_or(0),
        M_GRID.iter().max().copied().unwrap_or(0),
    );
    let mut series = Vec::new();
    for (name, what) in QS {
        let per_m: Vec<BTreeMap<usize, f64>> = M_GRID
            .iter()
            .map(|m| values(d, name, &format!("gap:m={m}")))
            .collect();
        // Images with a gap at every m, paired.
        let images: Vec<usize> = per_m
            .first()
            .map(|f| {
                f.keys()
                    .copied()
                    .filter(|i| per_m.iter().all(|g| g.contains_key(i)))
                    .collect()
            })
            .unwrap_or_default();
        let gaps: Vec<Vec<f64>> = per_m
            .iter()
            .map(|g| images.iter().map(|i| g[i]).collect())
            .collect();
        let within = M_GRID
            .iter()
            .flat_map(|m| {
                let g = values(d, name, &format!("gap:m={m}"));
                let b = values(d, name, &format!("bound:m={m}"));
                g.into_iter()
                    .filter_map(move |(i, v)| b.get(&i).map(|&bv| v <= bv))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<bool>>();
        let _ = writeln!(
            md,
            "* **{name}** ({what}): gap ≤ bound for {} of {} (image, m) pairs.",
            within.iter().filter(|&&w| w).count(),
            within.len()
        );
        match slope_with_interval(&M_GRID, &gaps) {
            Some((s, lo, hi)) => {
                let _ = writeln!(md, "  * {}.", slope_statement(s, lo, hi));
            }
            None => {
                let zero_at: Vec<String> = M_GRID
                    .iter()
                    .zip(&gaps)
                    .filter(|(_, g)| g.iter().all(|&v| v == 0.0))
                    .map(|(m, _)| m.to_string())
                    .collect();
                let _ = writeln!(
                    md,
                    "  * log-log slope: not computable — the mean gap is 0 at m = {} (ŵ_m is the held-out optimum on every image: the QP picks the same weights, typically one vertex of the simplex, from every sample).",
                    if zero_at.is_empty() { "—".to_string() } else { zero_at.join(", ") }
                );
            }
        }
        let first = gaps.first().cloned().unwrap_or_default();
        let last = gaps.last().cloned().unwrap_or_default();
        let (cell, _) = judge(vec![Comparison::paired(
            &format!("gap at m = {m_hi}"),
            &format!("gap at m = {m_lo}"),
            Direction::Less,
            &last,
            &first,
        )]);
        let _ = writeln!(
            md,
            "  * Claim \"the gap shrinks with m\" (tested: gap at m = {m_hi} smaller than at m = {m_lo}, paired over the {} images): {cell}.",
            images.len()
        );
        // Relative mean gap (to m = m_lo) on a log scale.
        let base = first.iter().sum::<f64>() / first.len().max(1) as f64;
        if base > 0.0 {
            let pts: Vec<(f64, f64, f64, f64)> = M_GRID
                .iter()
                .zip(&gaps)
                .filter_map(|(&m, g)| {
                    let (mean, ci) = mean_ci(g);
                    (mean > 0.0).then(|| {
                        let lo = (mean - ci).max(mean * 1e-3);
                        (
                            m as f64,
                            (mean / base).log10(),
                            (lo / base).log10(),
                            ((mean + ci) / base).log10(),
                        )
                    })
                })
                .collect();
            series.push(Series {
                label: format!("{name} ({what})"),
                points: pts.iter().map(|p| (p.0, p.1)).collect(),
                band: Some(pts.iter().map(|p| (p.2, p.3)).collect()),
            });
        }
    }
    for (label, rate) in [("m^(-1/2) (theorem's rate)", -0.5), ("m^(-1)", -1.0)] {
        series.push(Series {
            label: label.into(),
            points: M_GRID
                .iter()
                .map(|&m| (m as f64, rate * (m as f64 / m_lo as f64).log10()))
                .collect(),
            band: None,
        });
    }
    let prefix = match arch {
        Arch::Cnn => "decker2024".to_string(),
        Arch::Vit => format!("decker2024_{}", arch.name()),
    };
    let file = format!("{prefix}_thm43_gap.png");
    LineChart {
        title: format!("Theorem 4.3: held-out gap vs m ({})", arch.title()),
        x_label: "m, fitting samples (log scale)".into(),
        y_label: format!("log10(mean gap / mean gap at m = {m_lo}), 95% CI"),
        series,
        log_x: true,
        width: 760,
        bounds: ValueBounds::UNBOUNDED,
        ..Default::default()
    }
    .write_png(results.join(&file))?;
    let _ = writeln!(md, "\n![Theorem 4.3 sweep, {}]({file})\n", arch.title());
    Ok(md)
}

/// The verdict lines of the sweep (for the agreement section).
pub fn thm43_claims(d: &Data) -> Vec<String> {
    let (m_lo, m_hi) = (
        M_GRID.iter().min().copied().unwrap_or(0),
        M_GRID.iter().max().copied().unwrap_or(0),
    );
    QS.iter()
        .map(|(name, what)| {
            let (x, y) = d.paired_on(
                (name, &format!("gap:m={m_hi}")),
                (name, &format!("gap:m={m_lo}")),
            );
            let (cell, _) = judge(vec![Comparison::paired(
                &format!("gap at m = {m_hi}"),
                &format!("gap at m = {m_lo}"),
                Direction::Less,
                &x,
                &y,
            )]);
            format!("* Theorem 4.3 ({name}, {what}): \"the held-out gap shrinks as m grows\" (tested: m = {m_hi} against m = {m_lo}). {cell}.")
        })
        .collect()
}

/// The metrics of the logits/probabilities comparison.
const FT_METRICS: [&str; 6] = [
    "INFD_Q_logit",
    "INFD_Q_prob",
    "INFD_logit",
    "INFD_prob",
    "FCOR_logit",
    "FCOR_prob",
];

/// The claims of the logits/probabilities comparison: on each metric, the
/// weights fitted on that metric's target are better than the others.
fn faith_target_claims(d: &Data) -> Vec<(String, String)> {
    FT_METRICS
        .iter()
        .map(|metric| {
            let own = if metric.ends_with("_prob") {
                "prob"
            } else {
                "logit"
            };
            let other = if own == "prob" { "logit" } else { "prob" };
            let (a, b) = (faith_target::row(own), faith_target::row(other));
            let (x, y) = d.paired_on((&a, metric), (&b, metric));
            let dir = Direction::better(matches!(direction(metric), Better::Higher));
            let (cell, _) = judge(vec![Comparison::paired(&a, &b, dir, &x, &y)]);
            (metric.to_string(), format!("{a} better than {b}: {cell}"))
        })
        .collect()
}

/// The logits/probabilities section of one architecture.
pub fn faith_target_section(arch: Arch, d: &Data) -> Result<String> {
    let mut md = format!(
        "## AGG_faith: infidelity target on logits vs softmax probabilities ({}, Table 2 panel)\n\n",
        arch.title()
    );
    let _ = writeln!(
        md,
        "Which target the paper used: App. C writes the infidelity target as f(x) − f(h(x, x_b, I)) without saying \
         whether f is the target's logit or its probability; the released code (aggopt, `AGGfaith_explainer`) takes \
         `model(x)[:, target]` of the wrapped model, which returns the network's raw outputs (no softmax; its demo wraps \
         a torchvision ResNet-50, whose outputs are logits), i.e. **logits**. The default here is the logit too \
         (`FaithConfig`'s Gram and `InfidelityConfig::decker2024` / `FaithfulnessCorrelationConfig::decker2024`: \
         `ScoreKind::Raw`); every other section of this report uses it. Here AGG_faith is fitted twice on the same \
         images and the same m_agg masks, once on the logit change and once on the probability change, and both \
         aggregates are scored on the same fresh masks with both targets: INFD_Q (the held-out objective, \
         un-normalized), INFD (β-normalized) and FCOR.\n"
    );
    let _ = writeln!(
        md,
        "Records: [`{0}.jsonl`]({0}.jsonl); configuration: `{1}`; {2} images; compute time (sum over images) {3:.0} s.\n",
        faith_target::run_name(arch),
        d.config,
        d.n_samples,
        seconds(d)
    );
    let rows: Vec<(String, String)> = faith_target::TARGETS
        .iter()
        .map(|(t, _)| {
            let r = faith_target::row(t);
            (r.clone(), r)
        })
        .collect();
    md.push_str(&table(d, &rows, &FT_METRICS, 4)?);
    md.push_str(
        "\nTested per metric (paired over images; one claim each): the weights fitted on the metric's own target \
         are better than those fitted on the other.\n\n",
    );
    for (metric, line) in faith_target_claims(d) {
        let _ = writeln!(md, "* {metric}: {line}.");
    }
    // Images whose two fits chose the same weights (then every metric ties).
    let (lw, pw) = (faith_target::row("logit"), faith_target::row("prob"));
    let names = d.methods_with_prefix(&lw, "w:");
    let images: Vec<usize> = values(d, &lw, "INFD_Q_logit").into_keys().collect();
    let same = images
        .iter()
        .filter(|i| {
            names.iter().all(|m| {
                let a = values(d, &lw, &format!("w:{m}")).get(i).copied();
                let b = values(d, &pw, &format!("w:{m}")).get(i).copied();
                matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= 1e-6)
            })
        })
        .count();
    let _ = writeln!(
        md,
        "\nImages on which both targets give the same AGG_faith weights (every weight within 1e-6; every metric then ties): {same} of {}.",
        images.len()
    );
    // Mean weights of both fits.
    let methods: Vec<String> = {
        let mut v: Vec<String> = d
            .methods_with_prefix(&faith_target::row("logit"), "w:")
            .into_iter()
            .collect();
        v.sort();
        v
    };
    if !methods.is_empty() {
        md.push_str("\nMean AGG_faith weight per method (± std over images):\n\n| fitted on |");
        for m in &methods {
            let _ = write!(md, " {m} |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(methods.len()));
        md.push('\n');
        for (t, _) in faith_target::TARGETS {
            let r = faith_target::row(t);
            let _ = write!(md, "| {t} |");
            for m in &methods {
                let v: Vec<f64> = values(d, &r, &format!("w:{m}")).into_values().collect();
                let s = Summary::of(&v);
                let _ = write!(md, " {:.3} ± {:.3} |", s.mean, s.std);
            }
            md.push('\n');
        }
    }
    md.push('\n');
    Ok(md)
}

/// Rows of the stability table: the Table 1 panel's methods present in the
/// records, then the aggregates.
fn stability_rows(d: &Data) -> Vec<(String, String)> {
    let methods: Vec<&str> = crate::main_tables::ROBUST_PANEL
        .iter()
        .copied()
        .filter(|m| d.get(m, "zero_map").is_some())
        .collect();
    panel_rows("T1", &methods, &STRATS)
}

/// Images on which the ε_min-replaced RIS/RRS/ROS are degenerate: some
/// pixel or map entry is exactly 0 (the ε_min replacement acts there).
fn degenerate_counts(d: &Data) -> (usize, usize) {
    let px = values(d, "input", "exact_zero_px");
    (px.values().filter(|&&v| v > 0.0).count(), px.len())
}

/// The stability section of one architecture.
pub fn stability_section(arch: Arch, d: &Data) -> Result<String> {
    let mut md = format!(
        "## Stability where it is defined: RIS / RRS / ROS on the entries with a divisor ≥ τ ({}, Table 1 panel)\n\n",
        arch.title()
    );
    let (deg, n) = degenerate_counts(d);
    // The main tables' stability configuration (ε_min, noise radius).
    let main_cfg = salience::metrics::StabilityConfig::symmetric();
    let eps_main = main_cfg.eps_min;
    let radius = match main_cfg.noise {
        salience::metrics::StabilityNoise::Uniform { high, .. } => high,
        salience::metrics::StabilityNoise::Gaussian { std } => std,
    };
    let px = Summary::of(
        &values(d, "input", "exact_zero_px")
            .into_values()
            .collect::<Vec<_>>(),
    );
    let feats = Summary::of(
        &values(d, "input", "features")
            .into_values()
            .collect::<Vec<_>>(),
    );
    let _ = writeln!(
        md,
        "RIS, RRS and ROS divide element-wise by x, e_x, L(x) and h(x). The main tables replace an exactly zero \
         divisor by ε_min = {eps_main:e} (Quantus; OpenXAI clips every divisor at 1e-3): {deg} of {n} images here have \
         exactly zero pixels (on average {:.0} of {:.0} pixels, the black background), where U[−{radius}, {radius}] noise \
         becomes a relative change of up to {:.0e}, so those values measure zero patterns, not stability; **the main \
         tables' RIS/RRS/ROS columns are therefore not shown** (the values stay in the records). Here every relative \
         norm ‖(a − a′)/a‖₂ sums only over the entries with |a| ≥ τ = {TAU} (OpenXAI's clip value, used as a \
         threshold: `StabilityFormula::Support`); entries below τ are left out of numerator and denominators alike, \
         and an image whose clean map has no entry ≥ τ is undefined for that row (no value, counted below). The \
         aggregates are refitted on the Table 1 panel alone (m_agg draws), the noise and the number of \
         perturbations are the main tables' (perturbations that flip the prediction excluded).\n",
        px.mean,
        feats.mean,
        f64::from(radius) / eps_main
    );
    let _ = writeln!(
        md,
        "Records: [`{0}.jsonl`]({0}.jsonl); configuration: `{1}`; {2} images; compute time (sum over images) {3:.0} s.\n",
        crate::stability_part::run_name(arch),
        d.config,
        d.n_samples,
        seconds(d)
    );
    md.push_str("Entries left out per image (below τ), mean ± std over images [min, max]:\n\n| what | entries below τ | exactly 0 | of |\n|---|---:|---:|---:|\n");
    let stat = |method: &str, metric: &str| {
        let v: Vec<f64> = values(d, method, metric).into_values().collect();
        let s = Summary::of(&v);
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, &x| {
            (a.0.min(x), a.1.max(x))
        });
        if v.is_empty() {
            "—".to_string()
        } else {
            format!("{:.1} ± {:.1} [{lo:.0}, {hi:.0}]", s.mean, s.std)
        }
    };
    let mean_of = |method: &str, metric: &str| {
        Summary::of(&values(d, method, metric).into_values().collect::<Vec<_>>()).mean
    };
    let _ = writeln!(
        md,
        "| input pixels x | {} | {} | {:.0} |",
        stat("input", "zero_px"),
        stat("input", "exact_zero_px"),
        mean_of("input", "features")
    );
    let _ = writeln!(
        md,
        "| representation L(x) (RRS) | {} | — | {:.0} |",
        stat("input", "zero_repr"),
        mean_of("input", "repr_len")
    );
    let _ = writeln!(
        md,
        "| logits h(x) (ROS) | {} | — | — |",
        stat("input", "zero_logit")
    );
    let rows = stability_rows(d);
    for (label, key) in &rows {
        let _ = writeln!(
            md,
            "| map of {label} | {} | {} | {:.0} |",
            stat(key, "zero_map"),
            stat(key, "exact_zero_map"),
            mean_of("input", "features")
        );
    }
    md.push_str("\nRIS / RRS / ROS on the defined entries, mean ± std over the images where defined (n per cell); lower is better; best of each column in bold.\n\n");
    md.push_str(&table(d, &rows, &["RIS_def", "RRS_def", "ROS_def"], 3)?);
    let undefined: Vec<String> = rows
        .iter()
        .filter_map(|(label, key)| {
            let kept = values(d, key, "kept");
            let def = values(d, key, "RIS_def");
            let missing = kept.len().saturating_sub(def.len());
            let flipped = kept.values().filter(|&&k| k == 0.0).count();
            (missing > 0).then(|| {
                format!(
                    "{label} {missing} of {} ({flipped} with no perturbation keeping the prediction, {} with no entry ≥ τ)",
                    kept.len(),
                    missing.saturating_sub(flipped)
                )
            })
        })
        .collect();
    let _ = writeln!(
        md,
        "\nImages without a value: {}.\n",
        if undefined.is_empty() {
            "none".to_string()
        } else {
            undefined.join(", ")
        }
    );
    Ok(md)
}

/// Table 3's stability claims on the defined entries: the best (by mean)
/// of AGG_robust/faith/opt beats every row outside the three, AGG_opt
/// every row but that one (the main tables' Table 3 claim).
pub fn stability_claims(d: &Data) -> Vec<(String, String, Option<Verdict>)> {
    let t1 = stability_rows(d);
    let mut out = Vec::new();
    for metric in ["RIS_def", "RRS_def", "ROS_def"] {
        let ours = ["T1/AGG_robust", "T1/AGG_faith", "T1/AGG_opt"];
        let means: Vec<(&str, f64)> = ours
            .iter()
            .filter_map(|k| d.summary(k, metric).map(|s| (*k, s.mean)))
            .collect();
        let Some(&(best, _)) = means.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
            continue;
        };
        let outside: Vec<(String, String)> = t1
            .iter()
            .filter(|r| !ours.contains(&r.1.as_str()))
            .cloned()
            .collect();
        let mut c = Vec::new();
        if let Some(b) = t1.iter().find(|r| r.1 == best) {
            c.extend(d.beats(metric, b, &outside));
        }
        if best != "T1/AGG_opt" {
            if let Some(o) = t1.iter().find(|r| r.1 == "T1/AGG_opt") {
                let rest: Vec<(String, String)> =
                    t1.iter().filter(|r| r.1 != best).cloned().collect();
                c.extend(d.beats(metric, o, &rest));
            }
        }
        let (cell, v) = judge(c);
        let short = metric.trim_end_matches("_def");
        out.push((
            format!("Table 3 ({short}, defined entries): one of AGG_robust/faith/opt best, AGG_opt at least second"),
            format!(
                "* Table 3 ({short} on the entries with a divisor ≥ τ = {TAU}): \"one of AGG_robust/faith/opt best, AGG_opt at least second\" — best of ours by mean: {}. {cell}.",
                best.trim_start_matches("T1/")
            ),
            v,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_slope_of_a_power_law_is_its_exponent() {
        let pts: Vec<(f64, f64)> = [5.0, 10.0, 20.0, 50.0]
            .iter()
            .map(|&m: &f64| (m, 3.0 * m.powf(-0.5)))
            .collect();
        assert!((log_slope(&pts).unwrap() + 0.5).abs() < 1e-12);
        assert!(log_slope(&[(5.0, 1.0)]).is_none());
    }

    #[test]
    fn the_bootstrap_interval_contains_the_slope_and_the_statement_follows_it() {
        let ms = [5, 10, 20, 50, 100, 200];
        // 8 images, gap_i(m) = a_i m^-1 with a_i spread: slope −1 exactly
        // for every resample.
        let gaps: Vec<Vec<f64>> = ms
            .iter()
            .map(|&m| (0..8).map(|i| (1.0 + i as f64) / m as f64).collect())
            .collect();
        let (s, lo, hi) = slope_with_interval(&ms, &gaps).unwrap();
        assert!((s + 1.0).abs() < 1e-9 && (lo + 1.0).abs() < 1e-9 && (hi + 1.0).abs() < 1e-9);
        assert!(slope_statement(s, lo, hi).contains("below −0.5"));
        assert!(slope_statement(-0.4, -0.6, -0.3).contains("contains −0.5"));
        assert!(
            slope_statement(-0.2, -0.3, -0.1).contains("**the whole interval lies above −0.5**")
        );
    }
}
