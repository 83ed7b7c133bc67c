//! `ScoreTable`: layout of the text and Markdown renderings, best-cell
//! marking and typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use salience_metrics::{Better, ScoreTable, Scores, Summary};

fn table() -> ScoreTable {
    let mut t =
        ScoreTable::new(&[("insertion", Better::Higher), ("deletion", Better::Lower)]).unwrap();
    t.push_row(
        "saliency",
        vec![
            Some(Scores::new(vec![0.2, 0.4]).unwrap().summary()),
            Some(Summary::of(&[0.30])),
        ],
    )
    .unwrap();
    t.push_row("AGG_opt", vec![Some(Summary::of(&[0.5, 0.5])), None])
        .unwrap();
    t
}

#[test]
fn text_is_aligned_with_mean_and_sample_std() {
    let text = table().to_text(3).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    // Every line has the same display width.
    let w = lines[0].chars().count();
    assert!(lines.iter().all(|l| l.chars().count() == w), "{text}");
    assert!(lines[1].chars().all(|c| c == '-'));
    // mean 0.3, sample std √0.02 = 0.141.
    assert!(lines[2].starts_with("saliency"));
    assert!(lines[2].contains("0.300 ± 0.141"));
    assert!(lines[2].ends_with("0.300 ± 0.000"));
    assert!(lines[3].ends_with('—'));
}

#[test]
fn markdown_marks_the_best_of_each_column() {
    let md = table().to_markdown(2).unwrap();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "| method | insertion ↑ | deletion ↓ |");
    assert_eq!(lines[1], "|---|---:|---:|");
    assert_eq!(lines[2], "| saliency | 0.30 ± 0.14 | **0.30 ± 0.00** |");
    assert_eq!(lines[3], "| AGG_opt | **0.50 ± 0.00** | — |");
}

#[test]
fn best_follows_the_direction() {
    let mut t = ScoreTable::new(&[("up", Better::Higher), ("down", Better::Lower)]).unwrap();
    for (name, v) in [("a", 1.0), ("b", 3.0), ("c", 2.0)] {
        t.push_row(name, vec![Some(Summary::of(&[v])), Some(Summary::of(&[v]))])
            .unwrap();
    }
    assert_eq!(t.best(0), Some(1));
    assert_eq!(t.best(1), Some(0));
    assert_eq!(t.best(2), None);
}

#[test]
fn bad_rows_are_typed_errors() {
    let mut t = table();
    assert!(matches!(
        t.push_row("x", vec![None]),
        Err(salience_core::SalienceError::ShapeMismatch { .. })
    ));
    let nan = Summary {
        n: 1,
        mean: f64::NAN,
        std: 0.0,
        sem: 0.0,
    };
    assert!(t.push_row("x", vec![Some(nan), None]).is_err());
    assert_eq!(t.rows().len(), 2);
}

#[test]
fn huge_precision_is_a_typed_error_not_a_panic() {
    // Before: to_text / to_markdown panicked in the formatter above 65 535.
    let t = table();
    for d in [
        salience_metrics::table::MAX_DECIMALS + 1,
        65_536,
        usize::MAX,
    ] {
        assert!(matches!(
            t.to_text(d),
            Err(salience_core::SalienceError::InvalidParameter { .. })
        ));
        assert!(matches!(
            t.to_markdown(d),
            Err(salience_core::SalienceError::InvalidParameter { .. })
        ));
    }
    let md = t
        .to_markdown(salience_metrics::table::MAX_DECIMALS)
        .unwrap();
    // Two cells of mean ± std with 64 decimals each.
    assert!(md.lines().nth(2).unwrap().len() > 4 * 64, "{md}");
}
