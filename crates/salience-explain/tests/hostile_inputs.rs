//! Issue 19 in salience-explain: sizes bounded before allocating, no
//! non-finite value returned as success, errors that speak of what the user
//! passed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use candle_core::{DType, Device, Tensor};
use common::{array, cnn};
use salience_core::{Explainer, SalienceError, Seeds};
use salience_explain::{
    maximize_class, ActivationMaxConfig, IGosConfig, IGosPlusPlus, ModuleClassifier, NoiseScale,
    NoiseTunnel, Saliency, WeightMapModel,
};
use std::collections::HashMap;

#[test]
fn smoothgrad_overflow_names_sigma_not_the_users_inputs() {
    let m = cnn();
    let x = array(&[1, 2, 4, 4], 1.0, 2);
    let sg = NoiseTunnel::smoothgrad(Saliency::new(&m))
        .with_samples(4)
        .with_noise(NoiseScale::Absolute(f32::MAX));
    match sg.explain(x.view(), &[0], Seeds::base(0)) {
        Err(SalienceError::InvalidParameter { name, reason, .. }) => {
            assert_eq!(name, "sigma");
            assert!(reason.contains("noisy copy"), "{reason}");
        }
        other => panic!("expected a sigma error, got {other:?}"),
    }
}

#[test]
fn diverging_activation_maximization_is_an_error() {
    let w = Tensor::new(&[[1.0f32, -1.0, 0.5, 0.0]], &Device::Cpu).unwrap();
    let clf = ModuleClassifier::new(
        move |x: &Tensor| x.flatten_from(1)?.sqr()?.matmul(&w.t()?),
        1,
    );
    let cfg = ActivationMaxConfig {
        // One step: the image diverges in the last update, which no later
        // objective evaluation would catch.
        steps: 1,
        learning_rate: f32::MAX,
        normalize_gradient: true,
        clip: None,
        blur_every: 0,
        jitter: 0,
        ..ActivationMaxConfig::default()
    };
    match maximize_class(&[clf], &[1, 2, 2], &[0], &cfg, Seeds::base(0)) {
        Err(SalienceError::InvalidParameter { name, .. }) => assert_eq!(name, "learning_rate"),
        other => panic!("expected an error, got {:?}", other.map(|r| r.inputs)),
    }
}

#[test]
fn integer_weights_are_refused_by_name() {
    let w = Tensor::new(&[[1u32, 2]], &Device::Cpu).unwrap();
    let b = Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap();
    let map = HashMap::from([("fc.weight".to_string(), w), ("fc.bias".to_string(), b)]);
    let r = WeightMapModel::new(map, &Device::Cpu, |vb| {
        let fc = candle_nn::linear(2, 1, vb.pp("fc"))?;
        Ok(ModuleClassifier::new(fc, 1))
    });
    let Err(e) = r else {
        panic!("an integer weight must be refused")
    };
    let e = e.to_string();
    assert!(e.contains("fc.weight") && e.contains("U32"), "{e}");
}

#[test]
fn igos_model_errors_name_the_users_input_shape() {
    // The model only accepts 3 × 3 images; the user passes 2 × 2.
    let clf = ModuleClassifier::new(
        |x: &Tensor| {
            let s = x.flatten_from(1)?.reshape((x.dim(0)?, 9))?.sum_keepdim(1)?;
            Tensor::cat(&[&s, &s.zeros_like()?], 1)
        },
        2,
    );
    let cfg = IGosConfig {
        mask_size: 2,
        iterations: 1,
        ig_steps: 3,
        ..IGosConfig::default()
    };
    let x = array(&[2, 1, 2, 2], 1.0, 3);
    let e = IGosPlusPlus::with_config(clf, cfg)
        .explain(x.view(), &[0, 1], Seeds::base(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[2, 1, 2, 2]"), "{e}");
}

const METHODS: &[&str] = &[
    "saliency",
    "ixg",
    "ig",
    "smoothgrad",
    "smoothgrad_sq",
    "vargrad",
    "eg",
    "gradient_shap",
    "grad_cam",
    "grad_cam_pp",
    "eigen_cam",
    "poly_cam",
    "occlusion",
    "feature_ablation",
    "shapley_sampling",
    "kernel_shap",
    "lime",
    "rise",
    "igos_pp",
];
const KEYS: &[&str] = &[
    "n_steps",
    "n_samples",
    "sigma",
    "window",
    "stride",
    "n_masks",
    "grid",
    "p_keep",
    "iterations",
    "mask_size",
    "ig_steps",
    "batch_size",
    "baseline",
    "value",
    "feature_mask",
    "patch_size",
    "n_segments",
    "n_permutations",
    "reduce",
    "abs",
    "quadrature",
    "noise",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "0.5",
    "1e12",
    "18446744073709551615",
    "nan",
    "inf",
    "1e38",
    "zeros",
    "blur",
    "normal",
    "constant",
    "patches",
    "slic",
    "sum",
    "true",
    "riemann_left",
    "absolute",
    "x",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        salience_core::validate::fuzz_cases(64)
    ))]
    /// Any registry spec over the builtin methods, with hostile values:
    /// a typed error, or finite maps — never a panic, a hang or NaN.
    #[test]
    fn any_registry_spec_is_an_error_or_finite_maps(
        method in 0..METHODS.len(),
        params in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..4),
        seed in 0u64..1000,
    ) {
        let m = std::sync::Arc::new(cnn());
        let mut text = METHODS[method].to_string();
        let mut sep = ':';
        let mut seen = std::collections::HashSet::new();
        // CAM methods need their layer; cap the cheap budgets so a valid
        // spec runs in milliseconds.
        let mut fixed = vec![];
        match METHODS[method] {
            "grad_cam" | "grad_cam_pp" | "eigen_cam" => fixed.push(("layer", "conv")),
            "poly_cam" => fixed.push(("layers", "conv")),
            "rise" => fixed.push(("n_masks", "8")),
            "igos_pp" => fixed.extend([("iterations", "1"), ("ig_steps", "2"), ("mask_size", "2")]),
            _ => {}
        }
        for (k, v) in fixed.iter().copied().chain(params.iter().map(|&(k, v)| (KEYS[k], VALUES[v]))) {
            if seen.insert(k) {
                text.push(sep);
                text.push_str(&format!("{k}={v}"));
                sep = ',';
            }
        }
        let spec = match text.parse::<salience_explain::registry::ExplainerSpec>() {
            Ok(s) => s,
            Err(e) => {
                let typed = matches!(e, SalienceError::InvalidParameter { .. });
                proptest::prop_assert!(typed, "{e:?}");
                return Ok(());
            }
        };
        let x = array(&[2, 2, 4, 4], 1.0, seed);
        let built = salience_explain::registry::Registry::with_builtins().build(&spec, &m);
        let e = match built {
            Ok(e) => e,
            Err(_) => return Ok(()),
        };
        if let Ok(maps) = e.explain(x.view(), &[0, 2], Seeds::base(seed)) {
            proptest::prop_assert!(maps.view().iter().all(|v| v.is_finite()), "{text}");
        }
    }
}
