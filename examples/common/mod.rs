//! Helpers shared by the examples (quickstart and the reproductions):
//! the predicted class, a progress bar, and the provenance lines of the
//! reports (commit, load average, CPU time).
//!
//! Included with `#[path = "../common/mod.rs"] mod common;` (or
//! `mod common;` from `examples/quickstart.rs`); not every example uses
//! every helper.
#![allow(dead_code)]

use indicatif::{ProgressBar, ProgressStyle};

/// Index of the first maximum (0 for an empty row; NaN never wins).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (k, v)| if v > b.1 { (k, v) } else { b },
        )
        .0
}

/// The output folder of an example: `--out DIR`, else `target/<example>`.
pub fn out_dir(example: &str) -> Result<std::path::PathBuf, String> {
    let usage = || format!("usage: {example} [--out DIR]");
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(std::path::PathBuf::from("target").join(example)),
        (Some("--out"), Some(dir), None) => Ok(dir.into()),
        _ => Err(usage()),
    }
}

/// A progress bar of `len` steps on stderr (hidden when stderr is not a
/// terminal).
pub fn progress_bar(len: u64) -> Result<ProgressBar, indicatif::style::TemplateError> {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} {msg}",
    )?);
    Ok(bar)
}

/// `git rev-parse HEAD` of the working directory, followed by
/// ` (+ uncommitted changes)` when tracked files outside `docs/results`
/// differ from it, or
/// `unknown` outside a git checkout.
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(h) => {
            // The examples' own outputs (docs/results) do not count: a run
            // that rewrites them must still cite a clean commit.
            let dirty = run(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)docs/results",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{h} (+ uncommitted changes)")
            } else {
                h
            }
        }
        None => "unknown".into(),
    }
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`) as
/// `a / b / c`, or `unknown`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|_| "unknown".into())
}

/// User + system CPU seconds of this process, all threads (Linux
/// `/proc/self/stat`, 100 clock ticks per second), if readable.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the parenthesised command name start at field 3,
    // so utime and stime (fields 14 and 15) are at 11 and 12.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A p-value for a table cell: three decimals, scientific below 0.001.
pub fn fmt_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// Where a reproduction writes its report and charts unless `--results DIR`
/// says otherwise: `target/<example>/results`, so a run never rewrites the
/// committed `docs/results/` unless asked to (`--results docs/results`).
pub fn default_results(example: &str) -> std::path::PathBuf {
    std::path::Path::new("target").join(example).join("results")
}

/// Verdicts of the reproductions, through `salience::metrics::verdict`.
/// Labels-permutation seed of the shipped permuted-label CNN
/// (`assets::small_cnn_permuted_labels`, `train -- cnn --permute-labels 7`).
pub const PERMUTED_LABELS_SEED: u64 = 7;
/// Training images of the shipped permuted-label CNN (`--limit 5000`).
pub const PERMUTED_LABELS_IMAGES: usize = 5000;

/// The first `n` images of `set` with their labels shuffled across them by
/// a permutation seeded with `seed` (the rest of the set is dropped): the
/// training data of `train -- cnn --permute-labels SEED --limit n`
/// (Adebayo et al.'s data randomization test; the class counts are kept).
pub fn permuted_labels(
    set: &salience::datasets::GrayImages,
    n: usize,
    seed: u64,
) -> salience::core::Result<salience::datasets::GrayImages> {
    use rand::seq::SliceRandom;
    use salience::core::seed::{derive_seed, rng};
    let n = n.min(set.labels.len());
    let mut labels: Vec<u8> = set.labels.iter().take(n).copied().collect();
    labels.shuffle(&mut rng(derive_seed(seed, 0x5045_524d)));
    let images = set.images.slice(ndarray::s![..n, .., ..]).to_owned();
    salience::datasets::GrayImages::new(images, labels)
}

pub mod claims {
    use salience::metrics::verdict::{Claim, ClaimResult, Direction, VerdictConfig};
    use salience::report::records::Merged;
    use std::collections::BTreeMap;

    /// The values of `(method, metric)` keyed by sample.
    fn by_sample(m: &Merged, method: &str, metric: &str) -> BTreeMap<usize, f64> {
        m.records
            .iter()
            .filter(|r| r.method == method && r.metric == metric)
            .map(|r| (r.sample, r.value))
            .collect()
    }

    /// The paired values of `a` and `b` on the samples both have, in
    /// sample order (`(method, metric)` each).
    pub fn paired(m: &Merged, a: (&str, &str), b: (&str, &str)) -> (Vec<f64>, Vec<f64>) {
        let x = by_sample(m, a.0, a.1);
        let y = by_sample(m, b.0, b.1);
        x.iter()
            .filter_map(|(s, &v)| y.get(s).map(|&w| (v, w)))
            .unzip()
    }

    /// A claim "a `direction` b on `metric`" for every `(a, b)` in `pairs`
    /// (paired over the samples both have).
    pub fn on_metric(
        m: &Merged,
        metric: &str,
        direction: Direction,
        pairs: &[(&str, &str)],
    ) -> Claim {
        pairs.iter().fold(Claim::new(), |c, (a, b)| {
            let (x, y) = paired(m, (a, metric), (b, metric));
            c.paired(a, b, direction, &x, &y)
        })
    }

    /// Evaluates a claim with the default config (α = 0.05, Holm, 95 % HL
    /// interval).
    pub fn evaluate(claim: &Claim) -> Result<ClaimResult, String> {
        claim
            .evaluate(&VerdictConfig::default())
            .map_err(|e| e.to_string())
    }

    /// The rendered verdict for a report's table cell (the verdict, then
    /// each comparison's effect, interval, adjusted p and n), or why there
    /// is none.
    pub fn cell(claim: &Claim) -> String {
        match evaluate(claim) {
            Ok(r) => r.to_string(),
            Err(e) => format!("**inconclusive**: no test ({e})"),
        }
    }

    /// One line stating how the verdicts are computed (for the reports).
    pub fn method_note() -> String {
        let c = VerdictConfig::default();
        format!(
            "Verdicts are computed by `salience_metrics::verdict`: each claim is a set of paired \
             comparisons over images (two-sided Wilcoxon signed-rank test, scipy's defaults \
             except that tied pairs are ranked and their ranks split between the two signs, \
             scipy's `zero_method=\"zsplit\"`, so ties weigh against a difference instead of \
             being dropped), Holm–Bonferroni across the claim's comparisons, α = {}; **agrees** \
             only if every comparison is significant in the paper's direction, **disagrees** if \
             any is significant in the opposite direction, **inconclusive** otherwise. \
             Differences within a relative {:.0e} count as ties. Each comparison prints the \
             median paired difference, the Hodges–Lehmann estimate with its {:.0} % \
             distribution-free interval (Walsh averages), the matched-pairs rank-biserial r \
             (ties included), the Holm-adjusted p and n (with the number tied). Comparisons of \
             different images (unpaired, `n = a vs b`) use the two-sided Mann–Whitney U test \
             (scipy's defaults), the difference of medians, the two-sample Hodges–Lehmann shift \
             and the rank-biserial P(a > b) − P(a < b).",
            c.alpha,
            c.rel_tol,
            100.0 * c.confidence
        )
    }
}
