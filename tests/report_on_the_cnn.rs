//! The pipeline of `salience::report` end to end on the shipped CNN with
//! registry-built candle explainers (what `examples/quickstart.rs` and
//! `examples/explain.rs` run, at the smallest budgets).

use ndarray::{s, Axis};
use salience::core::{ChannelReduction, Explainer, Model, PixelMaps, Seeds};
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::CandleModel;
use salience::report::render::gray_image;
use salience::report::{run, write_run, PipelineConfig, ReportText};
use std::sync::Arc;

#[test]
fn the_pipeline_runs_on_the_shipped_cnn_and_writes_its_report() {
    let cnn = Arc::new(salience::models::assets::small_cnn(&candle_core::Device::Cpu).unwrap());
    let model = CandleModel::new(cnn.clone());
    let data = salience::datasets::assets::fashion_mnist_sample().unwrap();
    let x = data
        .images
        .slice(s![0..2, .., .., ..])
        .to_owned()
        .into_dyn();
    let targets = data.labels[0..2].to_vec();
    let specs =
        ExplainerSpec::parse_list("saliency\nintegrated_gradients:n_steps=4\ngrad_cam:layer=conv2")
            .unwrap();
    let panel: Vec<_> = Registry::with_builtins()
        .build_panel(&specs, &cnn)
        .unwrap()
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let cfg = PipelineConfig::tiny();
    let out = run(
        &model,
        &panel,
        x.view(),
        &targets,
        &[0, 1],
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    let rows: Vec<&str> = out.table.rows().iter().map(|r| r.0.as_str()).collect();
    assert_eq!(rows[..3], ["saliency", "integrated_gradients", "grad_cam"]);
    assert_eq!(rows.len(), 3 + 1 + 1 + 4);
    // Integrated Gradients (deterministic) is the registry explainer's map,
    // summed over the single channel.
    let ig = out.maps.batch(1).unwrap();
    assert_eq!(ig.shape(), &[2, 28, 28]);
    let direct = panel[1]
        .explain(x.view(), &targets, Seeds::base(9))
        .unwrap();
    assert_eq!(ig, direct);
    // Insertion of the target is a probability AUC in [0, 1].
    for s in out.per_image.iter().filter(|s| s.metric == "insertion") {
        let v = s.value.unwrap();
        assert!((0.0..=1.0).contains(&v), "{v}");
    }
    // The model's own logits explain the predicted class of both images.
    assert_eq!(model.forward(x.view()).unwrap().shape(), &[2, 10]);
    let pictures: Vec<_> = x
        .outer_iter()
        .map(|img| gray_image(img.index_axis(Axis(0), 0).into_dimensionality().unwrap()).unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("salience-cnn-report-{}", std::process::id()));
    let text = ReportText {
        title: "CNN".into(),
        description: String::new(),
        image_labels: vec!["a".into(), "b".into()],
        specs: specs.iter().map(|s| s.to_string()).collect(),
    };
    let written = write_run(&out, &dir, &pictures, &text).unwrap();
    assert_eq!(written.pictures.len(), 4);
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("grad_cam"));
    std::fs::remove_dir_all(&dir).unwrap();
}
