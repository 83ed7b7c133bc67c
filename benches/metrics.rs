//! Evaluation metrics per image on the shipped trained small CNN
//! (Fashion-MNIST 1×28×28 → 10, `salience_models::assets::small_cnn`) and
//! the first shipped test images, and ROAD's noisy linear imputation at
//! 224×224×3 (synthetic image and map). Besides criterion's timings, each
//! model-based metric is run once with a timing wrapper around the model
//! (and the explainer) and the share of the wall time spent inside them is
//! printed. Results are recorded in docs/performance.md.
//!
//! `cargo bench --bench metrics -- --warm-up-time 1 --measurement-time 3`

mod common;

use candle_core::{DType, Device, Tensor};
use common::{images, predicted, small_cnn, TimedExplainer, TimedModel};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array2, Array3, Array4, ArrayViewD};
use rand::{RngExt, SeedableRng};
use salience::core::{AttributionBatch, Explainer, Result, SalienceError, Seeds};
use salience::explain::{CandleModel, LayerSplit, Saliency};
use salience::metrics::{
    deletion, faithfulness_correlation, infidelity, insertion, mprt, noisy_linear_imputation,
    relative_stability, road, sensitivity, CurveConfig, FaithfulnessCorrelationConfig,
    ImputationConfig, InfidelityConfig, MprtConfig, RoadConfig, SensitivityConfig, StabilityConfig,
};
use salience::models::init::seeded_tensors;
use salience::models::SmallCnn;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Images per metric call; times are reported per image.
const N: usize = 4;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// The shipped CNN with its top `k` layers (of `fc2`, `fc1`, `conv2`)
/// re-initialized with seeded Kaiming weights (MPRT's cascading
/// randomization).
fn randomized_top(k: usize) -> candle_core::Result<SmallCnn> {
    let mut t = candle_core::safetensors::load_buffer(
        salience::models::assets::SMALL_CNN_SAFETENSORS,
        &Device::Cpu,
    )?;
    let fresh = seeded_tensors(&SmallCnn::tensor_shapes(), 1000 + k as u64, &Device::Cpu)?;
    for layer in ["fc2", "fc1", "conv2"].iter().take(k) {
        for p in ["weight", "bias"] {
            let name = format!("{layer}.{p}");
            if let Some(v) = fresh.get(&name) {
                t.insert(name, v.clone());
            }
        }
    }
    SmallCnn::new(candle_nn::VarBuilder::from_tensors(
        t,
        DType::F32,
        &Device::Cpu,
    ))
}

fn attributions(model: &SmallCnn, x: &Array4<f32>, t: &[usize]) -> AttributionBatch {
    Saliency::new(model)
        .explain(x.view().into_dyn(), t, Seeds::base(0))
        .expect("saliency")
}

/// Runs `f` once and prints the share of its wall time inside the model.
fn share(name: &str, model: &TimedModel<CandleModel<Arc<SmallCnn>>>, f: impl FnOnce()) {
    model.take_secs();
    let t = Instant::now();
    f();
    let total = t.elapsed().as_secs_f64();
    let inside = model.take_secs();
    println!(
        "[model share] {name}: {:.1} ms per image, {:.1}% inside the model",
        total * 1e3 / N as f64,
        100.0 * inside / total
    );
}

fn bench_metrics(c: &mut Criterion) {
    let clf = Arc::new(small_cnn());
    let model = TimedModel::new(CandleModel::new(clf.clone()));
    let (x, _labels) = images(N);
    let xv = x.view().into_dyn();
    let targets = predicted(&clf, &x);
    let a = attributions(&clf, &x, &targets);
    let s = Seeds::base(7);
    let sal = Saliency::new(clf.clone());
    let timed_sal = TimedExplainer::new(Box::new(Saliency::new(clf.clone())));

    let infd = InfidelityConfig::decker2024(); // m = 200, 20 % ← blur
    let fcor = FaithfulnessCorrelationConfig::quantus(); // 224 px, 100 runs
    let sens = SensitivityConfig {
        n_samples: 50,
        ..SensitivityConfig::decker2024()
    };
    let stab = StabilityConfig {
        n_samples: 50,
        ..StabilityConfig::quantus()
    };
    let roadc = RoadConfig::quantus(); // 50 percentages
    let curve = CurveConfig::default(); // 784 steps (1000 clamped)
    let repr_nanos = AtomicU64::new(0);
    let repr = |x: ArrayViewD<'_, f32>| -> Result<Array2<f32>> {
        let t0 = Instant::now();
        let xs = x.as_standard_layout();
        let t = Tensor::from_slice(xs.as_slice().unwrap_or(&[]), x.shape(), &Device::Cpu)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        let a = clf
            .activations(&t, "fc1")
            .and_then(|a| a.to_dtype(DType::F32))
            .and_then(|a| a.to_vec2::<f32>())
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        let r = a.first().map(|v| v.len()).unwrap_or(0);
        let out = Array2::from_shape_vec((a.len(), r), a.concat())
            .map_err(|e| SalienceError::backend("ndarray", e));
        repr_nanos.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    };
    let factory = |k: usize| -> Result<Box<dyn Explainer>> {
        let m = randomized_top(k).map_err(|e| SalienceError::backend("ndarray", e))?;
        Ok(Box::new(Saliency::new(m)))
    };

    println!(
        "shipped small CNN 1x28x28 -> 10, N = {N} shipped images per call (load average {})",
        common::load_average()
    );
    share("infidelity (paper: m = 200, 20% <- blur)", &model, || {
        infidelity(&model, xv.clone(), &a, &targets, &infd, s).expect("infd");
    });
    share(
        "faithfulness correlation (Quantus: 224 px, 100 runs)",
        &model,
        || {
            faithfulness_correlation(&model, xv.clone(), &a, &targets, &fcor, s).expect("fcor");
        },
    );
    share("insertion (784 steps)", &model, || {
        insertion(&model, xv.clone(), &a, &targets, &curve, s).expect("ins");
    });
    share("deletion (784 steps)", &model, || {
        deletion(&model, xv.clone(), &a, &targets, &curve, s).expect("del");
    });
    share("ROAD (Quantus: 50 percentages)", &model, || {
        road(&model, xv.clone(), &a, &targets, &roadc, s).expect("road");
    });
    {
        timed_sal.take_secs();
        let t = Instant::now();
        sensitivity(&timed_sal, xv.clone(), &targets, &sens, s).expect("sens");
        let total = t.elapsed().as_secs_f64();
        println!(
            "[model share] sensitivity (saliency, m = 50): {:.1} ms per image, {:.1}% inside the explainer",
            total * 1e3 / N as f64,
            100.0 * timed_sal.take_secs() / total
        );
    }
    {
        timed_sal.take_secs();
        model.take_secs();
        repr_nanos.store(0, Ordering::Relaxed);
        let t = Instant::now();
        relative_stability(
            &model,
            &timed_sal,
            Some(&repr),
            xv.clone(),
            &targets,
            &stab,
            s,
        )
        .expect("stab");
        let total = t.elapsed().as_secs_f64();
        let (e, m) = (timed_sal.take_secs(), model.take_secs());
        let r = repr_nanos.load(Ordering::Relaxed) as f64 * 1e-9;
        println!(
            "[model share] RIS/ROS/RRS (saliency, m = 50): {:.1} ms per image, {:.1}% inside model + explainer, {:.1}% with the representation (fc1) calls",
            total * 1e3 / N as f64,
            100.0 * (e + m) / total,
            100.0 * (e + m + r) / total
        );
    }

    let mut g = c.benchmark_group("metrics_small_cnn_per_call_of_4_images");
    g.sample_size(10);
    g.bench_function("infidelity_paper_m200", |b| {
        b.iter(|| black_box(infidelity(&model, xv.clone(), &a, &targets, &infd, s).expect("infd")))
    });
    g.bench_function("faithfulness_correlation_quantus", |b| {
        b.iter(|| {
            black_box(
                faithfulness_correlation(&model, xv.clone(), &a, &targets, &fcor, s).expect("fcor"),
            )
        })
    });
    g.bench_function("insertion_784_steps", |b| {
        b.iter(|| black_box(insertion(&model, xv.clone(), &a, &targets, &curve, s).expect("ins")))
    });
    g.bench_function("road_quantus_50_levels", |b| {
        b.iter(|| black_box(road(&model, xv.clone(), &a, &targets, &roadc, s).expect("road")))
    });
    g.bench_function("sensitivity_saliency_m50", |b| {
        b.iter(|| black_box(sensitivity(&sal, xv.clone(), &targets, &sens, s).expect("sens")))
    });
    g.bench_function("stability_saliency_m50", |b| {
        b.iter(|| {
            black_box(
                relative_stability(&model, &sal, Some(&repr), xv.clone(), &targets, &stab, s)
                    .expect("stab"),
            )
        })
    });
    g.bench_function("mprt_saliency_3_stages", |b| {
        b.iter(|| {
            black_box(
                mprt(&factory, 3, xv.clone(), &targets, &MprtConfig::default(), s).expect("mprt"),
            )
        })
    });
    g.finish();
}

fn bench_imputation(c: &mut Criterion) {
    let img = Array3::from_shape_fn((3, 224, 224), |(ch, y, x)| {
        ((y as f32 * 0.05 + ch as f32).sin() + (x as f32 * 0.03).cos()) * 0.5
            + 0.1 * ((y * 7 + x * 13 + ch) % 11) as f32 / 11.0
    });
    // A smooth "attribution" (two blobs) ordered MoRF, as ROAD removes it.
    let map: Vec<f32> = (0..224 * 224)
        .map(|i| {
            let (y, x) = ((i / 224) as f32, (i % 224) as f32);
            (-((y - 80.0).powi(2) + (x - 90.0).powi(2)) / 2000.0).exp()
                + 0.7 * (-((y - 160.0).powi(2) + (x - 150.0).powi(2)) / 1500.0).exp()
        })
        .collect();
    let mut order: Vec<usize> = (0..map.len()).collect();
    order.sort_by(|&a, &b| map[b].total_cmp(&map[a]));
    let mut g = c.benchmark_group("road_imputation_224x224x3");
    g.sample_size(10);
    for pct in [10usize, 50, 90] {
        let mut mask = Array2::from_elem((224, 224), false);
        for &p in &order[..pct * 224 * 224 / 100] {
            mask[[p / 224, p % 224]] = true;
        }
        g.bench_function(format!("morf_{pct}pct"), |b| {
            b.iter(|| {
                black_box(
                    noisy_linear_imputation(
                        img.view(),
                        mask.view(),
                        &ImputationConfig::default(),
                        1,
                    )
                    .expect("impute"),
                )
            })
        });
    }
    // Scattered removal (a noisy map): 50 % of the pixels at random.
    let mut r = rng(5);
    let scattered = Array2::from_shape_fn((224, 224), |_| r.random::<f32>() < 0.5);
    g.bench_function("random_50pct", |b| {
        b.iter(|| {
            black_box(
                noisy_linear_imputation(
                    img.view(),
                    scattered.view(),
                    &ImputationConfig::default(),
                    1,
                )
                .expect("impute"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_imputation, bench_metrics);
criterion_main!(benches);
