//! Per-sample result records of a (possibly sharded) run, as JSON lines,
//! and the merge step that puts the shards back together.
//!
//! Each shard writes one file (name from [`Shard::file_name`]):
//!
//! ```text
//! {"run_header":{"run":"table1","n_samples":200,"seed":0,"shard":{"index":1,"count":4},"config":"..."}}
//! {"sample":50,"method":"ig","metric":"insertion_auc","value":0.4375}
//! ...
//! {"run_footer":{"records":1234}}
//! ```
//!
//! Record lines are flat, so `pandas.read_json(path, lines=True)` reads
//! them (header and footer lines come out as rows with those keys).
//! Floats round-trip exactly (serde_json with `float_roundtrip`). A file
//! without its footer is an interrupted shard and does not merge.
//! [`merge`] checks that the shards belong to the same run (name, sample
//! count, seed, configuration, shard count), that every shard is present
//! exactly once and complete, and that every record lies in its shard's
//! range; it returns the records ordered by sample (stable, so records of
//! one sample keep their order). With per-sample seeds
//! ([`Shard::sample_seed`]) the merged records equal those of the
//! unsharded run exactly, and [`write_records`] of the merge is the same
//! file, byte for byte, as the unsharded run's.
//!
//! ```
//! use salience_report::records::{merge, write_records, Record, RunHeader};
//! use salience_report::Shard;
//! let dir = std::env::temp_dir().join(format!("salience-doc-records-{}", std::process::id()));
//! let score = |sample: usize| Shard::sample_seed(3, sample) as f64 / u64::MAX as f64;
//! let run = |shard: Shard| -> salience_core::Result<std::path::PathBuf> {
//!     let header = RunHeader::new("demo", 5, 3, shard, "method=x");
//!     let recs: Vec<Record> = shard.range(5).map(|i| Record::new(i, "x", "score", score(i))).collect();
//!     write_records(&dir, &header, &recs)
//! };
//! let whole = run(Shard::all())?;
//! let parts = vec![run(Shard::new(0, 2)?)?, run(Shard::new(1, 2)?)?];
//! let merged = merge(&parts)?;
//! assert_eq!(merged.records.len(), 5);
//! assert_eq!(merged.records, salience_report::records::read_records(&whole)?.1);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use salience_core::validate::check_file_name;
use salience_core::{Result, SalienceError};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

mod shard;
pub use shard::Shard;

/// What identifies a run; every shard file starts with it and shards of
/// the same run must agree on everything but `shard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHeader {
    /// The run's name (also the file stem).
    pub run: String,
    /// Number of samples of the whole run.
    pub n_samples: usize,
    /// The run seed (per-sample seeds derive from it).
    pub seed: u64,
    /// Which shard this file holds.
    pub shard: ShardId,
    /// A free-form description of the configuration (methods, metric
    /// settings, ...); shards with different configurations do not merge.
    pub config: String,
}

/// [`Shard`] as stored in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardId {
    /// Shard index (0-based).
    pub index: usize,
    /// Shard count.
    pub count: usize,
}

impl From<Shard> for ShardId {
    fn from(s: Shard) -> Self {
        ShardId {
            index: s.index(),
            count: s.count(),
        }
    }
}

impl RunHeader {
    /// A header for shard `shard` of run `run` over `n_samples` samples.
    ///
    /// ```
    /// use salience_report::{records::RunHeader, Shard};
    /// let h = RunHeader::new("table1", 200, 0, Shard::all(), "ig,saliency");
    /// assert_eq!(h.shard.count, 1);
    /// ```
    pub fn new(run: &str, n_samples: usize, seed: u64, shard: Shard, config: &str) -> Self {
        RunHeader {
            run: run.to_string(),
            n_samples,
            seed,
            shard: shard.into(),
            config: config.to_string(),
        }
    }

    /// The shard, validated.
    pub fn shard(&self) -> Result<Shard> {
        Shard::new(self.shard.index, self.shard.count)
    }
}

/// One measured value: `metric` of `method` on sample `sample`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sample index in the whole run.
    pub sample: usize,
    /// Method (explainer or aggregate) name.
    pub method: String,
    /// Metric name.
    pub metric: String,
    /// The value (finite).
    pub value: f64,
}

impl Record {
    /// A record.
    ///
    /// ```
    /// let r = salience_report::records::Record::new(3, "ig", "infidelity", 0.25);
    /// assert_eq!((r.sample, r.value), (3, 0.25));
    /// ```
    pub fn new(sample: usize, method: &str, metric: &str, value: f64) -> Self {
        Record {
            sample,
            method: method.to_string(),
            metric: metric.to_string(),
            value,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct HeaderLine {
    run_header: RunHeader,
}

#[derive(Serialize, Deserialize)]
struct FooterLine {
    run_footer: Footer,
}

#[derive(Serialize, Deserialize)]
struct Footer {
    records: usize,
}

fn io_err(
    action: &'static str,
    path: &Path,
    e: impl Into<salience_core::BoxedError>,
) -> SalienceError {
    SalienceError::io_invalid(action, path, e)
}

/// Writes `records` of one shard to `dir/<shard file name>` (creating
/// `dir`), with the header and the footer, and returns the path.
///
/// Errors: a run name that is not a plain file name (empty, or with `/`,
/// `\`, NUL or `..`; see [`salience_core::validate::check_file_name`]), so the
/// file is always written inside `dir`; a record outside the shard's range
/// of `0..n_samples`, a non-finite value, an invalid shard in the header,
/// or an I/O failure.
///
/// ```
/// use salience_report::records::{write_records, Record, RunHeader};
/// let dir = std::env::temp_dir().join(format!("salience-doc-write-{}", std::process::id()));
/// let h = RunHeader::new("t", 2, 0, salience_report::Shard::all(), "");
/// let p = write_records(&dir, &h, &[Record::new(0, "a", "m", 1.5), Record::new(1, "a", "m", 2.0)])?;
/// assert!(p.ends_with("t.jsonl"));
/// assert!(write_records(&dir, &h, &[Record::new(2, "a", "m", 1.0)]).is_err()); // sample 2 of 2
/// assert!(write_records(&dir, &h, &[Record::new(0, "a", "m", f64::NAN)]).is_err());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn write_records(dir: &Path, header: &RunHeader, records: &[Record]) -> Result<PathBuf> {
    check_file_name(&header.run, "run name")?;
    let shard = header.shard()?;
    for r in records {
        check_in_shard(header, shard, r)?;
        if !r.value.is_finite() {
            return Err(SalienceError::NonFinite {
                context: format!(
                    "record value of sample {}, method {}, metric {}",
                    r.sample, r.method, r.metric
                ),
                index: r.sample,
                value: r.value as f32,
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    let path = dir.join(shard.file_name(&header.run));
    let file = std::fs::File::create(&path).map_err(|e| io_err("writing", &path, e))?;
    let mut w = BufWriter::new(file);
    let mut line = |v: &dyn erased::Json| -> Result<()> {
        let text = v.to_json().map_err(|e| io_err("writing", &path, e))?;
        writeln!(w, "{text}").map_err(|e| io_err("writing", &path, e))
    };
    line(&HeaderLine {
        run_header: header.clone(),
    })?;
    for r in records {
        line(r)?;
    }
    line(&FooterLine {
        run_footer: Footer {
            records: records.len(),
        },
    })?;
    w.flush().map_err(|e| io_err("writing", &path, e))?;
    Ok(path)
}

/// An error unless `r.sample` lies in `shard`'s range of the run's
/// `0..n_samples`.
fn check_in_shard(header: &RunHeader, shard: Shard, r: &Record) -> Result<()> {
    let range = shard.range(header.n_samples);
    if range.contains(&r.sample) {
        return Ok(());
    }
    Err(SalienceError::invalid(
        "record sample",
        r.sample,
        &format!(
            "shard {shard} of a run over {} samples holds samples {range:?}",
            header.n_samples
        ),
    ))
}

mod erased {
    /// Object-safe serialization to one JSON line.
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

/// Reads one shard file: its header and records. Errors if the file is
/// missing, malformed, lacks its header or footer (an interrupted run),
/// its footer's count disagrees with the records read, its header's shard
/// is invalid (`count = 0` or `index ≥ count`), or a record lies outside
/// the shard's range of `0..n_samples` (the checks [`merge`] relies on).
/// Blank lines are skipped anywhere; the header is the first non-blank
/// line, and line numbers in errors count every line of the file.
///
/// ```
/// use salience_report::records::{read_records, write_records, Record, RunHeader};
/// let dir = std::env::temp_dir().join(format!("salience-doc-read-{}", std::process::id()));
/// let h = RunHeader::new("t", 1, 0, salience_report::Shard::all(), "");
/// let p = write_records(&dir, &h, &[Record::new(0, "a", "m", 0.1 + 0.2)])?;
/// let (h2, recs) = read_records(&p)?;
/// assert_eq!((h2, recs[0].value), (h, 0.1 + 0.2)); // exact round trip
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn read_records(path: &Path) -> Result<(RunHeader, Vec<Record>)> {
    let file = std::fs::File::open(path).map_err(|e| io_err("reading", path, e))?;
    let mut header: Option<(RunHeader, Shard)> = None;
    let mut records = Vec::new();
    let mut footer: Option<usize> = None;
    for (k, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_err("reading", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| io_err("reading", path, format!("line {}: {what}", k + 1));
        if footer.is_some() {
            return Err(bad("content after the footer"));
        }
        let Some((h, shard)) = &header else {
            let h: HeaderLine =
                serde_json::from_str(&line).map_err(|e| bad(&format!("not a run header ({e})")))?;
            let shard = h
                .run_header
                .shard()
                .map_err(|e| bad(&format!("invalid run header ({e})")))?;
            header = Some((h.run_header, shard));
            continue;
        };
        if let Ok(f) = serde_json::from_str::<FooterLine>(&line) {
            footer = Some(f.run_footer.records);
        } else {
            let r: Record =
                serde_json::from_str(&line).map_err(|e| bad(&format!("not a record ({e})")))?;
            check_in_shard(h, *shard, &r).map_err(|e| bad(&e.to_string()))?;
            records.push(r);
        }
    }
    let (header, _) =
        header.ok_or_else(|| io_err("reading", path, "empty file (no run header)"))?;
    match footer {
        Some(n) if n == records.len() => Ok((header, records)),
        Some(n) => Err(io_err(
            "reading",
            path,
            format!(
                "the footer counts {n} records but the file has {}",
                records.len()
            ),
        )),
        None => Err(io_err(
            "reading",
            path,
            "no footer: the shard was interrupted; re-run it",
        )),
    }
}

/// The result of [`merge`]: the run's header (as the unsharded run's)
/// and all records ordered by sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The header of the whole run (`shard` = 0 of 1).
    pub header: RunHeader,
    /// All records, ordered by sample (stable).
    pub records: Vec<Record>,
}

impl Merged {
    /// The values of one (method, metric) pair in sample order.
    ///
    /// ```
    /// use salience_report::records::{Merged, Record, RunHeader};
    /// let m = Merged {
    ///     header: RunHeader::new("t", 2, 0, salience_report::Shard::all(), ""),
    ///     records: vec![Record::new(0, "a", "m", 1.0), Record::new(0, "b", "m", 5.0), Record::new(1, "a", "m", 2.0)],
    /// };
    /// assert_eq!(m.values("a", "m"), vec![1.0, 2.0]);
    /// ```
    pub fn values(&self, method: &str, metric: &str) -> Vec<f64> {
        self.records
            .iter()
            .filter(|r| r.method == method && r.metric == metric)
            .map(|r| r.value)
            .collect()
    }
}

/// Merges the shard files of one run (any order). Errors when the files
/// belong to different runs (name, sample count, seed, configuration or
/// shard count differ), a shard is missing or given twice, a file is
/// incomplete, or a record lies outside its shard's range.
///
/// See the module example.
pub fn merge(paths: &[PathBuf]) -> Result<Merged> {
    let first = paths
        .first()
        .ok_or_else(|| SalienceError::Empty("no shard files to merge".into()))?;
    let mut parts: Vec<(Shard, Vec<Record>)> = Vec::with_capacity(paths.len());
    let mut reference: Option<RunHeader> = None;
    for path in paths {
        let (h, recs) = read_records(path)?;
        let shard = h.shard()?;
        if let Some(r) = &reference {
            let same = r.run == h.run
                && r.n_samples == h.n_samples
                && r.seed == h.seed
                && r.config == h.config
                && r.shard.count == h.shard.count;
            if !same {
                return Err(io_err(
                    "reading",
                    path,
                    format!(
                        "belongs to another run than {}: {h:?} vs {r:?}",
                        first.display()
                    ),
                ));
            }
        } else {
            reference = Some(h.clone());
        }
        // read_records has checked that every record lies in its shard.
        if parts.iter().any(|(s, _)| *s == shard) {
            return Err(io_err(
                "reading",
                path,
                format!("shard {shard} is given twice"),
            ));
        }
        parts.push((shard, recs));
    }
    let mut header =
        reference.ok_or_else(|| SalienceError::Empty("no shard files to merge".into()))?;
    let count = header.shard.count;
    if parts.len() != count {
        let missing: Vec<usize> = (0..count)
            .filter(|i| !parts.iter().any(|(s, _)| s.index() == *i))
            .collect();
        return Err(SalienceError::invalid(
            "shards",
            format!("{} of {count}", parts.len()),
            &format!("every shard must be merged; missing: {missing:?}"),
        ));
    }
    parts.sort_by_key(|(s, _)| s.index());
    let mut records: Vec<Record> = parts.into_iter().flat_map(|(_, r)| r).collect();
    records.sort_by_key(|r| r.sample);
    header.shard = Shard::all().into();
    Ok(Merged { header, records })
}

/// Finds the shard files of run `run` in `dir`
/// (`run.shard-i-of-n.jsonl`), sorted by shard index, for [`merge`].
///
/// ```
/// let dir = std::env::temp_dir().join("salience-doc-no-such-dir");
/// assert!(salience_report::records::shard_files(&dir, "t").is_err());
/// ```
pub fn shard_files(dir: &Path, run: &str) -> Result<Vec<PathBuf>> {
    let prefix = format!("{run}.shard-");
    let mut found: Vec<(usize, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("reading", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err("reading", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let index = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .and_then(|rest| rest.split_once("-of-"))
            .and_then(|(i, _)| i.parse::<usize>().ok());
        if let Some(i) = index {
            found.push((i, entry.path()));
        }
    }
    if found.is_empty() {
        return Err(SalienceError::Empty(format!(
            "no shard files {prefix}*-of-*.jsonl in {}",
            dir.display()
        )));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}
