//! Aggregate attribution maps computed anywhere (Captum, Quantus, …) and
//! saved as `.npy`.
//!
//! ```text
//! cargo run --release --example aggregate_npy -- [OPTIONS] --out OUT.npy MAPS...
//!
//! MAPS                 one .npy file per method ([N, ...] each), or, with
//!                      --stacked, one file holding [k, N, ...]
//! --stacked            MAPS is a single stacked file
//! --reduce R           reduce [N, C, H, W] maps to [N, H, W] first:
//!                      sum | sumabs | maxabs | l2
//! --normalize NORM     none | minmax | zscore (default) | l1 | l2 | absmax
//! --zero-degenerate    map constant / all-zero maps to zeros instead of failing
//! --agg SPEC           aggregator by name and parameters (default: mean), e.g.
//!                      mean, median, percentile:q=25, ucb:eps=-0.5, pi:eps=-4,
//!                      ei:eps=-6, ci, api:a=-7,b=2,n=10, aei:exact=true,
//!                      var:eps=1e-7,delta=1, agg-var, rbm:lr=1e-4,iters=100,seed=0
//! --out OUT.npy        where to write the [N, ...] aggregate (f32)
//! ```
//!
//! Errors name the offending file and shape.

use salience::aggregate::{Aggregation, Aggregator};
use salience::core::{npy, ChannelReduction, DegeneratePolicy, Ensemble, Normalization};
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

fn usage() -> String {
    "usage: aggregate_npy [--stacked] [--reduce sum|sumabs|maxabs|l2] [--normalize NORM] \
     [--zero-degenerate] [--agg SPEC] --out OUT.npy MAPS..."
        .into()
}

fn parse() -> Result<Args, String> {
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
                a.reduce = Some(match value("--reduce")?.as_str() {
                    "sum" => ChannelReduction::Sum,
                    "sumabs" => ChannelReduction::SumAbs,
                    "maxabs" => ChannelReduction::MaxAbs,
                    "l2" => ChannelReduction::L2,
                    other => return Err(format!("unknown reduction {other}")),
                })
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
            "-h" | "--help" => return Err(usage()),
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
    Ok(a)
}

fn run(a: Args) -> salience::core::Result<()> {
    let ensemble = if a.stacked {
        npy::read_ensemble(&a.maps[0], None)?
    } else {
        npy::read_ensemble_files(&a.maps)?
    };
    let ensemble = match a.reduce {
        None => ensemble,
        Some(r) => {
            let maps = (0..ensemble.k())
                .map(|i| {
                    Ok((
                        ensemble.names()[i].clone(),
                        ensemble.batch(i)?.reduce_channels(r)?,
                    ))
                })
                .collect::<salience::core::Result<Vec<_>>>()?;
            Ensemble::new(maps)?
        }
    };
    eprintln!(
        "{} maps ({}) of shape {:?}; normalize {}; aggregate {}",
        ensemble.k(),
        ensemble.names().join(", "),
        ensemble.map_shape(),
        a.normalize.name(),
        a.agg.name()
    );
    let normalized = ensemble.normalize(a.normalize, a.policy)?;
    let out = a.agg.aggregate(&normalized)?;
    npy::write_batch(&a.out, &out)?;
    eprintln!("wrote {:?} to {}", out.shape(), a.out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
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
