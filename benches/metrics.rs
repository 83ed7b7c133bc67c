//! Evaluation metrics per image on a small reference CNN (1×28×28, conv
//! 1→16→32 with ReLU and 2×2 max pooling, fc → 10; seeded random weights),
//! and ROAD's noisy linear imputation at 224×224×3. Besides criterion's
//! timings, each model-based metric is run once with a timing wrapper
//! around the model (and the explainer) and the share of the wall time
//! spent inside them is printed. Results are recorded in
//! docs/performance.md.
//!
//! `cargo bench --bench metrics -- --warm-up-time 1 --measurement-time 3`

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array2, Array3, Array4, ArrayViewD};
use rand::{RngExt, SeedableRng};
use salience::core::{AttributionBatch, Explainer, Model, Result, SalienceError, Seeds};
use salience::explain::{CandleModel, LayerSplit, Saliency, SequentialClassifier};
use salience::metrics::{
    deletion, faithfulness_correlation, infidelity, insertion, mprt, noisy_linear_imputation,
    relative_stability, road, sensitivity, CurveConfig, FaithfulnessCorrelationConfig,
    ImputationConfig, InfidelityConfig, MprtConfig, RoadConfig, SensitivityConfig, StabilityConfig,
};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Images per metric call; times are reported per image.
const N: usize = 4;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

fn tensor(seed: u64, shape: &[usize], scale: f32) -> Tensor {
    let mut g = rng(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| g.random_range(-scale..scale)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor")
}

fn pool(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

/// The reference CNN; layer `l` (0: conv1, 1: conv2, 2: fc) takes its
/// weights from `seeds[l]` (MPRT re-seeds the top layers).
fn cnn(seeds: [u64; 3]) -> SequentialClassifier {
    let cfg = candle_nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    let conv1 = candle_nn::Conv2d::new(
        tensor(seeds[0], &[16, 1, 3, 3], 1.0 / 3.0),
        Some(tensor(seeds[0] + 100, &[16], 0.1)),
        cfg,
    );
    let conv2 = candle_nn::Conv2d::new(
        tensor(seeds[1], &[32, 16, 3, 3], 1.0 / 12.0),
        Some(tensor(seeds[1] + 100, &[32], 0.1)),
        cfg,
    );
    let fc = candle_nn::Linear::new(
        tensor(seeds[2], &[10, 32 * 7 * 7], 1.0 / 40.0),
        Some(tensor(seeds[2] + 100, &[10], 0.1)),
    );
    SequentialClassifier::new(10)
        .push("conv1", conv1)
        .push("relu1", |x: &Tensor| x.relu())
        .push("pool1", pool)
        .push("conv2", conv2)
        .push("relu2", |x: &Tensor| x.relu())
        .push("pool2", pool)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push("fc", fc)
}

const TRAINED: [u64; 3] = [11, 12, 13];

/// Accumulates the time spent inside `forward`.
struct Timed<M> {
    inner: M,
    nanos: AtomicU64,
}
impl<M: Model> Model for Timed<M> {
    fn forward(&self, x: ArrayViewD<'_, f32>) -> Result<Array2<f32>> {
        let t = Instant::now();
        let y = self.inner.forward(x);
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        y
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn preferred_batch_size(&self) -> usize {
        self.inner.preferred_batch_size()
    }
}

/// Accumulates the time spent inside `explain` (gradients: the model).
struct TimedExplainer<'a> {
    inner: &'a dyn Explainer,
    nanos: &'a AtomicU64,
}
impl Explainer for TimedExplainer<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        t: &[usize],
        s: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let t0 = Instant::now();
        let y = self.inner.explain(x, t, s);
        self.nanos
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        y
    }
}

fn images() -> Array4<f32> {
    Array4::from_shape_fn((N, 1, 28, 28), |(n, _, y, x)| {
        let (dy, dx) = (y as f32 - 14.0 - n as f32, x as f32 - 12.0 + n as f32);
        (-(dy * dy + dx * dx) / 60.0).exp() + 0.1 * ((y * 7 + x * 3 + n) % 5) as f32 / 5.0
    })
}

fn attributions(model: &SequentialClassifier, x: &Array4<f32>, t: &[usize]) -> AttributionBatch {
    Saliency::new(model)
        .explain(x.view().into_dyn(), t, Seeds::base(0))
        .expect("saliency")
}

/// Runs `f` once and prints the share of its wall time inside the model.
fn share(name: &str, nanos: &AtomicU64, f: impl FnOnce()) {
    nanos.store(0, Ordering::Relaxed);
    let t = Instant::now();
    f();
    let total = t.elapsed().as_secs_f64();
    let inside = nanos.load(Ordering::Relaxed) as f64 * 1e-9;
    println!(
        "[model share] {name}: {:.1} ms per image, {:.1}% inside the model",
        total * 1e3 / N as f64,
        100.0 * inside / total
    );
}

fn bench_metrics(c: &mut Criterion) {
    let clf = cnn(TRAINED);
    let model = Timed {
        inner: CandleModel::new(cnn(TRAINED)),
        nanos: AtomicU64::new(0),
    };
    let x = images();
    let xv = x.view().into_dyn();
    let logits = model.inner.forward(xv.clone()).expect("forward");
    let targets: Vec<usize> = logits
        .outer_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0
        })
        .collect();
    let a = attributions(&clf, &x, &targets);
    let s = Seeds::base(7);
    let sal = Saliency::new(&clf);
    let enanos = AtomicU64::new(0);
    let timed_sal = TimedExplainer {
        inner: &sal,
        nanos: &enanos,
    };
    // The explainer-based metrics count explainer + model time.
    let both = AtomicU64::new(0);
    let sum_both = || {
        both.store(
            model.nanos.load(Ordering::Relaxed) + enanos.load(Ordering::Relaxed),
            Ordering::Relaxed,
        )
    };

    let infd = InfidelityConfig::paper(); // m = 200, 20 % ← blur
    let fcor = FaithfulnessCorrelationConfig::quantus(); // 224 px, 100 runs
    let sens = SensitivityConfig {
        n_samples: 50,
        ..SensitivityConfig::paper()
    };
    let stab = StabilityConfig {
        n_samples: 50,
        ..StabilityConfig::quantus()
    };
    let roadc = RoadConfig::quantus(); // 50 percentages
    let curve = CurveConfig::default(); // 784 steps (1000 clamped)
    let repr = |x: ArrayViewD<'_, f32>| -> Result<Array2<f32>> {
        let xs = x.as_standard_layout();
        let t = Tensor::from_slice(xs.as_slice().unwrap_or(&[]), x.shape(), &Device::Cpu)
            .map_err(|e| SalienceError::Backend(e.to_string()))?;
        let a = clf
            .activations(&t, "flatten")
            .and_then(|a| a.to_dtype(DType::F32))
            .and_then(|a| a.to_vec2::<f32>())
            .map_err(|e| SalienceError::Backend(e.to_string()))?;
        let r = a.first().map(|v| v.len()).unwrap_or(0);
        Array2::from_shape_vec((a.len(), r), a.concat())
            .map_err(|e| SalienceError::Backend(e.to_string()))
    };
    let factory = |k: usize| -> Result<Box<dyn Explainer>> {
        let mut seeds = TRAINED;
        for (l, s) in seeds.iter_mut().rev().take(k).enumerate() {
            *s = 1000 + l as u64;
        }
        Ok(Box::new(Saliency::new(cnn(seeds))))
    };

    println!("reference CNN 1x28x28 -> 10, N = {N} images per call");
    share(
        "infidelity (paper: m = 200, 20% <- blur)",
        &model.nanos,
        || {
            infidelity(&model, xv.clone(), &a, &targets, &infd, s).expect("infd");
        },
    );
    share(
        "faithfulness correlation (Quantus: 224 px, 100 runs)",
        &model.nanos,
        || {
            faithfulness_correlation(&model, xv.clone(), &a, &targets, &fcor, s).expect("fcor");
        },
    );
    share("insertion (784 steps)", &model.nanos, || {
        insertion(&model, xv.clone(), &a, &targets, &curve, s).expect("ins");
    });
    share("deletion (784 steps)", &model.nanos, || {
        deletion(&model, xv.clone(), &a, &targets, &curve, s).expect("del");
    });
    share("ROAD (Quantus: 50 percentages)", &model.nanos, || {
        road(&model, xv.clone(), &a, &targets, &roadc, s).expect("road");
    });
    {
        enanos.store(0, Ordering::Relaxed);
        let t = Instant::now();
        sensitivity(&timed_sal, xv.clone(), &targets, &sens, s).expect("sens");
        let total = t.elapsed().as_secs_f64();
        println!(
            "[model share] sensitivity (saliency, m = 50): {:.1} ms per image, {:.1}% inside the explainer",
            total * 1e3 / N as f64,
            100.0 * enanos.load(Ordering::Relaxed) as f64 * 1e-9 / total
        );
    }
    {
        enanos.store(0, Ordering::Relaxed);
        model.nanos.store(0, Ordering::Relaxed);
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
        sum_both();
        println!(
            "[model share] RIS/ROS/RRS (saliency, m = 50): {:.1} ms per image, {:.1}% inside model + explainer (representation not counted)",
            total * 1e3 / N as f64,
            100.0 * both.load(Ordering::Relaxed) as f64 * 1e-9 / total
        );
    }

    let mut g = c.benchmark_group("metrics_cnn28_per_call_of_4_images");
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
