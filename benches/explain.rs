//! Explainer overhead on a batch of 32 Fashion-MNIST-shaped inputs
//! (1×28×28) through a reference CNN with seeded weights (conv 1→16 →
//! ReLU → 2×2 max pool → conv 16→32 → ReLU → 2×2 max pool → fc 1568→10;
//! the pools are reshape + max, which candle differentiates correctly).
//!
//! Each explainer is reported as the overhead ratio
//! `explainer time ÷ (model evaluations × raw time of one chunk)`, where a
//! model evaluation is one forward + backward pass over a chunk of 32
//! inputs (gradient and gradient-CAM methods) or one forward pass
//! (EigenCAM, PolyCAM), and the raw chunk times are measured in the same
//! run. Criterion benches every method; a summary table with the ratios
//! (median of several timed runs) is printed at the end. Results are
//! recorded in docs/performance.md.
//!
//! `cargo bench --bench explain -- --warm-up-time 1 --measurement-time 3`

use candle_core::{Device, Tensor, Var};
use criterion::Criterion;
use ndarray::{ArrayD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience::explain::registry;
use salience::explain::SequentialClassifier;
use salience::{Explainer, Seeds};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

const N: usize = 32;
const CHUNK: usize = 32;

fn randn(shape: &[usize], scale: f32, seed: u64) -> Vec<f32> {
    let mut g = salience::core::seed::rng(seed);
    let n: usize = shape.iter().product();
    (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut g);
            z * scale
        })
        .collect()
}

fn tensor(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    Tensor::from_vec(randn(shape, scale, seed), shape.to_vec(), &Device::Cpu).unwrap()
}

fn max_pool2(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

/// The reference CNN (He-scaled seeded weights).
fn reference_cnn() -> SequentialClassifier {
    let conv = |cin: usize, cout: usize, seed: u64| {
        candle_nn::Conv2d::new(
            tensor(&[cout, cin, 3, 3], (2.0 / (9 * cin) as f32).sqrt(), seed),
            Some(tensor(&[cout], 0.01, seed + 1)),
            candle_nn::Conv2dConfig {
                padding: 1,
                ..Default::default()
            },
        )
    };
    SequentialClassifier::new(10)
        .with_batch_size(CHUNK)
        .push("conv1", conv(1, 16, 1))
        .push("relu1", |x: &Tensor| x.relu())
        .push("pool1", max_pool2)
        .push("conv2", conv(16, 32, 3))
        .push("relu2", |x: &Tensor| x.relu())
        .push("pool2", max_pool2)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push(
            "fc",
            candle_nn::Linear::new(
                tensor(&[10, 32 * 7 * 7], (1.0 / 1568f32).sqrt(), 5),
                Some(tensor(&[10], 0.01, 6)),
            ),
        )
}

fn inputs() -> (ArrayD<f32>, Vec<usize>) {
    let x = ArrayD::from_shape_vec(
        IxDyn(&[N, 1, 28, 28]),
        randn(&[N, 1, 28, 28], 1.0, 7)
            .into_iter()
            .map(|v| (v * 0.3 + 0.5).clamp(0.0, 1.0))
            .collect(),
    )
    .unwrap();
    let t = (0..N).map(|i| i % 10).collect();
    (x, t)
}

/// One forward + backward pass of a chunk (what the gradient core does).
fn raw_fwd_bwd(m: &SequentialClassifier, x: &[f32], t: &Tensor) -> f32 {
    use salience::explain::Classifier;
    let v = Var::from_slice(x, (CHUNK, 1, 28, 28), &Device::Cpu).unwrap();
    let logits = m.logits(v.as_tensor()).unwrap();
    let g = logits
        .gather(t, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = g.get(v.as_tensor()).unwrap().flatten_all().unwrap();
    g.to_vec1::<f32>().unwrap()[0]
}

/// One forward pass of a chunk.
fn raw_fwd(m: &SequentialClassifier, x: &[f32]) -> f32 {
    use salience::explain::Classifier;
    let v = Tensor::from_slice(x, (CHUNK, 1, 28, 28), &Device::Cpu).unwrap();
    let l = m.logits(&v).unwrap().flatten_all().unwrap();
    l.to_vec1::<f32>().unwrap()[0]
}

/// (spec, model evaluations per call, forward-only?)
fn panel() -> Vec<(&'static str, f64, bool)> {
    let chunks = N as f64 / CHUNK as f64;
    vec![
        ("saliency:batch_size=32", chunks, false),
        ("input_x_gradient:batch_size=32", chunks, false),
        ("ig:n_steps=16,batch_size=32", 16.0 * chunks, false),
        (
            "smoothgrad:inner=saliency,inner.batch_size=32,n_samples=8,batch_size=32",
            8.0 * chunks,
            false,
        ),
        (
            "eg:n_samples=4,n_steps=4,batch_size=32",
            16.0 * chunks,
            false,
        ),
        ("grad_cam:layer=relu2,batch_size=32", chunks, false),
        (
            "grad_cam_plus_plus:layer=relu2,batch_size=32",
            chunks,
            false,
        ),
        ("eigen_cam:layer=relu2,batch_size=32", chunks, true),
        // PCAM±: 2·(16 + 32) masked inputs per input, forward only.
        (
            "poly_cam:layers=relu1|relu2,batch_size=32",
            (N * 2 * (16 + 32)) as f64 / CHUNK as f64 + chunks,
            true,
        ),
    ]
}

fn median_secs(mut f: impl FnMut(), runs: usize) -> f64 {
    f();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn benches(c: &mut Criterion) {
    let m = Arc::new(reference_cnn());
    let (x, t) = inputs();
    let xs = x.as_slice().unwrap().to_vec();
    let tt = Tensor::from_vec(
        t.iter().map(|&v| v as u32).collect::<Vec<_>>(),
        (CHUNK, 1),
        &Device::Cpu,
    )
    .unwrap();
    let mut g = c.benchmark_group("explain_cnn_b32");
    g.sample_size(10);
    g.bench_function("raw_forward_backward_chunk32", |b| {
        b.iter(|| black_box(raw_fwd_bwd(&m, &xs, &tt)))
    });
    g.bench_function("raw_forward_chunk32", |b| {
        b.iter(|| black_box(raw_fwd(&m, &xs)))
    });
    for (spec, _, _) in panel() {
        let e = registry::build(spec, &m).unwrap();
        let name = spec.split(':').next().unwrap_or(spec);
        g.bench_function(name, |b| {
            b.iter(|| black_box(e.explain(x.view(), &t, Seeds::base(0)).unwrap()))
        });
    }
    g.finish();
}

fn summary() {
    let m = Arc::new(reference_cnn());
    let (x, t) = inputs();
    let xs = x.as_slice().unwrap().to_vec();
    let tt = Tensor::from_vec(
        t.iter().map(|&v| v as u32).collect::<Vec<_>>(),
        (CHUNK, 1),
        &Device::Cpu,
    )
    .unwrap();
    let fb = median_secs(
        || {
            black_box(raw_fwd_bwd(&m, &xs, &tt));
        },
        15,
    );
    let f = median_secs(
        || {
            black_box(raw_fwd(&m, &xs));
        },
        15,
    );
    println!("\n## explainer overhead (N = {N}, chunk = {CHUNK}, median of timed runs)");
    println!(
        "raw forward+backward of one chunk: {:.2} ms; raw forward: {:.2} ms",
        fb * 1e3,
        f * 1e3
    );
    println!("| explainer | time (ms) | model evaluations | raw (ms) | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (spec, evals, fwd_only) in panel() {
        let e = registry::build(spec, &m).unwrap();
        let runs = if evals > 20.0 { 3 } else { 9 };
        let s = median_secs(
            || drop(black_box(e.explain(x.view(), &t, Seeds::base(0)).unwrap())),
            runs,
        );
        let raw = evals * if fwd_only { f } else { fb };
        println!(
            "| `{spec}` | {:.1} | {evals:.0}{} | {:.1} | {:.2} |",
            s * 1e3,
            if fwd_only { " fwd" } else { " fwd+bwd" },
            raw * 1e3,
            s / raw
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary();
}
