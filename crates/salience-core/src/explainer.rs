//! The [`Explainer`] seam.
//!
//! # Extension point
//! An explainer turns a batch of inputs and one target class per input into
//! an [`AttributionBatch`]. salience-explain implements it for candle
//! models (gradient, CAM, rule-based) and for any [`crate::Model`]
//! (perturbation-based); implement it yourself to bring attributions from
//! elsewhere (for instance maps precomputed by Captum). Aggregation,
//! optimization and metrics only ever see this trait.
//!
//! Stochastic explainers draw sample `i`'s randomness from
//! `seeds.for_sample(i)` (see [`crate::seed`]), so the same seeds give the
//! same maps whatever the batch composition, chunk size or thread count.

use crate::attribution::AttributionBatch;
use crate::error::{Result, SalienceError};
use crate::seed::Seeds;
use ndarray::{ArrayViewD, Axis, Slice};
use std::sync::Arc;

/// Produces attributions for a batch. See the [module docs](self).
pub trait Explainer: Send + Sync {
    /// A short name for tables and ensembles (`"saliency"`, `"ig"`, …).
    fn name(&self) -> &str;

    /// Attributions for `inputs` `[N, ...]` and one target per input. The
    /// result has one map per input (input-shaped, or a pixel map for CAM
    /// methods).
    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch>;
}

impl<E: Explainer + ?Sized> Explainer for &E {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        (**self).explain(inputs, targets, seeds)
    }
}

impl<E: Explainer + ?Sized> Explainer for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        (**self).explain(inputs, targets, seeds)
    }
}

impl<E: Explainer + ?Sized> Explainer for Arc<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        (**self).explain(inputs, targets, seeds)
    }
}

/// Runs the inner explainer on one input per call.
///
/// Explainers evaluate their model on chunks of (perturbed, interpolated,
/// noisy) inputs, and a chunk may hold the evaluations of several inputs.
/// The maps then agree across batch compositions only within floating-point
/// rounding: a CPU matmul can round a row differently when the other rows
/// of its call change. Sharded runs (`salience_report::Shard`) that must merge to
/// the unsharded run *bit for bit* wrap their explainers in `PerInput`: each
/// input is explained alone (its seed taken from the same position of
/// `seeds`), so its map does not depend on which other inputs share the
/// call. The model still sees full chunks of that input's evaluations
/// (n_steps, n_samples, perturbations), so for the sampling and
/// perturbation methods the cost is nearly the same; for single-pass
/// gradient methods it is N small passes instead of one batched pass.
///
/// ```
/// use ndarray::{array, ArrayViewD};
/// use salience_core::{AttributionBatch, Explainer, PerInput, Result, Seeds};
/// struct Seeded;
/// impl Explainer for Seeded {
///     fn name(&self) -> &str { "seeded" }
///     fn explain(&self, x: ArrayViewD<'_, f32>, _: &[usize], s: Seeds<'_>) -> Result<AttributionBatch> {
///         let mut a = x.to_owned();
///         for (i, mut row) in a.outer_iter_mut().enumerate() {
///             row.fill((s.for_sample(i) % 1000) as f32);
///         }
///         AttributionBatch::new(a)
///     }
/// }
/// let x = array![[0.0f32, 0.0], [1.0, 1.0], [2.0, 2.0]].into_dyn();
/// let whole = Seeded.explain(x.view(), &[0, 0, 0], Seeds::base(7))?;
/// let one_by_one = PerInput(Seeded).explain(x.view(), &[0, 0, 0], Seeds::base(7))?;
/// assert_eq!(whole.view(), one_by_one.view());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PerInput<E>(pub E);

impl<E: Explainer> Explainer for PerInput<E> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let n = inputs.shape().first().copied().unwrap_or(0);
        if n == 0 {
            // The inner explainer reports empty input its own way.
            return self.0.explain(inputs, targets, seeds);
        }
        if targets.len() != n {
            return Err(SalienceError::shape(
                "targets (one per input)",
                format!("[{n}]"),
                &[targets.len()],
            ));
        }
        seeds.check_len(n)?;
        let mut maps = Vec::with_capacity(n);
        for (i, target) in targets.iter().enumerate() {
            let x = inputs.slice_axis(Axis(0), Slice::from(i..i + 1));
            let map = self
                .0
                .explain(x, std::slice::from_ref(target), seeds.range(i, 1)?)?;
            maps.push(map.into_inner());
        }
        let first = maps.first().map(|m| m.shape().to_vec()).unwrap_or_default();
        if let Some(bad) = maps.iter().find(|m| m.shape() != first.as_slice()) {
            return Err(SalienceError::shape(
                "maps of the inputs explained one by one",
                format!("{first:?} for every input"),
                bad.shape(),
            ));
        }
        let views: Vec<_> = maps.iter().map(|m| m.view()).collect();
        let stacked = ndarray::concatenate(Axis(0), &views)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(stacked)
    }
}

/// Runs every explainer of a panel on the same inputs and stacks the
/// results into an [`crate::Ensemble`] named after the explainers.
///
/// ```
/// use ndarray::array;
/// use salience_core::{explain_ensemble, AttributionBatch, Explainer, Seeds};
/// struct Const(&'static str, f32);
/// impl Explainer for Const {
///     fn name(&self) -> &str { self.0 }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> {
///         AttributionBatch::new(x.mapv(|_| self.1))
///     }
/// }
/// let panel: Vec<Box<dyn Explainer>> = vec![Box::new(Const("a", 1.0)), Box::new(Const("b", 2.0))];
/// let x = array![[0.0f32, 0.0]].into_dyn();
/// let e = explain_ensemble(&panel, x.view(), &[0], Seeds::base(0)).unwrap();
/// assert_eq!(e.names(), &["a", "b"]);
/// ```
pub fn explain_ensemble<E: Explainer>(
    panel: &[E],
    inputs: ArrayViewD<'_, f32>,
    targets: &[usize],
    seeds: Seeds<'_>,
) -> Result<crate::Ensemble> {
    let n = inputs.shape().first().copied().unwrap_or(0);
    seeds.check_len(n)?;
    let maps = panel
        .iter()
        .enumerate()
        .map(|(m, e)| {
            // Each method gets its own stream so two stochastic methods never
            // share noise: sample i of method m uses derive_seed(seed_i, m).
            let own: Vec<u64> = (0..n)
                .map(|i| crate::seed::derive_seed(seeds.for_sample(i), m as u64))
                .collect();
            let batch = e.explain(inputs.view(), targets, Seeds::per_sample(&own))?;
            Ok((e.name().to_string(), batch))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::Ensemble::new(maps)
}

#[cfg(test)]
mod per_input_tests {
    use super::*;
    use ndarray::{array, ArrayD, IxDyn};

    /// Row i of the map = the input row × (number of inputs in the call):
    /// depends on the batch, so explaining one by one must change it.
    struct BatchDependent;
    impl Explainer for BatchDependent {
        fn name(&self) -> &str {
            "batch_dependent"
        }
        fn explain(
            &self,
            x: ArrayViewD<'_, f32>,
            _: &[usize],
            _: Seeds<'_>,
        ) -> Result<AttributionBatch> {
            let n = x.shape()[0] as f32;
            AttributionBatch::new(x.mapv(|v| v * n))
        }
    }

    /// Returns a map whose length grows with the first input value.
    struct Ragged;
    impl Explainer for Ragged {
        fn name(&self) -> &str {
            "ragged"
        }
        fn explain(
            &self,
            x: ArrayViewD<'_, f32>,
            _: &[usize],
            _: Seeds<'_>,
        ) -> Result<AttributionBatch> {
            let len = 1 + x[[0, 0]] as usize;
            AttributionBatch::new(ArrayD::zeros(IxDyn(&[1, len])))
        }
    }

    #[test]
    fn per_input_calls_the_inner_explainer_once_per_input() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]].into_dyn();
        let whole = BatchDependent
            .explain(x.view(), &[0, 1, 2], Seeds::base(0))
            .unwrap();
        assert_eq!(whole.view(), x.mapv(|v| v * 3.0).view());
        let one = PerInput(BatchDependent)
            .explain(x.view(), &[0, 1, 2], Seeds::base(0))
            .unwrap();
        assert_eq!(one.view(), x.view());
        assert_eq!(PerInput(BatchDependent).name(), "batch_dependent");
    }

    #[test]
    fn per_input_errors() {
        let x = array![[0.0f32, 2.0], [1.0, 4.0]].into_dyn();
        let e = PerInput(BatchDependent).explain(x.view(), &[0], Seeds::base(0));
        assert!(matches!(e, Err(SalienceError::ShapeMismatch { .. })));
        let seeds = [1u64];
        let e = PerInput(BatchDependent).explain(x.view(), &[0, 0], Seeds::per_sample(&seeds));
        assert!(e.is_err());
        let e = PerInput(Ragged).explain(x.view(), &[0, 0], Seeds::base(0));
        assert!(matches!(e, Err(SalienceError::ShapeMismatch { .. })));
    }
}
