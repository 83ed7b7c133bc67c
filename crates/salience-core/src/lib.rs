//! # salience-core
//!
//! The shared vocabulary of the salience workspace, with no neural-network
//! dependency:
//!
//! * [`AttributionBatch`] — N attribution maps (`[N, C, H, W]`, `[N, H, W]`
//!   or `[N, D]`, f32) and channel reduction;
//! * [`Ensemble`] — k maps for the same N inputs, one per method;
//! * [`Normalization`] — per-sample, per-map normalizations with an explicit
//!   [`DegeneratePolicy`];
//! * the seams [`Model`] (a black-box classifier over ndarray batches) and
//!   [`Explainer`] (inputs + targets → attributions), where candle, ort,
//!   tract or burn models plug in;
//! * [`SalienceError`], the seeding convention ([`seed`]) and `.npy` I/O
//!   ([`npy`]);
//! * [`spec`]: configs as data — one `name:key=value` / JSON parser that
//!   builds any serde config from a preset, with typed errors;
//! * [`PixelMaps`] (an explainer wrapper reducing channels);
//! * small image utilities: one Gaussian [`blur`], one [`BoundingBox`],
//!   and input checks ([`validate`]).
//!
//! Pictures, charts, result records and shards are the report's, not the
//! core's: they live in `salience-report` (`render`, `render::plot`,
//! `records`, `Shard`), so this crate needs no image or font dependency.
//!
//! ```
//! use ndarray::Array;
//! use salience_core::{DegeneratePolicy, Ensemble, Normalization};
//! // Three methods' maps for 2 images of 4x4 pixels, e.g. loaded from .npy.
//! let stacked = Array::from_shape_fn((3, 2, 4, 4), |(k, n, i, j)| (k + n + i * j) as f32);
//! let e = Ensemble::from_stacked(stacked.into_dyn(), None)?;
//! let z = e.normalize(Normalization::ZScore, DegeneratePolicy::Error)?;
//! assert_eq!(z.k(), 3);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

pub mod attribution;
pub mod batch;
pub mod bbox;
pub mod blur;
pub mod ensemble;
pub mod error;
pub mod explainer;
pub mod model;
pub mod normalize;
pub mod npy;
pub mod pixel_maps;
pub mod seed;
pub mod spec;
pub mod validate;

pub use attribution::{AttributionBatch, ChannelReduction, Layout};
pub use batch::BatchSize;
pub use bbox::BoundingBox;
pub use ensemble::Ensemble;
pub use error::{
    BoxedError, DegenerateReason, GradientFault, ImageFault, Result, SalienceError, SolverStatus,
};
pub use explainer::{explain_ensemble, Explainer, PerInput};
pub use model::{FnModel, LinearModel, Model};
pub use normalize::{DegeneratePolicy, Normalization};
pub use pixel_maps::PixelMaps;
pub use seed::{derive_seed, Seeds};
