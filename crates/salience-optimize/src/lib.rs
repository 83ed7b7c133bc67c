//! # salience-optimize
//!
//! Optimal convex aggregation of feature attributions (Decker, Bhattarai,
//! Gu, Tresp, Buettner, ICML 2024, "Provably better explanations with
//! optimized aggregation of feature attributions").
//!
//! ## Generalized L2 metrics and their Gram matrix
//!
//! A quality metric Q is a *generalized L2 metric* (Definition 4.1) if
//! Q(φ) = E‖γ1 φ − γ2‖² for random γ1 ∈ ℝ^{g×d} (a linear query) and
//! γ2 ∈ ℝ^g (its desired outcome). It is estimated from m samples
//! (γ1⁽ʲ⁾, γ2⁽ʲ⁾). Lower is better. Examples ([`Query`]):
//! * Average-Sensitivity: γ1 = I_d, γ2 = φ(x + ε) ([`Query::Identity`]); for
//!   the *aggregate* the paper (App. C.2) minimizes
//!   ‖φ_w(x) − φ_w(x + ε)‖² = ‖(Φ − Φ′)w‖² ([`Query::Sensitivity`]);
//! * Infidelity: γ1 = Iᵀ, a 0/1 row marking the perturbed features, and
//!   γ2 = f(x) − f(x̃) ([`Query::MaskRow`]);
//! * anything else through [`Query::Sparse`] or [`Query::Dense`].
//!
//! For k methods stacked as Φ = (φ_1 … φ_k) ∈ ℝ^{d×k} and φ_w = Φw, let
//! Γ = γ1Φ − γ2 1ᵀ ∈ ℝ^{g×k}. Then
//!
//! ```text
//! γ1 φ_w − γ2 = γ1Φw − γ2 = Γw + (1ᵀw − 1)·γ2,
//! ```
//!
//! so **on the simplex (Σw = 1) the target folds into the Gram matrix**:
//! Q(φ_w) = wᵀGw with G = E\[ΓᵀΓ\] (Section 4, "min_ω Q(φ_ω) ⇔
//! min_ω ωᵀE\[ΓᵀΓ\]ω"). [`GramAccumulator`] estimates
//! G = (1/m) Σ_j Γ⁽ʲ⁾ᵀΓ⁽ʲ⁾ in f64, together with h = E\[Γᵀγ2\] and
//! c = E‖γ2‖², which give Q off the simplex too:
//! Q(φ_w) = wᵀGw + 2(s−1)hᵀw + (s−1)²c with s = Σw ([`Gram::q`]). Note that
//! wᵀGw alone is *not* Q(φ_w) off the simplex (e.g. w = 0 gives 0, not
//! E‖γ2‖²). The residual Gram is accumulated directly (not as
//! K − h1ᵀ − 1hᵀ − …), which keeps full relative accuracy when a method is
//! almost exact.
//!
//! Accumulation is streaming (memory independent of m; identity queries use
//! fixed feature blocks, independent of d) and *exact* across samples: each
//! sample's k×k contribution is summed into non-overlapping f64 partials
//! (Shewchuk's algorithm), so the result is the correctly rounded exact sum
//! and is bitwise identical for any sample order, chunking or thread count
//! ([`GramAccumulator::merge`], [`GramAccumulator::accumulate`]).
//!
//! ## The QP
//!
//! [`solve_qp`] / [`optimal_weights`] minimize wᵀGw s.t. w ≥ 0, Σw = 1 with
//! clarabel (f64): G is symmetrized, Jacobi-equilibrated
//! (D^{-1/2} G D^{-1/2}, D = diag(G), so methods whose error variances span
//! many orders of magnitude are solved as accurately as equal ones), checked
//! PSD, and gets a ridge of `1e-12` on the equilibrated diagonal (i.e.
//! `1e-12·G_ii` on each G_ii) so that a singular G (duplicated methods) has
//! a unique minimizer (duplicates share their weight; the split does not
//! change φ_w). clarabel's iterate is then *polished*: the equality-constrained
//! QP is solved exactly on its support and the KKT conditions checked (see
//! [`solve_qp`]). Finally negatives are clipped to 0 and the weights
//! renormalized to sum to 1 (aggopt clips but does not renormalize). Solver
//! failures are [`salience_core::SalienceError::Solver`] with a typed
//! [`salience_core::SolverStatus`] mapped from clarabel's. k = 1 returns `[1.0]` without calling the solver.
//!
//! ## Strategies
//!
//! [`Strategy`]: AGG_mean (uniform), AGG_robust (the sensitivity Gram),
//! AGG_faith (the infidelity Gram) and AGG_opt. Several metrics are
//! optimized at once by the λ-weighted sum of their Grams ([`combine`]; λ ≥ 0),
//! since Σ_t λ_t Q_t(φ_w) = wᵀ(Σ_t λ_t G_t)w.
//!
//! **Normalization of AGG_opt.** We follow the paper (App. C.2): each metric
//! is divided by the Frobenius norm of its (averaged) parameter matrix,
//! G_rob/‖G_rob‖_F + G_faith/‖G_faith‖_F ([`Scaling::Frobenius`],
//! [`OptConfig::paper`]). aggopt's code (`AGGopt_explainer`) normalizes
//! differently: it divides by the Frobenius norm of the *un-averaged stack*
//! of per-sample matrices (√(Σ_j‖G_j‖²_F), with λ = 0.5 each), so there the
//! balance of the two terms depends on the sample counts m and B; it also
//! rescales each method's infidelity queries by a per-batch β. Neither is
//! reproduced here.
//!
//! AGG_var (Rieger & Hansen 2020) weights *features*, not methods, so it is
//! not a convex weight vector and is not part of this crate.
//!
//! Per-input weights come from each input's Gram ([`per_sample_weights`]);
//! one global weight vector for a set of inputs from the mean of their Grams
//! ([`global_weights`]). [`apply_weights`] builds φ_w for an
//! [`salience_core::Ensemble`].
//!
//! ## Other dimensions of quality (App. B)
//!
//! [`alignment_grams`] (to a target map γ⋆ or a region of interest),
//! [`randomization_grams`] (the randomisation sanity check,
//! −E‖φ_θ − φ_θ̃‖², negative semidefinite) and [`truncated_l2_gram`]
//! (complexity, Σ min(|φ|, t)², minimized by majorize–minimize in
//! [`truncated_l2_weights`]) build per-input Grams that [`combine`] with the
//! others. A negative term can make the objective indefinite; the exact
//! non-convex solver [`global_minimum`] (support enumeration, k ≤ 16)
//! handles it.
//!
//! ## From a model and a panel of explainers
//!
//! [`robust_gram`] and [`faith_gram`] build the per-input Grams of AGG_robust
//! and AGG_faith from any [`salience_core::Model`] and panel of
//! [`salience_core::Explainer`]s (App. C.1: uniform noise U\[−0.1, 0.1\] for
//! Average-Sensitivity; 20% of the pixels replaced by a blurred copy of the
//! image for Infidelity; see [`UniformNoise`], [`PixelMasks`], [`Baseline`]).
//! All perturbations of all inputs go through the model / explainers in
//! chunks, each drawn from its own seed, so the Grams are bitwise identical
//! for any chunk size or thread count. [`aggregate`] runs a [`Strategy`] end
//! to end; [`held_out`] fits on m_agg = 50 and evaluates on m_eval = 200 fresh
//! perturbations. Maps are abs-max normalized as in App. C.2
//! ([`MapNormalization`]).
//!
//! ## Diagnostics
//!
//! [`Decomposition`] computes both sides of Theorem 4.2,
//! Q(φ_w) = Σ w_i Q(φ_i) − E\[Σ w_i‖γ1(φ_i − φ_w)‖²\], and [`BoundInputs`]
//! the Theorem 4.3 bound C·√(4 ln(16k/δ)/m), C = max{4c1√(2g·c2), 5c2}.
//!
//! ## Example
//!
//! ```
//! use ndarray::array;
//! use salience_optimize::{apply_weights, optimal_weights, Decomposition, GramAccumulator, Mask, Query, SampleWeights};
//! use salience_core::Ensemble;
//! // One input, d = 3 features, k = 2 methods (rows of phi).
//! let phi = array![[0.6f32, 0.3, 0.1], [0.2, 0.2, 0.6]];
//! // Infidelity samples: masks and the model's output drops.
//! let m0 = [0usize];
//! let m1 = [1usize, 2];
//! let queries = [
//!     Query::MaskRow { mask: Mask::Indices(&m0), target: 0.5 },
//!     Query::MaskRow { mask: Mask::Indices(&m1), target: 0.5 },
//! ];
//! let gram = GramAccumulator::accumulate(phi.view(), &queries)?;
//! let w = optimal_weights(&gram)?;
//! let d = Decomposition::new(&gram, w.as_slice())?;
//! assert!(d.q_aggregate <= d.q_methods[0].min(d.q_methods[1]) + 1e-12);
//! let e = Ensemble::from_stacked(phi.clone().into_shape_with_order((2, 1, 3)).unwrap().into_dyn(), None)?;
//! let agg = apply_weights(&e, SampleWeights::Global(&w))?;
//! assert_eq!(agg.shape(), &[1, 3]);
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

mod aggregate;
mod appendix_b;
mod apply;
mod diagnostics;
mod exact;
mod global_qp;
mod gram;
mod metrics_grams;
mod perturb;
mod qp;
mod query;
mod strategy;

pub use aggregate::{aggregate, held_out, AggregateConfig, Aggregated, HeldOut, MetricReport};

pub use appendix_b::{
    alignment_grams, randomization_grams, truncated_l2_gram, truncated_l2_weights, AlignmentTarget,
    TruncatedL2Fit,
};
pub use apply::{apply_weights, SampleWeights};
pub use diagnostics::{BoundInputs, Decomposition, GeneralizationBound};
pub use global_qp::{global_minimum, MAX_K_GLOBAL};
pub use gram::{Gram, GramAccumulator, SampleStats};
pub use metrics_grams::{
    explain_panel, faith_gram, robust_gram, ExplainerSeeds, FaithConfig, MapNormalization,
    RobustConfig,
};
pub use perturb::{Baseline, GaussianBlur, MaskShape, PixelMasks, SeedStream, UniformNoise};
pub use qp::{
    optimal_weights, solve_qp, QpSettings, QpSolution, QpStatus, Weights, MAX_PSD_TOLERANCE,
    MAX_RIDGE,
};
pub use query::{Mask, Query, SparseRow};
pub use strategy::{
    combine, frobenius, global_weights, per_sample_weights, MetricGrams, OptConfig, Scaling,
    Strategy,
};
