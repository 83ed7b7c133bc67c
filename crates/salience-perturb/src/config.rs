//! [`Validate`] for the configs of this crate: the parameter checks that
//! need no input, run when a config is built from data
//! ([`salience_core::spec::config_from`], `salience_explain`'s registry)
//! so that bad parameters fail at parse time. The explainers still check
//! what depends on the input (window sizes against the image, grid
//! against H and W, …) when they run.
//!
//! Batch sizes are a [`salience_core::BatchSize`] (`auto` or a positive
//! integer; 0 is rejected when the config is parsed), so they need no
//! check here.

use crate::baseline::Baseline;
use crate::feature_ablation::FeatureAblationConfig;
use crate::feature_mask::FeatureMask;
use crate::kernel_shap::KernelShapConfig;
use crate::lime::LimeConfig;
use crate::occlusion::OcclusionConfig;
use crate::rise::RiseConfig;
use crate::shapley_sampling::ShapleySamplingConfig;
use salience_core::spec::Validate;
use salience_core::validate::check_count;
use salience_core::{Result, SalienceError};

impl Validate for Baseline {
    fn validate(&self) -> Result<()> {
        match self {
            Baseline::Constant(c) if !c.is_finite() => {
                Err(SalienceError::invalid("value", c, "must be finite"))
            }
            Baseline::PerChannel(v) if v.is_empty() || v.iter().any(|c| !c.is_finite()) => {
                Err(SalienceError::invalid(
                    "per_channel",
                    format!("{v:?}"),
                    "must be non-empty and finite",
                ))
            }
            Baseline::Blur { sigma, kernel_size } => {
                if !(sigma.is_finite() && *sigma > 0.0) {
                    return Err(SalienceError::invalid(
                        "sigma",
                        sigma,
                        "must be finite and > 0",
                    ));
                }
                if kernel_size % 2 == 0 {
                    return Err(SalienceError::invalid(
                        "kernel_size",
                        kernel_size,
                        "must be odd and >= 1",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Validate for FeatureMask {
    fn validate(&self) -> Result<()> {
        match self {
            FeatureMask::Patches { size } => check_count("patch_size", *size),
            FeatureMask::Slic(s) => s.check(),
            _ => Ok(()),
        }
    }
}

impl Validate for OcclusionConfig {
    fn validate(&self) -> Result<()> {
        if self.window.is_empty() || self.window.len() != self.strides.len() {
            return Err(SalienceError::invalid(
                "window/strides",
                format!("{:?} / {:?}", self.window, self.strides),
                "need the same number (>= 1) of axes",
            ));
        }
        for &v in self.window.iter().chain(&self.strides) {
            check_count("window/strides", v)?;
        }
        self.baseline.validate()
    }
}

/// The checks shared by the group-based black-box methods.
fn grouped(mask: &FeatureMask, baseline: &Baseline) -> Result<()> {
    mask.validate()?;
    baseline.validate()
}

impl Validate for FeatureAblationConfig {
    fn validate(&self) -> Result<()> {
        grouped(&self.feature_mask, &self.baseline)
    }
}

impl Validate for ShapleySamplingConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_permutations", self.n_permutations)?;
        grouped(&self.feature_mask, &self.baseline)
    }
}

impl Validate for KernelShapConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_samples", self.n_samples)?;
        grouped(&self.feature_mask, &self.baseline)
    }
}

impl Validate for LimeConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_samples", self.n_samples)?;
        self.kernel.check()?;
        self.surrogate.check()?;
        grouped(&self.feature_mask, &self.baseline)
    }
}

impl Validate for RiseConfig {
    fn validate(&self) -> Result<()> {
        check_count("n_masks", self.n_masks)?;
        check_count("grid", self.grid)?;
        if !(self.p_keep > 0.0 && self.p_keep < 1.0) {
            return Err(SalienceError::invalid(
                "p_keep",
                self.p_keep,
                "must be in (0, 1)",
            ));
        }
        self.baseline.validate()
    }
}
