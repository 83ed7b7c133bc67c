//! Optimal aggregation (Decker et al. 2024):
//! * QP solve time for k = 2…64 (random PSD G);
//! * Gram accumulation throughput on 224×224×3 maps with k = 7
//!   (sensitivity/identity query and 20%-mask-row queries);
//! * the infidelity Gram of one 224×224×3 image end to end (blur baseline,
//!   m = 50 masks, a linear model);
//! * END-TO-END AGG_opt per image on the shipped trained small CNN with a
//!   panel of 7 explainers (Saliency, Input×Gradient, IG, SmoothGrad,
//!   Grad-CAM, Occlusion, KernelSHAP): explain, re-explain m_agg = 50
//!   uniformly perturbed copies of every image for the sensitivity Gram,
//!   m_agg = 50 masked copies through the model for the infidelity Gram,
//!   the QP, and φ_w, with the time of each part (printed after the
//!   criterion groups; `SALIENCE_BENCH_PARTS=summary` prints only it,
//!   `=criterion` skips it).
//!
//! Results are recorded in docs/performance.md.
//!
//! `cargo bench --bench optimize -- --warm-up-time 1 --measurement-time 5`

mod common;

use common::{images, predicted, small_cnn, timed, Counted, TimedExplainer, TimedModel};
use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{Array, Array2, IxDyn};
use rand::{RngExt, SeedableRng};
use salience::core::{DegeneratePolicy, Normalization};
use salience::core::{Ensemble, LinearModel, Model, Seeds};
use salience::explain::{registry, CandleModel};
use salience::optimize::{
    aggregate, apply_weights, explain_panel, faith_gram, robust_gram, solve_qp, AggregateConfig,
    Baseline, FaithConfig, GaussianBlur, GramAccumulator, MapNormalization, Mask, MetricGrams,
    OptConfig, PixelMasks, QpSettings, Query, RobustConfig, SampleWeights, Strategy,
};
use std::hint::black_box;

const K: usize = 7;
const H: usize = 224;
const D: usize = 3 * H * H;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

fn maps(seed: u64, k: usize) -> Array2<f32> {
    let mut g = rng(seed);
    Array2::from_shape_fn((k, D), |_| g.random::<f32>())
}

fn bench_qp(c: &mut Criterion) {
    let mut group = c.benchmark_group("qp_solve");
    group.sample_size(20);
    let settings = QpSettings::default();
    for k in [2usize, 4, 8, 16, 32, 64] {
        let mut g = rng(k as u64);
        let a = Array2::from_shape_fn((2 * k, k), |_| g.random_range(-1.0f64..1.0));
        let gram = a.t().dot(&a);
        group.bench_with_input(BenchmarkId::from_parameter(k), &gram, |b, gram| {
            b.iter(|| black_box(solve_qp(gram.view(), &settings).unwrap()))
        });
    }
    group.finish();
}

fn bench_gram(c: &mut Criterion) {
    let phi = maps(1, K);
    let perturbed = maps(2, K);
    let mut group = c.benchmark_group("gram_224x224x3_k7");
    group.sample_size(10);
    // One sensitivity sample reads Φ and Φ′: 2·k·d f32.
    group.throughput(Throughput::Bytes((2 * K * D * 4) as u64));
    group.bench_function("sensitivity_1_sample", |b| {
        b.iter(|| {
            let mut acc = GramAccumulator::new(K).unwrap();
            acc.add(
                phi.view(),
                &Query::Sensitivity {
                    perturbed: perturbed.view(),
                },
            )
            .unwrap();
            black_box(acc.finish().unwrap())
        })
    });
    let target: Vec<f32> = perturbed.row(0).to_vec();
    group.throughput(Throughput::Bytes((K * D * 4) as u64));
    group.bench_function("identity_1_sample", |b| {
        b.iter(|| {
            let mut acc = GramAccumulator::new(K).unwrap();
            acc.add(phi.view(), &Query::Identity { target: &target })
                .unwrap();
            black_box(acc.finish().unwrap())
        })
    });
    // m = 50 infidelity samples, each a 20% pixel mask over 3 channels.
    let m = 50;
    let masks: Vec<Vec<usize>> = (0..m)
        .map(|j| {
            let px = PixelMasks::default().sample(H, H, j as u64).unwrap();
            (0..3)
                .flat_map(|ch| px.iter().map(move |&p| ch * H * H + p as usize))
                .collect()
        })
        .collect();
    let queries: Vec<Query<'_>> = masks
        .iter()
        .enumerate()
        .map(|(j, idx)| Query::MaskRow {
            mask: Mask::Indices(idx),
            target: j as f64 * 0.01,
        })
        .collect();
    group.throughput(Throughput::Elements(m as u64));
    group.bench_function("mask_rows_50_samples", |b| {
        b.iter(|| black_box(GramAccumulator::accumulate(phi.view(), &queries).unwrap()))
    });
    group.finish();
}

fn bench_faith_end_to_end(c: &mut Criterion) {
    let mut g = rng(3);
    let x = Array::from_shape_fn(IxDyn(&[1, 3, H, H]), |_| g.random::<f32>());
    let w = Array2::from_shape_fn((10, D), |_| g.random_range(-1.0f32..1.0));
    let model = LinearModel::new(w, ndarray::Array1::zeros(10)).unwrap();
    let stacked = maps(4, K).into_shape_with_order((K, 1, 3, H, H)).unwrap();
    let phi = Ensemble::from_stacked(stacked.into_dyn(), None).unwrap();
    let cfg = FaithConfig::default();
    let mut group = c.benchmark_group("faith_gram_224x224x3_k7");
    group.sample_size(10);
    group.bench_function("m50_blur_sigma10_linear_model", |b| {
        b.iter(|| {
            black_box(faith_gram(&model, &phi, x.view(), &[0], &cfg, Seeds::base(0)).unwrap())
        })
    });
    group.finish();
}

/// The panel of the end-to-end bench (k = 7). Grad-CAM's `[N, 28, 28]`
/// pixel maps are stacked as `[N, 1, 28, 28]` (one input channel).
const PANEL: [&str; 7] = [
    "saliency",
    "input_x_gradient",
    "ig:n_steps=16",
    "smoothgrad:inner=saliency,n_samples=10",
    "grad_cam:layer=conv2",
    // 7 × 7 windows of 4 × 4 + the clean pass: 50 forwards per input.
    "occlusion:window=4,stride=4",
    // 50 coalitions of 49 patches of 4 × 4 (+ 2 passes): 52 forwards.
    "kernel_shap:n_samples=50,feature_mask=patches,patch_size=4",
];

/// Images of the end-to-end bench (the first shipped test images).
const N_IMG: usize = 8;

fn agg_opt_end_to_end() {
    let cnn = std::sync::Arc::new(Counted::new(small_cnn()));
    let (x, _) = images(N_IMG);
    let xv = x.view().into_dyn();
    let t = predicted(&cnn.inner, &x);
    let panel: Vec<TimedExplainer> = PANEL
        .iter()
        .map(|s| TimedExplainer::new(registry::build(s, &cnn).expect("spec")))
        .collect();
    let k = panel.len();
    let model = TimedModel::new(CandleModel::new(cnn.clone()));
    let seeds = salience::Seeds::base(1);
    // App. C.2's abs-max normalization; an all-zero map (Grad-CAM after its
    // ReLU on a perturbed input can be one) stays zero instead of failing.
    let norm = MapNormalization {
        method: Normalization::AbsMax,
        degenerate: DegeneratePolicy::Zeros,
    };
    let rc = RobustConfig {
        normalization: norm,
        ..RobustConfig::default()
    };
    // aggopt's σ = 10 px blur at 224 px, scaled to 28 px.
    let fc = FaithConfig {
        baseline: Baseline::Blur(GaussianBlur {
            sigma: 1.25,
            kernel_size: 11,
        }),
        ..FaithConfig::default()
    };
    let strategy = Strategy::Opt(OptConfig::paper());
    let qp = QpSettings::default();
    let per_img = |s: f64| s * 1e3 / N_IMG as f64;

    cnn.reset();
    let (t_explain, ens) =
        timed(|| explain_panel(&panel, xv.view(), &t, &norm, seeds).expect("explain"));
    let explain_each: Vec<f64> = panel.iter().map(TimedExplainer::take_secs).collect();
    let (_, rows_explain) = cnn.counts();
    cnn.reset();
    let (t_robust, rob) =
        timed(|| robust_gram(&panel, &ens, xv.view(), &t, &rc, seeds).expect("robust gram"));
    let reexplain_each: Vec<f64> = panel.iter().map(TimedExplainer::take_secs).collect();
    let reexplain: f64 = reexplain_each.iter().sum();
    let (_, rows_robust) = cnn.counts();
    cnn.reset();
    model.take_secs();
    let (t_faith, faith) =
        timed(|| faith_gram(&model, &ens, xv.view(), &t, &fc, seeds).expect("faith gram"));
    let faith_model = model.take_secs();
    let (faith_calls, rows_faith) = cnn.counts();
    let (t_qp, weights) = timed(|| {
        (0..N_IMG)
            .map(|i| {
                let g = MetricGrams {
                    robust: Some(&rob[i]),
                    faith: Some(&faith[i]),
                };
                strategy.weights(k, &g, &qp).expect("qp")
            })
            .collect::<Vec<_>>()
    });
    let (t_apply, _maps) =
        timed(|| apply_weights(&ens, SampleWeights::PerSample(&weights)).expect("apply"));
    let total = t_explain + t_robust + t_faith + t_qp + t_apply;

    // The Gram accumulation alone, on the same shapes (k = 7, d = 784,
    // N·m samples of each kind).
    let phi = ens.as_flat().index_axis(ndarray::Axis(1), 0).to_owned();
    let d = phi.ncols();
    let mut g = rng(9);
    let pert = Array2::from_shape_fn((k, d), |_| g.random::<f32>());
    let (t_gram_rob, _) = timed(|| {
        let mut acc = GramAccumulator::new(k).expect("acc");
        for _ in 0..N_IMG * rc.samples {
            acc.add(
                phi.view(),
                &Query::Sensitivity {
                    perturbed: pert.view(),
                },
            )
            .expect("add");
        }
        acc.finish().expect("finish")
    });
    let masks: Vec<Vec<u32>> = (0..N_IMG * fc.samples)
        .map(|j| fc.masks.sample(28, 28, j as u64).expect("mask"))
        .collect();
    let idx: Vec<Vec<usize>> = masks
        .iter()
        .map(|m| m.iter().map(|&p| p as usize).collect())
        .collect();
    let queries: Vec<Query<'_>> = idx
        .iter()
        .map(|i| Query::MaskRow {
            mask: Mask::Indices(i),
            target: 0.5,
        })
        .collect();
    let (t_gram_faith, _) =
        timed(|| GramAccumulator::accumulate(phi.view(), &queries).expect("accumulate"));

    // The library's one-call pipeline on the same inputs, for comparison.
    let cfg = AggregateConfig {
        strategy,
        normalization: norm,
        robust: rc,
        faith: fc.clone(),
        qp,
    };
    let (t_lib, out) =
        timed(|| aggregate(&model, &panel, xv.view(), &t, &cfg, seeds).expect("aggregate"));
    let same = out
        .weights
        .iter()
        .zip(&weights)
        .all(|(a, b)| a.as_slice() == b.as_slice());

    println!(
        "\n## AGG_opt end to end, shipped small CNN, k = {k}, m_agg = {} + {}, {N_IMG} images in one call (load average {})",
        rc.samples,
        fc.samples,
        common::load_average()
    );
    println!("| part | time per image (ms) | share | model inputs per image |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, s: f64, rows: Option<u64>| {
        println!(
            "| {name} | {:.1} | {:.1}% | {} |",
            per_img(s),
            100.0 * s / total,
            rows.map(|r| (r / N_IMG as u64).to_string())
                .unwrap_or_default()
        )
    };
    row("explain x (7 explainers)", t_explain, Some(rows_explain));
    row(
        "sensitivity Gram: re-explain 50 perturbed inputs (7 explainers)",
        reexplain,
        Some(rows_robust),
    );
    row(
        "sensitivity Gram: noise, normalization, Gram",
        t_robust - reexplain,
        None,
    );
    row(
        "infidelity Gram: model evaluations (51 per image)",
        faith_model,
        Some(rows_faith),
    );
    row(
        "infidelity Gram: blur, masks, Gram",
        t_faith - faith_model,
        None,
    );
    row("QP (AGG_opt, Frobenius scaling)", t_qp, None);
    row("φ_w = Φw", t_apply, None);
    println!(
        "| **total** | **{:.1}** | 100% | |\n\n`aggregate()` in one call: {:.1} ms per image (same weights: {same})",
        per_img(total),
        per_img(t_lib)
    );
    println!(
        "infidelity model calls: {faith_calls} (chunk {}); Gram accumulation alone on the same shapes: sensitivity {:.2} ms, mask rows {:.2} ms per image",
        model.preferred_batch_size(),
        per_img(t_gram_rob),
        per_img(t_gram_faith)
    );
    println!("| explainer | explain x (ms per image) | re-explain 50 perturbed (ms per image) |");
    println!("|---|---:|---:|");
    for (i, s) in PANEL.iter().enumerate() {
        println!(
            "| `{s}` | {:.2} | {:.1} |",
            per_img(explain_each[i]),
            per_img(reexplain_each[i])
        );
    }
    println!(
        "weights of image 0: {:?}",
        weights[0]
            .as_slice()
            .iter()
            .map(|w| (w * 1e3).round() / 1e3)
            .collect::<Vec<_>>()
    );
}

fn main() {
    let (run_criterion, run_summary) = common::parts();
    if run_criterion {
        let mut c = Criterion::default().configure_from_args();
        bench_qp(&mut c);
        bench_gram(&mut c);
        bench_faith_end_to_end(&mut c);
        c.final_summary();
    }
    if run_summary {
        agg_opt_end_to_end();
    }
}
