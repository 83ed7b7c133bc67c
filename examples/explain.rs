//! The main job on your own data: explain a model's predictions on image
//! files with a panel of methods, aggregate them, score everything, and
//! write labelled heatmaps, overlays, per-image scores and a report.
//!
//! ```text
//! cargo run --release --example explain -- \
//!     --arch resnet18 --weights resnet18.safetensors --images photos/ \
//!     [--panel "saliency;integrated_gradients:n_steps=32;grad_cam:layer=layer4"] \
//!     [--config run.json] [--target predicted|<class>] [--out target/explain] [--max-images 64]
//! ```
//!
//! * `--arch`: `resnet18`, `resnet50`, `vgg11`, `vgg16`, `alexnet`,
//!   `mobilenet_v2`, `densenet121` (torchvision names), `vit_tiny`,
//!   `vit_small`, `deit_tiny`, `deit_small`, `deit_tiny_distilled`,
//!   `deit_small_distilled`, `mixer_b16`, `swin_tiny` (timm names),
//!   `vit_base_hf` (Hugging Face `transformers` names), all 224², 1000
//!   classes, with `--weights` a safetensors file
//!   (a torchvision / timm `state_dict` saved as it is; mismatched weights
//!   are listed by name: missing, unexpected, wrongly shaped); or the
//!   shipped `small_cnn` / `vit_fashion` (Fashion-MNIST, 28² gray, no
//!   `--weights` needed).
//! * `--images`: files and/or folders of PNG / JPEG files (any size and
//!   mode); ImageNet models get torchvision's evaluation transform (resize
//!   256, centre crop 224, ImageNet mean / std), the shipped models a gray
//!   28² resize.
//! * `--panel`: explainer specs (`name:key=value,...`) separated by `;` or
//!   new lines (default: Saliency, IG, SmoothGrad, Grad-CAM at the last
//!   stage, Occlusion; plus attention rollout for ViTs / DeiTs; `attnlrp` and
//!   `cp_lrp` are available for them too).
//! * `--config`: a JSON [`PipelineConfig`] (aggregators, Decker et al.'s
//!   budgets, metric budgets, seed); default: the papers' budgets. With
//!   `--quick` the smallest budgets (a smoke run).
//!
//! Output (only inside `--out`): `grid_XXX.png`, `overlay_XXX.png`,
//! `scores.csv`, `config.json`, `report.md`.

use common::{argmax, progress_bar};
use ndarray::{Array4, Axis};
use salience::core::{ChannelReduction, Model, PixelMaps};
use salience::datasets::{fashion_mnist, imagenet, load_image, ColorMode, ImageFolder};
use salience::datasets::{ImageTransform, LoadOptions};
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{CandleModel, LayerSplit};
use salience::models::assets;
use salience::models::{
    DenseNet, DenseNetConfig, FeatureCnn, FeatureCnnConfig, MixerConfig, MlpMixer, MobileNetV2,
    MobileNetV2Config, ResNet, ResNetConfig, SwinConfig, SwinTransformer, VisionTransformer,
    VitConfig,
};
use salience::report::render::{gray_image, rgb_image, RgbImage};
use salience::report::{run, write_run, PipelineConfig, ReportText};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage: explain --arch ARCH [--weights FILE] --images PATH... \
[--panel SPECS] [--config FILE.json] [--quick] [--target predicted|CLASS] [--out DIR] [--max-images N]
ARCH (with --weights): resnet18 resnet50 vgg11 vgg16 alexnet mobilenet_v2 densenet121 (torchvision names);
  vit_tiny vit_small deit_tiny deit_small deit_tiny_distilled deit_small_distilled mixer_b16 swin_tiny (timm names);
  vit_base_hf (Hugging Face names); shipped, no weights: small_cnn vit_fashion";

/// The command line.
struct Args {
    arch: String,
    weights: Option<PathBuf>,
    images: Vec<PathBuf>,
    panel: Option<String>,
    config: PipelineConfig,
    target: Option<usize>,
    out: PathBuf,
    max_images: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        arch: String::new(),
        weights: None,
        images: Vec::new(),
        panel: None,
        config: PipelineConfig::default(),
        target: None,
        out: "target/explain".into(),
        max_images: 64,
    };
    let mut it = std::env::args().skip(1).peekable();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--arch" => a.arch = value()?,
            "--weights" => a.weights = Some(value()?.into()),
            "--panel" => a.panel = Some(value()?),
            "--config" => a.config = serde_json::from_str(&std::fs::read_to_string(value()?)?)?,
            "--quick" => a.config = PipelineConfig::tiny(),
            "--target" => {
                a.target = match value()?.as_str() {
                    "predicted" => None,
                    c => Some(
                        c.parse()
                            .map_err(|_| format!("--target: `{c}` is not a class index"))?,
                    ),
                }
            }
            "--out" => a.out = value()?.into(),
            "--max-images" => a.max_images = value()?.parse()?,
            "--images" => {
                a.images.push(value()?.into());
                while let Some(p) = it.next_if(|p| !p.starts_with("--")) {
                    a.images.push(p.into());
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    if a.arch.is_empty() || a.images.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    let dev = candle_core::Device::Cpu;
    let weights = || -> Result<(Vec<u8>, String)> {
        let p = args
            .weights
            .as_ref()
            .ok_or(format!("--arch {} needs --weights", args.arch))?;
        Ok((std::fs::read(p)?, p.display().to_string()))
    };
    // A torchvision / timm model from its weights file: `load!(Type, config)`.
    macro_rules! load {
        ($ty:ident, $cfg:expr) => {{
            let (bytes, name) = weights()?;
            Arc::new($ty::from_safetensors_bytes(&bytes, &$cfg, &name, &dev)?)
        }};
    }
    let vit = |cfg: VitConfig| -> Result<Arc<VisionTransformer>> {
        let (bytes, name) = weights()?;
        Ok(Arc::new(if args.arch == "vit_base_hf" {
            VisionTransformer::from_hf_safetensors_bytes(&bytes, &cfg, &name, &dev)?
        } else {
            VisionTransformer::from_safetensors_bytes(&bytes, &cfg, &name, &dev)?
        }))
    };
    let attention = || {
        Registry::with_builtins()
            .with_attention()
            .with_attention_lrp()
    };
    match args.arch.as_str() {
        "small_cnn" => explain(
            &args,
            Arc::new(assets::small_cnn(&dev)?),
            Registry::with_builtins(),
        ),
        "vit_fashion" => explain(&args, Arc::new(assets::vit_fashion(&dev)?), attention()),
        "resnet18" => explain(
            &args,
            load!(ResNet, ResNetConfig::resnet18(1000)),
            Registry::with_builtins(),
        ),
        "resnet50" => explain(
            &args,
            load!(ResNet, ResNetConfig::resnet50(1000)),
            Registry::with_builtins(),
        ),
        "vgg11" => explain(
            &args,
            load!(FeatureCnn, FeatureCnnConfig::vgg11(1000)),
            Registry::with_builtins(),
        ),
        "vgg16" => explain(
            &args,
            load!(FeatureCnn, FeatureCnnConfig::vgg16(1000)),
            Registry::with_builtins(),
        ),
        "alexnet" => explain(
            &args,
            load!(FeatureCnn, FeatureCnnConfig::alexnet(1000)),
            Registry::with_builtins(),
        ),
        "mobilenet_v2" => explain(
            &args,
            load!(MobileNetV2, MobileNetV2Config::mobilenet_v2(1000)),
            Registry::with_builtins(),
        ),
        "densenet121" => explain(
            &args,
            load!(DenseNet, DenseNetConfig::densenet121(1000)),
            Registry::with_builtins(),
        ),
        "mixer_b16" => explain(
            &args,
            load!(MlpMixer, MixerConfig::timm_mixer_b16_224(1000)),
            MlpMixer::registry(),
        ),
        "swin_tiny" => explain(
            &args,
            load!(
                SwinTransformer,
                SwinConfig::timm_swin_tiny_patch4_window7_224(1000)
            ),
            SwinTransformer::registry(),
        ),
        "vit_tiny" => explain(
            &args,
            vit(VitConfig::timm_vit_tiny_patch16_224(1000))?,
            attention(),
        ),
        "vit_small" => explain(
            &args,
            vit(VitConfig::timm_vit_small_patch16_224(1000))?,
            attention(),
        ),
        "vit_base_hf" => explain(
            &args,
            vit(VitConfig::hf_vit_base_patch16_224(1000))?,
            attention(),
        ),
        "deit_tiny" => explain(
            &args,
            vit(VitConfig::timm_deit_tiny_patch16_224(1000))?,
            attention(),
        ),
        "deit_small" => explain(
            &args,
            vit(VitConfig::timm_deit_small_patch16_224(1000))?,
            attention(),
        ),
        "deit_tiny_distilled" => explain(
            &args,
            vit(VitConfig::timm_deit_tiny_distilled_patch16_224(1000))?,
            attention(),
        ),
        "deit_small_distilled" => explain(
            &args,
            vit(VitConfig::timm_deit_small_distilled_patch16_224(1000))?,
            attention(),
        ),
        other => Err(format!("unknown --arch `{other}`\n{USAGE}").into()),
    }
}

/// The input transform, channel mode and class names of a model with
/// `classes` outputs (1000: ImageNet; else the shipped 28² gray models).
fn data_for(classes: usize) -> (ImageTransform, ColorMode, Vec<String>) {
    if classes == 1000 {
        let names = imagenet::imagenet_class_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        (
            ImageTransform::torchvision_imagenet(),
            ColorMode::Rgb,
            names,
        )
    } else {
        let t = ImageTransform {
            resize_shorter: Some(28),
            center_crop: Some([28, 28]),
            ..ImageTransform::identity()
        };
        (
            t,
            ColorMode::Gray,
            fashion_mnist::CLASS_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }
}

/// Every image file named by `paths` (folders listed, sorted), at most `max`.
fn image_files(paths: &[PathBuf], options: &LoadOptions, max: usize) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(
                ImageFolder::open(p, options.clone())?
                    .files()
                    .iter()
                    .cloned(),
            );
        } else {
            files.push(p.clone());
        }
    }
    if files.len() > max {
        eprintln!(
            "explaining the first {max} of {} images (--max-images)",
            files.len()
        );
        files.truncate(max);
    }
    Ok(files)
}

/// The last stage a CAM can read (a conv stage or a transformer block).
/// With a class token the last block's patch tokens get no gradient (only
/// the class token is read after it), so the block before it is used, the
/// output pytorch-grad-cam's ViT recipe reads (`blocks[-1].norm1`).
fn cam_layer<M: LayerSplit>(model: &M) -> Option<String> {
    let names = model.layer_names();
    let cams: Vec<&String> = (names.iter())
        .filter(|n| {
            ["layer", "blocks.", "conv", "features."]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    let last = cams.last()?;
    let class_token = model.token_grid(last).is_some_and(|g| g.prefix > 0);
    match (class_token, cams.len()) {
        (true, k) if k >= 2 => Some(cams[k - 2].to_string()),
        _ => Some(last.to_string()),
    }
}

fn explain<M: LayerSplit + 'static>(
    args: &Args,
    model: Arc<M>,
    registry: Registry<M>,
) -> Result<()> {
    let (transform, color, classes) = data_for(model.num_classes());
    let options = LoadOptions {
        color,
        ..LoadOptions::default()
    };
    let files = image_files(&args.images, &options, args.max_images)?;
    let images = files
        .iter()
        .map(|f| Ok(transform.apply(load_image(f, &options)?.view())?))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = images.iter().map(|x| x.view()).collect();
    let x: Array4<f32> = ndarray::stack(Axis(0), &views)?;
    let classifier = CandleModel::new(model.clone());
    let logits = classifier.forward(x.view().into_dyn())?;
    let targets: Vec<usize> = match args.target {
        Some(t) => vec![t; files.len()],
        None => logits
            .outer_iter()
            .map(|row| argmax(row.iter().copied()))
            .collect(),
    };
    // Attention rollout where the model has global attention (a ViT; Swin's
    // and Mixer's registries refuse it with the reason).
    let rollout = ExplainerSpec::new("attention_rollout")
        .ok()
        .filter(|spec| registry.build(spec, &model).is_ok())
        .map_or("", |_| "attention_rollout\n");
    let default_panel = format!(
        "saliency\nintegrated_gradients:n_steps=32\nsmoothgrad:n_samples=16,sigma=0.15\n{}occlusion:window={},stride={}\n{}",
        cam_layer(&*model).map_or(String::new(), |l| format!("grad_cam:layer={l}\n")),
        x.shape()[2] / 14,
        x.shape()[2] / 28,
        rollout,
    );
    let specs = ExplainerSpec::parse_list(
        &args
            .panel
            .as_deref()
            .unwrap_or(&default_panel)
            .replace(';', "\n"),
    )?;
    let panel: Vec<_> = registry
        .build_panel(&specs, &model)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let bar = progress_bar(args.config.n_steps(panel.len())? as u64)?;
    let ids: Vec<u64> = (0..files.len() as u64).collect();
    let result = run(
        &classifier,
        &panel,
        x.view().into_dyn(),
        &targets,
        &ids,
        &args.config,
        &mut |s| {
            bar.set_position(s.done as u64);
            bar.set_message(s.message);
        },
    )?;
    bar.finish_and_clear();
    let display = transform
        .denormalize(x.view().into_dyn())?
        .mapv(|v| v.clamp(0.0, 1.0));
    let pictures = display
        .outer_iter()
        .map(|img| match img.shape()[0] {
            1 => Ok(gray_image(
                img.index_axis(Axis(0), 0).into_dimensionality()?,
            )?),
            _ => Ok(rgb_image(img.into_dimensionality()?)?),
        })
        .collect::<Result<Vec<RgbImage>>>()?;
    let label = |c: usize| {
        classes
            .get(c)
            .map_or(format!("class {c}"), |n| format!("{n} ({c})"))
    };
    let text = ReportText {
        title: format!("salience: {} on {} images", args.arch, files.len()),
        description: format!(
            "Model `{}`{}; each image's {} class is explained. Images: {}.",
            args.arch,
            args.weights
                .as_ref()
                .map_or(" (shipped weights)".into(), |w| format!(
                    " with weights `{}`",
                    w.display()
                )),
            if args.target.is_some() {
                "given"
            } else {
                "predicted"
            },
            files
                .iter()
                .map(|f| format!("`{}`", file_name(f)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        image_labels: files
            .iter()
            .zip(&targets)
            .map(|(f, &t)| format!("{}: {}", file_name(f), label(t)))
            .collect(),
        specs: specs.iter().map(|s| s.to_string()).collect(),
    };
    let written = write_run(&result, &args.out, &pictures, &text)?;
    println!("{}", result.table.to_text(4)?);
    println!(
        "wrote {} pictures and {:?} to {}",
        written.pictures.len(),
        written.documents,
        args.out.display()
    );
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
