//! Bottleneck ResNets against torchvision: a reduced network built from
//! torchvision's own `Bottleneck` blocks (`scripts/parity/torchvision_bottleneck.py`
//! writes the fixture, versions inside) loads by torchvision's names and
//! gives its logits and input gradients; ResNet-50's shape is torchvision's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;
#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use arrays::{rel_diff, to_array};
use candle_core::{Device, Tensor};
use salience_core::{Explainer, Seeds};
use salience_explain::{Classifier, DeepLift, LayerSplit, Saliency};
use salience_models::{BlockKind, ResNet, ResNetConfig, Stem};

fn config() -> ResNetConfig {
    ResNetConfig {
        in_channels: 3,
        stem: Stem::ImageNet,
        stem_channels: 8,
        widths: vec![4, 8],
        blocks: vec![1, 2],
        block: BlockKind::Bottleneck,
        num_classes: 5,
    }
}

#[test]
fn a_torchvision_bottleneck_resnet_loads_and_matches_pytorch() {
    let j = json::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/torchvision/bottleneck.json"
    ));
    assert!(j
        .get("versions")
        .get("torchvision")
        .str()
        .starts_with("0.29.2"));
    let m = ResNet::from_safetensors_bytes(
        include_bytes!("fixtures/torchvision/bottleneck.safetensors"),
        &config(),
        "bottleneck",
        &Device::Cpu,
    )
    .expect("torchvision's names, num_batches_tracked ignored");
    let x = j.f32_array("x");
    let targets: Vec<usize> = j.array("targets").1.iter().map(|&t| t as usize).collect();
    let xt = Tensor::from_vec(x.iter().copied().collect(), x.shape(), &Device::Cpu).expect("x");
    let logits = to_array(&m.logits(&xt).expect("logits"));
    let d = rel_diff(&logits, &j.f32_array("logits"));
    eprintln!("logits vs torchvision: {d:.2e}");
    assert!(d < 1e-5, "logits vs torchvision: {d:.2e}");
    let g = Saliency::new(&m)
        .explain(x.view(), &targets, Seeds::base(0))
        .expect("saliency");
    let d = rel_diff(&g.view().to_owned(), &j.f32_array("input_gradient"));
    eprintln!("input gradient vs PyTorch: {d:.2e}");
    assert!(d < 1e-4, "input gradient vs PyTorch: {d:.2e}");
    // Every split recomposes the logits; the rule forward (canonized batch
    // norm) gives DeepLIFT's summation-to-delta.
    for layer in m.layer_names() {
        let a = m.activations(&xt, &layer).expect("activations");
        let y = to_array(&m.head(&a, &layer).expect("head"));
        assert!(rel_diff(&y, &logits) < 1e-6, "split at {layer}");
    }
    let dl = DeepLift::new(&m)
        .explain_with_delta(x.view(), &targets, Seeds::base(0))
        .expect("deeplift");
    for (i, d) in dl.delta.iter().enumerate() {
        assert!(
            d.abs() <= 1e-3 * (1.0 + dl.output_difference[i].abs()),
            "summation-to-delta {i}: {d}"
        );
    }
}

#[test]
fn resnet50_has_torchvisions_shape() {
    let c = ResNetConfig::resnet50(1000);
    let s = c.tensor_shapes();
    let get = |n: &str| s.iter().find(|(k, _)| k == n).map(|(_, d)| d.clone());
    assert_eq!(get("layer1.0.conv3.weight"), Some(vec![256, 64, 1, 1]));
    assert_eq!(
        get("layer1.0.downsample.0.weight"),
        Some(vec![256, 64, 1, 1])
    );
    assert_eq!(get("layer3.5.conv2.weight"), Some(vec![256, 256, 3, 3]));
    assert_eq!(
        get("layer4.0.downsample.0.weight"),
        Some(vec![2048, 1024, 1, 1])
    );
    assert_eq!(get("fc.weight"), Some(vec![1000, 2048]));
    assert_eq!(get("layer1.1.downsample.0.weight"), None);
    let m = ResNet::seeded(&c, 0, &Device::Cpu).expect("seeded ResNet-50");
    let x = Tensor::zeros((1, 3, 64, 64), candle_core::DType::F32, &Device::Cpu).expect("x");
    assert_eq!(
        m.activations(&x, "layer4").expect("layer4").dims(),
        &[1, 2048, 2, 2]
    );
    assert_eq!(m.logits(&x).expect("logits").dims(), &[1, 1000]);
}
