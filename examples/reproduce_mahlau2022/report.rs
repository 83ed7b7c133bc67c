//! From merged per-image records to the results file: Table 1, the
//! normalization table, the sweeps, the ablation, the agreement with the
//! paper, and the PNGs.

use crate::catalogue::{self, METHODS};
use crate::common::{claims, fmt_p};
use crate::{Arch, Budget};
use salience::metrics::{wilcoxon_signed_rank, Summary, WilcoxonConfig};
use salience::report::records::Merged;
use salience::Normalization;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The provenance of a run (`<records stem>.run.json`, shared with the
/// other reproductions: `common::provenance`).
pub use crate::common::provenance::RunEntry;

/// This process's command line, shell-quoted so it can be pasted.
pub fn command_line() -> String {
    crate::common::provenance::command_line("reproduce_mahlau2022")
}

pub use crate::common::provenance::machine;

/// Marks the methods that do not apply to the model in a run header's
/// configuration: `unsupported=Method: reason | Method: reason` (last field).
pub const UNSUPPORTED: &str = "unsupported=";

/// The merged records of one architecture.
pub struct ArchRun {
    /// The architecture.
    pub arch: Arch,
    /// Its merged records.
    pub merged: Merged,
    /// The runs behind its records (one per records file), with their
    /// provenance where they wrote one.
    pub runs: Vec<RunEntry>,
}

/// Per-image values by (key, metric), in sample order.
pub struct Data {
    values: HashMap<(String, String), BTreeMap<usize, f64>>,
    /// The images (sample indices) of the run.
    pub samples: Vec<usize>,
    /// The methods of the ensemble (bit mask over [`METHODS`]): all but
    /// those that do not apply to the model.
    pub all: u32,
    /// The methods that do not apply to the model, with the reason.
    pub na: Vec<(usize, String)>,
}

impl Data {
    pub(crate) fn new(merged: &Merged) -> Self {
        let mut na = Vec::new();
        if let Some((_, list)) = merged.header.config.split_once(UNSUPPORTED) {
            for item in list.split(" | ") {
                for (m, name) in METHODS.iter().enumerate() {
                    if let Some(reason) = item.strip_prefix(&format!("{name}: ")) {
                        na.push((m, reason.to_string()));
                    }
                }
            }
        }
        let all = na.iter().fold(catalogue::ALL, |a, (m, _)| a & !(1u32 << m));
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
            all,
            na,
        }
    }

    /// The base methods of the ensemble (indices into [`METHODS`]).
    pub fn methods(&self) -> Vec<usize> {
        (0..METHODS.len())
            .filter(|m| self.all >> m & 1 == 1)
            .collect()
    }

    /// Why the base method of record key `key` does not apply (`None` for
    /// an applicable method or an aggregate).
    pub fn na_reason(&self, key: &str) -> Option<&str> {
        self.na
            .iter()
            .find(|(m, _)| key == catalogue::method_key(*m))
            .map(|(_, r)| r.as_str())
    }

    /// The key of the aggregate `spec` over the whole ensemble, normalized
    /// with `norm`.
    pub fn full(&self, norm: Normalization, spec: &str) -> String {
        catalogue::key(norm, spec, self.all)
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

    /// The mean over the images that have it (the first
    /// [`crate::CURVE_IMAGES`]) of a recorded curve (`ins_curve` or
    /// `del_curve`), point by point, and that number of images.
    pub fn mean_curve(&self, key: &str, prefix: &str) -> Result<(Vec<f64>, usize)> {
        let mut out = Vec::new();
        let mut n = usize::MAX;
        while let Some(m) = self
            .values
            .get(&(key.to_string(), format!("{prefix}@{:04}", out.len())))
        {
            let v: Vec<f64> = m.values().copied().collect();
            n = n.min(v.len());
            out.push(Summary::of(&v).mean);
        }
        if out.is_empty() {
            return Err(format!("no {prefix} records for {key}").into());
        }
        Ok((out, n))
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
        if data.na_reason(key).is_some() {
            cells.push(Vec::new());
            continue;
        }
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
        .map(|(j, &c)| {
            let means: Vec<f64> = cells
                .iter()
                .map(|r| r.get(j).map_or(f64::NAN, |s| s.mean))
                .collect();
            best(&means, c)
        })
        .collect();
    for (i, ((label, key), row)) in rows.iter().zip(&cells).enumerate() {
        let _ = write!(md, "| {label} |");
        if let Some(reason) = data.na_reason(key) {
            let cols = 3 + if reference.is_some() { 2 } else { 0 };
            let _ = write!(md, " n/a ({reason}) |");
            md.push_str(&" n/a |".repeat(cols - 1));
            md.push('\n');
            continue;
        }
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
    let mut means: Vec<(usize, f64)> = data
        .methods()
        .into_iter()
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
pub fn subset_key(spec: &str, subset: u32) -> String {
    if subset.count_ones() == 1 {
        catalogue::method_key(subset.trailing_zeros() as usize)
    } else {
        catalogue::key(Normalization::ZScore, spec, subset)
    }
}

/// Computes the ablation (k = 1 … 7; k = 1 is the single methods).
pub fn ablation(data: &Data, spec: &str, col: Col) -> Result<Ablation> {
    let order = method_order(data, col)?;
    let n = data.methods().len();
    let mut out = Ablation {
        ks: Vec::new(),
        top: Vec::new(),
        random: Vec::new(),
    };
    for k in 1..=n {
        let top: u32 = order.iter().take(k).map(|&m| 1u32 << m).sum();
        out.top
            .push(Summary::of(&data.column(&subset_key(spec, top), col)?));
        let subsets: Vec<u32> = (1..=data.all)
            .filter(|s| s & !data.all == 0 && s.count_ones() as usize == k)
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

/// Writes `mahlau2022.md`, the records and the PNGs of every
/// architecture in `runs` into `results`.
pub fn write(runs: &[ArchRun], budget: &Budget, results: &Path, note: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(results)?;
    let mut parts = Vec::new();
    for r in runs {
        let data = Data::new(&r.merged);
        if data.samples.is_empty() {
            return Err(format!("no records of the {} to report", r.arch.title()).into());
        }
        // The merged records next to the report, so every table and
        // figure can be re-derived without re-running (`--merge --out
        // <results>`).
        salience::report::records::write_records(results, &r.merged.header, &r.merged.records)?;
        // Their provenance files too, so the results folder carries them.
        crate::common::provenance::copy_to(&r.runs, results)?;
        let pngs = crate::plots::write_all(&data, results, r.arch.run_name(), r.arch.pixels())?;
        parts.push(Part { run: r, data, pngs });
    }
    let md = markdown(&parts, budget, note)?;
    let path = results.join("mahlau2022.md");
    std::fs::write(&path, md)?;
    println!(
        "wrote {} for {} architecture(s)",
        path.display(),
        parts.len()
    );
    Ok(())
}

/// One architecture's records, tables and charts.
struct Part<'a> {
    run: &'a ArchRun,
    data: Data,
    pngs: Vec<(String, String)>,
}

/// Labels and keys of Table 1: the base methods (those outside `all`
/// too: their rows read n/a), then the aggregators over the methods of
/// `all`.
pub fn table1_rows(all: u32) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = METHODS
        .iter()
        .enumerate()
        .map(|(m, name)| (format!("{name} (base)"), catalogue::method_key(m)))
        .collect();
    rows.extend(catalogue::TABLE1.iter().map(|(label, spec)| {
        (
            label.to_string(),
            catalogue::key(Normalization::ZScore, spec, all),
        )
    }));
    rows
}

fn markdown(parts: &[Part<'_>], budget: &Budget, note: Option<&str>) -> Result<String> {
    let ns: Vec<String> = parts
        .iter()
        .map(|p| format!("{} {}", p.run.arch.title(), p.data.samples.len()))
        .collect();
    let mut md = String::from(
        "# Reproduction: Mahlau & Nolde (2022), ensemble aggregation with Bayesian-optimization acquisition functions\n\n",
    );
    md.push_str(
        "Seed paper 000: *Fidelity of Ensemble Aggregation for Saliency Map Explanations using Bayesian \
         Optimization Techniques*. Example: `examples/reproduce_mahlau2022/` (generated file — rerun the \
         command below to regenerate it).\n\n## Run\n\n",
    );
    let _ = writeln!(
        md,
        "* Report: rendered by `{}` at commit `{}` from the records below (each architecture's own run is \
         stated next to it).",
        command_line(),
        crate::common::git_commit()
    );
    let files: Vec<String> = parts
        .iter()
        .map(|p| format!("`{}.jsonl` ({})", p.run.arch.run_name(), p.run.arch.title()))
        .collect();
    let _ = writeln!(
        md,
        "* Records: {} next to this report (one line per image × method × metric; whole curves for the \
         images with index below {}; the header names the methods that do not apply to the model), each with its \
         runs' provenance in `<records stem>.run.json`; `-- --merge --out <this folder>` re-derives every table and figure \
         without re-running.",
        files.join(", "),
        crate::CURVE_IMAGES
    );
    let _ = writeln!(md, "* Machine of this rendering: {}", machine(note));
    for p in parts {
        let n = p.data.samples.len();
        let title = p.run.arch.title();
        match p.run.runs.as_slice() {
            [r @ RunEntry { prov: Some(t), .. }] => {
                let per = |v: f64| v / n.max(1) as f64;
                let _ = writeln!(
                    md,
                    "* **{title}** (n = {n}; run `{}`): explanations, aggregates and curves **{:.2} s per image** \
                     wall, {} CPU (on an idle 2-core machine the wall time is about CPU time / 2):",
                    r.stem,
                    per(t.wall.as_secs_f64()),
                    t.cpu.map_or("unknown".into(), |c| format!("{:.2} s", per(c))),
                );
                md.push_str("  ");
                md.push_str(&crate::common::provenance::bullet(r));
            }
            runs => {
                let _ = writeln!(
                    md,
                    "* **{title}** (n = {n}), from {} records file(s):",
                    runs.len()
                );
                for r in runs {
                    md.push_str("  ");
                    md.push_str(&crate::common::provenance::bullet(r));
                }
            }
        }
    }
    md.push_str(&mixed_commits(parts));
    let loc = parts.iter().any(|p| p.run.arch == Arch::ResnetLoc);
    let fashion = parts.iter().any(|p| p.run.arch != Arch::ResnetLoc);
    if fashion {
        let _ = writeln!(
            md,
            "* Fashion-MNIST images: the first n images of the shipped Fashion-MNIST test sample \
             (`salience_datasets::assets::fashion_mnist_sample`), 1 × 28 × 28; models: the shipped small CNN \
             (91 % test accuracy) and the shipped ViT (`vit_fashion`: 4 blocks of 4 heads, width 64, 4 × 4 patches \
             on a 7 × 7 grid and a class token; {:.2} % test accuracy).",
            100.0 * salience::models::assets::VIT_FASHION_TEST_ACCURACY
        );
    }
    if loc {
        let _ = writeln!(
            md,
            "* Second dataset: the first n images of the shipped localization sample \
             (`salience_datasets::assets::localization_sample`, {} images), 3 × 64 × 64: a Fashion-MNIST item \
             pasted on a textured colour background (`LocalizationConfig::easy`); model: the shipped small ResNet \
             (`resnet_small`: stem, 3 stages of 1, 1, 3 basic blocks, widths 16 / 32 / 64, 226 010 parameters; \
             {:.2} % held-out accuracy), trained on that generator. Attributions of the 3 channels are summed \
             into one map per pixel (`ChannelReduction::Sum`, as on the 1-channel images); insertion / deletion \
             reveal or remove all 3 channels of a pixel at once.",
            salience::datasets::assets::LOCALIZATION_SAMPLE_LEN,
            100.0 * salience::models::assets::RESNET_SMALL_HELD_OUT_ACCURACY
        );
    }
    md.push_str(
        "* On every architecture the **predicted** class is explained and scored (correct or not, as in the paper).\n",
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
            ns.join(", "),
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
                "{} (Gauss–Legendre), blur {}",
                budget.ig_steps,
                per_arch(parts, |a| {
                    let (sigma, k, _) = a.scaled_sizes();
                    format!(
                        "σ = {sigma}, {k} × {k} (scaled ÷ {:.1} to {} px)",
                        224.0 / a.side() as f64,
                        a.side()
                    )
                })
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
            per_arch(parts, |a| {
                match a {
                Arch::Cnn => "`conv2` (the last conv layer)".into(),
                Arch::Vit => "the 7 × 7 token grid of `blocks.2` (the input of the last block, as the Decker runner)"
                    .into(),
                Arch::ResnetLoc => "`layer3` (64 × 8 × 8, the last conv stage, as the Gattas runner)".into(),
            }
            }),
        ),
        (
            "PolyCAM",
            "channel-wise variation of confidence".into(),
            per_arch(parts, |a| match a {
                Arch::Cnn => "PCAM± over `conv1`, `conv2`".into(),
                Arch::Vit => {
                    "PCAM± over the token grids of `blocks.1`, `blocks.2` (see its Table 1)".into()
                }
                Arch::ResnetLoc => "PCAM± over `layer2` (16 × 16), `layer3` (8 × 8)".into(),
            }),
        ),
        (
            "iGOS++ mask, iterations, IG steps",
            "50 × 50, 20, 25 (λ₁ = 20, λ₂ = 30, …), Normal".into(),
            format!(
                "{}, {}, {} (other parameters as App. A), Normal",
                per_arch(parts, |a| {
                    let (_, _, m) = a.scaled_sizes();
                    format!("{m} × {m}")
                }),
                budget.igos_iterations,
                budget.igos_ig_steps
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
                "{} ({})",
                budget.curve_steps,
                per_arch(parts, |a| format!(
                    "{} px per step of {}",
                    a.pixels().div_ceil(budget.curve_steps.min(a.pixels())),
                    a.pixels()
                ))
            ),
        ),
    ];
    for (w, a, b) in rows {
        let _ = writeln!(md, "| {w} | {a} | {b} |");
    }
    let _ = writeln!(
        md,
        "\n`--paper` selects the paper's budgets ({} images — on the ResNet all 200 localization images —, SmoothGrad {}, EG {} × {}, iGOS++ {} × {}, RISE {}, {} steps); \
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

    let mut verdicts = Vec::new();
    for p in parts {
        let (body, v) = arch_body(&p.data, p.run.arch, budget, &p.pngs)?;
        let _ = writeln!(
            md,
            "\n## {} (n = {})\n",
            p.run.arch.title(),
            p.data.samples.len()
        );
        // The architecture's sections one level down.
        for line in body.lines() {
            if line.starts_with('#') {
                md.push('#');
            }
            md.push_str(line);
            md.push('\n');
        }
        verdicts.push((p.run.arch, v));
    }
    if verdicts.len() > 1 {
        md.push_str(&all_section(&verdicts));
    }
    Ok(md)
}

/// The sections of one architecture (Table 1 to the agreement table) and
/// its (claim, verdict cell) pairs.
fn arch_body(
    data: &Data,
    arch: Arch,
    budget: &Budget,
    pngs: &[(String, String)],
) -> Result<(String, Vec<(String, String)>)> {
    let n = data.samples.len();
    let avg = data.full(Normalization::ZScore, "mean");
    let mut md = String::new();
    // Table 1.
    md.push_str("\n## Table 1 analogue: every aggregator on z-scored maps\n\n");
    let _ = writeln!(
        md,
        "Mean ± std (standard error) over the {n} images; best of each column in bold. The last two columns \
         compare each row with the Average on the same images: mean difference, images where the row is \
         higher / lower, two-sided Wilcoxon signed-rank p (for deletion a negative Δ is better).\n"
    );
    md.push_str(&metric_table(data, &table1_rows(data.all), Some(&avg))?);
    let [_, (_, blur)] = budget.control_curves();
    md.push_str(&crate::control::section(data, &blur)?);

    // §4.3
    let k_all = data.methods().len();
    let _ = write!(md, "\n## §4.3 analogue: normalization\n\nEach aggregator (all {k_all} methods) on maps normalized by each method; best normalization per aggregator and column in bold.\n\n");
    for (label, spec) in catalogue::NORM_AGGS {
        let rows: Vec<(String, String)> = catalogue::NORMS
            .iter()
            .map(|&nm| {
                (
                    format!("{label}, {}", catalogue::norm_label(nm)),
                    data.full(nm, spec),
                )
            })
            .collect();
        let _ = writeln!(md, "**{label}**\n");
        md.push_str(&metric_table(data, &rows, None)?);
        md.push('\n');
    }

    // §4.2 sweeps.
    let _ = write!(md, "## §4.2 analogue: hyperparameter sweeps (Figures 5–9)\n\nZ-scored maps, all {k_all} methods; mean over images (standard error in parentheses). The charts also show the Average and the best base method as horizontal lines; the band is ± one standard error.\n\n");
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
            let k = data.full(Normalization::ZScore, spec);
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
    let _ = write!(
        md,
        "Two ways of choosing the k methods: **top-k** as the paper (the best base methods for the measured metric, \
         ranked by their mean over this run's images, added in descending order of performance; insertion and \
         deletion have their own order), and **all subsets** — instead of a few seeded random draws per k, every one \
         of the C({k_all}, k) subsets is aggregated (the exact expectation over uniformly drawn subsets), averaged per image. \
         k = 1 is the single base method (top-1) or the mean over the {k_all} methods. Mean (standard error) over images.\n\n",
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

    let _ = writeln!(
        md,
        "## Curves (Figures 4 and 10 analogues)\n\nMean curves over the images with index below {} (the \
         records keep whole curves for those only; the AUCs of every table cover all {n} images).\n",
        crate::CURVE_IMAGES
    );
    for (s, f) in pngs {
        if s.starts_with("fig4") || s.starts_with("fig10") {
            let _ = writeln!(md, "![{s}]({f})\n");
        }
    }

    let (agreement, mut verdicts) = crate::agreement::section(data, arch)?;
    md.push_str(&agreement);
    for (suffix, label) in crate::control::BASELINES {
        verdicts.push((
            format!("control: Expected Gradients beats the Average ({label} baseline; insertion and deletion)"),
            claims::cell(&crate::control::eg_claim(data, suffix)?),
        ));
    }
    Ok((md, verdicts))
}

/// Whether each tested claim holds on every architecture of the report:
/// its verdict on each, "yes" only when it agrees on all (descriptive
/// rows left out).
fn all_section(per_arch: &[(Arch, Vec<(String, String)>)]) -> String {
    let titles: Vec<&str> = per_arch.iter().map(|(a, _)| a.title()).collect();
    let mut md = format!(
        "\n## Does the claim hold on all {} architectures?\n\n| claim | {} | holds on all |\n|---|{}\n",
        titles.len(),
        titles.join(" | "),
        "---|".repeat(titles.len() + 1)
    );
    let word = |cell: &str| {
        ["agrees", "disagrees", "inconclusive"]
            .into_iter()
            .find(|w| cell.starts_with(&format!("**{w}**")))
    };
    let (mut tested, mut all) = (0, 0);
    for (claim, _) in per_arch.first().map_or(&[][..], |(_, v)| &v[..]) {
        let ws: Vec<Option<&str>> = per_arch
            .iter()
            .map(|(_, v)| {
                v.iter()
                    .find(|(c, _)| c == claim)
                    .and_then(|(_, cell)| word(cell))
            })
            .collect();
        if ws.iter().all(Option::is_none) {
            continue;
        }
        tested += 1;
        let holds = ws.iter().all(|w| *w == Some("agrees"));
        all += usize::from(holds);
        let _ = write!(md, "| {claim} |");
        for w in &ws {
            let _ = write!(md, " {} |", w.unwrap_or("—"));
        }
        let _ = writeln!(md, " {} |", if holds { "**yes**" } else { "no" });
    }
    let _ = writeln!(
        md,
        "\n{all} of {tested} tested claims (and controls) agree on all {} architectures ({}); a verdict is \
         **agrees** only when every comparison of the claim is significant in the paper's direction (Holm).",
        titles.len(),
        titles.join(", ")
    );
    md
}

/// One cell of the budget table per architecture of the report:
/// "title: text; title: text", or the text alone when one is there.
fn per_arch(parts: &[Part<'_>], f: impl Fn(Arch) -> String) -> String {
    if parts.len() == 1 {
        return parts.first().map(|p| f(p.run.arch)).unwrap_or_default();
    }
    parts
        .iter()
        .map(|p| format!("{}: {}", p.run.arch.title(), f(p.run.arch)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The line on the commits of the architectures' runs: "All records were
/// computed at commit X." or "Mixed commits: …" (`common::provenance`).
fn mixed_commits(parts: &[Part<'_>]) -> String {
    let runs: Vec<RunEntry> = parts
        .iter()
        .flat_map(|p| {
            p.run.runs.iter().map(|r| RunEntry {
                label: p.run.arch.title().to_string(),
                ..r.clone()
            })
        })
        .collect();
    crate::common::provenance::commits_line(&runs)
}

/// A sweep parameter for a table cell.
pub fn fmt_param(x: f64, log: bool) -> String {
    if log {
        format!("1e{}", x.log10().round())
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::provenance::RunProvenance as Timing;
    use salience::report::records::{Record, RunHeader};
    use salience::report::Shard;
    use std::time::Duration;

    /// A method named unsupported in the header leaves the ensemble (the
    /// aggregates' keys use the smaller mask, 57 subsets of 6 methods
    /// instead of 120 of 7) and its Table 1 row reads "n/a (reason)".
    #[test]
    fn unsupported_methods_read_na_and_leave_the_ensemble() {
        let all = catalogue::ALL & !(1 << 4);
        let mut records = Vec::new();
        for i in 0..8 {
            for (_, key) in table1_rows(all) {
                if catalogue::missing_method(&key, all) {
                    continue;
                }
                records.push(Record::new(i, &key, "insertion", 0.1 * i as f64));
                records.push(Record::new(i, &key, "deletion", 0.05 * i as f64));
            }
        }
        let config = format!("model=vit;{UNSUPPORTED}PolyCAM: tokens, not maps");
        let data = Data::new(&Merged {
            header: RunHeader::new("t", 8, 0, Shard::all(), &config),
            records,
        });
        assert_eq!(data.all, all);
        assert_eq!(data.methods(), vec![0, 1, 2, 3, 5, 6]);
        assert_eq!(data.na_reason("method|4"), Some("tokens, not maps"));
        assert_eq!(data.na_reason("method|3"), None);
        let md = metric_table(&data, &table1_rows(data.all), None).unwrap();
        assert!(
            md.contains("| PolyCAM (base) | n/a (tokens, not maps) | n/a | n/a |"),
            "{md}"
        );
        assert_eq!(catalogue::subsets(all).len(), 57);
        assert_eq!(catalogue::subsets(catalogue::ALL).len(), 120);
    }

    /// "Holds on all" is yes only when every verdict agrees; descriptive
    /// rows are left out.
    #[test]
    fn holds_on_all_needs_agreement_on_all() {
        let rows = |b: &str| {
            vec![
                ("A".to_string(), "**agrees**: x".to_string()),
                ("B".to_string(), b.to_string()),
                ("C".to_string(), "descriptive (no test)".to_string()),
            ]
        };
        let md = all_section(&[
            (Arch::Cnn, rows("**agrees**: y")),
            (Arch::Vit, {
                let mut r = rows("**inconclusive**: z");
                r[0].1 = "**agrees**: w".into();
                r
            }),
        ]);
        assert!(md.contains("| A | agrees | agrees | **yes** |"), "{md}");
        assert!(md.contains("| B | agrees | inconclusive | no |"), "{md}");
        assert!(!md.contains("| C |"), "{md}");
        assert!(md.contains("1 of 2 tested claims"), "{md}");
        assert!(md.contains("hold on all 2 architectures"), "{md}");
        // A third architecture: a claim that agrees on two of three does not hold.
        let md = all_section(&[
            (Arch::Cnn, rows("**agrees**: y")),
            (Arch::Vit, rows("**agrees**: y")),
            (Arch::ResnetLoc, rows("**disagrees**: y")),
        ]);
        assert!(
            md.contains("| claim | small CNN | ViT | small ResNet (localization) | holds on all |"),
            "{md}"
        );
        assert!(
            md.contains("| A | agrees | agrees | agrees | **yes** |"),
            "{md}"
        );
        assert!(
            md.contains("| B | agrees | agrees | disagrees | no |"),
            "{md}"
        );
        assert!(md.contains("1 of 2 tested claims"), "{md}");
    }

    /// The provenance file round-trips, and a report part without one (or
    /// from another commit) is flagged as mixed.
    #[test]
    fn provenance_round_trips_and_mixed_commits_are_stated() {
        let dir = std::env::temp_dir().join(format!("mahlau_prov_{}", std::process::id()));
        let t = Timing {
            wall: Duration::from_secs_f64(12.5),
            load_before: "1 / 2 / 3".into(),
            load_after: "4 / 5 / 6".into(),
            cpu: Some(20.0),
            command: "cargo run -- --model cnn".into(),
            commit: "abc".into(),
            machine: "m".into(),
            finished: "2026-01-01 00:00 UTC".into(),
            source: Some("transcribed".into()),
            covers: None,
            rayon_threads: None,
            stages: Vec::new(),
        };
        t.save(&dir, "r").unwrap();
        assert_eq!(Timing::load(&dir, "r").unwrap(), Some(t.clone()));
        assert_eq!(Timing::load(&dir, "none").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
        let merged = || Merged {
            header: RunHeader::new("t", 1, 0, Shard::all(), "c"),
            records: vec![Record::new(0, "method|0", "insertion", 0.5)],
        };
        let (a, b) = (
            ArchRun {
                arch: Arch::Cnn,
                merged: merged(),
                runs: vec![RunEntry {
                    stem: "r".into(),
                    label: "r".into(),
                    prov: Some(t.clone()),
                }],
            },
            ArchRun {
                arch: Arch::ResnetLoc,
                merged: merged(),
                runs: vec![RunEntry {
                    stem: "r2".into(),
                    label: "r2".into(),
                    prov: Some(Timing {
                        commit: "def".into(),
                        ..t.clone()
                    }),
                }],
            },
        );
        let part = |r| Part {
            run: r,
            data: Data::new(&r.merged),
            pngs: Vec::new(),
        };
        let same = mixed_commits(&[part(&a), part(&a)]);
        assert_eq!(same, "* All records were computed at commit `abc`.\n");
        let mixed = mixed_commits(&[part(&a), part(&b)]);
        assert!(
            mixed.contains("small CNN: `abc`, small ResNet (localization): `def`"),
            "{mixed}"
        );
    }
}
