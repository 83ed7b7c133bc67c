//! [`PipelineConfig`]: what [`run`](super::run) computes and with which
//! budgets, as plain serde data.

use salience_aggregate::Aggregation;
use salience_core::{Result, SalienceError};
use salience_metrics::{FaithfulnessCorrelationConfig, InfidelityConfig, SensitivityConfig};
use serde::{Deserialize, Serialize};

/// Most images one [`run`](super::run) accepts (each image is explained by every
/// method and re-explained by the robustness metrics).
pub const MAX_IMAGES: usize = 1 << 16;

/// Most perturbations / samples per image of any budget field.
pub const MAX_BUDGET: usize = 1 << 16;

/// The budgets of Decker et al.'s optimal aggregation (AGG_mean,
/// AGG_robust, AGG_faith, AGG_opt with per-image QP weights on abs-max
/// maps) and of its held-out check.
///
/// `Default` is the paper's (m_agg = 50 for both Grams, m_eval = 200
/// held-out perturbations, Section 5.1 / App. C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeckerBudget {
    /// Perturbations per image of the AGG_robust Gram (each re-explains
    /// the image with the whole panel).
    pub robust_samples: usize,
    /// Perturbations per image of the AGG_faith Gram (model calls only).
    pub faith_samples: usize,
    /// Fresh perturbations per image of the held-out sensitivity check.
    pub eval_robust_samples: usize,
    /// Fresh perturbations per image of the held-out infidelity check.
    pub eval_faith_samples: usize,
}

impl Default for DeckerBudget {
    fn default() -> Self {
        DeckerBudget {
            robust_samples: 50,
            faith_samples: 50,
            eval_robust_samples: 50,
            eval_faith_samples: 200,
        }
    }
}

/// The evaluation metrics' budgets. Every base method and aggregate is
/// scored by insertion and deletion AUC (Petsiuk et al.: blurred / black
/// baselines), infidelity (Decker et al. App. C.1), faithfulness
/// correlation (Bhatt et al. as Decker et al. configure it) and the Gini
/// index; base methods also by average and max sensitivity (it re-explains
/// every noisy copy), unless `sensitivity_samples` is 0.
///
/// `Default` is Quantus'/the papers' budgets where they name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricBudget {
    /// Steps of the insertion / deletion curves; `None`: one step per row
    /// of the image (Petsiuk et al.'s 224 steps at 224²).
    pub curve_steps: Option<usize>,
    /// Perturbations per image of infidelity.
    pub infidelity_perturbations: usize,
    /// Runs per image of faithfulness correlation.
    pub faithfulness_runs: usize,
    /// Noise samples per image of average / max sensitivity (0: skip).
    pub sensitivity_samples: usize,
}

impl Default for MetricBudget {
    fn default() -> Self {
        MetricBudget {
            curve_steps: None,
            infidelity_perturbations: InfidelityConfig::decker2024().n_perturbations,
            faithfulness_runs: FaithfulnessCorrelationConfig::decker2024().n_runs,
            sensitivity_samples: SensitivityConfig::decker2024().n_samples,
        }
    }
}

/// What [`run`](super::run) does beyond attributing: a plain struct (serde, `Default`
/// = the papers' budgets).
///
/// ```
/// let cfg: salience_report::PipelineConfig =
///     serde_json::from_str(r#"{"seed": 7, "aggregators": ["mean", "ucb"], "decker": null}"#).unwrap();
/// assert_eq!(cfg.seed, 7);
/// assert!(cfg.decker.is_none());
/// assert!(serde_json::from_str::<salience_report::PipelineConfig>(r#"{"sed": 7}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// The one seed every random draw derives from.
    pub seed: u64,
    /// Mahlau & Nolde's aggregators, applied to z-scored maps, as
    /// [`Aggregation`] specs (`"mean"`, `"ucb:eps=-0.5"`, …); the entry
    /// `"mahlau2022"` (or its old name `"paper"`) means every aggregator of
    /// [`Aggregation::mahlau2022`].
    pub aggregators: Vec<String>,
    /// AGG_var (Rieger & Hansen) on abs-max maps.
    pub agg_var: bool,
    /// Decker et al.'s optimal aggregation and its held-out check (`None`:
    /// skipped).
    pub decker: Option<DeckerBudget>,
    /// The metrics' budgets.
    pub metrics: MetricBudget,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            seed: 2024,
            aggregators: vec!["mahlau2022".into()],
            agg_var: true,
            decker: Some(DeckerBudget::default()),
            metrics: MetricBudget::default(),
        }
    }
}

impl PipelineConfig {
    /// The smallest budgets that still exercise every stage (for tests and
    /// smoke runs: 2–8 perturbations everywhere).
    pub fn tiny() -> Self {
        PipelineConfig {
            seed: 0,
            aggregators: vec!["mean".into()],
            agg_var: true,
            decker: Some(DeckerBudget {
                robust_samples: 2,
                faith_samples: 8,
                eval_robust_samples: 2,
                eval_faith_samples: 8,
            }),
            metrics: MetricBudget {
                curve_steps: Some(4),
                infidelity_perturbations: 4,
                faithfulness_runs: 4,
                sensitivity_samples: 2,
            },
        }
    }

    /// Checks every budget (each in `1..=MAX_BUDGET`, sensitivity may be
    /// 0) and parses every aggregator spec.
    pub fn validate(&self) -> Result<()> {
        let m = &self.metrics;
        let mut counts = vec![
            (
                "metrics.infidelity_perturbations",
                m.infidelity_perturbations,
            ),
            ("metrics.faithfulness_runs", m.faithfulness_runs),
        ];
        if let Some(s) = m.curve_steps {
            counts.push(("metrics.curve_steps", s));
        }
        if let Some(d) = &self.decker {
            counts.extend([
                ("decker.robust_samples", d.robust_samples),
                ("decker.faith_samples", d.faith_samples),
                ("decker.eval_robust_samples", d.eval_robust_samples),
                ("decker.eval_faith_samples", d.eval_faith_samples),
            ]);
        }
        for (name, v) in counts {
            if v == 0 || v > MAX_BUDGET {
                return Err(SalienceError::invalid(
                    name,
                    v,
                    &format!("in 1..={MAX_BUDGET}"),
                ));
            }
        }
        if m.sensitivity_samples > MAX_BUDGET {
            return Err(SalienceError::invalid(
                "metrics.sensitivity_samples",
                m.sensitivity_samples,
                &format!("in 0..={MAX_BUDGET}"),
            ));
        }
        self.aggregations().map(|_| ())
    }

    /// The parsed Mahlau & Nolde aggregators.
    pub(super) fn aggregations(&self) -> Result<Vec<Aggregation>> {
        let mut out = Vec::new();
        for spec in &self.aggregators {
            if spec == "mahlau2022" || spec == "paper" {
                out.extend(Aggregation::mahlau2022());
            } else {
                out.push(spec.parse()?);
            }
        }
        Ok(out)
    }

    /// How many [`Step`](super::Step)s [`run`](super::run) reports for a panel of `k` methods.
    pub fn n_steps(&self, k: usize) -> Result<usize> {
        let aggregates = self.aggregations()?.len()
            + usize::from(self.agg_var)
            + if self.decker.is_some() { 4 } else { 0 };
        let sens = if self.metrics.sensitivity_samples > 0 {
            k
        } else {
            0
        };
        let decker = if self.decker.is_some() { 3 } else { 0 };
        Ok(k + 1 + decker + k + aggregates + sens)
    }
}
