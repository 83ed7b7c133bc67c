//! The determinism statement of docs/architecture.md § Determinism, tested
//! exactly as stated: bit-identical run to run and at any thread count;
//! bit-identical across chunk sizes for batch-invariant models and under
//! `PerInput`; within f32 rounding across chunk sizes for candle models.

use candle_core::Device;
use ndarray::{s, Array2, ArrayD};
use salience::core::{model::forward_chunked, LinearModel, PerInput};
use salience::explain::{CandleModel, IntegratedGradients, Saliency};
use salience::metrics::{infidelity, InfidelityConfig};
use salience::perturb::{FeatureMask, KernelShap, KernelShapConfig};
use salience::{AttributionBatch, Explainer, Seeds};

fn cnn_inputs(n: usize) -> (ArrayD<f32>, Vec<usize>) {
    let sample = salience::datasets::assets::fashion_mnist_sample().unwrap();
    let x = sample
        .images
        .slice(s![0..n, .., .., ..])
        .to_owned()
        .into_dyn();
    (x, sample.labels[0..n].to_vec())
}

#[test]
fn candle_logits_agree_across_chunk_sizes_within_f32_rounding() {
    let cnn = salience::models::assets::small_cnn(&Device::Cpu).unwrap();
    let (x, _) = cnn_inputs(16);
    let m1 = CandleModel::new(&cnn).with_batch_size(1).unwrap();
    let y1 = forward_chunked(&m1, x.view(), Some(1)).unwrap();
    let y8 = forward_chunked(&m1, x.view(), Some(8)).unwrap();
    let y16 = forward_chunked(&m1, x.view(), Some(16)).unwrap();
    for y in [&y8, &y16] {
        for (a, b) in y1.iter().zip(y.iter()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }
    // The same chunking is bit-identical run to run.
    assert_eq!(forward_chunked(&m1, x.view(), Some(8)).unwrap(), y8);
}

#[test]
fn batch_invariant_models_give_bit_identical_metrics_at_any_chunk_size() {
    let w = Array2::from_shape_fn((3, 2 * 6 * 6), |(k, j)| {
        ((k * 31 + j * 7) % 11) as f32 / 11.0 - 0.4
    });
    let model = LinearModel::new(w, ndarray::array![0.1f32, -0.2, 0.3]).unwrap();
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[5, 2, 6, 6]), |i| {
        ((i[0] * 13 + i[1] * 5 + i[2] * 3 + i[3]) % 17) as f32 / 17.0
    });
    let maps = AttributionBatch::new(x.mapv(|v| v - 0.5)).unwrap();
    let targets = [0, 1, 2, 0, 1];
    let run = |bs: usize| {
        let cfg = InfidelityConfig {
            n_perturbations: 12,
            batch_size: salience_core::BatchSize::fixed(bs).unwrap(),
            ..InfidelityConfig::decker2024()
        };
        infidelity(&model, x.view(), &maps, &targets, &cfg, Seeds::base(3))
            .unwrap()
            .strict()
            .unwrap()
            .values()
            .to_vec()
    };
    let one = run(1);
    for bs in [2, 7, 64] {
        assert_eq!(run(bs), one, "batch size {bs}");
    }
    // A sub-batch with the same per-sample seeds gives the same scores.
    let seeds: Vec<u64> = (0..5).map(|i| Seeds::base(3).for_sample(i)).collect();
    let sub = infidelity(
        &model,
        x.slice(s![1..3, .., .., ..]).into_dyn(),
        &AttributionBatch::new(
            maps.view()
                .slice(s![1..3, .., .., ..])
                .to_owned()
                .into_dyn(),
        )
        .unwrap(),
        &targets[1..3],
        &InfidelityConfig {
            n_perturbations: 12,
            ..InfidelityConfig::decker2024()
        },
        Seeds::per_sample(&seeds[1..3]),
    )
    .unwrap()
    .strict()
    .unwrap();
    assert_eq!(sub.values(), &one[1..3]);
}

#[test]
fn per_input_makes_candle_explanations_independent_of_the_batch() {
    let cnn = salience::models::assets::small_cnn(&Device::Cpu).unwrap();
    let (x, t) = cnn_inputs(4);
    let shap = PerInput(KernelShap::with_config(
        CandleModel::new(&cnn),
        KernelShapConfig {
            n_samples: 40,
            feature_mask: FeatureMask::Patches { size: 7 },
            batch_size: salience_core::BatchSize::fixed(16).unwrap(),
            ..KernelShapConfig::default()
        },
    ));
    let seeds: Vec<u64> = (0..4).map(|i| 100 + i).collect();
    let all = shap
        .explain(x.view(), &t, Seeds::per_sample(&seeds))
        .unwrap();
    let alone = shap
        .explain(
            x.slice(s![2..3, .., .., ..]).into_dyn(),
            &t[2..3],
            Seeds::per_sample(&seeds[2..3]),
        )
        .unwrap();
    assert_eq!(
        all.view().slice(s![2..3, .., .., ..]).into_dyn(),
        alone.view()
    );
}

#[test]
fn results_are_bit_identical_at_one_and_two_threads() {
    let cnn = salience::models::assets::small_cnn(&Device::Cpu).unwrap();
    let (x, t) = cnn_inputs(4);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let ig = IntegratedGradients::new(&cnn)
                .explain(x.view(), &t, Seeds::base(0))
                .unwrap();
            let sal = Saliency::new(&cnn)
                .explain(x.view(), &t, Seeds::base(0))
                .unwrap();
            (ig, sal)
        })
    };
    assert_eq!(run(1), run(2));
}
