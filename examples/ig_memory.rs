//! Peak resident memory of Integrated Gradients as n_steps grows, at a
//! fixed internal chunk size: memory must stay flat (the path points are
//! generated chunk by chunk; only an `[N, ...]` accumulator is kept).
//!
//! One measurement per process (peak RSS cannot be reset):
//!
//! ```text
//! cargo run --release --example ig_memory -- 50
//! cargo run --release --example ig_memory -- 500
//! cargo run --release --example ig_memory -- 50 16 resnet50    # one 224² image
//! cargo run --release --example ig_memory -- 500 16 resnet50
//! cargo run --example ig_memory -- 50 auto probe    # estimates only, no IG
//! ```
//!
//! Arguments: `n_steps` (50), IG's batch size (`auto`, or a positive
//! integer), the model: `cnn` (a 2-conv CNN on 16 inputs of 28², default),
//! `resnet50` (torchvision's ResNet-50 layout with seeded weights, one
//! 3×224² input) or `probe` (print the memory estimates of ResNet-18 and
//! ResNet-50 at 224² and stop).
//!
//! Prints `n_steps`, the batch size, the chunk it resolves to with its
//! estimated memory (`salience_core::batch`: the shape probe's activation
//! bytes A, 2 A + 4 I per forward + backward point), VmHWM (peak RSS) before and after IG,
//! and the wall time. Results are recorded in docs/performance.md.

use candle_core::{Device, Tensor};
use ndarray::{ArrayD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience::explain::{
    Classifier, IntegratedGradients, IntegratedGradientsConfig, SequentialClassifier,
};
use salience::models::{ResNet, ResNetConfig};
use salience::{BatchSize, Explainer, Seeds};
use std::time::Instant;

fn randn(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut g = salience::core::seed::rng(seed);
    (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut g);
            z * scale
        })
        .collect()
}

fn tensor(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(randn(n, scale, seed), shape.to_vec(), &Device::Cpu).expect("tensor")
}

fn max_pool2(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let n_steps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    // `auto` (the default: the largest chunk within the memory budget,
    // SALIENCE_MEMORY_BUDGET) or a positive integer.
    let batch_size: BatchSize = std::env::args()
        .nth(2)
        .map(|a| a.parse().expect("batch size: auto or a positive integer"))
        .unwrap_or_default();
    let model = std::env::args().nth(3).unwrap_or_else(|| "cnn".into());
    if model == "probe" {
        for (name, cfg) in [
            ("resnet18", ResNetConfig::resnet18(1000)),
            ("resnet50", ResNetConfig::resnet50(1000)),
        ] {
            let m = ResNet::seeded(&cfg, 0, &Device::Cpu).expect("ResNet");
            estimate(name, &m, &[3, 224, 224], n_steps, batch_size);
        }
        return;
    }
    if model == "resnet50" {
        let m = ResNet::seeded(&ResNetConfig::resnet50(1000), 0, &Device::Cpu).expect("ResNet-50");
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 3, 224, 224]), randn(3 * 224 * 224, 1.0, 7))
            .expect("x");
        return measure(&m, x, vec![281], n_steps, batch_size);
    }
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
    let m = SequentialClassifier::new(10)
        .push("conv1", conv(1, 16, 1))
        .push("relu1", |x: &Tensor| x.relu())
        .push("pool1", max_pool2)
        .push("conv2", conv(16, 32, 3))
        .push("relu2", |x: &Tensor| x.relu())
        .push("pool2", max_pool2)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push(
            "fc",
            candle_nn::Linear::new(tensor(&[10, 1568], 0.025, 5), Some(tensor(&[10], 0.01, 6))),
        );
    let n = 16;
    let x = ArrayD::from_shape_vec(IxDyn(&[n, 1, 28, 28]), randn(n * 784, 1.0, 7)).expect("x");
    let t: Vec<usize> = (0..n).map(|i| i % 10).collect();
    measure(&m, x, t, n_steps, batch_size);
}

/// Prints the shape probe's activation bytes, the estimated bytes of one
/// forward + backward point and the chunk `batch_size` resolves to for
/// `points` path points under the current budget.
fn estimate<C: Classifier>(
    name: &str,
    m: &C,
    sample: &[usize],
    points: usize,
    batch_size: BatchSize,
) {
    use salience::core::batch::{memory_budget, per_sample_bytes, sample_bytes, Pass};
    let a = m.activation_bytes(sample);
    let per = per_sample_bytes(a, sample_bytes(sample), Pass::ForwardBackward);
    let chunk = salience::explain::gradient::chunk_size(
        m,
        batch_size,
        sample,
        points,
        Pass::ForwardBackward,
    );
    println!(
        "{name}: activation_bytes={a:?} per_point_fwd_bwd_bytes={per} budget_bytes={} chunk={chunk:?}",
        memory_budget().bytes
    );
}

/// Runs IG once and prints the peak RSS before and after.
fn measure<C: Classifier>(
    m: C,
    x: ArrayD<f32>,
    t: Vec<usize>,
    n_steps: usize,
    batch_size: BatchSize,
) {
    let n = t.len();
    estimate("model", &m, &x.shape()[1..], n * n_steps, batch_size);
    let before = vm_hwm_kib();
    let ig = IntegratedGradients::with_config(
        m,
        IntegratedGradientsConfig {
            n_steps,
            batch_size,
            ..Default::default()
        },
    );
    let start = Instant::now();
    let a = ig.explain(x.view(), &t, Seeds::base(0)).expect("IG");
    let secs = start.elapsed().as_secs_f64();
    let after = vm_hwm_kib();
    let s: f32 = a.view().iter().map(|v| v.abs()).sum();
    println!(
        "n_steps={n_steps} batch_size={batch_size} inputs={n} VmHWM_before_kib={before} VmHWM_after_kib={after} seconds={secs:.2} checksum={s:.4}"
    );
}
