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
use crate::error::Result;
use crate::seed::Seeds;
use ndarray::ArrayViewD;
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
