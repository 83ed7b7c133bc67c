//! The localisation run: the panel on one architecture ([`Arch`]) and the
//! shipped localization sample, the localisation metric panel (the thesis'
//! "evaluator"), and the MPRT on the first `n_mprt` images.

use crate::arch::{Arch, ArchModel};
use crate::sanity;
use crate::{Args, Result, SEED};
use indicatif::ProgressBar;
use ndarray::{s, Array3, Array4, ArrayViewD, Axis};
use salience::core::{derive_seed, AttributionBatch, DegenerateReason, Explainer, PerInput, Seeds};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{Classifier, DeepLift, LayerSplit, RuleForward};
use salience::metrics::{
    box_localization, pixel_maps, pointing_game, relevance_mass_accuracy, relevance_rank_accuracy,
    BoundingBox, BoxLocalizationConfig, MaskBatch, PixelMapConfig, PointingGameConfig,
};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::SalienceError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Display names of the method keys used in the records.
pub const METHOD_NAMES: [(&str, &str); 6] = [
    ("deeplift", "DeepLIFT"),
    ("grad_cam", "Grad-CAM"),
    ("kernel_shap", "KernelSHAP"),
    ("lime", "LIME"),
    ("random", "random map (baseline)"),
    ("full_box", "full-image box (baseline)"),
];

/// The display name of a method key.
pub fn display(key: &str) -> &str {
    METHOD_NAMES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, d)| d)
}

/// CAM's threshold (Zhou et al. 2016): pixels ≥ 20 % of the map's range.
pub const THRESHOLD: f32 = 0.2;

/// The registry: the built-ins plus DeepLIFT, which needs the model's
/// `RuleForward` (a text spec cannot carry it).
pub fn registry<M>() -> Registry<M>
where
    M: LayerSplit + RuleForward + Send + Sync + 'static,
{
    let mut r = Registry::<M>::with_builtins();
    r.register(
        "deeplift",
        Arc::new(|_, m, _| Ok(Box::new(DeepLift::new(m.clone())) as Box<dyn Explainer>)),
    );
    r
}

/// A uniform random map per sample (seeded): the chance level of every
/// localisation metric.
pub struct RandomMap;

impl Explainer for RandomMap {
    fn name(&self) -> &str {
        "random"
    }
    fn explain(
        &self,
        x: ArrayViewD<'_, f32>,
        _targets: &[usize],
        seeds: Seeds<'_>,
    ) -> salience::core::Result<AttributionBatch> {
        use rand::RngExt;
        let shape = x.shape();
        let (n, h, w) = match shape {
            [n, _, h, w] => (*n, *h, *w),
            _ => {
                return Err(SalienceError::shape(
                    "random map inputs",
                    "[N, C, H, W]".to_string(),
                    shape,
                ))
            }
        };
        seeds.check_len(n)?;
        let mut out = Array3::<f32>::zeros((n, h, w));
        for (i, mut m) in out.outer_iter_mut().enumerate() {
            let mut g = salience::core::seed::rng(seeds.for_sample(i));
            m.mapv_inplace(|_| g.random::<f32>());
        }
        AttributionBatch::from_pixel_maps(out)
    }
}

/// The shipped localization sample restricted to the images a shipped
/// model classifies correctly.
pub struct LocData {
    /// `[200, 3, 64, 64]` images.
    pub images: Array4<f32>,
    /// Labels (= the predicted class on `chosen`).
    pub labels: Vec<usize>,
    /// Ground-truth masks `[200, 64, 64]`.
    pub masks: Array3<bool>,
    /// Ground-truth boxes.
    pub boxes: Vec<BoundingBox>,
    /// Indices (into the sample) of the correctly classified images, in
    /// order; run sample `i` is image `chosen[i]`.
    pub chosen: Vec<usize>,
}

impl LocData {
    /// Loads the sample and classifies it with `model` (no randomness).
    pub fn load<M: Classifier>(model: &M) -> Result<Self> {
        let set = samples::localization_sample()?;
        let preds = predict(model, set.images.view().into_dyn())?;
        let chosen: Vec<usize> = (0..set.labels.len())
            .filter(|&i| preds.get(i) == set.labels.get(i))
            .collect();
        let boxes = set
            .boxes
            .iter()
            .map(|b| BoundingBox::new(b.top, b.left, b.bottom, b.right))
            .collect::<salience::core::Result<Vec<_>>>()?;
        Ok(LocData {
            images: set.images,
            labels: set.labels,
            masks: set.masks,
            boxes,
            chosen,
        })
    }

    /// Inputs, targets, masks and boxes of run samples `range`.
    pub fn select(&self, range: std::ops::Range<usize>) -> Result<Selection> {
        let idx: Vec<usize> = range
            .clone()
            .map(|i| self.chosen.get(i).copied().ok_or("sample out of range"))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Selection {
            x: self.images.select(Axis(0), &idx).into_dyn(),
            targets: idx.iter().map(|&i| self.labels[i]).collect(),
            masks: MaskBatch::from_bool(self.masks.select(Axis(0), &idx))?,
            boxes: idx.iter().map(|&i| self.boxes[i]).collect(),
            seeds: range.clone().map(|i| Shard::sample_seed(SEED, i)).collect(),
            range,
        })
    }
}

/// Some run samples, ready to explain and score.
pub struct Selection {
    /// Run sample indices.
    pub range: std::ops::Range<usize>,
    /// `[b, 3, 64, 64]`.
    pub x: ndarray::ArrayD<f32>,
    /// Explained classes.
    pub targets: Vec<usize>,
    /// Ground-truth masks.
    pub masks: MaskBatch,
    /// Ground-truth boxes.
    pub boxes: Vec<BoundingBox>,
    /// Per-sample seeds (`Shard::sample_seed(SEED, i)`).
    pub seeds: Vec<u64>,
}

/// Predicted classes, 50 images per forward pass.
pub fn predict<M: Classifier>(model: &M, x: ArrayViewD<'_, f32>) -> Result<Vec<usize>> {
    let n = x.shape().first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(50) {
        let len = 50.min(n - start);
        let chunk = x.slice_axis(Axis(0), ndarray::Slice::from(start..start + len));
        let t =
            salience::explain::model::convert::tensor_from_view(chunk.into_dyn(), model.device())?;
        let p: Vec<u32> = model
            .logits(&t)?
            .argmax(candle_core::D::Minus1)?
            .to_vec1()?;
        out.extend(p.into_iter().map(|v| v as usize));
    }
    Ok(out)
}

/// Record keys of the SLIC check: the run's configuration, then σ = 0.
pub const SLIC_KEYS: [&str; 2] = ["slic", "slic_sigma0"];

/// The SLIC check's record metrics of one image (`key` = a [`SLIC_KEYS`]
/// entry): the number of superpixels, the boundary recall of the item mask
/// at 1 and 2 pixels and the undersegmentation error
/// (`salience::perturb::slic`'s definitions).
pub fn slic_records(
    sample: usize,
    image: ArrayViewD<'_, f32>,
    mask: ndarray::ArrayView2<'_, bool>,
    key: &str,
    cfg: &salience::perturb::SlicConfig,
) -> Result<Vec<Record>> {
    use salience::perturb::slic::{boundary_recall, slic, undersegmentation_error};
    let labels = slic(image, cfg)?;
    let k = labels.iter().max().map_or(0, |m| m + 1);
    Ok(vec![
        Record::new(sample, key, "segments", k as f64),
        Record::new(
            sample,
            key,
            "boundary_recall_1",
            boundary_recall(labels.view(), mask, 1)?,
        ),
        Record::new(
            sample,
            key,
            "boundary_recall_2",
            boundary_recall(labels.view(), mask, 2)?,
        ),
        Record::new(
            sample,
            key,
            "undersegmentation",
            undersegmentation_error(labels.view(), mask)?,
        ),
    ])
}

/// Method `m`'s per-sample seeds (`derive_seed(sample seed, m)`).
pub fn method_seeds(seeds: &[u64], m: usize) -> Vec<u64> {
    seeds.iter().map(|&s| derive_seed(s, m as u64)).collect()
}

/// One metric of the localisation panel: its record name and its
/// per-sample function (one sample per call; `Ok(None)` where undefined).
pub type LocMetric = (
    &'static str,
    fn(&AttributionBatch, &MaskBatch, &[BoundingBox]) -> salience::core::Result<f64>,
);

/// The evaluator: the localisation metric panel, as data.
pub const LOC_METRICS: [LocMetric; 7] = [
    ("pointing_game", |a, m, _| {
        first(
            pointing_game(a, m, &PointingGameConfig::default())?
                .strict()?
                .values(),
        )
    }),
    ("mass_accuracy", |a, m, _| {
        first(
            relevance_mass_accuracy(a, m, &PixelMapConfig::default())?
                .strict()?
                .values(),
        )
    }),
    ("rank_accuracy", |a, m, _| {
        first(
            relevance_rank_accuracy(a, m, &PixelMapConfig::default())?
                .strict()?
                .values(),
        )
    }),
    ("box_iou", |a, _, b| {
        first(
            box_localization(a, b, &box_config())?
                .iou
                .strict()?
                .values(),
        )
    }),
    ("box_loc", |a, _, b| {
        let r = box_localization(a, b, &box_config())?;
        r.iou.strict()?;
        Ok(f64::from(u8::from(
            r.localized.first() == Some(&Some(true)),
        )))
    }),
    ("box_iou_all", |a, _, b| {
        let cfg = BoxLocalizationConfig {
            largest_component_only: false,
            ..box_config()
        };
        first(box_localization(a, b, &cfg)?.iou.strict()?.values())
    }),
    ("mask_iou", |a, m, _| mask_iou(a, m, THRESHOLD)),
];

fn box_config() -> BoxLocalizationConfig {
    BoxLocalizationConfig {
        threshold: f64::from(THRESHOLD),
        ..BoxLocalizationConfig::default()
    }
}

fn first(v: &[f64]) -> salience::core::Result<f64> {
    v.first()
        .copied()
        .ok_or_else(|| SalienceError::Empty("metric scores".into()))
}

/// Pixel-wise IoU of one map thresholded at `t` of its min-max range
/// (|channel sum|, as the other metrics) with the ground-truth mask (Choe
/// et al.'s mask-based view of CAM's threshold; every component kept).
pub fn mask_iou(a: &AttributionBatch, m: &MaskBatch, t: f32) -> salience::core::Result<f64> {
    let pm = pixel_maps(a, &PixelMapConfig::default())?;
    let map = pm.index_axis(Axis(0), 0);
    let mask = m.view();
    let mask = mask.index_axis(Axis(0), 0);
    if map.dim() != mask.dim() {
        return Err(SalienceError::shape(
            "mask",
            format!("{:?}", map.dim()),
            mask.shape(),
        ));
    }
    let (lo, hi) = map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Err(SalienceError::DegenerateMap {
            sample: 0,
            map: 0,
            reason: DegenerateReason::Constant,
        });
    }
    let (mut inter, mut union) = (0usize, 0usize);
    for (&v, &g) in map.iter().zip(mask.iter()) {
        let keep = (v - lo) / (hi - lo) >= t;
        inter += usize::from(keep && g);
        union += usize::from(keep || g);
    }
    Ok(inter as f64 / union.max(1) as f64)
}

/// Scores `maps` (one per sample of `sel`) with every metric of
/// [`LOC_METRICS`]; samples where a metric is undefined (a constant map)
/// get no record for it.
pub fn score(key: &str, maps: &AttributionBatch, sel: &Selection) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (j, sample) in sel.range.clone().enumerate() {
        let one = AttributionBatch::new(maps.sample(j)?.insert_axis(Axis(0)).to_owned())?;
        let mask = MaskBatch::from_bool(sel.masks.view().slice(s![j..j + 1, .., ..]).to_owned())?;
        let bx = &sel.boxes[j..j + 1];
        for (name, metric) in LOC_METRICS {
            match metric(&one, &mask, bx) {
                Ok(v) => out.push(Record::new(sample, key, name, v)),
                Err(SalienceError::DegenerateMap { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// Computes this shard of the localisation run of `arch` (model type `M`)
/// and writes its records (`arch.run_loc()`).
pub fn run<M: ArchModel>(
    args: &Args,
    arch: Arch,
    progress: &ProgressBar,
    timings: &mut Vec<(String, f64)>,
) -> Result<PathBuf> {
    let dev = candle_core::Device::Cpu;
    let model = Arc::new(M::shipped(&dev)?);
    let data = LocData::load(model.as_ref())?;
    let budget = &args.budget;
    let n = budget.n_images.min(data.chosen.len());
    let n_mprt = budget.n_mprt.min(n);
    let range = args.shard.range(n);
    let sel = data.select(range.clone())?;
    let mprt_range = range.start..range.end.min(n_mprt).max(range.start);
    let specs = ExplainerSpec::parse_list(&budget.loc_panel(arch))?;
    let reg = registry::<M>();
    let mut panel: Vec<(String, Box<dyn Explainer>)> = specs
        .iter()
        .map(|s| {
            // One image per call: no model batch mixes images, so a
            // sharded run merges to the unsharded records bit for bit.
            let e: Box<dyn Explainer> = Box::new(PerInput(reg.build(s, &model)?));
            Ok((s.name.clone(), e))
        })
        .collect::<salience::core::Result<_>>()?;
    panel.push(("random".into(), Box::new(RandomMap)));
    let done = progress.length().unwrap_or(0);
    progress.set_length(done + (panel.len() + 3 * specs.len() + 4 * specs.len()) as u64);
    let prefix = arch.stage_prefix();

    let mut records: Vec<Record> = Vec::new();
    for (j, i) in range.clone().enumerate() {
        records.push(Record::new(i, "data", "label", sel.targets[j] as f64));
        records.push(Record::new(i, "data", "image", data.chosen[i] as f64));
        // Dabkowski & Gal's "max box": the whole image as the prediction.
        let (h, w) = (data.images.shape()[2], data.images.shape()[3]);
        let full = BoundingBox::new(0, 0, h, w)?;
        let iou = full.iou(&sel.boxes[j]);
        records.push(Record::new(i, "full_box", "box_iou", iou));
        records.push(Record::new(
            i,
            "full_box",
            "box_loc",
            f64::from(u8::from(iou >= 0.5)),
        ));
        // How well the superpixels of KernelSHAP / LIME follow the item,
        // with the run's σ and with scikit-image's default σ = 0.
        let image = sel.x.index_axis(Axis(0), j);
        let mask = data.masks.index_axis(Axis(0), data.chosen[i]);
        let unsmoothed = salience::perturb::SlicConfig {
            sigma: 0.0,
            ..budget.slic()
        };
        for (key, cfg) in [(SLIC_KEYS[0], budget.slic()), (SLIC_KEYS[1], unsmoothed)] {
            records.extend(slic_records(i, image.view(), mask, key, &cfg)?);
        }
    }
    for (m, (key, e)) in panel.iter().enumerate() {
        progress.set_message(format!("{prefix}localisation: {key}"));
        let t = Instant::now();
        let own = method_seeds(&sel.seeds, m);
        let maps = e.explain(sel.x.view(), &sel.targets, Seeds::per_sample(&own))?;
        timings.push((
            format!("{prefix}explain {} images: {key}", sel.targets.len()),
            t.elapsed().as_secs_f64(),
        ));
        records.extend(score(key, &maps, &sel)?);
        progress.inc(1);
    }
    if !mprt_range.is_empty() {
        let sub = data.select(mprt_range)?;
        records.extend(sanity::mprt_records::<M>(
            arch, &specs, &reg, &sub, progress, timings,
        )?);
    }
    let header = RunHeader::new(&arch.run_loc(), n, SEED, args.shard, &budget.config());
    Ok(write_records(&args.out, &header, &records)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use salience::report::records::merge;

    /// A tiny localisation + MPRT run of the VGG: its records file, its
    /// seven MPRT stages and the localisation metrics of every method on
    /// the images the VGG classifies correctly (whatever their number).
    #[test]
    fn tiny_vgg_localisation_run_writes_its_own_records() {
        let dir = std::env::temp_dir().join(format!("gattas_vgg_loc_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let args = crate::tests_args(&dir);
        let progress = ProgressBar::hidden();
        let mut timings = Vec::new();
        let path =
            run::<salience::models::FeatureCnn>(&args, Arch::Vgg, &progress, &mut timings).unwrap();
        assert_eq!(path, dir.join("gattas2020-loc-vgg.jsonl"));
        let m = merge(&[path]).unwrap();
        assert_eq!(m.header.run, "gattas2020-loc-vgg");
        let n = m.values("data", "label").len();
        assert_eq!(n, m.header.n_samples.min(2));
        if n > 0 {
            for key in ["deeplift", "grad_cam", "kernel_shap", "lime", "random"] {
                assert!(
                    !m.values(key, "mass_accuracy").is_empty() || key == "grad_cam",
                    "{key}"
                );
            }
            // The MPRT: 7 stages (or a constant-map stop) per method.
            for key in ["deeplift", "kernel_shap", "lime"] {
                let full = m.values(key, "mprt_spearman_7").len();
                let stop = m.values(key, "mprt_constant_stage").len();
                assert_eq!(full + stop.min(1), 1, "{key}");
                assert!(m.values(key, "mprt_spearman_8").is_empty());
            }
            // Stage names carry the architecture.
            assert!(timings.iter().all(|(s, _)| s.starts_with("small VGG: ")));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
