//! Sharded runs merge into exactly the unsharded run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use rand::RngExt;
use salience_core::seed;
use salience_report::records::{
    merge, read_records, shard_files, write_records, Record, RunHeader,
};
use salience_report::Shard;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("salience-records-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A toy "evaluation": per sample, two methods × two metrics whose values
/// come from the sample's own seeded stream (as every salience metric's do).
fn evaluate(sample: usize, run_seed: u64) -> Vec<Record> {
    let mut r = seed::rng(Shard::sample_seed(run_seed, sample));
    let mut out = Vec::new();
    for method in ["ig", "agg_opt"] {
        for metric in ["infidelity", "sensitivity"] {
            let v: f64 = r.random::<f64>() * 10.0 - 5.0;
            out.push(Record::new(sample, method, metric, v / 3.0));
        }
    }
    out
}

fn run(dir: &Path, n: usize, run_seed: u64, shard: Shard) -> PathBuf {
    let header = RunHeader::new("toy", n, run_seed, shard, "ig,agg_opt");
    let recs: Vec<Record> = shard.range(n).flat_map(|i| evaluate(i, run_seed)).collect();
    write_records(dir, &header, &recs).expect("write")
}

#[test]
fn merged_shards_equal_the_unsharded_run_byte_for_byte() {
    for (n, count) in [(17usize, 4usize), (5, 5), (3, 7), (40, 1)] {
        let dir = tmp(&format!("eq-{n}-{count}"));
        let whole_dir = dir.join("whole");
        let whole = run(&whole_dir, n, 11, Shard::all());
        // Shards written in a scrambled order.
        let mut order: Vec<usize> = (0..count).collect();
        order.reverse();
        for i in order {
            run(&dir, n, 11, Shard::new(i, count).expect("shard"));
        }
        let files = if count == 1 {
            vec![dir.join("toy.jsonl")]
        } else {
            shard_files(&dir, "toy").expect("files")
        };
        let merged = merge(&files).expect("merge");
        let (h, recs) = read_records(&whole).expect("read");
        assert_eq!(merged.header, h);
        assert_eq!(merged.records, recs);
        let again = write_records(&dir.join("merged"), &merged.header, &merged.records)
            .expect("write merged");
        assert_eq!(
            std::fs::read(&again).expect("read"),
            std::fs::read(&whole).expect("read"),
            "n {n}, {count} shards"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn merge_rejects_missing_duplicate_foreign_and_incomplete_shards() {
    let dir = tmp("bad");
    let a = run(&dir, 10, 1, Shard::new(0, 3).expect("shard"));
    let b = run(&dir, 10, 1, Shard::new(1, 3).expect("shard"));
    let c = run(&dir, 10, 1, Shard::new(2, 3).expect("shard"));
    assert!(merge(&[a.clone(), b.clone(), c.clone()]).is_ok());
    assert!(merge(&[a.clone(), b.clone()]).is_err(), "missing shard");
    assert!(
        merge(&[a.clone(), b.clone(), b.clone()]).is_err(),
        "duplicate"
    );
    assert!(merge(&[]).is_err());
    // Another seed is another run.
    let other = tmp("bad-other");
    let c2 = run(&other, 10, 2, Shard::new(2, 3).expect("shard"));
    assert!(merge(&[a.clone(), b.clone(), c2]).is_err(), "foreign shard");
    // An interrupted shard (no footer) does not merge.
    let text = std::fs::read_to_string(&c).expect("read");
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&c, cut[..cut.len() - 1].join("\n")).expect("write");
    assert!(read_records(&c).is_err());
    assert!(merge(&[a, b, c]).is_err(), "incomplete shard");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

/// Issue 19: a run name such as "../escaped-run" wrote outside `dir`.
#[test]
fn write_records_rejects_run_names_that_leave_the_directory() {
    let root = tmp("escape");
    let dir = root.join("inner");
    for name in ["../escaped-run", "a/b", "a\\b", "", "..", "x\0y", "/abs"] {
        let h = RunHeader::new(name, 1, 0, Shard::all(), "");
        let e = write_records(&dir, &h, &[Record::new(0, "m", "x", 1.0)]);
        assert!(e.is_err(), "{name:?} accepted");
        assert!(e.unwrap_err().to_string().contains("run name"));
    }
    assert!(!root.join("escaped-run.jsonl").exists());
    assert!(!dir.exists(), "nothing is created for a rejected name");
    let _ = std::fs::remove_dir_all(&root);
}

/// Writes `lines` to a fresh file and reads it back.
fn read_lines(name: &str, lines: &[&str]) -> salience_core::Result<(RunHeader, Vec<Record>)> {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join("f.jsonl");
    std::fs::write(&p, lines.join("\n")).expect("write");
    let out = read_records(&p);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

const FOOTER_1: &str = r#"{"run_footer":{"records":1}}"#;
const RECORD_0: &str = r#"{"sample":0,"method":"m","metric":"x","value":1.5}"#;

/// Issue 19: `read_records` accepted a 3/2 shard header and a sample
/// index beyond `n_samples`, which `merge` rejects.
#[test]
fn read_records_applies_the_merge_checks() {
    let h32 = r#"{"run_header":{"run":"t","n_samples":4,"seed":0,"shard":{"index":3,"count":2},"config":""}}"#;
    let e = read_lines("h32", &[h32, RECORD_0, FOOTER_1]).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    let h00 = r#"{"run_header":{"run":"t","n_samples":4,"seed":0,"shard":{"index":0,"count":0},"config":""}}"#;
    assert!(read_lines("h00", &[h00, RECORD_0, FOOTER_1]).is_err());
    let h = r#"{"run_header":{"run":"t","n_samples":4,"seed":0,"shard":{"index":1,"count":2},"config":""}}"#;
    // Shard 1/2 of 4 samples holds 2..4: sample 0 and sample 9 are outside.
    let e = read_lines("out0", &[h, RECORD_0, FOOTER_1]).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let r9 = r#"{"sample":9,"method":"m","metric":"x","value":1.5}"#;
    assert!(read_lines("out9", &[h, r9, FOOTER_1]).is_err());
    let r3 = r#"{"sample":3,"method":"m","metric":"x","value":1.5}"#;
    let (hd, recs) = read_lines("in3", &[h, r3, FOOTER_1]).expect("valid");
    assert_eq!((hd.shard.index, recs[0].sample), (1, 3));
}

/// Issue 19: a leading blank line made the header line 2 and reported
/// "line 2: not a record"; blank lines are now skipped everywhere.
#[test]
fn read_records_skips_blank_lines_and_numbers_lines_of_the_file() {
    let h = r#"{"run_header":{"run":"t","n_samples":1,"seed":0,"shard":{"index":0,"count":1},"config":""}}"#;
    let (hd, recs) = read_lines("blank", &["", "  ", h, "", RECORD_0, "", FOOTER_1, ""])
        .expect("blank lines are skipped");
    assert_eq!((hd.run.as_str(), recs.len()), ("t", 1));
    let e = read_lines("blank-bad", &["", h, "garbage", FOOTER_1]).unwrap_err();
    assert!(e.to_string().contains("line 3: not a record"), "{e}");
    let e = read_lines("blank-header", &["", "garbage"]).unwrap_err();
    assert!(e.to_string().contains("line 2: not a run header"), "{e}");
}
