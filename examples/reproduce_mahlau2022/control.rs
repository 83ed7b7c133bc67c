//! The insertion-baseline control (issue 23): Expected Gradients
//! integrates from random-normal baselines, the same kind of image the
//! default insertion / deletion curves start from or end at. Every Table 1
//! row is therefore also scored with a black (zero) and a blurred baseline,
//! and "Expected Gradients beats the Average" is tested under each.

use crate::catalogue::{self, METHODS};
use crate::common::claims;
use crate::report::{table1_rows, Col, Data};
use salience::metrics::verdict::{Claim, Comparison, Direction, Verdict};
use salience::metrics::{Baseline, CurveConfig, Summary};
use salience::Normalization;
use std::fmt::Write as _;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The baselines of the control: (metric suffix, label). The suffix is
/// empty for the default (random-normal) curves, whose metrics are plain
/// `insertion` / `deletion`.
pub const BASELINES: [(&str, &str); 3] = [
    ("", "random normal"),
    ("black", "black"),
    ("blur", "blurred"),
];

/// The record metric of `base` ("insertion" / "deletion") under the
/// baseline `suffix`.
pub fn metric(base: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        base.to_string()
    } else {
        format!("{base}_{suffix}")
    }
}

/// The blur of the control in words, read from the configuration itself.
fn blur_words(blur: &CurveConfig) -> String {
    match blur.baseline {
        Baseline::Blur { sigma, kernel_size } => format!(
            "the image blurred with a Gaussian of σ = {sigma} px ({kernel_size} × {kernel_size} kernel, \
             reflect border; `CurveConfig::petsiuk_insertion`'s baseline)"
        ),
        other => format!("{other:?}"),
    }
}

/// The index of Expected Gradients in [`METHODS`].
fn eg() -> Result<usize> {
    METHODS
        .iter()
        .position(|m| *m == "Expected Gradients")
        .ok_or_else(|| "no Expected Gradients in the panel".into())
}

/// "Expected Gradients beats the Average" under the baseline `suffix`:
/// insertion higher and deletion lower, paired by image, Holm across the
/// two comparisons.
pub fn eg_claim(data: &Data, suffix: &str) -> Result<Claim> {
    let eg_key = catalogue::method_key(eg()?);
    let avg = data.full(Normalization::ZScore, "mean");
    let mut comparisons = Vec::new();
    for (base, col) in [("insertion", Col::Ins), ("deletion", Col::Del)] {
        let m = metric(base, suffix);
        let (a, b) = (data.get(&eg_key, &m)?, data.get(&avg, &m)?);
        comparisons.push(Comparison::paired(
            &format!("Expected Gradients ({base})"),
            &format!("Average ({base})"),
            Direction::better(col != Col::Del),
            &a,
            &b,
        ));
    }
    Ok(Claim { comparisons })
}

/// The computed verdict of [`eg_claim`] (inconclusive when no test runs).
pub fn eg_verdict(data: &Data, suffix: &str) -> Result<Verdict> {
    Ok(claims::evaluate(&eg_claim(data, suffix)?).map_or(Verdict::Inconclusive, |r| r.verdict))
}

/// One sentence for the "why results differ" paragraph: whether EG
/// beats the Average under the default, the black and the blurred
/// baseline (every verdict computed).
pub fn sentence(data: &Data) -> Result<String> {
    let mut parts = Vec::new();
    for (suffix, label) in BASELINES {
        parts.push(format!("{label}: **{}**", eg_verdict(data, suffix)?));
    }
    Ok(format!(
        "Expected Gradients integrates from random-normal baselines — the same kind of image the default insertion / deletion curves start from \
         (insertion) or end at (deletion). The baseline control (section «Baseline control» above) scores every Table 1 row again with a \
         black and a blurred baseline; \"Expected Gradients beats the Average (insertion and deletion, Holm)\" \
         — {}.",
        parts.join(", ")
    ))
}

/// The Markdown section: a table of every Table 1 row under the three
/// baselines and the EG-vs-Average verdict per baseline.
pub fn section(data: &Data, blur: &CurveConfig) -> Result<String> {
    let n = data.samples.len();
    let mut md =
        String::from("\n## Baseline control: black and blurred insertion / deletion baselines\n\n");
    let _ = writeln!(
        md,
        "Every Table 1 row (z-scored aggregates, raw base maps) scored with three baselines on the same {n} \
         images and pixel orders: the default random-normal draw (Table 1), the black image (every pixel 0) and \
         {}. Mean (standard error) over images; best of each column in bold.\n",
        blur_words(blur)
    );
    md.push_str("| method |");
    for base in ["insertion ↑", "deletion ↓"] {
        for (_, label) in BASELINES {
            let _ = write!(md, " {base}, {label} |");
        }
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(2 * BASELINES.len()));
    md.push('\n');
    let rows = table1_rows(data.all);
    let mut cells: Vec<Vec<Summary>> = Vec::new();
    for (_, key) in &rows {
        let mut row = Vec::new();
        if data.na_reason(key).is_some() {
            cells.push(row);
            continue;
        }
        for base in ["insertion", "deletion"] {
            for (suffix, _) in BASELINES {
                row.push(Summary::of(&data.get(key, &metric(base, suffix))?));
            }
        }
        cells.push(row);
    }
    let width = 2 * BASELINES.len();
    let bests: Vec<Option<usize>> = (0..width)
        .map(|j| {
            let higher = j < BASELINES.len();
            let mut best: Option<(usize, f64)> = None;
            for (i, r) in cells.iter().enumerate() {
                let Some(v) = r.get(j).map(|s| s.mean) else {
                    continue;
                };
                if best.is_none_or(|(_, b)| if higher { v > b } else { v < b }) {
                    best = Some((i, v));
                }
            }
            best.map(|b| b.0)
        })
        .collect();
    for (i, ((label, key), row)) in rows.iter().zip(&cells).enumerate() {
        let _ = write!(md, "| {label} |");
        if let Some(reason) = data.na_reason(key) {
            let _ = write!(md, " n/a ({reason}) |");
            md.push_str(&" n/a |".repeat(width - 1));
            md.push('\n');
            continue;
        }
        for (j, s) in row.iter().enumerate() {
            let t = format!("{:.4} ({:.4})", s.mean, s.sem);
            if bests[j] == Some(i) {
                let _ = write!(md, " **{t}** |");
            } else {
                let _ = write!(md, " {t} |");
            }
        }
        md.push('\n');
    }
    md.push_str(
        "\n**Does Expected Gradients still beat the Average?** Tested per baseline: Expected Gradients' \
         insertion higher and deletion lower than the z-scored Average's, paired by image, Holm across the two.\n\n\
         | baseline | verdict |\n|---|---|\n",
    );
    for (suffix, label) in BASELINES {
        let _ = writeln!(
            md,
            "| {label} | {} |",
            claims::cell(&eg_claim(data, suffix)?)
        );
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use salience::report::records::{Merged, Record, RunHeader};

    /// EG better than the Average on every image under the random-normal
    /// baseline, identical to it under the black one (ties never agree),
    /// worse under the blurred one.
    #[test]
    fn eg_verdict_follows_each_baseline() {
        let eg = catalogue::method_key(eg().unwrap());
        let avg = catalogue::key(Normalization::ZScore, "mean", catalogue::ALL);
        // (no unsupported methods in the header: the ensemble is ALL)
        let mut records = Vec::new();
        for i in 0..40 {
            let base = 0.3 + i as f64 / 200.0;
            for (suffix, d) in [("", 0.1), ("black", 0.0), ("blur", -0.1)] {
                let jitter = (i % 7) as f64 / 1000.0;
                records.push(Record::new(i, &avg, &metric("insertion", suffix), base));
                records.push(Record::new(
                    i,
                    &eg,
                    &metric("insertion", suffix),
                    base + d + jitter,
                ));
                records.push(Record::new(i, &avg, &metric("deletion", suffix), base));
                records.push(Record::new(
                    i,
                    &eg,
                    &metric("deletion", suffix),
                    base - d - jitter,
                ));
            }
        }
        let data = Data::new(&Merged {
            header: RunHeader::new("t", 40, 0, salience::report::Shard::all(), ""),
            records,
        });
        assert_eq!(eg_verdict(&data, "").unwrap(), Verdict::Agrees);
        // Identical scores on every image: a tie never agrees.
        let tie = {
            let mut r = Vec::new();
            for i in 0..40 {
                for (m, k) in [
                    ("insertion", &eg),
                    ("insertion", &avg),
                    ("deletion", &eg),
                    ("deletion", &avg),
                ] {
                    r.push(Record::new(i, k, &metric(m, "black"), 0.5));
                }
            }
            Data::new(&Merged {
                header: RunHeader::new("t", 40, 0, salience::report::Shard::all(), ""),
                records: r,
            })
        };
        assert_eq!(eg_verdict(&tie, "black").unwrap(), Verdict::Inconclusive);
        assert_eq!(eg_verdict(&data, "blur").unwrap(), Verdict::Disagrees);
        let s = sentence(&data).unwrap();
        assert!(s.contains("random normal: **agrees**"), "{s}");
        assert!(s.contains("blurred: **disagrees**"), "{s}");
    }
}
