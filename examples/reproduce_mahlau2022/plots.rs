//! The PNG charts (stub until salience_core::plot lands).
use crate::report::Data;
use std::path::Path;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes every chart; returns (stem, file name) pairs.
pub fn write_all(_data: &Data, _dir: &Path) -> Result<Vec<(String, String)>> {
    Ok(Vec::new())
}
