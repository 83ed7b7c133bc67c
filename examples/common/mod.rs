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

/// The provenance of a run that writes records (plain, `--shard i/n` or
/// one `--part`): written next to its records as `<stem>.run.json` and
/// read back by `--merge`, so a report states each run's own command,
/// commit, machine and times, and whether they were computed at one commit.
pub mod provenance {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    /// The extension of a provenance file.
    pub const SUFFIX: &str = ".run.json";

    /// One run's provenance (the JSON schema of Mahlau's `<run>.run.json`,
    /// extended by `covers`, `rayon_num_threads` and `stages`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct RunProvenance {
        /// What the run computed (model, part, shard, images), if stated.
        pub covers: Option<String>,
        /// Wall time of the run's computation.
        pub wall: Duration,
        /// `/proc/loadavg` at the start.
        pub load_before: String,
        /// `/proc/loadavg` at the end.
        pub load_after: String,
        /// User + system CPU seconds of the computation, if known.
        pub cpu: Option<f64>,
        /// The command line that ran it (shell-quoted).
        pub command: String,
        /// The commit it ran at (`common::git_commit`: with "+ uncommitted
        /// changes" when the sources differed from it).
        pub commit: String,
        /// The machine, and the note on its load (`--note`).
        pub machine: String,
        /// `RAYON_NUM_THREADS`, when it was set.
        pub rayon_threads: Option<String>,
        /// When it finished (UTC), or "unknown".
        pub finished: String,
        /// Where this provenance comes from when the run did not write it
        /// itself (e.g. transcribed from an earlier generated report).
        pub source: Option<String>,
        /// Wall seconds per stage, where the runner times its stages.
        pub stages: Vec<(String, f64)>,
    }

    impl RunProvenance {
        /// The file name of the provenance of the run `stem`.
        pub fn file_name(stem: &str) -> String {
            format!("{stem}{SUFFIX}")
        }

        /// Writes `dir/<stem>.run.json`.
        pub fn save(&self, dir: &Path, stem: &str) -> Result<PathBuf> {
            let v = serde_json::json!({
                "run": stem,
                "covers": self.covers,
                "command": self.command,
                "commit": self.commit,
                "machine": self.machine,
                "rayon_num_threads": self.rayon_threads,
                "finished": self.finished,
                "wall_s": self.wall.as_secs_f64(),
                "cpu_s": self.cpu,
                "load_before": self.load_before,
                "load_after": self.load_after,
                "source": self.source,
                "stages": self.stages.iter().map(|(s, t)| serde_json::json!([s, t])).collect::<Vec<_>>(),
            });
            std::fs::create_dir_all(dir)?;
            let path = dir.join(Self::file_name(stem));
            std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")?;
            Ok(path)
        }

        /// Reads `dir/<stem>.run.json` (`None` when there is none).
        pub fn load(dir: &Path, stem: &str) -> Result<Option<Self>> {
            let path = dir.join(Self::file_name(stem));
            if !path.exists() {
                return Ok(None);
            }
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            let text = |k: &str| -> Result<String> {
                Ok(v.get(k)
                    .and_then(|x| x.as_str())
                    .ok_or_else(|| format!("{}: no `{k}`", path.display()))?
                    .to_string())
            };
            let opt = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
            let wall = v
                .get("wall_s")
                .and_then(|x| x.as_f64())
                .ok_or_else(|| format!("{}: no `wall_s`", path.display()))?;
            let stages = v
                .get("stages")
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| {
                            Some((s.get(0)?.as_str()?.to_string(), s.get(1)?.as_f64()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(RunProvenance {
                covers: opt("covers"),
                wall: Duration::from_secs_f64(wall),
                load_before: text("load_before")?,
                load_after: text("load_after")?,
                cpu: v.get("cpu_s").and_then(|x| x.as_f64()),
                command: text("command")?,
                commit: text("commit")?,
                machine: text("machine")?,
                rayon_threads: opt("rayon_num_threads"),
                finished: text("finished")?,
                source: opt("source"),
                stages,
            }))
        }
    }

    /// The commit a run cites: `start` (the checkout when it started, the
    /// one its binary was built from), with a note when the checkout was
    /// `now` at its end instead.
    pub fn cited_commit(start: &str, now: &str) -> String {
        if now == start {
            start.to_string()
        } else {
            format!("{start} (the checkout changed to `{now}` while it ran)")
        }
    }

    /// The clock of a run: started before it computes, finished into its
    /// provenance once its records are written.
    pub struct RunClock {
        started: Instant,
        load_before: String,
        cpu_before: Option<f64>,
        /// The checkout's commit when the run started: the one its binary
        /// was built from (a commit made while it runs must not be cited).
        commit: String,
    }

    impl RunClock {
        /// Starts the clock (load average, CPU time and commit now).
        pub fn start() -> Self {
            RunClock {
                started: Instant::now(),
                load_before: super::load_average(),
                cpu_before: super::cpu_seconds(),
                commit: super::git_commit(),
            }
        }

        /// The commit to cite: the one at the start, with a note when the
        /// checkout moved (or its sources changed) while the run computed.
        fn commit(&self) -> String {
            cited_commit(&self.commit, &super::git_commit())
        }

        /// The provenance of the run of `example` since [`RunClock::start`],
        /// covering `covers`, on the machine with the `--note` `note`.
        pub fn finish(&self, example: &str, covers: &str, note: Option<&str>) -> RunProvenance {
            RunProvenance {
                covers: Some(covers.to_string()),
                wall: self.started.elapsed(),
                load_before: self.load_before.clone(),
                load_after: super::load_average(),
                cpu: super::cpu_seconds().map(|c| c - self.cpu_before.unwrap_or(0.0)),
                command: command_line(example),
                commit: self.commit(),
                machine: machine(note),
                rayon_threads: std::env::var("RAYON_NUM_THREADS").ok(),
                finished: now_utc(),
                source: None,
                stages: Vec::new(),
            }
        }
    }

    /// This process's command line as `cargo run --release --example
    /// <example> -- <args>`, shell-quoted so it can be pasted.
    pub fn command_line(example: &str) -> String {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
                {
                    a
                } else {
                    format!("'{}'", a.replace('\'', "'\\''"))
                }
            })
            .collect();
        format!(
            "cargo run --release --example {example}{}{}",
            if args.is_empty() { "" } else { " -- " },
            args.join(" ")
        )
    }

    /// The machine in words, with the `--note` on its load.
    pub fn machine(note: Option<&str>) -> String {
        format!(
            "2-vCPU AMD EPYC (shared), CPU candle backend, {} logical cores visible{}",
            std::thread::available_parallelism().map_or(0, |c| c.get()),
            note.map(|s| format!("; {s}")).unwrap_or_default()
        )
    }

    /// The current UTC time as `YYYY-MM-DD HH:MM UTC` (`date -u`), or "unknown".
    pub fn now_utc() -> String {
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or("unknown".into(), |o| {
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            })
    }

    /// The stem of a records file (`x.shard-0-of-2.jsonl` → `x.shard-0-of-2`).
    pub fn records_stem(path: &Path) -> String {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.strip_suffix(".jsonl").unwrap_or(&name).to_string()
    }

    /// One run behind a report: its provenance stem, what it covers, and
    /// its provenance (`None`: the records have no provenance file).
    #[derive(Debug, Clone, PartialEq)]
    pub struct RunEntry {
        /// The provenance file's stem (`<stem>.run.json`).
        pub stem: String,
        /// What the run covers (the runner's words when the file does not say).
        pub label: String,
        /// The provenance, if a file was found.
        pub prov: Option<RunProvenance>,
    }

    impl RunEntry {
        /// What the run covers: the file's `covers`, else the runner's label.
        pub fn covers(&self) -> &str {
            self.prov
                .as_ref()
                .and_then(|p| p.covers.as_deref())
                .unwrap_or(&self.label)
        }
    }

    /// Every `<prefix>*.run.json` in `dir`, sorted by name.
    pub fn load_matching(dir: &Path, prefix: &str) -> Result<Vec<RunEntry>> {
        let mut stems: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(prefix)?;
                    name.strip_suffix(SUFFIX).map(String::from)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        stems.sort();
        let mut out = Vec::new();
        for stem in stems {
            let prov = RunProvenance::load(dir, &stem)?;
            out.push(RunEntry {
                label: stem.clone(),
                stem,
                prov,
            });
        }
        Ok(out)
    }

    /// The runs behind the records `files` of `dir`: for each file, the
    /// provenance `<stem_of(records stem)>.run.json` (or `None`), labelled
    /// `label(records stem)`. Merged unsharded records whose own file is
    /// missing take the shards' provenance files when those are present
    /// (a `--merge --out <results>` re-derivation).
    pub fn for_records(
        dir: &Path,
        files: &[PathBuf],
        stem_of: impl Fn(&str) -> String,
        label: impl Fn(&str) -> String,
    ) -> Result<Vec<RunEntry>> {
        let mut out = Vec::new();
        for f in files {
            let records = records_stem(f);
            let stem = stem_of(&records);
            let prov = RunProvenance::load(dir, &stem)?;
            if prov.is_none() && !records.contains(".shard-") {
                let shards = load_matching(dir, &format!("{stem}.shard-"))?;
                if !shards.is_empty() {
                    out.extend(shards);
                    continue;
                }
            }
            out.push(RunEntry {
                label: label(&records),
                stem,
                prov,
            });
        }
        Ok(out)
    }

    /// Copies the provenance of `runs` into `dir` (next to the merged
    /// records there).
    pub fn copy_to(runs: &[RunEntry], dir: &Path) -> Result<()> {
        for r in runs {
            if let Some(p) = &r.prov {
                p.save(dir, &r.stem)?;
            }
        }
        Ok(())
    }

    /// A report bullet for one run: what it covers, command, commit,
    /// machine, wall, CPU and load; or that it has no provenance file.
    pub fn bullet(r: &RunEntry) -> String {
        let Some(p) = &r.prov else {
            return format!(
                "* Run `{}` ({}): no provenance file: computed before provenance was recorded.\n",
                r.stem, r.label
            );
        };
        format!(
            "* Run `{}` ({}): command `{}`; commit `{}`; machine: {}{}; finished {}{}; wall time **{:.1} s**, \
             CPU time (user + system) {}; load average (1/5/15 min) {} at the start, {} at the end.\n",
            r.stem,
            r.covers(),
            p.command,
            p.commit,
            p.machine,
            p.rayon_threads
                .as_deref()
                .map(|t| format!(", RAYON_NUM_THREADS={t}"))
                .unwrap_or_default(),
            p.finished,
            p.source
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            p.wall.as_secs_f64(),
            p.cpu.map_or("unknown".into(), |c| format!("{c:.0} s")),
            p.load_before,
            p.load_after
        )
    }

    /// The one line on the commits of `runs`: "All records were computed
    /// at commit X." or "Mixed commits: …" (which run at which commit; a
    /// run without a provenance file counts as unknown).
    pub fn commits_line(runs: &[RunEntry]) -> String {
        let commits: Vec<Option<&str>> = runs
            .iter()
            .map(|r| r.prov.as_ref().map(|p| p.commit.as_str()))
            .collect();
        if runs.is_empty() || commits.iter().all(|c| c.is_none()) {
            return "* Commit of the records: unknown (no provenance file: computed before provenance \
                    was recorded).\n"
                .into();
        }
        let first = commits[0];
        if first.is_some() && commits.iter().all(|c| *c == first) {
            return format!(
                "* All records were computed at commit `{}`.\n",
                first.unwrap_or_default()
            );
        }
        format!(
            "* **Mixed commits:** the records were computed at different commits ({}); each part is \
             re-derived from its own records, whose headers carry the full configuration of their run. \
             Only the rendering of the tables and verdicts is at this report's commit.\n",
            runs.iter()
                .zip(&commits)
                .map(|(r, c)| match c {
                    Some(c) => format!("{}: `{c}`", r.covers()),
                    None => format!("{}: unknown (no provenance file)", r.covers()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// One bullet per run, then the commits line.
    pub fn section(runs: &[RunEntry]) -> String {
        let mut md = String::new();
        for r in runs {
            md.push_str(&bullet(r));
        }
        if runs.is_empty() {
            md.push_str(
                "* No records' provenance file found: computed before provenance was recorded.\n",
            );
        }
        let _ = write!(md, "{}", commits_line(runs));
        md
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_run_cites_the_commit_it_started_at() {
            assert_eq!(cited_commit("abc", "abc"), "abc");
            let moved = cited_commit("abc", "def");
            assert!(moved.starts_with("abc "), "{moved}");
            assert!(moved.contains("changed to `def`"), "{moved}");
        }

        fn prov(commit: &str) -> RunProvenance {
            RunProvenance {
                covers: Some(format!("part at {commit}")),
                wall: Duration::from_secs_f64(12.5),
                load_before: "1 / 2 / 3".into(),
                load_after: "4 / 5 / 6".into(),
                cpu: Some(20.0),
                command: "cargo run -- --shard 0/2".into(),
                commit: commit.into(),
                machine: "m".into(),
                rayon_threads: Some("1".into()),
                finished: "2026-01-01 00:00 UTC".into(),
                source: None,
                stages: vec![("explain 3 images: lime".into(), 1.5)],
            }
        }

        #[test]
        fn provenance_round_trips_and_is_found_next_to_its_records() {
            let dir = std::env::temp_dir().join(format!("common_prov_{}", std::process::id()));
            let p = prov("abc");
            let path = p.save(&dir, "x.shard-0-of-2").unwrap();
            assert!(path.ends_with("x.shard-0-of-2.run.json"));
            assert_eq!(
                RunProvenance::load(&dir, "x.shard-0-of-2").unwrap(),
                Some(p.clone())
            );
            assert_eq!(RunProvenance::load(&dir, "none").unwrap(), None);
            let files = [
                dir.join("x.shard-0-of-2.jsonl"),
                dir.join("x.shard-1-of-2.jsonl"),
            ];
            let runs = for_records(&dir, &files, |s| s.to_string(), |s| s.to_string()).unwrap();
            assert_eq!(runs[0].prov, Some(p.clone()));
            assert_eq!(runs[1].prov, None);
            let md = section(&runs);
            assert!(
                md.contains("no provenance file: computed before provenance was recorded"),
                "{md}"
            );
            assert!(
                md.contains("part at abc: `abc`, x.shard-1-of-2: unknown"),
                "{md}"
            );
            // Merged records re-derived from a folder with the shards' files.
            let merged = for_records(
                &dir,
                &[dir.join("x.jsonl")],
                |s| s.to_string(),
                |s| s.to_string(),
            )
            .unwrap();
            assert_eq!(merged.len(), 1);
            assert_eq!(merged[0].stem, "x.shard-0-of-2");
            let _ = std::fs::remove_dir_all(&dir);
        }

        #[test]
        fn one_commit_or_mixed_commits_are_stated() {
            let entry = |stem: &str, commit: &str| RunEntry {
                stem: stem.into(),
                label: stem.into(),
                prov: Some(prov(commit)),
            };
            let same = commits_line(&[entry("a", "abc"), entry("b", "abc")]);
            assert_eq!(same, "* All records were computed at commit `abc`.\n");
            let mixed = commits_line(&[entry("a", "abc"), entry("b", "def")]);
            assert!(mixed.starts_with("* **Mixed commits:**"), "{mixed}");
            assert!(
                mixed.contains("part at abc: `abc`, part at def: `def`"),
                "{mixed}"
            );
            let none = commits_line(&[]);
            assert!(none.contains("unknown"), "{none}");
        }
    }
}

/// The models trained on the shipped localization set, shared by the
/// reproductions that run on it (Bykov et al. 2022, Gattas 2020): what
/// each runner needs to know about an architecture that is not specific to
/// that runner (its records' names and layer choices are).
pub mod loc_arch {
    use salience::models::{assets, FeatureCnnConfig, ResNetConfig};

    /// An architecture trained on the localization set.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum LocArch {
        /// `assets::resnet_small` (`ResNetConfig::small()`).
        ResNet,
        /// `assets::vgg_small_loc` (`FeatureCnnConfig::small_vgg()`, no
        /// batch norm).
        Vgg,
    }

    impl LocArch {
        /// Every architecture, in report order.
        pub const ALL: [LocArch; 2] = [LocArch::ResNet, LocArch::Vgg];

        /// The `--model` value.
        pub fn key(self) -> &'static str {
            match self {
                LocArch::ResNet => "resnet",
                LocArch::Vgg => "vgg",
            }
        }

        /// The display name.
        pub fn name(self) -> &'static str {
            match self {
                LocArch::ResNet => "small ResNet",
                LocArch::Vgg => "small VGG",
            }
        }

        /// The architecture family.
        pub fn family(self) -> &'static str {
            match self {
                LocArch::ResNet => "ResNet",
                LocArch::Vgg => "VGG",
            }
        }

        /// Number of parameters.
        pub fn num_parameters(self) -> usize {
            match self {
                LocArch::ResNet => ResNetConfig::small().num_parameters(),
                LocArch::Vgg => FeatureCnnConfig::small_vgg().num_parameters(),
            }
        }

        /// The held-out accuracy recorded when the shipped weights were
        /// trained (2000 generated images).
        pub fn held_out_accuracy(self) -> f64 {
            match self {
                LocArch::ResNet => assets::RESNET_SMALL_HELD_OUT_ACCURACY,
                LocArch::Vgg => assets::VGG_SMALL_LOC_HELD_OUT_ACCURACY,
            }
        }

        /// The shipped weights (safetensors).
        pub fn weights(self) -> &'static [u8] {
            match self {
                LocArch::ResNet => assets::RESNET_SMALL_SAFETENSORS,
                LocArch::Vgg => assets::VGG_SMALL_LOC_SAFETENSORS,
            }
        }

        /// The architectures a `--model` value selects (`all` or a key).
        pub fn parse_list(s: &str) -> Result<Vec<LocArch>, String> {
            match s {
                "all" => Ok(LocArch::ALL.to_vec()),
                _ => LocArch::ALL
                    .into_iter()
                    .find(|a| a.key() == s)
                    .map(|a| vec![a])
                    .ok_or_else(|| format!("--model: `{s}`; expected resnet, vgg or all")),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn model_values_select_architectures() {
            assert_eq!(LocArch::parse_list("all").unwrap(), LocArch::ALL.to_vec());
            assert_eq!(LocArch::parse_list("vgg").unwrap(), vec![LocArch::Vgg]);
            assert_eq!(
                LocArch::parse_list("resnet").unwrap(),
                vec![LocArch::ResNet]
            );
            assert!(LocArch::parse_list("vit").is_err());
            assert_eq!(LocArch::Vgg.num_parameters(), 397_930);
        }
    }
}
