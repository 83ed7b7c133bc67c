//! Optimal aggregation (Decker et al. 2024): QP solve time for k = 2…64
//! (random PSD G), Gram accumulation throughput on 224×224×3 maps with
//! k = 7 (sensitivity/identity query and 20%-mask-row queries), and the
//! infidelity Gram of one image end to end (blur baseline, m = 50 masks,
//! a linear model). Results are recorded in docs/performance.md.
//!
//! `cargo bench --bench optimize`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{Array, Array2, IxDyn};
use rand::{RngExt, SeedableRng};
use salience::core::{Ensemble, LinearModel, Seeds};
use salience::optimize::{
    faith_gram, solve_qp, FaithConfig, GramAccumulator, Mask, PixelMasks, QpSettings, Query,
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

criterion_group!(benches, bench_qp, bench_gram, bench_faith_end_to_end);
criterion_main!(benches);
