//! Reproduces Mahlau & Nolde (2022), "Fidelity of Ensemble Aggregation for
//! Saliency Map Explanations using Bayesian Optimization Techniques", on the
//! shipped Fashion-MNIST CNN: Table 1 (every aggregator on z-scored maps),
//! the hyperparameter sweeps of §4.2 (Figures 5–9), the normalization
//! comparison of §4.3 (Figure 10) and the ensemble-size ablation of §4.4
//! (Figure 11), all with insertion / deletion AUC.
//!
//! ```sh
//! cargo run --release --example reproduce_mahlau2022                 # all, then tables
//! cargo run --release --example reproduce_mahlau2022 -- --shard 0/4  # one shard
//! cargo run --release --example reproduce_mahlau2022 -- --merge      # tables from shards
//! ```
//!
//! Flags: `--shard i/n`, `--out DIR` (records, default
//! `target/reproduce_mahlau2022`), `--n-images N`, `--merge` (tables and
//! charts from the shard files in `--out`, or from a plain run's records
//! there), `--results DIR`
//! (tables and PNGs, default `target/reproduce_mahlau2022/results`; `--results docs/results` updates the committed report), `--paper` (the paper's
//! explainer and metric budgets; documented, far beyond 10 minutes here),
//! `--note TEXT` (a line on the machine's load for the results file).
//!
//! Every image's explanations are computed once; every table and figure is
//! computed from the same maps. All randomness derives from the image's
//! seed `Shard::sample_seed(RUN_SEED, image)`, so a sharded run merges into
//! exactly the unsharded one.

mod agreement;
mod catalogue;
#[path = "../common/mod.rs"]
mod common;
mod plots;
mod report;

use catalogue::{Variant, METHODS};
use common::progress_bar;
use ndarray::{Array3, Array4, Axis};
use salience::aggregate::{Aggregation, Aggregator};
use salience::core::{derive_seed, model::forward_chunked, ChannelReduction, PixelMaps};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::CandleModel;
use salience::metrics::{deletion, insertion, CurveConfig};
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

/// The compute budget: explainer settings and the curves' resolution.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Images explained (the first ones of the shipped sample).
    pub n_images: usize,
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
    /// The shipped run: ≤ ~10 minutes on 2 idle cores in release.
    pub fn default_run() -> Self {
        Budget {
            n_images: 32,
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

    /// The registry specs of the ensemble, in [`METHODS`] order.
    ///
    /// Sizes are scaled from the paper's 224 × 224 to 28 × 28 (÷ 8): the IG
    /// blur baseline σ = 20, 25 × 25 becomes σ = 2.5, 3 × 3; the iGOS++ mask
    /// 50 × 50 becomes 7 × 7 (4 pixels per cell; 224/50 ≈ 4.5). RISE keeps
    /// its 10 × 10 grid (a resolution relative to the image).
    pub fn panel(&self) -> String {
        format!(
            "smoothgrad:n_samples={},sigma=0.1\n\
             integrated_gradients:n_steps={},baseline=blur,sigma=2.5,kernel_size=3\n\
             expected_gradients:n_samples={},n_steps={},baseline=normal\n\
             grad_cam:layer=conv2\n\
             poly_cam:layers=conv1|conv2\n\
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

    /// What identifies the configuration in the records' header.
    pub fn describe(&self) -> String {
        format!(
            "panel=[{}];curve_steps={};baseline=random_normal;score=softmax",
            self.panel().replace('\n', "; "),
            self.curve_steps
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
    };
    let mut n_images: Option<usize> = None;
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
            "--merge" => args.merge = true,
            "--paper" => args.paper = true,
            "--note" => args.note = Some(it.next().ok_or("--note needs a text")?.clone()),
            "-h" | "--help" => {
                println!(
                    "usage: reproduce_mahlau2022 [--shard i/n] [--out DIR] [--n-images N] [--merge] \
                     [--results DIR] [--paper] [--note TEXT]"
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
    Ok(args)
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    let budget = &args.budget;
    let header = RunHeader::new(
        RUN,
        budget.n_images,
        RUN_SEED,
        args.shard,
        &budget.describe(),
    );
    if args.merge {
        // The shards' files, or else a plain run's records (re-rendering
        // the tables and charts without recomputing anything).
        let files = match records::shard_files(&args.out, RUN) {
            Ok(f) => f,
            Err(_) if args.out.join(Shard::all().file_name(RUN)).exists() => {
                vec![args.out.join(Shard::all().file_name(RUN))]
            }
            Err(e) => return Err(e.into()),
        };
        let merged = records::merge(&files)?;
        return report::write(&merged, budget, &args.results, None, args.note.as_deref());
    }
    let started = Instant::now();
    let load_before = common::load_average();
    let recs = run_shard(budget, args.shard)?;
    let path = records::write_records(&args.out, &header, &recs)?;
    eprintln!("wrote {} records to {}", recs.len(), path.display());
    if args.shard.count() == 1 {
        let merged = records::merge(&[path])?;
        let timing = report::Timing {
            wall: started.elapsed(),
            load_before,
            load_after: common::load_average(),
            cpu: common::cpu_seconds(),
        };
        report::write(
            &merged,
            budget,
            &args.results,
            Some(timing),
            args.note.as_deref(),
        )?;
    } else {
        eprintln!(
            "shard {} done in {:.1} s; run with --merge once every shard is done",
            args.shard,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Explains this shard's images with the whole panel, then evaluates every
/// base method and every aggregate of the catalogue; returns the records.
fn run_shard(budget: &Budget, shard: Shard) -> Result<Vec<Record>> {
    let cnn = Arc::new(assets::small_cnn(&candle_core::Device::Cpu)?);
    let model = CandleModel::new(cnn.clone());
    let data = samples::fashion_mnist_sample()?;
    if budget.n_images > data.len() {
        return Err(format!(
            "--n-images {} exceeds the {} shipped images",
            budget.n_images,
            data.len()
        )
        .into());
    }
    let range = shard.range(budget.n_images);
    let images: Vec<usize> = range.clone().collect();
    if images.is_empty() {
        return Ok(Vec::new());
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

    let specs = ExplainerSpec::parse_list(&budget.panel())?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = Registry::with_builtins()
        .build_panel(&specs, &cnn)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let variants = catalogue::variants()?;
    let bar = progress_bar((panel.len() + images.len()) as u64)?;

    // 1. Explanations, once per image (each explainer batches internally).
    let mut maps = Vec::with_capacity(panel.len());
    let mut times = Vec::new();
    for (m, e) in panel.iter().enumerate() {
        bar.set_message(format!("explaining: {}", METHODS[m]));
        let t = Instant::now();
        let own: Vec<u64> = seeds.iter().map(|&s| derive_seed(s, m as u64)).collect();
        let batch = e.explain(x.view().into_dyn(), &targets, Seeds::per_sample(&own))?;
        maps.push((METHODS[m].to_string(), batch));
        times.push((METHODS[m], t.elapsed()));
        bar.inc(1);
    }
    let raw = Ensemble::new(maps)?;
    for (name, d) in &times {
        eprintln!(
            "{name}: {:.2} s ({:.3} s per image)",
            d.as_secs_f64(),
            d.as_secs_f64() / images.len() as f64
        );
    }

    // 2. Per image: every aggregate, then the curves of all maps at once.
    let cfg = budget.curves();
    let curve_keys = catalogue::curve_keys();
    let mut out = Vec::new();
    let t = Instant::now();
    for (j, &image) in images.iter().enumerate() {
        bar.set_message(format!("image {image}: aggregating and scoring"));
        let one = raw.samples(j, 1)?;
        let (keys, stacked) = image_maps(&one, &variants, seeds[j])?;
        let xi = x.index_axis(Axis(0), j);
        let m = keys.len();
        let inputs: Array4<f32> = xi
            .insert_axis(Axis(0))
            .broadcast((m, xi.shape()[0], xi.shape()[1], xi.shape()[2]))
            .ok_or("broadcast of the image")?
            .to_owned();
        let attributions = AttributionBatch::from_pixel_maps(stacked)?;
        let tg = vec![targets[j]; m];
        // One baseline per image and metric, shared by all its maps.
        let ins_seeds = vec![derive_seed(seeds[j], 1000); m];
        let del_seeds = vec![derive_seed(seeds[j], 1001); m];
        let ins = insertion(
            &model,
            inputs.view().into_dyn(),
            &attributions,
            &tg,
            &cfg,
            Seeds::per_sample(&ins_seeds),
        )?;
        let del = deletion(
            &model,
            inputs.view().into_dyn(),
            &attributions,
            &tg,
            &cfg,
            Seeds::per_sample(&del_seeds),
        )?;
        for (r, key) in keys.iter().enumerate() {
            let (a, d) = (
                ins.auc.values().get(r).copied().ok_or("missing AUC")?,
                del.auc.values().get(r).copied().ok_or("missing AUC")?,
            );
            out.push(Record::new(image, key, "insertion", a));
            out.push(Record::new(image, key, "deletion", d));
            if curve_keys.contains(key) {
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
        METHODS.len() + variants.len()
    );
    Ok(out)
}

/// The maps of one image (`one` holds its k raw maps): the base methods
/// (as they are: insertion and deletion only use their pixel order), then
/// every aggregate of the catalogue. Maps whose normalization is undefined
/// (an all-zero Grad-CAM) become zeros. Returns the keys and `[M, H, W]`.
fn image_maps(
    one: &Ensemble,
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
        keys.push(catalogue::method_key(m));
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
            let idx: Vec<usize> = (0..one.k()).filter(|m| v.subset >> m & 1 == 1).collect();
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
