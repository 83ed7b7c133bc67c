//! Adebayo et al.'s sanity checks as the thesis discusses them: cascading
//! model-parameter randomisation (MPRT) on each architecture, the data
//! randomisation test on Fashion-MNIST, the seed stability of the
//! sampling methods and the input-noise null of the deterministic ones.

use crate::arch::{Arch, ArchModel};
use crate::loc::{method_seeds, predict, registry, Selection};
use crate::{Args, Result, RUN_DATA, SEED};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use indicatif::ProgressBar;
use ndarray::{s, ArrayViewD, Axis};
use salience::core::{derive_seed, Explainer, Seeds};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{Randomization, WeightMapModel};
use salience::metrics::{mprt, MprtConfig};
use salience::models::assets;
use salience::models::SmallCnn;
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::SalienceError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Stream of the randomised weights (one draw for the whole run: the
/// randomised model is the same for every sample and shard).
const MPRT_WEIGHT_STREAM: u64 = 0x4d50_5254;
/// Stream of the second explanation of the seed-stability check.
const RESEED_STREAM: u64 = 0x5345_4544;
/// Stream of the pixel noise of the input-noise null.
const NOISE_STREAM: u64 = 0x4e4f_4953;

/// Standard deviation of the input-noise null: the pixel noise the shipped
/// localization sample was generated with (`LocalizationConfig::easy()`),
/// i.e. a perturbation the data already contains and the model should not
/// care about.
pub fn null_noise_std() -> f32 {
    salience::datasets::LocalizationConfig::easy().pixel_noise_std
}

/// The tensors of MPRT stages `1 ..= ` the number of `arch.mprt_groups()`:
/// the shipped weights of `M` with their top `k` layer groups
/// re-initialised as PyTorch's `reset_parameters()` does (what Quantus'
/// MPRT calls; batch norms, where there are any, reset to identity
/// statistics). One draw for the whole run.
pub fn mprt_stage_weights<M: ArchModel>(
    arch: Arch,
    dev: &Device,
) -> Result<Vec<std::collections::HashMap<String, candle_core::Tensor>>> {
    let weights = candle_core::safetensors::load_buffer(M::weights(), dev)?;
    let wm = WeightMapModel::new(weights, dev, M::build)?;
    let groups = arch.mprt_groups();
    let mut stages = Vec::new();
    for k in 1..=groups.len() {
        let top: Vec<&str> = groups[groups.len() - k..]
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        let r = wm.randomized(
            &top,
            Randomization::PytorchDefault,
            derive_seed(SEED, MPRT_WEIGHT_STREAM),
        )?;
        stages.push(r.weights().clone());
    }
    Ok(stages)
}

/// Stage `k` (`0 ..= ` the number of `arch.mprt_groups()`): the shipped
/// model (`k = 0`), then the models on [`mprt_stage_weights`].
pub fn mprt_stage_models<M: ArchModel>(arch: Arch, dev: &Device) -> Result<Vec<Arc<M>>> {
    let mut stages = vec![Arc::new(M::shipped(dev)?)];
    for w in mprt_stage_weights::<M>(arch, dev)? {
        let vb = VarBuilder::from_tensors(w, DType::F32, dev);
        stages.push(Arc::new(M::build(vb)?));
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
/// `seed_ssim`: the map with the method's seed vs another seed), and the
/// input-noise null (`noise_spearman`, `noise_ssim`: vs another seed on a
/// [`noisy_copy`] of the input at [`null_noise_std`]).
pub fn mprt_records<M: ArchModel>(
    arch: Arch,
    specs: &[ExplainerSpec],
    reg: &Registry<M>,
    sel: &Selection,
    progress: &ProgressBar,
    timings: &mut Vec<(String, f64)>,
) -> Result<Vec<Record>> {
    let models = mprt_stage_models::<M>(arch, &Device::Cpu)?;
    let n_groups = arch.mprt_groups().len();
    let stage_prefix = arch.stage_prefix();
    let mut out = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        let factory = stage_factory(spec, reg, &models);
        let own = method_seeds(&sel.seeds, m);
        // Seed stability: the unrandomised model twice, the second time with
        // another seed (deterministic methods give exactly 1). Input-noise
        // null: the second time also on a noisy copy of the input; for
        // deterministic methods, the null of the MPRT test.
        let same_model = reseeded(&factory, 0.0);
        let noisy_model = reseeded(&factory, null_noise_std());
        let mprt_label = format!("MPRT ({n_groups} stages)");
        let runs: [(&str, &StageFactory<'_>, usize, &str, u64); 3] = [
            (&mprt_label, &factory, n_groups, "mprt_", 2),
            ("seed stability", &same_model, 1, "seed_", 1),
            ("input-noise null", &noisy_model, 1, "noise_", 1),
        ];
        for (what, stages, n_stages, prefix, ticks) in runs {
            progress.set_message(format!("{stage_prefix}{what}: {}", spec.name));
            let t = Instant::now();
            for (j, sample) in sel.range.clone().enumerate() {
                let xj = sel.x.slice_axis(Axis(0), ndarray::Slice::from(j..j + 1));
                out.extend(mprt_one(
                    stages,
                    n_stages,
                    xj,
                    sel.targets[j],
                    own[j],
                    sample,
                    &spec.name,
                    prefix,
                )?);
            }
            timings.push((
                format!(
                    "{stage_prefix}{what} on {} images: {}",
                    sel.targets.len(),
                    spec.name
                ),
                t.elapsed().as_secs_f64(),
            ));
            progress.inc(ticks);
        }
    }
    Ok(out)
}

/// An explainer of stage `k` (`k = 0`: the unrandomised model).
type StageFactory<'a> = dyn Fn(usize) -> salience::core::Result<Box<dyn Explainer>> + 'a;

/// Stage 0 of `factory` at both stages, stage 1 [`Reseeded`] (another seed,
/// and input noise at `noise_std` when positive).
fn reseeded<'a>(
    factory: &'a StageFactory<'a>,
    noise_std: f32,
) -> impl Fn(usize) -> salience::core::Result<Box<dyn Explainer>> + 'a {
    move |k| {
        factory(0).map(|e| {
            Box::new(Reseeded {
                inner: e,
                reseed: k > 0,
                noise_std,
            }) as Box<dyn Explainer>
        })
    }
}

/// `x + N(0, std²)` per element, clamped to [0, 1] (the images' range),
/// the noise drawn from `seed`.
pub fn noisy_copy(x: ArrayViewD<'_, f32>, std: f32, seed: u64) -> ndarray::ArrayD<f32> {
    use rand_distr::{Distribution, StandardNormal};
    let mut g = salience::core::seed::rng(seed);
    x.mapv(|v| {
        let e: f32 = StandardNormal.sample(&mut g);
        (v + std * e).clamp(0.0, 1.0)
    })
}

/// An explainer run with every per-sample seed replaced by
/// `derive_seed(seed, RESEED_STREAM)` when `reseed` is set, and then (if
/// `noise_std > 0`) on [`noisy_copy`]s of the inputs, sample `i`'s noise
/// drawn from `derive_seed(its seed, NOISE_STREAM)`.
struct Reseeded {
    inner: Box<dyn Explainer>,
    reseed: bool,
    noise_std: f32,
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
        if self.noise_std <= 0.0 {
            return self.inner.explain(x, targets, Seeds::per_sample(&other));
        }
        let mut noisy = x.to_owned();
        for (i, mut xi) in noisy.outer_iter_mut().enumerate() {
            let seed = derive_seed(seeds.for_sample(i), NOISE_STREAM);
            let copy = noisy_copy(xi.view(), self.noise_std, seed);
            xi.assign(&copy);
        }
        self.inner
            .explain(noisy.view(), targets, Seeds::per_sample(&other))
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
    let data = samples::fashion_mnist_sample()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_copy_is_seeded_clamped_and_at_the_stated_scale() {
        let x = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[3, 64, 64]), 0.5f32);
        let a = noisy_copy(x.view(), 0.02, 7);
        assert_eq!(a, noisy_copy(x.view(), 0.02, 7));
        assert_ne!(a, noisy_copy(x.view(), 0.02, 8));
        let n = a.len() as f64;
        let d: Vec<f64> = a.iter().map(|&v| f64::from(v) - 0.5).collect();
        let mean = d.iter().sum::<f64>() / n;
        let std = (d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        // 12 288 draws: the sample std is within a few % of 0.02.
        assert!(
            mean.abs() < 1e-3 && (std - 0.02).abs() < 1e-3,
            "{mean} {std}"
        );
        // Values at the ends of [0, 1] stay inside it.
        let edge = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 8, 8]), 1.0f32);
        let e = noisy_copy(edge.view(), 0.5, 1);
        assert!(e.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(e.iter().any(|&v| v < 1.0));
        // The sample's generator noise.
        assert_eq!(null_noise_std(), 0.02);
    }

    /// Stage k of `arch`'s MPRT randomises exactly the tensors of its top
    /// k layer groups: every other tensor equals the shipped one bit for
    /// bit, every tensor of those groups differs; a group randomised at
    /// stage k keeps its values at later stages (one draw per tensor).
    fn stage_weights_randomise_the_top_groups<M: ArchModel>(arch: Arch) {
        let dev = Device::Cpu;
        let shipped = candle_core::safetensors::load_buffer(M::weights(), &dev).unwrap();
        let stages = mprt_stage_weights::<M>(arch, &dev).unwrap();
        let groups = arch.mprt_groups();
        assert_eq!(stages.len(), groups.len());
        let values = |t: &candle_core::Tensor| -> Vec<f32> {
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        let group_of = |name: &str| {
            groups.iter().position(|(_, prefixes)| {
                prefixes.iter().any(|p| {
                    name == *p
                        || (name.starts_with(p) && name.as_bytes().get(p.len()) == Some(&b'.'))
                })
            })
        };
        for (i, w) in stages.iter().enumerate() {
            let k = i + 1;
            assert_eq!(w.len(), shipped.len(), "stage {k}: the same tensors");
            for (name, t) in w {
                let g = group_of(name).unwrap_or_else(|| panic!("{name} in no layer group"));
                let orig = &shipped[name];
                assert_eq!(t.dims(), orig.dims(), "{name}");
                let randomised = g >= groups.len() - k;
                let (a, b) = (values(t), values(orig));
                if randomised {
                    // Batch-norm statistics reset to 0 / 1 may equal a
                    // shipped constant; weights and biases never do.
                    if !name.contains("running_") && !name.contains("num_batches") {
                        assert_ne!(a, b, "stage {k}: {name} not randomised");
                    }
                    if k > 1 && g >= groups.len() - (k - 1) {
                        assert_eq!(a, values(&stages[i - 1][name]), "stage {k}: {name} redrawn");
                    }
                } else {
                    assert_eq!(a, b, "stage {k}: {name} changed");
                }
            }
        }
        // The models build on every stage, and the fully randomised one
        // predicts differently from the shipped one.
        let models = mprt_stage_models::<M>(arch, &dev).unwrap();
        assert_eq!(models.len(), groups.len() + 1);
        let x = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 3, 64, 64]), 0.5f32);
        let logits = |m: &M| -> Vec<f32> {
            let t = salience::explain::model::convert::tensor_from_view(x.view(), &dev).unwrap();
            m.logits(&t)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        assert_ne!(logits(&models[0]), logits(&models[groups.len()]));
    }

    #[test]
    fn vgg_mprt_stages_randomise_exactly_the_top_layer_groups() {
        let arch = Arch::Vgg;
        // The VGG's groups: every conv and dense layer, forward order.
        let names: Vec<&str> = arch.mprt_groups().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "features.0",
                "features.3",
                "features.6",
                "features.8",
                "features.11",
                "classifier.0",
                "classifier.3"
            ]
        );
        // They cover every tensor of the config.
        let shapes = salience::models::FeatureCnnConfig::small_vgg().tensor_shapes();
        assert_eq!(shapes.len(), 2 * names.len());
        for (n, _) in &shapes {
            assert!(names.iter().any(|g| n.starts_with(&format!("{g}."))), "{n}");
        }
        stage_weights_randomise_the_top_groups::<salience::models::FeatureCnn>(arch);
    }

    #[test]
    fn resnet_mprt_stages_randomise_exactly_the_top_layer_groups() {
        stage_weights_randomise_the_top_groups::<salience::models::ResNet>(Arch::ResNet);
    }
}
