//! Reproduces Mahlau & Nolde (2022), "Fidelity of Ensemble Aggregation for
//! Saliency Map Explanations using Bayesian Optimization Techniques", on two
//! shipped Fashion-MNIST models (the small CNN and the ViT): Table 1 (every aggregator on z-scored maps),
//! the hyperparameter sweeps of §4.2 (Figures 5–9), the normalization
//! comparison of §4.3 (Figure 10) and the ensemble-size ablation of §4.4
//! (Figure 11), all with insertion / deletion AUC, and a control of the
//! insertion baseline: every Table 1 row scored also with a black and a
//! blurred baseline (issue 23).
//!
//! ```sh
//! cargo run --release --example reproduce_mahlau2022                 # all, then tables
//! cargo run --release --example reproduce_mahlau2022 -- --shard 0/4  # one shard
//! cargo run --release --example reproduce_mahlau2022 -- --merge      # tables from shards
//! ```
//!
//! Flags: `--shard i/n`, `--out DIR` (records, default
//! `target/reproduce_mahlau2022`), `--n-images N` (default 200),
//! `--n-images-vit N` (the ViT's, default `--n-images`), `--merge` (tables and
//! charts from the shard files in `--out`, or from a plain run's records
//! there), `--results DIR`
//! (tables and PNGs, default `target/reproduce_mahlau2022/results`; `--results docs/results` updates the committed report), `--paper` (the paper's
//! explainer and metric budgets; documented, far beyond 10 minutes here),
//! `--note TEXT` (a line on the machine's load for the results file),
//! `--model all|cnn|vit` (the architectures, default both; the report has
//! a part per architecture and a "holds on both" table when both are
//! there). A method that does not apply to a model (PolyCAM on the ViT's
//! token layers) is left out of its ensemble and reads "n/a (reason)".
//!
//! Every image's explanations are computed once; every table and figure is
//! computed from the same maps. All randomness derives from the image's
//! seed `Shard::sample_seed(RUN_SEED, image)`, so a sharded run merges into
//! exactly the unsharded one.

mod agreement;
mod catalogue;
#[path = "../common/mod.rs"]
mod common;
mod control;
mod plots;
mod report;

use catalogue::{Variant, METHODS};
use common::progress_bar;
use ndarray::{Array3, Array4, Axis};
use salience::aggregate::{Aggregation, Aggregator};
use salience::core::model::{forward_chunked, Model};
use salience::core::SalienceError;
use salience::core::{derive_seed, ChannelReduction, PixelMaps};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::{CandleModel, LayerSplit};
use salience::metrics::{deletion, insertion, Baseline, CurveConfig, PerturbationCurves};
use salience::models::assets;
use salience::report::records::{self, Record, RunHeader};
use salience::report::Shard;
use salience::{AttributionBatch, DegeneratePolicy, Ensemble, Explainer, Normalization, Seeds};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The run's name (records file stem).
const RUN: &str = "mahlau2022";
/// Every random draw derives from this seed.
const RUN_SEED: u64 = 2022;

/// The architecture explained (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// The shipped small CNN (`assets::small_cnn`).
    Cnn,
    /// The shipped Vision Transformer (`assets::vit_fashion`), the same
    /// Fashion-MNIST data in 7 × 7 patches of 4 px.
    Vit,
}

impl Arch {
    /// Both, in report order.
    pub const ALL: [Arch; 2] = [Arch::Cnn, Arch::Vit];

    /// (`--model` name, display name, records' run name; the CNN keeps the
    /// original one).
    fn names(self) -> [&'static str; 3] {
        match self {
            Arch::Cnn => ["cnn", "small CNN", RUN],
            Arch::Vit => ["vit", "ViT", "mahlau2022_vit"],
        }
    }

    /// Short name (`--model`, record configuration).
    pub fn name(self) -> &'static str {
        self.names()[0]
    }

    /// Display name for the report.
    pub fn title(self) -> &'static str {
        self.names()[1]
    }

    /// The records' run name (file stem).
    pub fn run_name(self) -> &'static str {
        self.names()[2]
    }

    /// The layers of the CAMs: Grad-CAM's layer and PolyCAM's layers.
    /// The ViT's are the Decker runner's: `blocks.2` (the input of the last
    /// block; the last block's own tokens do not reach the logits), and
    /// PolyCAM's pair the block before it, as `conv1|conv2` on the CNN.
    pub fn cam_layers(self) -> (&'static str, &'static str) {
        match self {
            Arch::Cnn => ("conv2", "conv1|conv2"),
            Arch::Vit => ("blocks.2", "blocks.1|blocks.2"),
        }
    }
}

/// Whole curves are recorded for the images with index below this only
/// (Figures 4 and 10 average them); AUCs for every image. Keeps the
/// committed records small: the curves are half the lines per image.
pub const CURVE_IMAGES: usize = 32;

/// The compute budget: explainer settings and the curves' resolution.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Images explained (the first ones of the shipped sample).
    pub n_images: usize,
    /// Images explained on the ViT, where fewer than `n_images`
    /// (`--n-images-vit`; a ViT image costs about 4–5 CNN images here).
    pub n_images_vit: Option<usize>,
    /// SmoothGrad noise samples (paper 256).
    pub sg_samples: usize,
    /// Integrated Gradients steps (paper 30).
    pub ig_steps: usize,
    /// Expected Gradients baseline draws (paper 20).
    pub eg_samples: usize,
    /// Expected Gradients path points per draw (paper 30).
    pub eg_steps: usize,
    /// iGOS++ optimisation steps (paper 20).
    pub igos_iterations: usize,
    /// iGOS++ integration steps (paper 25).
    pub igos_ig_steps: usize,
    /// RISE masks (paper 5000).
    pub rise_masks: usize,
    /// Insertion / deletion steps (paper 1000, clamped to 784 pixels).
    pub curve_steps: usize,
}

impl Budget {
    /// The default run: 200 images per architecture (issue 23), the
    /// explainers' budgets reduced as the report's budget table states.
    /// Measured single-threaded in release on the shared 2-core machine:
    /// about 5 CPU-s per image on the CNN and 24 on the ViT, i.e. about
    /// 17 min and 80 min of one core; `--shard i/n` splits it (e.g. the ViT
    /// as 2 shards on 2 idle cores, then `--merge`).
    pub fn default_run() -> Self {
        Budget {
            n_images: 200,
            n_images_vit: None,
            sg_samples: 64,
            ig_steps: 30,
            eg_samples: 10,
            eg_steps: 6,
            igos_iterations: 10,
            igos_ig_steps: 10,
            rise_masks: 2000,
            curve_steps: 28,
        }
    }

    /// The paper's budgets (App. A, §4; 2000 images).
    pub fn paper() -> Self {
        Budget {
            n_images: 1000,
            n_images_vit: None,
            sg_samples: 256,
            ig_steps: 30,
            eg_samples: 20,
            eg_steps: 30,
            igos_iterations: 20,
            igos_ig_steps: 25,
            rise_masks: 5000,
            curve_steps: 1000,
        }
    }

    /// The images explained on `arch`.
    pub fn n_for(&self, arch: Arch) -> usize {
        match arch {
            Arch::Cnn => self.n_images,
            Arch::Vit => self.n_images_vit.unwrap_or(self.n_images),
        }
    }

    /// The registry specs of the ensemble, in [`METHODS`] order.
    ///
    /// Sizes are scaled from the paper's 224 × 224 to 28 × 28 (÷ 8): the IG
    /// blur baseline σ = 20, 25 × 25 becomes σ = 2.5, 3 × 3; the iGOS++ mask
    /// 50 × 50 becomes 7 × 7 (4 pixels per cell; 224/50 ≈ 4.5). RISE keeps
    /// its 10 × 10 grid (a resolution relative to the image).
    pub fn panel(&self, arch: Arch) -> String {
        let (grad_cam, poly_cam) = arch.cam_layers();
        format!(
            "smoothgrad:n_samples={},sigma=0.1\n\
             integrated_gradients:n_steps={},baseline=blur,sigma=2.5,kernel_size=3\n\
             expected_gradients:n_samples={},n_steps={},baseline=normal\n\
             grad_cam:layer={grad_cam}\n\
             poly_cam:layers={poly_cam}\n\
             igos_pp:mask_size=7,iterations={},ig_steps={},baseline=normal\n\
             rise:n_masks={},grid=10,p_keep=0.5",
            self.sg_samples,
            self.ig_steps,
            self.eg_samples,
            self.eg_steps,
            self.igos_iterations,
            self.igos_ig_steps,
            self.rise_masks
        )
    }

    /// The insertion / deletion settings: Mahlau & Nolde (2022)'s (random-normal
    /// baseline per channel, softmax probability of the explained class)
    /// with `curve_steps` steps.
    pub fn curves(&self) -> CurveConfig {
        CurveConfig {
            n_steps: self.curve_steps,
            ..CurveConfig::default()
        }
    }

    /// The control baselines (issue 23): the same curves started from (or
    /// ending at) a black image and a blurred copy of the image instead of
    /// the random-normal draw, as (metric suffix, configuration). The blur
    /// is the metrics crate's Petsiuk et al. preset
    /// ([`CurveConfig::petsiuk_insertion`]: σ = 5 px, 11-tap kernel,
    /// reflect border), with this run's `curve_steps`.
    pub fn control_curves(&self) -> [(&'static str, CurveConfig); 2] {
        [
            (
                "black",
                CurveConfig {
                    baseline: Baseline::Constant(0.0),
                    ..self.curves()
                },
            ),
            (
                "blur",
                CurveConfig {
                    baseline: CurveConfig::petsiuk_insertion().baseline,
                    ..self.curves()
                },
            ),
        ]
    }

    /// What identifies the configuration in the records' header.
    pub fn describe(&self, arch: Arch) -> String {
        format!(
            "model={};panel=[{}];curve_steps={};baseline=random_normal;controls={};score=softmax",
            arch.name(),
            self.panel(arch).replace('\n', "; "),
            self.curve_steps,
            self.control_curves()
                .iter()
                .map(|(name, c)| format!("{name}={:?}", c.baseline))
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}

/// Command-line options.
pub struct Args {
    shard: Shard,
    out: PathBuf,
    results: PathBuf,
    merge: bool,
    budget: Budget,
    paper: bool,
    note: Option<String>,
    models: Vec<Arch>,
}

fn parse_args() -> Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let shard = Shard::from_args(&raw)?;
    let mut args = Args {
        shard,
        out: PathBuf::from("target/reproduce_mahlau2022"),
        results: common::default_results("reproduce_mahlau2022"),
        merge: false,
        budget: Budget::default_run(),
        paper: false,
        note: None,
        models: Arch::ALL.to_vec(),
    };
    let mut n_images: Option<usize> = None;
    let mut n_vit: Option<usize> = None;
    let mut it = raw.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shard" => {
                it.next();
            }
            s if s.starts_with("--shard=") => {}
            "--out" => args.out = it.next().ok_or("--out needs a folder")?.into(),
            "--results" => args.results = it.next().ok_or("--results needs a folder")?.into(),
            "--n-images" => n_images = Some(it.next().ok_or("--n-images needs a number")?.parse()?),
            "--n-images-vit" => {
                n_vit = Some(it.next().ok_or("--n-images-vit needs a number")?.parse()?)
            }
            "--merge" => args.merge = true,
            "--paper" => args.paper = true,
            "--note" => args.note = Some(it.next().ok_or("--note needs a text")?.clone()),
            "--model" => {
                args.models = match it.next().ok_or("--model needs all, cnn or vit")?.as_str() {
                    "all" => Arch::ALL.to_vec(),
                    "cnn" => vec![Arch::Cnn],
                    "vit" => vec![Arch::Vit],
                    other => {
                        return Err(format!("--model {other}: expected all, cnn or vit").into())
                    }
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: reproduce_mahlau2022 [--shard i/n] [--out DIR] [--n-images N] [--merge] \
                     [--results DIR] [--paper] [--note TEXT] [--model all|cnn|vit] [--n-images-vit N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)").into()),
        }
    }
    if args.paper {
        args.budget = Budget::paper();
    }
    if let Some(n) = n_images {
        if n == 0 {
            return Err("--n-images must be at least 1".into());
        }
        args.budget.n_images = n;
    }
    if let Some(n) = n_vit {
        if n == 0 {
            return Err("--n-images-vit must be at least 1".into());
        }
        args.budget.n_images_vit = Some(n);
    }
    Ok(args)
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    let budget = &args.budget;
    if args.merge {
        // Per architecture: the shards' files, or else a plain run's
        // records (re-rendering the tables and charts without recomputing).
        let mut runs = Vec::new();
        for &arch in &args.models {
            let run = arch.run_name();
            let plain = args.out.join(Shard::all().file_name(run));
            let files = match records::shard_files(&args.out, run) {
                Ok(f) => f,
                Err(_) if plain.exists() => vec![plain],
                Err(e) => return Err(e.into()),
            };
            runs.push(report::ArchRun {
                arch,
                merged: records::merge(&files)?,
                timing: None,
            });
        }
        return report::write(&runs, budget, &args.results, args.note.as_deref());
    }
    let mut runs = Vec::new();
    for &arch in &args.models {
        let started = Instant::now();
        let load_before = common::load_average();
        let cpu_before = common::cpu_seconds();
        let (recs, unsupported) = run_shard(budget, arch, args.shard)?;
        let header = RunHeader::new(
            arch.run_name(),
            budget.n_for(arch),
            RUN_SEED,
            args.shard,
            &format!(
                "{};{}{}",
                budget.describe(arch),
                report::UNSUPPORTED,
                unsupported.join(" | ")
            ),
        );
        let path = records::write_records(&args.out, &header, &recs)?;
        eprintln!(
            "{}: wrote {} records to {} in {:.1} s",
            arch.title(),
            recs.len(),
            path.display(),
            started.elapsed().as_secs_f64()
        );
        if args.shard.count() == 1 {
            runs.push(report::ArchRun {
                arch,
                merged: records::merge(&[path])?,
                timing: Some(report::Timing {
                    wall: started.elapsed(),
                    load_before,
                    load_after: common::load_average(),
                    cpu: common::cpu_seconds().map(|c| c - cpu_before.unwrap_or(0.0)),
                }),
            });
        } else {
            eprintln!(
                "shard {} of the {} done in {:.1} s; run with --merge once every shard is done",
                args.shard,
                arch.title(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !runs.is_empty() {
        report::write(&runs, budget, &args.results, args.note.as_deref())?;
    }
    Ok(())
}

/// Explains this shard's images with `arch`'s panel, then evaluates every
/// base method and every aggregate of the catalogue; returns the records
/// and, per method that does not apply to the model, "method: reason"
/// (from its typed [`SalienceError::Unsupported`]).
fn run_shard(budget: &Budget, arch: Arch, shard: Shard) -> Result<(Vec<Record>, Vec<String>)> {
    let dev = candle_core::Device::Cpu;
    match arch {
        Arch::Cnn => run_model(budget, arch, Arc::new(assets::small_cnn(&dev)?), shard),
        Arch::Vit => run_model(budget, arch, Arc::new(assets::vit_fashion(&dev)?), shard),
    }
}

/// Why the panel's method `m` does not apply to the model, from the error
/// its `explain` returned: the typed [`SalienceError::Unsupported`] as it
/// is. Any other error is the run's error.
fn unsupported(err: SalienceError) -> std::result::Result<SalienceError, SalienceError> {
    match err {
        e @ SalienceError::Unsupported { .. } => Ok(e),
        e => Err(e),
    }
}

fn run_model<M: LayerSplit + Send + Sync + 'static>(
    budget: &Budget,
    arch: Arch,
    net: Arc<M>,
    shard: Shard,
) -> Result<(Vec<Record>, Vec<String>)> {
    let model = CandleModel::new(net.clone());
    let data = samples::fashion_mnist_sample()?;
    let n_images = budget.n_for(arch);
    if n_images > data.len() {
        return Err(format!(
            "--n-images {n_images} exceeds the {} shipped images",
            data.len()
        )
        .into());
    }
    let range = shard.range(n_images);
    let images: Vec<usize> = range.clone().collect();
    if images.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let x = data.images.select(Axis(0), &images);
    // The predicted class is explained (correct or not, as the paper).
    let logits = forward_chunked(&model, x.view().into_dyn(), None)?;
    let targets: Vec<usize> = logits
        .outer_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(c, _)| c)
        })
        .collect();
    let seeds: Vec<u64> = images
        .iter()
        .map(|&i| Shard::sample_seed(RUN_SEED, i))
        .collect();

    let specs = ExplainerSpec::parse_list(&budget.panel(arch))?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = Registry::with_builtins()
        .build_panel(&specs, &net)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let bar = progress_bar((panel.len() + images.len()) as u64)?;

    // 1. Explanations, once per image (each explainer batches internally).
    // A method that does not apply to the model is left out of the
    // ensemble (and every subset), its reason kept for the tables.
    let mut maps = Vec::with_capacity(panel.len());
    let mut avail = Vec::new();
    let mut na = Vec::new();
    let mut times = Vec::new();
    for (m, e) in panel.iter().enumerate() {
        bar.set_message(format!("explaining: {}", METHODS[m]));
        let t = Instant::now();
        let own: Vec<u64> = seeds.iter().map(|&s| derive_seed(s, m as u64)).collect();
        match e.explain(x.view().into_dyn(), &targets, Seeds::per_sample(&own)) {
            Ok(batch) => {
                maps.push((METHODS[m].to_string(), batch));
                avail.push(m);
            }
            Err(err) => {
                let reason = unsupported(err)?;
                eprintln!("{}: n/a ({reason})", METHODS[m]);
                na.push(format!("{}: {reason}", METHODS[m]));
            }
        }
        times.push((METHODS[m], t.elapsed()));
        bar.inc(1);
    }
    let raw = Ensemble::new(maps)?;
    let all: u32 = avail.iter().map(|&m| 1u32 << m).sum();
    let variants = catalogue::variants(all)?;
    for (name, d) in &times {
        eprintln!(
            "{name}: {:.2} s ({:.3} s per image)",
            d.as_secs_f64(),
            d.as_secs_f64() / images.len() as f64
        );
    }

    // 2. Per image: every aggregate, then the curves of all maps at once.
    let cfg = budget.curves();
    let curve_keys = catalogue::curve_keys(all);
    let controls = budget.control_curves();
    let control: Vec<String> = report::table1_rows(all)
        .into_iter()
        .map(|r| r.1)
        .filter(|k| !catalogue::missing_method(k, all))
        .collect();
    let mut out = Vec::new();
    let t = Instant::now();
    for (j, &image) in images.iter().enumerate() {
        bar.set_message(format!("image {image}: aggregating and scoring"));
        let one = raw.samples(j, 1)?;
        let (keys, stacked) = image_maps(&one, &avail, &variants, seeds[j])?;
        let xi = x.index_axis(Axis(0), j);
        // One baseline per image and metric, shared by all its maps.
        let stream = [derive_seed(seeds[j], 1000), derive_seed(seeds[j], 1001)];
        let (ins, del) = score(&model, xi, stacked.clone(), targets[j], &cfg, stream)?;
        // The baseline control: the Table 1 rows again, black and blurred.
        let rows: Vec<usize> = control
            .iter()
            .map(|k| keys.iter().position(|x| x == k).ok_or("control key"))
            .collect::<std::result::Result<_, _>>()?;
        let sub = stacked.select(Axis(0), &rows);
        for (name, c) in &controls {
            let (ci, cd) = score(&model, xi, sub.clone(), targets[j], c, stream)?;
            for (r, &row) in rows.iter().enumerate() {
                for (metric, curves) in [("insertion", &ci), ("deletion", &cd)] {
                    let v = curves.auc.values().get(r).copied().ok_or("missing AUC")?;
                    out.push(Record::new(
                        image,
                        &keys[row],
                        &format!("{metric}_{name}"),
                        v,
                    ));
                }
            }
        }
        for (r, key) in keys.iter().enumerate() {
            let (a, d) = (
                ins.auc.values().get(r).copied().ok_or("missing AUC")?,
                del.auc.values().get(r).copied().ok_or("missing AUC")?,
            );
            out.push(Record::new(image, key, "insertion", a));
            out.push(Record::new(image, key, "deletion", d));
            if image < CURVE_IMAGES && curve_keys.contains(key) {
                for (metric, curves) in [("ins_curve", &ins.curves), ("del_curve", &del.curves)] {
                    for (s, v) in curves.row(r).iter().enumerate() {
                        out.push(Record::new(image, key, &format!("{metric}@{s:04}"), *v));
                    }
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "aggregation + curves: {:.1} s ({:.2} s per image, {} maps per image)",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() / images.len() as f64,
        avail.len() + variants.len()
    );
    Ok((out, na))
}

/// Insertion and deletion curves of the `[M, H, W]` maps of one image
/// `xi` (`[C, H, W]`) for class `target`; `stream` seeds the insertion and
/// the deletion baseline (shared by all maps).
fn score(
    model: &dyn Model,
    xi: ndarray::ArrayView3<'_, f32>,
    maps: Array3<f32>,
    target: usize,
    cfg: &CurveConfig,
    stream: [u64; 2],
) -> Result<(PerturbationCurves, PerturbationCurves)> {
    let m = maps.shape()[0];
    let (c, h, w) = xi.dim();
    let inputs: Array4<f32> = xi
        .insert_axis(Axis(0))
        .broadcast((m, c, h, w))
        .ok_or("broadcast of the image")?
        .to_owned();
    let a = AttributionBatch::from_pixel_maps(maps)?;
    let (tg, x) = (vec![target; m], inputs.view().into_dyn());
    let [si, sd] = [vec![stream[0]; m], vec![stream[1]; m]];
    let ins = insertion(model, x.view(), &a, &tg, cfg, Seeds::per_sample(&si))?;
    let del = deletion(model, x, &a, &tg, cfg, Seeds::per_sample(&sd))?;
    Ok((ins, del))
}

/// The maps of one image (`one` holds its k raw maps, of the methods
/// `avail` of [`METHODS`]): the base methods
/// (as they are: insertion and deletion only use their pixel order), then
/// every aggregate of the catalogue. Maps whose normalization is undefined
/// (an all-zero Grad-CAM) become zeros. Returns the keys and `[M, H, W]`.
fn image_maps(
    one: &Ensemble,
    avail: &[usize],
    variants: &[Variant],
    seed: u64,
) -> Result<(Vec<String>, Array3<f32>)> {
    let shape = one.map_shape();
    let (h, w) = match shape.as_slice() {
        [_, h, w] => (*h, *w),
        other => return Err(format!("expected pixel maps, got {other:?}").into()),
    };
    let mut keys: Vec<String> = Vec::new();
    let mut flat: Vec<f32> = Vec::new();
    for m in 0..one.k() {
        keys.push(catalogue::method_key(
            avail.get(m).copied().ok_or("method index")?,
        ));
        flat.extend(one.map(m)?.iter());
    }
    let mut normalized: BTreeMap<&'static str, Ensemble> = BTreeMap::new();
    let mut selected: BTreeMap<(&'static str, u32), Ensemble> = BTreeMap::new();
    for v in variants {
        let name = v.norm.name();
        if !normalized.contains_key(name) {
            let e = normalize(one, v.norm)?;
            normalized.insert(name, e);
        }
        if let Entry::Vacant(slot) = selected.entry((name, v.subset)) {
            let base = normalized.get(name).ok_or("normalized ensemble")?;
            let idx: Vec<usize> = (0..one.k())
                .filter(|&j| avail.get(j).is_some_and(|m| v.subset >> m & 1 == 1))
                .collect();
            slot.insert(base.select(&idx)?);
        }
        let e = selected.get(&(name, v.subset)).ok_or("selected ensemble")?;
        // RBM's generator: this image's own stream (sample 0 of a batch of 1).
        let agg = match v.agg {
            Aggregation::Rbm(mut r) => {
                r.seed = derive_seed(seed, 2000);
                Aggregation::Rbm(r)
            }
            a => a,
        };
        let map = agg.aggregate(e)?;
        keys.push(v.key.clone());
        flat.extend(map.as_flat().iter());
    }
    let m = keys.len();
    Ok((keys, Array3::from_shape_vec((m, h, w), flat)?))
}

fn normalize(e: &Ensemble, n: Normalization) -> Result<Ensemble> {
    Ok(e.normalize(n, DegeneratePolicy::Zeros)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PolyCAM explains the ViT at its token layers (read as the 7 × 7
    /// patch grid; the library refused them with a shape error before),
    /// and only a typed `Unsupported` error marks a method as not
    /// applying: any other error stays the run's error.
    #[test]
    fn poly_cam_explains_the_vit_and_only_unsupported_is_not_applicable() {
        let dev = candle_core::Device::Cpu;
        let vit = Arc::new(assets::vit_fashion(&dev).unwrap());
        let data = samples::fashion_mnist_sample().unwrap();
        let x = data.images.select(Axis(0), &[0]);
        let (_, poly) = Arch::Vit.cam_layers();
        let spec: ExplainerSpec = format!("poly_cam:layers={poly}").parse().unwrap();
        let e = Registry::with_builtins().build(&spec, &vit).unwrap();
        let map = e
            .explain(x.view().into_dyn(), &[0], Seeds::per_sample(&[1]))
            .unwrap();
        assert_eq!(map.shape(), &[1, 28, 28]);
        assert!(map.view().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(map.view().iter().any(|&v| v > 0.5));
        let u = SalienceError::unsupported("PolyCAM", "ViT", "a reason");
        assert!(matches!(
            unsupported(u),
            Ok(SalienceError::Unsupported { method, .. }) if method == "PolyCAM"
        ));
        assert!(unsupported(SalienceError::Empty("inputs".into())).is_err());
        let shape = SalienceError::shape("t", "[N, K, h, w]", &[1, 2]);
        assert!(unsupported(shape).is_err());
    }
}
