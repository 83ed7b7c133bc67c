//! Small validation helpers used by every crate.

use crate::error::{Result, SalienceError};
use ndarray::{ArrayBase, Data, Dimension};

/// Returns an error naming `context` if any value of `a` is NaN or infinite.
///
/// ```
/// use ndarray::array;
/// assert!(salience_core::validate::check_finite(&array![1.0f32, 2.0], "x").is_ok());
/// assert!(salience_core::validate::check_finite(&array![1.0f32, f32::NAN], "x").is_err());
/// ```
pub fn check_finite<S, D>(a: &ArrayBase<S, D>, context: &str) -> Result<()>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    // A standard-layout array is checked as one slice (blocks that
    // vectorise, independent of how ndarray's iterator is inlined: a
    // per-element iterator call made the aggregators 1.3-1.7x slower in
    // one build); any other layout element by element, in logical order.
    let bad = match a.as_slice() {
        Some(s) => first_non_finite(s).map(|i| (i, s[i])),
        None => a
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
            .map(|(i, &v)| (i, v)),
    };
    if let Some((index, value)) = bad {
        return Err(SalienceError::NonFinite {
            context: context.to_string(),
            index,
            value,
        });
    }
    Ok(())
}

/// The index of the first NaN or infinite value of `s`: blocks of 256
/// values are tested without branches, the position searched only in the
/// block that fails.
///
/// ```
/// use salience_core::validate::first_non_finite;
/// let mut v = vec![1.0f32; 1000];
/// assert_eq!(first_non_finite(&v), None);
/// v[700] = f32::NEG_INFINITY;
/// v[900] = f32::NAN;
/// assert_eq!(first_non_finite(&v), Some(700));
/// ```
pub fn first_non_finite(s: &[f32]) -> Option<usize> {
    const BLOCK: usize = 256;
    s.chunks(BLOCK).enumerate().find_map(|(b, c)| {
        if c.iter().fold(true, |ok, v| ok & v.is_finite()) {
            None
        } else {
            c.iter().position(|v| !v.is_finite()).map(|i| b * BLOCK + i)
        }
    })
}

/// Returns an error if `shape` has a zero-size axis or is empty.
///
/// ```
/// assert!(salience_core::validate::check_nonempty_shape(&[2, 3], "x").is_ok());
/// assert!(salience_core::validate::check_nonempty_shape(&[2, 0], "x").is_err());
/// ```
pub fn check_nonempty_shape(shape: &[usize], context: &str) -> Result<()> {
    if shape.is_empty() || shape.contains(&0) {
        return Err(SalienceError::Empty(format!(
            "{context} has shape {shape:?} (every axis must be non-empty)"
        )));
    }
    Ok(())
}

/// Checks that there is one target per input and that every target is a
/// valid class index.
///
/// ```
/// use salience_core::validate::check_targets;
/// assert!(check_targets(&[0, 2], 2, 3).is_ok());
/// assert!(check_targets(&[0, 3], 2, 3).is_err());
/// assert!(check_targets(&[0], 2, 3).is_err());
/// ```
pub fn check_targets(targets: &[usize], n_inputs: usize, num_classes: usize) -> Result<()> {
    if targets.len() != n_inputs {
        return Err(SalienceError::TargetCount {
            targets: targets.len(),
            inputs: n_inputs,
        });
    }
    if let Some((sample, &target)) = targets.iter().enumerate().find(|&(_, &t)| t >= num_classes) {
        return Err(SalienceError::TargetOutOfRange {
            sample,
            target,
            num_classes,
        });
    }
    Ok(())
}

/// Checks that a float parameter is finite.
///
/// ```
/// assert!(salience_core::validate::check_param_finite("eps", 0.5).is_ok());
/// assert!(salience_core::validate::check_param_finite("eps", f64::NAN).is_err());
/// ```
pub fn check_param_finite(name: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(SalienceError::invalid(name, value, "must be finite"));
    }
    Ok(())
}

/// Checks that `name` can be used as (the stem of) a file name inside a
/// directory the user gave, so that a write stays in that directory. An
/// error names `context` (e.g. "ensemble map name", "run name") unless
/// the name is non-empty and contains no `/`, no `\`, no NUL, no `..`,
/// and is not an absolute path (on Windows, no `:` either, which could
/// name a drive).
///
/// ```
/// use salience_core::validate::check_file_name;
/// assert!(check_file_name("integrated_gradients", "map name").is_ok());
/// assert!(check_file_name("ig:steps=32", "map name").is_ok());
/// for bad in ["", "../escaped", "a/b", "a\\b", "a\0b", "..", "/etc/passwd"] {
///     assert!(check_file_name(bad, "map name").is_err(), "{bad:?}");
/// }
/// ```
pub fn check_file_name(name: &str, context: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.contains(['/', '\\']) {
        "must not contain a path separator (`/` or `\\`)"
    } else if name.contains('\0') {
        "must not contain a NUL character"
    } else if name.contains("..") {
        "must not contain `..`"
    } else if std::path::Path::new(name).is_absolute() || (cfg!(windows) && name.contains(':')) {
        "must not be an absolute path (or, on Windows, contain a drive prefix `:`)"
    } else {
        return Ok(());
    };
    Err(SalienceError::invalid(
        context,
        format!("{name:?}"),
        &format!("{reason}: it becomes a file name inside the output directory"),
    ))
}

/// The number of cases a property test (fuzz test) runs: `default` times
/// the environment variable `SALIENCE_FUZZ_SCALE` (a positive integer;
/// default 1, capped so the product fits in `u32`). The suite's
/// cheap-enough-for-CI counts are the defaults; a long fuzz run is one
/// command: `SALIENCE_FUZZ_SCALE=100 cargo test --workspace --release`.
///
/// ```
/// assert_eq!(salience_core::validate::fuzz_cases(0), 0);
/// assert!(salience_core::validate::fuzz_cases(64) >= 64);
/// ```
pub fn fuzz_cases(default: u32) -> u32 {
    let scale = std::env::var("SALIENCE_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&s| s >= 1)
        .unwrap_or(1);
    default.saturating_mul(scale)
}

/// The largest count a user may ask for (steps, samples, draws, masks,
/// iterations, batch sizes): 2²⁴ ≈ 16.8 million. Far beyond any useful
/// setting, small enough that products with per-sample sizes do not
/// overflow and that no accepted parameter means an endless run.
pub const MAX_COUNT: usize = 1 << 24;

/// Checks that a count parameter is in `1..=`[`MAX_COUNT`]; the error names
/// the parameter and the limit.
///
/// ```
/// use salience_core::validate::{check_count, MAX_COUNT};
/// assert!(check_count("n_steps", 50).is_ok());
/// assert!(check_count("n_steps", 0).is_err());
/// assert!(check_count("n_steps", MAX_COUNT + 1).is_err());
/// ```
pub fn check_count(name: &str, value: usize) -> Result<()> {
    if !(1..=MAX_COUNT).contains(&value) {
        return Err(SalienceError::invalid(
            name,
            value,
            "must be in 1..=MAX_COUNT (16777216)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn check_finite_names_the_first_bad_value_in_logical_order_in_any_layout() {
        // Standard layout, past a block boundary, two bad values: the first.
        let mut a = Array2::<f32>::ones((3, 300));
        a[[1, 10]] = f32::INFINITY;
        a[[2, 0]] = f32::NAN;
        match check_finite(&a, "a") {
            Err(SalienceError::NonFinite { index, value, .. }) => {
                assert_eq!((index, value), (310, f32::INFINITY));
            }
            other => panic!("{other:?}"),
        }
        // The transposed view is not a standard-layout slice: the index
        // is still the logical (row-major) one of the view.
        let t = a.t();
        match check_finite(&t, "t") {
            Err(SalienceError::NonFinite { index, value, .. }) => {
                // t[[0, 2]] = a[[2, 0]] = NaN comes first in t's order.
                assert_eq!(index, 2);
                assert!(value.is_nan());
            }
            other => panic!("{other:?}"),
        }
        assert!(check_finite(&Array2::<f32>::zeros((7, 513)), "z").is_ok());
        assert_eq!(first_non_finite(&[]), None);
    }
}
