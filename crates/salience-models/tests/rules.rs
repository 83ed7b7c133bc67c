//! The rule-based explainers (DeepLIFT, LRP, Guided Backprop, Deconvnet)
//! on the shipped models through their `RuleForward` implementations:
//! the rule forward pass reproduces the logits, and the explainers satisfy
//! their axioms on the trained weights.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::VarBuilder;
use ndarray::{ArrayD, Axis, IxDyn};
use salience_core::{Explainer, Seeds};
use salience_datasets::assets as samples;
use salience_explain::ops::max_pool2d;
use salience_explain::{
    Baseline, Classifier, Composite, Deconvnet, DeepLift, DeepLiftConfig, GuidedBackprop,
    InputXGradient, Lrp, LrpRule, PlainOps, RuleForward,
};
use salience_models::assets;
use salience_models::{ResNet, ResNetConfig, SmallCnn};
use std::collections::HashMap;

const CPU: Device = Device::Cpu;

/// `n` shipped Fashion-MNIST test images `[n, 1, 28, 28]` and their labels.
fn fashion(n: usize) -> (ArrayD<f32>, Vec<usize>) {
    let s = samples::fashion_mnist_sample().unwrap();
    let x = s
        .images
        .slice_axis(Axis(0), (0..n).into())
        .to_owned()
        .into_dyn();
    (x, s.labels[..n].to_vec())
}

/// `n` shipped localization images `[n, 3, 64, 64]` and their labels.
fn localization(n: usize) -> (ArrayD<f32>, Vec<usize>) {
    let s = samples::localization_sample().unwrap();
    let x = s
        .images
        .slice_axis(Axis(0), (0..n).into())
        .to_owned()
        .into_dyn();
    (x, s.labels[..n].to_vec())
}

fn to_tensor(x: &ArrayD<f32>) -> Tensor {
    let v: Vec<f32> = x.iter().copied().collect();
    Tensor::from_vec(v, x.shape(), &CPU).unwrap()
}

fn logits(m: &impl Classifier, x: &ArrayD<f32>) -> Vec<Vec<f32>> {
    m.logits(&to_tensor(x)).unwrap().to_vec2().unwrap()
}

fn rule_logits(m: &impl RuleForward, x: &ArrayD<f32>) -> Vec<Vec<f32>> {
    m.forward_with(&to_tensor(x), &PlainOps)
        .unwrap()
        .to_vec2()
        .unwrap()
}

fn row_sums(a: ArrayD<f32>) -> Vec<f64> {
    a.outer_iter()
        .map(|r| r.iter().map(|&v| v as f64).sum())
        .collect()
}

fn max_abs(a: &ArrayD<f32>) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

/// The shipped small CNN's tensors, by name.
fn small_cnn_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load_buffer(assets::SMALL_CNN_SAFETENSORS, &CPU).unwrap()
}

/// The shipped small CNN with all biases set to zero.
fn bias_free_small_cnn() -> SmallCnn {
    let mut t = small_cnn_tensors();
    for (k, v) in t.iter_mut() {
        if k.ends_with(".bias") {
            *v = v.zeros_like().unwrap();
        }
    }
    SmallCnn::new(VarBuilder::from_tensors(t, DType::F32, &CPU)).unwrap()
}

/// Checks DeepLIFT's summation-to-delta: the attributions of each row sum
/// to `f_t(x) − f_t(x′)`, with both logits computed by the model's own
/// forward pass (not the explainer's).
fn assert_summation_to_delta<M: RuleForward>(
    m: &M,
    x: &ArrayD<f32>,
    targets: &[usize],
    baseline: Baseline,
    base: &ArrayD<f32>,
) {
    let dl = DeepLift::with_config(
        m,
        DeepLiftConfig {
            baseline,
            ..Default::default()
        },
    );
    let out = dl
        .explain_with_delta(x.view(), targets, Seeds::base(0))
        .unwrap();
    let fx = logits(m, x);
    let fb = logits(m, base);
    let sums = row_sums(out.attributions.view().to_owned());
    for (i, &t) in targets.iter().enumerate() {
        let diff = fx[i][t] as f64 - fb[i][t] as f64;
        let err = (sums[i] - diff).abs();
        assert!(
            err <= 1e-4 * diff.abs().max(1.0),
            "row {i}: Σ attr {} vs Δf {diff}",
            sums[i]
        );
        assert!(out.delta[i].abs() as f64 <= 1e-4 * diff.abs().max(1.0));
        // A real check: the output differences are far from zero.
        assert!(diff.abs() > 0.5, "row {i}: Δf = {diff}");
    }
}

#[test]
fn small_cnn_rule_forward_reproduces_the_logits_exactly() {
    let m = assets::small_cnn(&CPU).unwrap();
    let (x, _) = fashion(8);
    assert_eq!(rule_logits(&m, &x), logits(&m, &x));
    let bad = Tensor::zeros((1, 1, 27, 28), DType::F32, &CPU).unwrap();
    assert!(m.forward_with(&bad, &PlainOps).is_err());
    // Through the explainers, bad input is a typed error, not a panic.
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 28, 28]));
    assert!(Lrp::new(&m)
        .explain(wrong.view(), &[0], Seeds::base(0))
        .is_err());
    assert!(DeepLift::new(&m)
        .explain(x.view(), &[10; 8], Seeds::base(0))
        .is_err());
}

#[test]
fn small_cnn_deeplift_sums_to_delta() {
    let m = assets::small_cnn(&CPU).unwrap();
    let (x, labels) = fashion(6);
    let zeros = ArrayD::<f32>::zeros(x.raw_dim());
    assert_summation_to_delta(&m, &x, &labels, Baseline::Zeros, &zeros);
    let half = ArrayD::<f32>::from_elem(x.raw_dim(), 0.5);
    let other: Vec<usize> = labels.iter().map(|l| (l + 3) % 10).collect();
    assert_summation_to_delta(&m, &x, &other, Baseline::Constant(0.5), &half);
}

#[test]
fn small_cnn_lrp0_equals_gradient_times_input_with_biases() {
    // LRP-0 on a ReLU network (with biases and winner-take-all max
    // pooling) is Gradient × Input: at a layer z = W a + b, LRP-0 gives
    // R_a = a ⊙ Wᵀ(R_z / z); if R_z = z ⊙ ∂f/∂a′ with a′ = relu(z), then
    // R_z / z = 1[z > 0] ∂f/∂a′ = ∂f/∂z, so R_a = a ⊙ ∂f/∂a. The biases
    // absorb relevance (Σ R ≠ f) but do not break the identity.
    let m = assets::small_cnn(&CPU).unwrap();
    let (x, labels) = fashion(6);
    let lrp0 = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)))
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    let gxi = InputXGradient::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    assert!(max_abs(&gxi) > 1e-3);
    assert!(max_abs_diff(&lrp0, &gxi) <= 1e-5 * max_abs(&gxi));
    // With biases the relevance is not conserved: Σ R ≠ f_t(x) for some row.
    let f = logits(&m, &x);
    let sums = row_sums(lrp0);
    let gap = sums
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(i, (s, &t))| (s - f[i][t] as f64).abs())
        .fold(0.0, f64::max);
    assert!(gap > 1e-2, "biases absorb relevance, gap {gap}");
}

#[test]
fn bias_free_small_cnn_lrp_conserves_relevance() {
    // Without biases, LRP-0 (= Gradient × Input: the net is positively
    // homogeneous), z⁺, γ and a tiny ε conserve relevance from the target
    // logit down to the input: Σ R = f_t(x).
    let m = bias_free_small_cnn();
    let (x, _) = fashion(4);
    let f = logits(&m, &x);
    // The predicted class (positive logit) and a second, other class.
    let pred: Vec<usize> = f
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0
        })
        .collect();
    let other: Vec<usize> = pred.iter().map(|p| (p + 5) % 10).collect();
    for targets in [&pred, &other] {
        for rule in [
            LrpRule::Epsilon(0.0),
            LrpRule::Epsilon(1e-6),
            LrpRule::ZPlus,
            LrpRule::Gamma(0.25),
        ] {
            let a = Lrp::with_composite(&m, Composite::uniform(rule.clone()))
                .explain(x.view(), targets, Seeds::base(0))
                .unwrap()
                .view()
                .to_owned();
            for (i, s) in row_sums(a).into_iter().enumerate() {
                let want = f[i][targets[i]] as f64;
                assert!(want.abs() > 1e-2);
                assert!(
                    (s - want).abs() <= 1e-3 * want.abs(),
                    "{rule:?} row {i}: Σ R = {s}, f_t = {want}"
                );
            }
        }
    }
}

/// Vector-Jacobian product `∂(Σ g ⊙ f(a))/∂a`, by candle's autograd.
fn vjp(f: impl Fn(&Tensor) -> Tensor, a: &Tensor, g: &Tensor) -> Tensor {
    let v = Var::from_tensor(a).unwrap();
    let y = f(v.as_tensor());
    let grads = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
    grads.get(v.as_tensor()).unwrap().clone()
}

/// Guided Backprop (`guided = true`) or Deconvnet of the shipped small
/// CNN, computed layer by layer from its tensors: candle's autograd for
/// each linear op and max pool, and the ReLU rule written out: the signal
/// leaving a ReLU is `max(g, 0) ⊙ 1[z > 0]` (guided) or `max(g, 0)`
/// (deconvnet), so it is never negative.
fn reference_relu_rule(x: &Tensor, targets: &[usize], guided: bool) -> ArrayD<f32> {
    let t = small_cnn_tensors();
    let cfg = candle_nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    let conv1 = candle_nn::Conv2d::new(
        t["conv1.weight"].clone(),
        Some(t["conv1.bias"].clone()),
        cfg,
    );
    let conv2 = candle_nn::Conv2d::new(
        t["conv2.weight"].clone(),
        Some(t["conv2.bias"].clone()),
        cfg,
    );
    let fc1 = candle_nn::Linear::new(t["fc1.weight"].clone(), Some(t["fc1.bias"].clone()));
    let fc2 = candle_nn::Linear::new(t["fc2.weight"].clone(), Some(t["fc2.bias"].clone()));
    let pool = |h: &Tensor| max_pool2d(h, 2, 2, 0).unwrap();
    // Forward, keeping each ReLU's input.
    let z1 = conv1.forward(x).unwrap();
    let p1 = pool(&z1.relu().unwrap());
    let z2 = conv2.forward(&p1).unwrap();
    let p2 = pool(&z2.relu().unwrap());
    let fl = p2.flatten_from(1).unwrap();
    let z3 = fc1.forward(&fl).unwrap();
    let a3 = z3.relu().unwrap();
    // Backward from a one-hot seed at the targets.
    let n = targets.len();
    let mut seed = vec![0f32; n * 10];
    for (i, &t) in targets.iter().enumerate() {
        seed[i * 10 + t] = 1.0;
    }
    let g = Tensor::from_vec(seed, (n, 10), &CPU).unwrap();
    let rule = |g: &Tensor, z: &Tensor| -> Tensor {
        let pos = g.relu().unwrap();
        assert!(
            pos.flatten_all()
                .unwrap()
                .min(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                >= 0.0
        );
        if guided {
            (pos * z.gt(0.0).unwrap().to_dtype(DType::F32).unwrap()).unwrap()
        } else {
            pos
        }
    };
    let g = vjp(|a| fc2.forward(a).unwrap(), &a3, &g);
    let g = rule(&g, &z3);
    let g = vjp(|a| fc1.forward(a).unwrap(), &fl, &g);
    let g = g.reshape(p2.dims()).unwrap();
    let g = vjp(|a| pool(a), &z2.relu().unwrap(), &g);
    let g = rule(&g, &z2);
    let g = vjp(|a| conv2.forward(a).unwrap(), &p1, &g);
    let g = vjp(|a| pool(a), &z1.relu().unwrap(), &g);
    let g = rule(&g, &z1);
    let g = vjp(|a| conv1.forward(a).unwrap(), x, &g);
    let v: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
    ArrayD::from_shape_vec(IxDyn(g.dims()), v).unwrap()
}

#[test]
fn small_cnn_guided_backprop_and_deconvnet_match_a_layerwise_reference() {
    let m = assets::small_cnn(&CPU).unwrap();
    let (x, labels) = fashion(4);
    let xt = to_tensor(&x);
    let guided = GuidedBackprop::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    let want = reference_relu_rule(&xt, &labels, true);
    assert!(max_abs(&want) > 1e-4);
    assert!(max_abs_diff(&guided, &want) <= 1e-5 * max_abs(&want));
    let deconv = Deconvnet::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    let want_d = reference_relu_rule(&xt, &labels, false);
    assert!(max_abs_diff(&deconv, &want_d) <= 1e-5 * max_abs(&want_d));
    // The rules do change the map: guided ≠ deconvnet ≠ plain gradient.
    assert!(max_abs_diff(&guided, &deconv) > 1e-2 * max_abs(&want));
    let gxi = InputXGradient::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    let guided_x_input = &guided * &x;
    assert!(max_abs_diff(&guided_x_input, &gxi) > 1e-2 * max_abs(&gxi));
}

#[test]
fn resnet_small_rule_forward_matches_and_deeplift_sums_to_delta() {
    let m = assets::resnet_small(&CPU).unwrap();
    let (x, labels) = localization(4);
    // Batch norms are merged into the convolutions: equal up to rounding.
    let a = logits(&m, &x);
    let b = rule_logits(&m, &x);
    for (ra, rb) in a.iter().zip(&b) {
        for (p, q) in ra.iter().zip(rb) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }
    let zeros = ArrayD::<f32>::zeros(x.raw_dim());
    assert_summation_to_delta(&m, &x, &labels, Baseline::Zeros, &zeros);
    // LRP-0 is Gradient × Input through the residual sums and the merged
    // batch norms too.
    let lrp0 = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)))
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    let gxi = InputXGradient::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap()
        .view()
        .to_owned();
    assert!(max_abs(&gxi) > 1e-4);
    assert!(max_abs_diff(&lrp0, &gxi) <= 1e-4 * max_abs(&gxi));
}

#[test]
fn resnet18_layout_with_strided_stem_pool_sums_to_delta() {
    // torchvision's ResNet-18 (7×7/2 stem, 3×3 / stride 2 / pad 1 max
    // pool, downsampling blocks, 1000 classes) with seeded weights, at
    // 32×32 so that it stays cheap.
    let m = ResNet::seeded(&ResNetConfig::resnet18(1000), 7, &CPU).unwrap();
    let x = ArrayD::from_shape_vec(
        IxDyn(&[2, 3, 32, 32]),
        (0..2 * 3 * 32 * 32)
            .map(|i| ((i as f32 * 0.37).sin() + 1.0) * 0.5)
            .collect(),
    )
    .unwrap();
    // Twenty merged conv + BN pairs: rounding differences add up, so the
    // bound is relative to the row's largest logit.
    let a = logits(&m, &x);
    let b = rule_logits(&m, &x);
    for (ra, rb) in a.iter().zip(&b) {
        let scale = ra.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (p, q) in ra.iter().zip(rb) {
            assert!((p - q).abs() <= 1e-4 * scale, "{p} vs {q}");
        }
    }
    let targets = [1, 404];
    let base = ArrayD::<f32>::from_elem(x.raw_dim(), 0.25);
    let dl = DeepLift::with_config(
        &m,
        DeepLiftConfig {
            baseline: Baseline::Constant(0.25),
            ..Default::default()
        },
    );
    let out = dl
        .explain_with_delta(x.view(), &targets, Seeds::base(0))
        .unwrap();
    let fx = logits(&m, &x);
    let fb = logits(&m, &base);
    for (i, (s, &t)) in row_sums(out.attributions.view().to_owned())
        .iter()
        .zip(&targets)
        .enumerate()
    {
        let diff = fx[i][t] as f64 - fb[i][t] as f64;
        assert!(diff.abs() > 1e-3, "row {i}: Δf = {diff}");
        assert!(
            (s - diff).abs() <= 1e-4 * diff.abs().max(1.0),
            "row {i}: Σ attr {s} vs Δf {diff}"
        );
    }
}

#[test]
fn every_lrp_preset_and_relu_rule_runs_on_the_shipped_resnet() {
    // The canonized ResNet takes every composite, including the zᴮ first
    // layer (its stem convolution reads the model input directly), and the
    // ReLU rules; results are finite, non-trivial and chunk-invariant.
    let m = assets::resnet_small(&CPU).unwrap();
    let (x, labels) = localization(3);
    let presets = [
        Composite::epsilon_plus(),
        Composite::epsilon_gamma_box(0.0, 1.0),
        Composite::epsilon_plus_flat(),
        Composite::epsilon_alpha2_beta1(),
    ];
    for c in presets {
        let whole = Lrp::with_composite(&m, c.clone())
            .explain(x.view(), &labels, Seeds::base(0))
            .unwrap()
            .view()
            .to_owned();
        assert!(whole.iter().all(|v| v.is_finite()), "{c:?}");
        assert!(max_abs(&whole) > 0.0, "{c:?}");
        let chunked = Lrp::with_composite(&m, c.clone())
            .with_batch_size(salience_core::BatchSize::fixed(2).unwrap())
            .explain(x.view(), &labels, Seeds::base(0))
            .unwrap()
            .view()
            .to_owned();
        assert!(
            max_abs_diff(&whole, &chunked) <= 1e-5 * max_abs(&whole),
            "{c:?}"
        );
    }
    let g = GuidedBackprop::new(&m)
        .explain(x.view(), &labels, Seeds::base(0))
        .unwrap();
    assert!(g.view().iter().all(|v| v.is_finite()));
    assert!(max_abs(&g.view().to_owned()) > 0.0);
}
