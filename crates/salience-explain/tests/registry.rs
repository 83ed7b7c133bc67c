//! The explainer registry: spec round trips, built explainers equal the
//! directly configured ones, typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::{array, cnn};
use salience_core::{BatchSize, Explainer, SalienceError, Seeds};
use salience_explain::registry::{self, ExplainerSpec, Registry};
use salience_explain::{
    Baseline, EigenCam, EigenCamConfig, ExpectedGradients, ExpectedGradientsConfig, GradCam,
    GradCamConfig, GradCamPlusPlus, IntegratedGradients, IntegratedGradientsConfig, NoiseKind,
    NoiseScale, NoiseTunnel, NoiseTunnelConfig, PolyCam, PolyCamConfig, PolyCamVariant, Quadrature,
    Saliency, SaliencyConfig, SequentialClassifier,
};
use std::sync::Arc;

#[test]
fn spec_round_trip() {
    for s in [
        "saliency",
        "saliency:abs=true",
        "integrated_gradients:n_steps=32,baseline=zeros,quadrature=gauss_legendre",
        "smoothgrad:inner=saliency,n_samples=20,sigma=0.15",
        "smoothgrad:inner=ig,inner.n_steps=4,inner.baseline=blur,inner.sigma=1.5",
        "grad_cam:layer=conv2",
        "poly_cam:layers=conv1|conv2,variant=plus",
    ] {
        let spec: ExplainerSpec = s.parse().unwrap();
        assert_eq!(spec.to_string(), s);
        assert_eq!(spec.to_string().parse::<ExplainerSpec>().unwrap(), spec);
    }
    // Normalisation: case and spaces.
    let spec: ExplainerSpec = " Grad_CAM : Layer = conv2 ".parse().unwrap();
    assert_eq!(spec.to_string(), "grad_cam:layer=conv2");
    for bad in [
        "",
        ":x=1",
        "saliency:abs",
        "saliency:abs=1,abs=2",
        "sal iency",
        "saliency:=1",
    ] {
        assert!(
            matches!(
                bad.parse::<ExplainerSpec>().unwrap_err(),
                SalienceError::InvalidParameter { .. }
            ),
            "{bad:?}"
        );
    }
}

fn same(a: &dyn Explainer, b: &dyn Explainer) {
    let x = array(&[2, 2, 4, 4], 1.0, 80);
    let t = [2, 0];
    let ea = a.explain(x.view(), &t, Seeds::base(5)).unwrap();
    let eb = b.explain(x.view(), &t, Seeds::base(5)).unwrap();
    assert_eq!(a.name(), b.name());
    assert_eq!(ea, eb, "{}", a.name());
}

#[test]
fn built_explainers_equal_direct_ones() {
    let m: Arc<SequentialClassifier> = Arc::new(cnn());
    let b = |s: &str| registry::build(s, &m).unwrap();
    same(
        &*b("saliency:abs=true"),
        &Saliency::with_config(m.clone(), SaliencyConfig::captum()),
    );
    same(
        &*b("ig:n_steps=7,quadrature=riemann_middle,baseline=blur,sigma=1,kernel_size=3,batch_size=5"),
        &IntegratedGradients::with_config(
            m.clone(),
            IntegratedGradientsConfig {
                n_steps: 7,
                quadrature: Quadrature::RiemannMiddle,
                baseline: Baseline::Blur {
                    sigma: 1.0,
                    kernel_size: 3,
                },
                batch_size: BatchSize::fixed(5).unwrap(),
            },
        ),
    );
    same(
        &*b("vargrad:inner=ig,inner.n_steps=3,n_samples=4,sigma=0.5,noise=absolute"),
        &NoiseTunnel::new(
            IntegratedGradients::with_config(
                m.clone(),
                IntegratedGradientsConfig {
                    n_steps: 3,
                    ..Default::default()
                },
            ),
            NoiseTunnelConfig {
                kind: NoiseKind::VarGrad,
                n_samples: 4,
                noise: NoiseScale::Absolute(0.5),
                ..Default::default()
            },
        ),
    );
    same(
        &*b("eg:n_samples=3,n_steps=2"),
        &ExpectedGradients::new(
            m.clone(),
            ExpectedGradientsConfig {
                n_samples: 3,
                n_steps: 2,
                ..ExpectedGradientsConfig::mahlau2022()
            },
        ),
    );
    same(
        &*b("grad_cam:layer=tanh,relu=false"),
        &GradCam::with_config(m.clone(), GradCamConfig::captum("tanh")),
    );
    same(
        &*b("grad_cam_pp:layer=pool"),
        &GradCamPlusPlus::new(m.clone(), "pool"),
    );
    same(
        &*b("eigen_cam:layer=conv,center=false"),
        &EigenCam::with_config(m.clone(), EigenCamConfig::paper("conv")),
    );
    same(
        &*b("poly_cam:layers=tanh|pool,variant=minus,batch_size=5"),
        &PolyCam::with_config(
            m.clone(),
            PolyCamConfig {
                variant: PolyCamVariant::Minus,
                batch_size: BatchSize::fixed(5).unwrap(),
                ..PolyCamConfig::new(&["tanh", "pool"])
            },
        ),
    );
}

#[test]
fn panel_from_text() {
    let m = Arc::new(cnn());
    let panel = registry::build_panel(
        "saliency\n# gradients\ninput_x_gradient; smoothgrad:n_samples=3\ngrad_cam:layer=tanh\ngradient_shap",
        &m,
    )
    .unwrap();
    assert_eq!(panel.len(), 5);
    let x = array(&[2, 2, 4, 4], 1.0, 81);
    let e = salience_core::explain_ensemble(&panel, x.view(), &[1, 2], Seeds::base(0));
    // Mixed layouts (image maps and CAM pixel maps) cannot form one
    // ensemble: a typed error, not a panic.
    assert!(e.is_err());
    let grads =
        registry::build_panel("saliency; input_x_gradient; smoothgrad:n_samples=3", &m).unwrap();
    let e = salience_core::explain_ensemble(&grads, x.view(), &[1, 2], Seeds::base(0)).unwrap();
    assert_eq!(e.k(), 3);
}

#[test]
fn registry_errors_are_typed() {
    let m = Arc::new(cnn());
    for bad in [
        "nope",
        "saliency:bogus=1",
        "saliency:abs=maybe",
        "ig:n_steps=-3",
        "ig:quadrature=simpson",
        "ig:baseline=purple",
        "ig:sigma=2",
        "smoothgrad:inner=nope",
        "smoothgrad:inner.bogus=1",
        "smoothgrad:noise=loud",
        "grad_cam",
        "eigen_cam:layer=conv,center=2",
        "poly_cam:variant=plus",
        "poly_cam:layers=tanh,variant=sideways",
    ] {
        let e = registry::build(bad, &m)
            .err()
            .unwrap_or_else(|| panic!("{bad} built"));
        assert!(
            matches!(e, SalienceError::InvalidParameter { .. }),
            "{bad}: {e}"
        );
    }
    // Unknown layers are caught when explaining (the layer is a model property).
    let e = registry::build("grad_cam:layer=conv9", &m).unwrap();
    let x = array(&[1, 2, 4, 4], 1.0, 82);
    assert!(e.explain(x.view(), &[0], Seeds::base(0)).is_err());
    // An extension hook.
    let mut r = Registry::<SequentialClassifier>::with_builtins();
    r.register(
        "twice_saliency",
        Arc::new(|p, m, reg| {
            let inner = reg.build_inner(p, "saliency", m)?;
            Ok(inner)
        }),
    );
    assert!(r
        .build(
            &"twice_saliency:inner=saliency,inner.abs=true"
                .parse()
                .unwrap(),
            &m
        )
        .is_ok());
    assert!(r
        .build(&"twice_saliency:other=1".parse().unwrap(), &m)
        .is_err());
}

#[test]
fn perturbation_methods_build_from_specs() {
    use salience_explain::CandleModel;
    use salience_perturb::{
        FeatureMask, KernelShap, KernelShapConfig, Lime, LimeConfig, Occlusion, OcclusionConfig,
        Rise, RiseConfig, Surrogate,
    };
    let m = Arc::new(cnn());
    let r = Registry::with_builtins();
    let build = |s: &str| r.build(&s.parse().unwrap(), &m).unwrap();
    let cm = || CandleModel::new(m.clone());
    same(
        build("occlusion:window=2,stride=2").as_ref(),
        &Occlusion::with_config(cm(), OcclusionConfig::square(2, 2)),
    );
    same(
        build("kernel_shap:n_samples=30,feature_mask=patches,patch_size=2").as_ref(),
        &KernelShap::with_config(
            cm(),
            KernelShapConfig {
                n_samples: 30,
                feature_mask: FeatureMask::Patches { size: 2 },
                ..KernelShapConfig::default()
            },
        ),
    );
    same(
        build("lime:n_samples=40,surrogate=ridge,lambda=0.1,feature_mask=patches,patch_size=2")
            .as_ref(),
        &Lime::with_config(
            cm(),
            LimeConfig {
                n_samples: 40,
                surrogate: Surrogate::Ridge { lambda: 0.1 },
                feature_mask: FeatureMask::Patches { size: 2 },
                ..LimeConfig::default()
            },
        ),
    );
    same(
        build("rise:n_masks=16,grid=2,p_keep=0.3").as_ref(),
        &Rise::with_config(
            cm(),
            RiseConfig {
                n_masks: 16,
                grid: 2,
                p_keep: 0.3,
                ..RiseConfig::default()
            },
        ),
    );
    for s in [
        "feature_ablation:feature_mask=patches,patch_size=2",
        "shapley_sampling:n_permutations=2",
    ] {
        let e = build(s);
        let x = array(&[2, 2, 4, 4], 1.0, 80);
        assert_eq!(
            e.explain(x.view(), &[2, 0], Seeds::base(5))
                .unwrap()
                .shape(),
            &[2, 2, 4, 4]
        );
    }
    for bad in [
        "lime:surrogate=svm",
        "occlusion:window=x",
        "kernel_shap:feature_mask=hex",
        "rise:bogus=1",
    ] {
        assert!(r.build(&bad.parse().unwrap(), &m).is_err(), "{bad}");
    }
}

#[test]
fn reduce_key_makes_pixel_maps_that_stack_with_cams() {
    let m = Arc::new(cnn());
    let reg = Registry::with_builtins();
    let x = array(&[2, 2, 4, 4], 1.0, 81);
    let t = [1, 2];
    let specs = ExplainerSpec::parse_list("ig:n_steps=4,reduce=sum; grad_cam:layer=conv").unwrap();
    let panel = reg.build_panel(&specs, &m).unwrap();
    let e = salience_core::explain_ensemble(&panel, x.view(), &t, Seeds::base(0)).unwrap();
    assert_eq!(e.map_shape(), &[2, 4, 4]);
    // The reduced map is the channel sum of the plain one.
    let plain = IntegratedGradients::with_config(
        Arc::clone(&m),
        IntegratedGradientsConfig {
            n_steps: 4,
            ..Default::default()
        },
    )
    .explain(x.view(), &t, Seeds::base(0))
    .unwrap();
    let summed = plain.view().sum_axis(ndarray::Axis(1));
    let reduced = e.batch(0).unwrap();
    for (a, b) in reduced.view().iter().zip(summed.iter()) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // Without `reduce` the shapes differ and the error says how to fix it.
    let specs = ExplainerSpec::parse_list("ig:n_steps=4; grad_cam:layer=conv").unwrap();
    let panel = reg.build_panel(&specs, &m).unwrap();
    let err = salience_core::explain_ensemble(&panel, x.view(), &t, Seeds::base(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reduce_channels") && err.contains("PixelMaps"),
        "{err}"
    );
    // Unknown reductions are typed errors.
    let bad: ExplainerSpec = "saliency:reduce=mean".parse().unwrap();
    assert!(matches!(
        reg.build(&bad, &m),
        Err(SalienceError::InvalidParameter { .. })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(salience_core::validate::fuzz_cases(512)))]
    /// Whatever the builders accept prints back to text that parses to the
    /// same spec, alone and inside a panel.
    #[test]
    fn built_specs_round_trip(
        name in "\\PC{0,12}",
        params in proptest::collection::vec(("\\PC{0,8}", "\\PC{0,10}"), 0..4),
    ) {
        let Ok(mut spec) = ExplainerSpec::new(&name) else { return Ok(()) };
        for (k, v) in &params {
            match spec.clone().with(k, v) {
                Ok(s) => spec = s,
                Err(e) => {
                    let typed = matches!(e, SalienceError::InvalidParameter { .. });
                    proptest::prop_assert!(typed, "{e:?}");
                }
            }
        }
        let text = spec.to_string();
        proptest::prop_assert_eq!(&text.parse::<ExplainerSpec>().unwrap(), &spec);
        let panel = ExplainerSpec::parse_list(&format!("{text}; {text}")).unwrap();
        proptest::prop_assert_eq!(panel, vec![spec.clone(), spec]);
    }

    /// The parser never panics, and what it accepts round-trips.
    #[test]
    fn parsed_specs_round_trip(text in "\\PC{0,40}") {
        if let Ok(spec) = text.parse::<ExplainerSpec>() {
            proptest::prop_assert_eq!(spec.to_string().parse::<ExplainerSpec>().unwrap(), spec);
        }
    }
}
