//! The re-parameterizable model: perturbation, randomisation, loading.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod ng_common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ng_common::*;
use salience_core::SalienceError;
use salience_explain::{Classifier, LayerSplit, ParamFilter, Randomization, WeightMapModel};
use std::collections::HashMap;

fn x() -> Tensor {
    randn(&[3, 2, 4, 4], 1.0, 99)
}

#[test]
fn sigma_zero_gives_identical_logits() {
    let m = net();
    let p = m.perturbed(0.0, 5).unwrap();
    assert_eq!(
        to_vec(&m.logits(&x()).unwrap()),
        to_vec(&p.logits(&x()).unwrap())
    );
    // A non-zero sigma changes them.
    let q = m.perturbed(0.1, 5).unwrap();
    assert_ne!(
        to_vec(&m.logits(&x()).unwrap()),
        to_vec(&q.logits(&x()).unwrap())
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let m = net();
    let a = m.perturbed(0.2, 11).unwrap();
    let b = m.perturbed(0.2, 11).unwrap();
    let c = m.perturbed(0.2, 12).unwrap();
    for n in m.names() {
        assert_eq!(to_vec(&a.weights()[&n]), to_vec(&b.weights()[&n]), "{n}");
        if !n.contains("running") {
            assert_ne!(to_vec(&a.weights()[&n]), to_vec(&c.weights()[&n]), "{n}");
        }
    }
    assert_eq!(
        to_vec(&a.logits(&x()).unwrap()),
        to_vec(&b.logits(&x()).unwrap())
    );
}

#[test]
fn noise_is_multiplicative_with_mean_one_and_std_sigma() {
    let (k, d) = (40, 250);
    let w = Tensor::ones((k, d), DType::F32, &Device::Cpu).unwrap();
    let w = (w * 0.5).unwrap();
    let map = HashMap::from([
        ("fc.weight".to_string(), w),
        (
            "fc.bias".to_string(),
            Tensor::ones(k, DType::F32, &Device::Cpu).unwrap(),
        ),
    ]);
    let m = WeightMapModel::new(map, &Device::Cpu, Lin::builder(d, k)).unwrap();
    let sigma = 0.3f64;
    let p = m.perturbed(sigma as f32, 1).unwrap();
    let eta: Vec<f64> = to_vec(&p.weights()["fc.weight"])
        .iter()
        .map(|&v| v as f64 / 0.5)
        .collect();
    let n = eta.len() as f64;
    let mean = eta.iter().sum::<f64>() / n;
    let sd = (eta.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // Standard errors: sigma/sqrt(n) for the mean, ~sigma/sqrt(2n) for the sd.
    assert!((mean - 1.0).abs() < 4.0 * sigma / n.sqrt(), "mean {mean}");
    assert!(
        (sd - sigma).abs() < 4.0 * sigma / (2.0 * n).sqrt(),
        "sd {sd}"
    );
    // Biases are perturbed too (default filter = parameters).
    assert!(to_vec(&p.weights()["fc.bias"]).iter().any(|&v| v != 1.0));
}

#[test]
fn filters_select_tensors() {
    let m = net();
    let changed = |p: &WeightMapModel<Net>| -> Vec<String> {
        m.names()
            .into_iter()
            .filter(|n| to_vec(&m.weights()[n]) != to_vec(&p.weights()[n]))
            .collect()
    };
    let params = changed(&m.perturbed(0.2, 3).unwrap());
    assert_eq!(
        params,
        vec![
            "bn.bias",
            "bn.weight",
            "conv.bias",
            "conv.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
    let all = changed(&m.perturbed_with(0.2, 3, &ParamFilter::All).unwrap());
    assert_eq!(all.len(), 8);
    let fc = changed(
        &m.perturbed_with(0.2, 3, &ParamFilter::Prefixes(vec!["fc".into()]))
            .unwrap(),
    );
    assert_eq!(fc, vec!["fc.bias", "fc.weight"]);
    let only_w = ParamFilter::Custom(std::sync::Arc::new(|n: &str| n.ends_with("weight")));
    let w = changed(&m.perturbed_with(0.2, 3, &only_w).unwrap());
    assert_eq!(w, vec!["bn.weight", "conv.weight", "fc.weight"]);
    // The noise of a tensor does not depend on the filter.
    let a = m
        .perturbed_with(0.2, 3, &ParamFilter::Prefixes(vec!["fc".into()]))
        .unwrap();
    let b = m.perturbed(0.2, 3).unwrap();
    assert_eq!(
        to_vec(&a.weights()["fc.weight"]),
        to_vec(&b.weights()["fc.weight"])
    );
}

#[test]
fn bad_sigma_is_a_typed_error() {
    let m = net();
    for s in [-0.1f32, f32::NAN, f32::INFINITY] {
        assert!(
            matches!(
                m.perturbed(s, 0),
                Err(SalienceError::InvalidParameter { .. })
            ),
            "{s}"
        );
    }
}

#[test]
fn randomization_touches_only_selected_layers() {
    let m = net();
    for r in [
        Randomization::MatchMoments,
        Randomization::Normal {
            mean: 0.0,
            std: 1.0,
        },
        Randomization::PytorchDefault,
    ] {
        let p = m.randomized(&["conv"], r, 4).unwrap();
        for n in m.names() {
            let same = to_vec(&m.weights()[&n]) == to_vec(&p.weights()[&n]);
            assert_eq!(same, !n.starts_with("conv."), "{r:?} {n}");
        }
        // Deterministic.
        let q = m.randomized(&["conv"], r, 4).unwrap();
        assert_eq!(
            to_vec(&p.weights()["conv.weight"]),
            to_vec(&q.weights()["conv.weight"])
        );
    }
    // PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 2*3*3 for weight and bias.
    let p = m
        .randomized(&["conv", "bn"], Randomization::PytorchDefault, 4)
        .unwrap();
    let b = 1.0 / 18f32.sqrt();
    assert!(to_vec(&p.weights()["conv.weight"])
        .iter()
        .all(|v| v.abs() <= b));
    assert!(to_vec(&p.weights()["conv.bias"])
        .iter()
        .all(|v| v.abs() <= b));
    assert_eq!(to_vec(&p.weights()["bn.weight"]), vec![1.0; 3]);
    assert_eq!(to_vec(&p.weights()["bn.bias"]), vec![0.0; 3]);
    assert_eq!(to_vec(&p.weights()["bn.running_var"]), vec![1.0; 3]);
    assert_eq!(to_vec(&p.weights()["bn.running_mean"]), vec![0.0; 3]);
    // Errors: unknown layer, bad normal parameters.
    assert!(matches!(
        m.randomized(&["conv9"], Randomization::default(), 0),
        Err(SalienceError::InvalidParameter { .. })
    ));
    assert!(m
        .randomized(
            &["fc"],
            Randomization::Normal {
                mean: 0.0,
                std: -1.0
            },
            0
        )
        .is_err());
}

#[test]
fn match_moments_keeps_scale() {
    let m = lin(400, 10, 3);
    let p = m
        .randomized(&["fc"], Randomization::MatchMoments, 9)
        .unwrap();
    let stats = |v: Vec<f32>| {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let sd = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        (mean, sd)
    };
    let (m0, s0) = stats(to_vec(&m.weights()["fc.weight"]));
    let (m1, s1) = stats(to_vec(&p.weights()["fc.weight"]));
    assert!((m1 - m0).abs() < 4.0 * s0 / 2000f64.sqrt(), "{m0} {m1}");
    assert!((s1 / s0 - 1.0).abs() < 0.1, "{s0} {s1}");
}

#[test]
fn cascading_randomization_is_top_down_and_cumulative() {
    let m = net();
    let steps: Vec<(String, WeightMapModel<Net>)> = m
        .cascading_randomization(&["conv", "bn", "fc"], Randomization::MatchMoments, 5)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["fc", "bn", "conv"]
    );
    let changed = |p: &WeightMapModel<Net>, prefix: &str| {
        m.names()
            .iter()
            .filter(|n| n.starts_with(prefix))
            .all(|n| to_vec(&m.weights()[n]) != to_vec(&p.weights()[n]))
    };
    let same = |p: &WeightMapModel<Net>, prefix: &str| {
        m.names()
            .iter()
            .filter(|n| n.starts_with(prefix))
            .all(|n| to_vec(&m.weights()[n]) == to_vec(&p.weights()[n]))
    };
    assert!(changed(&steps[0].1, "fc.") && same(&steps[0].1, "bn.") && same(&steps[0].1, "conv."));
    assert!(
        changed(&steps[1].1, "fc.") && changed(&steps[1].1, "bn.") && same(&steps[1].1, "conv.")
    );
    assert!(changed(&steps[2].1, "conv."));
    // A layer keeps its random values in later steps.
    assert_eq!(
        to_vec(&steps[0].1.weights()["fc.weight"]),
        to_vec(&steps[2].1.weights()["fc.weight"])
    );
    assert!(m
        .cascading_randomization(&[], Randomization::default(), 0)
        .is_err());
    assert!(m
        .cascading_randomization(&["conv", "nope"], Randomization::default(), 0)
        .is_err());
}

#[test]
fn varmap_snapshot_is_independent_of_later_updates() {
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let _ = Net::new(vb).unwrap();
    for (n, t) in net_weights() {
        varmap.set_one(&n, &t).unwrap();
    }
    let m = WeightMapModel::from_varmap(&varmap, &Device::Cpu, Net::new).unwrap();
    let before = to_vec(&m.logits(&x()).unwrap());
    assert_eq!(before, to_vec(&net().logits(&x()).unwrap()));
    varmap
        .set_one("fc.weight", randn(&[4, 3], 5.0, 77))
        .unwrap();
    assert_eq!(before, to_vec(&m.logits(&x()).unwrap()));
}

#[test]
fn safetensors_round_trip_and_errors() {
    let dir = std::env::temp_dir().join(format!("salience-ng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    candle_core::safetensors::save(&net_weights(), &path).unwrap();
    let m = WeightMapModel::from_safetensors(&path, &Device::Cpu, Net::new).unwrap();
    assert_eq!(
        to_vec(&m.logits(&x()).unwrap()),
        to_vec(&net().logits(&x()).unwrap())
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(
        WeightMapModel::from_safetensors(dir.join("missing.safetensors"), &Device::Cpu, Net::new),
        Err(SalienceError::Io { .. })
    ));
    // A map that lacks a tensor the builder needs.
    let mut w = net_weights();
    w.remove("fc.bias");
    assert!(matches!(
        WeightMapModel::new(w, &Device::Cpu, Net::new),
        Err(SalienceError::Model(_))
    ));
    assert!(matches!(
        WeightMapModel::new(HashMap::new(), &Device::Cpu, Net::new),
        Err(SalienceError::Empty(_))
    ));
}

#[test]
fn layer_split_is_delegated() {
    let m = net().perturbed(0.1, 2).unwrap();
    assert_eq!(m.layer_names(), vec!["features".to_string()]);
    let a = m.activations(&x(), "features").unwrap();
    assert_eq!(
        to_vec(&m.head(&a, "features").unwrap()),
        to_vec(&m.logits(&x()).unwrap())
    );
    assert_eq!(m.num_classes(), 4);
}
