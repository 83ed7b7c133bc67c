//! Tables, charts and `docs/results/decker2024.md`, computed from the merged
//! records only.

use crate::common::{claims, fmt_p};
use crate::lime_sizes::{variants, PATCH, SLIC_SEGMENTS};
use crate::main_tables::{Strat, FAITH_PANEL, PANEL, ROBUST_PANEL};
use crate::{Budget, Result, RUN_LIME, RUN_MAIN};
use salience::metrics::verdict::{Claim, Comparison, Direction};
use salience::metrics::{
    wilcoxon_signed_rank, Better, ScoreTable, Scores, Summary, WilcoxonConfig,
};
use salience::report::records::{merge, shard_files, write_records, Merged};
use salience::report::Shard;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// Per (method, metric): sample → value.
pub struct Data {
    values: HashMap<(String, String), BTreeMap<usize, f64>>,
    pub n_samples: usize,
    pub config: String,
}

impl Data {
    fn from(m: &Merged) -> Data {
        let mut values: HashMap<(String, String), BTreeMap<usize, f64>> = HashMap::new();
        for r in &m.records {
            values
                .entry((r.method.clone(), r.metric.clone()))
                .or_default()
                .insert(r.sample, r.value);
        }
        Data {
            values,
            n_samples: m.header.n_samples,
            config: m.header.config.clone(),
        }
    }

    pub fn get(&self, method: &str, metric: &str) -> Option<&BTreeMap<usize, f64>> {
        self.values.get(&(method.to_string(), metric.to_string()))
    }

    pub fn summary(&self, method: &str, metric: &str) -> Option<Summary> {
        let v: Vec<f64> = self.get(method, metric)?.values().copied().collect();
        Scores::new(v).ok().map(|s| s.summary())
    }

    fn mean(&self, method: &str, metric: &str) -> Option<f64> {
        self.summary(method, metric).map(|s| s.mean)
    }

    /// Values of `a` and `b` on `metric` for the images both have.
    fn paired(&self, a: &str, b: &str, metric: &str) -> (Vec<f64>, Vec<f64>) {
        let (Some(x), Some(y)) = (self.get(a, metric), self.get(b, metric)) else {
            return (Vec::new(), Vec::new());
        };
        x.iter()
            .filter_map(|(s, &v)| y.get(s).map(|&w| (v, w)))
            .unzip()
    }

    /// "`a` is better than each of `others`" on `metric` (rows are
    /// (label, record key); `a` itself and rows without the metric are
    /// skipped), paired by image.
    fn beats(
        &self,
        metric: &str,
        a: &(String, String),
        others: &[(String, String)],
    ) -> Vec<Comparison> {
        let dir = Direction::better(matches!(direction(metric), Better::Higher));
        others
            .iter()
            .filter(|o| o.1 != a.1)
            .map(|o| (o, self.paired(&a.1, &o.1, metric)))
            // A row without this metric (AGG_var has no INFD_Q) is not in the table either.
            .filter(|(_, (x, _))| !x.is_empty())
            .map(|(o, (x, y))| Comparison::paired(&a.0, &o.0, dir, &x, &y))
            .collect()
    }
}

/// The rendered verdict of the comparisons, tested as one claim.
fn claim_cell(comparisons: Vec<Comparison>) -> String {
    claims::cell(&Claim { comparisons })
}

/// The (label, key) row of `key` in `rows`.
fn row<'a>(rows: &'a [(String, String)], key: &str) -> Option<&'a (String, String)> {
    rows.iter().find(|r| r.1 == key)
}

/// Direction of every metric column.
pub fn direction(metric: &str) -> Better {
    if metric.starts_with("FCOR") || metric.starts_with("LeRF") {
        Better::Higher
    } else {
        Better::Lower
    }
}

fn table(data: &Data, rows: &[(String, String)], metrics: &[&str]) -> Result<ScoreTable> {
    let cols: Vec<(&str, Better)> = metrics.iter().map(|m| (*m, direction(m))).collect();
    let mut t = ScoreTable::new(&cols)?;
    for (label, key) in rows {
        t.push_row(
            label,
            metrics.iter().map(|m| data.summary(key, m)).collect(),
        )?;
    }
    Ok(t)
}

/// (display label, record method) of a panel's rows: methods, then the
/// experiment's aggregates.
fn panel_rows(exp_id: &str, methods: &[&str], strats: &[Strat]) -> Vec<(String, String)> {
    methods
        .iter()
        .map(|m| (m.to_string(), m.to_string()))
        .chain(
            strats
                .iter()
                .map(|s| (s.name().to_string(), format!("{exp_id}/{}", s.name()))),
        )
        .collect()
}

/// 1-based rank of `key` among `rows` by mean of `metric` (None if absent).
fn rank(data: &Data, rows: &[(String, String)], key: &str, metric: &str) -> Option<(usize, usize)> {
    let higher = matches!(direction(metric), Better::Higher);
    let mine = data.mean(key, metric)?;
    let means: Vec<f64> = rows
        .iter()
        .filter_map(|(_, k)| data.mean(k, metric))
        .collect();
    let better = means
        .iter()
        .filter(|&&m| if higher { m > mine } else { m < mine })
        .count();
    Some((better + 1, means.len()))
}

/// The best base method of a panel for a metric (by mean).
fn best_method<'a>(data: &Data, methods: &[&'a str], metric: &str) -> Option<(&'a str, f64)> {
    let higher = matches!(direction(metric), Better::Higher);
    methods
        .iter()
        .filter_map(|m| data.mean(m, metric).map(|v| (*m, v)))
        .max_by(|a, b| {
            if higher {
                a.1.total_cmp(&b.1)
            } else {
                b.1.total_cmp(&a.1)
            }
        })
}

/// Wilcoxon signed-rank test AGG_opt vs the best single method, per metric.
fn wilcoxon_table(data: &Data, exp: &str, methods: &[&str], metrics: &[&str]) -> String {
    let mut md = String::from(
        "| metric | best single method (mean) | AGG_opt (mean) | n pairs | W | p (two-sided) | AGG_opt better? |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    let opt = format!("{exp}/AGG_opt");
    for metric in metrics {
        let Some((best, best_mean)) = best_method(data, methods, metric) else {
            continue;
        };
        let (Some(a), Some(b)) = (data.get(&opt, metric), data.get(best, metric)) else {
            continue;
        };
        let pairs: Vec<(f64, f64)> = a
            .iter()
            .filter_map(|(s, &va)| b.get(s).map(|&vb| (va, vb)))
            .collect();
        let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        let opt_mean = x.iter().sum::<f64>() / x.len().max(1) as f64;
        let higher = matches!(direction(metric), Better::Higher);
        let better = if higher {
            opt_mean > best_mean
        } else {
            opt_mean < best_mean
        };
        let (w, p) = match wilcoxon_signed_rank(&x, &y, &WilcoxonConfig::default()) {
            Ok(r) => (format!("{:.1}", r.statistic), fmt_p(r.p_value)),
            Err(_) => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            md,
            "| {metric} | {best} ({best_mean:.4}) | {opt_mean:.4} | {} | {w} | {p} | {} |",
            x.len(),
            if better { "yes" } else { "no" }
        );
    }
    md
}

/// Everything the report needs from the §5.3 records.
pub struct LimeResult {
    /// (variant, size bin) → AGG_opt weights of the bin's images.
    pub weights: HashMap<(String, usize), Vec<f64>>,
    /// (sparsity level, size bin) → summed weights of both mask types.
    pub by_sparsity: HashMap<(String, usize), Vec<f64>>,
    /// Tercile cut points of the box area (fraction of the image).
    pub cuts: (f64, f64),
    /// Images per bin.
    pub counts: [usize; 3],
    /// The largest box area (fraction of the image).
    pub max_area: f64,
    /// Images whose box covers more than 60 % of the image (the paper's
    /// "large" objects).
    pub n_above_60: usize,
}

fn lime_result(data: &Data, strategy: &str) -> Option<LimeResult> {
    let area = data.get("object", "box_area")?;
    let mut sorted: Vec<f64> = area.values().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| -> Option<f64> {
        let h = (sorted.len().saturating_sub(1)) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        let (a, b) = (sorted.get(lo).copied()?, sorted.get(hi).copied()?);
        Some(a + (h - h.floor()) * (b - a))
    };
    let cuts = (q(1.0 / 3.0)?, q(2.0 / 3.0)?);
    let bin = |a: f64| -> usize {
        if a <= cuts.0 {
            0
        } else if a <= cuts.1 {
            1
        } else {
            2
        }
    };
    let mut counts = [0usize; 3];
    for &a in area.values() {
        if let Some(c) = counts.get_mut(bin(a)) {
            *c += 1;
        }
    }
    let method = format!("LIME/{strategy}");
    let mut weights: HashMap<(String, usize), Vec<f64>> = HashMap::new();
    let mut by_sparsity: HashMap<(String, usize), Vec<f64>> = HashMap::new();
    for (s, &a) in area {
        let mut sums: HashMap<String, f64> = HashMap::new();
        for (v, _) in variants() {
            let w = data.get(&method, &format!("w:{v}"))?.get(s).copied()?;
            weights.entry((v.clone(), bin(a))).or_default().push(w);
            let level = v.split('/').nth(1).unwrap_or("").to_string();
            *sums.entry(level).or_default() += w;
        }
        for (level, w) in sums {
            by_sparsity.entry((level, bin(a))).or_default().push(w);
        }
    }
    Some(LimeResult {
        weights,
        by_sparsity,
        cuts,
        counts,
        max_area: sorted.last().copied().unwrap_or(0.0),
        n_above_60: sorted.iter().filter(|&&a| a > 0.6).count(),
    })
}

fn mean_ci(v: &[f64]) -> (f64, f64) {
    let s = Summary::of(v);
    (s.mean, 1.96 * s.sem)
}

const SIZE_BINS: [&str; 3] = ["small", "medium", "large"];

/// The records of `run` in `dir`: the unsharded file `run.jsonl` after a
/// plain run (`plain`), otherwise every shard file `run.shard-i-of-n.jsonl`
/// (or the unsharded file when there are none), merged.
fn merged(dir: &Path, run: &str, plain: bool) -> Result<Merged> {
    let whole = dir.join(Shard::all().file_name(run));
    let files = if plain {
        vec![whole]
    } else {
        match shard_files(dir, run) {
            Ok(f) if !f.is_empty() => f,
            _ => vec![whole],
        }
    };
    Ok(merge(&files)?)
}

/// Reads the merged records and writes the results file (and PNGs).
pub fn write(
    b: &Budget,
    paper: bool,
    out: &Path,
    results: &Path,
    compute_secs: Option<f64>,
) -> Result<()> {
    let main_records = merged(out, RUN_MAIN, compute_secs.is_some())?;
    let lime_records = merged(out, RUN_LIME, compute_secs.is_some())?;
    // The merged records next to the tables (the unsharded run's files,
    // byte for byte): `--merge --out <results>` rebuilds the tables.
    for m in [&main_records, &lime_records] {
        write_records(results, &m.header, &m.records)?;
    }
    let main = Data::from(&main_records);
    let lime = Data::from(&lime_records);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Reproduction: Decker et al. 2024, optimized aggregation\n"
    );
    // A hand-written run log (shard wall and CPU times), if present.
    let note = std::fs::read_to_string(out.join("run_note.md")).ok();
    md.push_str(&header_section(
        b,
        paper,
        compute_secs,
        note.as_deref(),
        &main,
        &lime,
    ));

    // Tables 1–3 analogues, one block per panel.
    let core = ["SENS_avg", "SENS_max", "INFD", "FCOR", "INFD_Q"];
    let extra = [
        "RIS",
        "RRS",
        "ROS",
        "INFD_0",
        "INFD_mean",
        "FCOR_0",
        "FCOR_mean",
    ];
    let road = ["MoRF10", "MoRF20", "MoRF30", "LeRF10", "LeRF20", "LeRF30"];
    let all_strats = [
        Strat::Mean,
        Strat::Var,
        Strat::Faith,
        Strat::Opt,
        Strat::Robust,
    ];
    for (exp, methods, title) in [
        (
            "T1",
            &ROBUST_PANEL,
            "Table 1 and Table 3 panel (the seven gradient methods of Tables 1, 3 and 8)",
        ),
        (
            "T2",
            &FAITH_PANEL,
            "Table 2 panel (GradSHAP, IG, I×G, SmoothGrad and three CAMs)",
        ),
    ] {
        let rows = panel_rows(exp, methods, &all_strats);
        let _ = writeln!(md, "## {title}\n");
        let _ = writeln!(
            md,
            "Mean ± std over the images (n per cell = images where the metric is defined); best of each column in bold. \
             Weights fitted per image on the fitting stream, every metric on fresh perturbations.\n"
        );
        let _ = writeln!(md, "### Robustness and faithfulness (Tables 1 and 2)\n");
        md.push_str(&table(&main, &rows, &core)?.to_markdown(4)?);
        let _ = writeln!(
            md,
            "\n### Stability and alternative corruptions (Table 3)\n"
        );
        md.push_str(&table(&main, &rows, &extra)?.to_markdown(3)?);
        let _ = writeln!(md, "\n### ROAD (Table 3 / Table 4; change of the target probability in percentage points)\n");
        md.push_str(&table(&main, &rows, &road)?.to_markdown(2)?);
        let _ = writeln!(
            md,
            "\n### Wilcoxon signed-rank test: AGG_opt vs the best single method of the panel\n"
        );
        let metrics: Vec<&str> = core.iter().chain(&extra).chain(&road).copied().collect();
        md.push_str(&wilcoxon_table(&main, exp, methods, &metrics));
        md.push('\n');
        md.push_str(&weights_section(&main, exp, methods, results)?);
    }
    md.push_str(&ablation_section(&main, results)?);
    md.push_str(&lime_section(&lime, results)?);
    md.push_str(&agreement_section(&main, &lime));
    std::fs::write(results.join("decker2024.md"), md)?;
    Ok(())
}

fn header_section(
    b: &Budget,
    paper: bool,
    compute_secs: Option<f64>,
    run_note: Option<&str>,
    main: &Data,
    lime: &Data,
) -> String {
    let commit = crate::common::git_commit();
    let load = crate::common::load_average();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let p = Budget::paper();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Generated by `examples/reproduce_decker2024` from the merged per-image records, stored next to this \
         file as [`{RUN_MAIN}.jsonl`]({RUN_MAIN}.jsonl) and [`{RUN_LIME}.jsonl`]({RUN_LIME}.jsonl) \
         (JSON lines: sample, method, metric, value).\n"
    );
    let flag = if paper { " --paper" } else { "" };
    let _ = writeln!(
        md,
        "* Command: `cargo run --release --example reproduce_decker2024{}` (computes everything and \
         writes this file), or, sharded, `… -- --shard i/n{flag}` for i = 0…n−1 followed by `… -- --merge{flag}`; \
         the merged records equal the unsharded run's byte for byte (every image is computed alone, from its own seed).",
        if paper { " -- --paper" } else { "" }
    );
    let _ = writeln!(md, "* Git commit of the code: `{commit}`");
    let _ = writeln!(
        md,
        "* Machine: {cores}-vCPU AMD EPYC, CPU candle backend (1-min / 5-min / 15-min load average when the tables were written: {load}; 2 is a fully busy machine with nothing else running)"
    );
    match compute_secs {
        Some(s) => {
            let _ = writeln!(md, "* Wall time of the computation: {s:.0} s");
        }
        None => {
            let _ = writeln!(
                md,
                "* Tables written by `--merge` from the shard files (wall and CPU times: run log)"
            );
        }
    }
    if let Some(note) = run_note {
        let _ = writeln!(md, "* Run log:\n\n{}\n", note.trim_end());
    }
    let _ = writeln!(
        md,
        "* Images: {} correctly classified Fashion-MNIST test images (small CNN, 91 %; seeded shuffle of the shipped 1000, \
         predicted = true class explained) and {} correctly classified localization images (small ResNet, 64×64).\n",
        main.n_samples, lime.n_samples
    );
    let _ = writeln!(md, "## Budgets (this run vs. the paper)\n");
    let _ = writeln!(
        md,
        "| quantity | this run | paper (`--paper`) |\n|---|---:|---:|"
    );
    for (what, ours, theirs) in [
        (
            "images, Tables 1–3 (ImageNet → Fashion-MNIST)",
            main.n_samples,
            p.n_images,
        ),
        ("m_agg (both Grams)", b.m_agg, p.m_agg),
        (
            "m_eval, SENS_avg / SENS_max (fresh noise)",
            b.m_sens,
            p.m_sens,
        ),
        ("m_eval, RIS / RRS / ROS (fresh noise)", b.m_stab, p.m_stab),
        (
            "m_eval, INFD / FCOR / INFD_Q (fresh masks)",
            b.m_faith_eval,
            p.m_faith_eval,
        ),
        (
            "images, §5.3 (200 per size group in the paper)",
            lime.n_samples,
            p.n_lime,
        ),
        (
            "m_agg of the §5.3 sensitivity Gram",
            b.m_agg_lime,
            p.m_agg_lime,
        ),
        (
            "LIME samples per explanation, §5.3",
            b.lime_samples,
            p.lime_samples,
        ),
    ] {
        let _ = writeln!(md, "| {what} | {ours} | {theirs} |");
    }
    let _ = writeln!(
        md,
        "\nRecord configuration: `{}`\n\n\
         Other reductions and choices (all forced by the 10-minute budget on 2 cores or by the data):\n\n\
         * Models and data: the shipped small CNN on 28×28 Fashion-MNIST instead of VGG16 / ResNet18 / … on ImageNet; \
           the small ResNet on the 64×64 localization set instead of VGG16 / ViT on ImageNet for §5.3.\n\
         * Method budgets below Captum's defaults: IG 16 Gauss–Legendre steps (Captum 50), SmoothGrad / VarGrad 10 samples \
           (σ = 0.15 of the range), GradSHAP 5 samples, Shapley Value Sampling 2 permutations (Captum 25), LIME 50 samples; \
           perturbation methods on 4×4 patches (49 features; the paper's D.4 uses 16×16 patches on 224×224).\n\
         * Maps: channel-summed pixel maps, abs-max normalized to [0, 1] (App. C.2) before aggregation and evaluation.\n\
         * AGG_faith fits and INFD/FCOR evaluate with the same corruption: 20 % of the pixels replaced by a Gaussian blur \
           (σ = 5 px, 11 taps). INFD is Yeh et al.'s β-normalized infidelity; INFD_Q is the un-normalized objective the QP \
           minimizes, wᵀG_eval w on fresh masks. INFD_0 / INFD_mean, FCOR_0 / FCOR_mean replace by 0 / the channel mean.\n\
         * SENS_avg / SENS_max: relative (‖Φ(x) − Φ(x+ε)‖/‖Φ(x)‖, Quantus' normalization), ε ~ U[−0.1, 0.1]. \
           RIS/RRS/ROS: U[−0.1, 0.1] noise (OpenXAI's exact parameters are not reproduced), RRS on the `fc1` activations \
           (the layer before the classifier), perturbations that flip the prediction excluded.\n\
         * ROAD: noisy linear imputation, softmax probability of the target, reported as 100 × (p_removed − p_clean) \
           (Decker et al. (2024) reports the MoRF change; LeRF added).\n\
         * Every row of a table is scored on the same fresh perturbations of an image (common random numbers); \
           aggregates' sensitivity re-explains the perturbed input with the whole panel and applies the image's weights.\n",
        main.config
    );
    md
}

fn weights_section(data: &Data, exp: &str, methods: &[&str], results: &Path) -> Result<String> {
    let mut md = format!("### Per-image QP weights (Figure 4 analogue, panel {exp})\n\n");
    md.push_str("| strategy | ");
    md.push_str(&methods.join(" | "));
    md.push_str(" | methods with w > 0.01 (mean) | images with max w > 0.5 |\n|---|");
    md.push_str(&"---:|".repeat(methods.len() + 2));
    md.push('\n');
    for s in [Strat::Robust, Strat::Faith, Strat::Opt] {
        let key = format!("{exp}/{}", s.name());
        let _ = write!(md, "| {} |", s.name());
        let mut per_image: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for m in methods {
            let w = data.get(&key, &format!("w:{m}"));
            let v: Vec<f64> = w.map(|w| w.values().copied().collect()).unwrap_or_default();
            if let Some(w) = w {
                for (&i, &x) in w {
                    per_image.entry(i).or_default().push(x);
                }
            }
            let s = Summary::of(&v);
            let _ = write!(md, " {:.3} ± {:.3} |", s.mean, s.std);
        }
        let n = per_image.len().max(1) as f64;
        let active = per_image
            .values()
            .map(|w| w.iter().filter(|&&x| x > 0.01).count() as f64)
            .sum::<f64>()
            / n;
        let dominant = per_image
            .values()
            .filter(|w| w.iter().any(|&x| x > 0.5))
            .count() as f64
            / n;
        let _ = writeln!(md, " {active:.2} | {:.0} % |", 100.0 * dominant);
    }
    md.push_str(&crate::charts::weight_boxplots(
        data, exp, methods, results,
    )?);
    md.push('\n');
    Ok(md)
}

fn ablation_section(data: &Data, results: &Path) -> Result<String> {
    let mut md = String::from("## App. D.4 ablations\n\n");
    let cols = [
        ("AGG_robust", "SENS_avg"),
        ("AGG_robust", "SENS_max"),
        ("AGG_faith", "INFD"),
        ("AGG_faith", "FCOR"),
        ("AGG_opt", "SENS_avg"),
        ("AGG_opt", "SENS_max"),
        ("AGG_opt", "INFD"),
        ("AGG_opt", "FCOR"),
    ];
    let names: Vec<String> = cols.iter().map(|(s, m)| format!("{s} {m}")).collect();
    let spec: Vec<(&str, Better)> = names
        .iter()
        .zip(&cols)
        .map(|(n, (_, m))| (n.as_str(), direction(m)))
        .collect();
    let mut count = ScoreTable::new(&spec)?;
    for n in 2..=ROBUST_PANEL.len() {
        let id = if n == ROBUST_PANEL.len() {
            "T1".to_string()
        } else {
            format!("D4-n{n}")
        };
        count.push_row(
            &format!("{n}: +{}", ROBUST_PANEL[n - 1]),
            cols.iter()
                .map(|(s, m)| data.summary(&format!("{id}/{s}"), m))
                .collect(),
        )?;
    }
    md.push_str(
        "### Number of methods (Tables 8–9): the first n of DeepLift, VarGrad, GuidedBP, SmoothGrad, IntGrad, InputxGrad, Saliency\n\n",
    );
    md.push_str(&count.to_markdown(4)?);
    md.push_str(&crate::charts::count_lines(data, results)?);
    let mut types = ScoreTable::new(&spec)?;
    for (label, id) in [
        (
            "gradient-based (DeepLift, SmoothGrad, InputxGrad)",
            "D4-grad",
        ),
        (
            "perturbation-based (LIME, ShapleyValues, FeatureAblation)",
            "D4-pert",
        ),
        ("both (6)", "D4-both"),
    ] {
        types.push_row(
            label,
            cols.iter()
                .map(|(s, m)| data.summary(&format!("{id}/{s}"), m))
                .collect(),
        )?;
    }
    md.push_str("\n### Types of methods (Tables 10–11)\n\n");
    md.push_str(&types.to_markdown(4)?);
    md.push('\n');
    Ok(md)
}

fn lime_section(data: &Data, results: &Path) -> Result<String> {
    let mut md = String::from(
        "## §5.3: AGG_opt over six LIME variants, by object size (Figure 5 analogue)\n\n",
    );
    let Some(r) = lime_result(data, "AGG_opt") else {
        md.push_str("No §5.3 records.\n\n");
        return Ok(md);
    };
    let _ = writeln!(
        md,
        "Small ResNet, 64×64 localization images; LIME on SLIC superpixels (n_segments = {SLIC_SEGMENTS}) or {PATCH}×{PATCH} \
         patches, with no regularization (OLS), low (lasso λ = 0.01) or high (lasso λ = 0.1) sparsity. Object size = \
         ground-truth box area / image area, binned into terciles (cuts {:.3} and {:.3}; the paper uses < 20 % and > 60 % of \
         ImageNet images). Images per bin: {} / {} / {}. Mean AGG_opt weight ± 95 % CI (1.96·sem).\n",
        r.cuts.0, r.cuts.1, r.counts[0], r.counts[1], r.counts[2]
    );
    md.push_str("| variant | small | medium | large |\n|---|---:|---:|---:|\n");
    for (v, _) in variants() {
        let _ = write!(md, "| {v} |");
        for b in 0..3 {
            let (m, ci) = mean_ci(r.weights.get(&(v.clone(), b)).map_or(&[][..], |x| x));
            let _ = write!(md, " {m:.3} ± {ci:.3} |");
        }
        md.push('\n');
    }
    md.push_str("\nGrouped by sparsity regularization (SLIC + patch weights summed):\n\n| sparsity | small | medium | large |\n|---|---:|---:|---:|\n");
    for level in ["none", "low", "high"] {
        let _ = write!(md, "| {level} |");
        for b in 0..3 {
            let (m, ci) = mean_ci(
                r.by_sparsity
                    .get(&(level.to_string(), b))
                    .map_or(&[][..], |x| x),
            );
            let _ = write!(md, " {m:.3} ± {ci:.3} |");
        }
        md.push('\n');
    }
    md.push_str("\nSparsity of the clean LIME maps (share of non-zero pixels; an all-zero map has zero sensitivity, so the \
                 robustness term of the QP favours it):\n\n| variant | non-zero share (mean) | all-zero maps |\n|---|---:|---:|\n");
    for (v, _) in variants() {
        if let Some(nz) = data.get("LIME/map", &format!("nonzero:{v}")) {
            let vals: Vec<f64> = nz.values().copied().collect();
            let zero = vals.iter().filter(|&&x| x == 0.0).count();
            let _ = writeln!(
                md,
                "| {v} | {:.3} | {zero} of {} |",
                Summary::of(&vals).mean,
                vals.len()
            );
        }
    }
    md.push_str(&crate::charts::lime_bars(&r, results)?);
    md.push('\n');
    Ok(md)
}

fn agreement_section(data: &Data, lime: &Data) -> String {
    let mut md = String::from("## Agreement with the paper\n\n");
    md.push_str(&claims::method_note());
    md.push_str(
        " \"Best\" means better than every other row of the panel (methods and aggregates); \
         \"second\" better than every row but the best one. Small models on 28×28 / 64×64 images \
         differ from ImageNet models; nothing was tuned to make a claim hold.\n\n",
    );
    let all = [
        Strat::Mean,
        Strat::Var,
        Strat::Faith,
        Strat::Opt,
        Strat::Robust,
    ];
    let t1 = panel_rows("T1", &ROBUST_PANEL, &all);
    let t2 = panel_rows("T2", &FAITH_PANEL, &all);
    let show =
        |r: Option<(usize, usize)>| r.map_or("—".to_string(), |(a, b)| format!("{a} of {b}"));
    // "`first` best, `second` better than every row but `first`".
    let first_second = |rows: &[(String, String)], metric: &str, first: &str, second: &str| {
        let mut c = Vec::new();
        if let Some(f) = row(rows, first) {
            c.extend(data.beats(metric, f, rows));
        }
        if let Some(s) = row(rows, second) {
            let rest: Vec<(String, String)> =
                rows.iter().filter(|r| r.1 != first).cloned().collect();
            c.extend(data.beats(metric, s, &rest));
        }
        claim_cell(c)
    };
    // Table 1.
    for metric in ["SENS_avg", "SENS_max"] {
        let rr = rank(data, &t1, "T1/AGG_robust", metric);
        let ro = rank(data, &t1, "T1/AGG_opt", metric);
        let _ = writeln!(
            md,
            "* Table 1 ({metric}): \"AGG_robust best, AGG_opt second\" — ranks by mean: AGG_robust {}, AGG_opt {}. {}.",
            show(rr),
            show(ro),
            first_second(&t1, metric, "T1/AGG_robust", "T1/AGG_opt")
        );
    }
    // Table 2: "AGG_opt second or comparable" — comparability is not
    // testable as agreement, so the claim tested is AGG_faith best and
    // AGG_opt better than every single method.
    for metric in ["INFD", "FCOR", "INFD_Q"] {
        let rf = rank(data, &t2, "T2/AGG_faith", metric);
        let ro = rank(data, &t2, "T2/AGG_opt", metric);
        let methods: Vec<(String, String)> = panel_rows("T2", &FAITH_PANEL, &[]);
        let mut c = Vec::new();
        if let Some(f) = row(&t2, "T2/AGG_faith") {
            c.extend(data.beats(metric, f, &t2));
        }
        if let Some(o) = row(&t2, "T2/AGG_opt") {
            c.extend(data.beats(metric, o, &methods));
        }
        let _ = writeln!(
            md,
            "* Table 2 ({metric}): \"AGG_faith best, AGG_opt second or comparable\" (tested: AGG_faith better than every row, AGG_opt better than every single method) — ranks by mean: AGG_faith {}, AGG_opt {}. {}.",
            show(rf),
            show(ro),
            claim_cell(c)
        );
    }
    // Table 3: the best (by mean) of AGG_robust/faith/opt beats every
    // other row outside the three, AGG_opt beats every row but that one.
    for metric in [
        "RIS",
        "RRS",
        "ROS",
        "INFD_0",
        "INFD_mean",
        "FCOR_0",
        "FCOR_mean",
        "MoRF10",
        "MoRF20",
        "MoRF30",
    ] {
        let ours = ["T1/AGG_robust", "T1/AGG_faith", "T1/AGG_opt"];
        let ranked: Vec<(&str, (usize, usize))> = ours
            .iter()
            .filter_map(|k| rank(data, &t1, k, metric).map(|r| (*k, r)))
            .collect();
        let Some(&(best, best_rank)) = ranked.iter().min_by_key(|r| r.1 .0) else {
            continue;
        };
        let outside: Vec<(String, String)> = t1
            .iter()
            .filter(|r| !ours.contains(&r.1.as_str()))
            .cloned()
            .collect();
        let mut c = Vec::new();
        if let Some(b) = row(&t1, best) {
            c.extend(data.beats(metric, b, &outside));
        }
        if best != "T1/AGG_opt" {
            if let Some(o) = row(&t1, "T1/AGG_opt") {
                let rest: Vec<(String, String)> =
                    t1.iter().filter(|r| r.1 != best).cloned().collect();
                c.extend(data.beats(metric, o, &rest));
            }
        }
        let ro = rank(data, &t1, "T1/AGG_opt", metric);
        let _ = writeln!(
            md,
            "* Table 3 ({metric}): \"one of AGG_robust/faith/opt best, AGG_opt at least second\" — best of ours by mean: {} (rank {}), AGG_opt {}. {}.",
            best.trim_start_matches("T1/"),
            show(Some(best_rank)),
            show(ro),
            claim_cell(c)
        );
    }
    // Figure 4 and §5.2.
    for (exp, methods) in [("T1", &ROBUST_PANEL), ("T2", &FAITH_PANEL)] {
        let key = format!("{exp}/AGG_opt");
        let mut ranges = Vec::new();
        let mut per_image: BTreeMap<usize, usize> = BTreeMap::new();
        for m in methods.iter() {
            let Some(w) = data.get(&key, &format!("w:{m}")) else {
                continue;
            };
            let v: Vec<f64> = w.values().copied().collect();
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            if mean > 0.01 {
                ranges.push(hi - lo);
            }
            for (&i, &x) in w {
                *per_image.entry(i).or_default() += usize::from(x > 0.01);
            }
        }
        ranges.sort_by(f64::total_cmp);
        let median = ranges.get(ranges.len() / 2).copied().unwrap_or(0.0);
        let counts: Vec<f64> = per_image.values().map(|&c| c as f64).collect();
        let active = counts.iter().sum::<f64>() / counts.len().max(1) as f64;
        let _ = writeln!(
            md,
            "* Figure 4 (panel {exp}): \"AGG_opt weights vary substantially across images, often over most of [0, 1]\" — \
             median range (max − min over images) of the weights of the methods with mean weight > 0.01: {median:.2} \
             ({} methods); descriptive, no test.",
            ranges.len(),
        );
        let half = methods.len() as f64 / 2.0;
        let _ = writeln!(
            md,
            "* §5.2 / Figure 2 (panel {exp}): \"AGG_opt selects methods (deteriorated ones get zero weight)\" — on average \
             {active:.2} of {} methods get weight > 0.01 (tested per image against half the panel, {half}). {}.",
            methods.len(),
            claim_cell(vec![Comparison::against(
                "methods with weight > 0.01",
                &format!("{half}"),
                half,
                Direction::Less,
                &counts,
            )])
        );
    }
    // D.4 count: "improves with more methods, then saturates" — every
    // larger panel better than the two-method panel, paired by image.
    let id = |n: usize| {
        if n == ROBUST_PANEL.len() {
            "T1".to_string()
        } else {
            format!("D4-n{n}")
        }
    };
    for (s, m) in [
        ("AGG_robust", "SENS_avg"),
        ("AGG_faith", "INFD"),
        ("AGG_opt", "INFD_Q"),
    ] {
        let means: Vec<String> = (2..=ROBUST_PANEL.len())
            .map(|n| {
                data.mean(&format!("{}/{s}", id(n)), m)
                    .map_or("—".into(), |x| format!("{x:.4}"))
            })
            .collect();
        let two = (format!("{s} (2 methods)"), format!("{}/{s}", id(2)));
        let larger: Vec<Comparison> = (3..=ROBUST_PANEL.len())
            .flat_map(|n| {
                let a = (format!("{s} ({n} methods)"), format!("{}/{s}", id(n)));
                data.beats(m, &a, std::slice::from_ref(&two))
            })
            .collect();
        let _ = writeln!(
            md,
            "* Tables 8–9 ({s} {m}): \"improves with more methods, then saturates\" (tested: every larger panel better than the 2-method panel) — means from 2 to {} methods: {}. {}.",
            ROBUST_PANEL.len(),
            means.join(" → "),
            claim_cell(larger)
        );
    }
    // D.4 types: "combining both types beats either" — both better than
    // the gradient-only and the perturbation-only panel, paired by image.
    for (s, m) in [
        ("AGG_robust", "SENS_avg"),
        ("AGG_faith", "INFD"),
        ("AGG_faith", "FCOR"),
    ] {
        let key = |t: &str| (t.to_string(), format!("D4-{t}/{s}"));
        let f = |t: &str| {
            data.mean(&format!("D4-{t}/{s}"), m)
                .map_or("—".into(), |v| format!("{v:.4}"))
        };
        let _ = writeln!(
            md,
            "* Tables 10–11 ({s} {m}): \"combining both types beats either\" — means: gradient {}, perturbation {}, both {}. {}.",
            f("grad"),
            f("pert"),
            f("both"),
            claim_cell(data.beats(m, &key("both"), &[key("grad"), key("pert")]))
        );
    }
    // §5.3: small and large objects are different images, so the claim is
    // one unpaired comparison (Mann–Whitney U, scipy's defaults).
    if let Some(r) = lime_result(lime, "AGG_opt") {
        let bin = |b: usize| {
            r.by_sparsity
                .get(&("high".to_string(), b))
                .map_or(&[][..], |x| x)
        };
        let (small_v, large_v) = (bin(0), bin(2));
        let (small, large) = (mean_ci(small_v), mean_ci(large_v));
        let _ = writeln!(
            md,
            "* §5.3: \"more weight on high sparsity regularization for small objects than for large ones\" (the paper: \
             boxes < 20 % vs > 60 % of the image) — here the size terciles cut at {:.3} and {:.3} of the image \
             (largest box {:.3}; {} images above 0.6), high-sparsity weight {:.3} ± {:.3} (small, n = {}) vs {:.3} ± {:.3} \
             (large, n = {}), unpaired (Mann–Whitney U): {}.",
            r.cuts.0,
            r.cuts.1,
            r.max_area,
            r.n_above_60,
            small.0,
            small.1,
            small_v.len(),
            large.0,
            large.1,
            large_v.len(),
            claim_cell(vec![Comparison::unpaired(
                "small",
                "large",
                Direction::Greater,
                small_v,
                large_v
            )]),
        );
    }
    md.push_str(
        "\n### Why some rows are not comparable\n\n\
         * **INFD (β-normalized) vs INFD_Q.** AGG_faith minimizes the un-normalized infidelity of the abs-max maps \
           (wᵀGw, App. C.2); its held-out value is INFD_Q, where the guarantee of Theorem 4.3 applies. The β-normalized \
           INFD the paper reports (\"normalization utilized by the authors\") rescales every map by its own least-squares \
           factor, which is not a generalized L2 metric of φ_w (a ratio of quadratics in w), so the QP optimizes it only \
           indirectly. On 0/1-scaled maps against logit differences the un-normalized objective mostly rewards maps whose \
           masked sums match the logit drops in scale, which favours sparse maps (IG, Input×Gradient here).\n\
         * **RIS / RRS / ROS** divide element-wise by x, e_x, L(x) and h(x) (OpenXAI/Quantus formulas, zero entries \
           replaced by ε_min = 1e-6). Fashion-MNIST has a black background (x = 0) and most abs-max maps have exact zeros \
           (ReLU-clipped CAMs, IG/I×G on black pixels), so these ratios are dominated by the ε_min replacement: RIS is \
           ≈ 0 whenever x has zeros, RRS/ROS explode for maps with zeros. The ranks are reported as computed, but they \
           measure zero patterns more than stability.\n\
         * **ROAD** on 28×28 images removes 78–235 pixels per step and imputes them from neighbours; the small CNN's \
           confidence changes are far larger than on ImageNet (tens of percentage points).\n\
         * **Sensitivity of sparse maps.** Abs-max normalized sparse or all-zero maps (Grad-CAM on some inputs, \
           strongly regularized LIME) are nearly invariant under input noise, so AGG_robust concentrates on them; the \
           paper's ImageNet CAMs are smooth and rarely zero.\n\
         * Scale: n images per table here vs 500 in the paper; differences within one standard error are not \
           meaningful (see the Wilcoxon tables).\n",
    );
    let _ = writeln!(
        md,
        "\nPanel methods (registry specs): {}",
        PANEL
            .iter()
            .map(|p| format!("`{}`", p.1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md
}

/// Size-bin names, for the charts.
pub fn size_bins() -> [&'static str; 3] {
    SIZE_BINS
}

#[cfg(test)]
mod tests {
    use super::*;
    use salience::report::records::{Record, RunHeader};

    fn data(records: Vec<Record>) -> Data {
        Data::from(&Merged {
            header: RunHeader::new("t", 30, 0, Shard::all(), ""),
            records,
        })
    }

    fn line<'a>(md: &'a str, start: &str) -> &'a str {
        md.lines().find(|l| l.starts_with(start)).unwrap_or("")
    }

    /// Tables 10–11: "both" equal to "gradient" on every image (the
    /// perturbation methods get zero weight) used to read "agrees"; a tie
    /// is inconclusive now.
    #[test]
    fn a_tie_between_panels_is_inconclusive() {
        let mut r = Vec::new();
        for i in 0..30 {
            let g = 6e-11 * (1.0 + i as f64 / 50.0);
            r.push(Record::new(i, "D4-grad/AGG_faith", "INFD", g));
            r.push(Record::new(i, "D4-both/AGG_faith", "INFD", g));
            r.push(Record::new(i, "D4-pert/AGG_faith", "INFD", 2.0 * g));
        }
        let md = agreement_section(&data(r), &data(Vec::new()));
        let l = line(&md, "* Tables 10–11 (AGG_faith INFD)");
        assert!(l.contains("**inconclusive**"), "{l}");
        assert!(l.contains("(30 tied)"), "{l}");
    }

    /// §5.3: small objects' high-sparsity weight a little above the large
    /// ones' (the old rule: "agrees"), but no box above 60 % of the image
    /// and overlapping intervals: inconclusive.
    #[test]
    fn section_5_3_within_the_intervals_is_inconclusive() {
        let mut r = Vec::new();
        for i in 0..30 {
            r.push(Record::new(i, "object", "box_area", 0.1 + 0.01 * i as f64));
            for (v, _) in crate::lime_sizes::variants() {
                let high = v.split('/').nth(1) == Some("high");
                let noise = if i % 2 == 0 { 0.05 } else { -0.05 };
                // small bin (i < 10) 0.01 higher on average
                let w = if high {
                    0.45 + noise + if i < 10 { 0.005 } else { 0.0 }
                } else {
                    0.1
                };
                r.push(Record::new(i, "LIME/AGG_opt", &format!("w:{v}"), w));
            }
        }
        let md = agreement_section(&data(Vec::new()), &data(r));
        let l = line(&md, "* §5.3");
        assert!(l.contains("(largest box 0.390; 0 images above 0.6)"), "{l}");
        assert!(
            l.contains("unpaired (Mann–Whitney U): **inconclusive**: small > large"),
            "{l}"
        );
        assert!(l.contains("n = 10 vs 10"), "{l}");
    }

    /// Tables 8–9: a noisy sequence whose last mean is below the first
    /// used to read "agrees" (last ≤ first); pure noise is inconclusive.
    #[test]
    fn a_noisy_trend_is_not_agreement() {
        let mut r = Vec::new();
        for i in 0..30 {
            for n in 2..=ROBUST_PANEL.len() {
                let id = if n == ROBUST_PANEL.len() {
                    "T1".to_string()
                } else {
                    format!("D4-n{n}")
                };
                // ±noise around 110, alternating by image and panel size;
                // the 7-method panel is lower by 1, so its mean is below the
                // 2-method panel's (109.28 vs 109.72): the old rule said "agrees".
                let noise = if (i + n) % 2 == 0 { 17.0 } else { -17.0 } * (1.0 + i as f64 / 30.0);
                let shift = if n == ROBUST_PANEL.len() { -1.0 } else { 0.0 };
                r.push(Record::new(
                    i,
                    &format!("{id}/AGG_opt"),
                    "INFD_Q",
                    110.0 + noise + shift,
                ));
            }
        }
        let md = agreement_section(&data(r), &data(Vec::new()));
        let l = line(&md, "* Tables 8–9 (AGG_opt INFD_Q)");
        // last mean < first mean: what the old rule called agreement
        assert!(l.contains("means from 2 to 7 methods: 109.7167 → "), "{l}");
        assert!(l.contains(" → 109.2833."), "{l}");
        assert!(!l.contains("**agrees**"), "{l}");
        assert!(
            l.contains("**inconclusive**") || l.contains("**disagrees**"),
            "{l}"
        );
    }
}
