//! Analytic, numerical and determinism tests of the gradient explainers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{Device, Tensor};
use common::{array, cnn, linear};
use ndarray::{ArrayD, Axis, IxDyn};
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::{
    Baseline, CandleModel, Classifier, ExpectedGradients, ExpectedGradientsConfig, InputXGradient,
    IntegratedGradients, IntegratedGradientsConfig, LayerSplit, ModuleClassifier, NoiseKind,
    NoiseScale, NoiseTunnel, NoiseTunnelConfig, Quadrature, Saliency, SaliencyConfig,
};
use salience_perturb::{Occlusion, OcclusionConfig};

/// W[t] broadcast to the input shape, per sample.
fn weight_rows(w: &ArrayD<f32>, targets: &[usize], sample_shape: &[usize]) -> ArrayD<f32> {
    let mut shape = vec![targets.len()];
    shape.extend_from_slice(sample_shape);
    let f: usize = sample_shape.iter().product();
    let mut v = Vec::with_capacity(targets.len() * f);
    for &t in targets {
        v.extend(w.index_axis(Axis(0), t).iter().copied());
    }
    ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap()
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const TARGETS: [usize; 3] = [0, 3, 1];
/// Targets for the 3-class CNN.
const CT: [usize; 3] = [0, 2, 1];

fn lin_input() -> ArrayD<f32> {
    array(&[3, 2, 3, 3], 1.0, 100)
}

fn cnn_input() -> ArrayD<f32> {
    array(&[3, 2, 4, 4], 1.0, 200)
}

#[test]
fn linear_saliency_is_weight_row_exactly() {
    let (m, w) = linear();
    let x = lin_input();
    let a = Saliency::new(&m)
        .explain(x.view(), &TARGETS, Seeds::base(0))
        .unwrap();
    assert_eq!(a.view(), weight_rows(&w, &TARGETS, &[2, 3, 3]));
    let abs = Saliency::with_config(&m, SaliencyConfig::captum())
        .explain(x.view(), &TARGETS, Seeds::base(0))
        .unwrap();
    assert_eq!(
        abs.view(),
        weight_rows(&w, &TARGETS, &[2, 3, 3]).mapv(f32::abs)
    );
}

#[test]
fn linear_input_x_gradient_is_x_times_w() {
    let (m, w) = linear();
    let x = lin_input();
    let a = InputXGradient::new(&m)
        .explain(x.view(), &TARGETS, Seeds::base(0))
        .unwrap();
    assert_eq!(a.view(), &x * &weight_rows(&w, &TARGETS, &[2, 3, 3]));
}

#[test]
fn linear_ig_every_baseline_every_quadrature() {
    let (m, w) = linear();
    let x = lin_input();
    let wr = weight_rows(&w, &TARGETS, &[2, 3, 3]);
    let baselines = vec![
        Baseline::Zeros,
        Baseline::Constant(0.3),
        Baseline::Blur {
            sigma: 1.0,
            kernel_size: 3,
        },
        Baseline::blur_mahlau2022(),
        Baseline::RandomNormal,
        Baseline::Given(array(&[2, 3, 3], 1.0, 5)),
        Baseline::Given(array(&[3, 2, 3, 3], 1.0, 6)),
    ];
    let quads = [
        Quadrature::RiemannLeft,
        Quadrature::RiemannRight,
        Quadrature::RiemannMiddle,
        Quadrature::RiemannTrapezoid,
        Quadrature::GaussLegendre,
    ];
    for b in &baselines {
        let xb = b.generate(x.view(), Seeds::base(9)).unwrap();
        let expected = (&x - &xb) * &wr;
        for q in quads {
            let ig = IntegratedGradients::with_config(
                &m,
                IntegratedGradientsConfig {
                    n_steps: 7,
                    quadrature: q,
                    baseline: b.clone(),
                    batch_size: BatchSize::fixed(5).unwrap(),
                },
            );
            let out = ig
                .explain_with_delta(x.view(), &TARGETS, Seeds::base(9))
                .unwrap();
            let err = max_abs_diff(&out.attributions.view().to_owned(), &expected);
            assert!(err < 1e-5, "{b:?} {q:?}: {err}");
            for (d, diff) in out.delta.iter().zip(&out.output_difference) {
                assert!(
                    d.abs() <= 1e-4 * (1.0 + diff.abs()),
                    "{b:?} {q:?}: delta {d}"
                );
            }
        }
    }
}

#[test]
fn linear_smoothgrad_family() {
    let (m, w) = linear();
    let x = lin_input();
    let wr = weight_rows(&w, &TARGETS, &[2, 3, 3]);
    let sal = Saliency::new(&m);
    let run = |kind| {
        NoiseTunnel::new(
            &sal,
            NoiseTunnelConfig {
                kind,
                n_samples: 6,
                noise: NoiseScale::Relative(0.2),
                batch_size: BatchSize::fixed(4).unwrap(),
            },
        )
        .explain(x.view(), &TARGETS, Seeds::base(3))
        .unwrap()
        .into_inner()
    };
    assert_eq!(run(NoiseKind::SmoothGrad), wr);
    assert!(max_abs_diff(&run(NoiseKind::SmoothGradSquared), &wr.mapv(|v| v * v)) < 1e-5);
    assert!(run(NoiseKind::VarGrad).iter().all(|v| v.abs() < 1e-5));
    // SmoothGrad of IG on a linear model = IG.
    let ig = IntegratedGradients::with_config(
        &m,
        IntegratedGradientsConfig {
            n_steps: 4,
            baseline: Baseline::Constant(0.0),
            ..Default::default()
        },
    );
    let sg_ig = NoiseTunnel::smoothgrad(&ig)
        .with_samples(3)
        .with_noise(NoiseScale::Absolute(0.0))
        .explain(x.view(), &TARGETS, Seeds::base(3))
        .unwrap();
    let plain = ig.explain(x.view(), &TARGETS, Seeds::base(3)).unwrap();
    assert!(max_abs_diff(&sg_ig.into_inner(), &plain.into_inner()) < 1e-6);
}

/// Target logit of one input, computed directly with candle.
fn logit(m: &impl Classifier, x: &ArrayD<f32>, t: usize) -> f32 {
    let xt = Tensor::from_slice(x.as_slice().unwrap(), x.shape(), &Device::Cpu).unwrap();
    m.logits(&xt).unwrap().to_vec2::<f32>().unwrap()[0][t]
}

#[test]
fn cnn_saliency_matches_finite_differences() {
    let m = cnn();
    let x = cnn_input();
    let g = Saliency::new(&m)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let h = 1e-2f32;
    let mut worst = 0f32;
    for (i, &t) in CT.iter().enumerate() {
        let xi = x.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned();
        let gi = g.index_axis(Axis(0), i);
        for dseed in 0..4 {
            // Directional derivative along a random unit direction.
            let mut d = array(xi.shape(), 1.0, 1000 + dseed);
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            d.mapv_inplace(|v| v / norm);
            let fd =
                (logit(&m, &(&xi + &(&d * h)), t) - logit(&m, &(&xi - &(&d * h)), t)) / (2.0 * h);
            let an: f32 = gi.iter().zip(d.iter()).map(|(a, b)| a * b).sum();
            let gnorm = gi.iter().map(|v| v * v).sum::<f32>().sqrt();
            let rel = (fd - an).abs() / gnorm;
            worst = worst.max(rel);
        }
    }
    assert!(worst <= 1e-3, "relative error {worst}");
}

#[test]
fn cnn_ig_completeness_gauss_legendre_200() {
    let m = cnn();
    let x = cnn_input();
    for baseline in [Baseline::Zeros, Baseline::Constant(-1.0)] {
        let ig = IntegratedGradients::with_config(
            &m,
            IntegratedGradientsConfig {
                n_steps: 200,
                quadrature: Quadrature::GaussLegendre,
                baseline,
                batch_size: BatchSize::fixed(128).unwrap(),
            },
        );
        let out = ig
            .explain_with_delta(x.view(), &CT, Seeds::base(0))
            .unwrap();
        for (d, diff) in out.delta.iter().zip(&out.output_difference) {
            assert!(diff.abs() > 1e-3, "degenerate test: f(x) - f(x') = {diff}");
            assert!(d.abs() <= 0.01 * diff.abs(), "delta {d} vs {diff}");
        }
    }
}

#[test]
fn same_seed_same_output_and_chunk_size_invariance() {
    let m = cnn();
    let x = cnn_input();
    let sg = |bs: usize, inner_bs: usize, seed: u64| {
        NoiseTunnel::smoothgrad(Saliency::with_config(
            &m,
            SaliencyConfig {
                abs: false,
                batch_size: BatchSize::fixed(inner_bs).unwrap(),
            },
        ))
        .with_samples(5)
        .with_batch_size(BatchSize::fixed(bs).unwrap())
        .explain(x.view(), &CT, Seeds::base(seed))
        .unwrap()
        .into_inner()
    };
    let a = sg(64, 64, 1);
    assert_eq!(a, sg(64, 64, 1));
    assert!(
        max_abs_diff(&a, &sg(64, 64, 2)) > 1e-4,
        "seed has no effect"
    );
    assert!(max_abs_diff(&a, &sg(1, 1, 1)) <= 1e-6);
    assert!(max_abs_diff(&a, &sg(4, 3, 1)) <= 1e-6);

    let ig = |bs: usize| {
        IntegratedGradients::with_config(
            &m,
            IntegratedGradientsConfig {
                n_steps: 10,
                baseline: Baseline::RandomNormal,
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..Default::default()
            },
        )
        .explain(x.view(), &CT, Seeds::base(4))
        .unwrap()
        .into_inner()
    };
    let r = ig(64);
    assert_eq!(r, ig(64));
    assert!(max_abs_diff(&r, &ig(1)) <= 1e-6);
    assert!(max_abs_diff(&r, &ig(7)) <= 1e-6);

    let eg = |bs: usize| {
        ExpectedGradients::new(
            &m,
            ExpectedGradientsConfig {
                n_samples: 3,
                n_steps: 4,
                batch_size: BatchSize::fixed(bs).unwrap(),
                ..Default::default()
            },
        )
        .explain(x.view(), &CT, Seeds::base(5))
        .unwrap()
        .into_inner()
    };
    let e = eg(64);
    assert_eq!(e, eg(64));
    assert!(max_abs_diff(&e, &eg(1)) <= 1e-6);
    assert!(max_abs_diff(&e, &eg(5)) <= 1e-6);
}

#[test]
fn per_sample_seeds_do_not_depend_on_batch_composition() {
    let m = cnn();
    let x = cnn_input();
    let seeds = [11u64, 12, 13];
    let sg = NoiseTunnel::vargrad(Saliency::new(&m)).with_samples(4);
    let all = sg
        .explain(x.view(), &CT, Seeds::per_sample(&seeds))
        .unwrap()
        .into_inner();
    let one = sg
        .explain(
            x.slice_axis(Axis(0), (1..2).into()),
            &CT[1..2],
            Seeds::per_sample(&seeds[1..2]),
        )
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&all.slice_axis(Axis(0), (1..2).into()).to_owned(), &one) <= 1e-6);
}

#[test]
fn expected_gradients_linear_single_reference() {
    let (m, w) = linear();
    let x = lin_input();
    let r = array(&[1, 2, 3, 3], 1.0, 77);
    let eg = ExpectedGradients::new(&m, ExpectedGradientsConfig::gradient_shap(r.clone()));
    assert_eq!(eg.name(), "gradient_shap");
    let a = eg
        .explain(x.view(), &TARGETS, Seeds::base(0))
        .unwrap()
        .into_inner();
    let expected = (&x - &r) * &weight_rows(&w, &TARGETS, &[2, 3, 3]);
    assert!(max_abs_diff(&a, &expected) < 1e-5);
}

#[test]
fn adapter_and_layer_split_agree_with_logits() {
    let m = cnn();
    let x = cnn_input();
    let xt = Tensor::from_slice(x.as_slice().unwrap(), x.shape(), &Device::Cpu).unwrap();
    let direct = m.logits(&xt).unwrap().to_vec2::<f32>().unwrap();
    use salience_core::Model;
    for bs in [1, 2, 64] {
        let y = CandleModel::new(&m)
            .with_batch_size(bs)
            .unwrap()
            .forward(x.view())
            .unwrap();
        for (i, row) in direct.iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                assert!((y[[i, k]] - v).abs() <= 1e-6);
            }
        }
    }
    for layer in m.layer_names() {
        let a = m.activations(&xt, &layer).unwrap();
        let y = m.head(&a, &layer).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, direct, "split at {layer}");
    }
}

fn is_shape(e: &SalienceError) -> bool {
    matches!(e, SalienceError::ShapeMismatch { .. })
}

#[test]
fn bad_input_gives_typed_errors() {
    let m = cnn();
    let x = cnn_input();
    let sal = Saliency::new(&m);
    let s = Seeds::base(0);
    // Wrong rank.
    let r1 = ndarray::Array1::<f32>::zeros(5).into_dyn();
    assert!(is_shape(&sal.explain(r1.view(), &[0], s).unwrap_err()));
    let r5 = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 1, 4, 4]));
    assert!(is_shape(&sal.explain(r5.view(), &[0], s).unwrap_err()));
    // Wrong per-sample shape: the model fails, reported as a backend error.
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 4, 4]));
    assert!(matches!(
        sal.explain(wrong.view(), &[0], s).unwrap_err(),
        SalienceError::Backend { .. }
    ));
    // Targets.
    assert!(matches!(
        sal.explain(x.view(), &[0, 1, 3], s).unwrap_err(),
        SalienceError::TargetOutOfRange {
            sample: 2,
            target: 3,
            num_classes: 3
        }
    ));
    assert!(matches!(
        sal.explain(x.view(), &[0, 1], s).unwrap_err(),
        SalienceError::TargetCount { .. }
    ));
    // NaN input.
    let mut bad = x.clone();
    bad[[1, 0, 2, 2]] = f32::NAN;
    assert!(matches!(
        sal.explain(bad.view(), &CT, s).unwrap_err(),
        SalienceError::NonFinite { .. }
    ));
    assert!(matches!(
        NoiseTunnel::smoothgrad(&sal)
            .explain(bad.view(), &CT, s)
            .unwrap_err(),
        SalienceError::NonFinite { .. }
    ));
    // Zero steps, samples, batch size; bad parameters.
    let invalid = |e: SalienceError| matches!(e, SalienceError::InvalidParameter { .. });
    let ig = |c: IntegratedGradientsConfig| {
        IntegratedGradients::with_config(&m, c)
            .explain(x.view(), &CT, s)
            .unwrap_err()
    };
    assert!(invalid(ig(IntegratedGradientsConfig {
        n_steps: 0,
        ..Default::default()
    })));
    assert!(invalid(ig(IntegratedGradientsConfig {
        n_steps: 1,
        quadrature: Quadrature::RiemannTrapezoid,
        ..Default::default()
    })));
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(invalid(BatchSize::fixed(0).unwrap_err()));
    assert!(invalid(ig(IntegratedGradientsConfig {
        baseline: Baseline::Blur {
            sigma: 1.0,
            kernel_size: 4
        },
        ..Default::default()
    })));
    assert!(invalid(ig(IntegratedGradientsConfig {
        baseline: Baseline::Blur {
            sigma: 0.0,
            kernel_size: 3
        },
        ..Default::default()
    })));
    assert!(is_shape(&ig(IntegratedGradientsConfig {
        baseline: Baseline::Given(ArrayD::zeros(IxDyn(&[2, 3, 4]))),
        ..Default::default()
    })));
    assert!(invalid(
        NoiseTunnel::smoothgrad(&sal)
            .with_samples(0)
            .explain(x.view(), &CT, s)
            .unwrap_err()
    ));
    assert!(invalid(
        NoiseTunnel::smoothgrad(&sal)
            .with_noise(NoiseScale::Absolute(f32::NAN))
            .explain(x.view(), &CT, s)
            .unwrap_err()
    ));
    assert!(invalid(
        ExpectedGradients::new(
            &m,
            ExpectedGradientsConfig {
                n_samples: 0,
                ..Default::default()
            }
        )
        .explain(x.view(), &CT, s)
        .unwrap_err()
    ));
    assert!(invalid(BatchSize::fixed(0).unwrap_err()));
    // Too few per-sample seeds.
    assert!(invalid(
        NoiseTunnel::smoothgrad(&sal)
            .explain(x.view(), &CT, Seeds::per_sample(&[1, 2]))
            .unwrap_err()
    ));
    // Unknown layer.
    assert!(invalid(m.check_layer("conv9").unwrap_err()));
    // A model whose logits are narrower than it claims.
    let liar = salience_explain::ModuleClassifier::new(|x: &Tensor| x.flatten_from(1), 5);
    let tab = ndarray::array![[1.0f32, 2.0]].into_dyn();
    assert!(matches!(
        Saliency::new(liar)
            .explain(tab.view(), &[4], s)
            .unwrap_err(),
        SalienceError::Model(_)
    ));
}

/// A perturbation explainer of salience-perturb over a candle classifier
/// through [`CandleModel`]: 1 × 1 occlusion of a linear model (no bias,
/// zero baseline) is x ⊙ W[t] exactly.
#[test]
fn occlusion_1x1_through_candle_model() {
    let w = common::tensor(&[2, 6], 1.0, 3);
    let wa = ArrayD::from_shape_vec(
        IxDyn(&[2, 6]),
        w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    )
    .unwrap();
    let clf = ModuleClassifier::new(candle_nn::Linear::new(w, None), 2);
    let occ = Occlusion::with_config(
        CandleModel::new(clf),
        OcclusionConfig {
            window: vec![1],
            strides: vec![1],
            ..Default::default()
        },
    );
    let x = array(&[3, 6], 1.0, 4);
    let t = [1, 0, 1];
    let a = occ.explain(x.view(), &t, Seeds::base(0)).unwrap();
    let expected = &x * &weight_rows(&wa, &t, &[6]);
    assert!(max_abs_diff(&a.into_inner(), &expected) < 1e-4);
}
