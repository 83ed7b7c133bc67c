//! VGG11 / VGG16 / AlexNet / MobileNetV2 against torchvision: reduced
//! networks built from torchvision's own classes
//! (`scripts/parity/torchvision_cnns.py` writes the fixtures, versions
//! inside) load by torchvision's names and give its logits, Captum's
//! Saliency and Integrated Gradients and pytorch-grad-cam's Grad-CAM at
//! the last convolutional stage; every split recomposes the logits and
//! the rule-based forward pass (plain and canonized ops) gives them too.
//! The full-size presets have torchvision's parameter counts and shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;
#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use arrays::{rel_diff, to_array};
use candle_core::{Device, Tensor};
use salience_core::{Explainer, Seeds};
use salience_explain::{
    Classifier, DeepLift, GradCam, IntegratedGradients, IntegratedGradientsConfig, LayerOps,
    LayerSplit, PlainOps, Quadrature, RuleForward, Saliency,
};
use salience_models::{DenseNet, DenseNetConfig, FeatureCnnConfig, MobileNetV2, MobileNetV2Config};

/// The rule-based explainers' ops with every default: batch norms
/// canonized into their convolutions.
struct Canonized;
impl LayerOps for Canonized {}

/// Checks `m` against the fixture `name`: logits, Saliency, IG and
/// Grad-CAM at `cam_layer` within `tol` (relative to the largest
/// reference value), the splits and the rule-based forward pass.
fn check<M: RuleForward + LayerSplit>(m: &M, name: &str, cam_layer: &str, tol: f64) {
    let path = format!(
        "{}/tests/fixtures/torchvision/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let j = json::read(&path);
    assert!(j
        .get("versions")
        .get("torchvision")
        .str()
        .starts_with("0.29.2"));
    assert_eq!(j.get("grad_cam_layer").str(), cam_layer);
    let x = j.f32_array("x");
    let targets: Vec<usize> = j.array("targets").1.iter().map(|&t| t as usize).collect();
    let xt = Tensor::from_vec(x.iter().copied().collect(), x.shape(), &Device::Cpu).expect("x");
    let logits = to_array(&m.logits(&xt).expect("logits"));
    let report = |what: &str, d: f64| {
        eprintln!("{name}: {what} vs PyTorch: {d:.2e}");
        assert!(d < tol, "{name}: {what} vs PyTorch: {d:.2e}");
    };
    report("logits", rel_diff(&logits, &j.f32_array("logits")));
    let g = Saliency::new(m)
        .explain(x.view(), &targets, Seeds::base(0))
        .expect("saliency");
    report(
        "Saliency (Captum)",
        rel_diff(&g.view().to_owned(), &j.f32_array("saliency")),
    );
    let cfg = IntegratedGradientsConfig {
        n_steps: j.get("ig_steps").num() as usize,
        quadrature: Quadrature::GaussLegendre,
        ..Default::default()
    };
    let ig = IntegratedGradients::with_config(m, cfg)
        .explain(x.view(), &targets, Seeds::base(0))
        .expect("ig");
    report(
        "IG (Captum)",
        rel_diff(&ig.view().to_owned(), &j.f32_array("ig_gausslegendre")),
    );
    let cam = GradCam::new(m, cam_layer)
        .explain(x.view(), &targets, Seeds::base(0))
        .expect("grad-cam");
    let want = j.f32_array("grad_cam");
    assert!(want.iter().any(|&v| v > 0.0), "{name}: a non-zero CAM");
    report(
        "Grad-CAM (pytorch-grad-cam)",
        rel_diff(&cam.view().to_owned(), &want),
    );
    // Every split recomposes the logits.
    for layer in m.layer_names() {
        let a = m.activations(&xt, &layer).expect("activations");
        let y = to_array(&m.head(&a, &layer).expect("head"));
        assert!(rel_diff(&y, &logits) < 1e-6, "{name}: split at {layer}");
    }
    // The rule-based forward pass: the plain ops are the classifier, the
    // canonized ones (batch norms merged) equal it up to rounding.
    let plain = to_array(&m.forward_with(&xt, &PlainOps).expect("plain ops"));
    assert_eq!(plain, logits, "{name}: forward_with(PlainOps)");
    let fused = to_array(&m.forward_with(&xt, &Canonized).expect("canonized ops"));
    assert!(
        rel_diff(&fused, &logits) < 1e-5,
        "{name}: canonized forward pass"
    );
}

/// DeepLIFT (its rules through the rule-based forward pass) sums to the
/// output difference.
fn check_deeplift<M: RuleForward>(m: &M, name: &str) {
    let j = json::read(&format!(
        "{}/tests/fixtures/torchvision/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    let x = j.f32_array("x");
    let targets: Vec<usize> = j.array("targets").1.iter().map(|&t| t as usize).collect();
    let dl = DeepLift::new(m)
        .explain_with_delta(x.view(), &targets, Seeds::base(0))
        .expect("deeplift");
    for (i, d) in dl.delta.iter().enumerate() {
        assert!(
            d.abs() <= 1e-3 * (1.0 + dl.output_difference[i].abs()),
            "{name}: summation-to-delta {i}: {d}"
        );
    }
}

fn bytes(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/torchvision/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("fixture weights")
}

fn reduced_vgg(blocks: &[&[usize]]) -> FeatureCnnConfig {
    FeatureCnnConfig::vgg(blocks, false, vec![32, 32], 5)
}

fn feature_cnn(name: &str, c: &FeatureCnnConfig) -> salience_models::FeatureCnn {
    salience_models::FeatureCnn::from_safetensors_bytes(&bytes(name), c, name, &Device::Cpu)
        .expect("torchvision's names")
}

#[test]
fn vgg11_matches_torchvision() {
    let c = reduced_vgg(&[&[8], &[16], &[32, 32], &[64, 64], &[64, 64]]);
    assert_eq!(c.last_conv_stage().as_deref(), Some("features.19"));
    let m = feature_cnn("vgg11", &c);
    check(&m, "vgg11", "features.19", 1e-4);
    check_deeplift(&m, "vgg11");
}

#[test]
fn vgg16_matches_torchvision() {
    let c = reduced_vgg(&[
        &[8, 8],
        &[16, 16],
        &[32, 32, 32],
        &[64, 64, 64],
        &[64, 64, 64],
    ]);
    let m = feature_cnn("vgg16", &c);
    check(&m, "vgg16", "features.29", 1e-4);
}

#[test]
fn alexnet_matches_torchvision() {
    let c = FeatureCnnConfig::alexnet_widths([8, 24, 48, 32, 32], 32, 5);
    let m = feature_cnn("alexnet", &c);
    check(&m, "alexnet", "features.11", 1e-4);
    check_deeplift(&m, "alexnet");
}

#[test]
fn full_size_feature_cnns_have_torchvisions_shapes() {
    let c = FeatureCnnConfig::vgg16(1000);
    let s = c.tensor_shapes();
    let get = |s: &[(String, Vec<usize>)], n: &str| {
        s.iter().find(|(k, _)| k == n).map(|(_, d)| d.clone())
    };
    assert_eq!(get(&s, "features.28.weight"), Some(vec![512, 512, 3, 3]));
    assert_eq!(get(&s, "classifier.6.weight"), Some(vec![1000, 4096]));
    let s11 = FeatureCnnConfig::vgg11(1000).tensor_shapes();
    assert_eq!(get(&s11, "features.18.weight"), Some(vec![512, 512, 3, 3]));
    assert_eq!(get(&s11, "classifier.3.weight"), Some(vec![4096, 4096]));
    // The 7×7 adaptive pool makes any input size work, as in torchvision.
    let small = FeatureCnnConfig::vgg(&[&[4], &[4], &[4], &[4], &[4]], false, vec![8], 3);
    let m = salience_models::FeatureCnn::seeded(&small, 0, &Device::Cpu).expect("seeded");
    let x = Tensor::zeros((1, 3, 40, 40), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert_eq!(
        m.activations(&x, "avgpool").expect("avgpool").dims(),
        &[1, 4, 7, 7]
    );
    // Too small for the windows: an error, not a panic.
    let tiny = Tensor::zeros((1, 3, 1, 1), candle_core::DType::F32, &Device::Cpu).expect("x");
    let a = salience_models::FeatureCnn::seeded(
        &FeatureCnnConfig::alexnet_widths([2, 2, 2, 2, 2], 4, 3),
        0,
        &Device::Cpu,
    )
    .expect("alexnet");
    assert!(a.logits(&tiny).is_err());
    let wrong = Tensor::zeros((1, 1, 64, 64), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert!(a.logits(&wrong).is_err());
}

#[test]
fn mismatched_weights_are_named() {
    let vgg11 = reduced_vgg(&[&[8], &[16], &[32, 32], &[64, 64], &[64, 64]]);
    let load = |name: &str, c: &FeatureCnnConfig| {
        salience_models::FeatureCnn::from_safetensors_bytes(
            &bytes(name),
            c,
            &format!("{name}.safetensors"),
            &Device::Cpu,
        )
        .expect_err("wrong weights")
        .to_string()
    };
    let e = load("vgg16", &vgg11);
    assert!(
        e.contains("vgg16.safetensors")
            && e.contains("missing: features.11.bias")
            && e.contains("unexpected: features.10.bias"),
        "{e}"
    );
    let seven = FeatureCnnConfig {
        num_classes: 7,
        ..vgg11
    };
    let e = load("vgg11", &seven);
    assert!(
        e.contains("mismatched: classifier.6.bias is F32 [5], expected F32 [7]"),
        "{e}"
    );
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    let c = MobileNetV2Config::with_width(0.25, 5);
    let m = MobileNetV2::from_safetensors_bytes(
        &bytes("mobilenet_v2"),
        &c,
        "mobilenet_v2",
        &Device::Cpu,
    )
    .expect("torchvision's names");
    check(&m, "mobilenet_v2", "features.18", 1e-4);
    check_deeplift(&m, "mobilenet_v2");
}

#[test]
fn mobilenet_v2_has_torchvisions_shape() {
    let s = MobileNetV2Config::mobilenet_v2(1000).tensor_shapes();
    let get = |n: &str| s.iter().find(|(k, _)| k == n).map(|(_, d)| d.clone());
    // features.1 has expansion 1: depthwise at conv.0, projection conv.1.
    assert_eq!(get("features.1.conv.0.0.weight"), Some(vec![32, 1, 3, 3]));
    assert_eq!(get("features.1.conv.1.weight"), Some(vec![16, 32, 1, 1]));
    assert_eq!(get("features.1.conv.2.running_var"), Some(vec![16]));
    assert_eq!(
        get("features.17.conv.0.0.weight"),
        Some(vec![960, 160, 1, 1])
    );
    assert_eq!(get("features.17.conv.3.weight"), Some(vec![320]));
    assert_eq!(get("features.18.0.weight"), Some(vec![1280, 320, 1, 1]));
    // torchvision's 314 state_dict entries less its 52 num_batches_tracked.
    assert_eq!(s.len(), 262);
    // A non-positive width is an error, not a panic.
    let bad = MobileNetV2Config::with_width(-1.0, 10);
    assert!(MobileNetV2::seeded(&bad, 0, &Device::Cpu).is_err());
    let m = MobileNetV2::seeded(&MobileNetV2Config::with_width(0.25, 3), 0, &Device::Cpu)
        .expect("seeded");
    let x = Tensor::zeros((1, 1, 32, 32), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert!(m.logits(&x).is_err());
}

#[test]
fn densenet_matches_torchvision() {
    let c = DenseNetConfig {
        init_features: 16,
        growth_rate: 8,
        bn_size: 4,
        blocks: vec![2, 2, 2, 2],
        ..DenseNetConfig::densenet121(5)
    };
    let m = DenseNet::from_safetensors_bytes(&bytes("densenet"), &c, "densenet", &Device::Cpu)
        .expect("torchvision's names");
    check(&m, "densenet", "features.norm5", 1e-4);
    check_deeplift(&m, "densenet");
}

#[test]
fn densenet121_has_torchvisions_shape() {
    let s = DenseNetConfig::densenet121(1000).tensor_shapes();
    let get = |n: &str| s.iter().find(|(k, _)| k == n).map(|(_, d)| d.clone());
    assert_eq!(get("features.conv0.weight"), Some(vec![64, 3, 7, 7]));
    assert_eq!(
        get("features.denseblock1.denselayer6.norm1.running_mean"),
        Some(vec![224])
    );
    assert_eq!(
        get("features.transition1.conv.weight"),
        Some(vec![128, 256, 1, 1])
    );
    assert_eq!(get("features.transition3.norm.weight"), Some(vec![1024]));
    assert_eq!(get("features.norm5.bias"), Some(vec![1024]));
    let c = DenseNetConfig {
        init_features: 8,
        growth_rate: 4,
        bn_size: 2,
        blocks: vec![1, 1, 1],
        ..DenseNetConfig::densenet121(3)
    };
    let m = DenseNet::seeded(&c, 0, &Device::Cpu).expect("seeded");
    // 36 → 18 → 9 after the stem: the first transition's pool needs an
    // even map; an error, not a panic.
    let odd = Tensor::zeros((1, 3, 36, 36), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert!(m.logits(&odd).is_err());
    let ok = Tensor::zeros((1, 3, 32, 32), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert_eq!(m.logits(&ok).expect("logits").dims(), &[1, 3]);
}

/// LRP on DenseNet's pre-activation batch norms is an error naming them
/// (it used to return a map whose relevance leaked through the batch
/// norms' shifts), for every composite and for AttnLRP; DeepLIFT and
/// Guided Backprop, exact there, still run, and so does the plain forward.
#[test]
fn densenet_refuses_lrp_on_pre_activation_batch_norms() {
    use salience_explain::{AttnLrp, Composite, GuidedBackprop, Lrp, LrpRule};
    use salience_models::densenet::PRE_ACTIVATION_LRP;
    let c = DenseNetConfig {
        init_features: 8,
        growth_rate: 4,
        bn_size: 2,
        blocks: vec![1, 1],
        ..DenseNetConfig::densenet121(3)
    };
    let m = DenseNet::seeded(&c, 0, &Device::Cpu).expect("seeded");
    let x = ndarray::Array4::from_shape_fn((1, 3, 32, 32), |(_, c, i, j)| {
        ((c * 7 + i * 3 + j) % 11) as f32 / 11.0 - 0.5
    })
    .into_dyn();
    let lrp_error = |r: salience_core::Result<salience_core::AttributionBatch>, what: &str| {
        let e = r.expect_err(what);
        // A typed refusal (it used to arrive as a Backend error through
        // candle's error type).
        match &e {
            salience_core::SalienceError::Unsupported {
                method,
                model,
                reason,
            } => {
                assert_eq!(model, "DenseNet", "{what}: {e}");
                assert!(method.contains("lrp"), "{what}: {e}");
                assert!(reason.starts_with(PRE_ACTIVATION_LRP), "{what}: {e}");
            }
            other => panic!("{what}: expected Unsupported, got {other:?}"),
        }
        let e = e.to_string();
        assert!(e.contains(PRE_ACTIVATION_LRP), "{what}: {e}");
        assert!(e.contains("features.norm5"), "{what}: {e}");
    };
    for composite in [
        Composite::default(),
        Composite::uniform(LrpRule::Epsilon(0.0)),
        Composite::epsilon_alpha2_beta1(),
    ] {
        lrp_error(
            Lrp::with_composite(&m, composite).explain(x.view(), &[1], Seeds::base(0)),
            "lrp",
        );
    }
    lrp_error(
        AttnLrp::new(&m).explain(x.view(), &[1], Seeds::base(0)),
        "attnlrp",
    );
    let dl = DeepLift::new(&m)
        .explain_with_delta(x.view(), &[1], Seeds::base(0))
        .expect("deeplift runs");
    assert!(dl.delta[0].abs() <= 1e-3 * (1.0 + dl.output_difference[0].abs()));
    let gb = GuidedBackprop::new(&m)
        .explain(x.view(), &[1], Seeds::base(0))
        .expect("guided backprop runs");
    assert!(gb.view().iter().all(|v| v.is_finite()));
    let xt = Tensor::from_slice(
        x.as_slice().expect("contiguous"),
        (1, 3, 32, 32),
        &Device::Cpu,
    )
    .expect("x");
    let plain = m.forward_with(&xt, &PlainOps).expect("plain ops");
    let logits = m.logits(&xt).expect("logits");
    assert_eq!(
        plain.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        logits.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}
