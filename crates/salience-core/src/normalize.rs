//! Per-sample, per-map normalizations (Mahlau & Nolde 2022, eqs. 1–4;
//! Decker et al. 2024, App. C.2).
//!
//! Each map of each sample is normalized on its own, over all its values
//! (every channel and pixel). Statistics are accumulated in f64. A map for
//! which a normalization is undefined (constant for min-max and z-score,
//! all zero for l1, l2 and abs-max) is *degenerate*: by default that is a
//! [`SalienceError::DegenerateMap`]; with [`DegeneratePolicy::Zeros`] the
//! normalized map is all zeros. No normalization ever returns NaN or Inf.

use crate::attribution::AttributionBatch;
use crate::ensemble::Ensemble;
use crate::error::{DegenerateReason, Result, SalienceError};
use rayon::prelude::*;

/// A normalization of one attribution map `e` (all its values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    /// Identity.
    None,
    /// Linear min-max, `(e − min e) / (max e − min e)` ∈ [0, 1] (eq. 1).
    MinMax,
    /// Z-score, `(e − μ(e)) / σ(e)` with the population σ (ddof = 0,
    /// NumPy's default) (eq. 2). Mahlau & Nolde (2022)'s recommended choice.
    #[default]
    ZScore,
    /// `e / ‖e‖₁` (eq. 3).
    L1,
    /// `e / ‖e‖₂` (eq. 4).
    L2,
    /// `|e| / max |e|` ∈ [0, 1] (Decker et al. 2024, App. C.2).
    AbsMax,
}

impl Normalization {
    /// Every normalization, in documentation order.
    pub const ALL: [Normalization; 6] = [
        Normalization::None,
        Normalization::MinMax,
        Normalization::ZScore,
        Normalization::L1,
        Normalization::L2,
        Normalization::AbsMax,
    ];

    /// A short lower-case name (`none`, `minmax`, `zscore`, `l1`, `l2`, `absmax`).
    pub fn name(&self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::MinMax => "minmax",
            Normalization::ZScore => "zscore",
            Normalization::L1 => "l1",
            Normalization::L2 => "l2",
            Normalization::AbsMax => "absmax",
        }
    }
}

impl std::str::FromStr for Normalization {
    type Err = SalienceError;

    /// Parses a name as returned by [`Normalization::name`] (also accepts
    /// `linear`, `z-score`, `z`).
    ///
    /// ```
    /// use salience_core::Normalization;
    /// assert_eq!("z-score".parse::<Normalization>().unwrap(), Normalization::ZScore);
    /// assert!("zcore".parse::<Normalization>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" | "identity" => Normalization::None,
            "minmax" | "min-max" | "linear" | "lin" => Normalization::MinMax,
            "zscore" | "z-score" | "z" => Normalization::ZScore,
            "l1" => Normalization::L1,
            "l2" => Normalization::L2,
            "absmax" | "abs-max" | "abs" => Normalization::AbsMax,
            _ => {
                return Err(SalienceError::invalid(
                    "normalization",
                    s,
                    "expected one of none, minmax, zscore, l1, l2, absmax",
                ))
            }
        })
    }
}

/// What to do with a map for which the normalization is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DegeneratePolicy {
    /// Return [`SalienceError::DegenerateMap`] (default).
    #[default]
    Error,
    /// Replace the normalized map by zeros.
    Zeros,
}

/// Normalizes one map in place. On a degenerate map, `Err(reason)` is
/// returned and the slice is left unchanged (policy handling is up to the
/// caller). The slice must be finite and non-empty.
///
/// ```
/// use salience_core::normalize::normalize_slice;
/// use salience_core::Normalization;
/// let mut e = [1.0f32, 2.0, 3.0];
/// normalize_slice(&mut e, Normalization::MinMax).unwrap();
/// assert_eq!(e, [0.0, 0.5, 1.0]);
/// let mut c = [2.0f32, 2.0];
/// assert!(normalize_slice(&mut c, Normalization::ZScore).is_err());
/// ```
pub fn normalize_slice(x: &mut [f32], method: Normalization) -> Result<(), DegenerateReason> {
    if x.is_empty() || method == Normalization::None {
        return Ok(());
    }
    let (mut min, mut max, mut absmax) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f32);
    for &v in x.iter() {
        min = min.min(v);
        max = max.max(v);
        absmax = absmax.max(v.abs());
    }
    let n = x.len() as f64;
    // (shift, scale, abs): y = (v - shift) * scale, after |v| if abs.
    let (shift, scale, abs) = match method {
        Normalization::None => return Ok(()),
        Normalization::MinMax => {
            if max <= min {
                return Err(DegenerateReason::Constant);
            }
            (min as f64, 1.0 / (max as f64 - min as f64), false)
        }
        Normalization::ZScore => {
            if max <= min {
                return Err(DegenerateReason::Constant);
            }
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt();
            if sd <= 0.0 {
                return Err(DegenerateReason::Constant);
            }
            (mean, 1.0 / sd, false)
        }
        Normalization::L1 => {
            if absmax == 0.0 {
                return Err(DegenerateReason::AllZero);
            }
            let l1 = x.iter().map(|&v| (v as f64).abs()).sum::<f64>();
            (0.0, 1.0 / l1, false)
        }
        Normalization::L2 => {
            if absmax == 0.0 {
                return Err(DegenerateReason::AllZero);
            }
            // Scale by absmax first so the sum of squares cannot overflow.
            let a = absmax as f64;
            let s = x.iter().map(|&v| (v as f64 / a).powi(2)).sum::<f64>();
            (0.0, 1.0 / (a * s.sqrt()), false)
        }
        Normalization::AbsMax => {
            if absmax == 0.0 {
                return Err(DegenerateReason::AllZero);
            }
            (0.0, 1.0 / absmax as f64, true)
        }
    };
    if !scale.is_finite() {
        return Err(DegenerateReason::NotFinite);
    }
    // Check before writing so the slice is untouched on error.
    let out = |v: f32| -> f32 {
        let v = if abs { v.abs() } else { v };
        ((v as f64 - shift) * scale) as f32
    };
    if x.iter().any(|&v| !out(v).is_finite()) {
        return Err(DegenerateReason::NotFinite);
    }
    x.iter_mut().for_each(|v| *v = out(*v));
    Ok(())
}

/// Normalizes every row of a `[rows, features]` contiguous buffer in
/// parallel. `map_of_row(r) -> (sample, map)` names rows in errors.
fn normalize_rows(
    data: &mut [f32],
    row_len: usize,
    method: Normalization,
    policy: DegeneratePolicy,
    map_of_row: impl Fn(usize) -> (usize, usize) + Sync,
) -> Result<()> {
    if method == Normalization::None || row_len == 0 {
        return Ok(());
    }
    let failures: Vec<(usize, DegenerateReason)> = data
        .par_chunks_mut(row_len)
        .enumerate()
        .filter_map(|(r, row)| match normalize_slice(row, method) {
            Ok(()) => None,
            Err(reason) => {
                if policy == DegeneratePolicy::Zeros {
                    row.iter_mut().for_each(|v| *v = 0.0);
                    None
                } else {
                    Some((r, reason))
                }
            }
        })
        .collect();
    if let Some(&(r, reason)) = failures.iter().min_by_key(|(r, _)| *r) {
        let (sample, map) = map_of_row(r);
        return Err(SalienceError::DegenerateMap {
            sample,
            map,
            reason,
        });
    }
    Ok(())
}

impl AttributionBatch {
    /// Normalizes each sample's map in place.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_core::{AttributionBatch, DegeneratePolicy, Normalization};
    /// let mut b = AttributionBatch::from_tabular(array![[3.0f32, -4.0], [0.0, 0.0]]).unwrap();
    /// assert!(b.clone().normalize_in_place(Normalization::L2, DegeneratePolicy::Error).is_err());
    /// b.normalize_in_place(Normalization::L2, DegeneratePolicy::Zeros).unwrap();
    /// assert_eq!(b.view().as_slice().unwrap(), &[0.6, -0.8, 0.0, 0.0]);
    /// ```
    pub fn normalize_in_place(
        &mut self,
        method: Normalization,
        policy: DegeneratePolicy,
    ) -> Result<()> {
        let p = self.feature_len();
        let mut flat = self.as_flat_mut();
        let Some(buf) = flat.as_slice_mut() else {
            return Err(SalienceError::backend_msg("batch not contiguous"));
        };
        // On error the batch may be partially normalized: work on a copy.
        let mut tmp = buf.to_vec();
        normalize_rows(&mut tmp, p, method, policy, |r| (r, 0))?;
        buf.copy_from_slice(&tmp);
        Ok(())
    }

    /// Returns a normalized copy.
    pub fn normalize(&self, method: Normalization, policy: DegeneratePolicy) -> Result<Self> {
        let mut out = self.clone();
        let p = out.feature_len();
        let mut flat = out.as_flat_mut();
        let Some(buf) = flat.as_slice_mut() else {
            return Err(SalienceError::backend_msg("batch not contiguous"));
        };
        normalize_rows(buf, p, method, policy, |r| (r, 0))?;
        Ok(out)
    }
}

impl Ensemble {
    /// Returns a copy with every map of every sample normalized.
    ///
    /// ```
    /// use ndarray::Array;
    /// use salience_core::{DegeneratePolicy, Ensemble, Normalization};
    /// let e = Ensemble::from_stacked(
    ///     Array::from_shape_vec((2, 1, 2), vec![1.0f32, 3.0, 5.0, 5.0]).unwrap().into_dyn(),
    ///     None,
    /// ).unwrap();
    /// // Map 1 of sample 0 is constant.
    /// let err = e.normalize(Normalization::MinMax, DegeneratePolicy::Error).unwrap_err();
    /// assert!(err.to_string().contains("sample 0, map 1"));
    /// let z = e.normalize(Normalization::MinMax, DegeneratePolicy::Zeros).unwrap();
    /// assert_eq!(z.stacked().as_slice().unwrap(), &[0.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn normalize(&self, method: Normalization, policy: DegeneratePolicy) -> Result<Ensemble> {
        let (n, p) = (self.n_samples(), self.feature_len());
        let mut data = self.stacked().to_owned();
        let Some(buf) = data.as_slice_mut() else {
            return Err(SalienceError::backend_msg("ensemble not contiguous"));
        };
        normalize_rows(buf, p, method, policy, |r| (r % n, r / n))?;
        Ok(Ensemble::from_valid(
            data,
            self.names().to_vec(),
            self.layout(),
        ))
    }
}
