//! Hand-checked, axiomatic and determinism tests of the rule-based
//! explainers (Guided Backprop, Deconvnet, DeepLIFT Rescale, LRP).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{Device, Tensor};
use common::{array, tensor};
use ndarray::{array, ArrayD, Axis, IxDyn};
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::{
    Baseline, Classifier, Composite, Deconvnet, DeepLift, DeepLiftConfig, GuidedBackprop,
    InputXGradient, IntegratedGradients, IntegratedGradientsConfig, LayerOps, Lrp, LrpRule,
    PlainOps, RuleForward, RuleLayer, RuleSequential,
};

/// `Classifier` for a CPU test model whose logits are its plain
/// [`RuleForward::forward_with`].
macro_rules! rule_classifier {
    ($t:ty, $classes:expr) => {
        impl Classifier for $t {
            fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
                self.forward_with(x, &PlainOps)
            }
            fn num_classes(&self) -> usize {
                $classes
            }
            fn device(&self) -> &Device {
                &Device::Cpu
            }
        }
    };
}

fn conv(w: Tensor, b: Option<Tensor>) -> candle_nn::Conv2d {
    candle_nn::Conv2d::new(
        w,
        b,
        candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
    )
}

fn dense(rows: &[&[f32]], bias: Option<&[f32]>) -> candle_nn::Linear {
    let cols = rows[0].len();
    let v: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    let w = Tensor::from_vec(v, (rows.len(), cols), &Device::Cpu).unwrap();
    let b = bias.map(|b| Tensor::new(b, &Device::Cpu).unwrap());
    candle_nn::Linear::new(w, b)
}

/// f(x) = W vec(x) + b for x of shape [N, 2, 3, 3], 4 classes.
fn linear() -> (RuleSequential, ArrayD<f32>) {
    let w = tensor(&[4, 18], 1.0, 1);
    let b = tensor(&[4], 1.0, 2);
    let wa = ArrayD::from_shape_vec(IxDyn(&[4, 18]), w.flatten_all().unwrap().to_vec1().unwrap())
        .unwrap();
    let m = RuleSequential::new(4)
        .push("flatten", RuleLayer::Flatten)
        .push("fc", candle_nn::Linear::new(w, Some(b)));
    (m, wa)
}

/// conv(2→4) → relu → maxpool 2 → conv(4→4) → relu → avgpool 2 → flatten
/// → fc(4→6) → relu → fc(6→3), for x of shape [N, 2, 4, 4]; biases
/// optional.
fn relu_cnn(bias: bool) -> RuleSequential {
    let b = |n: usize, seed: u64| bias.then(|| tensor(&[n], 0.2, seed));
    RuleSequential::new(3)
        .push("conv1", conv(tensor(&[4, 2, 3, 3], 0.5, 20), b(4, 21)))
        .push("relu1", RuleLayer::Relu)
        .push("pool1", RuleLayer::MaxPool2d(2))
        .push("conv2", conv(tensor(&[4, 4, 3, 3], 0.5, 22), b(4, 23)))
        .push("relu2", RuleLayer::Relu)
        .push("pool2", RuleLayer::AvgPool2d(2))
        .push("flatten", RuleLayer::Flatten)
        .push(
            "fc1",
            candle_nn::Linear::new(tensor(&[6, 4], 0.8, 24), b(6, 25)),
        )
        .push("relu3", RuleLayer::Relu)
        .push(
            "fc2",
            candle_nn::Linear::new(tensor(&[3, 6], 0.8, 26), b(3, 27)),
        )
}

/// A residual block written by hand: a user model opting in.
struct Residual {
    conv_a: candle_nn::Conv2d,
    conv_b: candle_nn::Conv2d,
    fc: candle_nn::Linear,
}

impl Residual {
    fn new(bias: bool) -> Self {
        let b = |n: usize, seed: u64| bias.then(|| tensor(&[n], 0.2, seed));
        Residual {
            conv_a: conv(tensor(&[2, 2, 3, 3], 0.5, 40), b(2, 41)),
            conv_b: conv(tensor(&[2, 2, 3, 3], 0.5, 42), b(2, 43)),
            fc: candle_nn::Linear::new(tensor(&[3, 2], 1.0, 44), b(3, 45)),
        }
    }
}

impl RuleForward for Residual {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let h = ops.relu(&ops.conv2d("conv_a", &self.conv_a, x)?)?;
        let r = ops.conv2d("conv_b", &self.conv_b, &h)?;
        let h = ops.relu(&ops.add(&h, &r)?)?;
        let h = ops.global_avg_pool(&h)?;
        ops.linear("fc", &self.fc, &h)
    }
}

rule_classifier!(Residual, 3);

const CT: [usize; 3] = [0, 2, 1];

fn cnn_input() -> ArrayD<f32> {
    array(&[3, 2, 4, 4], 1.0, 200)
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(a: &ArrayD<f32>) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Target logits computed with the plain forward pass.
fn target_logits(m: &impl Classifier, x: &ArrayD<f32>, targets: &[usize]) -> Vec<f32> {
    let xt = Tensor::from_slice(x.as_slice().unwrap(), x.shape(), &Device::Cpu).unwrap();
    let y = m.logits(&xt).unwrap().to_vec2::<f32>().unwrap();
    targets.iter().enumerate().map(|(i, &t)| y[i][t]).collect()
}

fn row_sums(a: &ArrayD<f32>) -> Vec<f64> {
    a.outer_iter()
        .map(|r| r.iter().map(|&v| v as f64).sum())
        .collect()
}

// ---------------------------------------------------------------- Guided

/// fc1 (3×2, no bias) → relu → fc2 (2×3): the expected gradients by hand.
fn two_layer() -> RuleSequential {
    RuleSequential::new(2)
        .push(
            "fc1",
            dense(&[&[1.0, 1.0], &[2.0, -3.0], &[-1.0, 1.0]], None),
        )
        .push("relu", RuleLayer::Relu)
        .push("fc2", dense(&[&[2.0, 5.0, -1.0], &[-1.0, 1.0, 3.0]], None))
}

#[test]
fn guided_backprop_and_deconvnet_by_hand_on_two_layer_net() {
    let m = two_layer();
    // z = W1 x = (3, -4, 1): units 0 and 2 active.
    let x = array![[1.0f32, 2.0], [1.0, 2.0]].into_dyn();
    let t = [0, 1];
    // Gradients at the hidden layer: v0 = (2, 5, -1), v1 = (-1, 1, 3).
    // Plain: W1ᵀ (v ⊙ 1[z>0]) = W1ᵀ (2, 0, -1) = (3, 1); W1ᵀ (-1, 0, 3) = (-4, 2).
    // Guided: W1ᵀ (max(v, 0) ⊙ 1[z>0]) = W1ᵀ (2, 0, 0) = (2, 2); W1ᵀ (0, 0, 3) = (-3, 3).
    // Deconvnet: W1ᵀ max(v, 0) = W1ᵀ (2, 5, 0) = (12, -13); W1ᵀ (0, 1, 3) = (-1, 0).
    let plain = salience_explain::Saliency::new(&m)
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(plain.view(), array![[3.0f32, 1.0], [-4.0, 2.0]].into_dyn());
    let g = GuidedBackprop::new(&m)
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(g.view(), array![[2.0f32, 2.0], [-3.0, 3.0]].into_dyn());
    let d = Deconvnet::new(&m)
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap();
    assert_eq!(d.view(), array![[12.0f32, -13.0], [-1.0, 0.0]].into_dyn());
    assert_eq!(GuidedBackprop::new(&m).name(), "guided_backprop");
    assert_eq!(Lrp::new(&m).name(), "lrp_epsilon_plus");
    let gb = Lrp::with_composite(
        &m,
        Composite::epsilon_gamma_box_channels(vec![0.0], vec![1.0]),
    );
    assert_eq!(gb.name(), "lrp_epsilon_gamma_box");
    let eps = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)));
    assert_eq!(eps.name(), "lrp");
    assert_eq!(Deconvnet::new(&m).name(), "deconvnet");
}

#[test]
fn guided_backprop_on_cnn_differs_from_gradient() {
    // The rule is active inside a CNN (max pool, avg pool, three ReLUs).
    let m = relu_cnn(true);
    let x = cnn_input();
    let g = GuidedBackprop::new(&m)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let s = salience_explain::Saliency::new(&m)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs(&g) > 1e-4);
    assert!(max_abs_diff(&g, &s) > 1e-4);
}

// --------------------------------------------------------------- DeepLIFT

#[test]
fn deeplift_on_linear_model_equals_ig_and_x_minus_baseline_times_w() {
    let (m, w) = linear();
    let x = array(&[3, 2, 3, 3], 1.0, 100);
    let t = [0, 3, 1];
    for baseline in [
        Baseline::Zeros,
        Baseline::Constant(0.7),
        Baseline::Given(array(&[3, 2, 3, 3], 1.0, 101)),
    ] {
        let xb = baseline.generate(x.view(), Seeds::base(0)).unwrap();
        let mut expected = &x - &xb;
        for (i, &ti) in t.iter().enumerate() {
            let wt = w
                .index_axis(Axis(0), ti)
                .to_owned()
                .into_shape_with_order(IxDyn(&[2, 3, 3]))
                .unwrap();
            let mut row = expected.index_axis_mut(Axis(0), i);
            row *= &wt;
        }
        let dl = DeepLift::with_config(
            &m,
            DeepLiftConfig {
                baseline: baseline.clone(),
                batch_size: BatchSize::fixed(2).unwrap(),
            },
        );
        let out = dl.explain_with_delta(x.view(), &t, Seeds::base(0)).unwrap();
        let a = out.attributions.into_inner();
        assert!(max_abs_diff(&a, &expected) < 1e-5, "{baseline:?}");
        let ig = IntegratedGradients::with_config(
            &m,
            IntegratedGradientsConfig {
                n_steps: 5,
                baseline: baseline.clone(),
                ..Default::default()
            },
        )
        .explain(x.view(), &t, Seeds::base(0))
        .unwrap()
        .into_inner();
        assert!(max_abs_diff(&a, &ig) < 1e-5, "{baseline:?}");
        for d in &out.delta {
            assert!(d.abs() < 1e-4);
        }
    }
}

#[test]
fn deeplift_summation_to_delta_on_relu_cnn() {
    let m = relu_cnn(true);
    let x = cnn_input();
    for baseline in [
        Baseline::Zeros,
        Baseline::Constant(-0.5),
        Baseline::RandomNormal,
        Baseline::Given(array(&[2, 4, 4], 0.5, 7)),
    ] {
        let out = DeepLift::with_config(
            &m,
            DeepLiftConfig {
                baseline: baseline.clone(),
                batch_size: BatchSize::fixed(2).unwrap(),
            },
        )
        .explain_with_delta(x.view(), &CT, Seeds::base(3))
        .unwrap();
        // The Δf of the trick network equals the plain network's.
        let xb = baseline.generate(x.view(), Seeds::base(3)).unwrap();
        let fx = target_logits(&m, &x, &CT);
        let fb = target_logits(&m, &xb, &CT);
        let sums = row_sums(&out.attributions.view().to_owned());
        for i in 0..3 {
            let df = (fx[i] - fb[i]) as f64;
            assert!((out.output_difference[i] as f64 - df).abs() <= 1e-5 * (1.0 + df.abs()));
            assert!(df.abs() > 1e-2, "degenerate: Δf = {df}");
            let err = (sums[i] - df).abs();
            assert!(
                err <= 1e-4 * df.abs(),
                "{baseline:?} sample {i}: Σ = {}, Δf = {df}",
                sums[i]
            );
            assert!((out.delta[i] as f64).abs() <= 1e-4 * df.abs());
        }
    }
}

#[test]
fn deeplift_max_pool_rule_conserves_with_different_winners() {
    // One 2×2 window where x and x′ have different winners.
    let m = RuleSequential::new(1)
        .push("pool", RuleLayer::MaxPool2d(2))
        .push("flatten", RuleLayer::Flatten);
    let x = array![[[[3.0f32, 1.0], [0.0, 2.0]]], [[[5.0, 1.0], [0.0, 2.0]]]].into_dyn();
    let b = array![[[[0.0f32, 1.0], [0.0, 5.0]]], [[[0.0, 1.0], [0.0, 3.0]]]].into_dyn();
    let out = DeepLift::with_config(
        &m,
        DeepLiftConfig {
            baseline: Baseline::Given(b),
            batch_size: BatchSize::fixed(1).unwrap(),
        },
    )
    .explain_with_delta(x.view(), &[0, 0], Seeds::base(0))
    .unwrap();
    // Sample 0: Δy = 3 − 5 = −2; max(x′) wins, so Δy goes to the winner of x′
    // (Δx = 2 − 5 = −3, multiplier 2/3): attribution −2 there, 0 elsewhere.
    // Sample 1: Δy = 5 − 3 = 2; max(x) wins: all of it on x's winner.
    assert_eq!(
        out.attributions.view(),
        array![[[[0.0f32, 0.0], [0.0, -2.0]]], [[[2.0, 0.0], [0.0, 0.0]]]].into_dyn()
    );
    assert_eq!(out.output_difference, vec![-2.0, 2.0]);
}

/// `max_pool2d_strided(kernel, stride, padding)` → flatten → sum (a
/// single logit), for `[N, 1, H, W]` inputs.
struct StridedPool {
    kernel: usize,
    stride: usize,
    padding: usize,
    fc: candle_nn::Linear,
}

impl StridedPool {
    fn new(kernel: usize, stride: usize, padding: usize, outputs: usize) -> Self {
        let fc = dense(&[&vec![1.0f32; outputs]], None);
        StridedPool {
            kernel,
            stride,
            padding,
            fc,
        }
    }
}

impl RuleForward for StridedPool {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let h = ops.max_pool2d_strided(x, self.kernel, self.stride, self.padding)?;
        let h = ops.flatten(&h)?;
        ops.linear("fc", &self.fc, &h)
    }
}

rule_classifier!(StridedPool, 1);

#[test]
fn deeplift_overlapping_max_pool_adds_the_windows_a_pixel_wins() {
    // 2×2 windows with stride 1 on a 2×3 image: windows {cols 0,1} and
    // {cols 1,2} share the centre column. The pixel 5 wins both: Δy = 5 in
    // each, so its multiplier is (5 + 5) / 5 = 2 and its attribution 10 =
    // Δf (Captum's max_unpool would write one window's Δy over the other's
    // and give 5).
    let m = StridedPool::new(2, 1, 0, 2);
    let x = array![[[[0.0f32, 5.0, 0.0], [1.0, 0.0, 2.0]]]].into_dyn();
    let out = DeepLift::new(&m)
        .explain_with_delta(x.view(), &[0], Seeds::base(0))
        .unwrap();
    assert_eq!(
        out.attributions.view(),
        array![[[[0.0f32, 10.0, 0.0], [0.0, 0.0, 0.0]]]].into_dyn()
    );
    assert_eq!(out.output_difference, vec![10.0]);
    // The baseline wins one window: x′ = 6 at the bottom right.
    let b = array![[[[0.0f32, 0.0, 0.0], [0.0, 0.0, 6.0]]]].into_dyn();
    let out = DeepLift::with_config(
        &m,
        DeepLiftConfig {
            baseline: Baseline::Given(b),
            batch_size: BatchSize::fixed(1).unwrap(),
        },
    )
    .explain_with_delta(x.view(), &[0], Seeds::base(0))
    .unwrap();
    // Window 1: Δy = 5 − 0 to x's winner (5). Window 2: max(x) = 5 <
    // max(x′) = 6, Δy = −1 to x′'s winner (Δx = 2 − 6 = −4).
    assert_eq!(
        out.attributions.view(),
        array![[[[0.0f32, 5.0, 0.0], [0.0, 0.0, -1.0]]]].into_dyn()
    );
    assert_eq!(out.output_difference, vec![4.0]);
}

#[test]
fn deeplift_strided_pool_with_padding_sums_to_delta() {
    // ResNet's stem pool: 3×3, stride 2, padding 1, on random maps.
    let m = StridedPool::new(3, 2, 1, 9);
    let x = array(&[3, 1, 5, 6], 1.0, 300);
    for baseline in [Baseline::Zeros, Baseline::Constant(0.3)] {
        let out = DeepLift::with_config(
            &m,
            DeepLiftConfig {
                baseline: baseline.clone(),
                batch_size: BatchSize::fixed(2).unwrap(),
            },
        )
        .explain_with_delta(x.view(), &[0, 0, 0], Seeds::base(0))
        .unwrap();
        for (d, df) in out.delta.iter().zip(&out.output_difference) {
            assert!(df.abs() > 1e-2);
            assert!(
                d.abs() <= 1e-5 * df.abs().max(1.0),
                "{baseline:?}: {d} vs {df}"
            );
        }
        assert!(out.attributions.view().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn lrp_max_pool_ties_keep_relevance_conserved() {
    // A flat image: every window is a tie. Winner-take-all sends each
    // window's relevance to one entry, so Σ R = f(x) (candle's `max`
    // would give every tied entry the full gradient: 4× the relevance).
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 4, 4]), 2.0f32);
    for (k, s, p, outputs) in [(2, 2, 0, 4), (3, 2, 1, 4)] {
        let m = StridedPool::new(k, s, p, outputs);
        let a = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)))
            .explain(x.view(), &[0], Seeds::base(0))
            .unwrap();
        let total: f32 = a.view().iter().sum();
        assert_eq!(total, 2.0 * outputs as f32, "k={k}");
        assert_eq!(a.view().iter().filter(|&&v| v != 0.0).count(), outputs);
    }
    // RuleSequential's strided pool is the same op.
    let m = RuleSequential::new(4)
        .push(
            "pool",
            RuleLayer::MaxPool2dStrided {
                kernel: 3,
                stride: 2,
                padding: 1,
            },
        )
        .push("flatten", RuleLayer::Flatten);
    let a = Lrp::new(&m)
        .explain(x.view(), &[3], Seeds::base(0))
        .unwrap();
    let total: f32 = a.view().iter().sum();
    assert_eq!(total, 2.0);
    // The kernel = stride op of RuleSequential too.
    let m = RuleSequential::new(4)
        .push("pool", RuleLayer::MaxPool2d(2))
        .push("flatten", RuleLayer::Flatten);
    let a = Lrp::new(&m)
        .explain(x.view(), &[1], Seeds::base(0))
        .unwrap();
    let total: f32 = a.view().iter().sum();
    assert_eq!(total, 2.0);
}

#[test]
fn deeplift_residual_user_model() {
    let m = Residual::new(true);
    let x = cnn_input();
    let out = DeepLift::new(&m)
        .explain_with_delta(x.view(), &CT, Seeds::base(0))
        .unwrap();
    for (d, df) in out.delta.iter().zip(&out.output_difference) {
        assert!(df.abs() > 1e-3);
        assert!(d.abs() <= 1e-4 * df.abs(), "delta {d} vs {df}");
    }
}

// -------------------------------------------------------------------- LRP

#[test]
fn lrp0_equals_gradient_times_input_on_bias_free_relu_nets() {
    let x = cnn_input();
    let lrp0 = Composite::uniform(LrpRule::Epsilon(0.0));
    let m = relu_cnn(false);
    let r = Lrp::with_composite(&m, lrp0.clone())
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let gi = InputXGradient::new(&m)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs(&gi) > 1e-3);
    assert!(max_abs_diff(&r, &gi) <= 1e-5 * max_abs(&gi));
    let res = Residual::new(false);
    let r = Lrp::with_composite(&res, lrp0)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let gi = InputXGradient::new(&res)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&r, &gi) <= 1e-5 * max_abs(&gi));
}

/// Σ relevance per sample vs the target logit, relative error.
fn conservation_error(m: &RuleSequential, composite: Composite, x: &ArrayD<f32>) -> f64 {
    let r = Lrp::with_composite(m, composite)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let f = target_logits(m, x, &CT);
    row_sums(&r)
        .iter()
        .zip(&f)
        .map(|(s, &fi)| {
            assert!(fi.abs() > 1e-2, "degenerate logit {fi}");
            (s - fi as f64).abs() / (fi as f64).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn lrp_epsilon_conserves_on_bias_free_relu_net() {
    let m = relu_cnn(false);
    let x = cnn_input();
    let err = conservation_error(&m, Composite::uniform(LrpRule::Epsilon(1e-7)), &x);
    assert!(err <= 1e-4, "relative conservation error {err}");
    // A large ε absorbs relevance: the map shrinks towards zero.
    let r_small = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(1e-7)))
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let r_big = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(100.0)))
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs(&r_big) < 0.1 * max_abs(&r_small));
}

#[test]
fn lrp_zplus_alpha1beta0_and_alpha2beta1_conserve_with_positive_activations() {
    let m = relu_cnn(false);
    let x = cnn_input().mapv(f32::abs);
    let zp = Composite::uniform(LrpRule::ZPlus);
    let ab10 = Composite::uniform(LrpRule::AlphaBeta {
        alpha: 1.0,
        beta: 0.0,
    });
    assert!(conservation_error(&m, zp.clone(), &x) <= 1e-4);
    assert!(conservation_error(&m, ab10.clone(), &x) <= 1e-4);
    let a = Lrp::with_composite(&m, zp)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let b = Lrp::with_composite(&m, ab10)
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert_eq!(a, b);
    let ab21 = Composite::uniform(LrpRule::AlphaBeta {
        alpha: 2.0,
        beta: 1.0,
    });
    // α2β1 conserves wherever both the positive and the negative part of
    // a unit are non-zero: true for the convolutions here; fc1 has a row
    // of positive weights only (its β-part is empty, so that unit's
    // relevance is counted α = 2 times, in Zennit as here).
    let mut conv_only = Composite::epsilon_alpha2_beta1();
    conv_only.dense = LrpRule::Epsilon(1e-7);
    assert!(conservation_error(&m, conv_only, &x) <= 1e-4);
    assert!(conservation_error(&m, ab21, &x) > 0.1);
    // Gamma is conservative too without biases; γ = 0 is LRP-0.
    assert!(conservation_error(&m, Composite::uniform(LrpRule::Gamma(0.25)), &x) <= 1e-4);
    let g0 = Lrp::with_composite(&m, Composite::uniform(LrpRule::Gamma(0.0)))
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    let e0 = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)))
        .explain(x.view(), &CT, Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&g0, &e0) <= 1e-4 * max_abs(&e0));
}

#[test]
fn lrp_zplus_and_gamma_by_hand_on_one_layer() {
    // z = 1·1 − 1·2 + 0 = −1 = R; z⁺: only the positive contribution
    // (x₀ w₀ = 1) carries relevance: R = (−1 · 1/1, 0).
    let m = RuleSequential::new(1).push("fc", dense(&[&[1.0, -1.0]], None));
    let x = array![[1.0f32, 2.0]].into_dyn();
    let r = Lrp::with_composite(&m, Composite::uniform(LrpRule::ZPlus))
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    assert!(max_abs_diff(&r.into_inner(), &array![[-1.0f32, 0.0]].into_dyn()) < 1e-5);
    // γ = 0.5, z < 0: weights w + γ w⁻ = (1, −1.5): contributions (1, −3),
    // denominator −2: R = −1 · (1, −3) / −2 = (0.5, −1.5).
    let r = Lrp::with_composite(&m, Composite::uniform(LrpRule::Gamma(0.5)))
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    assert!(max_abs_diff(&r.into_inner(), &array![[0.5f32, -1.5]].into_dyn()) < 1e-5);
    // α2β1: 2 · (1, 0) · (−1 / 1) − 1 · (0, −2) · (−1 / −2) = (−2, 1).
    let ab = LrpRule::AlphaBeta {
        alpha: 2.0,
        beta: 1.0,
    };
    let r = Lrp::with_composite(&m, Composite::uniform(ab))
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap();
    assert!(max_abs_diff(&r.into_inner(), &array![[-2.0f32, 1.0]].into_dyn()) < 1e-5);
}

#[test]
fn lrp_zbox_and_flat_first_layer_by_hand() {
    // One dense layer, w = (1, −2), b = 0.3, x = (0.5, −0.25), box [−1, 1].
    // z = 1.3 = R. Denominator: x·w − l w⁺ − h w⁻ = 1 + 1 + 2 = 4.
    // Numerators: (0.5 + 1, 0.5 + 2) = (1.5, 2.5); R = 1.3 · (1.5, 2.5) / 4.
    let m = RuleSequential::new(1).push("fc", dense(&[&[1.0, -2.0]], Some(&[0.3])));
    let x = array![[0.5f32, -0.25]].into_dyn();
    let zb = Composite::epsilon_gamma_box(-1.0, 1.0);
    let r = Lrp::with_composite(&m, zb.clone())
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&r, &array![[0.4875f32, 0.8125]].into_dyn()) < 1e-5);
    // Flat: spread uniformly: (0.65, 0.65).
    let r = Lrp::with_composite(&m, Composite::epsilon_plus_flat())
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&r, &array![[0.65f32, 0.65]].into_dyn()) < 1e-5);
    // w²: w² = (1, 4): R = 1.3 · (1, 4) / 5.
    let r = Lrp::with_composite(
        &m,
        Composite::epsilon_plus().with_layer("fc", LrpRule::WSquare),
    )
    .explain(x.view(), &[0], Seeds::base(0))
    .unwrap()
    .into_inner();
    assert!(max_abs_diff(&r, &array![[0.26f32, 1.04]].into_dyn()) < 1e-5);
    // After a flatten of the input the first-layer rule still applies.
    let m2 = RuleSequential::new(1)
        .push("flatten", RuleLayer::Flatten)
        .push("fc", dense(&[&[1.0, -2.0]], Some(&[0.3])));
    let x2 = array![[[0.5f32, -0.25]]].into_dyn();
    let r2 = Lrp::with_composite(&m2, zb)
        .explain(x2.view(), &[0], Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&r2, &array![[[0.4875f32, 0.8125]]].into_dyn()) < 1e-5);
}

#[test]
fn lrp_composites_conserve_on_bias_free_cnn_with_boxed_inputs() {
    let m = relu_cnn(false);
    let x = cnn_input().mapv(|v| v.abs().min(1.0));
    for c in [
        Composite::epsilon_gamma_box(0.0, 1.0),
        Composite::epsilon_plus_flat(),
        Composite::epsilon_plus(),
    ] {
        let err = conservation_error(&m, c.clone(), &x);
        assert!(err <= 1e-4, "{c:?}: {err}");
    }
    // The rules matter: the composites give different maps.
    let run = |c: Composite| {
        Lrp::with_composite(&m, c)
            .explain(x.view(), &CT, Seeds::base(0))
            .unwrap()
            .into_inner()
    };
    let a = run(Composite::epsilon_gamma_box(0.0, 1.0));
    let b = run(Composite::epsilon_plus_flat());
    let c = run(Composite::uniform(LrpRule::Epsilon(0.0)));
    assert!(max_abs_diff(&a, &b) > 1e-4 && max_abs_diff(&a, &c) > 1e-4);
}

// ------------------------------------------------- determinism, chunking

fn panel(m: &RuleSequential, bs: usize) -> Vec<Box<dyn Explainer + '_>> {
    let bs = BatchSize::fixed(bs).unwrap();
    vec![
        Box::new(GuidedBackprop::new(m).with_batch_size(bs)),
        Box::new(Deconvnet::new(m).with_batch_size(bs)),
        Box::new(DeepLift::with_config(
            m,
            DeepLiftConfig {
                baseline: Baseline::RandomNormal,
                batch_size: bs,
            },
        )),
        Box::new(Lrp::new(m).with_batch_size(bs)),
        Box::new(
            Lrp::with_composite(m, Composite::epsilon_gamma_box(-3.0, 3.0)).with_batch_size(bs),
        ),
        Box::new(Lrp::with_composite(m, Composite::epsilon_plus_flat()).with_batch_size(bs)),
        Box::new(Lrp::with_composite(m, Composite::epsilon_alpha2_beta1()).with_batch_size(bs)),
    ]
}

#[test]
fn deterministic_and_chunk_size_invariant() {
    let m = relu_cnn(true);
    let x = cnn_input();
    let reference: Vec<ArrayD<f32>> = panel(&m, 64)
        .iter()
        .map(|e| {
            e.explain(x.view(), &CT, Seeds::base(5))
                .unwrap()
                .into_inner()
        })
        .collect();
    for bs in [64, 1, 2] {
        for (e, r) in panel(&m, bs).iter().zip(&reference) {
            let a = e
                .explain(x.view(), &CT, Seeds::base(5))
                .unwrap()
                .into_inner();
            assert!(a.iter().all(|v| v.is_finite()));
            if bs == 64 {
                assert_eq!(&a, r, "{} not deterministic", e.name());
            } else {
                assert!(
                    max_abs_diff(&a, r) <= 1e-5 * (1.0 + max_abs(r)),
                    "{} bs {bs}",
                    e.name()
                );
            }
        }
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_input_gives_typed_errors() {
    let m = relu_cnn(true);
    let x = cnn_input();
    let s = Seeds::base(0);
    for e in panel(&m, 4) {
        let name = e.name().to_string();
        let r1 = ndarray::Array1::<f32>::zeros(5).into_dyn();
        assert!(
            matches!(
                e.explain(r1.view(), &[0], s),
                Err(SalienceError::ShapeMismatch { .. })
            ),
            "{name}"
        );
        let wrong = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 4, 4]));
        assert!(
            matches!(
                e.explain(wrong.view(), &[0], s),
                Err(SalienceError::Backend { .. })
            ),
            "{name}"
        );
        // 5×5 images cannot be max-pooled by 2.
        let odd = ArrayD::<f32>::zeros(IxDyn(&[1, 2, 5, 5]));
        assert!(
            matches!(
                e.explain(odd.view(), &[0], s),
                Err(SalienceError::Backend { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                e.explain(x.view(), &[0, 1, 3], s),
                Err(SalienceError::TargetOutOfRange {
                    sample: 2,
                    target: 3,
                    num_classes: 3
                })
            ),
            "{name}"
        );
        assert!(
            matches!(
                e.explain(x.view(), &[0, 1], s),
                Err(SalienceError::TargetCount { .. })
            ),
            "{name}"
        );
        let mut bad = x.clone();
        bad[[1, 0, 2, 2]] = f32::NAN;
        assert!(
            matches!(
                e.explain(bad.view(), &CT, s),
                Err(SalienceError::NonFinite { .. })
            ),
            "{name}"
        );
    }
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(matches!(
        BatchSize::fixed(0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // DeepLIFT baseline of the wrong shape, and a non-finite baseline.
    let dl = |b| {
        DeepLift::with_config(
            &m,
            DeepLiftConfig {
                baseline: b,
                batch_size: BatchSize::fixed(4).unwrap(),
            },
        )
        .explain(x.view(), &CT, s)
    };
    assert!(matches!(
        dl(Baseline::Given(ArrayD::zeros(IxDyn(&[2, 4, 5])))),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dl(Baseline::Given(ArrayD::zeros(IxDyn(&[2, 2, 4, 4])))),
        Err(SalienceError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dl(Baseline::Constant(f32::INFINITY)),
        Err(SalienceError::InvalidParameter { .. })
    ));
    // Invalid rule parameters.
    for rule in [
        LrpRule::Epsilon(f32::NAN),
        LrpRule::Gamma(-1.0),
        LrpRule::AlphaBeta {
            alpha: 3.0,
            beta: 1.0,
        },
        LrpRule::ZBox {
            low: 1.0,
            high: -1.0,
        },
    ] {
        assert!(matches!(
            Lrp::with_composite(&m, Composite::uniform(rule)).explain(x.view(), &CT, s),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
    // A first-layer rule on a layer that does not take the input: the
    // composite does not fit the model (typed, not a backend error).
    let c = Composite::epsilon_plus().with_layer("fc2", LrpRule::Flat);
    let e = Lrp::with_composite(&m, c).explain(x.view(), &CT, s);
    assert!(
        matches!(
            &e,
            Err(SalienceError::Unsupported { method, model, reason })
                if method == "lrp" && model == "Sequential" && reason.contains("`fc2`")
        ),
        "{e:?}"
    );
}

// ------------------------------------ LRP against an explicit reference

/// A dense layer as plain f64 matrices.
struct DenseF64 {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

fn to_f64(l: &candle_nn::Linear) -> DenseF64 {
    let w = l.weight().to_vec2::<f32>().unwrap();
    let b = l.bias().unwrap().to_vec1::<f32>().unwrap();
    DenseF64 {
        w: w.iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect(),
        b: b.iter().map(|&v| v as f64).collect(),
    }
}

fn stab(d: f64, e: f64) -> f64 {
    if d >= 0.0 {
        d + e
    } else {
        d - e
    }
}

fn pos(v: f64) -> f64 {
    v.max(0.0)
}

fn neg(v: f64) -> f64 {
    v.min(0.0)
}

/// `Σ_j m(w_kj) · inp_j` for every output k.
fn mat(l: &DenseF64, m: impl Fn(f64) -> f64, inp: &[f64]) -> Vec<f64> {
    l.w.iter()
        .map(|r| r.iter().zip(inp).map(|(&w, &a)| m(w) * a).sum())
        .collect()
}

/// `Σ_k m(w_kj) · s_k` for every input j.
fn mat_t(l: &DenseF64, m: impl Fn(f64) -> f64, s: &[f64]) -> Vec<f64> {
    let n = l.w[0].len();
    (0..n)
        .map(|j| l.w.iter().zip(s).map(|(r, &sk)| m(r[j]) * sk).sum())
        .collect()
}

/// One explicit LRP step (Zennit's formulas, written out layer by layer).
fn explicit_step(rule: &LrpRule, l: &DenseF64, a: &[f64], r: &[f64]) -> Vec<f64> {
    const S: f64 = 1e-6;
    let ap: Vec<f64> = a.iter().map(|&v| pos(v)).collect();
    let an: Vec<f64> = a.iter().map(|&v| neg(v)).collect();
    let z: Vec<f64> = mat(l, |w| w, a)
        .iter()
        .zip(&l.b)
        .map(|(v, b)| v + b)
        .collect();
    let add =
        |x: Vec<f64>, y: Vec<f64>| -> Vec<f64> { x.iter().zip(&y).map(|(a, b)| a + b).collect() };
    let mul =
        |x: &[f64], y: Vec<f64>| -> Vec<f64> { x.iter().zip(&y).map(|(a, b)| a * b).collect() };
    match *rule {
        LrpRule::Epsilon(e) => {
            let s: Vec<f64> = z
                .iter()
                .zip(r)
                .map(|(&zk, &rk)| rk / stab(zk, e as f64))
                .collect();
            mul(a, mat_t(l, |w| w, &s))
        }
        LrpRule::ZPlus | LrpRule::AlphaBeta { .. } => {
            let (alpha, beta) = match *rule {
                LrpRule::AlphaBeta { alpha, beta } => (alpha as f64, beta as f64),
                _ => (1.0, 0.0),
            };
            let dp = add(mat(l, pos, &ap), mat(l, neg, &an));
            let dq = add(mat(l, neg, &ap), mat(l, pos, &an));
            let sp: Vec<f64> = (0..z.len())
                .map(|k| r[k] / stab(dp[k] + pos(l.b[k]), S))
                .collect();
            let sq: Vec<f64> = (0..z.len())
                .map(|k| r[k] / stab(dq[k] + neg(l.b[k]), S))
                .collect();
            let rp = add(mul(&ap, mat_t(l, pos, &sp)), mul(&an, mat_t(l, neg, &sp)));
            let rq = add(mul(&ap, mat_t(l, neg, &sq)), mul(&an, mat_t(l, pos, &sq)));
            rp.iter()
                .zip(&rq)
                .map(|(p, q)| alpha * p - beta * q)
                .collect()
        }
        LrpRule::Gamma(g) => {
            let g = g as f64;
            let up = |w: f64| w + g * pos(w);
            let down = |w: f64| w + g * neg(w);
            let p = add(mat(l, up, &ap), mat(l, down, &an));
            let q = add(mat(l, down, &ap), mat(l, up, &an));
            let s0: Vec<f64> = (0..z.len())
                .map(|k| {
                    if z[k] > 0.0 {
                        r[k] / stab(p[k] + l.b[k] + g * pos(l.b[k]), S)
                    } else {
                        0.0
                    }
                })
                .collect();
            let s1: Vec<f64> = (0..z.len())
                .map(|k| {
                    if z[k] < 0.0 {
                        r[k] / stab(q[k] + l.b[k] + g * neg(l.b[k]), S)
                    } else {
                        0.0
                    }
                })
                .collect();
            add(
                mul(&ap, add(mat_t(l, up, &s0), mat_t(l, down, &s1))),
                mul(&an, add(mat_t(l, down, &s0), mat_t(l, up, &s1))),
            )
        }
        LrpRule::ZBox { low, high } => {
            let (lo, hi) = (low as f64, high as f64);
            let lv = vec![lo; a.len()];
            let hv = vec![hi; a.len()];
            let d: Vec<f64> = (0..z.len())
                .map(|k| mat(l, |w| w, a)[k] - mat(l, pos, &lv)[k] - mat(l, neg, &hv)[k])
                .collect();
            let s: Vec<f64> = (0..z.len()).map(|k| r[k] / stab(d[k], S)).collect();
            let x_part = mul(a, mat_t(l, |w| w, &s));
            let l_part = mat_t(l, pos, &s);
            let h_part = mat_t(l, neg, &s);
            (0..a.len())
                .map(|j| x_part[j] - lo * l_part[j] - hi * h_part[j])
                .collect()
        }
        _ => unreachable!("not used in this test"),
    }
}

#[test]
fn lrp_matches_explicit_layer_by_layer_relevance_on_mlp_with_biases() {
    let fc = [
        candle_nn::Linear::new(tensor(&[6, 5], 0.7, 60), Some(tensor(&[6], 0.3, 61))),
        candle_nn::Linear::new(tensor(&[4, 6], 0.7, 62), Some(tensor(&[4], 0.3, 63))),
        candle_nn::Linear::new(tensor(&[3, 4], 0.7, 64), Some(tensor(&[3], 0.3, 65))),
    ];
    let m = RuleSequential::new(3)
        .push("fc1", fc[0].clone())
        .push("relu1", RuleLayer::Relu)
        .push("fc2", fc[1].clone())
        .push("relu2", RuleLayer::Relu)
        .push("fc3", fc[2].clone());
    let layers: Vec<DenseF64> = fc.iter().map(to_f64).collect();
    // Mixed-sign inputs inside the box [−2, 2].
    let x = array(&[4, 5], 0.8, 66).mapv(|v| v.clamp(-2.0, 2.0));
    let targets = [0, 1, 2, 1];
    let cases: Vec<(Vec<LrpRule>, Composite)> = vec![
        (
            vec![LrpRule::Epsilon(0.1); 3],
            Composite::uniform(LrpRule::Epsilon(0.1)),
        ),
        (vec![LrpRule::ZPlus; 3], Composite::uniform(LrpRule::ZPlus)),
        (
            vec![
                LrpRule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0
                };
                3
            ],
            Composite::uniform(LrpRule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            }),
        ),
        (
            vec![LrpRule::Gamma(0.25); 3],
            Composite::uniform(LrpRule::Gamma(0.25)),
        ),
        (
            vec![
                LrpRule::ZBox {
                    low: -2.0,
                    high: 2.0,
                },
                LrpRule::Gamma(0.5),
                LrpRule::Epsilon(0.01),
            ],
            Composite {
                first: Some(LrpRule::ZBox {
                    low: -2.0,
                    high: 2.0,
                }),
                conv: LrpRule::Gradient,
                dense: LrpRule::Gamma(0.5),
                layers: vec![],
            }
            .with_layer("fc3", LrpRule::Epsilon(0.01)),
        ),
    ];
    for (rules, composite) in cases {
        let got = Lrp::with_composite(&m, composite)
            .explain(x.view(), &targets, Seeds::base(0))
            .unwrap()
            .into_inner();
        for (i, &t) in targets.iter().enumerate() {
            // Forward activations.
            let mut acts = vec![x
                .index_axis(Axis(0), i)
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<f64>>()];
            for (li, l) in layers.iter().enumerate() {
                let a = acts.last().unwrap();
                let z: Vec<f64> = mat(l, |w| w, a)
                    .iter()
                    .zip(&l.b)
                    .map(|(v, b)| v + b)
                    .collect();
                acts.push(if li < 2 {
                    z.iter().map(|&v| pos(v)).collect()
                } else {
                    z
                });
            }
            let mut r = vec![0.0; 3];
            r[t] = acts[3][t];
            for li in (0..3).rev() {
                r = explicit_step(&rules[li], &layers[li], &acts[li], &r);
            }
            let row = got.index_axis(Axis(0), i);
            let scale = r.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (g, e) in row.iter().zip(&r) {
                assert!(
                    (*g as f64 - e).abs() <= 1e-4 * (1.0 + scale),
                    "{rules:?} sample {i}: {g} vs {e}"
                );
            }
        }
    }
}

#[test]
fn rule_sequential_layer_split_agrees_with_logits() {
    use salience_explain::LayerSplit;
    let m = relu_cnn(true);
    let x = cnn_input();
    let xt = Tensor::from_slice(x.as_slice().unwrap(), x.shape(), &Device::Cpu).unwrap();
    let direct = m.logits(&xt).unwrap().to_vec2::<f32>().unwrap();
    for layer in m.layer_names() {
        let a = m.activations(&xt, &layer).unwrap();
        assert_eq!(
            m.head(&a, &layer).unwrap().to_vec2::<f32>().unwrap(),
            direct
        );
    }
    assert!(m.check_layer("conv9").is_err());
}

#[test]
fn lrp_zbox_per_channel_bounds() {
    // Dense layer, bounds per feature (axis 1): l = (−1, 0), h = (1, 0.5);
    // w = (1, −2), b = 0.3, x = (0.5, 0.25): z = 0.3, denominator
    // 0 + 1 + 1 = 2, numerators (1.5, 0.5): R = 0.3 · (1.5, 0.5) / 2.
    let m = RuleSequential::new(1).push("fc", dense(&[&[1.0, -2.0]], Some(&[0.3])));
    let x = array![[0.5f32, 0.25]].into_dyn();
    let c = Composite::epsilon_gamma_box_channels(vec![-1.0, 0.0], vec![1.0, 0.5]);
    let r = Lrp::with_composite(&m, c)
        .explain(x.view(), &[0], Seeds::base(0))
        .unwrap()
        .into_inner();
    assert!(max_abs_diff(&r, &array![[0.225f32, 0.075]].into_dyn()) < 1e-5);
    // On the CNN: equal per-channel bounds = scalar bounds; different ones
    // change the map.
    let cnn = relu_cnn(true);
    let x = cnn_input();
    let run = |c: Composite| {
        Lrp::with_composite(&cnn, c)
            .explain(x.view(), &CT, Seeds::base(0))
            .unwrap()
            .into_inner()
    };
    let scalar = run(Composite::epsilon_gamma_box(-3.0, 3.0));
    let same = run(Composite::epsilon_gamma_box_channels(
        vec![-3.0, -3.0],
        vec![3.0, 3.0],
    ));
    assert!(max_abs_diff(&scalar, &same) <= 1e-6 * (1.0 + max_abs(&scalar)));
    let other = run(Composite::epsilon_gamma_box_channels(
        vec![-3.0, -1.0],
        vec![3.0, 5.0],
    ));
    assert!(max_abs_diff(&scalar, &other) > 1e-4);
    // Bounds for the wrong number of channels; invalid bounds.
    let s = Seeds::base(0);
    let three = Composite::epsilon_gamma_box_channels(vec![0.0; 3], vec![1.0; 3]);
    let e = Lrp::with_composite(&cnn, three).explain(x.view(), &CT, s);
    assert!(
        matches!(
            &e,
            Err(SalienceError::InvalidParameter { name, value, .. })
                if name == "zbox channel bounds" && value == "3 channels"
        ),
        "{e:?}"
    );
    for (lo, hi) in [
        (vec![0.0], vec![1.0, 2.0]),
        (vec![], vec![]),
        (vec![2.0, 0.0], vec![1.0, 1.0]),
    ] {
        assert!(matches!(
            Lrp::with_composite(&cnn, Composite::epsilon_gamma_box_channels(lo, hi)).explain(
                x.view(),
                &CT,
                s
            ),
            Err(SalienceError::InvalidParameter { .. })
        ));
    }
}

/// fc(4→4) → softmax over pairs with the pairs folded into the batch axis
/// (`[N, 4]` → `[2N, 2]`) → fc(4→3): AttnLRP's absorbed softmax bias needs
/// the batch on axis 0 of the softmax input.
struct FoldedSoftmax {
    fc1: candle_nn::Linear,
    fc2: candle_nn::Linear,
}

impl RuleForward for FoldedSoftmax {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let h = ops.linear("fc1", &self.fc1, x)?;
        let s = ops.softmax(&h.reshape((2 * n, 2))?)?;
        ops.linear("fc2", &self.fc2, &s.reshape((n, 4))?)
    }
}

rule_classifier!(FoldedSoftmax, 3);

#[test]
fn attn_lrp_refuses_a_softmax_without_the_batch_axis_as_unsupported() {
    let m = FoldedSoftmax {
        fc1: candle_nn::Linear::new(tensor(&[4, 4], 0.5, 60), None),
        fc2: candle_nn::Linear::new(tensor(&[3, 4], 0.5, 61), None),
    };
    let x = array(&[2, 4], 1.0, 62);
    let e = salience_explain::AttnLrp::new(m);
    match e.explain_with_softmax_bias(x.view(), &[0, 2]) {
        Err(SalienceError::Unsupported {
            method,
            model,
            reason,
        }) => {
            assert_eq!(method, "attnlrp");
            assert_eq!(model, "FoldedSoftmax");
            assert!(
                reason.contains("leading dimension of 4 for a batch of 2"),
                "{reason}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // Without the bias leaves the same model explains (the refusal is
    // about the absorbed bias only).
    let r = e.explain(x.view(), &[0, 2], Seeds::base(0)).unwrap();
    assert_eq!(r.shape(), &[2, 4]);
}
