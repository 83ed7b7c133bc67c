//! LRP through the one forward pass of MLP-Mixer and Swin: their stages
//! are written over `LayerOps`, so `RuleForward` is derived and the
//! transformer rules (LayerNorm, GELU and, for Swin, softmax and products
//! of activations: AttnLRP / CP-LRP) apply. Checked: the plain forward
//! pass is unchanged, relevance is conserved without biases (the
//! tolerance of the ViT's AttnLRP tests, `tests/attn_lrp.rs`), and the
//! LRP map is not Gradient × Input (it would be if the stages ignored
//! their ops).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;

use arrays::{inputs, rel_diff, row_sums, tensor, to_array};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use ndarray::{ArrayD, Axis};
use salience_core::{Explainer, SalienceError, Seeds};
use salience_explain::rules::PlainOps;
use salience_explain::{
    AttentionRule, AttnLrp, AttnLrpConfig, Classifier, Composite, InputXGradient, Lrp, LrpRule,
    RuleForward,
};
use salience_models::{init, MixerConfig, MlpMixer, SwinConfig, SwinTransformer};

/// Seeded tensors of these shapes with every bias (and every tensor named
/// in `zero`) zero and LayerNorm scales ≠ 1: the conservation setting.
fn bias_free(shapes: &[(String, Vec<usize>)], zero: &[&str]) -> VarBuilder<'static> {
    let mut t = init::seeded_tensors(shapes, 7, &Device::Cpu).expect("seeded");
    for (name, v) in t.iter_mut() {
        if name.ends_with("bias") || zero.iter().any(|z| name.ends_with(z)) {
            *v = v.zeros_like().expect("zeros");
        } else if name.contains("norm") && v.rank() == 1 {
            let d = v.elem_count();
            let w: Vec<f32> = (0..d).map(|i| 0.6 + 0.1 * (i % 7) as f32).collect();
            *v = candle_core::Tensor::from_vec(w, d, &Device::Cpu).expect("scale");
        }
    }
    VarBuilder::from_tensors(t, DType::F32, &Device::Cpu)
}

/// The logits of `forward_with(PlainOps)` and `logits` on `x` are equal,
/// and both match `want` (the logits before the forward pass was written
/// over `LayerOps`) to 1e-6 relative.
fn check_plain<M: RuleForward>(m: &M, x: &ArrayD<f32>, want: &[f32]) {
    let plain = to_array(&m.logits(&tensor(x)).expect("logits"));
    let with = to_array(&m.forward_with(&tensor(x), &PlainOps).expect("forward_with"));
    assert_eq!(plain, with);
    let want = ArrayD::from_shape_vec(plain.shape().to_vec(), want.to_vec()).expect("shape");
    let d = rel_diff(&plain, &want);
    assert!(d <= 1e-6, "logits moved by {d:.2e}");
}

/// The class of the largest |logit| of each row and that logit (targets
/// whose logits are not near 0, so conservation is a real check).
fn largest<M: Classifier>(m: &M, x: &ArrayD<f32>) -> (Vec<usize>, Vec<f64>) {
    let l = to_array(&m.logits(&tensor(x)).expect("logits"));
    l.axis_iter(Axis(0))
        .map(|r| {
            let t = (0..r.len())
                .max_by(|&a, &b| r[a].abs().total_cmp(&r[b].abs()))
                .expect("classes");
            (t, r[t] as f64)
        })
        .unzip()
}

/// LRP-0 on a bias-free model: per row, the input relevance sums to the
/// target logit (the tolerance of `tests/attn_lrp.rs`).
fn check_lrp_conserves<M: RuleForward>(m: &M, x: &ArrayD<f32>) {
    let (targets, f) = largest(m, x);
    let targets = &targets;
    let lrp0 = Lrp::with_composite(m, Composite::uniform(LrpRule::Epsilon(0.0)));
    let r = lrp0
        .explain(x.view(), targets, Seeds::base(0))
        .expect("lrp");
    let sums = row_sums(&r.view().to_owned());
    for (i, (s, f)) in sums.iter().zip(&f).enumerate() {
        eprintln!("lrp row {i}: sum {s:.7}, logit {f:.7}");
        assert!(f.abs() > 1e-2, "row {i}: a non-trivial logit {f}");
        assert!(
            (s - f).abs() <= 1e-4 * f.abs().max(1.0),
            "row {i}: {s} vs {f}"
        );
    }
}

/// LRP-ε's map is far from Gradient × Input (which it would equal, up to
/// ε, if the LayerNorm and GELU rules were not applied).
fn check_lrp_is_not_gradient_x_input<M: RuleForward>(m: &M, x: &ArrayD<f32>, targets: &[usize]) {
    let lrp = Lrp::with_composite(m, Composite::uniform(LrpRule::Epsilon(1e-6)))
        .explain(x.view(), targets, Seeds::base(0))
        .expect("lrp");
    let ixg = InputXGradient::new(m)
        .explain(x.view(), targets, Seeds::base(0))
        .expect("input x gradient");
    let d = rel_diff(&lrp.view().to_owned(), &ixg.view().to_owned());
    eprintln!("lrp vs input x gradient: {d:.3}");
    assert!(
        d > 0.05,
        "LRP equals Gradient x Input ({d:.2e}): the rules were not applied"
    );
    assert!(lrp.view().iter().all(|v| v.is_finite()));
}

/// 16×16 RGB, 4×4 patches (16 tokens), width 8, 2 blocks, token MLP 6,
/// channel MLP 16, 3 classes.
fn mixer_config() -> MixerConfig {
    MixerConfig {
        image_size: 16,
        patch_size: 4,
        in_channels: 3,
        embed_dim: 8,
        depth: 2,
        tokens_mlp_dim: 6,
        channels_mlp_dim: 16,
        num_classes: 3,
        layer_norm_eps: 1e-6,
    }
}

fn bias_free_mixer() -> MlpMixer {
    let c = mixer_config();
    MlpMixer::new(bias_free(&c.tensor_shapes(), &[]), &c).expect("mixer")
}

#[test]
fn mixer_plain_forward_is_unchanged() {
    let m = MlpMixer::seeded(&mixer_config(), 3, &Device::Cpu).expect("mixer");
    // Recorded from the forward pass before it went through LayerOps.
    let want = [
        0.07994069,
        -0.1019859,
        0.5628524,
        -0.23114976,
        0.8860973,
        0.39010072,
    ];
    check_plain(&m, &inputs(&[2, 3, 16, 16]), &want);
    // The rule-based forward pass keeps the values.
    let x = inputs(&[2, 3, 16, 16]);
    let plain = to_array(&m.logits(&tensor(&x)).expect("logits"));
    let rules = to_array(
        &AttnLrp::new(&m)
            .rule_logits(&tensor(&x))
            .expect("rule logits"),
    );
    assert!(rel_diff(&rules, &plain) <= 1e-5);
}

#[test]
fn mixer_lrp_conserves_the_target_logit_without_biases() {
    let m = bias_free_mixer();
    check_lrp_conserves(&m, &inputs(&[4, 3, 16, 16]));
}

#[test]
fn mixer_lrp_is_not_gradient_times_input() {
    let m = MlpMixer::seeded(&mixer_config(), 3, &Device::Cpu).expect("mixer");
    check_lrp_is_not_gradient_x_input(&m, &inputs(&[2, 3, 16, 16]), &[0, 2]);
}

#[test]
fn attnlrp_on_a_mixer_is_a_typed_error() {
    // AttnLRP's rules are for attention; the Mixer computes no softmax.
    let m = bias_free_mixer();
    let x = inputs(&[1, 3, 16, 16]);
    match AttnLrp::new(&m).explain(x.view(), &[0], Seeds::base(0)) {
        Err(SalienceError::Unsupported { reason, model, .. }) => {
            assert!(reason.contains("no softmax"), "{reason}");
            assert_eq!(model, "MlpMixer");
        }
        other => panic!("expected an Unsupported error, got {other:?}"),
    }
}

/// 24×24 RGB, 4×4 patches: stage 0 a 6 × 6 map of width 8 in windows of
/// 4 (padded to 8 × 8; block 1 shifted by 2, with the mask), then patch
/// merging to a 3 × 3 map of width 16 (the window clipped to 3, no
/// shift); 2 heads, MLP ratio 2, 3 classes.
fn swin_config() -> SwinConfig {
    SwinConfig {
        image_size: 24,
        patch_size: 4,
        in_channels: 3,
        embed_dim: 8,
        depths: vec![2, 2],
        num_heads: vec![2, 2],
        window_size: 4,
        mlp_ratio: 2.0,
        qkv_bias: true,
        num_classes: 3,
        layer_norm_eps: 1e-5,
    }
}

/// Every bias zero, the relative position bias tables too (the shift
/// mask stays).
fn bias_free_swin() -> SwinTransformer {
    let c = swin_config();
    let vb = bias_free(&c.tensor_shapes(), &["relative_position_bias_table"]);
    SwinTransformer::new(vb, &c).expect("swin")
}

#[test]
fn swin_plain_forward_is_unchanged() {
    let m = SwinTransformer::seeded(&swin_config(), 3, &Device::Cpu).expect("swin");
    // Recorded from the forward pass before it went through LayerOps.
    let want = [
        0.4655664,
        0.38123456,
        -0.4159447,
        0.55890644,
        -0.33921686,
        0.018915892,
    ];
    let x = inputs(&[2, 3, 24, 24]);
    check_plain(&m, &x, &want);
    let plain = to_array(&m.logits(&tensor(&x)).expect("logits"));
    for rule in [AttentionRule::AttnLrp, AttentionRule::CpLrp] {
        let e = AttnLrp::with_config(
            &m,
            AttnLrpConfig {
                rule,
                ..Default::default()
            },
        );
        let rules = to_array(&e.rule_logits(&tensor(&x)).expect("rule logits"));
        assert!(rel_diff(&rules, &plain) <= 1e-5, "{rule:?}");
    }
}

/// On the bias-free Swin with ε = 0: CP-LRP's input relevance sums to the
/// target logit; AttnLRP's does up to what its softmax rule absorbs
/// (measured per input), as the ViT's in `tests/attn_lrp.rs`.
#[test]
fn swin_attnlrp_and_cp_lrp_conserve_the_target_logit_without_biases() {
    let m = bias_free_swin();
    let x = inputs(&[4, 3, 24, 24]);
    let (targets, f) = largest(&m, &x);
    for rule in [AttentionRule::CpLrp, AttentionRule::AttnLrp] {
        let e = AttnLrp::with_config(
            &m,
            AttnLrpConfig {
                rule,
                composite: Composite::uniform(LrpRule::Epsilon(0.0)),
                batch_size: salience_core::BatchSize::fixed(2).unwrap(),
            },
        );
        let (r, absorbed) = e
            .explain_with_softmax_bias(x.view(), &targets)
            .expect("attn lrp");
        let sums = row_sums(&r.view().to_owned());
        for i in 0..targets.len() {
            let (s, b) = (sums[i], absorbed[i] as f64);
            eprintln!(
                "{rule:?} row {i}: sum {s:.7} + absorbed {b:.7} vs logit {:.7}",
                f[i]
            );
            assert!(f[i].abs() > 1e-2, "row {i}: a non-trivial logit");
            assert!(
                (s + b - f[i]).abs() <= 1e-4 * f[i].abs().max(1.0),
                "{rule:?} row {i}"
            );
            if rule == AttentionRule::CpLrp {
                assert_eq!(b, 0.0);
            } else {
                assert!(
                    b.abs() > 1e-5,
                    "row {i}: AttnLRP's softmax rule absorbs {b}"
                );
            }
        }
    }
}

#[test]
fn swin_lrp_is_not_gradient_times_input() {
    let m = SwinTransformer::seeded(&swin_config(), 3, &Device::Cpu).expect("swin");
    check_lrp_is_not_gradient_x_input(&m, &inputs(&[2, 3, 24, 24]), &[0, 2]);
}

#[test]
fn the_registries_offer_the_rules_that_apply() {
    let x = inputs(&[2, 3, 24, 24]);
    let swin = std::sync::Arc::new(bias_free_swin());
    for spec in ["attnlrp:batch_size=1", "cp_lrp"] {
        let e = SwinTransformer::registry()
            .build(&spec.parse().expect("spec"), &swin)
            .expect("builds for Swin");
        let a = e
            .explain(x.view(), &[0, 1], Seeds::base(0))
            .expect("explain");
        assert_eq!(a.view().shape(), &[2, 3, 24, 24]);
        assert!(a.view().iter().all(|v| v.is_finite()));
    }
    let mixer = std::sync::Arc::new(bias_free_mixer());
    for spec in ["attnlrp", "cp-lrp", "attn_lrp"] {
        match MlpMixer::registry().build(&spec.parse().expect("spec"), &mixer) {
            Err(SalienceError::InvalidParameter { .. }) => {}
            Err(e) => panic!("{spec}: expected an invalid-method error, got {e}"),
            Ok(_) => panic!("{spec}: built for a Mixer"),
        }
    }
    let lrp = MlpMixer::registry()
        .with_rules(-1.0, 1.0)
        .build(&"lrp:composite=epsilon_plus".parse().expect("spec"), &mixer)
        .expect("lrp builds for the Mixer");
    let x = inputs(&[1, 3, 16, 16]);
    assert!(lrp.explain(x.view(), &[0], Seeds::base(0)).is_ok());
}
