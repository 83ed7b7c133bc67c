//! Aggregator throughput on k = 7 maps of 224×224 for N = 16 samples
//! (z-scored, as in Mahlau & Nolde), against a plain copy of the same
//! bytes. Results and the NumPy comparison (benches/aggregate_numpy.py)
//! are recorded in docs/performance.md.
//!
//! `cargo bench --bench aggregate`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{Array, IxDyn};
use rand::{RngExt, SeedableRng};
use salience::aggregate::{Aei, Aggregation, Aggregator, Api, Rates, Rbm};
use salience::core::{DegeneratePolicy, Ensemble, Normalization};
use std::hint::black_box;

const K: usize = 7;
const N: usize = 16;
const H: usize = 224;

fn ensemble(n: usize) -> Ensemble {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let len = K * n * H * H;
    let v: Vec<f32> = (0..len).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let a = Array::from_shape_vec(IxDyn(&[K, n, H, H]), v).unwrap();
    Ensemble::from_stacked(a, None)
        .unwrap()
        .normalize(Normalization::ZScore, DegeneratePolicy::Error)
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let e = ensemble(N);
    let bytes = (K * N * H * H * 4) as u64;
    let mut g = c.benchmark_group("aggregate_k7_n16_224");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    let src: Vec<f32> = e.stacked().iter().copied().collect();
    let mut dst = vec![0.0f32; src.len()];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    let mut aggs = Aggregation::mahlau2022();
    aggs.retain(|a| !matches!(a, Aggregation::Rbm(_)));
    aggs.push(Aggregation::Api(Api {
        rates: Rates::Exact,
        ..Api::default()
    }));
    aggs.push(Aggregation::Aei(Aei {
        rates: Rates::Exact,
        ..Aei::default()
    }));
    for agg in &aggs {
        g.bench_with_input(BenchmarkId::from_parameter(agg.name()), agg, |b, agg| {
            b.iter(|| black_box(agg.aggregate(black_box(&e)).unwrap()))
        });
    }
    g.finish();

    // The RBM trains per sample (100 epochs over 50 176 pixels): measured on
    // N = 2 and reported per sample.
    let e2 = ensemble(2);
    let mut g = c.benchmark_group("aggregate_rbm_k7_n2_224");
    g.sample_size(10);
    let rbm = Rbm::default();
    g.bench_function(rbm.name(), |b| {
        b.iter(|| black_box(rbm.aggregate(black_box(&e2)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
