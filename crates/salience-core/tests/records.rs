//! Sharded runs merge into exactly the unsharded run.

use rand::RngExt;
use salience_core::records::{merge, read_records, shard_files, write_records, Record, RunHeader};
use salience_core::{seed, Shard};
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
