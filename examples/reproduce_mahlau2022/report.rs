//! From merged per-image records to the results file: Table 1, the
//! normalization table, the sweeps, the ablation, the agreement with the
//! paper, and the PNGs.

use crate::catalogue::{self, METHODS};
use crate::common::fmt_p;
use crate::Budget;
use salience::metrics::{wilcoxon_signed_rank, Summary, WilcoxonConfig};
use salience::report::records::Merged;
use salience::Normalization;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Wall time and machine load of a plain (unsharded) run.
pub struct Timing {
    /// Wall time of the whole run.
    pub wall: Duration,
    /// `/proc/loadavg` at the start.
    pub load_before: String,
    /// `/proc/loadavg` at the end.
    pub load_after: String,
    /// User + system CPU seconds of the process, if known.
    pub cpu: Option<f64>,
}

/// Per-image values by (key, metric), in sample order.
pub struct Data {
    values: HashMap<(String, String), BTreeMap<usize, f64>>,
    /// The images (sample indices) of the run.
    pub samples: Vec<usize>,
}

impl Data {
    pub(crate) fn new(merged: &Merged) -> Self {
        let mut values: HashMap<(String, String), BTreeMap<usize, f64>> = HashMap::new();
        let mut samples = std::collections::BTreeSet::new();
        for r in &merged.records {
            samples.insert(r.sample);
            values
                .entry((r.method.clone(), r.metric.clone()))
                .or_default()
                .insert(r.sample, r.value);
        }
        Data {
            values,
            samples: samples.into_iter().collect(),
        }
    }

    /// The values of `key` / `metric` for every image (error if one is
    /// missing: tables compare methods on the same images).
    pub fn get(&self, key: &str, metric: &str) -> Result<Vec<f64>> {
        let m = self
            .values
            .get(&(key.to_string(), metric.to_string()))
            .ok_or_else(|| format!("no records for {key} / {metric}"))?;
        if m.len() != self.samples.len() {
            return Err(format!(
                "{key} / {metric}: {} of {} images",
                m.len(),
                self.samples.len()
            )
            .into());
        }
        Ok(m.values().copied().collect())
    }

    /// The mean over images of a recorded curve (`ins_curve` or
    /// `del_curve`), point by point.
    pub fn mean_curve(&self, key: &str, prefix: &str) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        loop {
            let metric = format!("{prefix}@{:04}", out.len());
            if !self.values.contains_key(&(key.to_string(), metric.clone())) {
                break;
            }
            out.push(Summary::of(&self.get(key, &metric)?).mean);
        }
        if out.is_empty() {
            return Err(format!("no {prefix} records for {key}").into());
        }
        Ok(out)
    }

    /// insertion − deletion per image.
    pub fn diff(&self, key: &str) -> Result<Vec<f64>> {
        let i = self.get(key, "insertion")?;
        let d = self.get(key, "deletion")?;
        Ok(i.iter().zip(&d).map(|(a, b)| a - b).collect())
    }

    /// A metric column: `insertion`, `deletion` or `diff`.
    pub fn column(&self, key: &str, col: Col) -> Result<Vec<f64>> {
        match col {
            Col::Ins => self.get(key, "insertion"),
            Col::Del => self.get(key, "deletion"),
            Col::Diff => self.diff(key),
        }
    }
}

/// The three columns of every table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Col {
    /// Insertion AUC (higher is better).
    Ins,
    /// Deletion AUC (lower is better).
    Del,
    /// Insertion − deletion (higher is better).
    Diff,
}

impl Col {
    const ALL: [Col; 3] = [Col::Ins, Col::Del, Col::Diff];
    fn higher_is_better(self) -> bool {
        !matches!(self, Col::Del)
    }
    fn header(self) -> &'static str {
        match self {
            Col::Ins => "insertion ↑",
            Col::Del => "deletion ↓",
            Col::Diff => "ins − del ↑",
        }
    }
}

fn fmt_summary(s: &Summary) -> String {
    format!("{:.4} ± {:.4} (se {:.4})", s.mean, s.std, s.sem)
}

/// Mean of a column per row, the index of the best row.
fn best(means: &[f64], col: Col) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &m) in means.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => {
                if col.higher_is_better() {
                    m > b
                } else {
                    m < b
                }
            }
        };
        if better {
            best = Some((i, m));
        }
    }
    best.map(|b| b.0)
}

/// A paired comparison of `a` against `b` on the same images.
pub struct Paired {
    /// mean(a − b).
    pub delta: f64,
    /// Images where a > b.
    pub wins: usize,
    /// Images where a < b.
    pub losses: usize,
    /// Two-sided Wilcoxon signed-rank p-value (1 when all differences are 0).
    pub p: f64,
}

fn paired(a: &[f64], b: &[f64]) -> Paired {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let delta = d.iter().sum::<f64>() / d.len().max(1) as f64;
    let p = wilcoxon_signed_rank(a, b, &WilcoxonConfig::default()).map_or(1.0, |r| r.p_value);
    Paired {
        delta,
        wins: d.iter().filter(|&&v| v > 0.0).count(),
        losses: d.iter().filter(|&&v| v < 0.0).count(),
        p,
    }
}

fn fmt_paired(p: &Paired) -> String {
    format!(
        "{:+.4} ({}/{}, p = {})",
        p.delta,
        p.wins,
        p.losses,
        fmt_p(p.p)
    )
}

/// A Markdown table of rows (label, key) with the three columns and,
/// optionally, paired differences against `reference`; the best mean of
/// each column is in bold.
fn metric_table(data: &Data, rows: &[(String, String)], reference: Option<&str>) -> Result<String> {
    let mut md = String::from("| method |");
    for c in Col::ALL {
        let _ = write!(md, " {} |", c.header());
    }
    if reference.is_some() {
        md.push_str(" Δ ins vs Average (wins/losses, p) | Δ del vs Average (wins/losses, p) |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(3 + if reference.is_some() { 2 } else { 0 }));
    md.push('\n');
    let mut cells: Vec<Vec<Summary>> = Vec::new();
    for (_, key) in rows {
        cells.push(
            Col::ALL
                .iter()
                .map(|&c| Ok(Summary::of(&data.column(key, c)?)))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let bests: Vec<Option<usize>> = Col::ALL
        .iter()
        .enumerate()
        .map(|(j, &c)| best(&cells.iter().map(|r| r[j].mean).collect::<Vec<_>>(), c))
        .collect();
    for (i, ((label, key), row)) in rows.iter().zip(&cells).enumerate() {
        let _ = write!(md, "| {label} |");
        for (j, s) in row.iter().enumerate() {
            if bests[j] == Some(i) {
                let _ = write!(md, " **{}** |", fmt_summary(s));
            } else {
                let _ = write!(md, " {} |", fmt_summary(s));
            }
        }
        if let Some(r) = reference {
            for metric in ["insertion", "deletion"] {
                if key == r {
                    md.push_str(" — |");
                } else {
                    let p = paired(&data.get(key, metric)?, &data.get(r, metric)?);
                    let _ = write!(md, " {} |", fmt_paired(&p));
                }
            }
        }
        md.push('\n');
    }
    Ok(md)
}

/// Mean over images of a metric.
fn mean_of(data: &Data, key: &str, col: Col) -> Result<f64> {
    Ok(Summary::of(&data.column(key, col)?).mean)
}

/// The ablation of §4.4 for one aggregator spec and column.
pub struct Ablation {
    /// k = 2 … 7.
    pub ks: Vec<usize>,
    /// Top-k by the single methods' mean of the column: per-k summary.
    pub top: Vec<Summary>,
    /// All subsets of size k: per image the mean over the subsets, then
    /// the summary over images.
    pub random: Vec<Summary>,
}

/// The methods ordered best first by their mean of `col` over the run.
pub fn method_order(data: &Data, col: Col) -> Result<Vec<usize>> {
    let mut means: Vec<(usize, f64)> = (0..METHODS.len())
        .map(|m| Ok((m, mean_of(data, &catalogue::method_key(m), col)?)))
        .collect::<Result<Vec<_>>>()?;
    means.sort_by(|a, b| {
        if col.higher_is_better() {
            b.1.total_cmp(&a.1)
        } else {
            a.1.total_cmp(&b.1)
        }
    });
    Ok(means.into_iter().map(|(m, _)| m).collect())
}

/// The key of the aggregate of a subset with spec (one method: the method).
fn subset_key(spec: &str, subset: u32) -> String {
    if subset.count_ones() == 1 {
        catalogue::method_key(subset.trailing_zeros() as usize)
    } else {
        catalogue::key(Normalization::ZScore, spec, subset)
    }
}

/// Computes the ablation (k = 1 … 7; k = 1 is the single methods).
pub fn ablation(data: &Data, spec: &str, col: Col) -> Result<Ablation> {
    let order = method_order(data, col)?;
    let n = METHODS.len();
    let mut out = Ablation {
        ks: Vec::new(),
        top: Vec::new(),
        random: Vec::new(),
    };
    for k in 1..=n {
        let top: u32 = order.iter().take(k).map(|&m| 1u32 << m).sum();
        out.top
            .push(Summary::of(&data.column(&subset_key(spec, top), col)?));
        let subsets: Vec<u32> = (1..=catalogue::ALL)
            .filter(|s| s.count_ones() as usize == k)
            .collect();
        let mut per_image = vec![0.0; data.samples.len()];
        for &s in &subsets {
            for (acc, v) in per_image
                .iter_mut()
                .zip(data.column(&subset_key(spec, s), col)?)
            {
                *acc += v / subsets.len() as f64;
            }
        }
        out.random.push(Summary::of(&per_image));
        out.ks.push(k);
    }
    Ok(out)
}

/// Writes `mahlau2022.md` and the PNGs into `results`.
pub fn write(
    merged: &Merged,
    budget: &Budget,
    results: &Path,
    timing: Option<Timing>,
    note: Option<&str>,
) -> Result<()> {
    std::fs::create_dir_all(results)?;
    let data = Data::new(merged);
    let n = data.samples.len();
    if n == 0 {
        return Err("no records to report".into());
    }
    // The merged records next to the report, so every table and figure can
    // be re-derived without re-running (`--merge --out <results>`).
    salience::report::records::write_records(results, &merged.header, &merged.records)?;
    let pngs = crate::plots::write_all(&data, results)?;
    let md = markdown(&data, budget, timing, note, &pngs)?;
    let path = results.join("mahlau2022.md");
    std::fs::write(&path, md)?;
    println!("wrote {} and {} PNGs", path.display(), pngs.len());
    Ok(())
}

/// Labels and keys of Table 1: the base methods, then the aggregators.
pub fn table1_rows() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = METHODS
        .iter()
        .enumerate()
        .map(|(m, name)| (format!("{name} (base)"), catalogue::method_key(m)))
        .collect();
    rows.extend(catalogue::TABLE1.iter().map(|(label, spec)| {
        (
            label.to_string(),
            catalogue::key(Normalization::ZScore, spec, catalogue::ALL),
        )
    }));
    rows
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn markdown(
    data: &Data,
    budget: &Budget,
    timing: Option<Timing>,
    note: Option<&str>,
    pngs: &[(String, String)],
) -> Result<String> {
    let n = data.samples.len();
    let avg = catalogue::key(Normalization::ZScore, "mean", catalogue::ALL);
    let mut md = String::from(
        "# Reproduction: Mahlau & Nolde (2022), ensemble aggregation with Bayesian-optimization acquisition functions\n\n",
    );
    md.push_str(
        "Seed paper 000: *Fidelity of Ensemble Aggregation for Saliency Map Explanations using Bayesian \
         Optimization Techniques*. Example: `examples/reproduce_mahlau2022/` (generated file — rerun the \
         command below to regenerate it).\n\n## Run\n\n",
    );
    // Shell-quoted, so the line can be pasted.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    let _ = writeln!(
        md,
        "* Command: `cargo run --release --example reproduce_mahlau2022{}{}`",
        if args.is_empty() { "" } else { " -- " },
        args.join(" ")
    );
    let _ = writeln!(
        md,
        "* Records: `mahlau2022.jsonl` next to this report (one line per image × method × metric, \
         curves included); `-- --merge --out <this folder>` re-derives every table and figure \
         without re-running."
    );
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let _ = writeln!(
        md,
        "* Git commit: `{commit}`{}",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "* Machine: 2-vCPU AMD EPYC (shared), CPU candle backend, {} logical cores visible{}",
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        note.map(|s| format!("; {s}")).unwrap_or_default()
    );
    match &timing {
        Some(t) => {
            let _ = writeln!(
                md,
                "* Wall time: **{:.1} s** ({:.1} min) for explanations, aggregates, curves and this report \
                 (CPU time, user + system: {}); load average (1/5/15 min) {} at the start, {} at the end \
                 (on an idle 2-core machine the wall time is about CPU time / 2)",
                t.wall.as_secs_f64(),
                t.wall.as_secs_f64() / 60.0,
                t.cpu.map_or("unknown".into(), |c| format!("{c:.0} s")),
                t.load_before,
                t.load_after
            );
        }
        None => md.push_str("* Wall time: merged from shards (see the shards' logs)\n"),
    }
    let _ = writeln!(
        md,
        "* Images: the first {n} images of the shipped Fashion-MNIST test sample \
         (`salience_datasets::assets::fashion_mnist_sample`), 1 × 28 × 28; model: the shipped small CNN \
         (91 % test accuracy); the **predicted** class is explained and scored (correct or not, as in the paper)."
    );
    md.push_str(
        "* Seeds: image i draws everything from `Shard::sample_seed(2022, i)` (method m: `derive_seed(·, m)`; \
         insertion / deletion baselines: streams 1000 / 1001, shared by all maps of the image; RBM: 2000).\n",
    );

    md.push_str("\n### Budgets (ours vs. the paper's)\n\n| what | paper (App. A, §4) | this run |\n|---|---|---|\n");
    let p = Budget::paper();
    let rows = [
        (
            "images",
            "2000 (ImageNet / GTSRB validation)".to_string(),
            format!("{}", budget.n_images),
        ),
        (
            "SmoothGrad samples, σ",
            "256, 0.1".into(),
            format!(
                "{}, 0.1 (relative to the input range, = absolute on [0, 1])",
                budget.sg_samples
            ),
        ),
        (
            "Integrated Gradients steps, baseline",
            "30, blur σ = 20, 25 × 25 (224 px)".into(),
            format!(
                "{} (Gauss–Legendre), blur σ = 2.5, 3 × 3 (scaled ÷ 8 to 28 px)",
                budget.ig_steps
            ),
        ),
        (
            "Expected Gradients samples × steps, baseline",
            "20 × 30, Normal".into(),
            format!("{} × {}, Normal", budget.eg_samples, budget.eg_steps),
        ),
        (
            "Grad-CAM",
            "last conv layer".into(),
            "`conv2` (the last conv layer)".into(),
        ),
        (
            "PolyCAM",
            "channel-wise variation of confidence".into(),
            "PCAM± over `conv1`, `conv2`".into(),
        ),
        (
            "iGOS++ mask, iterations, IG steps",
            "50 × 50, 20, 25 (λ₁ = 20, λ₂ = 30, …), Normal".into(),
            format!(
                "7 × 7, {}, {} (other parameters as App. A), Normal",
                budget.igos_iterations, budget.igos_ig_steps
            ),
        ),
        (
            "RISE masks, grid",
            "5000, 10 × 10".into(),
            format!("{}, 10 × 10, p = 0.5", budget.rise_masks),
        ),
        (
            "insertion / deletion steps",
            "1000 (≈ 64 px per step on ImageNet, ≈ 16 on GTSRB)".into(),
            format!(
                "{} ({} px per step of 784)",
                budget.curve_steps,
                784usize.div_ceil(budget.curve_steps.min(784))
            ),
        ),
    ];
    for (w, a, b) in rows {
        let _ = writeln!(md, "| {w} | {a} | {b} |");
    }
    let _ = writeln!(
        md,
        "\n`--paper` selects the paper's budgets ({} images, SmoothGrad {}, EG {} × {}, iGOS++ {} × {}, RISE {}, {} steps); \
         it was not run (hours on this machine).",
        p.n_images, p.sg_samples, p.eg_samples, p.eg_steps, p.igos_iterations, p.igos_ig_steps, p.rise_masks, p.curve_steps
    );
    md.push_str(
        "\nInsertion / deletion: `salience_metrics::{insertion, deletion}` with `CurveConfig::default()` (Mahlau & Nolde (2022)'s \
         setting: the random-normal baseline — per channel N(μ_c, σ_c²) of the image, pixel by pixel — softmax \
         probability of the explained class, trapezoid AUC over the fraction of pixels), only `n_steps` reduced. \
         Pixels are ordered by the signed map (largest first; ties by pixel index). Base methods are scored on their raw \
         maps (insertion / deletion only use the pixel order, which positive affine normalizations keep); \
         aggregates on the maps normalized as stated (a constant map — e.g. an all-zero Grad-CAM — normalizes to zeros).\n",
    );

    // Table 1.
    md.push_str("\n## Table 1 analogue: every aggregator on z-scored maps\n\n");
    let _ = writeln!(
        md,
        "Mean ± std (standard error) over the {n} images; best of each column in bold. The last two columns \
         compare each row with the Average on the same images: mean difference, images where the row is \
         higher / lower, two-sided Wilcoxon signed-rank p (for deletion a negative Δ is better).\n"
    );
    md.push_str(&metric_table(data, &table1_rows(), Some(&avg))?);

    // §4.3
    md.push_str("\n## §4.3 analogue: normalization\n\nEach aggregator (all seven methods) on maps normalized by each method; best normalization per aggregator and column in bold.\n\n");
    for (label, spec) in catalogue::NORM_AGGS {
        let rows: Vec<(String, String)> = catalogue::NORMS
            .iter()
            .map(|&nm| {
                (
                    format!("{label}, {}", catalogue::norm_label(nm)),
                    catalogue::key(nm, spec, catalogue::ALL),
                )
            })
            .collect();
        let _ = writeln!(md, "**{label}**\n");
        md.push_str(&metric_table(data, &rows, None)?);
        md.push('\n');
    }

    // §4.2 sweeps.
    md.push_str("## §4.2 analogue: hyperparameter sweeps (Figures 5–9)\n\nZ-scored maps, all seven methods; mean over images (standard error in parentheses). The charts also show the Average and the best base method as horizontal lines; the band is ± one standard error.\n\n");
    for sweep in catalogue::sweeps() {
        let _ = writeln!(
            md,
            "### {} — {} ({})\n",
            sweep.figure, sweep.name, sweep.param
        );
        if let Some((_, f)) = pngs.iter().find(|(s, _)| s == sweep.stem) {
            let _ = writeln!(md, "![{} sweep]({f})\n", sweep.name);
        }
        md.push_str("| parameter | insertion ↑ | deletion ↓ |\n|---:|---:|---:|\n");
        let mut ins = Vec::new();
        let mut del = Vec::new();
        for (x, spec) in &sweep.points {
            let k = catalogue::key(Normalization::ZScore, spec, catalogue::ALL);
            ins.push(Summary::of(&data.get(&k, "insertion")?));
            del.push(Summary::of(&data.get(&k, "deletion")?));
            let _ = x;
        }
        let bi = best(&ins.iter().map(|s| s.mean).collect::<Vec<_>>(), Col::Ins);
        let bd = best(&del.iter().map(|s| s.mean).collect::<Vec<_>>(), Col::Del);
        for (j, (x, _)) in sweep.points.iter().enumerate() {
            let cell = |s: &Summary, b: bool| {
                let t = format!("{:.4} ({:.4})", s.mean, s.sem);
                if b {
                    format!("**{t}**")
                } else {
                    t
                }
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                fmt_param(*x, sweep.log_x),
                cell(&ins[j], bi == Some(j)),
                cell(&del[j], bd == Some(j))
            );
        }
        md.push('\n');
    }

    // §4.4
    md.push_str("## §4.4 analogue: ensemble size (Figure 11)\n\n");
    md.push_str(
        "Two ways of choosing the k methods: **top-k** as the paper (the best base methods for the measured metric, \
         ranked by their mean over this run's images, added in descending order of performance; insertion and \
         deletion have their own order), and **all subsets** — instead of a few seeded random draws per k, every one \
         of the C(7, k) subsets is aggregated (the exact expectation over uniformly drawn subsets), averaged per image. \
         k = 1 is the single base method (top-1) or the mean over the seven methods. Mean (standard error) over images.\n\n",
    );
    for (col, name) in [(Col::Ins, "insertion ↑"), (Col::Del, "deletion ↓")] {
        let order = method_order(data, col)?;
        let _ = writeln!(
            md,
            "Order for {name}: {}\n",
            order
                .iter()
                .map(|&m| METHODS[m])
                .collect::<Vec<_>>()
                .join(" > ")
        );
        let abl: Vec<Ablation> = catalogue::SIZE_AGGS
            .iter()
            .map(|(_, s)| ablation(data, s, col))
            .collect::<Result<Vec<_>>>()?;
        md.push_str("| k |");
        for (label, _) in catalogue::SIZE_AGGS {
            let _ = write!(md, " {label}, top-k | {label}, all subsets |");
        }
        md.push_str("\n|---:|");
        md.push_str(&"---:|---:|".repeat(catalogue::SIZE_AGGS.len()));
        md.push('\n');
        for (i, k) in abl[0].ks.iter().enumerate() {
            let _ = write!(md, "| {k} |");
            for a in &abl {
                let _ = write!(
                    md,
                    " {:.4} ({:.4}) | {:.4} ({:.4}) |",
                    a.top[i].mean, a.top[i].sem, a.random[i].mean, a.random[i].sem
                );
            }
            md.push('\n');
        }
        md.push('\n');
    }
    for (s, f) in pngs {
        if s.starts_with("fig11") {
            let _ = writeln!(md, "![{s}]({f})\n");
        }
    }

    md.push_str("## Curves (Figures 4 and 10 analogues)\n\n");
    for (s, f) in pngs {
        if s.starts_with("fig4") || s.starts_with("fig10") {
            let _ = writeln!(md, "![{s}]({f})\n");
        }
    }

    md.push_str(&crate::agreement::section(data)?);
    Ok(md)
}

/// A sweep parameter for a table cell.
pub fn fmt_param(x: f64, log: bool) -> String {
    if log {
        format!("1e{}", x.log10().round())
    } else {
        format!("{x}")
    }
}
