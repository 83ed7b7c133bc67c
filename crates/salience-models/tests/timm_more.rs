//! Parity with timm's distilled DeiT (`VisionTransformerDistilled`),
//! MLP-Mixer (`MlpMixer`) and Swin Transformer (`SwinTransformer`), and
//! with Captum's Integrated Gradients and pytorch-grad-cam's Grad-CAM on
//! them, on fixtures that timm itself produced
//! (`scripts/parity/timm_more.py` writes `tests/fixtures/timm/`, versions
//! inside): reduced widths and depths, 32×32 RGB inputs, 5 classes. The
//! weights load by timm's names, unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/arrays.rs"]
mod arrays;
#[path = "../../salience-metrics/tests/support/json.rs"]
mod json;

use arrays::{rel_diff, tensor, to_array};
use candle_core::{Device, Tensor};
use json::Json;
use salience_core::{Explainer, Seeds};
use salience_explain::{
    Classifier, GradCam, IntegratedGradients, IntegratedGradientsConfig, LayerSplit, Quadrature,
    Saliency,
};
use salience_models::{
    MixerConfig, MlpMixer, SwinConfig, SwinTransformer, VisionTransformer, VitConfig, VitPool,
};

fn fixture(name: &str) -> Json {
    let j = json::read(&format!(
        "{}/tests/fixtures/timm/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert_eq!(j.get("versions").get("timm").str(), "1.0.31");
    j
}

fn num(j: &Json, k: &str) -> usize {
    j.get("config").get(k).num() as usize
}

const DEIT: &[u8] = include_bytes!("fixtures/timm/deit_dist.safetensors");
const MIXER: &[u8] = include_bytes!("fixtures/timm/mixer.safetensors");
const SWIN: &[u8] = include_bytes!("fixtures/timm/swin.safetensors");
const SWIN_PAD: &[u8] = include_bytes!("fixtures/timm/swin_pad.safetensors");

fn deit_config(j: &Json) -> VitConfig {
    VitConfig {
        image_size: num(j, "img_size"),
        patch_size: num(j, "patch_size"),
        in_channels: num(j, "in_chans"),
        embed_dim: num(j, "embed_dim"),
        depth: num(j, "depth"),
        num_heads: num(j, "num_heads"),
        mlp_dim: num(j, "mlp_dim"),
        qkv_bias: true,
        pool: VitPool::Distilled,
        num_classes: num(j, "num_classes"),
        layer_norm_eps: j.get("config").get("layer_norm_eps").num(),
    }
}

fn deit() -> (Json, VisionTransformer) {
    let j = fixture("deit_dist");
    let m = VisionTransformer::from_safetensors_bytes(DEIT, &deit_config(&j), "deit", &Device::Cpu)
        .expect("timm's distilled DeiT state_dict loads by its own names");
    (j, m)
}

fn mixer_config(j: &Json) -> MixerConfig {
    MixerConfig {
        image_size: num(j, "img_size"),
        patch_size: num(j, "patch_size"),
        in_channels: num(j, "in_chans"),
        embed_dim: num(j, "embed_dim"),
        depth: num(j, "num_blocks"),
        tokens_mlp_dim: num(j, "tokens_mlp_dim"),
        channels_mlp_dim: num(j, "channels_mlp_dim"),
        num_classes: num(j, "num_classes"),
        layer_norm_eps: j.get("config").get("layer_norm_eps").num(),
    }
}

fn mixer() -> (Json, MlpMixer) {
    let j = fixture("mixer");
    let m = MlpMixer::from_safetensors_bytes(MIXER, &mixer_config(&j), "mixer", &Device::Cpu)
        .expect("timm's MlpMixer state_dict loads by its own names");
    (j, m)
}

fn targets(j: &Json) -> Vec<usize> {
    j.array("targets").1.iter().map(|&t| t as usize).collect()
}

/// Logits, the input gradient (Saliency), Captum's IG (Gauss–Legendre)
/// with its convergence delta, pytorch-grad-cam's Grad-CAM at the
/// fixture's layer, and every split recomposing the logits.
fn check_parity<M: Classifier + LayerSplit>(name: &str, j: &Json, m: &M) {
    let x = j.f32_array("x");
    let t = targets(j);
    let logits = to_array(&m.logits(&tensor(&x)).expect("logits"));
    let d = rel_diff(&logits, &j.f32_array("logits"));
    eprintln!("{name}: logits vs timm {d:.2e}");
    assert!(d < 1e-5, "{name}: logits vs timm {d:.2e}");

    let g = Saliency::new(m)
        .explain(x.view(), &t, Seeds::base(0))
        .expect("saliency");
    let d = rel_diff(&g.view().to_owned(), &j.f32_array("input_gradient"));
    eprintln!("{name}: input gradient vs PyTorch {d:.2e}");
    assert!(d < 1e-4, "{name}: input gradient vs PyTorch {d:.2e}");

    let cfg = IntegratedGradientsConfig {
        n_steps: j.get("ig_steps").num() as usize,
        quadrature: Quadrature::GaussLegendre,
        ..Default::default()
    };
    let ig = IntegratedGradients::with_config(m, cfg)
        .explain_with_delta(x.view(), &t, Seeds::base(0))
        .expect("ig");
    let d = rel_diff(
        &ig.attributions.view().to_owned(),
        &j.f32_array("ig_gausslegendre"),
    );
    eprintln!("{name}: IG vs Captum {d:.2e}");
    assert!(d < 1e-4, "{name}: IG vs Captum {d:.2e}");
    for (i, want) in j.array("ig_delta").1.iter().enumerate() {
        let got = ig.delta[i] as f64;
        assert!(
            (got - want).abs() < 1e-3 * (1.0 + (ig.output_difference[i] as f64).abs()),
            "{name}: delta {i}: {got} vs Captum {want}"
        );
    }

    let layer = j.get("grad_cam_layer").str();
    let cam = GradCam::new(m, layer)
        .explain(x.view(), &t, Seeds::base(0))
        .expect("grad-cam on the token grid");
    let want = j.f32_array("grad_cam");
    assert!(want.iter().any(|&v| v > 0.0), "{name}: a non-trivial CAM");
    let d = rel_diff(&cam.view().to_owned(), &want);
    eprintln!("{name}: Grad-CAM at {layer} vs pytorch-grad-cam {d:.2e}");
    assert!(d < 1e-4, "{name}: Grad-CAM vs pytorch-grad-cam {d:.2e}");

    let xt = tensor(&x);
    for l in m.layer_names() {
        let a = m.activations(&xt, &l).expect("activations");
        let y = to_array(&m.head(&a, &l).expect("head"));
        assert!(rel_diff(&y, &logits) < 1e-6, "{name}: split at {l}");
    }
}

#[test]
fn distilled_deit_matches_timm_captum_and_grad_cam() {
    let (j, m) = deit();
    check_parity("deit_dist", &j, &m);
    // The class and distillation tokens both precede the patches.
    let g = m.token_grid("blocks.1").expect("token layer");
    assert_eq!((g.prefix, g.rows, g.cols), (2, 4, 4));
    assert_eq!(m.config().num_tokens(), 18);
}

#[test]
fn distilled_deit_output_is_the_mean_of_its_two_heads() {
    let (j, m) = deit();
    let x = tensor(&j.f32_array("x"));
    let tokens = m.activations(&x, "pre_logits").expect("pre_logits");
    assert_eq!(tokens.dims(), &[2, 2, 48]);
    // The two heads by hand from the stored weights.
    let w = candle_core::safetensors::load_buffer(DEIT, &Device::Cpu).expect("weights");
    let head = |name: &str, tok: usize| -> Tensor {
        let t = tokens.narrow(1, tok, 1).unwrap().squeeze(1).unwrap();
        t.matmul(&w[&format!("{name}.weight")].t().unwrap())
            .unwrap()
            .broadcast_add(&w[&format!("{name}.bias")])
            .unwrap()
    };
    let mean = ((head("head", 0) + head("head_dist", 1)).unwrap() / 2.0).unwrap();
    let d = rel_diff(&to_array(&mean), &to_array(&m.logits(&x).unwrap()));
    assert!(d < 1e-6, "{d:.2e}");
    // …and not either head alone.
    assert!(rel_diff(&to_array(&head("head", 0)), &to_array(&mean)) > 1e-3);
}

#[test]
fn distilled_deit_attention_and_rollout_from_the_class_token() {
    use salience_explain::{AttentionModel, AttentionRollout, GradientRollout};
    let (j, m) = deit();
    let x = j.f32_array("x");
    let t = targets(&j);
    let maps = m.attention_maps(&tensor(&x)).expect("maps");
    let stacked = Tensor::stack(&maps, 0).expect("stack");
    let d = rel_diff(&to_array(&stacked), &j.f32_array("attention"));
    eprintln!("deit_dist: attention vs timm {d:.2e}");
    assert!(d < 1e-5, "attention vs timm {d:.2e}");
    assert_eq!(m.attention_shape(), (2, 3, 18));
    assert_eq!(m.prefix_tokens(), 2);
    // Rollout from the class token (row 0), by hand: R = Π (½Ā + ½I),
    // read out at row 0, patch columns 2.. .
    let att = j.f32_array("attention"); // [blocks, N, heads, T, T]
    let tt = 18;
    let rollout = AttentionRollout::new(&m)
        .token_maps(x.view(), &t)
        .expect("rollout");
    assert_eq!(rollout.shape(), &[2, 4, 4]);
    for s in 0..2 {
        let mut v = vec![0f64; tt];
        v[0] = 1.0;
        for b in (0..2).rev() {
            let mut next = vec![0f64; tt];
            for (i, &vi) in v.iter().enumerate() {
                for (k, o) in next.iter_mut().enumerate() {
                    let mean = (0..3).map(|h| att[[b, s, h, i, k]] as f64).sum::<f64>() / 3.0;
                    *o += vi * (0.5 * mean + if i == k { 0.5 } else { 0.0 });
                }
            }
            v = next;
        }
        for (p, &want) in v[2..].iter().enumerate() {
            let got = rollout[[s, p / 4, p % 4]] as f64;
            assert!(
                (got - want).abs() < 1e-5,
                "sample {s} patch {p}: {got} vs {want}"
            );
        }
    }
    let gr = GradientRollout::new(&m)
        .token_maps(x.view(), &t)
        .expect("gradient rollout");
    assert!(gr.iter().all(|v| v.is_finite() && *v >= 0.0));
}

#[test]
fn deit_weights_in_the_wrong_layout_are_named() {
    let j = fixture("deit_dist");
    let mut cfg = deit_config(&j);
    cfg.pool = VitPool::Token;
    let e = VisionTransformer::from_safetensors_bytes(DEIT, &cfg, "deit", &Device::Cpu)
        .expect_err("distilled weights do not fit a plain ViT")
        .to_string();
    assert!(
        e.contains("unexpected: dist_token, head_dist.bias, head_dist.weight"),
        "{e}"
    );
    assert!(
        e.contains("pos_embed is F32 [1, 18, 48], expected F32 [1, 17, 48]"),
        "{e}"
    );
    // The DeiT presets: the ViT layouts, with the distilled pair on top.
    assert_eq!(
        VitConfig::timm_deit_tiny_patch16_224(1000),
        VitConfig::timm_vit_tiny_patch16_224(1000)
    );
    assert_eq!(
        VitConfig::timm_deit_small_patch16_224(10).num_parameters(),
        VitConfig::timm_vit_small_patch16_224(10).num_parameters()
    );
    let dist = VitConfig::timm_deit_tiny_distilled_patch16_224(1000);
    // + dist_token (192), one more position (192), head_dist (192·1000 + 1000).
    assert_eq!(
        dist.num_parameters() - VitConfig::timm_deit_tiny_patch16_224(1000).num_parameters(),
        192 + 192 + 192 * 1000 + 1000
    );
}

#[test]
fn mixer_matches_timm_captum_and_grad_cam() {
    let (j, m) = mixer();
    check_parity("mixer", &j, &m);
    let g = m.token_grid("blocks.1").expect("token layer");
    assert_eq!((g.prefix, g.rows, g.cols), (0, 4, 4));
    assert_eq!(m.token_grid("pre_logits"), None);
    assert!(GradCam::new(&m, "pre_logits")
        .explain(j.f32_array("x").view(), &targets(&j), Seeds::base(0))
        .is_err());
}

#[test]
fn mixer_has_no_attention_to_roll_out() {
    let (_, m) = mixer();
    let m = std::sync::Arc::new(m);
    for method in [
        "attention_rollout",
        "rollout",
        "gradient_rollout",
        "chefer2021",
    ] {
        let Err(e) = MlpMixer::registry().build(&method.parse().expect("spec"), &m) else {
            panic!("no rollout on a Mixer");
        };
        assert!(
            matches!(&e, salience_core::SalienceError::InvalidParameter { reason, .. } if reason.contains("no attention")),
            "{e}"
        );
    }
    assert!(MlpMixer::registry()
        .build(&"grad_cam:layer=blocks.1".parse().expect("spec"), &m)
        .is_ok());
}

#[test]
fn mixer_weights_and_inputs_are_checked() {
    let j = fixture("mixer");
    let mut cfg = mixer_config(&j);
    cfg.tokens_mlp_dim = 32;
    cfg.depth = 3;
    let e = MlpMixer::from_safetensors_bytes(MIXER, &cfg, "mixer", &Device::Cpu)
        .expect_err("wrong shapes")
        .to_string();
    assert!(e.contains("missing: blocks.2.mlp_channels.fc1.bias"), "{e}");
    assert!(
        e.contains("blocks.0.mlp_tokens.fc1.weight is F32 [24, 16], expected F32 [32, 16]"),
        "{e}"
    );
    let mut bad = mixer_config(&j);
    bad.patch_size = 5;
    assert!(MlpMixer::seeded(&bad, 0, &Device::Cpu).is_err());
    bad.patch_size = 8;
    bad.layer_norm_eps = 0.0;
    assert!(MlpMixer::from_safetensors_bytes(MIXER, &bad, "mixer", &Device::Cpu).is_err());
    let (_, m) = mixer();
    let x = Tensor::zeros((1, 3, 28, 28), candle_core::DType::F32, &Device::Cpu).unwrap();
    let e = m.logits(&x).expect_err("wrong size").to_string();
    assert!(e.contains("expects [N, 3, 32, 32]"), "{e}");
}

fn swin_config(j: &Json) -> SwinConfig {
    let list = |k: &str| -> Vec<usize> {
        j.get("config")
            .get(k)
            .items()
            .iter()
            .map(|v| v.num() as usize)
            .collect()
    };
    SwinConfig {
        image_size: num(j, "img_size"),
        patch_size: num(j, "patch_size"),
        in_channels: num(j, "in_chans"),
        embed_dim: num(j, "embed_dim"),
        depths: list("depths"),
        num_heads: list("num_heads"),
        window_size: num(j, "window_size"),
        mlp_ratio: j.get("config").get("mlp_ratio").num(),
        qkv_bias: true,
        num_classes: num(j, "num_classes"),
        layer_norm_eps: j.get("config").get("layer_norm_eps").num(),
    }
}

fn swin() -> (Json, SwinTransformer) {
    let j = fixture("swin");
    let m = SwinTransformer::from_safetensors_bytes(SWIN, &swin_config(&j), "swin", &Device::Cpu)
        .expect("timm's SwinTransformer state_dict loads by its own names");
    (j, m)
}

#[test]
fn swin_matches_timm_captum_and_grad_cam() {
    let (j, m) = swin();
    let c = m.config();
    // The reduced model exercises both window regimes: shifted windows
    // with the mask in stages 0 and 1, whole-map windows after.
    assert_eq!(
        (0..4)
            .map(|i| (c.stage_grid(i), c.stage_window(i)))
            .collect::<Vec<_>>(),
        vec![(16, (4, 2)), (8, (4, 2)), (4, (4, 0)), (2, (2, 0))]
    );
    check_parity("swin", &j, &m);
    let grids: Vec<_> = [
        "patch_embed",
        "layers.0",
        "layers.3",
        "norm",
        "pre_logits",
        "layers.9",
    ]
    .iter()
    .map(|l| m.token_grid(l).map(|g| (g.prefix, g.rows, g.cols)))
    .collect();
    assert_eq!(
        grids,
        vec![
            Some((0, 16, 16)),
            Some((0, 16, 16)),
            Some((0, 2, 2)),
            Some((0, 2, 2)),
            None,
            None
        ]
    );
}

/// timm 1.0 pads maps that the windows or the merging do not divide
/// (`SwinTransformerBlock._attn`, `PatchMerging.forward`): a 36² input
/// gives maps of 18, 9, 5 and 3 with windows of 4 (padded to 20, 12 and
/// 8, shifted with the mask of the padded map; the last clipped to 3).
/// Logits, the input gradient through the pads and crops, Captum's IG and
/// pytorch-grad-cam's Grad-CAM on the 3 × 3 map against timm.
#[test]
fn swin_pads_like_timm() {
    let j = fixture("swin_pad");
    let c = swin_config(&j);
    assert_eq!(
        (0..4)
            .map(|i| (c.stage_grid(i), c.stage_padded_grid(i), c.stage_window(i)))
            .collect::<Vec<_>>(),
        vec![
            (18, 20, (4, 2)),
            (9, 12, (4, 2)),
            (5, 8, (4, 2)),
            (3, 3, (3, 0))
        ]
    );
    let m = SwinTransformer::from_safetensors_bytes(SWIN_PAD, &c, "swin_pad", &Device::Cpu)
        .expect("timm's padded Swin loads by its own names");
    check_parity("swin_pad", &j, &m);
    // tighter than check_parity's bounds (measured 2.5e-7 and 1.4e-6)
    let x = j.f32_array("x");
    let logits = to_array(&m.logits(&tensor(&x)).expect("logits"));
    assert!(rel_diff(&logits, &j.f32_array("logits")) <= 1e-5);
    let g = Saliency::new(&m)
        .explain(x.view(), &targets(&j), Seeds::base(0))
        .expect("saliency");
    let d = rel_diff(&g.view().to_owned(), &j.f32_array("input_gradient"));
    assert!(d <= 1e-5, "swin_pad: Saliency vs PyTorch {d:.2e}");
    assert_eq!(
        m.token_grid("layers.2").map(|g| (g.prefix, g.rows, g.cols)),
        Some((0, 5, 5))
    );
    let cam = GradCam::new(&m, "layers.2")
        .explain(x.view(), &targets(&j), Seeds::base(0))
        .expect("grad-cam on the 5 x 5 map");
    assert_eq!(cam.view().shape(), &[2, 36, 36]);
}

#[test]
fn swin_grad_cam_on_earlier_stages_runs_on_their_grids() {
    let (j, m) = swin();
    let x = j.f32_array("x");
    for layer in ["layers.1", "layers.2"] {
        let cam = GradCam::new(&m, layer)
            .explain(x.view(), &targets(&j), Seeds::base(0))
            .expect("grad-cam");
        assert_eq!(cam.view().shape(), &[2, 32, 32]);
        assert!(cam.view().iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}

#[test]
fn swin_has_no_global_attention_to_roll_out() {
    let (_, m) = swin();
    let m = std::sync::Arc::new(m);
    for method in ["attention_rollout", "gradient_rollout"] {
        let Err(e) = SwinTransformer::registry().build(&method.parse().expect("spec"), &m) else {
            panic!("no rollout on Swin");
        };
        assert!(e.to_string().contains("local windows"), "{e}");
    }
}

#[test]
fn swin_configs_weights_and_inputs_are_checked() {
    let j = fixture("swin");
    // Weights of another depth are named.
    let mut deeper = swin_config(&j);
    deeper.depths[3] = 3;
    let e = SwinTransformer::from_safetensors_bytes(SWIN, &deeper, "swin", &Device::Cpu)
        .expect_err("a missing block")
        .to_string();
    assert!(
        e.contains("missing: layers.3.blocks.2.attn.proj.bias"),
        "{e}"
    );
    // A larger window changes the bias tables' shapes.
    let mut wide = swin_config(&j);
    wide.window_size = 8;
    let e = SwinTransformer::from_safetensors_bytes(SWIN, &wide, "swin", &Device::Cpu)
        .expect_err("other bias tables")
        .to_string();
    assert!(
        e.contains("layers.0.blocks.0.attn.relative_position_bias_table is F32 [49, 2], expected F32 [225, 2]"),
        "{e}"
    );
    // Invalid configs are errors before anything is allocated.
    let bad = |f: &dyn Fn(&mut SwinConfig)| {
        let mut c = swin_config(&j);
        f(&mut c);
        SwinTransformer::seeded(&c, 0, &Device::Cpu)
            .expect_err("invalid config")
            .to_string()
    };
    // Maps that the windows or the merging do not divide were errors;
    // they are padded as timm pads them now (swin_pads_like_timm checks
    // the values): windows of 3 on maps of 16, 8, 4, 2, and a merge of an
    // odd 3 × 3 map, both build and run.
    let runs = |f: &dyn Fn(&mut SwinConfig)| {
        let mut c = swin_config(&j);
        f(&mut c);
        let m = SwinTransformer::seeded(&c, 0, &Device::Cpu).expect("padded config");
        let x = Tensor::ones(
            (1, 3, c.image_size, c.image_size),
            candle_core::DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let logits = m.logits(&x).expect("logits").flatten_all().unwrap();
        assert!(logits
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
    };
    runs(&|c| c.window_size = 3);
    runs(&|c| {
        c.image_size = 24; // maps 12, 6, 3, then merging a 3 × 3 map
        c.window_size = 16;
    });
    assert!(bad(&|c| c.image_size = 33).contains("patch_size 2 does not divide image_size 33"));
    assert!(bad(&|c| c.num_heads[1] = 3).contains("num_heads[1] = 3 does not divide"));
    assert!(bad(&|c| c.num_heads.pop().map(drop).unwrap_or(())).contains("head counts"));
    assert!(bad(&|c| c.depths[2] = 0).contains("depths[2] = 0"));
    assert!(bad(&|c| c.mlp_ratio = f64::NAN).contains("mlp_ratio"));
    assert!(bad(&|c| c.embed_dim = usize::MAX / 2).contains("outside"));
    let (_, m) = swin();
    let x = Tensor::zeros((1, 3, 28, 28), candle_core::DType::F32, &Device::Cpu).unwrap();
    let e = m.logits(&x).expect_err("wrong size").to_string();
    assert!(e.contains("expects [N, 3, 32, 32]"), "{e}");
}

/// The full-size presets against timm, on weights too large to ship:
/// `scripts/parity/timm_more.py --full DIR` writes them (timm's own random
/// initialisation, 10 classes), then
/// `SALIENCE_TIMM_FULL=DIR cargo test -p salience-models --test timm_more -- --ignored`.
#[test]
#[ignore = "needs SALIENCE_TIMM_FULL (scripts/parity/timm_more.py --full DIR)"]
fn full_size_presets_match_timm() {
    let dir = std::env::var("SALIENCE_TIMM_FULL").expect("SALIENCE_TIMM_FULL");
    let load = |name: &str| -> (Json, Vec<u8>) {
        let j = json::read(&format!("{dir}/{name}.json"));
        let w = std::fs::read(format!("{dir}/{name}.safetensors")).expect("weights");
        (j, w)
    };
    let check = |name: &str, j: &Json, m: &dyn Classifier| {
        let logits = to_array(&m.logits(&tensor(&j.f32_array("x"))).expect("logits"));
        let d = rel_diff(&logits, &j.f32_array("logits"));
        eprintln!("{name}: logits vs timm {d:.2e}");
        assert!(d < 1e-4, "{name}: logits vs timm {d:.2e}");
    };
    let dev = Device::Cpu;
    for (name, cfg) in [
        (
            "deit_tiny_patch16_224",
            VitConfig::timm_deit_tiny_patch16_224(10),
        ),
        (
            "deit_tiny_distilled_patch16_224",
            VitConfig::timm_deit_tiny_distilled_patch16_224(10),
        ),
    ] {
        let (j, w) = load(name);
        let m = VisionTransformer::from_safetensors_bytes(&w, &cfg, name, &dev).expect("load");
        check(name, &j, &m);
    }
    let name = "mixer_b16_224";
    let (j, w) = load(name);
    let cfg = MixerConfig::timm_mixer_b16_224(10);
    check(
        name,
        &j,
        &MlpMixer::from_safetensors_bytes(&w, &cfg, name, &dev).expect("load"),
    );
    let name = "swin_tiny_patch4_window7_224";
    let (j, w) = load(name);
    let cfg = SwinConfig::timm_swin_tiny_patch4_window7_224(10);
    check(
        name,
        &j,
        &SwinTransformer::from_safetensors_bytes(&w, &cfg, name, &dev).expect("load"),
    );
}

/// Hugging Face `transformers` names (`scripts/parity/hf_fixtures.py`):
/// a tiny `DeiTForImageClassificationWithTeacher` and a tiny
/// `SwinForImageClassification`, each saved with the hub checkpoints'
/// names and with transformers 5's, load into the timm-layout models and
/// give transformers' logits and input gradients.
#[test]
fn hugging_face_deit_and_swin_load_by_their_names() {
    let dir = format!("{}/tests/fixtures/hf", env!("CARGO_MANIFEST_DIR"));
    let read = |f: &str| std::fs::read(format!("{dir}/{f}")).expect("fixture");
    /// Logits (1e-5 relative) and the input gradient (1e-4) vs transformers.
    fn check<M: Classifier>(name: &str, j: &Json, m: &M) {
        let x = j.f32_array("x");
        let logits = to_array(&m.logits(&tensor(&x)).expect("logits"));
        let d = rel_diff(&logits, &j.f32_array("logits"));
        eprintln!("{name}: logits vs transformers {d:.2e}");
        assert!(d <= 1e-5, "{name}: logits vs transformers {d:.2e}");
        let g = Saliency::new(m)
            .explain(x.view(), &targets(j), Seeds::base(0))
            .expect("saliency");
        let d = rel_diff(&g.view().to_owned(), &j.f32_array("input_gradient"));
        eprintln!("{name}: input gradient vs PyTorch {d:.2e}");
        assert!(d <= 1e-4, "{name}: input gradient {d:.2e}");
    }
    let j = json::read(&format!("{dir}/deit_hf.json"));
    let c = VitConfig {
        qkv_bias: true,
        ..deit_config(&j)
    };
    for names in ["hub", "v5"] {
        let w = read(&format!("deit_hf.{names}.safetensors"));
        let m = VisionTransformer::from_hf_safetensors_bytes(&w, &c, names, &Device::Cpu)
            .expect("transformers' DeiT names");
        check(&format!("deit ({names} names)"), &j, &m);
    }
    // A DeiT without its distillation head is named, not silently wrong.
    let w = read("deit_hf.hub.safetensors");
    let token = VitConfig {
        pool: VitPool::Token,
        ..c.clone()
    };
    let e = VisionTransformer::from_hf_safetensors_bytes(&w, &token, "deit", &Device::Cpu)
        .expect_err("a distilled checkpoint on a class-token config")
        .to_string();
    assert!(e.contains("dist_token") && e.contains("head_dist"), "{e}");

    let j = json::read(&format!("{dir}/swin_hf.json"));
    let c = swin_config(&j);
    for names in ["hub", "v5"] {
        let w = read(&format!("swin_hf.{names}.safetensors"));
        let m = SwinTransformer::from_hf_safetensors_bytes(&w, &c, names, &Device::Cpu)
            .expect("transformers' Swin names");
        check(&format!("swin ({names} names)"), &j, &m);
    }
    // timm's own names pass through the renaming unchanged.
    let timm_names = SwinTransformer::from_hf_safetensors_bytes(
        SWIN,
        &swin_config(&fixture("swin")),
        "timm",
        &Device::Cpu,
    );
    assert!(timm_names.is_ok());
    // Wrong shapes are named.
    let e = SwinTransformer::from_hf_safetensors_bytes(
        &read("swin_hf.hub.safetensors"),
        &SwinConfig { embed_dim: 16, ..c },
        "swin_hf",
        &Device::Cpu,
    )
    .expect_err("other widths")
    .to_string();
    assert!(
        e.contains("patch_embed.norm.weight is F32 [8], expected F32 [16]"),
        "{e}"
    );
}
