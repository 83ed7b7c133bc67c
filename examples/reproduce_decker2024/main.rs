//! Reproduction of Decker et al. (ICML 2024), "Provably better explanations
//! with optimized aggregation of feature attributions" (Decker et al. (2024)), on the
//! shipped models: Tables 1–3 (robustness, faithfulness, stability, ROAD),
//! Figure 4 (per-image QP weights), §5.3 (AGG_opt over six LIME variants by
//! object size) and the App. D.4 ablations. The main tables (the Table 1
//! and Table 2 panels) run on two architectures: the shipped small CNN and
//! the shipped Vision Transformer (the paper's Table 2 has two
//! transformers, DeiT and SwinT).
//!
//! ```text
//! cargo run --release --example reproduce_decker2024              # compute all, write tables
//! cargo run --release --example reproduce_decker2024 -- --shard 0/4 --out DIR   # one shard's records
//! cargo run --release --example reproduce_decker2024 -- --merge --out DIR       # tables from all shards
//! ```
//!
//! Flags: `--shard i/n`, `--out DIR` (records, default
//! `target/reproduce_decker2024`), `--n-images N` (Fashion-MNIST images),
//! `--n-lime N` (localization images for §5.3), `--n-thm43 N` (images of
//! the Theorem 4.3 sweep),
//! `--part all|main|lime|thm43|faith_target|stability` (compute only one
//! experiment; the tables need the main and §5.3 record files, the
//! sections of the other three are written when their records exist:
//! `thm43` the Theorem 4.3 sweep over m, `faith_target` AGG_faith on
//! logits vs probabilities, `stability` RIS/RRS/ROS on the entries where
//! they are defined),
//! `--model all|cnn|vit` (which architectures the main tables run on;
//! default both, the report needs the records of both; the `thm43` sweep
//! runs on the small CNN unless `--model` is given),
//! `--note TEXT` (a line on the machine's load for the provenance),
//! `--merge`, `--results DIR`
//! (default `target/reproduce_decker2024/results`; `--results docs/results` updates the committed report), `--paper` (the paper's budgets; documented,
//! far beyond 10 minutes on 2 cores).
//!
//! Every computing run (plain, `--shard i/n`, every `--part`) writes its
//! provenance next to its records as
//! `decker2024.<part>[-<model>][.shard-i-of-n].run.json`
//! (`common::provenance`); the report states every one found in `--out`
//! and copies them to `--results`.
//!
//! Every random draw derives from the image's own seed
//! `Shard::sample_seed(RUN_SEED, index)`, so a sharded run merges into
//! exactly the records of the unsharded run, and the tables are computed
//! from the merged records only.

mod cache;
mod charts;
#[path = "../common/mod.rs"]
mod common;
mod extra;
mod faith_target;
mod lime_sizes;
mod main_tables;
mod report;
mod report_extra;
mod stability_part;
mod thm43;

use salience::report::Shard;
use std::path::PathBuf;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The run seed every per-image seed derives from.
pub const RUN_SEED: u64 = 2_024_001;
/// Record-run name of the Fashion-MNIST experiments on the small CNN
/// (Tables 1–3, Fig. 4, D.4).
pub const RUN_MAIN: &str = "decker2024";
/// Record-run name of the Fashion-MNIST experiments on the ViT (the Table 1
/// and Table 2 panels, Fig. 4).
pub const RUN_VIT: &str = "decker2024_vit";
/// Record-run name of the §5.3 LIME experiment.
pub const RUN_LIME: &str = "decker2024_lime";

/// The architecture the main tables explain (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// The shipped small CNN (`assets::small_cnn`).
    Cnn,
    /// The shipped Vision Transformer (`assets::vit_fashion`).
    Vit,
}

impl Arch {
    /// Both, in report order.
    pub const ALL: [Arch; 2] = [Arch::Cnn, Arch::Vit];

    /// Short name (`--model`, record configuration).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Cnn => "cnn",
            Arch::Vit => "vit",
        }
    }

    /// Display name for the report.
    pub fn title(self) -> &'static str {
        match self {
            Arch::Cnn => "small CNN",
            Arch::Vit => "ViT",
        }
    }

    /// The record-run name of its main-table records.
    pub fn run_name(self) -> &'static str {
        match self {
            Arch::Cnn => RUN_MAIN,
            Arch::Vit => RUN_VIT,
        }
    }
}

/// The per-image budgets of one architecture's main tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchBudget {
    /// m_agg: perturbations the weights are fitted on, both Grams (paper: 50).
    pub m_agg: usize,
    /// Fresh noise draws per image for SENS_avg / SENS_max (paper: 200).
    pub m_sens: usize,
    /// Fresh perturbations per image for RIS / RRS / ROS (paper: OpenXAI's).
    pub m_stab: usize,
    /// Fresh perturbations per image for INFD and FCOR (paper: 200).
    pub m_faith_eval: usize,
}

/// Budgets. `Default` fits the ~12-minute wall budget on 2 idle cores;
/// `paper()` is what Decker et al. (2024) uses (App. C).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Fashion-MNIST test images (paper: 500 ImageNet images; 100 for D.4).
    pub n_images: usize,
    /// m_agg: perturbations the weights are fitted on, both Grams (paper: 50).
    pub m_agg: usize,
    /// Fresh noise draws per image for SENS_avg / SENS_max (paper: 200).
    pub m_sens: usize,
    /// Fresh perturbations per image for RIS / RRS / ROS (paper: OpenXAI's).
    pub m_stab: usize,
    /// Fresh perturbations per image for INFD and FCOR (paper: 200).
    pub m_faith_eval: usize,
    /// Localization images for §5.3 (paper: 200 per object-size group).
    pub n_lime: usize,
    /// m_agg of the sensitivity Gram for §5.3 (paper: 50).
    pub m_agg_lime: usize,
    /// LIME samples per explanation in §5.3 (paper: Captum's default, 50).
    pub lime_samples: usize,
    /// The ViT's per-image budgets (the CNN's are the fields above): each
    /// ViT pass costs more than a CNN pass, so the default reduces them to
    /// keep both architectures within the wall budget.
    pub vit: ArchBudget,
    /// Images of the Theorem 4.3 sweep (`--part thm43`).
    pub n_thm43: usize,
    /// Held-out draws of the sweep's Average-Sensitivity Gram (each
    /// re-explains a perturbed input with the whole panel).
    pub m_thm43_eval_sens: usize,
    /// Held-out masks of the sweep's infidelity Gram (one forward pass
    /// each).
    pub m_thm43_eval_faith: usize,
    /// Images processed together. 1: an image's computation never shares a
    /// batch with another image's, because candle's CPU matmul results depend
    /// on the batch size in the last bits, and a shared batch would make a
    /// sharded run differ from the unsharded one.
    pub chunk: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            n_images: 30,
            m_agg: 20,
            m_sens: 20,
            m_stab: 10,
            m_faith_eval: 200,
            n_lime: 30,
            m_agg_lime: 6,
            lime_samples: 64,
            vit: VIT_DEFAULT,
            n_thm43: 20,
            m_thm43_eval_sens: 200,
            m_thm43_eval_faith: 2000,
            chunk: 1,
        }
    }
}

/// The ViT's default per-image budgets.
const VIT_DEFAULT: ArchBudget = ArchBudget {
    m_agg: 10,
    m_sens: 10,
    m_stab: 5,
    m_faith_eval: 200,
};

impl Budget {
    /// The budget of `arch`'s main tables: the ViT's per-image budgets
    /// replace the CNN's.
    pub fn for_arch(&self, arch: Arch) -> Budget {
        match arch {
            Arch::Cnn => *self,
            Arch::Vit => Budget {
                m_agg: self.vit.m_agg,
                m_sens: self.vit.m_sens,
                m_stab: self.vit.m_stab,
                m_faith_eval: self.vit.m_faith_eval,
                ..*self
            },
        }
    }

    /// The per-image budgets of `arch`.
    pub fn arch(&self, arch: Arch) -> ArchBudget {
        let b = self.for_arch(arch);
        ArchBudget {
            m_agg: b.m_agg,
            m_sens: b.m_sens,
            m_stab: b.m_stab,
            m_faith_eval: b.m_faith_eval,
        }
    }
    /// Decker et al. (2024)'s budgets (App. C): 500 images, m_agg = 50, m_eval = 200.
    pub fn paper() -> Self {
        Budget {
            n_images: 500,
            m_agg: 50,
            m_sens: 200,
            m_stab: 200,
            m_faith_eval: 200,
            n_lime: 600,
            m_agg_lime: 50,
            lime_samples: 50,
            vit: ArchBudget {
                m_agg: 50,
                m_sens: 200,
                m_stab: 200,
                m_faith_eval: 200,
            },
            n_thm43: 100,
            m_thm43_eval_sens: 1000,
            m_thm43_eval_faith: 5000,
            chunk: 1,
        }
    }

    /// One line for the record headers (shards of different budgets do not
    /// merge).
    pub fn describe(&self) -> String {
        format!(
            "n_images={} m_agg={} m_sens={} m_stab={} m_faith_eval={} n_lime={} m_agg_lime={} lime_samples={}",
            self.n_images,
            self.m_agg,
            self.m_sens,
            self.m_stab,
            self.m_faith_eval,
            self.n_lime,
            self.m_agg_lime,
            self.lime_samples
        )
    }
}

/// Parsed command line.
pub struct Args {
    shard: Option<Shard>,
    out: PathBuf,
    results: PathBuf,
    merge: bool,
    budget: Budget,
    paper: bool,
    part: Part,
    models: Vec<Arch>,
    /// Whether `--model` was given (the sweep's default is the CNN only).
    models_given: bool,
    /// A line on the machine's load for the provenance (`--note TEXT`).
    note: Option<String>,
}

/// Which experiments to compute (`--part`): both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    Main,
    Lime,
    Thm43,
    FaithTarget,
    Stability,
}

impl Part {
    /// The `--part` name.
    fn name(self) -> &'static str {
        match self {
            Part::All => "all",
            Part::Main => "main",
            Part::Lime => "lime",
            Part::Thm43 => "thm43",
            Part::FaithTarget => "faith_target",
            Part::Stability => "stability",
        }
    }

    /// Whether the run computes `p` (`All` computes every part).
    fn runs(self, p: Part) -> bool {
        self == Part::All || self == p
    }
}

fn parse_args() -> Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args {
        shard: None,
        out: PathBuf::from("target/reproduce_decker2024"),
        results: common::default_results("reproduce_decker2024"),
        merge: false,
        budget: Budget::default(),
        paper: false,
        part: Part::All,
        models: Arch::ALL.to_vec(),
        models_given: false,
        note: None,
    };
    if raw.iter().any(|s| s == "--paper") {
        a.budget = Budget::paper();
        a.paper = true;
    }
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value").into())
        };
        match flag.as_str() {
            "--shard" => a.shard = Some(Shard::parse(&value("--shard")?)?),
            "--out" => a.out = value("--out")?.into(),
            "--results" => a.results = value("--results")?.into(),
            "--n-images" => a.budget.n_images = value("--n-images")?.parse()?,
            "--n-lime" => a.budget.n_lime = value("--n-lime")?.parse()?,
            "--n-thm43" => a.budget.n_thm43 = value("--n-thm43")?.parse()?,
            "--merge" => a.merge = true,
            "--part" => {
                a.part = match value("--part")?.as_str() {
                    "all" => Part::All,
                    "main" => Part::Main,
                    "lime" => Part::Lime,
                    "thm43" => Part::Thm43,
                    "faith_target" => Part::FaithTarget,
                    "stability" => Part::Stability,
                    other => {
                        return Err(format!(
                    "--part {other}: expected all, main, lime, thm43, faith_target or stability"
                )
                        .into())
                    }
                }
            }
            "--model" => {
                a.models_given = true;
                a.models = match value("--model")?.as_str() {
                    "all" => Arch::ALL.to_vec(),
                    "cnn" => vec![Arch::Cnn],
                    "vit" => vec![Arch::Vit],
                    other => {
                        return Err(format!("--model {other}: expected all, cnn or vit").into())
                    }
                }
            }
            "--paper" => {}
            "--note" => a.note = Some(value("--note")?),
            "-h" | "--help" => {
                println!(
                    "usage: reproduce_decker2024 [--shard i/n] [--out DIR] [--n-images N] [--n-lime N] [--n-thm43 N] \
                     [--part all|main|lime|thm43|faith_target|stability] [--model all|cnn|vit] [--merge] [--results DIR] [--paper] [--note TEXT]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)").into()),
        }
    }
    Ok(a)
}

/// The provenance stem of this run and what it covers:
/// `decker2024.<part>[-<model>][.shard-i-of-n]` (its file is
/// `<stem>.run.json` next to the records), e.g. `decker2024.all`,
/// `decker2024.main-cnn.shard-0-of-2`.
fn provenance_stem(args: &Args, shard: Shard) -> (String, String) {
    // The models this run explained (the LIME part: the localization
    // ResNet only; the sweep: the CNN unless `--model` names others).
    let archs: Vec<Arch> = match args.part {
        Part::Lime => Vec::new(),
        Part::Thm43 if !args.models_given => vec![Arch::Cnn],
        _ => args.models.clone(),
    };
    let mut models: Vec<&str> = archs.iter().map(|a| a.name()).collect();
    let model = if archs.is_empty() || archs.len() == Arch::ALL.len() {
        String::new()
    } else {
        format!("-{}", models.join("-"))
    };
    if args.part == Part::Lime {
        models.push("small ResNet (localization)");
    }
    let name = shard.file_name(&format!("{RUN_MAIN}.{}{model}", args.part.name()));
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name).to_string();
    let covers = format!(
        "--part {}, models {}, {}",
        args.part.name(),
        models.join(" + "),
        if shard.count() == 1 {
            "all images".to_string()
        } else {
            format!("shard {shard}")
        }
    );
    (stem, covers)
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread exists yet; see ops::cpu_threads.
    unsafe { salience::explain::ops::candle_elementwise_on_caller() };
    let args = parse_args()?;
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();
    if !args.merge {
        let clock = common::provenance::RunClock::start();
        let shard = args.shard.unwrap_or_else(Shard::all);
        if args.part.runs(Part::Main) {
            for &arch in &args.models {
                let t = Instant::now();
                main_tables::run(&args.budget, arch, shard, &args.out)?;
                eprintln!(
                    "Fashion-MNIST experiments ({}): {:.1} s",
                    arch.title(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        if args.part.runs(Part::Lime) {
            let t = Instant::now();
            lime_sizes::run(&args.budget, shard, &args.out)?;
            eprintln!("§5.3 LIME experiment: {:.1} s", t.elapsed().as_secs_f64());
        }
        if args.part.runs(Part::Thm43) {
            let archs = if args.models_given {
                args.models.clone()
            } else {
                vec![Arch::Cnn]
            };
            for arch in archs {
                let t = Instant::now();
                thm43::run(&args.budget, arch, shard, &args.out)?;
                eprintln!(
                    "Theorem 4.3 sweep ({}): {:.1} s",
                    arch.title(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        if args.part.runs(Part::FaithTarget) {
            for &arch in &args.models {
                let t = Instant::now();
                faith_target::run(&args.budget, arch, shard, &args.out)?;
                eprintln!(
                    "AGG_faith logits vs probabilities ({}): {:.1} s",
                    arch.title(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        if args.part.runs(Part::Stability) {
            for &arch in &args.models {
                let t = Instant::now();
                stability_part::run(&args.budget, arch, shard, &args.out)?;
                eprintln!(
                    "stability on defined entries ({}): {:.1} s",
                    arch.title(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
        eprintln!(
            "shard {shard}: records written to {} in {:.1} s",
            args.out.display(),
            started.elapsed().as_secs_f64()
        );
        // The run's provenance next to its records.
        let (stem, covers) = provenance_stem(&args, shard);
        let prov = clock.finish("reproduce_decker2024", &covers, args.note.as_deref());
        eprintln!("wrote {}", prov.save(&args.out, &stem)?.display());
    }
    // A plain run (no --shard) also writes the tables, through the same
    // merge path as `--merge`; a plain run of one part only when the main
    // tables' records are already in `--out` (the report needs them).
    let main_records = args.out.join(format!("{RUN_MAIN}.jsonl"));
    if !args.merge && args.shard.is_none() && args.part != Part::All && !main_records.exists() {
        eprintln!(
            "tables not written: {} is missing; run `--part main` (and the other parts) \
             into the same --out, then `--merge`",
            main_records.display()
        );
        return Ok(());
    }
    if args.merge || args.shard.is_none() {
        std::fs::create_dir_all(&args.results)?;
        // The wall time covers the whole computation only when every part ran.
        let compute_secs =
            (!args.merge && args.part == Part::All).then(|| started.elapsed().as_secs_f64());
        report::write(
            &args.budget,
            args.paper,
            &args.out,
            &args.results,
            compute_secs,
        )?;
        println!("wrote {}/decker2024.md", args.results.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every part and shard names its own provenance file.
    #[test]
    fn provenance_stems_name_the_part_model_and_shard() {
        let args = |part, models: Vec<Arch>, given| Args {
            shard: None,
            out: PathBuf::new(),
            results: PathBuf::new(),
            merge: false,
            budget: Budget::default(),
            paper: false,
            part,
            models,
            models_given: given,
            note: None,
        };
        let all = Shard::all();
        let two = Shard::new(1, 2).unwrap();
        let a = args(Part::All, Arch::ALL.to_vec(), false);
        assert_eq!(provenance_stem(&a, all).0, "decker2024.all");
        let m = args(Part::Main, vec![Arch::Cnn], true);
        let (stem, covers) = provenance_stem(&m, two);
        assert_eq!(stem, "decker2024.main-cnn.shard-1-of-2");
        assert!(covers.contains("shard 1/2"), "{covers}");
        let t = args(Part::Thm43, Arch::ALL.to_vec(), false);
        assert_eq!(provenance_stem(&t, all).0, "decker2024.thm43-cnn");
        let l = args(Part::Lime, vec![Arch::Cnn], true);
        assert_eq!(provenance_stem(&l, all).0, "decker2024.lime");
    }
}
