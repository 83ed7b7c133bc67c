//! Model tests: the layer split is exact, ResNet-18 loads torchvision-named
//! safetensors, models rebuild from any weight map.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use rand_distr::{Distribution, StandardUniform};
use salience_core::seed::rng;
use salience_explain::{Classifier, LayerSplit};
use salience_models::init::seeded_tensors;
use salience_models::{ResNet, ResNetConfig, SmallCnn};
use std::collections::HashMap;

fn uniform_input(dims: &[usize], seed: u64) -> Tensor {
    let mut g = rng(seed);
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardUniform.sample(&mut g)).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn assert_split_exact<M: LayerSplit>(m: &M, x: &Tensor) {
    let want: Vec<Vec<f32>> = m.logits(x).unwrap().to_vec2().unwrap();
    assert!(want.iter().flatten().all(|v| v.is_finite()));
    for layer in m.layer_names() {
        let a = m.activations(x, &layer).unwrap();
        let got: Vec<Vec<f32>> = m.head(&a, &layer).unwrap().to_vec2().unwrap();
        assert_eq!(got, want, "layer {layer}");
    }
    assert!(m.activations(x, "nope").is_err());
    assert!(m.head(x, "nope").is_err());
}

#[test]
fn small_cnn_split_is_exact_at_every_layer() {
    let m = SmallCnn::seeded(3, &Device::Cpu).unwrap();
    assert_eq!(
        m.layer_names(),
        vec!["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"]
    );
    let x = uniform_input(&[3, 1, 28, 28], 1);
    assert_split_exact(&m, &x);
    let shapes: Vec<Vec<usize>> = m
        .layer_names()
        .iter()
        .map(|l| m.activations(&x, l).unwrap().dims().to_vec())
        .collect();
    assert_eq!(
        shapes,
        vec![
            vec![3, 16, 28, 28],
            vec![3, 16, 14, 14],
            vec![3, 32, 14, 14],
            vec![3, 32, 7, 7],
            vec![3, 128],
            vec![3, 10]
        ]
    );
    // Wrong input shapes are errors, not panics.
    assert!(m.logits(&uniform_input(&[2, 3, 28, 28], 0)).is_err());
    assert!(m.logits(&uniform_input(&[2, 784], 0)).is_err());
}

#[test]
fn small_resnet_split_is_exact_at_every_layer() {
    let m = ResNet::seeded(&ResNetConfig::small(), 5, &Device::Cpu).unwrap();
    let x = uniform_input(&[2, 3, 64, 64], 2);
    assert_split_exact(&m, &x);
    assert_eq!(m.activations(&x, "stem").unwrap().dims(), &[2, 16, 32, 32]);
    assert_eq!(
        m.activations(&x, "layer2").unwrap().dims(),
        &[2, 32, 16, 16]
    );
    assert_eq!(m.activations(&x, "avgpool").unwrap().dims(), &[2, 64]);
    assert!(m.logits(&uniform_input(&[2, 1, 64, 64], 0)).is_err());
    // Inference mode ignores the batch: a sample's logits do not depend on
    // the others.
    let one = m
        .logits(&x.narrow(0, 1, 1).unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let both = m.logits(&x).unwrap().to_vec2::<f32>().unwrap();
    for (a, b) in one[0].iter().zip(&both[1]) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
}

#[test]
fn input_gradients_flow_through_the_models() {
    let m = SmallCnn::seeded(1, &Device::Cpu).unwrap();
    let x = Var::from_tensor(&uniform_input(&[2, 1, 28, 28], 4)).unwrap();
    let y = m
        .logits(x.as_tensor())
        .unwrap()
        .narrow(1, 3, 1)
        .unwrap()
        .sum_all()
        .unwrap();
    let g: Vec<f32> = y
        .backward()
        .unwrap()
        .get(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()));
    assert!(g.iter().filter(|v| **v != 0.0).count() > 100);
    let r = ResNet::seeded(&ResNetConfig::small(), 1, &Device::Cpu).unwrap();
    let x = Var::from_tensor(&uniform_input(&[1, 3, 64, 64], 4)).unwrap();
    let y = r
        .logits(x.as_tensor())
        .unwrap()
        .narrow(1, 0, 1)
        .unwrap()
        .sum_all()
        .unwrap();
    let g: Vec<f32> = y
        .backward()
        .unwrap()
        .get(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0));
}

#[test]
fn models_rebuild_from_any_weight_map() {
    // A `Fn(VarBuilder) -> Result<M>` builder, as weight-map explainers use.
    let build = |vb: VarBuilder| SmallCnn::new(vb);
    let t = seeded_tensors(&SmallCnn::tensor_shapes(), 9, &Device::Cpu).unwrap();
    let a = build(VarBuilder::from_tensors(
        t.clone(),
        DType::F32,
        &Device::Cpu,
    ))
    .unwrap();
    let b = SmallCnn::seeded(9, &Device::Cpu).unwrap();
    let x = uniform_input(&[2, 1, 28, 28], 0);
    assert_eq!(
        a.logits(&x).unwrap().to_vec2::<f32>().unwrap(),
        b.logits(&x).unwrap().to_vec2::<f32>().unwrap()
    );
    // Perturbing one weight changes the output.
    let mut t2 = t;
    let w = t2["fc2.bias"].clone();
    t2.insert("fc2.bias".into(), (w + 1.0).unwrap());
    let c = build(VarBuilder::from_tensors(t2, DType::F32, &Device::Cpu)).unwrap();
    assert_ne!(
        a.logits(&x).unwrap().to_vec2::<f32>().unwrap(),
        c.logits(&x).unwrap().to_vec2::<f32>().unwrap()
    );
    // A missing tensor is an error.
    let mut t3 = seeded_tensors(&SmallCnn::tensor_shapes(), 9, &Device::Cpu).unwrap();
    t3.remove("conv2.weight");
    assert!(build(VarBuilder::from_tensors(t3, DType::F32, &Device::Cpu)).is_err());
}

#[test]
fn resnet18_has_torchvision_names_and_shapes() {
    let shapes: HashMap<String, Vec<usize>> = ResNetConfig::resnet18(1000)
        .tensor_shapes()
        .into_iter()
        .collect();
    // torchvision's resnet18 state_dict has 122 entries, 20 of which are
    // batch-norm `num_batches_tracked` counters (not needed for inference).
    assert_eq!(shapes.len(), 102);
    let expect: [(&str, &[usize]); 12] = [
        ("conv1.weight", &[64, 3, 7, 7]),
        ("bn1.running_var", &[64]),
        ("layer1.0.conv1.weight", &[64, 64, 3, 3]),
        ("layer1.1.bn2.bias", &[64]),
        ("layer2.0.conv1.weight", &[128, 64, 3, 3]),
        ("layer2.0.downsample.0.weight", &[128, 64, 1, 1]),
        ("layer2.0.downsample.1.running_mean", &[128]),
        ("layer3.1.conv2.weight", &[256, 256, 3, 3]),
        ("layer4.0.downsample.1.weight", &[512]),
        ("layer4.1.bn2.running_var", &[512]),
        ("fc.weight", &[1000, 512]),
        ("fc.bias", &[1000]),
    ];
    for (k, s) in expect {
        assert_eq!(shapes.get(k).map(|v| v.as_slice()), Some(s), "{k}");
    }
    assert!(!shapes.contains_key("layer1.0.downsample.0.weight"));
    assert!(!shapes.contains_key("layer2.1.downsample.0.weight"));
}

#[test]
fn resnet18_loads_a_torchvision_named_safetensors_file() {
    let dev = Device::Cpu;
    let config = ResNetConfig::resnet18(1000);
    let mut t = seeded_tensors(&config.tensor_shapes(), 1, &dev).unwrap();
    // Recognisable values: fc maps everything to its bias 0, 1, ..., 999;
    // the stem outputs the constant relu(bn1.bias[c]) on channel c.
    t.insert(
        "fc.weight".into(),
        Tensor::zeros((1000, 512), DType::F32, &dev).unwrap(),
    );
    t.insert("fc.bias".into(), Tensor::arange(0f32, 1000., &dev).unwrap());
    t.insert(
        "conv1.weight".into(),
        Tensor::zeros((64, 3, 7, 7), DType::F32, &dev).unwrap(),
    );
    let stem_bias: Vec<f32> = (0..64).map(|c| c as f32 * 0.25 - 4.0).collect();
    t.insert(
        "bn1.bias".into(),
        Tensor::new(stem_bias.as_slice(), &dev).unwrap(),
    );
    t.insert(
        "bn1.running_mean".into(),
        Tensor::full(0.5f32, 64, &dev).unwrap(),
    );
    // torchvision also stores batch counters; they are ignored.
    t.insert(
        "bn1.num_batches_tracked".into(),
        Tensor::new(&[7i64], &dev).unwrap().squeeze(0).unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("salience-r18-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resnet18.safetensors");
    candle_core::safetensors::save(&t, &path).unwrap();

    let m = ResNet::resnet18_from_safetensors(&path, &dev).unwrap();
    assert_eq!(m.num_classes(), 1000);
    let x = uniform_input(&[1, 3, 64, 64], 3);
    let logits: Vec<f32> = m
        .logits(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let want: Vec<f32> = (0..1000).map(|v| v as f32).collect();
    assert_eq!(logits, want);
    // Stem: conv = 0, BN(0) = (0 - 0.5) / sqrt(1 + 1e-5) * 1 + bias, ReLU,
    // max pool; 64x64 input -> 16x16.
    let stem = m.activations(&x, "stem").unwrap();
    assert_eq!(stem.dims(), &[1, 64, 16, 16]);
    let s: Vec<Vec<Vec<f32>>> = stem.squeeze(0).unwrap().to_vec3().unwrap();
    for (c, plane) in s.iter().enumerate() {
        let v = (stem_bias[c] - 0.5 / (1.0f32 + 1e-5).sqrt()).max(0.0);
        assert!(
            plane.iter().flatten().all(|&p| (p - v).abs() < 1e-6),
            "channel {c}"
        );
    }
    // Every layer split holds on the loaded model.
    assert_split_exact(&m, &x);

    // A file missing one tensor, or with a wrong shape, is an error.
    let mut missing = t.clone();
    missing.remove("layer2.0.downsample.1.running_var");
    candle_core::safetensors::save(&missing, &path).unwrap();
    let e = ResNet::resnet18_from_safetensors(&path, &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer2.0.downsample.1.running_var"), "{e}");
    let mut wrong = t;
    wrong.insert(
        "layer3.0.conv1.weight".into(),
        Tensor::zeros((256, 128, 1, 1), DType::F32, &dev).unwrap(),
    );
    candle_core::safetensors::save(&wrong, &path).unwrap();
    assert!(ResNet::resnet18_from_safetensors(&path, &dev).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn seeded_resnet18_runs_and_is_deterministic() {
    let config = ResNetConfig::resnet18(1000);
    let a = ResNet::seeded(&config, 7, &Device::Cpu).unwrap();
    let x = uniform_input(&[1, 3, 32, 32], 0);
    let la = a.logits(&x).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(la[0].len(), 1000);
    assert!(la[0].iter().all(|v| v.is_finite()));
    let b = ResNet::seeded(&config, 7, &Device::Cpu).unwrap();
    assert_eq!(la, b.logits(&x).unwrap().to_vec2::<f32>().unwrap());
}

/// Issue 19: weights were loaded without checking dtypes (a tensor whose
/// dtype was changed to I32 ran on garbage) and problems were reported one
/// at a time. A synthetic safetensors file, written here, with one tensor
/// missing, one extra, one of another dtype and one of another shape:
/// one error names all four.
#[test]
fn safetensors_loading_reports_missing_unexpected_and_mismatched_tensors() {
    let dev = Device::Cpu;
    let good = seeded_tensors(&SmallCnn::tensor_shapes(), 3, &dev).unwrap();
    let dir = std::env::temp_dir().join(format!("salience-st-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cnn.safetensors");
    candle_core::safetensors::save(&good, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let m = SmallCnn::from_safetensors_bytes(&bytes, "cnn", &dev).unwrap();
    let want = SmallCnn::new(VarBuilder::from_tensors(good.clone(), DType::F32, &dev)).unwrap();
    let x = uniform_input(&[2, 1, 28, 28], 1);
    let (a, b): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (
        m.logits(&x).unwrap().to_vec2().unwrap(),
        want.logits(&x).unwrap().to_vec2().unwrap(),
    );
    assert_eq!(a, b);

    let mut bad: HashMap<String, Tensor> = good.clone();
    bad.remove("fc2.bias");
    bad.insert(
        "fc3.weight".into(),
        Tensor::zeros(4, DType::F32, &dev).unwrap(),
    );
    let conv1 = bad["conv1.weight"].to_dtype(DType::U32).unwrap();
    bad.insert("conv1.weight".into(), conv1);
    bad.insert(
        "fc1.bias".into(),
        Tensor::zeros(127, DType::F32, &dev).unwrap(),
    );
    candle_core::safetensors::save(&bad, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let e = SmallCnn::from_safetensors_bytes(&bytes, "cnn.safetensors", &dev)
        .unwrap_err()
        .to_string();
    for part in [
        "cnn.safetensors",
        "missing: fc2.bias",
        "unexpected: fc3.weight",
        "conv1.weight is U32 [16, 1, 3, 3], expected F32 [16, 1, 3, 3]",
        "fc1.bias is F32 [127], expected F32 [128]",
    ] {
        assert!(e.contains(part), "{part:?} not in {e}");
    }
    // The same checks on the ResNet path, for a dtype change alone.
    let mut r = seeded_tensors(&ResNetConfig::small().tensor_shapes(), 1, &dev).unwrap();
    let fc = r["fc.bias"].to_dtype(DType::I64).unwrap();
    r.insert("fc.bias".into(), fc);
    r.insert(
        "bn1.num_batches_tracked".into(),
        Tensor::new(&[3i64], &dev).unwrap(),
    );
    candle_core::safetensors::save(&r, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let e = ResNet::from_safetensors_bytes(&bytes, &ResNetConfig::small(), "r", &dev)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fc.bias is I64") && !e.contains("num_batches"),
        "{e}"
    );
    assert!(SmallCnn::from_safetensors_bytes(b"not safetensors", "x", &dev).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
