//! Metrics as data: [`metric_from_spec`] builds any [`Metric`] of this
//! crate from a [`Spec`] (`name:key=value,...` or a JSON object), so the
//! metric panel of a run is a list of strings in a config file
//! ([`salience_core::spec::RunSpec`]).
//!
//! The name is the metric's [`Metric::name`] (table below); the keys are
//! the fields of its config (nested fields with dots, lists with `|`; see
//! [`salience_core::spec`]) laid over the config's `Default`, or over the
//! preset named by the key `preset`:
//!
//! | name | config | `preset` |
//! |---|---|---|
//! | `gini_sparseness` | [`SparsenessConfig`] | `quantus` |
//! | `entropy_complexity` | [`ComplexityConfig`] | |
//! | `pointing_game` | [`PointingGameConfig`] | |
//! | `relevance_rank_accuracy`, `relevance_mass_accuracy`, `ranking_auc` | [`PixelMapConfig`] | |
//! | `top_k_intersection` | [`TopKConfig`] | `quantus` |
//! | `box_iou` | [`BoxLocalizationConfig`] | |
//! | `insertion`, `deletion` | [`CurveConfig`] | |
//! | `infidelity` | [`InfidelityConfig`] | `decker2024`, `captum`, `captum_normalized`, `quantus` |
//! | `infidelity_cumulative` | [`CumulativeInfidelityConfig`] | |
//! | `faithfulness_correlation` | [`FaithfulnessCorrelationConfig`] | `decker2024`, `quantus` |
//! | `road_morf`, `road_lerf` | [`RoadConfig`] (its `order` set by the name) | `decker2024`, `quantus` |
//! | `avg_sensitivity`, `max_sensitivity` | [`SensitivityConfig`] | `decker2024`, `captum`, `quantus` |
//! | `ris`, `ros`, `rrs` | [`StabilityConfig`] | `quantus` |
//! | `mprt_spearman`, `mprt_ssim` | [`MprtConfig`] | |
//!
//! Unknown names, unknown keys (the error names the accepted ones) and
//! unparsable values are [`SalienceError::InvalidParameter`]. The metric
//! configs accept every parsed value here ([`Validate`]'s default); their
//! ranges are checked when the metric runs.
//!
//! ```
//! use salience_metrics::spec::metric_from_spec;
//! let m = metric_from_spec(&"infidelity:preset=decker2024,n_perturbations=10".parse()?)?;
//! assert_eq!(m.name(), "infidelity");
//! let r = metric_from_spec(&"road_lerf:percentages=10|20".parse()?)?;
//! assert_eq!(r.name(), "road_lerf");
//! assert!(metric_from_spec(&"infidelity:bogus=1".parse()?).is_err());
//! assert!(metric_from_spec(&"nope".parse()?).is_err());
//! # Ok::<(), salience_core::SalienceError>(())
//! ```

use crate::metric::{
    Deletion, Insertion, MassAccuracy, Metric, Mprt, MprtSimilarity, RankAccuracy, RankingAuc,
    Sensitivity, SensitivityStatistic, Stability, StabilityKind,
};
use crate::{
    BoxLocalizationConfig, ComplexityConfig, CumulativeInfidelityConfig, CurveConfig,
    FaithfulnessCorrelationConfig, InfidelityConfig, MprtConfig, PixelMapConfig,
    PointingGameConfig, RoadConfig, RoadOrder, SensitivityConfig, SparsenessConfig,
    StabilityConfig, TopKConfig,
};
use salience_core::spec::{config_from, Spec, Validate};
use salience_core::{Result, SalienceError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The names [`metric_from_spec`] knows.
pub const METRIC_NAMES: &[&str] = &[
    "gini_sparseness",
    "entropy_complexity",
    "pointing_game",
    "relevance_rank_accuracy",
    "relevance_mass_accuracy",
    "ranking_auc",
    "top_k_intersection",
    "box_iou",
    "insertion",
    "deletion",
    "infidelity",
    "infidelity_cumulative",
    "faithfulness_correlation",
    "road_morf",
    "road_lerf",
    "avg_sensitivity",
    "max_sensitivity",
    "ris",
    "ros",
    "rrs",
    "mprt_spearman",
    "mprt_ssim",
];

macro_rules! accept_all {
    ($($t:ty),*) => {$(impl Validate for $t {})*};
}
accept_all!(
    SparsenessConfig,
    ComplexityConfig,
    PointingGameConfig,
    PixelMapConfig,
    TopKConfig,
    BoxLocalizationConfig,
    CurveConfig,
    InfidelityConfig,
    CumulativeInfidelityConfig,
    FaithfulnessCorrelationConfig,
    RoadConfig,
    SensitivityConfig,
    StabilityConfig,
    MprtConfig
);

/// A preset of a metric config, by name.
type Preset<T> = (&'static str, fn() -> T);

/// The config of metric `name`: the `preset` key's preset (else
/// `Default`) with the other keys laid over it.
fn config<T>(name: &str, params: &[(String, String)], presets: &[Preset<T>]) -> Result<T>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let mut rest = params.to_vec();
    let base = match rest.iter().position(|(k, _)| k == "preset") {
        None => T::default(),
        Some(i) => {
            let (_, v) = rest.remove(i);
            match presets.iter().find(|(n, _)| *n == v) {
                Some((_, make)) => make(),
                None => {
                    let known: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
                    return Err(SalienceError::invalid(
                        "preset",
                        &v,
                        &format!("presets of `{name}`: {}", known.join(", ")),
                    ));
                }
            }
        }
    };
    config_from(name, &base, &rest)
}

/// The metric of `spec`. See the [module docs](self).
pub fn metric_from_spec(spec: &Spec) -> Result<Box<dyn Metric>> {
    let (n, p) = (spec.name.as_str(), spec.params.as_slice());
    let sens: &[Preset<SensitivityConfig>] = &[
        ("decker2024", SensitivityConfig::decker2024),
        ("captum", SensitivityConfig::captum),
        ("quantus", SensitivityConfig::quantus),
    ];
    let road: &[Preset<RoadConfig>] = &[
        ("decker2024", RoadConfig::decker2024),
        ("quantus", RoadConfig::quantus),
    ];
    let stab: &[Preset<StabilityConfig>] = &[("quantus", StabilityConfig::quantus)];
    Ok(match n {
        "gini_sparseness" => Box::new(config(n, p, &[("quantus", SparsenessConfig::quantus)])?),
        "entropy_complexity" => Box::new(config::<ComplexityConfig>(n, p, &[])?),
        "pointing_game" => Box::new(config::<PointingGameConfig>(n, p, &[])?),
        "relevance_rank_accuracy" => Box::new(RankAccuracy(config(n, p, &[])?)),
        "relevance_mass_accuracy" => Box::new(MassAccuracy(config(n, p, &[])?)),
        "ranking_auc" => Box::new(RankingAuc(config(n, p, &[])?)),
        "top_k_intersection" => Box::new(config(n, p, &[("quantus", TopKConfig::quantus)])?),
        "box_iou" => Box::new(config::<BoxLocalizationConfig>(n, p, &[])?),
        "insertion" => Box::new(Insertion(config(n, p, &[])?)),
        "deletion" => Box::new(Deletion(config(n, p, &[])?)),
        "infidelity" => Box::new(config(
            n,
            p,
            &[
                ("decker2024", InfidelityConfig::decker2024),
                ("captum", InfidelityConfig::captum),
                ("captum_normalized", InfidelityConfig::captum_normalized),
                ("quantus", InfidelityConfig::quantus),
            ],
        )?),
        "infidelity_cumulative" => Box::new(config::<CumulativeInfidelityConfig>(n, p, &[])?),
        "faithfulness_correlation" => Box::new(config(
            n,
            p,
            &[
                ("decker2024", FaithfulnessCorrelationConfig::decker2024),
                ("quantus", FaithfulnessCorrelationConfig::quantus),
            ],
        )?),
        "road_morf" | "road_lerf" => {
            let order = if n == "road_morf" {
                RoadOrder::MoRF
            } else {
                RoadOrder::LeRF
            };
            Box::new(RoadConfig {
                order,
                ..config(n, p, road)?
            })
        }
        "avg_sensitivity" | "max_sensitivity" => Box::new(Sensitivity {
            config: config(n, p, sens)?,
            statistic: if n == "avg_sensitivity" {
                SensitivityStatistic::Average
            } else {
                SensitivityStatistic::Max
            },
        }),
        "ris" | "ros" | "rrs" => Box::new(Stability {
            config: config(n, p, stab)?,
            kind: match n {
                "ris" => StabilityKind::Input,
                "ros" => StabilityKind::Output,
                _ => StabilityKind::Representation,
            },
        }),
        "mprt_spearman" | "mprt_ssim" => Box::new(Mprt {
            config: config(n, p, &[])?,
            similarity: if n == "mprt_spearman" {
                MprtSimilarity::Spearman
            } else {
                MprtSimilarity::Ssim
            },
        }),
        _ => {
            return Err(SalienceError::invalid(
                "metric",
                n,
                &format!("unknown metric; known: {}", METRIC_NAMES.join(", ")),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_the_metric_of_that_name() {
        for name in METRIC_NAMES {
            let m = metric_from_spec(&Spec::new(name).unwrap()).unwrap();
            assert_eq!(m.name(), *name);
        }
    }

    #[test]
    fn presets_and_keys_reach_the_config() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let presets: &[Preset<InfidelityConfig>] = &[("decker2024", InfidelityConfig::decker2024)];
        let c: InfidelityConfig = config(
            "infidelity",
            &[kv("preset", "decker2024"), kv("n_perturbations", "10")],
            presets,
        )
        .unwrap();
        assert_eq!(
            c,
            InfidelityConfig {
                n_perturbations: 10,
                ..InfidelityConfig::decker2024()
            }
        );
        let r: RoadConfig = config("road_morf", &[kv("percentages", "10|20")], &[]).unwrap();
        assert_eq!(r.percentages, vec![10.0, 20.0]);
        for bad in [
            "infidelity:preset=paper",
            "infidelity:bogus=1",
            "road_morf:percentages=a|b",
            "ris:preset=captum",
            "unknown_metric",
        ] {
            match metric_from_spec(&bad.parse().unwrap()) {
                Err(SalienceError::InvalidParameter { .. }) => {}
                other => panic!("{bad}: {:?}", other.map(|m| m.name().to_string())),
            }
        }
    }
}
