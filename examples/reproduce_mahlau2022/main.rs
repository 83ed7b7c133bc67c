//! Reproduces Mahlau & Nolde (2022), "Fidelity of Ensemble Aggregation for
//! Saliency Map Explanations using Bayesian Optimization Techniques", on three
//! shipped models and two datasets — the small CNN and the ViT on
//! Fashion-MNIST (1 × 28 × 28), and the small ResNet on the localization set
//! (3 × 64 × 64: a Fashion-MNIST item on a textured colour background):
//! Table 1 (every aggregator on z-scored maps),
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
//! `--n-images-vit N` (the ViT's, default `--n-images`), `--n-images-loc N`
//! (the ResNet's, default `--n-images` capped at the 200 shipped
//! localization images), `--merge` (tables and
//! charts from the shard files in `--out`, or from a plain run's records
//! there), `--results DIR`
//! (tables and PNGs, default `target/reproduce_mahlau2022/results`; `--results docs/results` updates the committed report), `--paper` (the paper's
//! explainer and metric budgets; documented, far beyond 10 minutes here),
//! `--note TEXT` (a line on the machine's load for the results file),
//! `--model all|cnn|vit|resnet_loc` or a comma list such as `cnn,resnet_loc`
//! (the architectures, default all three; the report has a part per
//! architecture and a "holds on all" table when more than one is there).
//! A method that does not apply to a model (typed `Unsupported` error) is
//! left out of its ensemble and reads "n/a (reason)".
//!
//! Every run, plain or `--shard i/n`, also writes its provenance next to
//! its records as `<records stem>.run.json` (`mahlau2022_loc.run.json`,
//! `mahlau2022_loc.shard-0-of-2.run.json`, …; `common::provenance`): the
//! command, commit, machine, wall and CPU time and load of that run.
//! `--merge` reads them back (and copies them to `--results`), so a report
//! merged from records of different runs (or commits) states each run's
//! own provenance and whether they share one commit.
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
    /// The shipped small ResNet (`assets::resnet_small`) on the second
    /// dataset: the shipped localization sample (3 × 64 × 64, a
    /// Fashion-MNIST item on a textured colour background).
    ResnetLoc,
}

impl Arch {
    /// All three, in report order.
    pub const ALL: [Arch; 3] = [Arch::Cnn, Arch::Vit, Arch::ResnetLoc];

    /// (`--model` name, display name, records' run name; the CNN keeps the
    /// original one).
    fn names(self) -> [&'static str; 3] {
        match self {
            Arch::Cnn => ["cnn", "small CNN", RUN],
            Arch::Vit => ["vit", "ViT", "mahlau2022_vit"],
            Arch::ResnetLoc => [
                "resnet_loc",
                "small ResNet (localization)",
                "mahlau2022_loc",
            ],
        }
    }

    /// The architecture of a `--model` name.
    pub fn parse(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The side of the (square) input images in pixels.
    pub fn side(self) -> usize {
        match self {
            Arch::Cnn | Arch::Vit => 28,
            Arch::ResnetLoc => 64,
        }
    }

    /// Pixels per image (what insertion / deletion reveal or remove).
    pub fn pixels(self) -> usize {
        self.side() * self.side()
    }

    /// The dataset in words (report).
    pub fn dataset(self) -> &'static str {
        match self {
            Arch::Cnn | Arch::Vit => "Fashion-MNIST",
            Arch::ResnetLoc => "localization (Fashion-MNIST items on textured colour backgrounds)",
        }
    }

    /// The images the architecture explains: the shipped Fashion-MNIST
    /// test sample (`[1000, 1, 28, 28]`) or the shipped localization
    /// sample (`[200, 3, 64, 64]`).
    pub fn images(self) -> Result<Array4<f32>> {
        Ok(match self {
            Arch::Cnn | Arch::Vit => samples::fashion_mnist_sample()?.images,
            Arch::ResnetLoc => samples::localization_sample()?.images,
        })
    }

    /// The sizes of the panel scaled from the paper's 224 px to this
    /// input: (IG blur σ, IG blur kernel, iGOS++ mask cells per side).
    /// 28 px (÷ 8): σ 20 → 2.5, 25 × 25 → 3 × 3, 50 × 50 → 7 × 7 (4 px per
    /// cell); 64 px (÷ 3.5): σ → 5.7, 25 → 7 × 7, 50 → 14 × 14 (4.6 px per
    /// cell; the paper's 224/50 ≈ 4.5).
    pub fn scaled_sizes(self) -> (f64, usize, usize) {
        match self {
            Arch::Cnn | Arch::Vit => (2.5, 3, 7),
            Arch::ResnetLoc => (5.7, 7, 14),
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
    /// The ResNet's are its last two split points with a spatial map
    /// (`LayerSplit` at `stem`, `layer1` … `layer3`, `avgpool`, `fc`):
    /// `layer3` (64 × 8 × 8, the last conv stage, as the paper's "last conv
    /// layer" and the Gattas runner) for Grad-CAM, `layer2|layer3`
    /// (16 × 16 and 8 × 8) for PolyCAM.
    pub fn cam_layers(self) -> (&'static str, &'static str) {
        match self {
            Arch::Cnn => ("conv2", "conv1|conv2"),
            Arch::Vit => ("blocks.2", "blocks.1|blocks.2"),
            Arch::ResnetLoc => ("layer3", "layer2|layer3"),
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
    /// Images explained on the ResNet (`--n-images-loc`; default
    /// `n_images` capped at the 200 shipped localization images).
    pub n_images_loc: Option<usize>,
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
    /// Insertion / deletion steps (paper 1000, clamped to the pixels: 784
    /// on Fashion-MNIST, 4096 on the localization set). The same count on
    /// every architecture, so every step moves the same fraction of the
    /// image (1/28 = 3.6 %: 28 px of 784, 146–147 px of 4096).
    pub curve_steps: usize,
}

impl Budget {
    /// The default run: 200 images per architecture (issue 23), the
    /// explainers' budgets reduced as the report's budget table states.
    /// Measured single-threaded in release (`RAYON_NUM_THREADS=1`) on the
    /// shared 2-core machine: about 5 CPU-s per image on the CNN, 26 on the
    /// ViT (all 7 methods, PolyCAM included: 338 maps per image) and 51–56 on
    /// the ResNet on the 64 × 64 × 3 localization images (53–55 s wall at
    /// load 2–4; 44–46 s of it the curves: 338 maps × 29 points × 2 plus the
    /// control baselines' 17 rows, each a forward pass of the ResNet), i.e.
    /// about 17 min, 85 min and 3 h of one core for 200 images (the ResNet's
    /// default: all 200 shipped localization images). `--shard i/n` splits
    /// a run (e.g. as 2 shards on 2 idle cores, then `--merge`).
    pub fn default_run() -> Self {
        Budget {
            n_images: 200,
            n_images_vit: None,
            n_images_loc: None,
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
            n_images_loc: None,
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
            Arch::ResnetLoc => self
                .n_images_loc
                .unwrap_or(self.n_images.min(samples::LOCALIZATION_SAMPLE_LEN)),
        }
    }

    /// The registry specs of the ensemble, in [`METHODS`] order.
    ///
    /// Sizes are scaled from the paper's 224 × 224 to the input
    /// ([`Arch::scaled_sizes`]): on 28 × 28 (÷ 8) the IG blur baseline
    /// σ = 20, 25 × 25 becomes σ = 2.5, 3 × 3 and the iGOS++ mask 50 × 50
    /// becomes 7 × 7 (4 pixels per cell; 224/50 ≈ 4.5); on 64 × 64 (÷ 3.5)
    /// σ = 5.7, 7 × 7 and 14 × 14. RISE keeps its 10 × 10 grid (a
    /// resolution relative to the image).
    pub fn panel(&self, arch: Arch) -> String {
        let (grad_cam, poly_cam) = arch.cam_layers();
        let (sigma, kernel, mask) = arch.scaled_sizes();
        format!(
            "smoothgrad:n_samples={},sigma=0.1\n\
             integrated_gradients:n_steps={},baseline=blur,sigma={sigma},kernel_size={kernel}\n\
             expected_gradients:n_samples={},n_steps={},baseline=normal\n\
             grad_cam:layer={grad_cam}\n\
             poly_cam:layers={poly_cam}\n\
             igos_pp:mask_size={mask},iterations={},ig_steps={},baseline=normal\n\
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
    let mut n_loc: Option<usize> = None;
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
            "--n-images-loc" => {
                n_loc = Some(it.next().ok_or("--n-images-loc needs a number")?.parse()?)
            }
            "--merge" => args.merge = true,
            "--paper" => args.paper = true,
            "--note" => args.note = Some(it.next().ok_or("--note needs a text")?.clone()),
            "--model" => {
                args.models = parse_models(it.next().ok_or("--model needs a value")?)?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: reproduce_mahlau2022 [--shard i/n] [--out DIR] [--n-images N] [--merge] \
                     [--results DIR] [--paper] [--note TEXT] [--model all|cnn|vit|resnet_loc[,…]] \
                     [--n-images-vit N] [--n-images-loc N]"
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
    if let Some(n) = n_loc {
        if n == 0 {
            return Err("--n-images-loc must be at least 1".into());
        }
        args.budget.n_images_loc = Some(n);
    }
    Ok(args)
}

/// `--model`: `all`, one name, or a comma-separated list of names
/// ([`Arch::name`]), kept in report order ([`Arch::ALL`]).
fn parse_models(value: &str) -> Result<Vec<Arch>> {
    if value == "all" {
        return Ok(Arch::ALL.to_vec());
    }
    let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
    let mut chosen = Vec::new();
    for part in value.split(',') {
        let arch = Arch::parse(part.trim()).ok_or_else(|| {
            format!(
                "--model {part}: expected all or one of {}",
                names.join(", ")
            )
        })?;
        chosen.push(arch);
    }
    Ok(Arch::ALL
        .into_iter()
        .filter(|a| chosen.contains(a))
        .collect())
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
            // Each records file's provenance, where its run wrote one.
            let prov = common::provenance::for_records(
                &args.out,
                &files,
                |stem| stem.to_string(),
                |stem| format!("{}, `{stem}.jsonl`", arch.title()),
            )?;
            runs.push(report::ArchRun {
                arch,
                merged: records::merge(&files)?,
                runs: prov,
            });
        }
        return report::write(&runs, budget, &args.results, args.note.as_deref());
    }
    let mut runs = Vec::new();
    for &arch in &args.models {
        let started = Instant::now();
        let clock = common::provenance::RunClock::start();
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
        // Every run (plain or shard) leaves its provenance next to its records.
        let range = args.shard.range(budget.n_for(arch));
        let covers = if args.shard.count() == 1 {
            format!("{}, images {}..{}", arch.title(), range.start, range.end)
        } else {
            format!(
                "{}, shard {}, images {}..{}",
                arch.title(),
                args.shard,
                range.start,
                range.end
            )
        };
        let timing = clock.finish("reproduce_mahlau2022", &covers, args.note.as_deref());
        let stem = common::provenance::records_stem(&path);
        timing.save(&args.out, &stem)?;
        if args.shard.count() == 1 {
            runs.push(report::ArchRun {
                arch,
                merged: records::merge(&[path])?,
                runs: vec![common::provenance::RunEntry {
                    label: stem.clone(),
                    stem,
                    prov: Some(timing),
                }],
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
        Arch::ResnetLoc => run_model(budget, arch, Arc::new(assets::resnet_small(&dev)?), shard),
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
    let data = arch.images()?;
    let n_images = budget.n_for(arch);
    if n_images > data.shape()[0] {
        return Err(format!(
            "{n_images} images asked of the {}, but {} are shipped",
            arch.title(),
            data.shape()[0]
        )
        .into());
    }
    let range = shard.range(n_images);
    let images: Vec<usize> = range.clone().collect();
    if images.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let x = data.select(Axis(0), &images);
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

    /// `--model` takes `all`, a name or a comma list (kept in report
    /// order); the ResNet's default image count is capped at the 200
    /// shipped localization images.
    #[test]
    fn model_names_and_the_resnet_image_count() {
        assert_eq!(parse_models("all").unwrap(), Arch::ALL.to_vec());
        assert_eq!(parse_models("resnet_loc").unwrap(), vec![Arch::ResnetLoc]);
        assert_eq!(
            parse_models("resnet_loc,cnn").unwrap(),
            vec![Arch::Cnn, Arch::ResnetLoc]
        );
        assert!(parse_models("resnet").is_err());
        let mut b = Budget::default_run();
        assert_eq!(b.n_for(Arch::ResnetLoc), 200);
        b.n_images = 1000;
        assert_eq!(b.n_for(Arch::ResnetLoc), 200);
        b.n_images = 32;
        assert_eq!(b.n_for(Arch::ResnetLoc), 32);
        b.n_images_loc = Some(8);
        assert_eq!((b.n_for(Arch::ResnetLoc), b.n_for(Arch::Cnn)), (8, 32));
        // The CNN's panel is unchanged by the per-architecture scaling.
        assert!(b
            .panel(Arch::Cnn)
            .contains("baseline=blur,sigma=2.5,kernel_size=3"));
        assert!(b.panel(Arch::Cnn).contains("igos_pp:mask_size=7,"));
        let loc = b.panel(Arch::ResnetLoc);
        assert!(loc.contains("sigma=5.7,kernel_size=7"), "{loc}");
        assert!(loc.contains("grad_cam:layer=layer3"), "{loc}");
        assert!(loc.contains("poly_cam:layers=layer2|layer3"), "{loc}");
        assert!(loc.contains("igos_pp:mask_size=14,"), "{loc}");
    }

    /// A tiny run of the ResNet on the localization images (2 images,
    /// minimal budgets): every method applies, every image has finite
    /// insertion / deletion AUCs in [0, 1] for every base method, every
    /// Table 1 row and both control baselines, and the report renders
    /// from the records (a part for the ResNet, provenance stated).
    #[test]
    fn resnet_loc_tiny_run_records_every_method_and_reports() {
        let budget = Budget {
            n_images: 2,
            n_images_vit: None,
            n_images_loc: None,
            sg_samples: 2,
            ig_steps: 2,
            eg_samples: 1,
            eg_steps: 2,
            igos_iterations: 1,
            igos_ig_steps: 2,
            rise_masks: 8,
            curve_steps: 4,
        };
        let (recs, na) = run_shard(&budget, Arch::ResnetLoc, Shard::all()).unwrap();
        assert!(na.is_empty(), "{na:?}");
        let value = |image: usize, key: &str, metric: &str| {
            recs.iter()
                .find(|r| r.sample == image && r.method == key && r.metric == metric)
                .map(|r| r.value)
        };
        let rows = report::table1_rows(catalogue::ALL);
        assert_eq!(rows.len(), METHODS.len() + catalogue::TABLE1.len());
        for image in 0..2 {
            for (label, key) in &rows {
                for metric in [
                    "insertion",
                    "deletion",
                    "insertion_black",
                    "deletion_black",
                    "insertion_blur",
                    "deletion_blur",
                ] {
                    let v = value(image, key, metric)
                        .unwrap_or_else(|| panic!("no {metric} of {label} on image {image}"));
                    assert!(
                        v.is_finite() && (0.0..=1.0).contains(&v),
                        "{label} {metric}: {v}"
                    );
                }
            }
        }
        // Whole curves: S + 1 points of the base methods.
        assert!(value(0, &catalogue::method_key(0), "ins_curve@0004").is_some());
        assert!(value(0, &catalogue::method_key(0), "ins_curve@0005").is_none());

        let dir = std::env::temp_dir().join(format!("mahlau_loc_{}", std::process::id()));
        let header = RunHeader::new(
            Arch::ResnetLoc.run_name(),
            2,
            RUN_SEED,
            Shard::all(),
            &format!(
                "{};{}",
                budget.describe(Arch::ResnetLoc),
                report::UNSUPPORTED
            ),
        );
        let path = records::write_records(&dir, &header, &recs).unwrap();
        let arch_run = |dir: &std::path::Path| report::ArchRun {
            arch: Arch::ResnetLoc,
            merged: records::merge(std::slice::from_ref(&path)).unwrap(),
            runs: common::provenance::for_records(
                dir,
                std::slice::from_ref(&path),
                |s| s.to_string(),
                |s| s.to_string(),
            )
            .unwrap(),
        };
        let runs = [arch_run(&dir)];
        report::write(&runs, &budget, &dir, None).unwrap();
        let md = std::fs::read_to_string(dir.join("mahlau2022.md")).unwrap();
        assert!(
            md.contains("## small ResNet (localization) (n = 2)"),
            "{md}"
        );
        assert!(md.contains("`layer3` (64 × 8 × 8"), "{md}");
        assert!(md.contains("1024 px per step of 4096"), "{md}");
        assert!(
            md.contains("no provenance file: computed before provenance was recorded"),
            "{md}"
        );
        assert!(dir.join("mahlau2022_loc_fig4_curves.png").exists());
        // With the run's provenance next to its records, the report states
        // it and its commit, and the results folder gets a copy.
        let prov = common::provenance::RunClock::start().finish(
            "reproduce_mahlau2022",
            "small ResNet (localization), images 0..2",
            Some("test"),
        );
        prov.save(&dir, "mahlau2022_loc").unwrap();
        let results = dir.join("results");
        report::write(&[arch_run(&dir)], &budget, &results, None).unwrap();
        let md = std::fs::read_to_string(results.join("mahlau2022.md")).unwrap();
        assert!(md.contains("(n = 2; run `mahlau2022_loc`)"), "{md}");
        assert!(
            md.contains(&format!(
                "* All records were computed at commit `{}`.",
                prov.commit
            )),
            "{md}"
        );
        assert_eq!(
            common::provenance::RunProvenance::load(&results, "mahlau2022_loc").unwrap(),
            Some(prov)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

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
