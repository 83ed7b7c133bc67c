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
//! | `insertion`, `deletion` | [`CurveConfig`](crate::CurveConfig) | |
//! | `infidelity` | [`InfidelityConfig`] | `decker2024`, `captum`, `captum_normalized`, `quantus` |
//! | `infidelity_cumulative` | [`CumulativeInfidelityConfig`] | |
//! | `faithfulness_correlation` | [`FaithfulnessCorrelationConfig`] | `decker2024`, `quantus` |
//! | `road_morf`, `road_lerf` | [`RoadConfig`] (its `order` set by the name) | `decker2024`, `quantus` |
//! | `avg_sensitivity`, `max_sensitivity` | [`SensitivityConfig`] | `decker2024`, `captum`, `quantus` |
//! | `ris`, `ros`, `rrs` | [`StabilityConfig`] | `quantus` |
//! | `mprt_spearman`, `mprt_ssim` | [`MprtConfig`](crate::MprtConfig) | |
//!
//! Unknown names, unknown keys (the error names the accepted ones) and
//! unparsable values are [`SalienceError::InvalidParameter`], and so are
//! values out of a parameter's range: every config implements [`Validate`]
//! (the same check its metric runs first), so a bad budget fails when the
//! spec is parsed, not deep inside a run. Checks that need the data (a
//! `k` larger than the masks, a patch size that does not divide the image)
//! are left to the metric.
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
    BoxLocalizationConfig, ComplexityConfig, CumulativeInfidelityConfig,
    FaithfulnessCorrelationConfig, InfidelityConfig, PixelMapConfig, PointingGameConfig,
    RoadConfig, RoadOrder, SensitivityConfig, SparsenessConfig, StabilityConfig, TopKConfig,
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
accept_all!(ComplexityConfig, PixelMapConfig);

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
    use crate::{CurveConfig, MprtConfig, SensitivityConfig, StabilityConfig};
    use salience_core::BatchSize;

    #[test]
    fn every_name_builds_the_metric_of_that_name() {
        for name in METRIC_NAMES {
            let m = metric_from_spec(&Spec::new(name).unwrap()).unwrap();
            assert_eq!(m.name(), *name);
        }
    }

    #[test]
    fn out_of_range_values_fail_when_the_spec_is_parsed() {
        // (spec, the parameter the error must name): each is a valid key
        // with a value its metric rejects, caught before any metric runs.
        let cases = [
            ("gini_sparseness:epsilon=-1", "epsilon"),
            ("pointing_game:tolerance=-2", "tolerance"),
            ("top_k_intersection:k=0", "k"),
            ("box_iou:threshold=1.5", "threshold"),
            ("box_iou:iou_threshold=-0.1", "iou_threshold"),
            ("insertion:n_steps=0", "n_steps"),
            ("deletion:batch_size=0", "batch_size"),
            ("infidelity:n_perturbations=0", "n_perturbations"),
            (
                "infidelity:preset=captum_normalized,n_perturbations=1",
                "n_perturbations",
            ),
            ("infidelity:perturbation.std=-1", "perturbation.std"),
            ("infidelity_cumulative:patch_size=0", "patch_size"),
            ("faithfulness_correlation:n_runs=1", "n_runs"),
            ("road_morf:percentages=0|50", "percentages"),
            ("road_lerf:percentages=50|100", "percentages"),
            ("road_morf:imputation.max_iterations=0", "max_iterations"),
            ("avg_sensitivity:radius=0", "radius"),
            ("max_sensitivity:n_samples=0", "n_samples"),
            ("ris:eps_min=-1", "eps_min"),
            ("rrs:batch_size=0", "batch_size"),
            ("mprt_spearman:batch_size=0", "batch_size"),
            ("mprt_ssim:ssim.k1=0", "k1/k2"),
            ("mprt_ssim:ssim.data_range=-1", "data_range"),
        ];
        for (text, key) in cases {
            match metric_from_spec(&text.parse().unwrap()) {
                Err(SalienceError::InvalidParameter { name, .. }) => {
                    assert_eq!(name, key, "{text}")
                }
                other => panic!("{text}: {:?}", other.map(|m| m.name().to_string())),
            }
        }
        // An empty list of ROAD percentages is an empty input, not a range.
        assert!(matches!(
            RoadConfig {
                percentages: vec![],
                ..RoadConfig::default()
            }
            .validate(),
            Err(SalienceError::Empty(_))
        ));
    }

    #[test]
    fn every_default_and_preset_is_valid() {
        let all: [&dyn Validate; 20] = [
            &SparsenessConfig::default(),
            &SparsenessConfig::quantus(),
            &PointingGameConfig::default(),
            &TopKConfig::default(),
            &TopKConfig::quantus(),
            &BoxLocalizationConfig::default(),
            &CurveConfig::default(),
            &InfidelityConfig::default(),
            &InfidelityConfig::decker2024(),
            &InfidelityConfig::captum(),
            &InfidelityConfig::captum_normalized(),
            &InfidelityConfig::quantus(),
            &CumulativeInfidelityConfig::default(),
            &FaithfulnessCorrelationConfig::decker2024(),
            &FaithfulnessCorrelationConfig::quantus(),
            &RoadConfig::decker2024(),
            &RoadConfig::quantus(),
            &SensitivityConfig::decker2024(),
            &StabilityConfig::quantus(),
            &MprtConfig::default(),
        ];
        for (i, c) in all.iter().enumerate() {
            assert!(c.validate().is_ok(), "config {i}");
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

    /// Each config with a `batch_size` takes `auto` or a positive integer
    /// (as text, a JSON number or a JSON string), defaults to `Auto`,
    /// refuses 0 naming the key, and round-trips through JSON.
    fn check_batch_size_field<T>(name: &str, get: fn(&T) -> BatchSize)
    where
        T: Default + Serialize + DeserializeOwned + Validate + PartialEq + std::fmt::Debug,
    {
        let kv = |v: &str| vec![("batch_size".to_string(), v.to_string())];
        assert_eq!(get(&T::default()), BatchSize::Auto, "{name}");
        let auto: T = config(name, &kv("auto"), &[]).unwrap();
        assert_eq!(get(&auto), BatchSize::Auto, "{name}");
        let sixteen: T = config(name, &kv("16"), &[]).unwrap();
        assert_eq!(get(&sixteen), BatchSize::fixed(16).unwrap(), "{name}");
        for bad in ["0", "-3", "1.5", "many"] {
            match config::<T>(name, &kv(bad), &[]) {
                Err(SalienceError::InvalidParameter { name: key, .. }) => {
                    assert_eq!(key, "batch_size", "{name}: {bad}")
                }
                other => panic!("{name}: batch_size={bad}: {other:?}"),
            }
        }
        let json = serde_json::to_string(&sixteen).unwrap();
        assert!(json.contains(r#""batch_size":16"#), "{json}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), sixteen);
        let json = serde_json::to_string(&auto).unwrap();
        assert!(json.contains(r#""batch_size":"auto""#), "{json}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), auto);
        // The spec text and its JSON form reach the same metric config.
        let text = metric_from_spec(&format!("{name}:batch_size=16").parse().unwrap());
        let json = metric_from_spec(
            &Spec::from_json(&format!(r#"{{"name": "{name}", "batch_size": 16}}"#)).unwrap(),
        );
        assert_eq!(text.unwrap().name(), json.unwrap().name());
        assert!(metric_from_spec(&format!("{name}:batch_size=0").parse().unwrap()).is_err());
    }

    #[test]
    fn batch_size_is_auto_or_a_positive_integer_everywhere() {
        check_batch_size_field::<CurveConfig>("deletion", |c| c.batch_size);
        check_batch_size_field::<InfidelityConfig>("infidelity", |c| c.batch_size);
        check_batch_size_field::<CumulativeInfidelityConfig>("infidelity_cumulative", |c| {
            c.batch_size
        });
        check_batch_size_field::<FaithfulnessCorrelationConfig>("faithfulness_correlation", |c| {
            c.batch_size
        });
        check_batch_size_field::<RoadConfig>("road_morf", |c| c.batch_size);
        check_batch_size_field::<SensitivityConfig>("avg_sensitivity", |c| c.batch_size);
        check_batch_size_field::<StabilityConfig>("ris", |c| c.batch_size);
        check_batch_size_field::<MprtConfig>("mprt_spearman", |c| c.batch_size);
    }
}
