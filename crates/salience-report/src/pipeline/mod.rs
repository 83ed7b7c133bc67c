//! The pipeline as one call: [`run`] a panel of explainers on a batch,
//! aggregate, optimize and evaluate, configured by a [`PipelineConfig`]
//! (`config.rs`: the plain serde data; `run.rs`: the stages), on the
//! images a model gets right ([`correctly_classified`], `select.rs`).
//!
//! Seeds: every random draw derives from [`PipelineConfig::seed`] and the
//! caller's per-image ids (`derive_seed(seed, id)` per image, then one
//! derived stream per method and per metric), so an image gets the same
//! numbers whatever else is in the batch, and two runs give identical
//! results on the same machine and thread count.
//!
//! ```
//! use ndarray::{array, Array4};
//! use salience_core::{AttributionBatch, Explainer, LinearModel, PixelMaps, ChannelReduction, Seeds};
//! use salience_report::{run, PipelineConfig};
//! /// a ⊙ x (exact for a linear model and a zero baseline).
//! struct Exact(Vec<f32>);
//! impl Explainer for Exact {
//!     fn name(&self) -> &str { "exact" }
//!     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
//!         -> salience_core::Result<AttributionBatch> {
//!         let w = ndarray::Array::from_shape_vec((1, 1, 2, 2), self.0.clone()).unwrap();
//!         AttributionBatch::new((&x * &w.into_dyn()).into_dyn())
//!     }
//! }
//! let w = vec![1.0f32, -2.0, 0.5, 3.0];
//! let model = LinearModel::new(ndarray::Array2::from_shape_vec((1, 4), w.clone()).unwrap(), array![0.0f32])?;
//! let panel = vec![PixelMaps::new(Box::new(Exact(w)) as Box<dyn Explainer>, ChannelReduction::Sum)];
//! let x = Array4::from_shape_fn((2, 1, 2, 2), |(i, _, h, w)| (1 + i + 2 * h + w) as f32);
//! let cfg = PipelineConfig::tiny();
//! let out = run(&model, &panel, x.view().into_dyn(), &[0, 0], &[0, 1], &cfg, &mut |_| {})?;
//! assert_eq!(out.table.rows()[0].0, "exact");
//! assert_eq!(out.per_image.len(), 2 * out.table.rows().len() * out.table.columns().len());
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

mod config;
mod run;
mod select;

pub use config::{DeckerBudget, MetricBudget, PipelineConfig, MAX_BUDGET, MAX_IMAGES};
pub use run::{run, ImageScore, NamedWeights, Run, Step, COLUMNS};
pub use select::correctly_classified;
