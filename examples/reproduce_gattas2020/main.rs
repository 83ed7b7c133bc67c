//! Reproduction of Gattas (2020), "Evaluating feature attribution methods"
//! (Gattas (2020)): a panel of four attribution methods — DeepLIFT, Grad-CAM,
//! KernelSHAP, LIME — evaluated by weakly-supervised localisation against
//! ground-truth masks and boxes, plus Adebayo et al.'s sanity checks the
//! thesis discusses (cascading model-parameter randomisation and data
//! randomisation).
//!
//! ```text
//! cargo run --release --example reproduce_gattas2020 -- [--model resnet|vgg|all] [--n-images N] [--shard i/n] [--out DIR] [--results DIR] [--merge] [--paper]
//! ```
//!
//! Localisation and MPRT run on two architectures (`--model`, default
//! `all`; `arch.rs`): the shipped small ResNet (`assets::resnet_small`,
//! records `gattas2020-loc*.jsonl`) and the shipped small VGG
//! (`assets::vgg_small_loc`, records `gattas2020-loc-vgg*.jsonl`). The
//! data randomisation runs with the ResNet (`--model resnet` or `all`);
//! `--model vgg` computes only the VGG's records (provenance
//! `gattas2020-vgg*.run.json`), e.g. to add it to existing ResNet records.
//! `--merge` reports every architecture whose records are in `--out`.
//!
//! * Localisation: each shipped model on the shipped 64 × 64
//!   localization sample (restricted to the images it classifies
//!   correctly, so the explained class is both the predicted and the true
//!   one); pointing game, relevance mass / rank accuracy, CAM's box IoU
//!   (20 % threshold, largest component) and the pixel-wise mask IoU at the
//!   same threshold; a uniform-random map and the full-image box as
//!   baselines.
//! * Parameter randomisation (MPRT, `salience_metrics::mprt`): the top
//!   layer groups re-initialised cascading from the logits down to the
//!   first layer (ResNet: `fc` … stem; VGG: `classifier.3` … `features.0`); Spearman (|map|) and SSIM to the original explanation per stage.
//! * Data randomisation: the same panel on the shipped Fashion-MNIST CNN
//!   and on the CNN trained on permuted labels
//!   (`assets::small_cnn_permuted_labels`), compared by Spearman and SSIM.
//!
//! The "attributer / evaluator" abstraction of the thesis is the loop
//! `panel (registry specs, data) × metric panel (named closures)`.
//!
//! Sharded runs: `--shard i/n` computes samples `Shard::range(n)` of both
//! runs and writes their records to `--out` (default
//! `target/reproduce_gattas2020/`); `--merge` reads every shard and writes
//! `gattas2020.md` and the PNGs to `--results DIR` (default
//! `target/reproduce_gattas2020/results`; `--results docs/results` updates
//! the committed report) and prints the report to stdout. A plain run
//! is shard 0/1 followed by the merge. Every random draw derives from
//! `Shard::sample_seed(SEED, sample)`, so the split does not change the
//! random numbers, and every method explains one image per call
//! (`salience::core::PerInput`), so no model batch mixes images and the
//! merged records equal the unsharded run's bit for bit.
//!
//! Every computing process writes its provenance next to its records
//! (`gattas2020.run.json`, or `gattas2020.shard-i-of-n.run.json`;
//! `gattas2020-vgg…` for a `--model vgg` process;
//! `common::provenance`, with `--note TEXT` on the machine's load); the
//! report states each run's and copies the files to `--results`.

#[path = "../common/mod.rs"]
mod common;
#[macro_use]
mod arch;
mod loc;
mod report;
mod sanity;

use arch::Arch;
use salience::report::Shard;
use std::path::PathBuf;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The run seed; every per-sample seed derives from it.
pub const SEED: u64 = 2020;
/// SLIC's pre-smoothing σ in both budgets (see [`Budget::slic_sigma`]).
pub const SLIC_SIGMA: f32 = 2.0;
/// Name of the localisation + MPRT run (records file stem).
pub const RUN_LOC: &str = "gattas2020-loc";
/// Name of the data-randomisation run.
pub const RUN_DATA: &str = "gattas2020-data";

/// The budgets (images, perturbation samples). `Budget::default()` is the
/// shipped run (≈ 18 CPU-minutes for both architectures at `b4529ad`,
/// docs/performance.md): every correctly classified
/// localization image of the 200 shipped, 200 data-randomisation images,
/// and the MPRT — 25 s per image for KernelSHAP and LIME across its
/// stages and null draws — on the first 48; `Budget::paper()` the thesis' /
/// reference libraries' settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Correctly classified localization images evaluated.
    pub n_images: usize,
    /// Of those, how many also go through the MPRT (the first ones).
    pub n_mprt: usize,
    /// Correctly classified Fashion-MNIST test images for the data
    /// randomisation test.
    pub n_fmnist: usize,
    /// KernelSHAP coalitions per image.
    pub shap_samples: usize,
    /// LIME perturbations per image.
    pub lime_samples: usize,
    /// SLIC superpixels of the 64 × 64 images (LIME / KernelSHAP features).
    pub n_segments: usize,
    /// SLIC's Gaussian pre-smoothing σ (scikit-image's `sigma`): 2, not
    /// scikit-image's default 0, which on these noisy 64 × 64 images
    /// collapses a third of them into fewer than 10 superpixels
    /// (`crates/salience-datasets/tests/slic_parity.rs`).
    pub slic_sigma: f32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            n_images: usize::MAX,
            n_mprt: 48,
            n_fmnist: 200,
            shap_samples: 200,
            lime_samples: 200,
            n_segments: 50,
            slic_sigma: SLIC_SIGMA,
        }
    }
}

impl Budget {
    /// The reference budgets: every correctly classified image, the `shap`
    /// package's automatic KernelSHAP budget (2M + 2048 coalitions for M
    /// features), the `lime` package's 1000 samples.
    pub fn paper() -> Self {
        Budget {
            n_images: usize::MAX,
            n_mprt: usize::MAX,
            n_fmnist: 500,
            shap_samples: 2 * 50 + 2048,
            lime_samples: 1000,
            n_segments: 50,
            slic_sigma: SLIC_SIGMA,
        }
    }

    /// The localisation panel of `arch`, one registry spec per line (only
    /// Grad-CAM's layer depends on the architecture).
    pub fn loc_panel(&self, arch: Arch) -> String {
        format!(
            "deeplift\n\
             grad_cam:layer={}\n\
             kernel_shap:n_samples={},feature_mask=slic,n_segments={},slic_sigma={}\n\
             lime:n_samples={},feature_mask=slic,n_segments={},slic_sigma={},surrogate=ridge\n",
            arch.grad_cam_layer(),
            self.shap_samples,
            self.n_segments,
            self.slic_sigma,
            self.lime_samples,
            self.n_segments,
            self.slic_sigma
        )
    }

    /// The SLIC configuration of the panel's KernelSHAP and LIME.
    pub fn slic(&self) -> salience::perturb::SlicConfig {
        salience::perturb::SlicConfig {
            sigma: self.slic_sigma,
            ..salience::perturb::SlicConfig::with_segments(self.n_segments)
        }
    }

    /// The Fashion-MNIST panel (the same methods; 4 × 4 patches as
    /// features of the 28 × 28 images, Grad-CAM on the last conv layer).
    pub fn fmnist_panel(&self) -> String {
        format!(
            "deeplift\n\
             grad_cam:layer=conv2\n\
             kernel_shap:n_samples={},feature_mask=patches,patch_size=4\n\
             lime:n_samples={},feature_mask=patches,patch_size=4,surrogate=ridge\n",
            self.shap_samples, self.lime_samples
        )
    }

    /// The configuration string of the records headers (shards of
    /// different budgets do not merge).
    pub fn config(&self) -> String {
        format!("{self:?}")
    }
}

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Args {
    /// This process's shard.
    pub shard: Shard,
    /// Whether `--shard` was given (then only records are written).
    pub sharded: bool,
    /// Records folder.
    pub out: PathBuf,
    /// Results folder (Markdown + PNGs).
    pub results: PathBuf,
    /// Merge the shard files in `out` and write the results.
    pub merge: bool,
    /// The budgets.
    pub budget: Budget,
    /// The command line as given (for the results file).
    pub command: String,
    /// A line on the machine's load for the provenance (`--note TEXT`).
    pub note: Option<String>,
    /// The architectures of the localisation and MPRT runs (`--model`).
    pub archs: Vec<Arch>,
}

impl Args {
    /// Whether this process computes the data randomisation (it goes with
    /// the ResNet, as before the second architecture).
    pub fn computes_data(&self) -> bool {
        self.archs.contains(&Arch::ResNet)
    }
}

fn parse_args() -> Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let shard = Shard::from_args(&raw)?;
    let sharded = raw
        .iter()
        .any(|a| a == "--shard" || a.starts_with("--shard="));
    let mut out = PathBuf::from("target/reproduce_gattas2020");
    let mut results = common::default_results("reproduce_gattas2020");
    let mut merge = false;
    let mut budget = Budget::default();
    let mut n_images: Option<usize> = None;
    let mut note: Option<String> = None;
    let mut archs = Arch::ALL.to_vec();
    let mut it = raw.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().ok_or("--out needs a folder")?.into(),
            "--results" => results = it.next().ok_or("--results needs a folder")?.into(),
            "--merge" => merge = true,
            "--note" => note = Some(it.next().ok_or("--note needs a text")?.clone()),
            "--paper" => budget = Budget::paper(),
            "--model" => archs = Arch::parse_list(it.next().ok_or("--model needs a value")?)?,
            "--n-images" => {
                n_images = Some(it.next().ok_or("--n-images needs a number")?.parse()?);
            }
            "--shard" => {
                it.next();
            }
            s if s.starts_with("--shard=") => {}
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected --model resnet|vgg|all, --n-images N, --shard i/n, --out DIR, \
                     --results DIR, --merge, --paper, --note TEXT"
                )
                .into())
            }
        }
    }
    if let Some(n) = n_images {
        if n == 0 {
            return Err("--n-images must be at least 1".into());
        }
        // A smaller run scales every image count down together.
        budget.n_images = n;
        budget.n_mprt = budget.n_mprt.min(n.div_ceil(4).max(1));
        budget.n_fmnist = budget.n_fmnist.min(n);
    }
    if merge && sharded {
        return Err("--merge reads every shard: do not combine it with --shard".into());
    }
    let command = common::provenance::command_line("reproduce_gattas2020");
    Ok(Args {
        shard,
        sharded,
        out,
        results,
        merge,
        budget,
        command,
        note,
        archs,
    })
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    if !args.merge {
        let clock = common::provenance::RunClock::start();
        let mut timings: Vec<(String, f64)> = Vec::new();
        let files = compute_shard(&args, &mut timings)?;
        for f in &files {
            eprintln!("wrote {}", f.display());
        }
        // The run's provenance next to its records: `gattas2020.run.json`,
        // or `gattas2020.shard-i-of-n.run.json` for a shard
        // (`gattas2020-vgg…` for a VGG-only process).
        let names: Vec<&str> = args.archs.iter().map(|a| a.name()).collect();
        let mut what = format!("localization + MPRT on the {}", names.join(" and the "));
        if args.computes_data() {
            what = format!("both runs ({what}, data randomization)");
        }
        let covers = if args.shard.count() == 1 {
            format!("{what}, all samples")
        } else {
            format!("{what}, shard {}", args.shard)
        };
        let mut prov = clock.finish("reproduce_gattas2020", &covers, args.note.as_deref());
        prov.stages = timings;
        let path = prov.save(&args.out, &report::provenance_stem(&args.archs, args.shard))?;
        eprintln!("wrote {}", path.display());
        if args.sharded {
            return Ok(());
        }
    }
    let t = Instant::now();
    report::write_results(&args, args.merge)?;
    eprintln!(
        "results written to {} ({:.1} s for the report)",
        args.results.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Computes this process's shard of the runs of `--model` and writes
/// their records.
fn compute_shard(args: &Args, timings: &mut Vec<(String, f64)>) -> Result<Vec<PathBuf>> {
    let progress = common::progress_bar(0)?;
    let mut files = Vec::new();
    for &arch in &args.archs {
        files.push(with_arch!(arch, M => loc::run::<M>(args, arch, &progress, timings))?);
    }
    if args.computes_data() {
        files.push(sanity::data_randomization(args, &progress, timings)?);
    }
    progress.finish_and_clear();
    Ok(files)
}

/// Arguments of a run into `out` (results under it) with the tests'
/// tiny budget: 2 images, 1 through the MPRT, 16 perturbation samples.
#[cfg(test)]
pub fn tests_args(out: &std::path::Path) -> Args {
    Args {
        shard: Shard::all(),
        sharded: false,
        out: out.to_path_buf(),
        results: out.join("results"),
        merge: false,
        budget: Budget {
            n_images: 2,
            n_mprt: 1,
            n_fmnist: 2,
            shap_samples: 16,
            lime_samples: 16,
            ..Budget::default()
        },
        command: "test".into(),
        note: None,
        archs: Arch::ALL.to_vec(),
    }
}
