//! Overhead of iGOS++ over the raw model cost on a Fashion-MNIST-shaped
//! CNN (1×28×28; conv 1→16, ReLU, 2×2 max pool, conv 16→32, ReLU, 2×2
//! max pool, fc 1568→10; seeded weights), chunk 32:
//! time ÷ (gradient points/32 × raw forward+backward of a chunk +
//! forward-only points/32 × raw forward of a chunk).
//!
//! `cargo run -p salience-explain --example igos_overhead [-- N ITERATIONS STEPS]`
//! (add `--release` for release numbers).

use candle_core::{Device, Tensor, Var};
use ndarray::{ArrayD, IxDyn};
use rand_distr::{Distribution, StandardNormal};
use salience_core::Seeds;
use salience_explain::{Baseline, Classifier, IGosConfig, IGosPlusPlus, SequentialClassifier};
use std::time::Instant;

const CHUNK: usize = 32;

fn randn(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut g = salience_core::seed::rng(seed);
    (0..n)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut g);
            z * scale
        })
        .collect()
}

fn tensor(shape: &[usize], scale: f32, seed: u64) -> candle_core::Result<Tensor> {
    let n = shape.iter().product();
    Tensor::from_vec(randn(n, scale, seed), shape.to_vec(), &Device::Cpu)
}

fn max_pool2(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

fn cnn() -> candle_core::Result<SequentialClassifier> {
    let conv = |cin: usize, cout: usize, seed: u64| -> candle_core::Result<_> {
        Ok(candle_nn::Conv2d::new(
            tensor(&[cout, cin, 3, 3], (2.0 / (9 * cin) as f32).sqrt(), seed)?,
            Some(tensor(&[cout], 0.01, seed + 1)?),
            candle_nn::Conv2dConfig {
                padding: 1,
                ..Default::default()
            },
        ))
    };
    Ok(SequentialClassifier::new(10)
        .with_batch_size(CHUNK)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?
        .push("conv1", conv(1, 16, 1)?)
        .push("relu1", |x: &Tensor| x.relu())
        .push("pool1", max_pool2)
        .push("conv2", conv(16, 32, 3)?)
        .push("relu2", |x: &Tensor| x.relu())
        .push("pool2", max_pool2)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push(
            "fc",
            candle_nn::Linear::new(
                tensor(&[10, 32 * 7 * 7], (1.0 / 1568f32).sqrt(), 5)?,
                Some(tensor(&[10], 0.01, 6)?),
            ),
        ))
}

fn median(mut f: impl FnMut() -> candle_core::Result<()>, runs: usize) -> candle_core::Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience_explain::ops::candle_elementwise_on_caller() };
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let n = args.first().copied().unwrap_or(8);
    let iterations = args.get(1).copied().unwrap_or(2);
    let steps = args.get(2).copied().unwrap_or(4);
    let m = cnn()?;
    let xv: Vec<f32> = randn(n * 784, 1.0, 7)
        .into_iter()
        .map(|v| (v * 0.3 + 0.5).clamp(0.0, 1.0))
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[n, 1, 28, 28]), xv)?;
    let targets: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let cfg = IGosConfig {
        mask_size: 7,
        iterations,
        ig_steps: steps,
        l1: 1.0,
        l2: 1.0,
        baseline: Baseline::Zeros,
        batch_size: salience_core::BatchSize::fixed(CHUNK)?,
        ..IGosConfig::default()
    };
    let e = IGosPlusPlus::with_config(&m, cfg);
    let t = Instant::now();
    let out = e.explain_with_trace(x.view(), &targets, Seeds::base(0))?;
    let t_igos = t.elapsed().as_secs_f64();

    let chunk = randn(CHUNK * 784, 1.0, 9);
    let idx = Tensor::from_vec(
        (0..CHUNK as u32).map(|i| i % 10).collect::<Vec<u32>>(),
        (CHUNK, 1),
        &Device::Cpu,
    )?;
    let t_fb = median(
        || {
            let v = Var::from_slice(&chunk, (CHUNK, 1, 28, 28), &Device::Cpu)?;
            let l = candle_nn::ops::softmax(&m.logits(v.as_tensor())?, 1)?;
            let g = l.gather(&idx, 1)?.sum_all()?.backward()?;
            if let Some(g) = g.get(v.as_tensor()) {
                let _ = g.flatten_all()?.to_vec1::<f32>()?;
            }
            Ok(())
        },
        5,
    )?;
    let t_f = median(
        || {
            let v = Tensor::from_slice(&chunk, (CHUNK, 1, 28, 28), &Device::Cpu)?;
            let l = candle_nn::ops::softmax(&m.logits(&v)?, 1)?;
            let _ = l.gather(&idx, 1)?.flatten_all()?.to_vec1::<f32>()?;
            Ok(())
        },
        5,
    )?;
    let grad = out.gradient_evaluations as f64;
    let fwd = (out.model_evaluations - out.gradient_evaluations) as f64;
    let raw = grad / CHUNK as f64 * t_fb + fwd / CHUNK as f64 * t_f;
    println!(
        "iGOS++ N={n} iterations={iterations} steps={steps} mask 7x7: {t_igos:.3} s; \
         {} gradient + {} forward-only points; raw chunk fwd+bwd {:.2} ms, fwd {:.2} ms; \
         raw total {raw:.3} s; ratio {:.2}",
        out.gradient_evaluations,
        out.model_evaluations - out.gradient_evaluations,
        t_fb * 1e3,
        t_f * 1e3,
        t_igos / raw
    );
    Ok(())
}
