//! RIS / RRS / ROS on the entries where the relative changes are defined
//! (`--part stability`).
//!
//! The main tables compute them with relative changes whose zero divisors
//! are replaced by ε_min = 1e-6 (Quantus; OpenXAI clips every divisor at
//! 1e-3). Fashion-MNIST's black background (x = 0) and the exact zeros of
//! abs-max maps make those ratios measure the zero patterns: every zero
//! pixel turns U[−0.1, 0.1] noise into a relative change of up to 1e5.
//! Here every relative norm sums only over the entries whose divisor is at
//! least τ = 1e-3 (OpenXAI's clip value as a threshold;
//! `StabilityFormula::Support`), and the entries left out are counted per
//! image and row.
//!
//! Rows: the Table 1 panel's methods and its aggregates, fitted on that
//! panel alone (m_agg draws; the main tables fit them on sub-Grams of the
//! union panel, whose stochastic methods draw other seeds, so the weights
//! differ slightly).
//!
//! Records (run `decker2024_stability[_vit]`): per row `RIS_def`,
//! `RRS_def`, `ROS_def`, `zero_map` (entries of the clean map with
//! |e| < τ), `exact_zero_map` (entries exactly 0: those the ε_min
//! replacement acts on) and `kept`; method `input`: `zero_px`,
//! `exact_zero_px`, `zero_repr`, `zero_logit`, `features`; method `time`,
//! metric `secs`.

use crate::cache::{combine_maps, CachedModel, Combine, PanelCache, RowExplainer};
use crate::extra::{setup, Explained};
use crate::main_tables::{abs_max, fit_blur, Strat, ROBUST_PANEL};
use crate::{Arch, Budget, Result, RUN_SEED};
use salience::metrics::{relative_stability, StabilityConfig, StabilityFormula};
use salience::optimize::{
    faith_gram, robust_gram, FaithConfig, MetricGrams, OptConfig, QpSettings, RobustConfig,
    Strategy,
};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::Seeds;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// The support threshold τ (OpenXAI's divisor clip).
pub const TAU: f64 = 1e-3;

/// The aggregates, in the main tables' order.
pub const STRATS: [Strat; 5] = [
    Strat::Mean,
    Strat::Var,
    Strat::Faith,
    Strat::Opt,
    Strat::Robust,
];

/// The record-run name of `arch`'s stability records.
pub fn run_name(arch: Arch) -> String {
    match arch {
        Arch::Cnn => "decker2024_stability".into(),
        Arch::Vit => "decker2024_stability_vit".into(),
    }
}

/// The stability configuration: the main tables' noise and perturbation
/// count, the support formula with τ.
pub fn config(m_stab: usize) -> StabilityConfig {
    StabilityConfig {
        n_samples: m_stab,
        eps_min: TAU,
        formula: StabilityFormula::Support,
        ..StabilityConfig::symmetric()
    }
}

fn count(v: impl Iterator<Item = f32>, below: f64) -> f64 {
    v.filter(|x| f64::from(x.abs()) < below).count() as f64
}

fn exact_zeros(v: impl Iterator<Item = f32>) -> f64 {
    v.filter(|x| *x == 0.0).count() as f64
}

/// Runs the stability metrics on this shard's images and writes the records.
pub fn run(b: &Budget, arch: Arch, shard: Shard, out: &std::path::Path) -> Result<()> {
    let b = b.for_arch(arch);
    let s = setup(arch, &ROBUST_PANEL, b.n_images)?;
    let k = s.panel.len();
    let model = CachedModel::new(s.model.as_ref());
    let cache = PanelCache::new(&s.panel, abs_max());
    let cfg = config(b.m_stab);
    let mut records = Vec::new();
    for i in shard.range(b.n_images) {
        let t0 = Instant::now();
        let Explained {
            x,
            targets,
            seeds,
            phi,
        } = s.explained(i)?;
        let sd = Seeds::per_sample(&seeds);
        cache.prefill(x.view(), &seeds, &phi)?;
        let robust = robust_gram(
            &s.panel,
            &phi,
            x.view(),
            &targets,
            &RobustConfig {
                samples: b.m_agg,
                normalization: abs_max(),
                ..Default::default()
            },
            sd,
        )?;
        let faith = faith_gram(
            s.model.as_ref(),
            &phi,
            x.view(),
            &targets,
            &FaithConfig {
                samples: b.m_agg,
                baseline: fit_blur(),
                ..Default::default()
            },
            sd,
        )?;
        let (Some(rg), Some(fg)) = (robust.first(), faith.first()) else {
            return Err("no Gram".into());
        };
        let grams = MetricGrams {
            robust: Some(rg),
            faith: Some(fg),
        };
        let mut rows: Vec<(String, Combine)> = s
            .names
            .iter()
            .enumerate()
            .map(|(m, n)| (n.to_string(), Combine::OneHot(m)))
            .collect();
        for st in STRATS {
            let combine = match st {
                Strat::Var => Combine::AggVar((0..k).collect()),
                _ => {
                    let strategy = match st {
                        Strat::Mean => Strategy::Mean,
                        Strat::Robust => Strategy::Robust,
                        Strat::Faith => Strategy::Faith,
                        _ => Strategy::Opt(OptConfig::paper()),
                    };
                    let w = strategy.weights(k, &grams, &QpSettings::default())?;
                    let by_seed: HashMap<u64, Vec<f64>> =
                        [(seeds[0], w.as_slice().to_vec())].into();
                    Combine::Weights(Arc::new(by_seed))
                }
            };
            rows.push((format!("T1/{}", st.name()), combine));
        }
        // The inputs' own degenerate entries.
        let clean = cache.maps(x.view(), &targets, sd)?;
        let repr = s.repr.represent(x.view())?;
        let logits = s.model.forward(x.view())?;
        let features = x.len() as f64;
        records.push(Record::new(i, "input", "features", features));
        records.push(Record::new(
            i,
            "input",
            "zero_px",
            count(x.iter().copied(), TAU),
        ));
        records.push(Record::new(
            i,
            "input",
            "exact_zero_px",
            exact_zeros(x.iter().copied()),
        ));
        records.push(Record::new(
            i,
            "input",
            "zero_repr",
            count(repr.iter().copied(), TAU),
        ));
        records.push(Record::new(i, "input", "repr_len", repr.len() as f64));
        records.push(Record::new(
            i,
            "input",
            "zero_logit",
            count(logits.iter().copied(), TAU),
        ));
        for (name, combine) in &rows {
            let map = combine_maps(combine, &clean, &seeds)?;
            records.push(Record::new(
                i,
                name,
                "zero_map",
                count(map.iter().copied(), TAU),
            ));
            records.push(Record::new(
                i,
                name,
                "exact_zero_map",
                exact_zeros(map.iter().copied()),
            ));
            let explainer = RowExplainer {
                name: name.clone(),
                cache: &cache,
                combine: combine.clone(),
            };
            let st = relative_stability(
                &model,
                &explainer,
                Some(s.repr.as_ref()),
                x.view(),
                &targets,
                &cfg,
                sd,
            )?;
            records.push(Record::new(i, name, "kept", st.kept[0] as f64));
            for (metric, o) in [
                ("RIS_def", Some(&st.ris)),
                ("RRS_def", st.rrs.as_ref()),
                ("ROS_def", Some(&st.ros)),
            ] {
                if let Some(v) = o.and_then(|o| o.get(0)) {
                    records.push(Record::new(i, name, metric, v));
                }
            }
        }
        cache.clear()?;
        model.clear()?;
        records.push(Record::new(i, "time", "secs", t0.elapsed().as_secs_f64()));
    }
    let config = format!(
        "{}; n_images={} m_agg={} m_stab={} tau={TAU}",
        s.describe(arch),
        b.n_images,
        b.m_agg,
        b.m_stab
    );
    let header = RunHeader::new(&run_name(arch), b.n_images, RUN_SEED, shard, &config);
    write_records(out, &header, &records)?;
    Ok(())
}
