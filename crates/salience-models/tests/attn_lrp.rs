//! AttnLRP and CP-LRP ([`AttnLrp`]) on the Vision Transformer: the
//! rule-based forward pass reproduces the logits, conservation without
//! biases, parity with the authors' LXT (fixtures written by
//! `scripts/parity/attnlrp_fixtures.py`), and typed errors for models
//! without attention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;
#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use arrays::{inputs, row_sums};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use json::Json;
use ndarray::ArrayD;
use salience_core::{Explainer, SalienceError, Seeds};
use salience_explain::model::convert::{array_from_tensor, tensor_from_view};
use salience_explain::registry::Registry;
use salience_explain::{
    AttentionRule, AttnLrp, AttnLrpConfig, Classifier, Composite, Lrp, LrpRule,
};
use salience_models::{init, SmallCnn, VisionTransformer, VitConfig, VitPool};
use std::collections::HashMap;
use std::sync::Arc;

fn to_array(t: &Tensor) -> ArrayD<f32> {
    array_from_tensor(t).expect("array")
}

fn tensor(a: &ArrayD<f32>) -> Tensor {
    tensor_from_view(a.view(), &Device::Cpu).expect("tensor")
}

/// max |a − b| / max |b|.
fn rel_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let max_abs = |v: ArrayD<f32>| v.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
    max_abs(a - b) / max_abs(b.clone())
}

/// 8×8 inputs of 2 channels, 4×4 patches (4 patch tokens and a class
/// token), width 8, 2 blocks of 2 heads, MLP 16, 3 classes.
fn small_config() -> VitConfig {
    VitConfig {
        image_size: 8,
        patch_size: 4,
        in_channels: 2,
        embed_dim: 8,
        depth: 2,
        num_heads: 2,
        mlp_dim: 16,
        qkv_bias: true,
        pool: VitPool::Token,
        num_classes: 3,
        layer_norm_eps: 1e-6,
    }
}

/// A seeded ViT with every bias, the class token and the position
/// embeddings zero (the conservation setting), LayerNorm scales ≠ 1.
fn bias_free(config: &VitConfig) -> VisionTransformer {
    let mut t = init::seeded_tensors(&config.tensor_shapes(), 7, &Device::Cpu).expect("seeded");
    for (name, v) in t.iter_mut() {
        if name == "cls_token" || name == "pos_embed" || name.ends_with("bias") {
            *v = v.zeros_like().expect("zeros");
        } else if name.contains("norm") {
            let d = v.elem_count();
            let w: Vec<f32> = (0..d).map(|i| 0.6 + 0.1 * i as f32).collect();
            *v = Tensor::from_vec(w, d, &Device::Cpu).expect("scale");
        }
    }
    let vb = VarBuilder::from_tensors(t, DType::F32, &Device::Cpu);
    VisionTransformer::new(vb, config).expect("vit")
}

fn epsilon0(rule: AttentionRule) -> AttnLrpConfig {
    AttnLrpConfig {
        rule,
        composite: Composite::uniform(LrpRule::Epsilon(0.0)),
        batch_size: salience_core::BatchSize::fixed(2).unwrap(),
    }
}

fn target_logits(m: &VisionTransformer, x: &ArrayD<f32>, targets: &[usize]) -> Vec<f64> {
    let l = to_array(&m.logits(&tensor(x)).expect("logits"));
    targets
        .iter()
        .enumerate()
        .map(|(i, &t)| l[[i, t]] as f64)
        .collect()
}

#[test]
fn rule_forward_reproduces_the_plain_logits() {
    let shipped = salience_models::assets::vit_fashion(&Device::Cpu).expect("shipped vit");
    let x28 = inputs(&[3, 1, 28, 28]);
    let small = bias_free(&small_config());
    let x8 = inputs(&[3, 2, 8, 8]);
    for (m, x) in [(&shipped, &x28), (&small, &x8)] {
        let plain = to_array(&m.logits(&tensor(x)).expect("logits"));
        for rule in [AttentionRule::AttnLrp, AttentionRule::CpLrp] {
            let e = AttnLrp::with_config(
                m,
                AttnLrpConfig {
                    rule,
                    ..Default::default()
                },
            );
            let r = to_array(&e.rule_logits(&tensor(x)).expect("rule logits"));
            // The rules change only the backward pass: the same values up
            // to rounding (the plain pass runs the fused layer-norm /
            // softmax / GELU ops, the rules their unfused forms).
            let scale = plain.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            let diff = r
                .iter()
                .zip(&plain)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff <= 1e-5 * scale, "{rule:?}: {diff} of {scale}");
        }
    }
}

/// On the bias-free ViT with ε = 0: per input, the relevance sum, the
/// relevance the softmax rule absorbed, and the target logit.
fn conservation(rule: AttentionRule, pool: VitPool, targets: &[usize]) -> Vec<(f64, f64, f64)> {
    let m = bias_free(&VitConfig {
        pool,
        ..small_config()
    });
    let x = inputs(&[targets.len(), 2, 8, 8]);
    let e = AttnLrp::with_config(&m, epsilon0(rule));
    let (r, absorbed) = e.explain_with_softmax_bias(x.view(), targets).expect("lrp");
    let sums = row_sums(&r.view().to_owned());
    let f = target_logits(&m, &x, targets);
    // The plain explain gives the same map as the tracked one.
    let plain = e.explain(x.view(), targets, Seeds::base(0)).expect("plain");
    assert!(rel_diff(&plain.view().to_owned(), &r.view().to_owned()) < 1e-6);
    (0..targets.len())
        .map(|i| (sums[i], absorbed[i] as f64, f[i]))
        .collect()
}

#[test]
fn cp_lrp_conserves_the_target_logit_without_biases() {
    // Class-token readout, and the mean of the patch tokens + fc_norm.
    let token = conservation(AttentionRule::CpLrp, VitPool::Token, &[0, 1, 2, 1]);
    let avg = conservation(AttentionRule::CpLrp, VitPool::Avg, &[2, 0]);
    for (i, (s, b, f)) in token.into_iter().chain(avg).enumerate() {
        eprintln!("cp-lrp row {i}: sum {s:.7}, logit {f:.7}");
        assert!(
            (s - f).abs() <= 1e-4 * f.abs().max(1.0),
            "row {i}: {s} vs {f}"
        );
        assert!(f.abs() > 1e-2, "a non-trivial logit");
        assert_eq!(b, 0.0);
    }
}

#[test]
fn attnlrp_conserves_up_to_the_relevance_its_softmax_rule_absorbs() {
    let token = conservation(AttentionRule::AttnLrp, VitPool::Token, &[2, 0, 1, 0]);
    let avg = conservation(AttentionRule::AttnLrp, VitPool::Avg, &[1, 2]);
    for (i, (s, b, f)) in token.into_iter().chain(avg).enumerate() {
        eprintln!("attnlrp row {i}: sum {s:.7} + absorbed {b:.7} vs logit {f:.7}");
        assert!((s + b - f).abs() <= 1e-4 * f.abs().max(1.0), "row {i}");
        // The softmax rule is not conservative: the bias is measurable.
        assert!(b.abs() > 1e-4, "row {i}: absorbed {b}");
    }
}

struct LxtCase {
    model: VisionTransformer,
    x: ArrayD<f32>,
    targets: Vec<usize>,
    j: Json,
}

fn lxt_config(c: &Json) -> VitConfig {
    let [image_size, patch_size, in_channels, embed_dim, depth, num_heads, mlp_dim, num_classes] =
        [
            "img_size",
            "patch_size",
            "in_chans",
            "embed_dim",
            "depth",
            "num_heads",
            "mlp_dim",
            "num_classes",
        ]
        .map(|k| c.get(k).num() as usize);
    // qkv biases and a class token, as small_config.
    VitConfig {
        image_size,
        patch_size,
        in_channels,
        embed_dim,
        depth,
        num_heads,
        mlp_dim,
        num_classes,
        layer_norm_eps: c.get("layer_norm_eps").num(),
        ..small_config()
    }
}

fn lxt_cases() -> Vec<(&'static str, LxtCase)> {
    let doc = json::read(&format!(
        "{}/tests/fixtures/lxt/attnlrp.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert_eq!(doc.get("versions").get("lxt").str(), "2.1");
    let mut out = Vec::new();
    for name in ["vit_token", "tiny"] {
        let j = doc.get("cases").get(name).clone();
        let config = lxt_config(j.get("config"));
        let model = if name == "vit_token" {
            VisionTransformer::from_safetensors_bytes(
                include_bytes!("fixtures/timm/vit_token.safetensors"),
                &config,
                name,
                &Device::Cpu,
            )
            .expect("timm weights")
        } else {
            let w = j.get("weights");
            let t: HashMap<String, Tensor> = config
                .tensor_shapes()
                .into_iter()
                .map(|(n, _)| (n.clone(), tensor(&w.f32_array(&n))))
                .collect();
            VisionTransformer::new(
                VarBuilder::from_tensors(t, DType::F32, &Device::Cpu),
                &config,
            )
            .expect("tiny vit")
        };
        let x = j.f32_array("x");
        let targets = j
            .get("targets")
            .items()
            .iter()
            .map(|t| t.num() as usize)
            .collect();
        out.push((
            name,
            LxtCase {
                model,
                x,
                targets,
                j,
            },
        ));
    }
    out
}

#[test]
fn attnlrp_and_cp_lrp_match_the_authors_lxt() {
    let mut worst = 0f64;
    for (name, c) in lxt_cases() {
        let logits = to_array(&c.model.logits(&tensor(&c.x)).expect("logits"));
        assert!(
            rel_diff(&logits, &c.j.f32_array("logits")) < 1e-5,
            "{name} logits"
        );
        for (key, rule) in [
            ("attnlrp", AttentionRule::AttnLrp),
            ("cp_lrp", AttentionRule::CpLrp),
        ] {
            // The fixture's stabilisers are 0 (LXT adds its ε without
            // sign, also to LayerNorm outputs and sums; outputs within
            // 1e-6 of 0 make the maps sensitive to any ε at 1e-4).
            let e = AttnLrp::with_config(&c.model, epsilon0(rule));
            let r = e
                .explain(c.x.view(), &c.targets, Seeds::base(0))
                .expect("lrp");
            let d = rel_diff(&r.view().to_owned(), &c.j.f32_array(key));
            eprintln!("{name} {key} vs LXT: {d:.2e}");
            worst = worst.max(d);
        }
    }
    assert!(worst <= 1e-4, "vs LXT: {worst:.2e}");
}

#[test]
fn models_without_attention_are_typed_errors() {
    let cnn = SmallCnn::seeded(0, &Device::Cpu).expect("cnn");
    let x = inputs(&[1, 1, 28, 28]);
    for e in [AttnLrp::new(&cnn), AttnLrp::cp_lrp(&cnn)] {
        match e.explain(x.view(), &[0], Seeds::base(0)) {
            Err(SalienceError::Unsupported { reason, model, .. }) => {
                assert!(reason.contains("no softmax"), "{reason}");
                assert_eq!(model, "SmallCnn");
            }
            other => panic!("expected an Unsupported error, got {other:?}"),
        }
    }
    // Plain LRP still explains the CNN.
    assert!(Lrp::new(&cnn)
        .explain(x.view(), &[0], Seeds::base(0))
        .is_ok());
    // The registry: a plain registry says why; with_attention_lrp builds.
    let cnn = Arc::new(cnn);
    for name in ["attnlrp", "cp-lrp"] {
        let spec = name.parse().expect("spec");
        match Registry::with_builtins().build(&spec, &cnn) {
            Err(SalienceError::Unsupported { reason, .. }) => {
                assert!(reason.contains("with_attention_lrp"), "{reason}")
            }
            Err(e) => panic!("expected an Unsupported error, got {e}"),
            Ok(_) => panic!("expected an Unsupported error"),
        }
        let e = Registry::with_builtins()
            .with_attention_lrp()
            .build(&spec, &cnn)
            .expect("builds");
        assert!(matches!(
            e.explain(x.view(), &[0], Seeds::base(0)),
            Err(SalienceError::Unsupported { .. })
        ));
    }
}

#[test]
fn the_registry_builds_both_variants_for_the_vit() {
    let m = Arc::new(bias_free(&small_config()));
    let x = inputs(&[2, 2, 8, 8]);
    let r = Registry::with_builtins()
        .with_attention()
        .with_attention_lrp();
    for (spec, name) in [("attnlrp:batch_size=1", "attnlrp"), ("cp_lrp", "cp_lrp")] {
        let e = r.build(&spec.parse().expect("spec"), &m).expect("build");
        assert_eq!(e.name(), name);
        let a = e
            .explain(x.view(), &[0, 1], Seeds::base(0))
            .expect("explain");
        assert_eq!(a.view().shape(), &[2, 2, 8, 8]);
        assert!(a.view().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn lrp_on_a_transformer_uses_the_attnlrp_rules() {
    // Lrp's ops carry the AttnLRP rules for LayerNorm, softmax, products
    // and GELU: with AttnLrp's composite it gives AttnLrp's map.
    let m = bias_free(&small_config());
    let x = inputs(&[2, 2, 8, 8]);
    let lrp = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(1e-6)));
    let a = lrp.explain(x.view(), &[1, 2], Seeds::base(0)).expect("lrp");
    let b = AttnLrp::new(&m)
        .explain(x.view(), &[1, 2], Seeds::base(0))
        .expect("attnlrp");
    assert_eq!(a.view(), b.view());
}
