//! The model seams of the candle explainers and their adapters: the
//! differentiable [`Classifier`](classifier::Classifier), the
//! [`LayerSplit`](split::LayerSplit) at a named layer (CAMs,
//! representations), the forward pass written once as named stages
//! ([`forward::StagedForward`], with the ready containers of
//! [`sequential`]), the re-parameterizable [`weight_map::WeightMapModel`]
//! (NoiseGrad, randomisation tests), candle ↔ ndarray conversion
//! ([`convert`]) and [`adapter::CandleModel`], which turns any classifier
//! into salience-core's black-box [`salience_core::Model`] (for the
//! perturbation explainers of `salience-perturb`).

pub mod adapter;
pub mod classifier;
pub mod convert;
pub mod forward;
pub mod sequential;
pub mod split;
pub mod weight_map;
