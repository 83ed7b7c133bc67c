//! The pipeline on a linear model: counts, seeds, determinism, the
//! metrics' values equal to the metrics' own calls, typed errors, and the
//! files written (only inside the folder given).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array2, Array4, ArrayViewD};
use salience_core::{
    derive_seed, AttributionBatch, ChannelReduction, Explainer, LinearModel, PixelMaps, Seeds,
};
use salience_metrics::{CurveConfig, Insertion, Metric};
use salience_report::render::RgbImage;
use salience_report::{run, write_run, PipelineConfig, ReportText};

/// a ⊙ x (with a = the model's weights of class 0).
struct Exact(Vec<f32>);
/// a ⊙ x + seeded noise (a stochastic method: its seeds matter).
struct Noisy(Vec<f32>);

fn times(a: &[f32], x: ArrayViewD<'_, f32>) -> ndarray::ArrayD<f32> {
    let n = x.shape()[0];
    let w = ndarray::Array::from_shape_vec((1, 1, 3, 3), a.to_vec()).unwrap();
    let w = w.broadcast((n, 1, 3, 3)).unwrap().to_owned().into_dyn();
    &x * &w
}

impl Explainer for Exact {
    fn name(&self) -> &str {
        "exact"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        _: &[usize],
        _: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        AttributionBatch::new(times(&self.0, x))
    }
}

impl Explainer for Noisy {
    fn name(&self) -> &str {
        "noisy"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        _: &[usize],
        seeds: Seeds<'_>,
    ) -> salience_core::Result<AttributionBatch> {
        use rand::RngExt;
        let mut out = times(&self.0, x);
        for (i, mut row) in out.outer_iter_mut().enumerate() {
            let mut rng = salience_core::seed::rng(seeds.for_sample(i));
            row.mapv_inplace(|v| v + rng.random_range(-0.5f32..0.5));
        }
        AttributionBatch::new(out)
    }
}

const A: [f32; 9] = [1.0, -2.0, 0.5, 3.0, 0.0, -1.0, 2.0, 1.5, -0.5];

type Panel = Vec<PixelMaps<Box<dyn Explainer>>>;

fn setup() -> (LinearModel, Panel, Array4<f32>) {
    let mut w = Array2::<f32>::zeros((2, 9));
    for (j, &a) in A.iter().enumerate() {
        w[[0, j]] = a;
        w[[1, j]] = -a;
    }
    let model = LinearModel::new(w, ndarray::array![0.0f32, 0.1]).unwrap();
    let panel: Panel = vec![
        PixelMaps::new(Box::new(Exact(A.to_vec())), ChannelReduction::Sum),
        PixelMaps::new(Box::new(Noisy(A.to_vec())), ChannelReduction::Sum),
    ];
    let x = Array4::from_shape_fn((3, 1, 3, 3), |(i, _, h, w)| {
        ((i * 7 + h * 3 + w) % 5) as f32 / 4.0 + 0.1
    });
    (model, panel, x)
}

#[test]
fn steps_rows_and_per_image_scores_add_up() {
    let (model, panel, x) = setup();
    let cfg = PipelineConfig::tiny();
    let mut steps = Vec::new();
    let out = run(
        &model,
        &panel,
        x.view().into_dyn(),
        &[0, 1, 0],
        &[10, 11, 12],
        &cfg,
        &mut |s| steps.push(s),
    )
    .unwrap();
    // 2 explain + 1 aggregate + 3 Decker + (2 + 6) evaluate + 2 sensitivity.
    assert_eq!(cfg.n_steps(2).unwrap(), 16);
    assert_eq!(steps.len(), 16);
    assert!(steps
        .iter()
        .enumerate()
        .all(|(i, s)| s.done == i && s.total == 16));
    let names: Vec<&str> = out.table.rows().iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names[..2], ["exact", "noisy"]);
    assert_eq!(
        names[names.len() - 4..],
        ["AGG_mean", "AGG_robust", "AGG_faith", "AGG_opt"]
    );
    assert_eq!(out.aggregates.len(), 6); // mean, AGG_var, 4 strategies
    assert_eq!(out.per_image.len(), 3 * 8 * 7);
    // Sensitivity exists for the base methods only.
    let sens = |row: &str| {
        out.per_image
            .iter()
            .filter(|s| s.row == row && s.metric == "avg_sensitivity")
            .map(|s| s.value)
            .collect::<Vec<_>>()
    };
    assert!(sens("noisy").iter().all(|v| v.is_some()));
    assert!(sens("AGG_opt").iter().all(|v| v.is_none()));
    // a ⊙ x moves with the noise on x: positive, finite sensitivity.
    assert!(sens("exact")
        .iter()
        .all(|v| v.is_some_and(|v| v > 0.0 && v.is_finite())));
    // Every AGG_opt weight vector is convex.
    let (_, ws) = out.weights.iter().find(|w| w.0 == "AGG_opt").unwrap();
    for w in ws {
        let s: f64 = w.as_slice().iter().sum();
        assert!((s - 1.0).abs() < 1e-6 && w.as_slice().iter().all(|&v| v >= -1e-9));
    }
}

#[test]
fn scores_equal_the_metrics_own_calls_with_the_documented_seeds() {
    let (model, panel, x) = setup();
    let cfg = PipelineConfig::tiny();
    let ids = [4u64, 5, 6];
    let targets = [0usize, 0, 1];
    let out = run(
        &model,
        &panel,
        x.view().into_dyn(),
        &targets,
        &ids,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    // Method 1 (noisy) of image i is seeded derive_seed(derive_seed(seed, id_i), 1).
    let method_seeds: Vec<u64> = ids
        .iter()
        .map(|&id| derive_seed(derive_seed(cfg.seed, id), 1))
        .collect();
    let maps = panel[1]
        .explain(
            x.view().into_dyn(),
            &targets,
            Seeds::per_sample(&method_seeds),
        )
        .unwrap();
    assert_eq!(maps, out.maps.batch(1).unwrap());
    // Insertion is metric 0: seeds derive_seed(s_i, 1000).
    let metric_seeds: Vec<u64> = ids
        .iter()
        .map(|&id| derive_seed(derive_seed(cfg.seed, id), 1000))
        .collect();
    let ins = Insertion(CurveConfig {
        n_steps: 4,
        ..CurveConfig::petsiuk_insertion()
    });
    let x = x.view().into_dyn();
    let batch = salience_metrics::EvalBatch::new(&model, x.view(), &targets, &maps).unwrap();
    let want = ins.score(&batch, Seeds::per_sample(&metric_seeds)).unwrap();
    for i in 0..3 {
        let got = out
            .per_image
            .iter()
            .find(|s| s.image == i && s.row == "noisy" && s.metric == "insertion")
            .unwrap();
        assert_eq!(got.value, want.get(i));
    }
}

#[test]
fn two_runs_are_identical_and_seeds_matter() {
    let (model, panel, x) = setup();
    let cfg = PipelineConfig::tiny();
    let go = |cfg: &PipelineConfig| {
        run(
            &model,
            &panel,
            x.view().into_dyn(),
            &[0, 1, 0],
            &[0, 1, 2],
            cfg,
            &mut |_| {},
        )
        .unwrap()
    };
    let (a, b) = (go(&cfg), go(&cfg));
    assert_eq!(a.per_image, b.per_image);
    assert_eq!(a.table, b.table);
    let c = go(&PipelineConfig { seed: 1, ..cfg });
    assert_ne!(a.per_image, c.per_image);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (model, panel, x) = setup();
    let cfg = PipelineConfig::tiny();
    let x = x.view().into_dyn();
    let go =
        |panel: &[PixelMaps<Box<dyn Explainer>>], t: &[usize], ids: &[u64], c: &PipelineConfig| {
            run(&model, panel, x.view(), t, ids, c, &mut |_| {})
        };
    assert!(go(&[], &[0, 0, 0], &[0, 1, 2], &cfg).is_err());
    assert!(go(&panel, &[0, 0], &[0, 1, 2], &cfg).is_err());
    assert!(go(&panel, &[0, 0, 2], &[0, 1, 2], &cfg).is_err()); // 2 classes
    assert!(go(&panel, &[0, 0, 0], &[0, 1], &cfg).is_err());
    let mut bad = cfg.clone();
    bad.metrics.infidelity_perturbations = 0;
    assert!(go(&panel, &[0, 0, 0], &[0, 1, 2], &bad).is_err());
    let mut bad = cfg.clone();
    bad.aggregators = vec!["no-such-aggregator".into()];
    assert!(go(&panel, &[0, 0, 0], &[0, 1, 2], &bad).is_err());
    let flat = ndarray::Array2::<f32>::zeros((3, 9)).into_dyn();
    assert!(run(
        &model,
        &panel,
        flat.view(),
        &[0, 0, 0],
        &[0, 1, 2],
        &cfg,
        &mut |_| {}
    )
    .is_err());
}

#[test]
fn the_report_is_written_inside_the_folder_only() {
    let (model, panel, x) = setup();
    let cfg = PipelineConfig::tiny();
    let out = run(
        &model,
        &panel,
        x.view().into_dyn(),
        &[0, 1, 0],
        &[0, 1, 2],
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    let root = std::env::temp_dir().join(format!("salience-report-test-{}", std::process::id()));
    let dir = root.join("out");
    let labels: Vec<String> = (0..3).map(|i| format!("image \"{i}\", a, b")).collect();
    let display = vec![RgbImage::filled(3, 3, [128; 3]).unwrap(); 3];
    let text = ReportText {
        title: "test".into(),
        description: "a linear model".into(),
        image_labels: labels.clone(),
        specs: vec!["exact".into(), "noisy".into()],
    };
    let written = write_run(&out, &dir, &display, &text).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = written
        .pictures
        .iter()
        .chain(&written.documents)
        .cloned()
        .collect();
    want.sort();
    assert_eq!(files, want);
    assert_eq!(written.pictures.len(), 6);
    // Nothing else appeared next to the folder.
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    let csv = std::fs::read_to_string(dir.join("scores.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + out.per_image.len());
    // Labels with commas and quotes are quoted CSV fields.
    assert!(csv.contains("\"image \"\"0\"\", a, b\""), "{csv}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("AGG_opt") && md.contains("grid_002.png"));
    let cfg_back: PipelineConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg_back, cfg);
    // Wrong number of display pictures: a typed error, nothing written.
    assert!(write_run(&out, &root.join("other"), &display[..2], &text).is_err());
    assert!(!root.join("other").exists());
    std::fs::remove_dir_all(&root).unwrap();
}
