//! The whole salience pipeline as one call, and its report: every
//! picture, chart, record and table file of the workspace.
//!
//! This crate sits at the top of the workspace's dependency graph: it uses
//! the explainers' common seam ([`salience_core::Explainer`]), the
//! aggregators, the optimal aggregation of Decker et al. (2024) and the
//! metrics, and turns their outputs into files a person reads. It never
//! touches candle: any [`salience_core::Model`] and any panel of
//! [`salience_core::Explainer`]s run through it.
//!
//! * [`pipeline`] (`pipeline/`: `config.rs`, `run.rs`, `select.rs`):
//!   [`PipelineConfig`] (a plain, serde-deserializable struct with
//!   [`Default`]) and [`run`]: attribute with every method of a panel,
//!   aggregate (Mahlau & Nolde's aggregators, AGG_var, Decker et al.'s
//!   AGG_mean / AGG_robust / AGG_faith / AGG_opt), evaluate every method
//!   and aggregate (insertion, deletion, infidelity, faithfulness
//!   correlation, Gini, average / max sensitivity), and check the QP's
//!   guarantee on held-out perturbations. The result is a [`Run`].
//!   [`correctly_classified`] is the seeded choice of images a model gets
//!   right.
//! * [`render`] (`render/`): pictures — colormaps, robust normalization,
//!   overlays, labelled heatmap grids with colour bars ([`render::HeatmapGrid`]),
//!   PNG encoding — and [`render::plot`]: line charts with bands, box plots
//!   and grouped bar charts with error bars (plotters, text in the
//!   embedded DejaVu Sans, so no system fonts are needed).
//! * [`records`] (`records/`): per-sample results of a dataset-scale run as
//!   JSON lines, one file per [`Shard`] (`--shard i/n`, per-sample seeds),
//!   and their exact merge.
//! * [`write`](mod@write): a [`Run`] written to a folder: per image a labelled
//!   heatmap grid with colour bars and an overlay, `scores.csv` (one row
//!   per image × method × metric), `summary.md` / the printed tables, and
//!   `report.md`. Nothing is written outside the folder given; file names
//!   are made from indices, never from user text.

pub mod pipeline;
pub mod records;
pub mod render;
pub mod write;

pub use pipeline::{
    correctly_classified, run, DeckerBudget, MetricBudget, PipelineConfig, Run, Step,
};
pub use records::Shard;
pub use write::{write_run, ReportText, Written};
