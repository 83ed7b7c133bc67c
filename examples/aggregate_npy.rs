//! Aggregate attribution maps computed anywhere (Captum, Quantus, …) and
//! saved as `.npy`.
//!
//! ```text
//! cargo run --release --example aggregate_npy -- [OPTIONS] --out OUT.npy MAPS...
//! cargo run --release --example aggregate_npy -- --help   # every option
//! ```
//!
//! Errors name the offending file and shape.

use salience::aggregate::{Aggregation, Aggregator};
use salience::core::{
    npy, AttributionBatch, ChannelReduction, DegeneratePolicy, Ensemble, Normalization,
};
use salience::SalienceError;
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    maps: Vec<PathBuf>,
    stacked: bool,
    reduce: Option<ChannelReduction>,
    normalize: Normalization,
    policy: DegeneratePolicy,
    agg: Aggregation,
    out: PathBuf,
}

/// The full help text (`--help`).
const HELP: &str = "\
aggregate_npy: normalize and aggregate attribution maps saved as .npy

usage: aggregate_npy [OPTIONS] --out OUT.npy MAPS...

MAPS                 one .npy file per method ([N, ...] each, f32 or f64), or,
                     with --stacked, one file holding [k, N, ...]
--stacked            MAPS is a single stacked file
--reduce R           reduce [N, C, H, W] maps to [N, H, W] pixel maps before
                     the shapes are compared (so IG's [N, 3, H, W] stacks with
                     Grad-CAM's [N, 1, H, W] or [N, H, W]):
                     sum | sumabs | maxabs | l2
--normalize NORM     none | minmax | zscore (default) | l1 | l2 | absmax
--zero-degenerate    map constant / all-zero maps to zeros instead of failing
--agg SPEC           aggregator by name and parameters (default: mean), e.g.
                     mean, median, percentile:q=25, ucb:eps=-0.5, pi:eps=-4,
                     ei:eps=-6, ci, api:a=-7,b=2,n=10, aei:exact=true,
                     var:eps=1e-7,delta=1, agg-var, rbm:lr=1e-4,iters=100,seed=0
--out OUT.npy        where to write the [N, ...] aggregate (f32)
-h, --help           print this help and exit

Exit status: 0 on success, 1 on an error (it names the file and the shape),
2 on bad command-line arguments.
";

fn usage() -> String {
    "usage: aggregate_npy [--stacked] [--reduce sum|sumabs|maxabs|l2] [--normalize NORM] \
     [--zero-degenerate] [--agg SPEC] --out OUT.npy MAPS...  (--help for details)"
        .into()
}

/// What the command line asked for: run, or print the help.
enum Command {
    Run(Args),
    Help,
}

fn parse() -> Result<Command, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        maps: vec![],
        stacked: false,
        reduce: None,
        normalize: Normalization::ZScore,
        policy: DegeneratePolicy::Error,
        agg: Aggregation::Mean(Default::default()),
        out: PathBuf::new(),
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--stacked" => a.stacked = true,
            "--zero-degenerate" => a.policy = DegeneratePolicy::Zeros,
            "--reduce" => {
                a.reduce = Some(
                    value("--reduce")?
                        .parse::<ChannelReduction>()
                        .map_err(|e| e.to_string())?,
                )
            }
            "--normalize" => {
                a.normalize = value("--normalize")?
                    .parse()
                    .map_err(|e: SalienceError| e.to_string())?
            }
            "--agg" => {
                a.agg = value("--agg")?
                    .parse()
                    .map_err(|e: SalienceError| e.to_string())?
            }
            "--out" => a.out = PathBuf::from(value("--out")?),
            "-h" | "--help" => return Ok(Command::Help),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{}", usage())),
            s => a.maps.push(PathBuf::from(s)),
        }
    }
    if a.maps.is_empty() || a.out.as_os_str().is_empty() {
        return Err(usage());
    }
    if a.stacked && a.maps.len() != 1 {
        return Err("--stacked takes exactly one file".into());
    }
    Ok(Command::Run(a))
}

fn run(a: Args) -> salience::core::Result<()> {
    // Channels are reduced per file, before the maps' shapes are compared.
    let reduce = |b: AttributionBatch| match a.reduce {
        None => Ok(b),
        Some(r) => b.reduce_channels(r),
    };
    let ensemble = if a.stacked {
        let e = npy::read_ensemble(&a.maps[0], None)?;
        let maps = (0..e.k())
            .map(|i| Ok((e.names()[i].clone(), reduce(e.batch(i)?)?)))
            .collect::<salience::core::Result<Vec<_>>>()?;
        Ensemble::new(maps)?
    } else {
        let maps = a
            .maps
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let name = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("map{i}"));
                Ok((name, reduce(npy::read_batch(p)?)?))
            })
            .collect::<salience::core::Result<Vec<_>>>()?;
        Ensemble::new(maps)?
    };
    eprintln!(
        "{} maps ({}) of shape {:?}; normalize {}; aggregate {}",
        ensemble.k(),
        ensemble.names().join(", "),
        ensemble.map_shape(),
        a.normalize.name(),
        a.agg.name()
    );
    let normalized = ensemble
        .normalize(a.normalize, a.policy)
        .map_err(|e| match e {
            SalienceError::DegenerateMap {
                sample,
                map,
                reason,
            } => SalienceError::invalid(
                "maps",
                format!("sample {sample} of map {map}"),
                &format!("{reason}; pass --zero-degenerate to map such maps to zeros"),
            ),
            other => other,
        })?;
    let out = a.agg.aggregate(&normalized)?;
    npy::write_batch(&a.out, &out)?;
    eprintln!("wrote {:?} to {}", out.shape(), a.out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Command::Run(a)) => a,
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
