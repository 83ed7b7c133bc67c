//! Metric configs are data (issue 20.3): every config round-trips through
//! JSON, missing keys take the config's `Default`, unknown keys are errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use salience_metrics::{
    BoxLocalizationConfig, ComplexityConfig, CumulativeInfidelityConfig, CurveConfig,
    FaithfulnessCorrelationConfig, ImputationConfig, InfidelityConfig, MprtConfig, PixelMapConfig,
    PointingGameConfig, RoadConfig, SensitivityConfig, SparsenessConfig, SsimConfig,
    StabilityConfig, TopKConfig, WilcoxonConfig,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(c: T) {
    let text = serde_json::to_string(&c).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(back, c, "{text}");
}

#[test]
fn every_metric_config_round_trips() {
    round_trip(BoxLocalizationConfig::default());
    round_trip(ComplexityConfig::default());
    round_trip(CumulativeInfidelityConfig::default());
    round_trip(CurveConfig::default());
    round_trip(FaithfulnessCorrelationConfig::quantus());
    round_trip(FaithfulnessCorrelationConfig::decker2024());
    round_trip(ImputationConfig::default());
    for c in [
        InfidelityConfig::decker2024(),
        InfidelityConfig::decker2024(),
        InfidelityConfig::captum(),
        InfidelityConfig::captum_normalized(),
        InfidelityConfig::quantus(),
    ] {
        round_trip(c);
    }
    round_trip(MprtConfig::default());
    round_trip(PixelMapConfig::default());
    round_trip(PointingGameConfig::default());
    round_trip(RoadConfig::quantus());
    round_trip(RoadConfig::decker2024());
    for c in [
        SensitivityConfig::decker2024(),
        SensitivityConfig::captum(),
        SensitivityConfig::quantus(),
    ] {
        round_trip(c);
    }
    round_trip(SparsenessConfig::quantus());
    round_trip(SsimConfig::default());
    round_trip(StabilityConfig::quantus());
    round_trip(TopKConfig::quantus());
    round_trip(WilcoxonConfig::default());
}

#[test]
fn missing_keys_default_and_unknown_keys_fail() {
    let c: RoadConfig = serde_json::from_str(r#"{"order": "lerf"}"#).unwrap();
    assert_eq!(
        c,
        RoadConfig {
            order: salience_metrics::RoadOrder::LeRF,
            ..RoadConfig::default()
        }
    );
    let m: PixelMapConfig = serde_json::from_str(r#"{"reduction": "sumabs"}"#).unwrap();
    assert_eq!(m.reduction, salience_core::ChannelReduction::SumAbs);
    for bad in [
        r#"{"bogus": 1}"#,
        r#"{"order": "sideways"}"#,
        r#"{"imputation": {"bogus": 1}}"#,
    ] {
        assert!(serde_json::from_str::<RoadConfig>(bad).is_err(), "{bad}");
    }
}
