//! The salience side of the same-run comparison with PyTorch + Captum
//! (issues 21 and 26); the PyTorch side is `benches/torch_side_by_side.py`
//! and `benches/side_by_side.sh` runs both, alternating row by row.
//!
//! ```text
//! cargo build --release --example side_by_side
//! side_by_side check MODEL [--maps ROWS] [--dir D]
//! side_by_side row MODEL ROW [--reps R] [--warmup W] [--dir D]
//! ```
//!
//! `MODEL` is `cnn` (the shipped small CNN, 64 × 1×28×28), `resnet18`
//! (torchvision's ResNet-18 layout, 4 × 3×224×224), `vit_tiny` (timm's
//! `vit_tiny_patch16_224`, 4 × 3×224×224) or `resnet50` (torchvision's
//! ResNet-50 layout); `ROW` is `forward`, `fwd_bwd`,
//! `saliency`, `ig50`, `smoothgrad50`, `gradcam` or `occlusion`.
//! `D` (default `target/side_by_side`) holds what
//! `torch_side_by_side.py prepare` wrote: the ResNet-18 and ViT weights
//! (`MODEL.safetensors`; the CNN's are the shipped asset, the file the
//! Python side reads), the inputs `MODEL_x.npy`, the targets
//! `MODEL_targets.npy` (float32 class indices) and PyTorch's logits
//! `MODEL_logits_torch.npy`.
//!
//! Every command first computes the logits of the inputs and compares them
//! with PyTorch's (max |a − b| / max |b| ≤ 1e-4, else exit status 2);
//! `check` also writes them to `MODEL_logits_salience.npy`, which the
//! Python side compares in turn; with `--maps "gradcam occlusion"` it also
//! writes those rows' maps, `MODEL_ROW_salience.npy` (Grad-CAM on every
//! input, Occlusion on the first input only: one input's 170 forward
//! passes at 224²), for the Python side's map check. A `row` then runs `W` untimed warm-up
//! calls (default 1) and `R` timed ones (default 3) and prints one
//! tab-separated line: `RESULT`, `salience`, model, row, median / min / max
//! seconds, R, the RSS before the row (MB) and the peak RSS of the process
//! during the row (VmHWM after resetting it through /proc/self/clear_refs,
//! MB).
//!
//! The configurations match the Python side's: Saliency |∇|;
//! IG 50 Gauss–Legendre steps from a zero baseline, 64 path points per pass
//! on the CNN and 16 at 224²; SmoothGrad of the signed gradient, 50 draws,
//! absolute σ = 0.15, the same chunks; Grad-CAM with ReLU at `conv2` /
//! `layer4`, upsampled bilinearly to the input (Captum's `LayerGradCam`);
//! on ViT-tiny at `blocks.10` (the last block's input: the class token
//! dropped, 196 tokens on the 14 × 14 grid; at the last block's output
//! only the class token reaches the logits, so the map would be 0), as
//! pytorch-grad-cam's `GradCAM` with the ViT reshape transform at
//! `blocks[-2]` (its documented `blocks[-1].norm1` is the LayerNorm of
//! this tensor, not a layer salience splits at; the Python side's check
//! prints how the two compare); salience does not min-max scale the map,
//! pytorch-grad-cam does. Occlusion with a zero baseline: on the CNN a 4×4
//! window, stride 2, 64 model inputs per call; at 224² a 32×32 window over
//! all channels, stride 16 (13 × 13 = 169 positions), 16 model inputs per
//! call (Captum's `perturbations_per_eval` = 4 on the 4-input batch).
//! Threads: `RAYON_NUM_THREADS`.

use candle_core::{Device, Tensor, Var};
use ndarray::ArrayD;
use salience::core::npy;
use salience::explain::{
    CandleModel, Classifier, GradCam, GradCamConfig, IntegratedGradients,
    IntegratedGradientsConfig, LayerSplit, NoiseScale, NoiseTunnel, NoiseTunnelConfig, Saliency,
    SaliencyConfig,
};
use salience::models::{ResNet, ResNetConfig, SmallCnn, VisionTransformer, VitConfig};
use salience::perturb::{Occlusion, OcclusionConfig};
use salience::{Explainer, Seeds};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error>>;

const MODELS: [&str; 4] = ["cnn", "resnet18", "vit_tiny", "resnet50"];
const ROWS: [&str; 7] = [
    "forward",
    "fwd_bwd",
    "saliency",
    "ig50",
    "smoothgrad50",
    "gradcam",
    "occlusion",
];
/// Rows whose maps `check --maps` writes.
const MAP_ROWS: [&str; 2] = ["gradcam", "occlusion"];
const LOGIT_TOL: f32 = 1e-4;
const SIGMA: f32 = 0.15;

trait ClfSplit: Classifier + LayerSplit {}
impl<T: Classifier + LayerSplit> ClfSplit for T {}

/// A model with its inputs, targets and run settings.
struct Setup {
    name: String,
    model: Box<dyn ClfSplit>,
    x: Tensor,
    xs: ArrayD<f32>,
    targets: Vec<usize>,
    /// Path points / noisy inputs per pass (IG, SmoothGrad).
    chunk: usize,
    /// Grad-CAM layer.
    cam_layer: &'static str,
    /// Occlusion window side and stride (square, all channels).
    occlusion: (usize, usize),
}

fn load(dir: &Path, name: &str) -> Res<Setup> {
    let dev = Device::Cpu;
    let read = |p: &str| std::fs::read(dir.join(p));
    let (model, chunk, cam_layer): (Box<dyn ClfSplit>, usize, &'static str) = match name {
        "cnn" => (
            Box::new(SmallCnn::from_safetensors_bytes(
                salience::models::assets::SMALL_CNN_SAFETENSORS,
                "small_cnn.safetensors",
                &dev,
            )?),
            64,
            "conv2",
        ),
        "resnet18" | "resnet50" => {
            let cfg = if name == "resnet18" {
                ResNetConfig::resnet18(1000)
            } else {
                ResNetConfig::resnet50(1000)
            };
            let file = format!("{name}.safetensors");
            let m = ResNet::from_safetensors_bytes(&read(&file)?, &cfg, &file, &dev)?;
            (Box::new(m), 16, "layer4")
        }
        "vit_tiny" => (
            Box::new(VisionTransformer::from_safetensors_bytes(
                &read("vit_tiny.safetensors")?,
                &VitConfig::timm_vit_tiny_patch16_224(1000),
                "vit_tiny.safetensors",
                &dev,
            )?),
            16,
            "blocks.10",
        ),
        _ => return Err(format!("unknown model {name:?}; one of {MODELS:?}").into()),
    };
    let xs = npy::read_array(dir.join(format!("{name}_x.npy")))?;
    let targets = npy::read_array(dir.join(format!("{name}_targets.npy")))?
        .iter()
        .map(|&t| t as usize)
        .collect::<Vec<_>>();
    if targets.len() != xs.shape()[0] {
        return Err(format!("{} targets for {} inputs", targets.len(), xs.shape()[0]).into());
    }
    let x = Tensor::from_vec(xs.iter().copied().collect::<Vec<_>>(), xs.shape(), &dev)?;
    Ok(Setup {
        name: name.to_string(),
        model,
        x,
        xs,
        targets,
        chunk,
        cam_layer,
        occlusion: if name == "cnn" { (4, 2) } else { (32, 16) },
    })
}

/// Compares the logits with PyTorch's; writes them when `write` is set.
fn check_logits(s: &Setup, dir: &Path, write: bool) -> Res<()> {
    let logits = s.model.logits(&s.x)?;
    let ours: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let theirs = npy::read_array(dir.join(format!("{}_logits_torch.npy", s.name)))?;
    if theirs.len() != ours.len() {
        return Err(format!("{} PyTorch logits, {} here", theirs.len(), ours.len()).into());
    }
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let diff = ours
        .iter()
        .zip(theirs.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let rel = diff / scale;
    let ok = rel <= LOGIT_TOL;
    println!(
        "logit check {}: salience vs PyTorch: max|diff|/max|ref| = {rel:.2e} ({})",
        s.name,
        if ok { "ok" } else { "FAILED" }
    );
    if !ok {
        std::process::exit(2);
    }
    if write {
        let path = dir.join(format!("{}_logits_salience.npy", s.name));
        let a = ArrayD::from_shape_vec(ndarray::IxDyn(logits.dims()), ours)?;
        npy::write_array(&path, &a)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `/proc/self/status` field in MB (NaN when unreadable).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .filter_map(|l| l.strip_prefix(field))
        .filter_map(|l| l.strip_prefix(':'))
        .find_map(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.map_or(f64::NAN, |k| k / 1024.0)
}

type Job<'a> = Box<dyn Fn() -> Res<()> + 'a>;

/// The work of one row, as a closure run once per repetition.
fn job<'a>(s: &'a Setup, row: &str) -> Res<Job<'a>> {
    let m: &dyn ClfSplit = s.model.as_ref();
    let n = s.targets.len();
    let explain = |e: Box<dyn Explainer + 'a>| explained(s, e);
    let f: Job<'a> = match row {
        "forward" => Box::new(move || {
            m.logits(&s.x)?;
            Ok(())
        }),
        "fwd_bwd" => {
            let idx: Vec<u32> = s.targets.iter().map(|&t| t as u32).collect();
            let idx = Tensor::from_vec(idx, (n, 1), &Device::Cpu)?;
            Box::new(move || {
                let v = Var::from_tensor(&s.x)?;
                let g = m
                    .logits(v.as_tensor())?
                    .gather(&idx, 1)?
                    .sum_all()?
                    .backward()?;
                match g.get(v.as_tensor()) {
                    Some(_) => Ok(()),
                    None => Err("no input gradient".into()),
                }
            })
        }
        "saliency" => explain(Box::new(Saliency::with_config(
            m,
            SaliencyConfig {
                abs: true,
                batch_size: salience::BatchSize::fixed(n)?,
            },
        ))),
        "ig50" => explain(Box::new(IntegratedGradients::with_config(
            m,
            IntegratedGradientsConfig {
                batch_size: salience::BatchSize::fixed(s.chunk)?,
                ..IntegratedGradientsConfig::captum()
            },
        ))),
        "smoothgrad50" => explain(Box::new(NoiseTunnel::new(
            Saliency::with_config(
                m,
                SaliencyConfig {
                    abs: false,
                    batch_size: salience::BatchSize::fixed(s.chunk)?,
                },
            ),
            NoiseTunnelConfig {
                n_samples: 50,
                noise: NoiseScale::Absolute(SIGMA),
                batch_size: salience::BatchSize::fixed(s.chunk)?,
                ..NoiseTunnelConfig::default()
            },
        ))),
        "gradcam" | "occlusion" => explain(map_explainer(s, row)?),
        _ => return Err(format!("row {row:?} is not run for {}", s.name).into()),
    };
    Ok(f)
}

/// The explainer of a map row (`gradcam`, `occlusion`).
fn map_explainer<'a>(s: &'a Setup, row: &str) -> Res<Box<dyn Explainer + 'a>> {
    let m: &dyn ClfSplit = s.model.as_ref();
    Ok(match row {
        "gradcam" => Box::new(GradCam::with_config(
            m,
            GradCamConfig {
                batch_size: salience::BatchSize::fixed(s.targets.len())?,
                ..GradCamConfig::new(s.cam_layer)
            },
        )),
        "occlusion" => Box::new(Occlusion::with_config(
            CandleModel::new(m).with_batch_size(s.chunk)?,
            OcclusionConfig {
                batch_size: salience::BatchSize::fixed(s.chunk)?,
                ..OcclusionConfig::square(s.occlusion.0, s.occlusion.1)
            },
        )),
        _ => return Err(format!("row {row:?} has no map").into()),
    })
}

/// Writes the maps of the `rows` among [`MAP_ROWS`] to
/// `MODEL_ROW_salience.npy`: Grad-CAM on every input, Occlusion on the
/// first input only.
fn write_maps(s: &Setup, dir: &Path, rows: &str) -> Res<()> {
    for r in rows.split_whitespace().filter(|r| MAP_ROWS.contains(r)) {
        let k = if r == "occlusion" { 1 } else { s.targets.len() };
        let x =
            s.xs.slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..k));
        let t0 = Instant::now();
        let a = map_explainer(s, r)?.explain(x, &s.targets[..k], Seeds::base(0))?;
        let path = dir.join(format!("{}_{r}_salience.npy", s.name));
        npy::write_array(&path, &a.into_inner())?;
        println!(
            "wrote {} ({k} inputs, {:.1} s)",
            path.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// One `explain` call of `e` on the setup's inputs and targets.
fn explained<'a>(s: &'a Setup, e: Box<dyn Explainer + 'a>) -> Job<'a> {
    Box::new(move || {
        e.explain(s.xs.view(), &s.targets, Seeds::base(0))?;
        Ok(())
    })
}

fn row(s: &Setup, row: &str, reps: usize, warmup: usize) -> Res<()> {
    let f = job(s, row)?;
    let before = status_mb("VmRSS");
    // "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
    std::fs::write("/proc/self/clear_refs", "5")?;
    for _ in 0..warmup {
        f()?;
    }
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64());
    }
    let peak = status_mb("VmHWM");
    t.sort_by(f64::total_cmp);
    println!(
        "RESULT\tsalience\t{}\t{row}\t{:.6}\t{:.6}\t{:.6}\t{reps}\t{before:.1}\t{peak:.1}",
        s.name,
        t[t.len() / 2],
        t[0],
        t[t.len() - 1]
    );
    Ok(())
}

fn main() -> Res<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = PathBuf::from("target/side_by_side");
    let (mut reps, mut warmup) = (3usize, 1usize);
    let mut maps = String::new();
    let mut pos = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = PathBuf::from(value()?),
            "--reps" => reps = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--maps" => maps = value()?.clone(),
            _ => pos.push(a.as_str()),
        }
    }
    if reps == 0 {
        return Err("--reps must be >= 1".into());
    }
    let usage = || {
        format!("usage: side_by_side check MODEL [--maps ROWS] | row MODEL ROW [--reps R] [--warmup W] [--dir D]; MODEL in {MODELS:?}, ROW in {ROWS:?}")
    };
    match pos.as_slice() {
        ["check", name] => {
            let s = load(&dir, name)?;
            check_logits(&s, &dir, true)?;
            write_maps(&s, &dir, &maps)
        }
        ["row", name, r] if ROWS.contains(r) => {
            let s = load(&dir, name)?;
            check_logits(&s, &dir, false)?;
            row(&s, r, reps, warmup)
        }
        _ => Err(usage().into()),
    }
}
