//! The σ_NG accuracy-drop heuristic (Bykov et al. 2022, eq. 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod ng_common;

use ng_common::*;
use salience_core::seed::derive_seed;
use salience_core::{BatchSize, SalienceError};
use salience_explain::noise::noise_sigma::{accuracy, relative_accuracy_drop};
use salience_explain::{
    fusiongrad_sigmas, noisegrad_sigma, Classifier, FusionRule, NoiseScale, NoiseSigmaConfig,
    ParamFilter, WeightMapModel,
};

fn data(m: &WeightMapModel<Lin>, n: usize, d: usize) -> (ndarray::ArrayD<f32>, Vec<usize>) {
    let x = array(&[n, d], 1.0, 21);
    let t =
        candle_core::Tensor::from_slice(x.as_slice().unwrap(), (n, d), &candle_core::Device::Cpu)
            .unwrap();
    let logits = to_vec(&m.logits(&t).unwrap());
    let k = m.num_classes();
    let labels = logits
        .chunks(k)
        .map(|r| (0..k).fold(0, |b, i| if r[i] > r[b] { i } else { b }))
        .collect();
    (x, labels)
}

/// AD(σ) recomputed from the public pieces.
fn drop_at(
    m: &WeightMapModel<Lin>,
    x: &ndarray::ArrayD<f32>,
    y: &[usize],
    sigma: f32,
    cfg: &NoiseSigmaConfig,
) -> f32 {
    let mut acc = 0.0;
    for d in 0..cfg.n_draws {
        let p = m
            .perturbed_with(
                sigma,
                derive_seed(cfg.seed, d as u64),
                &ParamFilter::Parameters,
            )
            .unwrap();
        acc += accuracy(&p, x.view(), y, BatchSize::fixed(64).unwrap()).unwrap();
    }
    acc /= cfg.n_draws as f32;
    let clean = accuracy(m, x.view(), y, BatchSize::fixed(64).unwrap()).unwrap();
    relative_accuracy_drop(acc, clean, 1.0 / 3.0).unwrap()
}

#[test]
fn found_sigma_gives_the_target_drop() {
    let (d, k) = (10, 3);
    let m = lin(d, k, 4);
    let (x, y) = data(&m, 600, d);
    let cfg = NoiseSigmaConfig {
        n_draws: 8,
        seed: 3,
        ..Default::default()
    };
    let est = noisegrad_sigma(&m, x.view(), &y, &cfg).unwrap();
    assert_eq!(est.accuracy_clean, 1.0);
    assert!((est.chance - 1.0 / 3.0).abs() < 1e-7);
    assert!(est.sigma > 0.0 && est.sigma < cfg.sigma_max);
    assert!((est.relative_drop - 0.05).abs() <= 0.01, "{est:?}");
    // The reported drop is the drop at the reported sigma.
    let ad = drop_at(&m, &x, &y, est.sigma, &cfg);
    assert!((ad - est.relative_drop).abs() < 1e-5, "{ad} vs {est:?}");
    // Bracketed: half the noise drops less, twice the noise more.
    assert!(drop_at(&m, &x, &y, est.sigma / 2.0, &cfg) < 0.05);
    assert!(drop_at(&m, &x, &y, est.sigma * 2.0, &cfg) > 0.05);
    // Deterministic.
    assert_eq!(noisegrad_sigma(&m, x.view(), &y, &cfg).unwrap(), est);
    // A larger target needs more noise.
    let big = noisegrad_sigma(
        &m,
        x.view(),
        &y,
        &NoiseSigmaConfig {
            target_drop: 0.2,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert!(big.sigma > est.sigma);
}

#[test]
fn fusion_rules() {
    let (d, k) = (10, 3);
    let m = lin(d, k, 4);
    let (x, y) = data(&m, 400, d);
    let cfg = NoiseSigmaConfig {
        n_draws: 6,
        ..Default::default()
    };
    let ng = noisegrad_sigma(&m, x.view(), &y, &cfg).unwrap();
    let h = fusiongrad_sigmas(&m, x.view(), &y, FusionRule::Halve { alpha_sg: 0.2 }, &cfg).unwrap();
    assert_eq!(h.sigma_ng, ng.sigma / 2.0);
    assert_eq!(h.noise, NoiseScale::Relative(0.1));
    // (On this data α_SG = 0.1 alone already drops the accuracy by ~20%.)
    let pp = fusiongrad_sigmas(
        &m,
        x.view(),
        &y,
        FusionRule::PlusPlus { alpha_sg: 0.01 },
        &cfg,
    )
    .unwrap();
    assert_eq!(pp.noise, NoiseScale::Relative(0.01));
    // Input noise already costs accuracy: less weight noise is needed.
    assert!(pp.sigma_ng < ng.sigma, "{} vs {}", pp.sigma_ng, ng.sigma);
    assert!((pp.search.relative_drop - 0.05).abs() <= 0.01, "{pp:?}");
    // Huge input noise alone exceeds the target: sigma_ng = 0.
    let loud = fusiongrad_sigmas(
        &m,
        x.view(),
        &y,
        FusionRule::PlusPlus { alpha_sg: 0.1 },
        &cfg,
    )
    .unwrap();
    assert_eq!(loud.sigma_ng, 0.0);
    assert!(loud.search.relative_drop > 0.05);
}

#[test]
fn bad_input_is_a_typed_error() {
    let (d, k) = (10, 3);
    let m = lin(d, k, 4);
    let (x, y) = data(&m, 50, d);
    let ok = NoiseSigmaConfig::default();
    let inv = |c: NoiseSigmaConfig| {
        matches!(
            noisegrad_sigma(&m, x.view(), &y, &c),
            Err(SalienceError::InvalidParameter { .. })
        )
    };
    for t in [0.0, 1.0, f32::NAN] {
        assert!(
            inv(NoiseSigmaConfig {
                target_drop: t,
                ..ok.clone()
            }),
            "{t}"
        );
    }
    assert!(inv(NoiseSigmaConfig {
        n_draws: 0,
        ..ok.clone()
    }));
    assert!(inv(NoiseSigmaConfig {
        sigma_init: 0.0,
        ..ok.clone()
    }));
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(BatchSize::fixed(0).is_err());
    assert!(inv(NoiseSigmaConfig {
        chance_accuracy: Some(1.0),
        ..ok.clone()
    }));
    // The target drop is not reachable below sigma_max.
    assert!(inv(NoiseSigmaConfig {
        sigma_init: 1e-4,
        sigma_max: 1e-4,
        ..ok.clone()
    }));
    // Labels: wrong count, out of range, model at chance.
    assert!(matches!(
        noisegrad_sigma(&m, x.view(), &y[1..], &ok),
        Err(SalienceError::TargetCount { .. })
    ));
    let mut bad = y.clone();
    bad[0] = 3;
    assert!(matches!(
        noisegrad_sigma(&m, x.view(), &bad, &ok),
        Err(SalienceError::TargetOutOfRange { .. })
    ));
    let wrong: Vec<usize> = y.iter().map(|&l| (l + 1) % k).collect();
    assert!(matches!(
        noisegrad_sigma(&m, x.view(), &wrong, &ok),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(fusiongrad_sigmas(
        &m,
        x.view(),
        &y,
        FusionRule::PlusPlus { alpha_sg: -1.0 },
        &ok
    )
    .is_err());
}

#[test]
fn batch_size_does_not_change_the_search() {
    let (d, k) = (10, 3);
    let m = lin(d, k, 8);
    let (x, y) = data(&m, 150, d);
    assert_eq!(
        accuracy(&m, x.view(), &y, BatchSize::fixed(1).unwrap()).unwrap(),
        accuracy(&m, x.view(), &y, BatchSize::Auto).unwrap()
    );
    let cfg = NoiseSigmaConfig {
        n_draws: 3,
        ..Default::default()
    };
    let a = noisegrad_sigma(&m, x.view(), &y, &cfg).unwrap();
    let b = noisegrad_sigma(
        &m,
        x.view(),
        &y,
        &NoiseSigmaConfig {
            batch_size: BatchSize::fixed(7).unwrap(),
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(a, b);
}
