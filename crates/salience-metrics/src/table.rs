//! [`ScoreTable`]: a method × metric table of [`Summary`] cells (mean ±
//! std over samples), printed as aligned text or as Markdown.
//!
//! Rows are methods (or aggregates), columns are metrics, each with the
//! direction in which it is better ([`Better`]), shown as ↑ / ↓ in the
//! header. A cell may be missing (a metric not computed for that row, or
//! undefined for it); it prints as `—`.
//!
//! ```
//! use salience_metrics::{Better, Scores, ScoreTable};
//! let mut t = ScoreTable::new(&[("insertion", Better::Higher), ("deletion", Better::Lower)])?;
//! let ins = Scores::new(vec![0.5, 0.7])?;
//! t.push_row("saliency", vec![Some(ins.summary()), None])?;
//! let text = t.to_text(3)?;
//! assert!(text.contains("insertion ↑"));
//! assert!(text.contains("0.600 ± 0.141"));
//! assert!(t.to_markdown(3)?.starts_with("| method | insertion ↑ | deletion ↓ |"));
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::scores::Summary;
use salience_core::{Result, SalienceError};

/// The most decimals [`ScoreTable::to_text`] and
/// [`ScoreTable::to_markdown`] print (an f64 has at most 17 significant
/// digits; larger requests are a typed error, where they used to panic in
/// the formatter beyond 65 535).
pub const MAX_DECIMALS: usize = 64;

fn check_decimals(decimals: usize) -> Result<()> {
    if decimals > MAX_DECIMALS {
        return Err(SalienceError::invalid(
            "decimals",
            decimals,
            &format!("must be ≤ {MAX_DECIMALS}"),
        ));
    }
    Ok(())
}

/// Which direction of a metric is better.
///
/// ```
/// assert_eq!(salience_metrics::Better::Higher.arrow(), "↑");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger values are better (insertion AUC, faithfulness correlation).
    Higher,
    /// Smaller values are better (deletion AUC, infidelity, sensitivity).
    Lower,
}

impl Better {
    /// `↑` or `↓`.
    ///
    /// ```
    /// assert_eq!(salience_metrics::Better::Lower.arrow(), "↓");
    /// ```
    pub fn arrow(&self) -> &'static str {
        match self {
            Better::Higher => "↑",
            Better::Lower => "↓",
        }
    }
}

/// A method × metric table. See the [module docs](self).
///
/// ```
/// use salience_metrics::{Better, ScoreTable};
/// let t = ScoreTable::new(&[("gini", Better::Higher)])?;
/// assert_eq!(t.columns().len(), 1);
/// assert!(t.rows().is_empty());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    columns: Vec<(String, Better)>,
    rows: Vec<(String, Vec<Option<Summary>>)>,
}

impl ScoreTable {
    /// A table with these metric columns (at least one, names unique).
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable};
    /// assert!(ScoreTable::new(&[]).is_err());
    /// assert!(ScoreTable::new(&[("a", Better::Higher), ("a", Better::Lower)]).is_err());
    /// ```
    pub fn new(columns: &[(&str, Better)]) -> Result<Self> {
        if columns.is_empty() {
            return Err(SalienceError::Empty("score table without columns".into()));
        }
        for (i, (name, _)) in columns.iter().enumerate() {
            if columns[..i].iter().any(|(n, _)| n == name) {
                return Err(SalienceError::invalid(
                    "column",
                    name,
                    "column names must be unique",
                ));
            }
        }
        Ok(ScoreTable {
            columns: columns.iter().map(|(n, b)| (n.to_string(), *b)).collect(),
            rows: Vec::new(),
        })
    }

    /// Appends a row: one cell per column (`None` for a missing value).
    /// Errors when the number of cells differs from the number of columns
    /// or a cell is not finite.
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable, Summary};
    /// let mut t = ScoreTable::new(&[("a", Better::Higher)])?;
    /// t.push_row("m", vec![Some(Summary::of(&[1.0]))])?;
    /// assert!(t.push_row("m2", vec![None, None]).is_err());
    /// let nan = Summary { n: 1, mean: f64::NAN, std: 0.0, sem: 0.0 };
    /// assert!(t.push_row("m3", vec![Some(nan)]).is_err());
    /// assert_eq!(t.rows().len(), 1);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn push_row(&mut self, name: &str, cells: Vec<Option<Summary>>) -> Result<()> {
        if cells.len() != self.columns.len() {
            return Err(SalienceError::shape(
                &format!("row '{name}' of the score table"),
                format!("{} cells (one per column)", self.columns.len()),
                &[cells.len()],
            ));
        }
        if let Some(i) = cells
            .iter()
            .position(|c| c.is_some_and(|s| !s.mean.is_finite() || !s.std.is_finite()))
        {
            return Err(SalienceError::invalid(
                &format!("cell '{}' of row '{name}'", self.columns[i].0),
                "non-finite",
                "cells must be finite (use None for a missing value)",
            ));
        }
        self.rows.push((name.to_string(), cells));
        Ok(())
    }

    /// The columns: metric name and direction.
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable};
    /// let t = ScoreTable::new(&[("deletion", Better::Lower)])?;
    /// assert_eq!(t.columns()[0], ("deletion".to_string(), Better::Lower));
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn columns(&self) -> &[(String, Better)] {
        &self.columns
    }

    /// The rows: method name and cells.
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable};
    /// let mut t = ScoreTable::new(&[("a", Better::Higher)])?;
    /// t.push_row("m", vec![None])?;
    /// assert_eq!(t.rows()[0].0, "m");
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn rows(&self) -> &[(String, Vec<Option<Summary>>)] {
        &self.rows
    }

    /// The index of the best row of column `column` by mean (ties: the
    /// first), or `None` when the column is out of range or has no value.
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable, Summary};
    /// let mut t = ScoreTable::new(&[("deletion", Better::Lower)])?;
    /// t.push_row("a", vec![Some(Summary::of(&[0.3]))])?;
    /// t.push_row("b", vec![Some(Summary::of(&[0.1]))])?;
    /// t.push_row("c", vec![None])?;
    /// assert_eq!(t.best(0), Some(1));
    /// assert_eq!(t.best(1), None);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn best(&self, column: usize) -> Option<usize> {
        let better = self.columns.get(column)?.1;
        let mut best: Option<(usize, f64)> = None;
        for (i, (_, cells)) in self.rows.iter().enumerate() {
            let Some(Some(s)) = cells.get(column) else {
                continue;
            };
            let wins = match (best, better) {
                (None, _) => true,
                (Some((_, b)), Better::Higher) => s.mean > b,
                (Some((_, b)), Better::Lower) => s.mean < b,
            };
            if wins {
                best = Some((i, s.mean));
            }
        }
        best.map(|(i, _)| i)
    }

    fn header(&self) -> Vec<String> {
        std::iter::once("method".to_string())
            .chain(
                self.columns
                    .iter()
                    .map(|(n, b)| format!("{n} {}", b.arrow())),
            )
            .collect()
    }

    fn cells(&self, decimals: usize) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|(name, cells)| {
                std::iter::once(name.clone())
                    .chain(cells.iter().map(|c| match c {
                        Some(s) => format!("{:.d$} ± {:.d$}", s.mean, s.std, d = decimals),
                        None => "—".to_string(),
                    }))
                    .collect()
            })
            .collect()
    }

    /// Aligned plain text: a header, a rule and one line per row, cells as
    /// `mean ± std` with `decimals` decimals (the method column left-aligned,
    /// the others right-aligned). Errors: `decimals` >
    /// [`MAX_DECIMALS`] ([`SalienceError::InvalidParameter`]).
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable, Summary};
    /// let mut t = ScoreTable::new(&[("a", Better::Higher)])?;
    /// t.push_row("m", vec![Some(Summary::of(&[1.0, 3.0]))])?;
    /// let lines: Vec<String> = t.to_text(2)?.lines().map(String::from).collect();
    /// assert_eq!(lines[0], "method          a ↑");
    /// assert_eq!(lines[2], "m       2.00 ± 1.41");
    /// assert!(t.to_text(70_000).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn to_text(&self, decimals: usize) -> Result<String> {
        check_decimals(decimals)?;
        let header = self.header();
        let body = self.cells(decimals);
        let width = |c: usize| {
            std::iter::once(&header)
                .chain(&body)
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..header.len()).map(width).collect();
        let line = |r: &[String]| {
            r.iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (s, &w))| {
                    let pad = " ".repeat(w.saturating_sub(s.chars().count()));
                    if c == 0 {
                        format!("{s}{pad}")
                    } else {
                        format!("{pad}{s}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let mut out = line(&header);
        out.push('\n');
        out.push_str(&"-".repeat(total));
        for r in &body {
            out.push('\n');
            out.push_str(&line(r));
        }
        out.push('\n');
        Ok(out)
    }

    /// A Markdown table (GitHub flavour); the best mean of each column is
    /// in bold. Errors: `decimals` > [`MAX_DECIMALS`].
    ///
    /// ```
    /// use salience_metrics::{Better, ScoreTable, Summary};
    /// let mut t = ScoreTable::new(&[("a", Better::Higher)])?;
    /// t.push_row("x", vec![Some(Summary::of(&[1.0]))])?;
    /// t.push_row("y", vec![Some(Summary::of(&[2.0]))])?;
    /// let md = t.to_markdown(1)?;
    /// assert_eq!(md.lines().nth(1), Some("|---|---:|"));
    /// assert_eq!(md.lines().nth(3), Some("| y | **2.0 ± 0.0** |"));
    /// assert!(t.to_markdown(65_536).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn to_markdown(&self, decimals: usize) -> Result<String> {
        check_decimals(decimals)?;
        let header = self.header();
        let body = self.cells(decimals);
        let best: Vec<Option<usize>> = (0..self.columns.len()).map(|c| self.best(c)).collect();
        let mut out = format!("| {} |\n|---|", header.join(" | "));
        out.push_str(&"---:|".repeat(self.columns.len()));
        for (i, r) in body.iter().enumerate() {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if c > 0 && best.get(c - 1) == Some(&Some(i)) {
                        format!("**{s}**")
                    } else {
                        s.clone()
                    }
                })
                .collect();
            out.push_str(&format!("\n| {} |", cells.join(" | ")));
        }
        out.push('\n');
        Ok(out)
    }
}
