//! A whole run is a config file (issue 20.3): one JSON document names the
//! explainer panel, the aggregators and the metrics, and every entry builds
//! through the one spec parser of `salience_core::spec`.

use salience::aggregate::{Aggregation, Aggregator};
use salience::core::spec::RunSpec;
use salience::core::{explain_ensemble, Seeds};
use salience::explain::registry::Registry;
use salience::explain::SequentialClassifier;
use salience::metrics::spec::metric_from_spec;
use std::sync::Arc;

#[test]
fn a_run_file_builds_panel_aggregators_and_metrics() {
    let run = RunSpec::from_json(
        r#"{
            "explainers": [
                "saliency",
                {"name": "ig", "n_steps": 4, "baseline": {"blur": {"sigma": 1, "kernel_size": 3}}},
                "smoothgrad:inner=ig,inner.n_steps=2,n_samples=3,sigma=0.1"
            ],
            "aggregators": ["mean", {"name": "var", "spread": "var", "ddof": 1}, "ucb:eps=-1"],
            "metrics": [{"name": "infidelity", "preset": "decker2024", "n_perturbations": 4}, "gini_sparseness"]
        }"#,
    )
    .unwrap();
    // A model on [N, 1, 2, 2] inputs: a fixed linear head over 4 pixels.
    let m = Arc::new(
        SequentialClassifier::new(2).push("fc", |x: &candle_core::Tensor| {
            let w = candle_core::Tensor::new(
                &[[1f32, -1.0], [0.5, 2.0], [0.0, 1.0], [-1.0, 0.5]],
                x.device(),
            )?;
            x.flatten_from(1)?.matmul(&w)
        }),
    );
    let panel = Registry::with_builtins()
        .build_panel(&run.explainers, &m)
        .unwrap();
    assert_eq!(panel.len(), 3);
    let x =
        ndarray::Array::from_shape_fn((2, 1, 2, 2), |(n, _, i, j)| (n + 2 * i + j) as f32 / 4.0)
            .into_dyn();
    let e = explain_ensemble(&panel, x.view(), &[0, 1], Seeds::base(3)).unwrap();
    assert_eq!(e.k(), 3);
    for s in &run.aggregators {
        let a = Aggregation::from_spec(s).unwrap();
        let out = a.aggregate(&e).unwrap();
        assert!(out.view().iter().all(|v| v.is_finite()), "{s}");
    }
    let names: Vec<String> = run
        .metrics
        .iter()
        .map(|s| metric_from_spec(s).unwrap().name().to_string())
        .collect();
    assert_eq!(names, ["infidelity", "gini_sparseness"]);
    // A typo anywhere is a typed error before anything runs.
    let bad = RunSpec::from_json(r#"{"aggregators": ["ucb:eps=-1,bogus=2"]}"#).unwrap();
    assert!(Aggregation::from_spec(&bad.aggregators[0]).is_err());
}
