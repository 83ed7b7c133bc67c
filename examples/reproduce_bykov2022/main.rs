//! Reproduction of Bykov et al. (AAAI 2022), "NoiseGrad — Enhancing
//! Explanations by Introducing Stochasticity to Model Weights" (Bykov et al. (2022)),
//! on two architectures, the shipped small ResNet and the shipped small VGG
//! (`--model resnet|vgg|all`, default `all`), and the shipped 64×64
//! localization sample (the paper's CMNIST counterpart: a Fashion-MNIST
//! item on a random background, with its exact mask).
//!
//! ```text
//! cargo run --release --example reproduce_bykov2022 [-- --model resnet|vgg|all]
//!     [--n-images N] [--shard i/n] [--out DIR] [--merge] [--results DIR]
//!     [--paper] [--note TEXT]
//!
//! Each architecture has its own records stem ([`Arch::stem`]):
//! `bykov2022` (ResNet) and `bykov2022_vgg` (VGG); `--shard i/n` runs
//! shard i of every chosen architecture. Every run that writes records
//! (plain or `--shard i/n`) writes its provenance next to them as
//! `<records stem>.run.json` (`bykov2022.run.json`,
//! `bykov2022_vgg.shard-0-of-2.run.json`; `common::provenance`);
//! `--merge` reads the records of whichever chosen architectures are in
//! `--out` (shard files, else the merged `<stem>.jsonl`), states each run's
//! provenance and copies the files to `--results`. One report,
//! `bykov2022.md`, has a section per architecture and the table of the
//! claims that hold on every architecture present.
//! ```
//!
//! * **Table 1 analogue**: Baseline (Saliency: |∇ logit| summed over the
//!   colour channels, as the authors' `saliency_explainer`), SmoothGrad,
//!   NoiseGrad and FusionGrad with the paper's noise heuristics (σ_NG by
//!   the 5 % relative accuracy drop of eq. 5 on a labelled set; α_SG = 0.2;
//!   FusionGrad halves both), scored by localization (relevance rank
//!   accuracy, the paper's metric, plus ranking AUC, relevance mass
//!   accuracy and the pointing game), faithfulness correlation, max/avg
//!   sensitivity, Gini and entropy; Wilcoxon signed-rank tests of NG and
//!   FG against Baseline and SG. Two extra rows: SmoothGrad at α_SG = 0.05
//!   (the value of the paper's main-text Table 2; the control for
//!   SmoothGrad's noise level) and NoiseGrad++ (the appendix's eq. 6 rule
//!   for FusionGrad: α_SG = 0.1 fixed, σ_NG from the accuracy drop with
//!   both noises; the authors' code calls FusionGrad `NoiseGradPlusPlus`).
//! * **Table 3 analogue** (appendix): the same four methods and metrics
//!   with Integrated Gradients (zero baseline, Gauss–Legendre, fewer
//!   steps and draws than the paper; see `Budget`) as the base explanation.
//! * **Figures 3 and 9 analogues**: ranking AUC and rank accuracy against
//!   σ_NG (NoiseGrad), α_SG (SmoothGrad) and both (FusionGrad), the
//!   model's accuracy under weight noise against σ_NG, and AUC against the
//!   relative accuracy drop.
//! * One PNG grid of example explanations.
//!
//! Images: the correctly classified images of the shipped sample, in
//! sample order; the label (= the
//! predicted class) is explained. Per-sample results are JSON-lines
//! records (`--out`, default `target/reproduce_bykov2022/`); tables and
//! charts are computed from the merged records only (`--merge` after a
//! sharded run; a plain run does both).

mod charts;
#[path = "../common/mod.rs"]
mod common;
mod report;

use charts::{write_charts, ChartInput};
use common::{argmax, cpu_seconds, load_average, progress_bar};
use indicatif::ProgressBar;
use ndarray::{s, Array3, Array4, ArrayViewD, Axis};
use rand_distr::{Distribution, StandardNormal};
use report::{report_md, ReportInput};
use salience::core::seed::rng;
use salience::core::{derive_seed, AttributionBatch, ChannelReduction, PixelMaps};
use salience::datasets::assets as samples;
use salience::datasets::{LocalizationConfig, LocalizationGenerator, LocalizationSet};
use salience::explain::noise::noise_sigma::{accuracy, noisegrad_sigma, relative_accuracy_drop};
use salience::explain::noise::noise_sigma::{
    fusiongrad_sigmas, FusionRule, FusionSigmas, NoiseSigmaConfig, NoiseSigmaEstimate,
};
use salience::explain::{
    CandleModel, Classifier, FusionGrad, FusionGradConfig, IntegratedGradients,
    IntegratedGradientsConfig, NoiseGrad, NoiseGradConfig, NoiseKind, NoiseScale, NoiseTunnel,
    NoiseTunnelConfig, ParamFilter, Saliency, WeightMapModel,
};
use salience::metrics::{
    entropy_complexity, faithfulness_correlation, gini_sparseness, pointing_game, ranking_auc,
    relevance_mass_accuracy, relevance_rank_accuracy, sensitivity, Baseline, Better,
    ComplexityConfig, FaithfulnessCorrelationConfig, MaskBatch, Perturbation, PixelMapConfig,
    PointingGameConfig, Projection, ScoreKind, Scores, SensitivityConfig, SparsenessConfig,
};
use salience::models::assets;
use salience::models::{FeatureCnn, FeatureCnnConfig, ResNet, ResNetConfig};
use salience::report::records::{self, merge, shard_files, write_records, Record, RunHeader};
use salience::report::render::{gray_image, rgb_image, Cell, HeatmapGrid};
use salience::report::Shard;
use salience::{Explainer, Model, Seeds};
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
/// The shipped model of an architecture as a re-parameterizable model.
type Net = WeightMapModel<ArchNet>;

/// The report's file name (one report for every architecture).
const REPORT: &str = "bykov2022.md";
/// The architectures the reproduction runs on (`common::loc_arch`).
pub use common::loc_arch::LocArch as Arch;

impl Arch {
    /// The records stem (records, provenance, charts and example grid):
    /// `bykov2022` for the ResNet, so the committed records stay valid.
    pub fn stem(self) -> &'static str {
        match self {
            Arch::ResNet => "bykov2022",
            Arch::Vgg => "bykov2022_vgg",
        }
    }

    /// The configuration, as code.
    pub fn config(self) -> &'static str {
        match self {
            Arch::ResNet => "`ResNetConfig::small()`",
            Arch::Vgg => "`FeatureCnnConfig::small_vgg()`: 5 convolutions, no batch norm",
        }
    }

    /// Which tensors NoiseGrad perturbs. Both use `ParamFilter::Parameters`
    /// (PyTorch's `model.parameters()`, as the authors' code): for the VGG,
    /// which has no batch norm, that is every weight and bias of its five
    /// convolutions and two linear layers.
    pub fn noise_text(self) -> &'static str {
        match self {
            Arch::ResNet => {
                "all parameters, batch-norm running statistics untouched, as the authors' code"
            }
            Arch::Vgg => {
                "all parameters, as the authors' code: the weights and biases of the five \
                 convolutions `features.{0,3,6,8,11}` and the two linear layers \
                 `classifier.{0,3}`; the VGG has no batch norm, so nothing is left out"
            }
        }
    }

    /// The shipped weights as a re-parameterizable model.
    fn load(self) -> Result<Net> {
        let dev = candle_core::Device::Cpu;
        let weights = candle_core::safetensors::load_buffer(self.weights(), &dev)?;
        Ok(WeightMapModel::new(weights, &dev, move |vb| {
            Ok(match self {
                Arch::ResNet => ArchNet::ResNet(ResNet::new(vb, &ResNetConfig::small())?),
                Arch::Vgg => ArchNet::Vgg(FeatureCnn::new(vb, &FeatureCnnConfig::small_vgg())?),
            })
        })?)
    }
}

/// One of the architectures' models; every `Classifier` method forwards
/// to it (defaults included), so the ResNet runs exactly as a
/// `WeightMapModel<ResNet>`.
pub enum ArchNet {
    ResNet(ResNet),
    Vgg(FeatureCnn),
}

impl ArchNet {
    fn inner(&self) -> &dyn Classifier {
        match self {
            ArchNet::ResNet(m) => m,
            ArchNet::Vgg(m) => m,
        }
    }
}

impl Classifier for ArchNet {
    fn logits(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        self.inner().logits(x)
    }
    fn num_classes(&self) -> usize {
        self.inner().num_classes()
    }
    fn device(&self) -> &candle_core::Device {
        self.inner().device()
    }
    fn preferred_batch_size(&self) -> usize {
        self.inner().preferred_batch_size()
    }
    fn activation_bytes(&self, sample_shape: &[usize]) -> Option<u64> {
        self.inner().activation_bytes(sample_shape)
    }
}

/// Every random draw derives from this seed.
const RUN_SEED: u64 = 2022;
/// Images explained per batch (memory stays flat in the number of images).
const CHUNK: usize = 8;
/// Images shown in the example grid.
const N_EXAMPLES: usize = 4;
/// Nearest-neighbour upscaling of the 64×64 tiles in the grid PNG.
const SCALE: usize = 3;

/// The methods of Table 1 (Saliency base), in table order: the paper's
/// four, SmoothGrad at [`ALPHA_SG_LOW`] (the σ control) and NoiseGrad++
/// (FusionGrad with the appendix's eq. 6 noise rule).
const METHODS: [&str; 6] = ["Baseline", "SG", "SG(0.05)", "NG", "FG", "NG++"];
/// The paper's four methods (Table 1 as published), in table order.
const PAPER_METHODS: [&str; 4] = ["Baseline", "SG", "NG", "FG"];
/// The methods of the Table 3 analogue (Integrated Gradients base).
const IG_METHODS: [&str; 4] = ["IG", "SG(IG)", "NG(IG)", "FG(IG)"];
/// α_SG of the SmoothGrad control row `SG(0.05)`: the value the paper's
/// main-text Table 2 used (appendix, "Extended table 2").
const ALPHA_SG_LOW: f32 = 0.05;
/// NoiseGrad++'s fixed input noise (appendix, eq. 6: "α_SG = 0.1, the lower
/// bound of the noise interval").
const ALPHA_SG_PP: f32 = 0.1;

/// The metric columns of Table 1: (record name, header, direction).
const METRICS: [(&str, &str, Better); 9] = [
    ("rra", "Loc: rank acc.", Better::Higher),
    ("auc", "Loc: ranking AUC", Better::Higher),
    ("rma", "Loc: mass acc.", Better::Higher),
    ("pg", "Loc: pointing game", Better::Higher),
    ("fcor", "Faith. corr.", Better::Higher),
    ("max_sens", "Rob.: max-sens.", Better::Lower),
    ("avg_sens", "Rob.: avg-sens.", Better::Lower),
    ("gini", "Sparseness (Gini)", Better::Higher),
    ("entropy", "Complexity (entropy)", Better::Lower),
];

/// The budget-setting counts. `Default` = every correctly classified shipped image (≤ 200; ≈ 47 CPU-minutes for both architectures on this machine at `b4529ad`, shard it);
/// `paper()` = the paper's settings (documented, not run).
#[derive(Debug, Clone)]
struct Budget {
    /// Images: at most this many correctly classified ones of the shipped
    /// sample, in order (every one of them when there are fewer).
    n_images: usize,
    /// SmoothGrad noise draws N.
    n_sg: usize,
    /// NoiseGrad model draws N.
    n_ng: usize,
    /// FusionGrad model draws N and input draws M.
    fg_n: usize,
    fg_m: usize,
    /// Generated labelled images for the σ heuristic and the accuracy curve.
    n_labelled: usize,
    /// Model draws per σ in the heuristic and the accuracy curve.
    sigma_draws: usize,
    /// Faithfulness correlation: runs and subset size |S| (black baseline).
    faith_runs: usize,
    faith_subset: usize,
    /// Max-sensitivity: perturbations and L∞ radius.
    sens_samples: usize,
    sens_radius: f32,
    /// Draws of NG / SG in the noise sweeps, and N = M of FG there.
    sweep_n: usize,
    sweep_fg: usize,
    /// σ_NG grid of the sweeps, as multiples of the heuristic σ*.
    sweep_ng_factors: Vec<f32>,
    /// α_SG grid of the SmoothGrad sweep.
    sweep_sg: Vec<f32>,
    /// FusionGrad grid: α_SG values × σ_NG multiples of σ*.
    sweep_fg_alpha: Vec<f32>,
    sweep_fg_factors: Vec<f32>,
    /// Table 3: Integrated Gradients path points (Gauss–Legendre, zero
    /// baseline), SG / NG draws N, FG draws N × M.
    ig_steps: usize,
    ig_n: usize,
    ig_fg_n: usize,
    ig_fg_m: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            n_images: 200,
            n_sg: 10,
            n_ng: 10,
            fg_n: 5,
            fg_m: 5,
            n_labelled: 400,
            sigma_draws: 4,
            faith_runs: 50,
            faith_subset: 32,
            sens_samples: 5,
            sens_radius: 0.2,
            sweep_n: 5,
            sweep_fg: 3,
            sweep_ng_factors: vec![0.25, 0.5, 1.0, 2.0, 3.0, 4.0],
            sweep_sg: vec![0.05, 0.1, 0.2, 0.3, 0.5],
            sweep_fg_alpha: vec![0.05, 0.1, 0.2],
            sweep_fg_factors: vec![0.25, 0.5, 1.0],
            ig_steps: 8,
            ig_n: 5,
            ig_fg_n: 3,
            ig_fg_m: 3,
        }
    }
}

impl Budget {
    /// The paper's settings: 256 images, N = 10 (SG, NG), N = M = 10
    /// (FG), faithfulness correlation 100 runs of |S| = 32, max-sensitivity
    /// 10 draws of radius 0.2; sweeps at the Table 1 draw counts; Table 3
    /// with Captum's 50 IG steps (the paper does not give its count) and
    /// the Table 1 draw counts.
    fn paper() -> Self {
        Budget {
            n_images: 256,
            n_sg: 10,
            n_ng: 10,
            fg_n: 10,
            fg_m: 10,
            n_labelled: 2000,
            sigma_draws: 10,
            faith_runs: 100,
            faith_subset: 32,
            sens_samples: 10,
            sens_radius: 0.2,
            sweep_n: 10,
            sweep_fg: 10,
            ig_steps: 50,
            ig_n: 10,
            ig_fg_n: 10,
            ig_fg_m: 10,
            ..Budget::default()
        }
    }
}

/// Command-line options.
struct Args {
    /// The architectures to run or merge (`--model resnet|vgg|all`).
    archs: Vec<Arch>,
    shard: Shard,
    out: PathBuf,
    results: PathBuf,
    merge_only: bool,
    budget: Budget,
    /// A line on the machine's load for the provenance (`--note TEXT`).
    note: Option<String>,
}

fn parse_args() -> Result<Args> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shard = Shard::from_args(&args)?;
    let mut out = PathBuf::from("target/reproduce_bykov2022");
    let mut results = common::default_results("reproduce_bykov2022");
    let mut n_images: Option<usize> = None;
    let mut merge_only = false;
    let mut paper = false;
    let mut note: Option<String> = None;
    let mut archs = Arch::ALL.to_vec();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().ok_or("--out needs a folder")?.into(),
            "--results" => results = it.next().ok_or("--results needs a folder")?.into(),
            "--n-images" => n_images = Some(it.next().ok_or("--n-images needs N")?.parse()?),
            "--merge" => merge_only = true,
            "--model" => {
                archs = Arch::parse_list(it.next().ok_or("--model needs resnet|vgg|all")?)?
            }
            "--paper" => paper = true,
            "--note" => note = Some(it.next().ok_or("--note needs a text")?.clone()),
            "--shard" => {
                it.next();
            }
            s if s.starts_with("--shard=") => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut budget = if paper {
        Budget::paper()
    } else {
        Budget::default()
    };
    if let Some(n) = n_images {
        if n == 0 {
            return Err("--n-images must be at least 1".into());
        }
        budget.n_images = n;
    }
    Ok(Args {
        archs,
        shard,
        out,
        results,
        merge_only,
        budget,
        note,
    })
}

/// The noise levels chosen by the paper's heuristics.
#[derive(Debug, Clone)]
struct Heuristics {
    /// The σ_NG search (eq. 5, 5 % relative accuracy drop).
    search: NoiseSigmaEstimate,
    /// NoiseGrad's σ_NG (= the search's σ*).
    sigma_ng: f32,
    /// SmoothGrad's α_SG (eq. 4; the paper's 0.2).
    alpha_sg: f32,
    /// FusionGrad: σ*/2 and α_SG/2.
    fg_sigma_ng: f32,
    fg_alpha: f32,
    /// NoiseGrad++ (appendix, eq. 6): α_SG = [`ALPHA_SG_PP`] fixed, σ_NG so
    /// that the drop with both noises is 5 % (σ_NG = 0 if the input noise
    /// alone drops that much).
    pp: FusionSigmas,
}

/// Everything a run (shard or merge) shares.
struct Setup {
    arch: Arch,
    net: Net,
    /// The chosen images `[n, 3, 64, 64]`, labels, masks and their indices
    /// in the shipped sample.
    images: Array4<f32>,
    labels: Vec<usize>,
    masks: Array3<bool>,
    index: Vec<usize>,
    /// Correctly classified images of the shipped sample (of 200).
    n_correct: usize,
    labelled: LocalizationSet,
    heur: Heuristics,
    /// Seed of the NoiseGrad model draws (shared by every image, as in the
    /// paper).
    model_seed: u64,
    budget: Budget,
}

impl Setup {
    fn config_string(&self) -> String {
        format!(
            "{:?}; sigma_ng={}; alpha_sg={}; fg_sigma_ng={}; fg_alpha={}; alpha_sg_low={}; \
             pp_sigma_ng={}; pp_alpha={}; model_seed={}",
            self.budget,
            self.heur.sigma_ng,
            self.heur.alpha_sg,
            self.heur.fg_sigma_ng,
            self.heur.fg_alpha,
            ALPHA_SG_LOW,
            self.heur.pp.sigma_ng,
            ALPHA_SG_PP,
            self.model_seed
        )
    }

    fn n(&self) -> usize {
        self.labels.len()
    }
}

fn setup(arch: Arch, budget: Budget) -> Result<Setup> {
    let net = arch.load()?;
    let model = CandleModel::new(net.clone());
    let sample = samples::localization_sample()?;
    let logits = model.forward(sample.images.view().into_dyn())?;
    let correct: Vec<usize> = (0..sample.len())
        .filter(|&i| sample.labels.get(i) == Some(&argmax(logits.row(i).iter().copied())))
        .collect();
    // At most `n_images`: every correctly classified image when there are
    // fewer (the paper's 256, and the default 200 on the 200 shipped).
    let index: Vec<usize> = correct[..budget.n_images.min(correct.len())].to_vec();
    let images = sample.images.select(Axis(0), &index);
    let masks = sample.masks.select(Axis(0), &index);
    let labels: Vec<usize> = index.iter().map(|&i| sample.labels[i]).collect();

    // The labelled set of the σ heuristic: fresh generated images (held-out
    // seed, items from the shipped Fashion-MNIST test images).
    let pool = samples::fashion_mnist_sample_gray()?;
    let generator = LocalizationGenerator::new(&pool, LocalizationConfig::easy())?;
    let labelled = generator.generate(assets::RESNET_TEST_SEED, 0, budget.n_labelled)?;
    let cfg = sigma_config(&budget);
    let search = noisegrad_sigma(
        &net,
        labelled.images.view().into_dyn(),
        &labelled.labels,
        &cfg,
    )?;
    let alpha_sg = 0.2;
    let pp = fusiongrad_sigmas(
        &net,
        labelled.images.view().into_dyn(),
        &labelled.labels,
        FusionRule::PlusPlus {
            alpha_sg: ALPHA_SG_PP,
        },
        &cfg,
    )?;
    let heur = Heuristics {
        sigma_ng: search.sigma,
        alpha_sg,
        fg_sigma_ng: search.sigma / 2.0,
        fg_alpha: alpha_sg / 2.0,
        search,
        pp,
    };
    Ok(Setup {
        arch,
        net,
        images,
        labels,
        masks,
        index,
        n_correct: correct.len(),
        labelled,
        heur,
        model_seed: derive_seed(RUN_SEED, 0x5EED_0003),
        budget,
    })
}

fn sigma_config(budget: &Budget) -> NoiseSigmaConfig {
    NoiseSigmaConfig {
        n_draws: budget.sigma_draws,
        tolerance: 0.01,
        seed: derive_seed(RUN_SEED, 0x51_6A),
        ..NoiseSigmaConfig::default()
    }
}

/// The base explanation of Table 1: |∇ logit| summed over channels.
fn base(m: Net) -> PixelMaps<Saliency<Net>> {
    PixelMaps::new(Saliency::new(m), ChannelReduction::SumAbs)
}

/// The base explanation of Table 3: |IG| summed over channels (`steps`
/// Gauss–Legendre points, zero baseline: Captum's IG at fewer steps).
fn ig_base(m: Net, steps: usize) -> PixelMaps<IntegratedGradients<Net>> {
    let cfg = IntegratedGradientsConfig {
        n_steps: steps,
        ..IntegratedGradientsConfig::default()
    };
    PixelMaps::new(
        IntegratedGradients::with_config(m, cfg),
        ChannelReduction::SumAbs,
    )
}

/// Which base explanation a method enhances.
#[derive(Debug, Clone, Copy)]
enum Base {
    Saliency,
    Ig { steps: usize },
}

/// One explanation method with its noise levels.
#[derive(Debug, Clone, Copy)]
enum Method {
    Baseline,
    Sg {
        alpha: f32,
        n: usize,
    },
    Ng {
        sigma: f32,
        n: usize,
    },
    Fg {
        sigma: f32,
        alpha: f32,
        n: usize,
        m: usize,
    },
}

fn build(net: &Net, method: Method, base_of: Base, model_seed: u64) -> Result<Box<dyn Explainer>> {
    match base_of {
        Base::Saliency => build_with(net, method, model_seed, base),
        Base::Ig { steps } => build_with(net, method, model_seed, move |m| ig_base(m, steps)),
    }
}

/// `method` around the base explanation that `make` builds for a model.
fn build_with<E, F>(
    net: &Net,
    method: Method,
    model_seed: u64,
    make: F,
) -> Result<Box<dyn Explainer>>
where
    E: Explainer + 'static,
    F: Fn(Net) -> E + Clone + Send + Sync + 'static,
{
    Ok(match method {
        Method::Baseline => Box::new(make(net.clone())),
        Method::Sg { alpha, n } => Box::new(NoiseTunnel::new(
            make(net.clone()),
            NoiseTunnelConfig {
                kind: NoiseKind::SmoothGrad,
                n_samples: n,
                noise: NoiseScale::Relative(alpha),
                ..NoiseTunnelConfig::default()
            },
        )),
        Method::Ng { sigma, n } => Box::new(NoiseGrad::with_config(
            net.clone(),
            move |m| Ok(make(m)),
            NoiseGradConfig {
                n_models: n,
                sigma,
                filter: ParamFilter::Parameters,
                model_seed,
            },
        )?),
        Method::Fg { sigma, alpha, n, m } => Box::new(FusionGrad::with_config(
            net.clone(),
            move |w| Ok(make(w)),
            FusionGradConfig {
                n_models: n,
                sigma_ng: sigma,
                n_inputs: m,
                noise: NoiseScale::Relative(alpha),
                filter: ParamFilter::Parameters,
                model_seed,
                ..FusionGradConfig::default()
            },
        )?),
    })
}

/// A row of Table 1 or Table 3: record name, method, base explanation and
/// the tag of its per-image seeds (fixed per row, so adding a row leaves
/// the others' records unchanged).
#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    method: Method,
    base: Base,
    tag: u64,
}

/// The noise-enhanced versions of one base explanation at the heuristic
/// noise levels, named `names` (Baseline, SG, NG, FG), with draw counts
/// `(SG and NG N, FG N, FG M)` and seed tags from `tag0`.
fn paper_rows(
    setup: &Setup,
    names: [&'static str; 4],
    base: Base,
    draws: (usize, usize, usize),
    tag0: u64,
) -> [Row; 4] {
    let h = &setup.heur;
    let methods = [
        Method::Baseline,
        Method::Sg {
            alpha: h.alpha_sg,
            n: draws.0,
        },
        Method::Ng {
            sigma: h.sigma_ng,
            n: draws.0,
        },
        Method::Fg {
            sigma: h.fg_sigma_ng,
            alpha: h.fg_alpha,
            n: draws.1,
            m: draws.2,
        },
    ];
    let mut rows = names.map(|name| Row {
        name,
        method: Method::Baseline,
        base,
        tag: tag0,
    });
    for (k, (row, method)) in rows.iter_mut().zip(methods).enumerate() {
        row.method = method;
        row.tag = tag0 + k as u64;
    }
    rows
}

/// The Table 1 rows (Saliency base), in [`METHODS`] order.
fn table_rows(setup: &Setup) -> Vec<Row> {
    let b = &setup.budget;
    let [baseline, sg, ng, fg] = paper_rows(
        setup,
        PAPER_METHODS,
        Base::Saliency,
        (b.n_sg, b.fg_n, b.fg_m),
        0,
    );
    let sg_low = Row {
        name: METHODS[2],
        method: Method::Sg {
            alpha: ALPHA_SG_LOW,
            n: b.n_sg,
        },
        base: Base::Saliency,
        tag: 4,
    };
    let pp = Row {
        name: METHODS[5],
        method: Method::Fg {
            sigma: setup.heur.pp.sigma_ng,
            alpha: ALPHA_SG_PP,
            n: b.fg_n,
            m: b.fg_m,
        },
        base: Base::Saliency,
        tag: 5,
    };
    vec![baseline, sg, sg_low, ng, fg, pp]
}

/// The Table 3 rows (Integrated Gradients base), in [`IG_METHODS`] order.
fn ig_rows(setup: &Setup) -> [Row; 4] {
    let b = &setup.budget;
    paper_rows(
        setup,
        IG_METHODS,
        Base::Ig { steps: b.ig_steps },
        (b.ig_n, b.ig_fg_n, b.ig_fg_m),
        20,
    )
}

/// The sweep methods: (record name, method).
fn sweep_methods(setup: &Setup) -> Vec<(String, Method)> {
    let (h, b) = (&setup.heur, &setup.budget);
    let mut v = Vec::new();
    for &f in &b.sweep_ng_factors {
        let sigma = f * h.sigma_ng;
        v.push((
            format!("ng@{sigma}"),
            Method::Ng {
                sigma,
                n: b.sweep_n,
            },
        ));
    }
    for &alpha in &b.sweep_sg {
        v.push((
            format!("sg@{alpha}"),
            Method::Sg {
                alpha,
                n: b.sweep_n,
            },
        ));
    }
    for &alpha in &b.sweep_fg_alpha {
        for &f in &b.sweep_fg_factors {
            let sigma = f * h.sigma_ng;
            v.push((
                format!("fg@{sigma}@{alpha}"),
                Method::Fg {
                    sigma,
                    alpha,
                    n: b.sweep_fg,
                    m: b.sweep_fg,
                },
            ));
        }
    }
    v
}

/// Per-image seed of metric `tag` (the same for every method: paired
/// comparisons see the same perturbations).
fn tagged(seeds: &[u64], tag: u64) -> Vec<u64> {
    seeds.iter().map(|&s| derive_seed(s, 1000 + tag)).collect()
}

/// The inputs of one chunk of images.
struct Chunk<'a> {
    /// Run-level sample indices.
    samples: std::ops::Range<usize>,
    x: ArrayViewD<'a, f32>,
    targets: &'a [usize],
    masks: MaskBatch,
    seeds: Vec<u64>,
}

fn localization_records(
    chunk: &Chunk<'_>,
    method: &str,
    maps: &AttributionBatch,
    full: bool,
    out: &mut Vec<Record>,
) -> Result<()> {
    let px = PixelMapConfig::default();
    let mut cols: Vec<(&str, Scores)> = vec![
        (
            "rra",
            relevance_rank_accuracy(maps, &chunk.masks, &px)?.strict()?,
        ),
        ("auc", ranking_auc(maps, &chunk.masks, &px)?.strict()?),
    ];
    if full {
        cols.push((
            "rma",
            relevance_mass_accuracy(maps, &chunk.masks, &px)?.strict()?,
        ));
        cols.push((
            "pg",
            pointing_game(maps, &chunk.masks, &PointingGameConfig::default())?.strict()?,
        ));
    }
    push_scores(chunk, method, &cols, out);
    Ok(())
}

fn push_scores(chunk: &Chunk<'_>, method: &str, cols: &[(&str, Scores)], out: &mut Vec<Record>) {
    for (k, sample) in chunk.samples.clone().enumerate() {
        for (metric, scores) in cols {
            if let Some(&v) = scores.values().get(k) {
                out.push(Record::new(sample, method, metric, v));
            }
        }
    }
}

/// Wall-clock seconds per stage, summed over chunks.
#[derive(Debug, Default)]
struct Timings(Vec<(String, f64)>);

impl Timings {
    fn add(&mut self, stage: &str, t: Instant) {
        let s = t.elapsed().as_secs_f64();
        match self.0.iter_mut().find(|(n, _)| n == stage) {
            Some(e) => e.1 += s,
            None => self.0.push((stage.to_string(), s)),
        }
    }
}

/// Table 1 metrics and the sweeps for one chunk of images.
fn score_chunk(
    setup: &Setup,
    chunk: &Chunk<'_>,
    progress: &ProgressBar,
    timings: &mut Timings,
) -> Result<Vec<Record>> {
    let b = &setup.budget;
    let model = CandleModel::new(setup.net.clone());
    let mut out = Vec::new();
    let fcor_cfg = FaithfulnessCorrelationConfig {
        perturbation: Perturbation::RandomPixelCount {
            count: b.faith_subset,
            baseline: Baseline::Constant(0.0),
        },
        projection: Projection::Indicator,
        n_runs: b.faith_runs,
        score: ScoreKind::Raw,
        batch_size: salience::BatchSize::Auto,
    };
    let sens_cfg = SensitivityConfig {
        radius: b.sens_radius,
        n_samples: b.sens_samples,
        relative: true,
        batch_size: salience::BatchSize::fixed(32)?,
    };
    for row in table_rows(setup).into_iter().chain(ig_rows(setup)) {
        let name = row.name;
        progress.set_message(format!("Tables 1 and 3: {name}"));
        let t = Instant::now();
        let e = build(&setup.net, row.method, row.base, setup.model_seed)?;
        let own = tagged(&chunk.seeds, row.tag);
        let maps = e.explain(chunk.x.view(), chunk.targets, Seeds::per_sample(&own))?;
        timings.add(&format!("explain {name}"), t);
        let t = Instant::now();
        localization_records(chunk, name, &maps, true, &mut out)?;
        let fs = tagged(&chunk.seeds, 10);
        let fcor = faithfulness_correlation(
            &model,
            chunk.x.view(),
            &maps,
            chunk.targets,
            &fcor_cfg,
            Seeds::per_sample(&fs),
        )?
        .strict()?;
        let gini = gini_sparseness(&maps, &SparsenessConfig::quantus())?.strict()?;
        let ent = entropy_complexity(&maps, &ComplexityConfig::default())?.strict()?;
        timings.add("localization, faithfulness, Gini, entropy (all methods)", t);
        let t = Instant::now();
        // Sensitivity explains x and every perturbed copy with one seed per
        // image and method (`own ^ ss`; it also seeds the perturbations), so
        // SG/FG reuse their input noise and only the input perturbation is
        // measured.
        let ss = tagged(&chunk.seeds, 11);
        let sens_seeds: Vec<u64> = own.iter().zip(&ss).map(|(&a, &b)| a ^ b).collect();
        let sens = sensitivity(
            e.as_ref(),
            chunk.x.view(),
            chunk.targets,
            &sens_cfg,
            Seeds::per_sample(&sens_seeds),
        )?;
        timings.add(&format!("sensitivity {name}"), t);
        push_scores(
            chunk,
            name,
            &[
                ("fcor", fcor),
                ("max_sens", sens.max),
                ("avg_sens", sens.average),
                ("gini", gini),
                ("entropy", ent),
            ],
            &mut out,
        );
        progress.inc(1);
    }
    for (k, (name, method)) in sweep_methods(setup).into_iter().enumerate() {
        progress.set_message(format!("sweep: {name}"));
        let t = Instant::now();
        let e = build(&setup.net, method, Base::Saliency, setup.model_seed)?;
        let own = tagged(&chunk.seeds, 100 + k as u64);
        let maps = e.explain(chunk.x.view(), chunk.targets, Seeds::per_sample(&own))?;
        localization_records(chunk, &name, &maps, false, &mut out)?;
        let stage = match method {
            Method::Ng { .. } => "sweep NG",
            Method::Sg { .. } => "sweep SG",
            _ => "sweep FG",
        };
        timings.add(stage, t);
    }
    progress.inc(1);
    Ok(out)
}

/// Computes this shard's records and writes them; returns the file.
fn run_shard(
    setup: &Setup,
    shard: Shard,
    out_dir: &Path,
    timings: &mut Timings,
) -> Result<PathBuf> {
    let n = setup.n();
    let range = shard.range(n);
    let chunks: Vec<std::ops::Range<usize>> = range
        .clone()
        .step_by(CHUNK)
        .map(|s| s..(s + CHUNK).min(range.end))
        .collect();
    let progress = progress_bar((chunks.len() * (METHODS.len() + IG_METHODS.len() + 1)) as u64)?;
    let mut records = Vec::new();
    for c in chunks {
        let x = setup.images.slice(s![c.clone(), .., .., ..]).into_dyn();
        let masks = MaskBatch::from_bool(setup.masks.slice(s![c.clone(), .., ..]).to_owned())?;
        let seeds: Vec<u64> = setup.index[c.clone()]
            .iter()
            .map(|&i| Shard::sample_seed(RUN_SEED, i))
            .collect();
        let chunk = Chunk {
            samples: c.clone(),
            x,
            targets: &setup.labels[c.clone()],
            masks,
            seeds,
        };
        records.extend(score_chunk(setup, &chunk, &progress, timings)?);
    }
    progress.finish_and_clear();
    let header = RunHeader::new(
        setup.arch.stem(),
        n,
        RUN_SEED,
        shard,
        &setup.config_string(),
    );
    Ok(write_records(out_dir, &header, &records)?)
}

/// ACC(σ) (mean over the heuristic's model draws, the same draws as the
/// search) on the labelled set, for each σ.
fn accuracy_curve(setup: &Setup, sigmas: &[f32]) -> Result<Vec<(f32, f32, f32)>> {
    let cfg = sigma_config(&setup.budget);
    let x = setup.labelled.images.view().into_dyn();
    let y = &setup.labelled.labels;
    let clean = setup.heur.search.accuracy_clean;
    let chance = setup.heur.search.chance;
    let mut out = Vec::new();
    for &sigma in sigmas {
        let mut acc = 0.0f32;
        for d in 0..cfg.n_draws {
            let m =
                setup
                    .net
                    .perturbed_with(sigma, derive_seed(cfg.seed, d as u64), &cfg.filter)?;
            acc += accuracy(&m, x.view(), y, cfg.batch_size)?;
        }
        acc /= cfg.n_draws as f32;
        out.push((sigma, acc, relative_accuracy_drop(acc, clean, chance)?));
    }
    Ok(out)
}

/// Explains the first `N_EXAMPLES` images with the Table 1 methods and
/// writes the grid: input, mask, then one map per [`METHODS`] entry per row.
fn example_grid(setup: &Setup, path: &Path) -> Result<()> {
    let k = N_EXAMPLES.min(setup.n());
    let x = setup.images.slice(s![..k, .., .., ..]).into_dyn();
    let targets = &setup.labels[..k];
    let seeds: Vec<u64> = setup.index[..k]
        .iter()
        .map(|&i| Shard::sample_seed(RUN_SEED, i))
        .collect();
    let mut maps = Vec::new();
    for row in table_rows(setup) {
        let e = build(&setup.net, row.method, row.base, setup.model_seed)?;
        let own = tagged(&seeds, row.tag);
        maps.push((
            row.name,
            e.explain(x.view(), targets, Seeds::per_sample(&own))?,
        ));
    }
    let mut rows = Vec::new();
    for i in 0..k {
        let input = rgb_image(setup.images.index_axis(Axis(0), i))?;
        let mask = setup
            .masks
            .index_axis(Axis(0), i)
            .mapv(|b| if b { 1.0f32 } else { 0.0 });
        let mut row = vec![
            Cell::image("input", input),
            Cell::image("object mask", gray_image(mask.view())?),
        ];
        for (name, batch) in &maps {
            row.push(Cell::map(
                name.to_string(),
                batch
                    .sample(i)?
                    .into_dimensionality::<ndarray::Ix2>()?
                    .to_owned(),
            ));
        }
        rows.push(row);
    }
    HeatmapGrid {
        title: format!("Example explanations, first {k} images"),
        rows,
        caption: "Each map clipped at its own 99th percentile (the clip values under each tile)."
            .into(),
        scale: SCALE,
        ..Default::default()
    }
    .write_png(path)?;
    Ok(())
}

/// The records of `stem` in `dir`: its shard files, else the merged
/// `<stem>.jsonl` (a re-derivation from a results folder); `None` when
/// there are neither.
fn records_files(dir: &Path, stem: &str) -> Option<Vec<PathBuf>> {
    match shard_files(dir, stem) {
        Ok(files) => Some(files),
        Err(_) => {
            let merged = dir.join(format!("{stem}.jsonl"));
            merged.is_file().then(|| vec![merged])
        }
    }
}

/// One architecture's merged results: what its report section is made of.
struct ArchPart {
    setup: Setup,
    merged: records::Merged,
    accuracy: Vec<(f32, f32, f32)>,
    input_noise_accuracy: Vec<(f32, f32)>,
    pngs: Vec<String>,
    grid_file: String,
    timings: Timings,
    wall_s: f64,
    cpu_s: Option<f64>,
    load: (String, String),
    merged_from: usize,
    runs: Vec<common::provenance::RunEntry>,
}

impl ArchPart {
    fn input<'a>(&'a self, command: &str) -> ReportInput<'a> {
        ReportInput {
            setup: &self.setup,
            merged: &self.merged,
            accuracy: &self.accuracy,
            input_noise_accuracy: &self.input_noise_accuracy,
            cpu_s: self.cpu_s,
            load: self.load.clone(),
            pngs: &self.pngs,
            grid_file: &self.grid_file,
            timings: &self.timings.0,
            wall_s: self.wall_s,
            merged_from: self.merged_from,
            runs: &self.runs,
            command: command.to_string(),
        }
    }
}

/// Runs (or, with `--merge`, reads) one architecture's records and derives
/// its tables' inputs, charts and example grid; `None` for a shard of a
/// sharded run (merge later) or when `--merge` finds no records of it.
fn run_arch(arch: Arch, args: &Args) -> Result<Option<ArchPart>> {
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let clock = common::provenance::RunClock::start();
    let load_start = load_average();
    let stem = arch.stem();
    let mut timings = Timings::default();
    let mut files = Vec::new();
    if args.merge_only {
        match records_files(&args.out, stem) {
            Some(f) => files = f,
            None => {
                eprintln!(
                    "{}: no records {stem}*.jsonl in {}; skipped",
                    arch.name(),
                    args.out.display()
                );
                return Ok(None);
            }
        }
    }
    eprintln!(
        "{}: setting up: model, images, σ_NG heuristic on the labelled set …",
        arch.name()
    );
    let t = Instant::now();
    let setup = setup(arch, args.budget.clone())?;
    timings.add("setup: pick images, σ_NG search (eq. 5)", t);
    let h = &setup.heur;
    eprintln!(
        "{}: σ_NG* = {:.4} (AD {:.4}, ACC {:.4} → {:.4}); {} correctly classified images of 200; explaining {}",
        arch.name(),
        h.sigma_ng,
        h.search.relative_drop,
        h.search.accuracy_clean,
        h.search.accuracy_noisy,
        setup.n_correct,
        setup.n()
    );
    if !args.merge_only {
        let path = run_shard(&setup, args.shard, &args.out, &mut timings)?;
        // The run's provenance next to its records (`<records stem>.run.json`).
        let range = args.shard.range(setup.n());
        let covers = if args.shard.count() == 1 {
            format!("{}: all {} images", arch.name(), setup.n())
        } else {
            format!(
                "{}: shard {}, images {}..{} of {}",
                arch.name(),
                args.shard,
                range.start,
                range.end,
                setup.n()
            )
        };
        let mut prov = clock.finish("reproduce_bykov2022", &covers, args.note.as_deref());
        prov.stages = timings.0.clone();
        let prov_stem = common::provenance::records_stem(&path);
        eprintln!("wrote {}", prov.save(&args.out, &prov_stem)?.display());
        if args.shard.count() > 1 {
            println!(
                "wrote shard {} records to {}; run with --merge when every shard is done",
                args.shard,
                path.display()
            );
            return Ok(None);
        }
        files = vec![path];
    }
    let merged = merge(&files)?;
    // Each records file's run, with its provenance where it wrote one.
    let runs = common::provenance::for_records(
        &args.out,
        &files,
        |stem| stem.to_string(),
        |stem| format!("`{stem}.jsonl`"),
    )?;
    if merged.header.config != setup.config_string() {
        return Err(
            format!("the {stem} records were written with another budget or noise levels").into(),
        );
    }
    std::fs::create_dir_all(&args.results)?;
    let t = Instant::now();
    let grid_file = format!("{stem}_examples.png");
    example_grid(&setup, &args.results.join(&grid_file))?;
    timings.add("example grid PNG", t);
    let t = Instant::now();
    let mut sigmas: Vec<f32> = vec![0.0];
    sigmas.extend(sweep_values(&setup.budget.sweep_ng_factors, h.sigma_ng));
    let accuracy = accuracy_curve(&setup, &sigmas)?;
    let input_noise_accuracy = input_noise_accuracy(&setup, &setup.budget.sweep_sg)?;
    timings.add("accuracy under weight / input noise", t);
    let pngs = write_charts(&ChartInput {
        stem,
        merged: &merged,
        sigma_star: h.sigma_ng,
        sweep_ng: &sweep_values(&setup.budget.sweep_ng_factors, h.sigma_ng),
        sweep_sg: &setup.budget.sweep_sg,
        fg_alpha: &setup.budget.sweep_fg_alpha,
        fg_sigma: &sweep_values(&setup.budget.sweep_fg_factors, h.sigma_ng),
        accuracy: &accuracy,
        dir: &args.results,
    })?;
    // The records next to the report, so the tables can be re-derived.
    records::write_records(&args.results, &merged.header, &merged.records)?;
    common::provenance::copy_to(&runs, &args.results)?;
    let cpu_s = cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
    Ok(Some(ArchPart {
        setup,
        merged,
        accuracy,
        input_noise_accuracy,
        pngs,
        grid_file,
        timings,
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s,
        load: (load_start, load_average()),
        merged_from: files.len(),
        runs,
    }))
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    let started = Instant::now();
    let mut parts = Vec::new();
    for &arch in &args.archs {
        parts.extend(run_arch(arch, &args)?);
    }
    if args.shard.count() > 1 && !args.merge_only {
        return Ok(());
    }
    if parts.is_empty() {
        let stems: Vec<&str> = args.archs.iter().map(|a| a.stem()).collect();
        return Err(format!(
            "no records of {} in {}",
            stems.join(", "),
            args.out.display()
        )
        .into());
    }
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let inputs: Vec<ReportInput<'_>> = parts.iter().map(|p| p.input(&command)).collect();
    let md = args.results.join(REPORT);
    std::fs::write(&md, report_md(&inputs)?)?;
    for p in &parts {
        println!(
            "{}: wrote {}, {} and {} PNGs",
            p.setup.arch.name(),
            args.results
                .join(format!("{}.jsonl", p.setup.arch.stem()))
                .display(),
            args.results.join(&p.grid_file).display(),
            p.pngs.len() + 1,
        );
    }
    println!(
        "wrote {} in {:.1} s",
        md.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Accuracy on the labelled set with Gaussian input noise of std
/// α·(max − min) per image (SmoothGrad's noise), one draw per image.
fn input_noise_accuracy(setup: &Setup, alphas: &[f32]) -> Result<Vec<(f32, f32)>> {
    let model = CandleModel::new(setup.net.clone());
    let set = &setup.labelled;
    let mut out = Vec::new();
    for (k, &alpha) in alphas.iter().enumerate() {
        let mut x = set.images.clone();
        for (i, mut img) in x.outer_iter_mut().enumerate() {
            let (lo, hi) = img
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            let std = alpha * (hi - lo);
            let mut g = rng(derive_seed(
                derive_seed(RUN_SEED, 0xA1FA + k as u64),
                i as u64,
            ));
            img.mapv_inplace(|v| {
                let z: f32 = StandardNormal.sample(&mut g);
                v + std * z
            });
        }
        let logits = model.forward(x.view().into_dyn())?;
        let hits = logits
            .outer_iter()
            .zip(&set.labels)
            .filter(|(row, y)| argmax(row.iter().copied()) == **y)
            .count();
        out.push((alpha, hits as f32 / set.len().max(1) as f32));
    }
    Ok(out)
}

fn sweep_values(factors: &[f32], sigma: f32) -> Vec<f32> {
    factors.iter().map(|f| f * sigma).collect()
}

#[cfg(test)]
impl Budget {
    /// A few seconds' budget for the tests: 2 images, 1–2 draws everywhere,
    /// one point per sweep.
    fn tiny() -> Self {
        Budget {
            n_images: 2,
            n_sg: 2,
            n_ng: 2,
            fg_n: 1,
            fg_m: 2,
            n_labelled: 40,
            sigma_draws: 1,
            faith_runs: 2,
            faith_subset: 8,
            sens_samples: 1,
            sens_radius: 0.2,
            sweep_n: 1,
            sweep_fg: 1,
            sweep_ng_factors: vec![1.0],
            sweep_sg: vec![0.1],
            sweep_fg_alpha: vec![0.1],
            sweep_fg_factors: vec![0.5],
            ig_steps: 2,
            ig_n: 1,
            ig_fg_n: 1,
            ig_fg_m: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bykov2022_{name}_{}", std::process::id()))
    }

    /// NoiseGrad's `ParamFilter::Parameters` selects every tensor of the
    /// VGG (5 convolutions and 2 linear layers, weight and bias; no batch
    /// norm), the same rule as the ResNet's minus nothing.
    #[test]
    fn noisegrad_perturbs_every_vgg_weight_and_bias() {
        let weights = candle_core::safetensors::load_buffer(
            assets::VGG_SMALL_LOC_SAFETENSORS,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let mut names: Vec<String> = weights.keys().cloned().collect();
        names.sort();
        let mut expected: Vec<String> = ["features.0", "features.3", "features.6"]
            .into_iter()
            .chain(["features.8", "features.11", "classifier.0", "classifier.3"])
            .flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")])
            .collect();
        expected.sort();
        assert_eq!(names, expected);
        assert!(names.iter().all(|n| ParamFilter::Parameters.selects(n)));
    }

    #[test]
    fn model_option_and_stems() {
        assert_eq!(
            Arch::parse_list("all").unwrap(),
            vec![Arch::ResNet, Arch::Vgg]
        );
        assert_eq!(Arch::parse_list("vgg").unwrap(), vec![Arch::Vgg]);
        assert_eq!(Arch::parse_list("resnet").unwrap(), vec![Arch::ResNet]);
        assert!(Arch::parse_list("vit").is_err());
        // The ResNet keeps the committed records' stem.
        assert_eq!(Arch::ResNet.stem(), "bykov2022");
        assert_eq!(Arch::Vgg.stem(), "bykov2022_vgg");
    }

    /// `--merge` finds each architecture's own shard files (the ResNet's
    /// prefix `bykov2022.shard-` never takes the VGG's), else its merged file.
    #[test]
    fn records_files_per_stem() {
        let dir = temp("files");
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "bykov2022.shard-1-of-2.jsonl",
            "bykov2022.shard-0-of-2.jsonl",
            "bykov2022_vgg.jsonl",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        assert_eq!(
            records_files(&dir, Arch::ResNet.stem()).unwrap(),
            vec![
                dir.join("bykov2022.shard-0-of-2.jsonl"),
                dir.join("bykov2022.shard-1-of-2.jsonl")
            ]
        );
        assert_eq!(
            records_files(&dir, Arch::Vgg.stem()).unwrap(),
            vec![dir.join("bykov2022_vgg.jsonl")]
        );
        assert_eq!(records_files(&dir, "other"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A tiny VGG run: every Table 1 and Table 3 method has a finite score
    /// on every metric and image, and the records carry the VGG's stem.
    /// Independent of the shipped weights' accuracy (it explains whichever
    /// images are correctly classified, at most 2).
    #[test]
    fn tiny_vgg_run_scores_every_method() {
        let setup = setup(Arch::Vgg, Budget::tiny()).unwrap();
        let dir = temp("vgg_run");
        let path = run_shard(&setup, Shard::all(), &dir, &mut Timings::default()).unwrap();
        assert!(path.ends_with("bykov2022_vgg.jsonl"), "{}", path.display());
        let merged = merge(&[path]).unwrap();
        assert_eq!(merged.header.run, "bykov2022_vgg");
        assert_eq!(merged.header.config, setup.config_string());
        assert!(setup.heur.sigma_ng.is_finite() && setup.heur.sigma_ng >= 0.0);
        for method in METHODS.iter().chain(IG_METHODS.iter()) {
            for (metric, _, _) in METRICS {
                let v = merged.values(method, metric);
                assert_eq!(v.len(), setup.n(), "{method} {metric}");
                assert!(v.iter().all(|x| x.is_finite()), "{method} {metric}: {v:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
