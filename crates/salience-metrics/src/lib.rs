//! # salience-metrics
//!
//! Evaluation metrics for attribution maps. Every metric returns per-sample
//! [`Outcomes`]: for each sample a score, or [`Undefined`] with the reason
//! (a constant map, an empty mask, no kept perturbation, a zero-variance
//! correlation, …), so one undefined sample never costs the others their
//! scores. [`Outcomes::summary`] is the mean ± std over the defined samples
//! and counts them; [`Outcomes::strict`] gives the all-or-error form. The
//! Monte Carlo metrics (infidelity, faithfulness correlation, average
//! sensitivity) also report each score's standard error over its draws
//! ([`Outcomes::sem`]). Bad input is a typed
//! [`SalienceError`](salience_core::SalienceError), never a panic and never
//! NaN.
//!
//! **One seam:** every metric implements [`Metric`] (a `name`, a
//! `direction` and `score(batch, seeds)`) over one [`EvalBatch`] carrying
//! the model, inputs, targets and maps, plus masks / boxes / segments /
//! explainer / representation / MPRT cascade where a metric needs them (a
//! missing one is a typed error). [`evaluate`] scores a panel of metrics and
//! feeds a [`ScoreTable`]. The free functions below are the same metrics
//! with positional arguments (the trait gives exactly their values).
//!
//! Each metric's module documents its formula, defaults, presets, edge
//! cases and its measured relation to Quantus and Captum; `docs/metrics.md`
//! is the guide that points here. Model-based metrics generate their perturbed
//! inputs lazily and evaluate them in chunks (never one forward per
//! perturbation), and draw sample `i`'s randomness from
//! `seeds.for_sample(i)`, so scores do not depend on the chunk size or on
//! the other samples of the batch.
//!
//! | Metric | Function | [`Metric`] | Better |
//! |---|---|---|---|
//! | Gini sparseness (Chalasani et al.) | [`gini_sparseness`] | [`SparsenessConfig`] | higher |
//! | Entropy complexity (Bhatt et al.) | [`entropy_complexity`] | [`ComplexityConfig`] | lower |
//! | Pointing game (Zhang et al.) | [`pointing_game()`] | [`PointingGameConfig`] | higher |
//! | Relevance rank accuracy (Arras et al.) | [`relevance_rank_accuracy`] | [`RankAccuracy`] | higher |
//! | Relevance mass accuracy (Arras et al.) | [`relevance_mass_accuracy`] | [`MassAccuracy`] | higher |
//! | Ranking (ROC) AUC vs mask | [`ranking_auc()`] | [`RankingAuc`] | higher |
//! | Top-K intersection (Theiner et al.; Quantus) | [`top_k_intersection`] | [`TopKConfig`] | higher |
//! | Box localisation, IoU ≥ 0.5 (CAM) | [`box_localization()`] | [`BoxLocalizationConfig`] | higher |
//! | Insertion AUC (Petsiuk et al.) | [`insertion`] | [`Insertion`] | higher |
//! | Deletion AUC (Petsiuk et al.) | [`deletion`] | [`Deletion`] | lower |
//! | Infidelity (Yeh et al.), with/without β | [`infidelity()`] | [`InfidelityConfig`] | lower |
//! | Quantus' cumulative Infidelity | [`infidelity_cumulative`] | [`CumulativeInfidelityConfig`] | lower |
//! | Faithfulness Correlation (Bhatt et al.) | [`faithfulness_correlation()`] | [`FaithfulnessCorrelationConfig`] | higher |
//! | ROAD MoRF / LeRF (Rong et al.) | [`road()`] | [`RoadConfig`] | MoRF lower, LeRF higher |
//! | Average / Max Sensitivity (Yeh et al.) | [`sensitivity()`] | [`Sensitivity`] | lower |
//! | Relative Input / Output / Representation Stability (Agarwal et al.) | [`relative_stability`] | [`Stability`] | lower |
//! | Model Parameter Randomisation Test (Adebayo et al.) | [`mprt()`] | [`Mprt`] | lower similarity |
//! | Paired comparison | [`wilcoxon_signed_rank`] | — | p-value |
//! | A paper's claim: paired tests, Holm, effect sizes, verdict | [`Claim::evaluate`] | — | [`Verdict`] |
//!
//! **Parity.** Fixtures written by the reference library itself are
//! checked in CI: `scripts/parity/quantus_fixtures.py` (run by developers;
//! needs torch and Quantus) writes `tests/fixtures/quantus/*.json` with the
//! library versions, and `tests/quantus_parity.rs` asserts agreement at
//! 1e-5 relative; each module states its measured maximum and every known
//! difference. Side by side on the shipped CNN mirrored in PyTorch (16–64
//! images; Quantus 0.6, Captum 0.9; the project's parity notes), everything
//! not documented as a difference agrees to 1e-6 or better.
//!
//! ```
//! use ndarray::{array, Array4};
//! use salience_core::{AttributionBatch, LinearModel, Seeds};
//! use salience_metrics::{
//!     evaluate, pointing_game, EvalBatch, MaskBatch, Metric, PointingGameConfig, SparsenessConfig,
//! };
//! let model = LinearModel::new(array![[1.0f32, 0.0, 0.0, 0.0]], array![0.0f32])?;
//! let x = Array4::<f32>::ones((3, 1, 2, 2));
//! let maps = AttributionBatch::from_pixel_maps(array![
//!     [[0.0f32, 1.0], [0.0, 0.0]],
//!     [[0.5, 0.5], [0.5, 0.6]],
//!     [[0.0, 0.0], [0.0, 0.0]], // all zero: undefined, the others keep their scores
//! ])?;
//! let masks = MaskBatch::from_f32(array![
//!     [[0.0f32, 1.0], [0.0, 0.0]],
//!     [[1.0, 0.0], [0.0, 0.0]],
//!     [[1.0, 0.0], [0.0, 0.0]],
//! ].view())?;
//! // A free function …
//! let pg = pointing_game(&maps, &masks, &PointingGameConfig::default())?;
//! assert_eq!((pg.get(0), pg.get(1), pg.get(2)), (Some(1.0), Some(0.0), None));
//! assert_eq!(pg.summary().n, 2);
//! assert!(pg.strict().is_err());
//! // … or a panel through the Metric seam, into a score table.
//! let batch = EvalBatch::new(&model, x.view().into_dyn(), &[0, 0, 0], &maps)?.with_masks(&masks)?;
//! let panel: [&dyn Metric; 2] = [&PointingGameConfig::default(), &SparsenessConfig::default()];
//! let result = evaluate(&panel, &batch, Seeds::base(0))?;
//! assert_eq!(result.outcomes()[0], pg);
//! println!("{}", result.to_table("example")?.to_text(3)?);
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
pub mod mann_whitney;
pub mod maps;
pub mod mask;
pub mod mass_accuracy;
pub mod metric;
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
pub mod spec;
pub mod stability;
pub mod table;
pub mod top_k;
pub mod verdict;
pub mod wilcoxon;

pub use baseline::{make_baseline, Baseline};
pub use bbox::BoundingBox;
pub use box_localization::{box_localization, BoxLocalization, BoxLocalizationConfig};
pub use common::AUTO_EXPLAIN_BATCH;
pub use defined::{on_defined_samples, SampleSubset};
pub use entropy::{entropy_complexity, entropy_of, ComplexityConfig};
pub use faithfulness_correlation::{faithfulness_correlation, FaithfulnessCorrelationConfig};
pub use imputation::{noisy_linear_imputation, ImputationConfig};
pub use infidelity::{
    infidelity, infidelity_cumulative, CumulativeBaseline, CumulativeInfidelityConfig,
    InfidelityConfig,
};
pub use insertion_deletion::{deletion, insertion, CurveConfig, PerturbationCurves, ScoreKind};
pub use maps::{pixel_maps, MapSign, PixelMapConfig};
pub use mask::MaskBatch;
pub use mass_accuracy::relevance_mass_accuracy;
pub use metric::{
    evaluate, Deletion, EvalBatch, Evaluation, ExplainerAt, Insertion, MassAccuracy, Metric, Mprt,
    MprtSimilarity, RankAccuracy, RankingAuc, Sensitivity, SensitivityStatistic, Stability,
    StabilityKind,
};
pub use mprt::{mprt, MprtConfig, MprtResult};
pub use perturbation::{Perturbation, Projection};
pub use pointing_game::{pointing_game, PointingGameConfig};
pub use rank_accuracy::relevance_rank_accuracy;
pub use ranking_auc::ranking_auc;
pub use road::{road, RoadConfig, RoadCurves, RoadOrder, RoadScore};
pub use scores::{Outcome, Outcomes, Scores, Summary, Undefined};
pub use sensitivity::{sensitivity, SensitivityConfig, SensitivityScores};
pub use similarity::{spearman, ssim, SsimConfig, SsimWindow};
pub use sparseness::{gini_index, gini_sparseness, SparsenessConfig};
pub use stability::{
    relative_stability, relative_stability_with_perturbations, Representation, StabilityConfig,
    StabilityFormula, StabilityNoise, StabilityScores,
};
pub use table::{Better, ScoreTable};
pub use top_k::{top_k_intersection, TopKConfig};
pub use verdict::{
    holm, Claim, ClaimResult, Comparison, Direction, PairResult, Verdict, VerdictConfig,
};
pub use wilcoxon::{
    wilcoxon_differences, wilcoxon_signed_rank, WilcoxonConfig, WilcoxonMethod, WilcoxonResult,
    ZeroMethod,
};
