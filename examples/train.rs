//! Trains the models shipped in `crates/salience-models/assets/` on the CPU
//! and writes the shipped data samples (`crates/salience-datasets/assets/`).
//! Needs Fashion-MNIST (Debian package `dataset-fashion-mnist`, or `SALIENCE_FASHION_MNIST=<dir>`).
//!
//! ```text
//! cargo run --release --example train -- cnn     [--epochs 3] [--seed 0] [--lr 2e-3] [--max-seconds S] [--init PATH] [--out PATH]
//!                                                  [--limit N] [--permute-labels SEED] [--batch 128] [--schedule cosine|constant]
//!                                                  [--weight-decay 1e-4] [--target-train-accuracy A]
//! cargo run --release --example train -- vit     [--epochs 3] [--seed 0] [--lr 1e-3] [--max-seconds S] [--init PATH] [--out PATH] [--limit N]  (VitConfig::fashion_mnist())
//! cargo run --release --example train -- resnet  [--epochs 4] [--train-images 20000] [--test-images 5000] [--seed 0] [--lr 3e-3] [--easy 1] [--max-seconds S] [--init PATH [--grow 1]] [--out PATH]
//!                                                  [--widths 16,32,64] [--blocks 1,1,3] [--stem-channels 16] [--stem-stride 2] [--stem-pool 1]  (ResNetConfig::small() by default)
//! cargo run --release --example train -- vgg     (the resnet options but the architecture's)  (FeatureCnnConfig::small_vgg(); --out crates/salience-models/assets/vgg_small_loc.safetensors)
//! cargo run --release --example train -- samples [--easy 1] [--out-dir crates/salience-datasets/assets]
//! ```
//!
//! `--permute-labels SEED` trains on randomly permuted labels (Adebayo et
//! al.'s data randomization test): the labels of the training images used
//! (the first `--limit` ones) are shuffled across the images with a
//! permutation seeded by SEED; the training accuracy is reported against
//! the permuted labels, the test accuracy against the true ones (≈ 10 %).
//! To memorise them (Zhang et al. 2017; Adebayo et al. 2018 fit theirs
//! fully) train long at a constant learning rate without weight decay:
//! `--schedule constant --weight-decay 0 --target-train-accuracy 0.995`
//! stops at the first epoch after which the inference-mode accuracy on
//! the (permuted) training labels reaches 99.5 %.
//!
//! `--init PATH --grow 1` deepens a trained net: the architecture may have
//! more blocks than the saved one; saved tensors are loaded, new ones keep
//! their seeded initialisation, and each new block's `bn2.weight` is zero,
//! so every new residual block starts as the identity (docs/data.md).
//!
//! Everything is seeded: weights start from `salience_models::init`
//! (never candle's RNG), shuffling and generated images from
//! `salience_core::seed`.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use salience::core::seed::{derive_seed, rng};
use salience::datasets::assets::{
    FASHION_SAMPLE_LEN, LOCALIZATION_SAMPLE_LEN, LOCALIZATION_SAMPLE_SEED,
};
use salience::datasets::fashion_mnist::{load_default, Split};
use salience::datasets::{GrayImages, LocalizationConfig, LocalizationGenerator};
use salience::explain::Classifier;
use salience::models::assets::{RESNET_TEST_SEED, RESNET_TRAIN_SEED};
use salience::models::init::reseed_varmap;
use salience::models::{
    FeatureCnn, FeatureCnnConfig, ResNet, ResNetConfig, SmallCnn, VisionTransformer, VitConfig,
};
use std::collections::HashMap;
use std::time::Instant;

mod common;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Res<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("cnn") => train_cnn(&args),
        Some("vit") => train_vit(&args),
        Some("resnet") => train_resnet(&args),
        Some("vgg") => train_vgg(&args),
        Some("samples") => samples(&args),
        _ => {
            eprintln!(
                "usage: train (cnn | vit | resnet | vgg | samples) [options]; see the source header"
            );
            Ok(())
        }
    }
}

/// Images `idx` of a grey set as a `[b, 1, h, w]` tensor in [0, 1] and
/// their labels as u32.
fn gray_batch(set: &GrayImages, idx: &[usize], dev: &Device) -> Res<(Tensor, Tensor)> {
    let (_, h, w) = set.images.dim();
    let mut x = Vec::with_capacity(idx.len() * h * w);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend(
            set.images
                .index_axis(ndarray::Axis(0), i)
                .iter()
                .map(|&v| f32::from(v) / 255.0),
        );
        y.push(u32::from(set.labels[i]));
    }
    Ok((
        Tensor::from_vec(x, (idx.len(), 1, h, w), dev)?,
        Tensor::from_vec(y, idx.len(), dev)?,
    ))
}

fn correct(logits: &Tensor, y: &Tensor) -> Res<usize> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred
        .eq(y)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize)
}

/// Cosine decay over the larger of the step fraction and the time-budget
/// fraction (so a run cut by `--max-seconds` still anneals).
fn cosine_lr(base: f64, step: usize, total: usize, elapsed: f64, budget: f64) -> f64 {
    let t = (step as f64 / total.max(1) as f64)
        .max(elapsed / budget)
        .min(1.0);
    base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()).max(0.02)
}

/// The learning rate of `step`: [`cosine_lr`], or `base` throughout with
/// `--schedule constant` (for memorising permuted labels).
fn scheduled_lr(
    schedule: &str,
    base: f64,
    step: usize,
    total: usize,
    elapsed: f64,
    budget: f64,
) -> f64 {
    match schedule {
        "constant" => base,
        _ => cosine_lr(base, step, total, elapsed, budget),
    }
}

/// Seeds the model's weights (or loads `--init PATH` to continue a run)
/// and builds the AdamW optimizer (weight decay `--weight-decay`, default
/// 1e-4) over them.
fn init_and_optimizer(vm: &mut VarMap, args: &[String], seed: u64, lr: f64) -> Res<AdamW> {
    reseed_varmap(vm, seed)?;
    let init: String = arg(args, "--init", String::new());
    if !init.is_empty() && arg(args, "--grow", 0u8) == 1 {
        // Deepen a trained net: tensors in the file are loaded, new ones
        // keep their seeded init, and every new block's last batch-norm
        // scale is zero, so each new residual block starts as the
        // identity and the grown net computes what the saved one did.
        let saved = candle_core::safetensors::load(&init, &Device::Cpu)?;
        let vars = vm.data().lock().map_err(|_| "poisoned VarMap lock")?;
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let var = &vars[name];
            match saved.get(name) {
                Some(t) => var.set(t)?,
                None => {
                    if name.ends_with("bn2.weight") {
                        var.set(&var.zeros_like()?)?;
                    }
                    println!("  new tensor {name} {:?}", var.shape());
                }
            }
        }
        println!("grown from {init}");
    } else if !init.is_empty() {
        // Continue training from saved weights.
        vm.load(&init)?;
        println!("starting from {init}");
    }
    Ok(AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr,
            weight_decay: arg(args, "--weight-decay", 1e-4),
            ..Default::default()
        },
    )?)
}

fn train_cnn(args: &[String]) -> Res<()> {
    train_gray(
        args,
        "small CNN",
        "crates/salience-models/assets/small_cnn.safetensors",
        2e-3,
        |vb| Ok(SmallCnn::new(vb)?),
    )
}

fn train_vit(args: &[String]) -> Res<()> {
    train_gray(
        args,
        "ViT",
        "crates/salience-models/assets/vit_fashion.safetensors",
        1e-3,
        |vb| Ok(VisionTransformer::new(vb, &VitConfig::fashion_mnist())?),
    )
}

/// Trains a Fashion-MNIST classifier built by `build` (cross-entropy,
/// AdamW, cosine decay) and saves its weights.
fn train_gray<M: Classifier>(
    args: &[String],
    name: &str,
    default_out: &str,
    default_lr: f64,
    build: impl Fn(VarBuilder) -> Res<M>,
) -> Res<()> {
    let epochs: usize = arg(args, "--epochs", 3);
    let seed: u64 = arg(args, "--seed", 0);
    let batch: usize = arg(args, "--batch", 128);
    let lr: f64 = arg(args, "--lr", default_lr);
    let limit: usize = arg(args, "--limit", usize::MAX);
    let budget: f64 = arg(args, "--max-seconds", f64::INFINITY);
    let out: String = arg(args, "--out", default_out.to_string());
    let schedule: String = arg(args, "--schedule", "cosine".to_string());
    if schedule != "cosine" && schedule != "constant" {
        return Err(format!("--schedule must be cosine or constant, not {schedule}").into());
    }
    // Early stop: after an epoch whose running accuracy is within 5 points
    // of the target, the training images are evaluated in inference mode.
    let target: f64 = arg(args, "--target-train-accuracy", f64::INFINITY);
    let permute: Option<u64> = args
        .iter()
        .position(|a| a == "--permute-labels")
        .map(|i| {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or("--permute-labels needs a seed (u64)")
        })
        .transpose()?;
    let dev = Device::Cpu;
    let train = load_default(Split::Train)?;
    let test = load_default(Split::Test)?;
    let n = train.len().min(limit);
    let train_idx: Vec<usize> = (0..n).collect();
    // Data randomization: the first n training images keep their pixels,
    // their labels are a seeded permutation of their own labels.
    let train = match permute {
        Some(p) => common::permuted_labels(&train, n, p)?,
        None => train,
    };
    let mut vm = VarMap::new();
    let model = build(VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    let mut opt = init_and_optimizer(&mut vm, args, seed, lr)?;
    let steps_per_epoch = n.div_ceil(batch);
    let total = epochs * steps_per_epoch;
    let t0 = Instant::now();
    let mut step = 0;
    for epoch in 0..epochs {
        if t0.elapsed().as_secs_f64() > budget {
            break;
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng(derive_seed(seed, 1000 + epoch as u64)));
        let (mut loss_sum, mut hits) = (0.0, 0);
        for chunk in perm.chunks(batch) {
            if t0.elapsed().as_secs_f64() > budget {
                break;
            }
            opt.set_learning_rate(scheduled_lr(
                &schedule,
                lr,
                step,
                total,
                t0.elapsed().as_secs_f64(),
                budget,
            ));
            let (x, y) = gray_batch(&train, chunk, &dev)?;
            let logits = model.logits(&x)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            hits += correct(&logits, &y)?;
            step += 1;
        }
        println!(
            "{name} epoch {} loss {:.4} train acc {:.4} ({:.0} s)",
            epoch + 1,
            loss_sum / n as f64,
            hits as f64 / n as f64,
            t0.elapsed().as_secs_f64()
        );
        if hits as f64 / n as f64 >= target - 0.05 {
            let acc = accuracy(&model, &train, &train_idx, &dev)?;
            println!("  inference-mode train accuracy {acc:.4} (target {target})");
            if acc >= target {
                println!("target train accuracy reached after {} epochs", epoch + 1);
                break;
            }
        }
    }
    let train_s = t0.elapsed().as_secs_f64();
    println!("trained {step} steps of {total} planned");
    let labels = if permute.is_some() {
        "permuted"
    } else {
        "true"
    };
    println!(
        "train accuracy on the {labels} labels {:.4} ({n} images, inference mode)",
        accuracy(&model, &train, &train_idx, &dev)?
    );
    let test_idx: Vec<usize> = (0..test.len()).collect();
    println!(
        "{name}: test accuracy {:.4} (true labels) on {} images; training {:.0} s ({step} steps, {epochs} epochs planned x {n} images, batch {batch}, {schedule} lr {lr})",
        accuracy(&model, &test, &test_idx, &dev)?,
        test.len(),
        train_s
    );
    vm.save(&out)?;
    println!("saved {out}");
    Ok(())
}

/// Inference-mode accuracy of `model` on images `idx` of `set` (batches
/// of 1000).
fn accuracy<M: Classifier>(model: &M, set: &GrayImages, idx: &[usize], dev: &Device) -> Res<f64> {
    let mut hits = 0;
    for chunk in idx.chunks(1000) {
        let (x, y) = gray_batch(set, chunk, dev)?;
        hits += correct(&model.logits(&x)?, &y)?;
    }
    Ok(hits as f64 / idx.len().max(1) as f64)
}

fn train_resnet(args: &[String]) -> Res<()> {
    let mut config = ResNetConfig::small();
    // Architecture overrides (for exploring; the shipped net records its flags).
    let list = |name: &str| -> Option<Vec<usize>> {
        let v: String = arg(args, name, String::new());
        (!v.is_empty()).then(|| v.split(',').filter_map(|t| t.parse().ok()).collect())
    };
    if let Some(w) = list("--widths") {
        config.blocks = vec![1; w.len()];
        config.widths = w;
    }
    if let Some(b) = list("--blocks") {
        config.blocks = b;
    }
    config.stem_channels = arg(args, "--stem-channels", config.stem_channels);
    if let salience::models::Stem::Small { stride, pool } = config.stem {
        config.stem = salience::models::Stem::Small {
            stride: arg(args, "--stem-stride", stride),
            pool: arg(args, "--stem-pool", pool),
        };
    }
    println!("config {config:?}");
    train_localization(
        args,
        "small ResNet",
        "crates/salience-models/assets/resnet_small.safetensors",
        |vb| Ok(ResNet::new(vb, &config)?),
        |m, x, train| Ok(m.forward_t(x, train)?),
    )
}

/// A small VGG ([`FeatureCnnConfig::small_vgg`]) on the localization
/// generator: the second architecture of the localization reproductions.
fn train_vgg(args: &[String]) -> Res<()> {
    let config = FeatureCnnConfig::small_vgg();
    println!("config {config:?}");
    train_localization(
        args,
        "small VGG",
        "crates/salience-models/assets/vgg_small_loc.safetensors",
        |vb| Ok(FeatureCnn::new(vb, &config)?),
        |m, x, _train| Ok(m.logits(x)?),
    )
}

/// Trains a classifier of the 3×64×64 localization images (a fresh
/// generated stream every epoch unless `--fresh 0`), cosine-decayed AdamW,
/// then reports its held-out accuracy on `--test-images` generated images
/// and saves it to `--out` (default `default_out`).
fn train_localization<M: Classifier>(
    args: &[String],
    name: &str,
    default_out: &str,
    build: impl FnOnce(VarBuilder) -> Res<M>,
    forward: impl Fn(&M, &Tensor, bool) -> Res<Tensor>,
) -> Res<()> {
    let epochs: usize = arg(args, "--epochs", 4);
    let n: usize = arg(args, "--train-images", 20_000);
    let n_test: usize = arg(args, "--test-images", 5_000);
    let seed: u64 = arg(args, "--seed", 0);
    let batch: usize = arg(args, "--batch", 64);
    let lr: f64 = arg(args, "--lr", 3e-3);
    let fresh: bool = arg(args, "--fresh", 1u8) == 1;
    let budget: f64 = arg(args, "--max-seconds", f64::INFINITY);
    let out: String = arg(args, "--out", default_out.to_string());
    let dev = Device::Cpu;
    let train = load_default(Split::Train)?;
    let test = load_default(Split::Test)?;
    let cfg = if arg(args, "--easy", 0u8) == 1 {
        LocalizationConfig::easy()
    } else {
        LocalizationConfig::default()
    };
    let gen_train = LocalizationGenerator::new(&train, cfg.clone())?;
    let gen_test = LocalizationGenerator::new(&test, cfg)?;
    let mut vm = VarMap::new();
    let model = build(VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    let mut opt = init_and_optimizer(&mut vm, args, seed, lr)?;
    let steps_per_epoch = n.div_ceil(batch);
    let total = epochs * steps_per_epoch;
    let t0 = Instant::now();
    let mut step = 0;
    for epoch in 0..epochs {
        if t0.elapsed().as_secs_f64() > budget {
            break;
        }
        let (mut loss_sum, mut hits) = (0.0, 0);
        // Fresh images every epoch (an endless stream) unless --fresh 0.
        let base = if fresh { epoch * n } else { 0 };
        for b in 0..steps_per_epoch {
            if t0.elapsed().as_secs_f64() > budget {
                break;
            }
            opt.set_learning_rate(cosine_lr(
                lr,
                step,
                total,
                t0.elapsed().as_secs_f64(),
                budget,
            ));
            let start = b * batch;
            let len = batch.min(n - start);
            let set = gen_train.generate(RESNET_TRAIN_SEED ^ seed, base + start, len)?;
            let x = set.tensor(0, len, &dev)?;
            let y = Tensor::from_vec(
                set.labels.iter().map(|&l| l as u32).collect::<Vec<_>>(),
                len,
                &dev,
            )?;
            let logits = forward(&model, &x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * len as f64;
            hits += correct(&logits, &y)?;
            step += 1;
            if b % 50 == 0 {
                println!(
                    "  epoch {} step {b}/{steps_per_epoch} ({:.0} s)",
                    epoch + 1,
                    t0.elapsed().as_secs_f64()
                );
            }
        }
        println!(
            "{name} epoch {} loss {:.4} train acc {:.4} ({:.0} s)",
            epoch + 1,
            loss_sum / n as f64,
            hits as f64 / n as f64,
            t0.elapsed().as_secs_f64()
        );
    }
    let train_s = t0.elapsed().as_secs_f64();
    println!("trained {step} steps of {total} planned");
    let mut hits = 0;
    for start in (0..n_test).step_by(500) {
        let len = 500.min(n_test - start);
        let set = gen_test.generate(RESNET_TEST_SEED, start, len)?;
        let y = Tensor::from_vec(
            set.labels.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            len,
            &dev,
        )?;
        hits += correct(&model.logits(&set.tensor(0, len, &dev)?)?, &y)?;
    }
    println!(
        "{name}: held-out accuracy {:.4} on {n_test} generated images; training {:.0} s ({epochs} epochs x {n} images, batch {batch})",
        hits as f64 / n_test as f64,
        train_s
    );
    vm.save(&out)?;
    println!("saved {out}");
    Ok(())
}

fn samples(args: &[String]) -> Res<()> {
    let dir: String = arg(
        args,
        "--out-dir",
        "crates/salience-datasets/assets".to_string(),
    );
    let dev = Device::Cpu;
    let test = load_default(Split::Test)?;
    // Fashion-MNIST: the first FASHION_SAMPLE_LEN test images.
    let k = FASHION_SAMPLE_LEN;
    let im: Vec<u8> = test
        .images
        .slice(ndarray::s![..k, .., ..])
        .iter()
        .copied()
        .collect();
    let mut t = HashMap::new();
    t.insert(
        "images".to_string(),
        Tensor::from_vec(im, (k, 28, 28), &dev)?,
    );
    t.insert(
        "labels".to_string(),
        Tensor::from_vec(test.labels[..k].to_vec(), k, &dev)?,
    );
    candle_core::safetensors::save(&t, format!("{dir}/fashion_mnist_test_sample.safetensors"))?;
    // Localization: images 0..LOCALIZATION_SAMPLE_LEN of the test-pool stream.
    let m = LOCALIZATION_SAMPLE_LEN;
    let cfg = if arg(args, "--easy", 0u8) == 1 {
        LocalizationConfig::easy()
    } else {
        LocalizationConfig::default()
    };
    let generator = LocalizationGenerator::new(&test, cfg)?;
    let set = generator.generate(LOCALIZATION_SAMPLE_SEED, 0, m)?;
    let c = generator.config().canvas;
    let images: Vec<u8> = set
        .images
        .iter()
        .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    let masks: Vec<u8> = set.masks.iter().map(|&b| u8::from(b)).collect();
    let boxes: Vec<u32> = set
        .boxes
        .iter()
        .flat_map(|b| [b.top, b.left, b.bottom, b.right].map(|v| v as u32))
        .collect();
    let placements: Vec<u32> = set
        .placements
        .iter()
        .flat_map(|p| [p.source, p.top, p.left, p.side].map(|v| v as u32))
        .collect();
    let labels: Vec<u8> = set.labels.iter().map(|&l| l as u8).collect();
    let mut t = HashMap::new();
    t.insert(
        "images".to_string(),
        Tensor::from_vec(images, (m, 3, c, c), &dev)?,
    );
    t.insert("labels".to_string(), Tensor::from_vec(labels, m, &dev)?);
    t.insert(
        "masks".to_string(),
        Tensor::from_vec(masks, (m, c, c), &dev)?,
    );
    t.insert("boxes".to_string(), Tensor::from_vec(boxes, (m, 4), &dev)?);
    t.insert(
        "placements".to_string(),
        Tensor::from_vec(placements, (m, 4), &dev)?,
    );
    candle_core::safetensors::save(&t, format!("{dir}/localization_sample.safetensors"))?;
    println!("wrote {dir}/fashion_mnist_test_sample.safetensors ({k} images) and {dir}/localization_sample.safetensors ({m} images)");
    Ok(())
}
