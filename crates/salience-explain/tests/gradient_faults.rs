//! Missing and wrong input gradients are errors, never silent zero or
//! scaled maps: candle-nn's detaching ops, candle's max-pool backward, an
//! input-independent model; the differentiable replacements in `ops`; the
//! gradient check; channel-last inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{DType, Device, Tensor};
use common::{array, cnn, tensor};
use salience_core::{Explainer, GradientFault, SalienceError, Seeds};
use salience_explain::gradient::gradient_check::{check_gradients, GradientCheckConfig};
use salience_explain::{
    ops, CandleModel, GradCam, IntegratedGradients, ModuleClassifier, Saliency,
    SequentialClassifier,
};

fn fault(r: Result<impl std::fmt::Debug, SalienceError>) -> GradientFault {
    match r {
        Err(SalienceError::Gradient { fault, .. }) => fault,
        other => panic!("expected a gradient error, got {other:?}"),
    }
}

/// x [N, 6] → linear(6→6) → layer norm (candle-nn's fused op, or ours) →
/// linear(6→3).
fn ln_model(fused: bool) -> ModuleClassifier<impl candle_core::Module + Clone + Send + Sync> {
    let w1 = tensor(&[6, 6], 0.7, 1);
    let w2 = tensor(&[3, 6], 0.7, 2);
    let g = tensor(&[6], 0.3, 3).affine(1.0, 1.0).unwrap();
    let b = tensor(&[6], 0.3, 4);
    ModuleClassifier::new(
        move |x: &Tensor| {
            let h = x.matmul(&w1.t()?)?;
            let h = if fused {
                candle_nn::ops::layer_norm(&h, &g, &b, 1e-5)?
            } else {
                ops::layer_norm(&h, &g, Some(&b), 1e-5)?
            };
            h.matmul(&w2.t()?)
        },
        3,
    )
}

#[test]
fn fused_layer_norm_is_a_detached_gradient_error_not_a_zero_map() {
    let x = array(&[4, 6], 1.0, 5);
    let t = [0, 1, 2, 0];
    let bad = ln_model(true);
    assert_eq!(
        fault(Saliency::new(bad.clone()).explain(x.view(), &t, Seeds::base(0))),
        GradientFault::Detached
    );
    let e = IntegratedGradients::new(bad)
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ops::layer_norm") && e.contains("softmax_last_dim"),
        "{e}"
    );
    // The same model with the differentiable op: a real, checked gradient.
    let good = ln_model(false);
    let s = Saliency::new(good.clone())
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert!(s.view().iter().filter(|v| **v != 0.0).count() > 20);
    let c = check_gradients(&good, x.view(), &t, &GradientCheckConfig::default()).unwrap();
    assert!(c.passed(), "{c:?}");
    assert!(
        c.directional_error < 1e-2 && (c.gradient_ratio - 1.0).abs() < 1e-2,
        "{c:?}"
    );
}

#[test]
fn fused_softmax_is_a_detached_gradient_error() {
    let w = tensor(&[3, 5], 1.0, 6);
    let bad = ModuleClassifier::new(
        move |x: &Tensor| candle_nn::ops::softmax_last_dim(&x.matmul(&w.t()?)?),
        3,
    );
    let x = array(&[2, 5], 1.0, 7);
    assert_eq!(
        fault(Saliency::new(bad).explain(x.view(), &[0, 2], Seeds::base(0))),
        GradientFault::Detached
    );
}

#[test]
fn an_input_independent_model_is_reported_as_such() {
    let c = ModuleClassifier::new(
        |x: &Tensor| Tensor::ones((x.dim(0)?, 2), DType::F32, x.device()),
        2,
    );
    let x = array(&[3, 4], 1.0, 8);
    assert_eq!(
        fault(Saliency::new(c).explain(x.view(), &[0, 1, 0], Seeds::base(0))),
        GradientFault::InputIndependent
    );
}

#[test]
fn grad_cam_with_a_detaching_head_is_an_error() {
    let conv = candle_nn::Conv2d::new(
        tensor(&[4, 2, 3, 3], 0.5, 9),
        None,
        candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
    );
    let w = tensor(&[3, 4], 1.0, 10);
    let m = SequentialClassifier::new(3)
        .push("conv", conv)
        .push("gap", |x: &Tensor| x.mean(3)?.mean(2))
        .push("softmax", |x: &Tensor| candle_nn::ops::softmax_last_dim(x))
        .push("fc", candle_nn::Linear::new(w, None));
    let x = array(&[2, 2, 6, 6], 1.0, 11);
    let e = GradCam::new(&m, "conv").explain(x.view(), &[0, 1], Seeds::base(0));
    assert_eq!(fault(e), GradientFault::Detached);
}

/// conv(1→3) → relu → pool 2 → conv(3→4) → relu → pool 2 → linear, on
/// [N, 1, 8, 8]; `candle_pool` picks candle's max_pool2d or ours.
fn pool_cnn(candle_pool: bool) -> SequentialClassifier {
    let conv = |cin, cout, seed| {
        candle_nn::Conv2d::new(
            tensor(&[cout, cin, 3, 3], 0.5, seed),
            Some(tensor(&[cout], 0.1, seed + 1)),
            candle_nn::Conv2dConfig {
                padding: 1,
                ..Default::default()
            },
        )
    };
    let pool = move |x: &Tensor| {
        if candle_pool {
            x.max_pool2d(2)
        } else {
            ops::max_pool2d(x, 2, 2, 0)
        }
    };
    SequentialClassifier::new(3)
        .push("conv1", conv(1, 3, 20))
        .push("relu1", |x: &Tensor| x.relu())
        .push("pool1", pool)
        .push("conv2", conv(3, 4, 22))
        .push("relu2", |x: &Tensor| x.relu())
        .push("pool2", pool)
        .push("flatten", |x: &Tensor| x.flatten_from(1))
        .push(
            "fc",
            candle_nn::Linear::new(tensor(&[3, 16], 0.5, 24), Some(tensor(&[3], 0.1, 25))),
        )
}

#[test]
fn gradient_check_catches_candle_max_pool_and_names_the_fix() {
    let x = array(&[3, 1, 8, 8], 1.0, 26);
    let t = [0, 1, 2];
    let cfg = GradientCheckConfig::default();
    let bad = check_gradients(&pool_cnn(true), x.view(), &t, &cfg).unwrap();
    // Two 2×2 pools: the gradient is (1/4)² of the truth.
    assert!((bad.gradient_ratio - 1.0 / 16.0).abs() < 5e-3, "{bad:?}");
    assert!(bad.completeness_error.unwrap() > 0.8, "{bad:?}");
    assert!(!bad.passed());
    let e = bad.ensure().unwrap_err();
    assert!(matches!(
        e,
        SalienceError::Gradient {
            fault: GradientFault::CheckFailed,
            ..
        }
    ));
    assert!(
        e.to_string().contains("salience_explain::ops::max_pool2d"),
        "{e}"
    );
    let good = check_gradients(&pool_cnn(false), x.view(), &t, &cfg).unwrap();
    assert!(good.passed(), "{good:?}");
    assert!((good.gradient_ratio - 1.0).abs() < 1e-2, "{good:?}");
    assert!(good.completeness_error.unwrap() < 0.05, "{good:?}");
    // Deterministic for a seed.
    assert_eq!(
        check_gradients(&pool_cnn(false), x.view(), &t, &cfg).unwrap(),
        good
    );
}

#[test]
fn gradient_check_config_is_validated() {
    let m = cnn();
    let x = array(&[1, 2, 4, 4], 1.0, 27);
    for cfg in [
        GradientCheckConfig {
            directions: 0,
            ..Default::default()
        },
        GradientCheckConfig {
            directions: 65,
            ..Default::default()
        },
        GradientCheckConfig {
            step: f32::NAN,
            ..Default::default()
        },
        GradientCheckConfig {
            step: 0.5,
            ..Default::default()
        },
        GradientCheckConfig {
            jitter: f32::NAN,
            ..Default::default()
        },
        GradientCheckConfig {
            jitter: 2.0,
            ..Default::default()
        },
        GradientCheckConfig {
            ig_steps: 0,
            ..Default::default()
        },
        GradientCheckConfig {
            tolerance: 0.0,
            ..Default::default()
        },
    ] {
        let r = check_gradients(&m, x.view(), &[0], &cfg);
        assert!(
            matches!(r, Err(SalienceError::InvalidParameter { .. })),
            "{cfg:?}"
        );
    }
    // A batch size of 0 cannot be built any more (issue 20: one type).
    assert!(matches!(
        salience_core::BatchSize::fixed(0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(
        check_gradients(&m, x.view(), &[0], &GradientCheckConfig::default())
            .unwrap()
            .passed()
    );
}

#[test]
fn differentiable_norms_match_candle_values() {
    let x = tensor(&[3, 7], 2.0, 30).affine(1.0, 0.5).unwrap();
    let w = tensor(&[7], 0.5, 31).affine(1.0, 1.0).unwrap();
    let b = tensor(&[7], 0.5, 32);
    let max_diff = |a: &Tensor, b: &Tensor| {
        a.sub(b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let ours = ops::layer_norm(&x, &w, Some(&b), 1e-5).unwrap();
    let theirs = candle_nn::ops::layer_norm(&x, &w, &b, 1e-5).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-5);
    let ours = ops::rms_norm(&x, &w, 1e-6).unwrap();
    let theirs = candle_nn::ops::rms_norm(&x, &w, 1e-6).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-5);
    let ours = ops::softmax(&x, 1).unwrap();
    let theirs = candle_nn::ops::softmax_last_dim(&x).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-6);
    // Gradients of the replacements agree with finite differences.
    let w2 = tensor(&[2, 7], 1.0, 33);
    for which in 0..3 {
        let (w, b, w2) = (w.clone(), b.clone(), w2.clone());
        let m = ModuleClassifier::new(
            move |x: &Tensor| {
                let h = match which {
                    0 => ops::layer_norm(x, &w, Some(&b), 1e-5)?,
                    1 => ops::rms_norm(x, &w, 1e-6)?,
                    _ => ops::softmax(x, 1)?,
                };
                h.matmul(&w2.t()?)
            },
            2,
        );
        let xa = array(&[2, 7], 1.5, 34 + which);
        let c = check_gradients(&m, xa.view(), &[0, 1], &GradientCheckConfig::default()).unwrap();
        assert!(c.directional_error < 1e-2, "{which}: {c:?}");
        // RMS normalisation of the raw input is singular at the zero
        // baseline (x / ‖x‖ near 0), so IG's quadrature cannot converge
        // there: only the directional check applies to it.
        if which != 1 {
            assert!(
                c.completeness_error.is_none_or(|e| e < 1e-2),
                "{which}: {c:?}"
            );
        }
    }
}

#[test]
fn channel_last_input_is_named() {
    let conv = candle_nn::Conv2d::new(tensor(&[4, 3, 3, 3], 0.5, 40), None, Default::default());
    let m = SequentialClassifier::new(4)
        .push("conv", conv)
        .push("gap", |x: &Tensor| x.mean(3)?.mean(2));
    let nhwc = array(&[2, 8, 8, 3], 1.0, 41);
    let e = Saliency::new(&m)
        .explain(nhwc.view(), &[0, 1], Seeds::base(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("channel-last") && e.contains("permute"), "{e}");
    let e = salience_core::Model::forward(&CandleModel::new(&m), nhwc.view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("channel-last"), "{e}");
    // NCHW works.
    let nchw = array(&[2, 3, 8, 8], 1.0, 42);
    assert!(Saliency::new(&m)
        .explain(nchw.view(), &[0, 1], Seeds::base(0))
        .is_ok());
}

#[test]
fn zero_batch_sizes_are_rejected_not_clamped() {
    let clf = ModuleClassifier::new(|x: &Tensor| Ok(x.clone()), 2);
    assert!(matches!(
        clf.clone().with_batch_size(0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(CandleModel::new(clf).with_batch_size(0).is_err());
    assert!(SequentialClassifier::new(2).with_batch_size(0).is_err());
    let _ = Device::Cpu;
}

/// The reproductions of docs/candle-bugs.md, as written there: if candle
/// fixes one, this test says so (and the docs and workarounds can go).
#[test]
fn candle_bugs_are_as_documented() {
    use candle_core::Var;
    let x = Var::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap();
    let y = x.as_tensor().max_pool2d(2).unwrap().sum_all().unwrap();
    let g = y
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap();
    assert_eq!(g.to_vec1::<f32>().unwrap(), vec![0., 0., 0., 0.25]);
    // Ours routes the gradient to the maximum.
    let y = ops::max_pool2d(x.as_tensor(), 2, 2, 0)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = y
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap();
    assert_eq!(g.to_vec1::<f32>().unwrap(), vec![0., 0., 0., 1.]);

    let x = Var::new(
        &[[[[1f32, 2., 3.], [4., 5., 6.], [7., 8., 9.]]]],
        &Device::Cpu,
    )
    .unwrap();
    let y = x
        .as_tensor()
        .max_pool2d_with_stride(3, 2)
        .unwrap()
        .sum_all()
        .unwrap();
    assert!(y.backward().is_err());

    let x = Var::new(&[[1f32, 2., 4.]], &Device::Cpu).unwrap();
    let y = candle_nn::ops::softmax_last_dim(x.as_tensor())
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    assert!(y.backward().unwrap().get(x.as_tensor()).is_none());
    let y = ops::softmax(x.as_tensor(), 1)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    assert!(y.backward().unwrap().get(x.as_tensor()).is_some());
}

#[test]
fn candle_pool_backward_failures_say_how_out() {
    let m = ModuleClassifier::new(
        |x: &Tensor| {
            x.max_pool2d_with_stride(3, 2)?
                .flatten_from(1)?
                .sum_keepdim(1)
        },
        1,
    );
    let x = array(&[1, 1, 7, 7], 1.0, 50);
    let e = Saliency::new(m)
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ops::max_pool2d") && e.contains("kernel == stride"),
        "{e}"
    );
}
