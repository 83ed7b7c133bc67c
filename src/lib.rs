//! # salience
//!
//! Feature attributions for neural networks computed on candle, aggregated
//! into one explanation that is measurably better, and evaluated.
//!
//! This facade re-exports the workspace's crates:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`core`] | salience-core | attribution batches, ensembles, normalization, the `Model` and `Explainer` seams, errors, seeding, `.npy` I/O |
//! | [`aggregate`] | salience-aggregate | pixel-wise aggregators (Mahlau & Nolde 2022) |
//! | [`optimize`] | salience-optimize | optimal convex aggregation (Decker et al. 2024) |
//! | [`metrics`] | salience-metrics | evaluation metrics |
//! | [`data`] | salience-data | offline data and trained models: Fashion-MNIST IDX reader, a localization set with ground-truth masks, small CNN / ResNet / ResNet-18, shipped weights and samples |
//! | [`explain`] | salience-explain | candle explainers: Saliency, Input×Gradient, Integrated Gradients, SmoothGrad/SmoothGrad²/VarGrad, Expected Gradients/GradientSHAP |
//!
//! ```
//! use salience::core::{Ensemble, Normalization, DegeneratePolicy};
//! let stacked = ndarray::Array::from_shape_fn((2, 1, 3, 3), |(k, _, i, j)| (k + i + j) as f32);
//! let e = Ensemble::from_stacked(stacked.into_dyn(), None)?;
//! let z = e.normalize(Normalization::ZScore, DegeneratePolicy::Error)?;
//! assert_eq!(z.k(), 2);
//! # Ok::<(), salience::core::SalienceError>(())
//! ```

pub use salience_aggregate as aggregate;
pub use salience_core as core;
pub use salience_data as data;
pub use salience_explain as explain;
pub use salience_metrics as metrics;
pub use salience_optimize as optimize;

pub use salience_core::{
    AttributionBatch, DegeneratePolicy, Ensemble, Explainer, Layout, Model, Normalization,
    SalienceError, Seeds,
};
