//! [`on_defined_samples`]: run a strict (all-or-error) metric on the
//! samples it is defined for.
//!
//! Every metric of this crate returns per-sample
//! [`Outcomes`](crate::Outcomes) and needs no wrapper: an undefined sample
//! (an all-zero map, a zero-variance correlation, …) is reported per sample.
//! This function is for metrics in their strict form — a closure returning
//! [`Scores`] that fails with [`SalienceError::DegenerateMap`] naming the
//! sample (for instance a user's own metric, or `Outcomes::strict`) — and
//! skips only those failures. Every metric of this crate draws sample `i`'s
//! randomness from its own seed, so a sample's score does not change when
//! other samples are dropped.

use crate::scores::Scores;
use ndarray::{ArrayD, ArrayViewD, Axis};
use salience_core::{AttributionBatch, Result, SalienceError};

/// The samples a metric is run on: their indices in the full batch and
/// their inputs, maps, targets and seeds.
#[derive(Debug, Clone)]
pub struct SampleSubset {
    /// Indices into the full batch, increasing.
    pub indices: Vec<usize>,
    /// The inputs of these samples.
    pub inputs: ArrayD<f32>,
    /// Their attribution maps.
    pub maps: AttributionBatch,
    /// Their targets.
    pub targets: Vec<usize>,
    /// Their per-sample seeds.
    pub seeds: Vec<u64>,
}

/// Runs `metric` on all samples; while it fails with
/// [`SalienceError::DegenerateMap`] for a sample, drops that sample and runs
/// it on the rest. Returns the scores and the indices they belong to, or
/// `None` when no sample is left. Any other error is returned.
///
/// Errors: `targets` / `seeds` / `maps` not matching the number of inputs
/// ([`SalienceError::TargetCount`], [`SalienceError::ShapeMismatch`]).
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, Seeds};
/// use salience_metrics::{gini_sparseness, on_defined_samples, SparsenessConfig};
/// let x = Array4::<f32>::zeros((3, 1, 1, 2)).into_dyn();
/// let maps = AttributionBatch::from_pixel_maps(array![[[1.0f32, 0.0]], [[0.0, 0.0]], [[1.0, 1.0]]])?;
/// let (scores, kept) = on_defined_samples(x.view(), &maps, &[0, 0, 0], &[1, 2, 3], |s| {
///     gini_sparseness(&s.maps, &SparsenessConfig::default())?.strict()
/// })?
/// .unwrap();
/// assert_eq!(kept, vec![0, 2]); // the all-zero map has no Gini index
/// assert_eq!(scores.values(), &[0.5, 0.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn on_defined_samples<F>(
    inputs: ArrayViewD<'_, f32>,
    maps: &AttributionBatch,
    targets: &[usize],
    seeds: &[u64],
    metric: F,
) -> Result<Option<(Scores, Vec<usize>)>>
where
    F: Fn(&SampleSubset) -> Result<Scores>,
{
    let n = inputs.shape().first().copied().unwrap_or(0);
    if targets.len() != n {
        return Err(SalienceError::TargetCount {
            targets: targets.len(),
            inputs: n,
        });
    }
    if seeds.len() != n {
        return Err(SalienceError::shape(
            "per-sample seeds",
            format!("{n} seeds (one per input)"),
            &[seeds.len()],
        ));
    }
    if maps.len() != n {
        return Err(SalienceError::shape(
            "attribution maps",
            format!("{n} maps (one per input)"),
            maps.shape(),
        ));
    }
    let mut keep: Vec<usize> = (0..n).collect();
    while !keep.is_empty() {
        let subset = SampleSubset {
            inputs: inputs.select(Axis(0), &keep),
            maps: AttributionBatch::new(maps.view().select(Axis(0), &keep))?,
            targets: keep
                .iter()
                .filter_map(|&i| targets.get(i).copied())
                .collect(),
            seeds: keep.iter().filter_map(|&i| seeds.get(i).copied()).collect(),
            indices: keep.clone(),
        };
        match metric(&subset) {
            Ok(scores) => return Ok(Some((scores, keep))),
            Err(SalienceError::DegenerateMap { sample, .. }) if sample < keep.len() => {
                keep.remove(sample);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
