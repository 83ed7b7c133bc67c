//! Parity with timm's `VisionTransformer` (and Captum's Integrated
//! Gradients on it) on fixtures that timm itself produced
//! (`scripts/parity/timm_fixtures.py` writes `tests/fixtures/timm/`,
//! versions inside): two reduced ViTs (32×32 RGB, 8×8 patches, width 48,
//! 2 blocks of 3 heads), one with a class token, one with average pooling.
//! Their weights load by timm's names, unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;
#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use arrays::{rel_diff, tensor, to_array};
use candle_core::{Device, Tensor};
use json::Json;
use ndarray::ArrayD;
use salience_core::{Explainer, Seeds};
use salience_explain::{
    Classifier, IntegratedGradients, IntegratedGradientsConfig, LayerSplit, Quadrature, Saliency,
};
use salience_models::{VisionTransformer, VitConfig, VitPool};

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
        layer_norm_eps: c.get("layer_norm_eps").num(),
    }
}

fn case(name: &str, weights: &[u8]) -> Case {
    let j = json::read(&format!(
        "{}/tests/fixtures/timm/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    let model = if name == "vit_hf" {
        assert_eq!(j.get("versions").get("transformers").str(), "5.25.0");
        VisionTransformer::from_hf_safetensors_bytes(weights, &config(&j), name, &Device::Cpu)
            .expect("the Hugging Face state_dict loads by its own names")
    } else {
        assert_eq!(j.get("versions").get("timm").str(), "1.0.31");
        VisionTransformer::from_safetensors_bytes(weights, &config(&j), name, &Device::Cpu)
            .expect("timm's state_dict loads by its own names")
    };
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

/// Hugging Face `ViTForImageClassification` names and LayerNorm ε 1e-12
/// (the layout candle-transformers' `vit` loads).
fn hf() -> Case {
    case("vit_hf", include_bytes!("fixtures/timm/vit_hf.safetensors"))
}

#[test]
fn logits_match_timm() {
    for c in [token(), avg(), hf()] {
        let logits = to_array(&c.model.logits(&tensor(&c.x)).expect("logits"));
        let d = rel_diff(&logits, &c.j.f32_array("logits"));
        eprintln!("logits vs timm: {d:.2e}");
        assert!(d < 1e-5, "logits vs timm: {d:.2e}");
    }
}

#[test]
fn attention_maps_match_timm() {
    for c in [token(), avg(), hf()] {
        let maps = c.model.attention_maps(&tensor(&c.x)).expect("maps");
        let stacked = Tensor::stack(&maps, 0).expect("stack");
        let d = rel_diff(&to_array(&stacked), &c.j.f32_array("attention"));
        eprintln!("attention vs timm: {d:.2e}");
        assert!(d < 1e-5, "attention vs timm: {d:.2e}");
    }
}

#[test]
fn input_gradients_match_pytorch_autograd() {
    for c in [token(), avg(), hf()] {
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
    for c in [token(), avg(), hf()] {
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
    for c in [token(), avg(), hf()] {
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
fn hugging_face_names_are_checked_too() {
    let j = json::read(&format!(
        "{}/tests/fixtures/timm/vit_hf.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    // timm names pass through the renaming unchanged, so a timm file loads too.
    let e = VisionTransformer::from_hf_safetensors_bytes(
        include_bytes!("fixtures/timm/vit_token.safetensors"),
        &config(&j),
        "vit_token",
        &Device::Cpu,
    );
    assert!(e.is_ok(), "timm names pass through the renaming unchanged");
    let mut deeper = config(&j);
    deeper.depth = 3;
    let e = VisionTransformer::from_hf_safetensors_bytes(
        include_bytes!("fixtures/timm/vit_hf.safetensors"),
        &deeper,
        "vit_hf",
        &Device::Cpu,
    )
    .expect_err("a missing block is named")
    .to_string();
    assert!(e.contains("missing: blocks.2.attn.proj.bias"), "{e}");
    // transformers 5 renamed the tensors of its state_dict: they load too.
    let hub = candle_core::safetensors::load_buffer(
        include_bytes!("fixtures/timm/vit_hf.safetensors"),
        &Device::Cpu,
    )
    .expect("fixture");
    let v5: std::collections::HashMap<String, Tensor> = hub
        .into_iter()
        .map(|(k, v)| {
            let mut k = k.replace("vit.encoder.layer.", "vit.layers.");
            for (old, new) in [
                ("attention.attention.query", "attention.q_proj"),
                ("attention.attention.key", "attention.k_proj"),
                ("attention.attention.value", "attention.v_proj"),
                ("attention.output.dense", "attention.o_proj"),
                ("intermediate.dense", "mlp.fc1"),
                ("output.dense", "mlp.fc2"),
            ] {
                k = k.replace(old, new);
            }
            (k, v)
        })
        .collect();
    assert!(v5.contains_key("vit.layers.1.attention.k_proj.weight"));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vit_hf_v5.safetensors");
    candle_core::safetensors::save(&v5, &path).expect("write");
    let bytes = std::fs::read(&path).expect("read");
    let m5 = VisionTransformer::from_hf_safetensors_bytes(&bytes, &config(&j), "v5", &Device::Cpu)
        .expect("transformers 5 names");
    let c = hf();
    let x = tensor(&c.x);
    let a = to_array(&m5.logits(&x).expect("logits"));
    let b = to_array(&c.model.logits(&x).expect("logits"));
    assert_eq!(a, b);
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

/// `a · b` for row-major `t × t` matrices.
fn matmul(a: &[f64], b: &[f64], t: usize) -> Vec<f64> {
    let mut c = vec![0.0; t * t];
    for i in 0..t {
        for k in 0..t {
            for j in 0..t {
                c[i * t + j] += a[i * t + k] * b[k * t + j];
            }
        }
    }
    c
}

/// The read-out row of `R` (row 0 with a class token, else the mean of all
/// rows) restricted to the patch tokens.
fn readout(r: &[f64], t: usize, prefix: usize) -> Vec<f64> {
    (prefix..t)
        .map(|j| {
            if prefix > 0 {
                r[j]
            } else {
                (0..t).map(|i| r[i * t + j]).sum::<f64>() / t as f64
            }
        })
        .collect()
}

/// Block `b`, sample `s` of `[blocks, N, heads, T, T]` attention (or
/// gradients) in f64, as `heads` matrices.
fn heads_of(a: &ArrayD<f32>, b: usize, s: usize) -> Vec<Vec<f64>> {
    let sub = a.index_axis(ndarray::Axis(0), b);
    let sub = sub.index_axis(ndarray::Axis(0), s);
    sub.outer_iter()
        .map(|h| h.iter().map(|&v| v as f64).collect())
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - y as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn attention_rollout_matches_a_full_matrix_rollout_of_timms_attention() {
    use salience_explain::{AttentionModel, AttentionRollout};
    for c in [token(), avg()] {
        let att = c.j.f32_array("attention"); // [blocks, N, heads, T, T]
        let (blocks, heads, t) = c.model.attention_shape();
        let prefix = c.model.prefix_tokens();
        let maps = AttentionRollout::new(&c.model)
            .token_maps(c.x.view(), &c.targets)
            .expect("rollout");
        for s in 0..c.targets.len() {
            let mut r: Vec<f64> = (0..t * t)
                .map(|i| if i % (t + 1) == 0 { 1.0 } else { 0.0 })
                .collect();
            for b in 0..blocks {
                let hs = heads_of(&att, b, s);
                let a: Vec<f64> = (0..t * t)
                    .map(|i| {
                        let mean = hs.iter().map(|h| h[i]).sum::<f64>() / heads as f64;
                        0.5 * mean + if i % (t + 1) == 0 { 0.5 } else { 0.0 }
                    })
                    .collect();
                r = matmul(&a, &r, t);
            }
            let want = readout(&r, t, prefix);
            let got: Vec<f32> = maps
                .index_axis(ndarray::Axis(0), s)
                .iter()
                .copied()
                .collect();
            let d = max_abs_diff(&want, &got);
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(d < 1e-5 * scale, "sample {s}: rollout differs by {d:.2e}");
            // R is row-stochastic, so the patch entries of the read-out row
            // are non-negative and sum to at most 1.
            assert!(got.iter().all(|&v| v >= 0.0));
            assert!(got.iter().map(|&v| v as f64).sum::<f64>() <= 1.0 + 1e-6);
        }
        // Pixel maps: the token grid upsampled to the input.
        let px = AttentionRollout::new(&c.model)
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .expect("explain");
        assert_eq!(px.view().shape(), &[2, 32, 32]);
    }
}

#[test]
fn attention_gradients_match_finite_differences() {
    use salience_explain::AttentionModel;
    let c = token();
    let x = tensor(&c.x);
    let (blocks, heads, t) = c.model.attention_shape();
    let dev = Device::Cpu;
    let zeros: Vec<candle_core::Var> = (0..blocks)
        .map(|_| candle_core::Var::zeros((2, heads, t, t), candle_core::DType::F32, &dev).unwrap())
        .collect();
    let offs: Vec<Tensor> = zeros.iter().map(|v| v.as_tensor().clone()).collect();
    let (logits, _) = c.model.attention_forward(&x, Some(&offs)).expect("forward");
    let target = c.targets[0];
    let y = logits.get(0).unwrap().get(target).unwrap();
    let grads = y.backward().expect("backward");
    let value = |offs: &[Tensor]| -> f64 {
        let (l, _) = c.model.attention_forward(&x, Some(offs)).expect("forward");
        l.to_dtype(candle_core::DType::F64)
            .unwrap()
            .get(0)
            .unwrap()
            .get(target)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let eps = 1e-2f32;
    for (b, h, i, j) in [(0, 0, 0, 3), (1, 2, 5, 0), (1, 1, 0, 0), (0, 2, 16, 9)] {
        let g = grads.get(&offs[b]).expect("gradient reaches the attention");
        let g = g
            .get(0)
            .unwrap()
            .get(h)
            .unwrap()
            .get(i)
            .unwrap()
            .get(j)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let bump = |sign: f32| -> Vec<Tensor> {
            let mut v = vec![0f32; 2 * heads * t * t];
            v[((h * t) + i) * t + j] = sign * eps;
            let mut o = offs.clone();
            o[b] = Tensor::from_vec(v, (2, heads, t, t), &dev).unwrap();
            o
        };
        let fd = (value(&bump(1.0)) - value(&bump(-1.0))) / (2.0 * eps as f64);
        assert!(
            (fd - g).abs() < 2e-3 * (1.0 + g.abs()),
            "block {b} head {h} ({i},{j}): fd {fd} vs grad {g}"
        );
    }
}

#[test]
fn gradient_rollout_is_the_product_of_identity_plus_weighted_attention() {
    use salience_explain::{AttentionModel, GradientRollout};
    for c in [token(), avg()] {
        let x = tensor(&c.x);
        let (blocks, heads, t) = c.model.attention_shape();
        let prefix = c.model.prefix_tokens();
        let maps = GradientRollout::new(&c.model)
            .token_maps(c.x.view(), &c.targets)
            .expect("gradient rollout");
        // Reference: per sample, gradients of that sample's target logit.
        let dev = Device::Cpu;
        let offs: Vec<Tensor> = (0..blocks)
            .map(|_| {
                candle_core::Var::zeros((2, heads, t, t), candle_core::DType::F32, &dev)
                    .unwrap()
                    .as_tensor()
                    .clone()
            })
            .collect();
        let (logits, att) = c.model.attention_forward(&x, Some(&offs)).expect("forward");
        for s in 0..2 {
            let y = logits.get(s).unwrap().get(c.targets[s]).unwrap();
            let grads = y.backward().expect("backward");
            let mut r: Vec<f64> = (0..t * t)
                .map(|i| if i % (t + 1) == 0 { 1.0 } else { 0.0 })
                .collect();
            for b in 0..blocks {
                let a = to_array(&att[b].get(s).unwrap());
                let g = to_array(&grads.get(&offs[b]).unwrap().get(s).unwrap());
                let abar: Vec<f64> = (0..t * t)
                    .map(|i| {
                        let mut acc = 0.0;
                        for h in 0..heads {
                            acc += (a.as_slice().unwrap()[h * t * t + i] as f64
                                * g.as_slice().unwrap()[h * t * t + i] as f64)
                                .max(0.0);
                        }
                        acc / heads as f64
                    })
                    .collect();
                let mut next = r.clone();
                let ar = matmul(&abar, &r, t);
                for (n, v) in next.iter_mut().zip(ar) {
                    *n += v;
                }
                r = next;
            }
            let want = readout(&r, t, prefix);
            let got: Vec<f32> = maps
                .index_axis(ndarray::Axis(0), s)
                .iter()
                .copied()
                .collect();
            let d = max_abs_diff(&want, &got);
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                d < 1e-5 * scale.max(1e-12),
                "sample {s}: {d:.2e} of {scale:.2e}"
            );
        }
        // Class-specific: another target gives another map.
        let other: Vec<usize> = c.targets.iter().map(|&k| (k + 1) % 5).collect();
        let m2 = GradientRollout::new(&c.model)
            .token_maps(c.x.view(), &other)
            .expect("other");
        assert!(m2 != maps);
        // Chunking does not change the maps.
        let one = GradientRollout::with_config(
            &c.model,
            salience_explain::GradientRolloutConfig {
                batch_size: salience_core::BatchSize::fixed(1).unwrap(),
            },
        )
        .token_maps(c.x.view(), &c.targets)
        .expect("chunk 1");
        let d = one
            .iter()
            .zip(maps.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-6, "chunking changed the maps by {d}");
    }
}

#[test]
fn attention_explainers_reject_bad_input() {
    use salience_explain::{AttentionRollout, AttentionRolloutConfig, GradientRollout, HeadFusion};
    let c = token();
    let bad_ratio = AttentionRollout::with_config(
        &c.model,
        AttentionRolloutConfig {
            discard_ratio: 1.0,
            ..Default::default()
        },
    );
    assert!(bad_ratio.token_maps(c.x.view(), &c.targets).is_err());
    assert!(GradientRollout::new(&c.model)
        .token_maps(c.x.view(), &[0, 5])
        .is_err());
    let wrong = ndarray::ArrayD::<f32>::zeros(vec![1, 3, 16, 16]);
    assert!(AttentionRollout::new(&c.model)
        .token_maps(wrong.view(), &[0])
        .is_err());
    // A batch size of 0 cannot be built (issue 20: one batch-size type).
    assert!(salience_core::BatchSize::fixed(0).is_err());
    // Max fusion with discarding keeps the maps finite and non-negative.
    let m = AttentionRollout::with_config(
        &c.model,
        AttentionRolloutConfig {
            head_fusion: HeadFusion::Max,
            discard_ratio: 0.9,
            ..Default::default()
        },
    )
    .token_maps(c.x.view(), &c.targets)
    .expect("max fusion");
    assert!(m.iter().all(|v| v.is_finite() && *v >= 0.0));
}

#[test]
fn the_registry_builds_the_attention_methods() {
    use salience_explain::registry::Registry;
    use salience_explain::{AttentionRollout, AttentionRolloutConfig, HeadFusion};
    let c = token();
    let m = std::sync::Arc::new(c.model.clone());
    let r = Registry::with_builtins().with_attention();
    let e = r
        .build(
            &"rollout:head_fusion=max,discard_ratio=0.5".parse().unwrap(),
            &m,
        )
        .expect("rollout");
    let direct = AttentionRollout::with_config(
        &c.model,
        AttentionRolloutConfig {
            head_fusion: HeadFusion::Max,
            discard_ratio: 0.5,
            ..Default::default()
        },
    );
    let a = e
        .explain(c.x.view(), &c.targets, Seeds::base(0))
        .expect("built");
    let b = direct
        .explain(c.x.view(), &c.targets, Seeds::base(0))
        .expect("direct");
    assert_eq!(a.view(), b.view());
    assert!(r.build(&"chefer2021".parse().unwrap(), &m).is_ok());
    assert!(r
        .build(&"rollout:head_fusion=median".parse().unwrap(), &m)
        .is_err());
    // Gradient methods from the same registry run on the ViT too.
    let panel = r
        .build_panel(
            &salience_explain::registry::ExplainerSpec::parse_list(
                "saliency; ig:n_steps=4; gradient_rollout",
            )
            .unwrap(),
            &m,
        )
        .expect("panel");
    for e in panel {
        let out = e
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .expect("explain");
        assert!(out.view().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn grad_cam_on_the_token_grid_matches_pytorch_grad_cam() {
    use salience_explain::{GradCam, GradCamPlusPlus, TokenGrid};
    for c in [token(), avg()] {
        assert_eq!(
            c.model.token_grid("blocks.1"),
            Some(TokenGrid {
                prefix: c.model.config().num_tokens() - 16,
                rows: 4,
                cols: 4
            })
        );
        assert_eq!(c.model.token_grid("pre_logits"), None);
        // At the first block's output: at the last one only the class token
        // reaches the logits, so a class-token model's CAM there is 0.
        let ours = GradCam::new(&c.model, "blocks.0")
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .expect("grad-cam on tokens");
        let want = c.j.f32_array("grad_cam_block0");
        let d = rel_diff(&ours.view().to_owned(), &want);
        eprintln!("Grad-CAM vs pytorch-grad-cam: {d:.2e}");
        assert!(d < 1e-5, "Grad-CAM vs pytorch-grad-cam: {d:.2e}");
        // The other CAMs take token layers too.
        assert!(ours.view().iter().any(|&v| v > 0.0));
        let pp = GradCamPlusPlus::new(&c.model, "blocks.0")
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .expect("grad-cam++ on tokens");
        assert!(pp.view().iter().all(|v| v.is_finite() && *v >= 0.0));
        // A layer whose output is not tokens on the grid is a typed error.
        assert!(GradCam::new(&c.model, "pre_logits")
            .explain(c.x.view(), &c.targets, Seeds::base(0))
            .is_err());
    }
}
