//! NoiseGrad and FusionGrad: analytic cases, determinism, chunking, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod ng_common;

use ng_common::*;
use salience_core::seed::derive_seed;
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::{
    FusionGrad, FusionGradConfig, IntegratedGradients, NoiseGrad, NoiseGradConfig, NoiseScale,
    NoiseTunnel, NoiseTunnelConfig, Saliency, SaliencyConfig,
};

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
    }
}

fn flat(a: &salience_core::AttributionBatch) -> Vec<f32> {
    a.view().iter().copied().collect()
}

#[test]
fn sigma_zero_noisegrad_is_saliency_exactly() {
    let m = lin(18, 4, 1);
    let x = array(&[3, 2, 3, 3], 1.0, 5);
    let t = [0, 3, 1];
    let ng = NoiseGrad::new(m.clone(), |m| Ok(Saliency::new(m)))
        .unwrap()
        .with_sigma(0.0);
    let a = ng.explain(x.view(), &t, Seeds::base(0)).unwrap();
    let s = Saliency::new(m)
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(a.view(), s.view());
}

#[test]
fn noisegrad_of_linear_saliency_is_mean_of_noisy_rows() {
    let (d, k) = (12, 3);
    let m = lin(d, k, 2);
    let w = to_vec(&m.weights()["fc.weight"]);
    let x = array(&[2, d], 1.0, 6);
    let t = [2, 0];
    let (n, sigma, seed) = (400usize, 0.2f32, 17u64);
    let cfg = NoiseGradConfig {
        n_models: n,
        sigma,
        model_seed: seed,
        ..NoiseGradConfig::default()
    };
    let ng = NoiseGrad::with_config(m.clone(), |m| Ok(Saliency::new(m)), cfg).unwrap();
    let a = flat(&ng.explain(x.view(), &t, Seeds::base(1)).unwrap());
    // Exact: the gradient of draw j is row t of W ⊙ η_j.
    let mut expect = vec![0f64; 2 * d];
    for j in 0..n as u64 {
        let wj = to_vec(&m.perturbed(sigma, derive_seed(seed, j)).unwrap().weights()["fc.weight"]);
        for (i, &ti) in t.iter().enumerate() {
            for f in 0..d {
                expect[i * d + f] += wj[ti * d + f] as f64 / n as f64;
            }
        }
    }
    let expect: Vec<f32> = expect.iter().map(|&v| v as f32).collect();
    close(&a, &expect, 1e-5);
    // Statistically: E[W ⊙ η] = W, with sd |W| σ / sqrt(N) per entry.
    for (i, &ti) in t.iter().enumerate() {
        for f in 0..d {
            let wv = w[ti * d + f];
            let sd = wv.abs() * sigma / (n as f32).sqrt();
            assert!(
                (a[i * d + f] - wv).abs() <= 5.0 * sd + 1e-6,
                "{i},{f}: {} vs {wv}",
                a[i * d + f]
            );
        }
    }
}

#[test]
fn deterministic_and_seed_dependent() {
    let m = net();
    let x = array(&[2, 2, 4, 4], 1.0, 8);
    let ng = NoiseGrad::new(m.clone(), |m| Ok(Saliency::new(m)))
        .unwrap()
        .with_models(4);
    let a = ng.explain(x.view(), &[1, 2], Seeds::base(3)).unwrap();
    let b = ng.explain(x.view(), &[1, 2], Seeds::base(3)).unwrap();
    assert_eq!(a.view(), b.view());
    let c = NoiseGrad::new(m, |m| Ok(Saliency::new(m)))
        .unwrap()
        .with_models(4)
        .with_model_seed(1)
        .explain(x.view(), &[1, 2], Seeds::base(3))
        .unwrap();
    assert_ne!(a.view(), c.view());
}

#[test]
fn fusiongrad_does_not_depend_on_chunk_size_or_batch_split() {
    let m = net();
    let x = array(&[3, 2, 4, 4], 1.0, 9);
    let t = [0, 1, 3];
    let run = |inner_bs: usize, bs: usize| {
        FusionGrad::new(m.clone(), move |m| {
            Ok(Saliency::with_config(
                m,
                SaliencyConfig {
                    batch_size: BatchSize::fixed(inner_bs).unwrap(),
                    ..Default::default()
                },
            ))
        })
        .unwrap()
        .with_models(3)
        .with_inputs(4)
        .with_batch_size(BatchSize::fixed(bs).unwrap())
    };
    let a = flat(&run(64, 64).explain(x.view(), &t, Seeds::base(5)).unwrap());
    let b = flat(&run(1, 5).explain(x.view(), &t, Seeds::base(5)).unwrap());
    close(&a, &b, 1e-6);
    // Explaining the batch in two parts gives the same maps.
    let seeds = Seeds::base(5);
    let e = run(7, 3);
    let p1 = flat(
        &e.explain(
            x.slice(ndarray::s![0..1, .., .., ..]).into_dyn(),
            &t[..1],
            seeds.range(0, 1).unwrap(),
        )
        .unwrap(),
    );
    let p2 = flat(
        &e.explain(
            x.slice(ndarray::s![1..3, .., .., ..]).into_dyn(),
            &t[1..],
            seeds.range(1, 2).unwrap(),
        )
        .unwrap(),
    );
    close(&a, &[p1, p2].concat(), 1e-6);
    // Input noise matters on a nonlinear model: another seed, other maps.
    let c = flat(&run(64, 64).explain(x.view(), &t, Seeds::base(6)).unwrap());
    assert_ne!(a, c);
}

#[test]
fn fusiongrad_without_weight_noise_is_smoothgrad() {
    let m = net();
    let x = array(&[2, 2, 4, 4], 1.0, 10);
    let t = [2, 0];
    let fg = FusionGrad::new(m.clone(), |m| Ok(Saliency::new(m)))
        .unwrap()
        .with_models(1)
        .with_sigma_ng(0.0)
        .with_inputs(6)
        .with_noise(NoiseScale::Absolute(0.3));
    let a = flat(&fg.explain(x.view(), &t, Seeds::base(2)).unwrap());
    let sg = NoiseTunnel::new(
        Saliency::new(m),
        NoiseTunnelConfig {
            n_samples: 6,
            noise: NoiseScale::Absolute(0.3),
            ..Default::default()
        },
    );
    let seeds: Vec<u64> = (0..2)
        .map(|i| derive_seed(Seeds::base(2).for_sample(i), 0))
        .collect();
    let b = flat(&sg.explain(x.view(), &t, Seeds::per_sample(&seeds)).unwrap());
    close(&a, &b, 1e-6);
}

#[test]
fn fusiongrad_of_linear_model_is_noisegrad() {
    // Input noise does not change a linear model's gradient.
    let m = lin(18, 4, 3);
    let x = array(&[2, 2, 3, 3], 1.0, 11);
    let fg = FusionGrad::with_config(
        m.clone(),
        |m| Ok(Saliency::new(m)),
        FusionGradConfig {
            n_models: 5,
            n_inputs: 3,
            ..FusionGradConfig::noisegrad()
        },
    )
    .unwrap();
    let ng = NoiseGrad::with_config(
        m,
        |m| Ok(Saliency::new(m)),
        NoiseGradConfig {
            n_models: 5,
            sigma: 0.2,
            ..Default::default()
        },
    )
    .unwrap();
    let a = flat(&fg.explain(x.view(), &[1, 2], Seeds::base(0)).unwrap());
    let b = flat(&ng.explain(x.view(), &[1, 2], Seeds::base(0)).unwrap());
    close(&a, &b, 1e-6);
}

#[test]
fn wraps_integrated_gradients() {
    let m = net();
    let x = array(&[2, 2, 4, 4], 1.0, 12);
    let ng = NoiseGrad::new(m, |m| Ok(IntegratedGradients::new(m)))
        .unwrap()
        .with_models(2);
    assert_eq!(ng.name(), "noisegrad(integrated_gradients)");
    let a = ng.explain(x.view(), &[0, 1], Seeds::base(0)).unwrap();
    assert_eq!(a.shape(), &[2, 2, 4, 4]);
    assert!(a.view().iter().all(|v| v.is_finite()));
}

#[test]
fn bad_parameters_are_typed_errors() {
    let m = net();
    let x = array(&[1, 2, 4, 4], 1.0, 13);
    let ng = || NoiseGrad::new(m.clone(), |m| Ok(Saliency::new(m))).unwrap();
    let fg = || FusionGrad::new(m.clone(), |m| Ok(Saliency::new(m))).unwrap();
    let inv = |r: salience_core::Result<salience_core::AttributionBatch>| {
        matches!(r, Err(SalienceError::InvalidParameter { .. }))
    };
    assert!(inv(ng().with_models(0).explain(
        x.view(),
        &[0],
        Seeds::base(0)
    )));
    for s in [-0.1, f32::NAN, f32::INFINITY] {
        assert!(inv(ng().with_sigma(s).explain(
            x.view(),
            &[0],
            Seeds::base(0)
        )));
        assert!(inv(fg().with_sigma_ng(s).explain(
            x.view(),
            &[0],
            Seeds::base(0)
        )));
    }
    assert!(inv(fg().with_inputs(0).explain(
        x.view(),
        &[0],
        Seeds::base(0)
    )));
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(inv(BatchSize::fixed(0).and_then(|b| fg()
        .with_batch_size(b)
        .explain(x.view(), &[0], Seeds::base(0)))));
    assert!(inv(fg().with_noise(NoiseScale::Relative(-1.0)).explain(
        x.view(),
        &[0],
        Seeds::base(0)
    )));
    assert!(matches!(
        ng().explain(x.view(), &[4], Seeds::base(0)),
        Err(SalienceError::TargetOutOfRange { .. })
    ));
    let mut bad = x.clone();
    bad[[0, 0, 0, 0]] = f32::NAN;
    assert!(matches!(
        ng().explain(bad.view(), &[0], Seeds::base(0)),
        Err(SalienceError::NonFinite { .. })
    ));
    // A failing factory is reported at construction.
    assert!(NoiseGrad::new(
        m.clone(),
        |_m| -> salience_core::Result<Saliency<salience_explain::WeightMapModel<Net>>> {
            Err(SalienceError::Model("no".into()))
        }
    )
    .is_err());
}

#[test]
fn factory_may_return_boxed_explainers() {
    // A panel described as data builds `Box<dyn Explainer>`s.
    let m = lin(18, 4, 7);
    let x = array(&[2, 2, 3, 3], 1.0, 14);
    let boxed = NoiseGrad::new(
        m.clone(),
        |m| -> salience_core::Result<Box<dyn Explainer>> { Ok(Box::new(Saliency::new(m))) },
    )
    .unwrap()
    .with_models(3);
    let plain = NoiseGrad::new(m, |m| Ok(Saliency::new(m)))
        .unwrap()
        .with_models(3);
    assert_eq!(boxed.name(), "noisegrad(saliency)");
    assert_eq!(
        boxed
            .explain(x.view(), &[0, 1], Seeds::base(0))
            .unwrap()
            .view(),
        plain
            .explain(x.view(), &[0, 1], Seeds::base(0))
            .unwrap()
            .view()
    );
}

#[test]
fn nested_chunking_fusiongrad_of_ig() {
    // FusionGrad of IG with a random baseline: three levels of chunking
    // (model draws, noisy inputs, IG path points) and three levels of seeds.
    use salience_explain::{Baseline, IntegratedGradientsConfig};
    let m = net();
    let x = array(&[3, 2, 4, 4], 1.0, 15);
    let t = [1, 0, 3];
    let run = |ig_bs: usize, bs: usize| {
        FusionGrad::new(m.clone(), move |m| {
            Ok(IntegratedGradients::with_config(
                m,
                IntegratedGradientsConfig {
                    n_steps: 8,
                    baseline: Baseline::RandomNormal,
                    batch_size: BatchSize::fixed(ig_bs).unwrap(),
                    ..Default::default()
                },
            ))
        })
        .unwrap()
        .with_models(2)
        .with_inputs(3)
        .with_batch_size(BatchSize::fixed(bs).unwrap())
        .explain(x.view(), &t, Seeds::base(8))
        .unwrap()
    };
    let a = flat(&run(64, 64));
    let b = flat(&run(3, 2));
    close(&a, &b, 1e-6);
    assert!(a.iter().any(|v| *v != 0.0));
}
