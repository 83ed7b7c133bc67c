//! # salience-aggregate
//!
//! Pixel-wise aggregation of an attribution [`Ensemble`] (k maps for the
//! same N inputs) into one map per input, with every scheme of Mahlau &
//! Nolde (2022, §3.2):
//!
//! | aggregator | formula | default |
//! |---|---|---|
//! | [`Mean`] | μ (eq. 5) | |
//! | [`Percentile`] | q-th percentile, linear interpolation | q = 25 |
//! | [`Ucb`] | μ + εσ (eq. 8) | ε = −0.5 |
//! | [`Pi`] | Φ(Z), Z = (μ − E⁺ − ε)/σ (eq. 9) | ε = −4 |
//! | [`Ei`] | (μ − E⁺ − ε)Φ(Z) + σφ(Z) (eq. 10) | ε = −6 |
//! | [`Ci`] | EI with ε = Σσ² / (P E⁺) (eq. 11) | |
//! | [`Api`] | PI averaged over ε ∈ [a, b] (eqs. 12, 14) | [−7, 2], N = 10 |
//! | [`Aei`] | EI averaged over ε ∈ [a, b] (eqs. 13, 15) | [−10, 5], N = 10 |
//! | [`Var`] | μ / (ε s + δ) (eq. 16); Rieger & Hansen's AGG_var preset | ε = 10⁻⁷, δ = 1 |
//! | [`Rbm`] | hidden unit of an RBM trained by contrastive divergence | α = 10⁻⁴, 100 iterations |
//!
//! μ and σ are the mean and population standard deviation of the k values
//! at a pixel (eqs. 6–7), E⁺ the largest μ of the sample. Defaults are the
//! paper's tuned values (Table 1). Where all maps agree at a pixel (σ = 0)
//! PI, EI, CI, API, AEI and VAR return their σ → 0 limits, never NaN or
//! Inf. Every "pixel" is one value of the map, so `[N, C, H, W]`,
//! `[N, H, W]` and `[N, D]` ensembles are all aggregated value by value;
//! reduce channels first ([`salience_core::AttributionBatch::reduce_channels`])
//! for per-pixel maps.
//!
//! The maps should share a scale: normalize the ensemble first (the paper
//! recommends z-score, [`salience_core::Normalization::ZScore`]).
//!
//! Work is parallel over samples and chunks of pixels (rayon), with no
//! per-pixel allocation; results do not depend on the thread count.
//!
//! ```
//! use ndarray::Array;
//! use salience_aggregate::{Aggregation, Aggregator};
//! use salience_core::{DegeneratePolicy, Ensemble, Normalization};
//! // Three methods' maps for 2 images of 8x8 pixels.
//! let maps = Array::from_shape_fn((3, 2, 8, 8), |(k, n, i, j)| ((k + 1) * (i + n) * j) as f32);
//! let e = Ensemble::from_stacked(maps.into_dyn(), None)?
//!     .normalize(Normalization::ZScore, DegeneratePolicy::Error)?;
//! for spec in ["mean", "ucb", "percentile:q=50", "aei:a=-10,b=5,n=10"] {
//!     let agg: Aggregation = spec.parse()?;
//!     let out = agg.aggregate(&e)?;
//!     assert_eq!(out.shape(), &[2, 8, 8]);
//! }
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

mod averaged;
mod improvement;
mod kernel;
mod mean;
mod normal;
mod percentile;
mod rbm;
mod spec;
mod ucb;
mod var;

pub use averaged::{Aei, Api, Rates, MAX_RATES};
pub use improvement::{Ci, Ei, Pi};
pub use mean::Mean;
pub use percentile::Percentile;
pub use rbm::{Chain, Rbm, MAX_RBM_BATCH_SIZE, MAX_RBM_ITERS};
pub use spec::Aggregation;
pub use ucb::Ucb;
pub use var::{Spread, Var};

use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// Checks a user-given count against its documented upper limit: a typed
/// [`SalienceError::InvalidParameter`] naming the parameter and the limit.
pub(crate) fn check_count_limit(name: &str, value: usize, max: usize, hint: &str) -> Result<()> {
    if value > max {
        return Err(SalienceError::invalid(
            name,
            value,
            &format!("must be ≤ {max}{hint}"),
        ));
    }
    Ok(())
}

/// A pixel-wise aggregator: an ensemble of k maps → one map per sample,
/// of the ensemble's map shape.
///
/// Implemented by every scheme of this crate and by [`Aggregation`], the
/// enum that names them; implement it to add your own scheme to a panel.
pub trait Aggregator: Send + Sync {
    /// A short name with the parameters, for tables (`"ucb(eps=-0.5)"`).
    fn name(&self) -> String;

    /// Aggregates every sample of `ensemble`. Invalid parameters are a
    /// [`salience_core::SalienceError::InvalidParameter`]; the output is
    /// always finite.
    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch>;
}
