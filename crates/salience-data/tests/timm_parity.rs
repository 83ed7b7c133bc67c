//! Parity with timm's `VisionTransformer` (and Captum's Integrated
//! Gradients on it) on fixtures that timm itself produced
//! (`scripts/parity/timm_fixtures.py` writes `tests/fixtures/timm/`,
//! versions inside): two reduced ViTs (32×32 RGB, 8×8 patches, width 48,
//! 2 blocks of 3 heads), one with a class token, one with average pooling.
//! Their weights load by timm's names, unchanged.

#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use candle_core::{Device, Tensor};
use json::Json;
use ndarray::ArrayD;
use salience_core::{Explainer, Seeds};
use salience_data::models::{VisionTransformer, VitConfig, VitPool};
use salience_explain::{
    Classifier, IntegratedGradients, IntegratedGradientsConfig, LayerSplit, Quadrature, Saliency,
};

struct Case {
    j: Json,
    model: VisionTransformer,
    x: ArrayD<f32>,
    targets: Vec<usize>,
}

fn config(j: &Json) -> VitConfig {
    let c = j.get("config");
    let u = |k: &str| c.get(k).num() as usize;
    VitConfig {
        image_size: u("img_size"),
        patch_size: u("patch_size"),
        in_channels: u("in_chans"),
        embed_dim: u("embed_dim"),
        depth: u("depth"),
        num_heads: u("num_heads"),
        mlp_dim: u("mlp_dim"),
        qkv_bias: true,
        pool: match c.get("pool").str() {
            "token" => VitPool::Token,
            _ => VitPool::Avg,
        },
        num_classes: u("num_classes"),
    }
}

fn case(name: &str, weights: &[u8]) -> Case {
    let j = json::read(&format!(
        "{}/tests/fixtures/timm/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert_eq!(j.get("versions").get("timm").str(), "1.0.31");
    let model = VisionTransformer::from_safetensors_bytes(weights, &config(&j), name, &Device::Cpu)
        .expect("timm's state_dict loads by its own names");
    let x = j.f32_array("x");
    let targets = j.array("targets").1.iter().map(|&t| t as usize).collect();
    Case {
        j,
        model,
        x,
        targets,
    }
}

fn token() -> Case {
    case(
        "vit_token",
        include_bytes!("fixtures/timm/vit_token.safetensors"),
    )
}

fn avg() -> Case {
    case(
        "vit_avg",
        include_bytes!("fixtures/timm/vit_avg.safetensors"),
    )
}

fn to_array(t: &Tensor) -> ArrayD<f32> {
    ArrayD::from_shape_vec(
        t.dims().to_vec(),
        t.flatten_all().expect("flat").to_vec1().expect("vec"),
    )
    .expect("shape")
}

fn tensor(a: &ArrayD<f32>) -> Tensor {
    Tensor::from_vec(a.iter().copied().collect(), a.shape(), &Device::Cpu).expect("tensor")
}

/// max |a − b| / max |b|.
fn rel_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let num = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .fold(0.0, f64::max);
    num / b.iter().map(|&y| (y as f64).abs()).fold(0.0, f64::max)
}

#[test]
fn logits_match_timm() {
    for c in [token(), avg()] {
        let logits = to_array(&c.model.logits(&tensor(&c.x)).expect("logits"));
        let d = rel_diff(&logits, &c.j.f32_array("logits"));
        eprintln!("logits vs timm: {d:.2e}");
        assert!(d < 1e-5, "logits vs timm: {d:.2e}");
    }
}

#[test]
fn attention_maps_match_timm() {
    for c in [token(), avg()] {
        let maps = c.model.attention_maps(&tensor(&c.x)).expect("maps");
        let stacked = Tensor::stack(&maps, 0).expect("stack");
        let d = rel_diff(&to_array(&stacked), &c.j.f32_array("attention"));
        eprintln!("attention vs timm: {d:.2e}");
        assert!(d < 1e-5, "attention vs timm: {d:.2e}");
    }
}

#[test]
fn input_gradients_match_pytorch_autograd() {
    for c in [token(), avg()] {
        let g = Saliency::new(&c.model)
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .expect("saliency");
        let d = rel_diff(&g.view().to_owned(), &c.j.f32_array("input_gradient"));
        eprintln!("input gradient vs PyTorch: {d:.2e}");
        assert!(d < 1e-4, "input gradient vs PyTorch: {d:.2e}");
    }
}

#[test]
fn integrated_gradients_match_captum_gauss_legendre() {
    for c in [token(), avg()] {
        let cfg = IntegratedGradientsConfig {
            n_steps: c.j.get("ig_steps").num() as usize,
            quadrature: Quadrature::GaussLegendre,
            ..Default::default()
        };
        let ig = IntegratedGradients::with_config(&c.model, cfg)
            .explain_with_delta(c.x.view(), &c.targets, Seeds::base(0))
            .expect("ig");
        let d = rel_diff(
            &ig.attributions.view().to_owned(),
            &c.j.f32_array("ig_gausslegendre"),
        );
        eprintln!("IG vs Captum: {d:.2e}");
        assert!(d < 1e-4, "IG vs Captum: {d:.2e}");
        // Captum's convergence delta is the same quantity.
        let dq = c.j.array("ig_delta").1;
        for (i, want) in dq.iter().enumerate() {
            let got = ig.delta[i] as f64;
            assert!(
                (got - want).abs() < 1e-3 * (1.0 + (ig.output_difference[i] as f64).abs()),
                "delta {i}: {got} vs Captum {want}"
            );
        }
    }
}

#[test]
fn every_split_recomposes_the_logits() {
    for c in [token(), avg()] {
        let x = tensor(&c.x);
        let want = to_array(&c.model.logits(&x).expect("logits"));
        for layer in c.model.layer_names() {
            let a = c.model.activations(&x, &layer).expect("activations");
            let y = to_array(&c.model.head(&a, &layer).expect("head"));
            assert!(rel_diff(&y, &want) < 1e-6, "split at {layer}");
        }
    }
}

#[test]
fn mismatched_weights_are_named() {
    let j = json::read(&format!(
        "{}/tests/fixtures/timm/vit_token.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    let mut cfg = config(&j);
    cfg.pool = VitPool::Avg;
    let e = VisionTransformer::from_safetensors_bytes(
        include_bytes!("fixtures/timm/vit_token.safetensors"),
        &cfg,
        "vit_token",
        &Device::Cpu,
    )
    .expect_err("token weights do not fit an avg-pool ViT")
    .to_string();
    assert!(e.contains("missing: fc_norm.bias, fc_norm.weight"), "{e}");
    assert!(
        e.contains("unexpected: cls_token, norm.bias, norm.weight"),
        "{e}"
    );
    assert!(
        e.contains("pos_embed is F32 [1, 17, 48], expected F32 [1, 16, 48]"),
        "{e}"
    );
    let mut wide = config(&j);
    wide.embed_dim = 96;
    wide.num_heads = 0;
    assert!(VisionTransformer::seeded(&wide, 0, &Device::Cpu).is_err());
}
