//! PNG charts (salience_core::plot) — placeholder until the plot module lands.

use crate::report::{Data, LimeResult};
use crate::Result;
use std::path::Path;

/// Box plots of the per-image weights of AGG_robust / AGG_faith / AGG_opt.
pub fn weight_boxplots(_data: &Data, _exp: &str, _methods: &[&str], _results: &Path) -> Result<String> {
    Ok(String::new())
}

/// Bar chart of the §5.3 weights by size bin.
pub fn lime_bars(_r: &LimeResult, _results: &Path) -> Result<String> {
    Ok(String::new())
}

/// Line charts of the count ablation.
pub fn count_lines(_data: &Data, _results: &Path) -> Result<String> {
    Ok(String::new())
}
