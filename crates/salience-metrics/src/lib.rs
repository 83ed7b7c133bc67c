//! # salience-metrics
//!
//! Evaluation metrics for attribution maps. Every metric takes a batch
//! ([`AttributionBatch`](salience_core::AttributionBatch), plus masks,
//! boxes or a model) and returns per-sample [`Scores`] whose
//! [`summary`](Scores::summary) is the mean ± std — or, for the metrics
//! that can be undefined for a single sample (localisation, relative
//! stability), per-sample [`Outcomes`]: a score or [`Undefined`] with the
//! reason, summarised over the defined samples, with
//! [`strict`](Outcomes::strict) giving the all-or-error form. Bad input is
//! a typed [`SalienceError`](salience_core::SalienceError), never a panic
//! and never NaN. Formulas, defaults, directions and the relation to Quantus and
//! Captum are in `docs/metrics.md`. Model-based metrics generate their
//! perturbed inputs lazily and evaluate them in chunks (never one forward per
//! perturbation), and draw sample `i`'s randomness from
//! `seeds.for_sample(i)`, so scores do not depend on the chunk size.
//!
//! | Metric | Function | Better |
//! |---|---|---|
//! | Gini sparseness (Chalasani et al.) | [`gini_sparseness`] | higher |
//! | Entropy complexity (Bhatt et al.) | [`entropy_complexity`] | lower |
//! | Pointing game (Zhang et al.) | [`pointing_game()`] | higher |
//! | Relevance rank accuracy (Arras et al.) | [`relevance_rank_accuracy`] | higher |
//! | Relevance mass accuracy (Arras et al.) | [`relevance_mass_accuracy`] | higher |
//! | Ranking (ROC) AUC vs mask | [`ranking_auc()`] | higher |
//! | Top-K intersection (Theiner et al.; Quantus) | [`top_k_intersection`] | higher |
//! | Box localisation, IoU ≥ 0.5 (CAM) | [`box_localization()`] | higher |
//! | Insertion AUC (Petsiuk et al.) | [`insertion`] | higher |
//! | Deletion AUC (Petsiuk et al.) | [`deletion`] | lower |
//! | Infidelity (Yeh et al.), with/without β | [`infidelity()`] | lower |
//! | Quantus' cumulative Infidelity | [`infidelity_cumulative`] | lower |
//! | Faithfulness Correlation (Bhatt et al.) | [`faithfulness_correlation()`] | higher |
//! | ROAD MoRF / LeRF (Rong et al.) | [`road()`] | MoRF lower, LeRF higher |
//! | Average / Max Sensitivity (Yeh et al.) | [`sensitivity()`] | lower |
//! | Relative Input / Output / Representation Stability (Agarwal et al.) | [`relative_stability`] | lower |
//! | Model Parameter Randomisation Test (Adebayo et al.) | [`mprt()`] | lower similarity |
//! | Paired comparison | [`wilcoxon_signed_rank`] | p-value |
//!
//! [`ScoreTable`] collects method × metric summaries for reports (text and
//! Markdown); [`on_defined_samples`] scores the samples a metric is defined
//! for when some maps are degenerate.
//!
//! ```
//! use ndarray::array;
//! use salience_core::AttributionBatch;
//! use salience_metrics::{gini_sparseness, pointing_game, MaskBatch, PointingGameConfig, SparsenessConfig};
//! let maps = AttributionBatch::from_pixel_maps(array![
//!     [[0.0f32, 1.0], [0.0, 0.0]],
//!     [[0.5, 0.5], [0.5, 0.6]],
//! ])?;
//! let masks = MaskBatch::from_f32(array![
//!     [[0.0f32, 1.0], [0.0, 0.0]],
//!     [[1.0, 0.0], [0.0, 0.0]],
//! ].view())?;
//! let pg = pointing_game(&maps, &masks, &PointingGameConfig::default())?;
//! assert_eq!(pg.strict()?.values(), &[1.0, 0.0]);
//! let gini = gini_sparseness(&maps, &SparsenessConfig::default())?;
//! println!("pointing accuracy {}, sparseness {}", pg.summary(), gini.summary());
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

#![deny(missing_docs)]

pub mod baseline;
pub mod bbox;
pub mod box_localization;
mod common;
pub mod defined;
pub mod entropy;
pub mod faithfulness_correlation;
pub mod imputation;
pub mod infidelity;
pub mod insertion_deletion;
pub mod maps;
pub mod mask;
pub mod mass_accuracy;
pub mod mprt;
pub mod perturbation;
pub mod pointing_game;
pub mod rank;
pub mod rank_accuracy;
pub mod ranking_auc;
pub mod road;
pub mod scores;
pub mod sensitivity;
pub mod similarity;
pub mod sparseness;
pub mod stability;
pub mod table;
pub mod top_k;
pub mod wilcoxon;

pub use baseline::{make_baseline, Baseline};
pub use bbox::BoundingBox;
pub use box_localization::{box_localization, BoxLocalization, BoxLocalizationConfig};
pub use defined::{on_defined_samples, SampleSubset};
pub use entropy::{entropy_complexity, entropy_of, ComplexityConfig};
pub use faithfulness_correlation::{
    faithfulness_correlation, faithfulness_correlation_detailed,
    faithfulness_correlation_with_segments, FaithfulnessCorrelationConfig,
};
pub use imputation::{noisy_linear_imputation, ImputationConfig};
pub use infidelity::{
    infidelity, infidelity_cumulative, infidelity_detailed, infidelity_with_segments,
    CumulativeBaseline, CumulativeInfidelityConfig, InfidelityConfig,
};
pub use insertion_deletion::{deletion, insertion, CurveConfig, PerturbationCurves, ScoreKind};
pub use maps::{pixel_maps, MapSign, PixelMapConfig};
pub use mask::MaskBatch;
pub use mass_accuracy::relevance_mass_accuracy;
pub use mprt::{mprt, MprtConfig, MprtResult};
pub use perturbation::{Perturbation, Projection};
pub use pointing_game::{pointing_game, PointingGameConfig};
pub use rank_accuracy::relevance_rank_accuracy;
pub use ranking_auc::ranking_auc;
pub use road::{road, RoadConfig, RoadCurves, RoadOrder, RoadScore};
pub use scores::{McScores, Outcome, Outcomes, Scores, Summary, Undefined};
pub use sensitivity::{sensitivity, SensitivityConfig, SensitivityScores};
pub use similarity::{spearman, ssim, SsimConfig, SsimWindow};
pub use sparseness::{gini_index, gini_sparseness, SparsenessConfig};
pub use stability::{
    relative_stability, relative_stability_with_perturbations, Representation, StabilityConfig,
    StabilityFormula, StabilityNoise, StabilityScores,
};
pub use table::{Better, ScoreTable};
pub use top_k::{top_k_intersection, TopKConfig};
pub use wilcoxon::{
    wilcoxon_differences, wilcoxon_signed_rank, WilcoxonConfig, WilcoxonMethod, WilcoxonResult,
};
