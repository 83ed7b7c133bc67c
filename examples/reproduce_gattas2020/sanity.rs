//! Adebayo et al.'s sanity checks as the thesis discusses them: cascading
//! model-parameter randomisation (MPRT) on the small ResNet, the data
//! randomisation test on Fashion-MNIST, and the seed stability of the
//! sampling methods.

use crate::loc::{method_seeds, predict, registry, Selection};
use crate::{Args, Result, RUN_DATA, SEED};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use indicatif::ProgressBar;
use ndarray::{s, ArrayViewD, Axis};
use salience::core::{derive_seed, Explainer, Seeds};
use salience::data::assets;
use salience::data::models::{ResNet, ResNetConfig, SmallCnn};
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{Randomization, WeightMapModel};
use salience::metrics::{mprt, MprtConfig};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::SalienceError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The ResNet's layers in forward order (display name, weight prefixes);
/// the MPRT randomises them cascading from the last one.
pub const MPRT_GROUPS: [(&str, &[&str]); 5] = [
    ("stem", &["conv1", "bn1"]),
    ("layer1", &["layer1"]),
    ("layer2", &["layer2"]),
    ("layer3", &["layer3"]),
    ("fc", &["fc"]),
];

/// Stream of the randomised weights (one draw for the whole run: the
/// randomised model is the same for every sample and shard).
const MPRT_WEIGHT_STREAM: u64 = 0x4d50_5254;
/// Stream of the second explanation of the seed-stability check.
const RESEED_STREAM: u64 = 0x5345_4544;

/// Stage `k` (`0 ..= 5`): the shipped ResNet with its top `k` layer groups
/// re-initialised as PyTorch's `reset_parameters()` does (what Quantus'
/// MPRT calls; batch norms reset to identity statistics).
pub fn mprt_stage_models(dev: &Device) -> Result<Vec<Arc<ResNet>>> {
    let weights = candle_core::safetensors::load_buffer(assets::RESNET_SMALL_SAFETENSORS, dev)?;
    let cfg = ResNetConfig::small();
    let wm = WeightMapModel::new(weights, dev, move |vb| ResNet::new(vb, &cfg))?;
    let mut stages = vec![Arc::new(assets::resnet_small(dev)?)];
    for k in 1..=MPRT_GROUPS.len() {
        let top: Vec<&str> = MPRT_GROUPS[MPRT_GROUPS.len() - k..]
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        let r = wm.randomized(
            &top,
            Randomization::PytorchDefault,
            derive_seed(SEED, MPRT_WEIGHT_STREAM),
        )?;
        let vb = VarBuilder::from_tensors(r.weights().clone(), DType::F32, dev);
        stages.push(Arc::new(ResNet::new(vb, &ResNetConfig::small())?));
    }
    Ok(stages)
}

/// Explainer of `spec` on stage `k`'s model.
fn stage_factory<'a, M>(
    spec: &'a ExplainerSpec,
    reg: &'a Registry<M>,
    models: &'a [Arc<M>],
) -> impl Fn(usize) -> salience::core::Result<Box<dyn Explainer>> + 'a
where
    M: salience::explain::LayerSplit + 'static,
{
    move |k| {
        let m = models.get(k).ok_or_else(|| {
            SalienceError::invalid("MPRT stage", k, "beyond the randomised models")
        })?;
        reg.build(spec, m)
    }
}

/// Per-sample MPRT of one method: Spearman / SSIM of every stage to the
/// original. A sample whose stage-`k` map is constant (Spearman undefined,
/// e.g. an all-zero Grad-CAM) keeps its stages before `k`; the record
/// `mprt_constant_stage = k` says where it stopped.
#[allow(clippy::too_many_arguments)]
fn mprt_one(
    factory: &dyn Fn(usize) -> salience::core::Result<Box<dyn Explainer>>,
    n_stages: usize,
    x: ArrayViewD<'_, f32>,
    target: usize,
    seed: u64,
    sample: usize,
    key: &str,
    prefix: &str,
) -> Result<Vec<Record>> {
    let mut stages = n_stages;
    let mut out = Vec::new();
    while stages > 0 {
        let seeds = [seed];
        match mprt(
            factory,
            stages,
            x.view(),
            &[target],
            &MprtConfig::default(),
            Seeds::per_sample(&seeds),
        )
        .and_then(|r| {
            // Strict: a constant stage map is the `DegenerateMap` below.
            r.spearman.iter().try_for_each(|sp| sp.strict().map(drop))?;
            Ok(r)
        }) {
            Ok(r) => {
                for (k, sp) in r.spearman.iter().enumerate() {
                    if let Some(v) = sp.get(0) {
                        out.push(Record::new(
                            sample,
                            key,
                            &format!("{prefix}spearman_{}", k + 1),
                            v,
                        ));
                    }
                }
                for (k, ss) in r.ssim.iter().flatten().enumerate() {
                    if let Some(v) = ss.get(0) {
                        out.push(Record::new(
                            sample,
                            key,
                            &format!("{prefix}ssim_{}", k + 1),
                            v,
                        ));
                    }
                }
                return Ok(out);
            }
            Err(SalienceError::DegenerateMap { map, .. }) => {
                out.push(Record::new(
                    sample,
                    key,
                    &format!("{prefix}constant_stage"),
                    map as f64,
                ));
                stages = if map >= 1 && map <= stages {
                    map - 1
                } else {
                    0
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// MPRT records of every method of `specs` on the samples of `sel`
/// (metrics `mprt_spearman_k`, `mprt_ssim_k`, k = layers randomised), and
/// the seed stability of the stochastic methods (`seed_spearman`,
/// `seed_ssim`: the map with the method's seed vs another seed).
pub fn mprt_records(
    specs: &[ExplainerSpec],
    reg: &Registry<ResNet>,
    sel: &Selection,
    progress: &ProgressBar,
    timings: &mut Vec<(String, f64)>,
) -> Result<Vec<Record>> {
    let models = mprt_stage_models(&Device::Cpu)?;
    let mut out = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        progress.set_message(format!("MPRT: {}", spec.name));
        let t = Instant::now();
        let factory = stage_factory(spec, reg, &models);
        let own = method_seeds(&sel.seeds, m);
        for (j, sample) in sel.range.clone().enumerate() {
            let xj = sel.x.slice_axis(Axis(0), ndarray::Slice::from(j..j + 1));
            out.extend(mprt_one(
                &factory,
                MPRT_GROUPS.len(),
                xj,
                sel.targets[j],
                own[j],
                sample,
                &spec.name,
                "mprt_",
            )?);
        }
        timings.push((
            format!(
                "MPRT ({} stages) on {} images: {}",
                MPRT_GROUPS.len(),
                sel.targets.len(),
                spec.name
            ),
            t.elapsed().as_secs_f64(),
        ));
        progress.inc(3);
        // Seed stability: the same model twice, the second time with
        // another seed (deterministic methods give exactly 1).
        progress.set_message(format!("seed stability: {}", spec.name));
        let t = Instant::now();
        let same_model = |k: usize| -> salience::core::Result<Box<dyn Explainer>> {
            factory(0).map(|e| {
                Box::new(Reseeded {
                    inner: e,
                    reseed: k > 0,
                }) as Box<dyn Explainer>
            })
        };
        for (j, sample) in sel.range.clone().enumerate() {
            let xj = sel.x.slice_axis(Axis(0), ndarray::Slice::from(j..j + 1));
            out.extend(mprt_one(
                &same_model,
                1,
                xj,
                sel.targets[j],
                own[j],
                sample,
                &spec.name,
                "seed_",
            )?);
        }
        timings.push((
            format!(
                "seed stability on {} images: {}",
                sel.targets.len(),
                spec.name
            ),
            t.elapsed().as_secs_f64(),
        ));
        progress.inc(1);
    }
    Ok(out)
}

/// An explainer run with every per-sample seed replaced by
/// `derive_seed(seed, RESEED_STREAM)` when `reseed` is set.
struct Reseeded {
    inner: Box<dyn Explainer>,
    reseed: bool,
}

impl Explainer for Reseeded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> salience::core::Result<salience::core::AttributionBatch> {
        if !self.reseed {
            return self.inner.explain(x, targets, seeds);
        }
        let n = targets.len();
        let other: Vec<u64> = (0..n)
            .map(|i| derive_seed(seeds.for_sample(i), RESEED_STREAM))
            .collect();
        self.inner.explain(x, targets, Seeds::per_sample(&other))
    }
}

/// The data randomisation run: each method explains correctly classified
/// Fashion-MNIST test images (their true = predicted class) on the
/// shipped CNN and on the CNN trained on permuted labels; Spearman / SSIM
/// between the two maps (records `spearman`, `ssim`), and whether the
/// permuted model predicts the true class (`perm_correct`).
pub fn data_randomization(
    args: &Args,
    progress: &ProgressBar,
    timings: &mut Vec<(String, f64)>,
) -> Result<PathBuf> {
    let dev = Device::Cpu;
    let cnn = Arc::new(assets::small_cnn(&dev)?);
    let perm = Arc::new(assets::small_cnn_permuted_labels(&dev)?);
    let models: Vec<Arc<SmallCnn>> = vec![cnn.clone(), perm.clone()];
    let data = assets::fashion_mnist_sample()?;
    let preds = predict(cnn.as_ref(), data.images.view().into_dyn())?;
    let chosen: Vec<usize> = (0..data.labels.len())
        .filter(|&i| preds.get(i) == data.labels.get(i))
        .collect();
    let n = args.budget.n_fmnist.min(chosen.len());
    let range = args.shard.range(n);
    let idx: Vec<usize> = range.clone().map(|i| chosen[i]).collect();
    let x = data.images.select(Axis(0), &idx).into_dyn();
    let targets: Vec<usize> = idx.iter().map(|&i| data.labels[i]).collect();
    let seeds: Vec<u64> = range.clone().map(|i| Shard::sample_seed(SEED, i)).collect();
    let perm_preds = predict(perm.as_ref(), x.view())?;
    let mut records = Vec::new();
    for (j, i) in range.clone().enumerate() {
        records.push(Record::new(i, "data", "label", targets[j] as f64));
        records.push(Record::new(i, "data", "image", idx[j] as f64));
        let hit = perm_preds.get(j) == targets.get(j);
        records.push(Record::new(
            i,
            "data",
            "perm_correct",
            f64::from(u8::from(hit)),
        ));
    }
    let specs = ExplainerSpec::parse_list(&args.budget.fmnist_panel())?;
    let reg = registry::<SmallCnn>();
    progress.set_length(progress.length().unwrap_or(0) + specs.len() as u64);
    for (m, spec) in specs.iter().enumerate() {
        progress.set_message(format!("data randomisation: {}", spec.name));
        let t = Instant::now();
        let factory = stage_factory(spec, &reg, &models);
        let own = method_seeds(&seeds, m);
        for (j, sample) in range.clone().enumerate() {
            let xj = x.slice(s![j..j + 1, .., .., ..]).into_dyn();
            records.extend(mprt_one(
                &factory, 1, xj, targets[j], own[j], sample, &spec.name, "",
            )?);
        }
        timings.push((
            format!(
                "data randomisation ({} images, 2 models): {}",
                idx.len(),
                spec.name
            ),
            t.elapsed().as_secs_f64(),
        ));
        progress.inc(1);
    }
    let header = RunHeader::new(RUN_DATA, n, SEED, args.shard, &args.budget.config());
    Ok(write_records(&args.out, &header, &records)?)
}
