//! Theorem 4.3 (App. A, Theorem A.5) against a sweep of the number m of
//! metric-evaluation samples the weights are fitted on (`--part thm43`).
//!
//! Per image (Table 1 panel): the largest fitting sample (m = 200) is drawn
//! once; the weights of every m are fitted on its first m draws (draws are
//! i.i.d., so the first m of them are a sample of size m; the perturbed
//! inputs' explanations are memoized, so every m sees the same maps). Each
//! fitted ŵ_m is scored on a large independent held-out sample (the
//! evaluation stream): Q_eval(ŵ_m). min_w Q is estimated by the optimum of
//! the held-out Gram itself (the best available estimate; the smallest
//! held-out Q of any feasible point found, i.e. also of every ŵ_m, so that
//! solver tolerance cannot make a gap negative). The gap is
//! Q_eval(ŵ_m) − min_w Q_eval(w) ≥ 0.
//!
//! Records (run `decker2024_thm43[_vit]`), per image, method `AGG_robust`
//! (Average-Sensitivity Gram) or `AGG_faith` (infidelity Gram):
//! `gap:m=M`, `q_eval:m=M`, `q_fit:m=M` (the in-sample objective),
//! `bound:m=M` (the Theorem 4.3 bound at δ = 0.05 with c1, c2, g read from
//! the fitting sample), `q_min`; method `time`, metric `secs`: the image's
//! compute time.

use crate::extra::{setup, Explained, Memo};
use crate::main_tables::{abs_max, fit_blur, ROBUST_PANEL};
use crate::{Arch, Budget, Result, RUN_SEED};
use salience::optimize::{
    faith_gram, robust_gram, BoundInputs, FaithConfig, Gram, MetricGrams, QpSettings, RobustConfig,
    SeedStream, Strategy,
};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::{Explainer, Seeds};
use std::time::Instant;

/// The numbers of fitting samples swept (reduced default and `--paper`).
pub const M_GRID: [usize; 6] = [5, 10, 20, 50, 100, 200];

/// δ of the reported bound.
pub const DELTA: f64 = 0.05;

/// The two Grams of the sweep: (record method, QP strategy).
pub const QS: [(&str, &str); 2] = [
    ("AGG_robust", "Average-Sensitivity Gram"),
    ("AGG_faith", "infidelity Gram"),
];

/// The record-run name of `arch`'s sweep.
pub fn run_name(arch: Arch) -> String {
    match arch {
        Arch::Cnn => "decker2024_thm43".into(),
        Arch::Vit => "decker2024_thm43_vit".into(),
    }
}

/// The weights `strategy` fits on `gram` (robust or faith).
fn fit(gram: &Gram, robust: bool) -> Result<Vec<f64>> {
    let grams = if robust {
        MetricGrams {
            robust: Some(gram),
            faith: None,
        }
    } else {
        MetricGrams {
            robust: None,
            faith: Some(gram),
        }
    };
    let s = if robust {
        Strategy::Robust
    } else {
        Strategy::Faith
    };
    Ok(s.weights(gram.k(), &grams, &QpSettings::default())?
        .as_slice()
        .to_vec())
}

/// The sweep's numbers of one Gram family: the fitting Grams of every m
/// (largest first or any order) and the held-out Gram.
pub struct Sweep {
    /// (m, fitting Gram).
    pub fits: Vec<(usize, Gram)>,
    /// The held-out Gram.
    pub eval: Gram,
}

/// Per m: (m, held-out Q of ŵ_m, in-sample Q of ŵ_m, bound) and the
/// estimate of min_w Q.
pub struct SweepResult {
    pub rows: Vec<(usize, f64, f64, Option<f64>)>,
    pub q_min: f64,
}

/// Fits ŵ_m on every fitting Gram, scores it on the held-out Gram and
/// estimates min_w Q as the smallest held-out Q of any feasible point found
/// (the held-out Gram's own QP optimum and every ŵ_m).
pub fn sweep(s: &Sweep, robust: bool) -> Result<SweepResult> {
    let w_star = fit(&s.eval, robust)?;
    let mut q_min = s.eval.q(&w_star)?;
    let mut rows = Vec::new();
    for (m, g) in &s.fits {
        let w = fit(g, robust)?;
        let q_eval = s.eval.q(&w)?;
        q_min = q_min.min(q_eval);
        let bound = BoundInputs::from_gram(g, DELTA)
            .and_then(|b| b.bound())
            .ok()
            .map(|b| b.bound);
        rows.push((*m, q_eval, g.q(&w)?, bound));
    }
    Ok(SweepResult { rows, q_min })
}

/// Runs the sweep on this shard's images and writes the records.
pub fn run(b: &Budget, arch: Arch, shard: Shard, out: &std::path::Path) -> Result<()> {
    let s = setup(arch, &ROBUST_PANEL, b.n_thm43)?;
    let k = s.panel.len();
    let m_max = M_GRID.iter().copied().max().unwrap_or(1);
    let mut records = Vec::new();
    for i in shard.range(b.n_thm43) {
        let t0 = Instant::now();
        let Explained {
            x,
            targets,
            seeds,
            phi,
        } = s.explained(i)?;
        let sd = Seeds::per_sample(&seeds);
        // Sensitivity: the panel on the m_max fitting draws once (memoized),
        // then every m's Gram from the first m of them.
        let memo: Vec<Memo<'_>> = s
            .panel
            .iter()
            .map(|e| Memo::new(e as &dyn Explainer))
            .collect();
        let robust_cfg = |m: usize, stream: SeedStream| RobustConfig {
            samples: m,
            normalization: abs_max(),
            stream,
            ..Default::default()
        };
        let mut robust_fits = Vec::new();
        for &m in M_GRID.iter().rev() {
            let g = robust_gram(
                &memo,
                &phi,
                x.view(),
                &targets,
                &robust_cfg(m, SeedStream::Fit),
                sd,
            )?;
            robust_fits.push((m, g.into_iter().next().ok_or("no Gram")?));
        }
        debug_assert!(memo.iter().all(|m| m.len() == m_max));
        let robust_eval = robust_gram(
            &s.panel,
            &phi,
            x.view(),
            &targets,
            &robust_cfg(b.m_thm43_eval_sens, SeedStream::Eval),
            sd,
        )?
        .into_iter()
        .next()
        .ok_or("no Gram")?;
        // Infidelity: the model's outputs are memoized the same way.
        let model = crate::cache::CachedModel::new(s.model.as_ref());
        let faith_cfg = |m: usize, stream: SeedStream| FaithConfig {
            samples: m,
            baseline: fit_blur(),
            stream,
            ..Default::default()
        };
        let mut faith_fits = Vec::new();
        for &m in M_GRID.iter().rev() {
            let g = faith_gram(
                &model,
                &phi,
                x.view(),
                &targets,
                &faith_cfg(m, SeedStream::Fit),
                sd,
            )?;
            faith_fits.push((m, g.into_iter().next().ok_or("no Gram")?));
        }
        let faith_eval = faith_gram(
            s.model.as_ref(),
            &phi,
            x.view(),
            &targets,
            &faith_cfg(b.m_thm43_eval_faith, SeedStream::Eval),
            sd,
        )?
        .into_iter()
        .next()
        .ok_or("no Gram")?;
        for ((name, _), sw, robust) in [
            (
                QS[0],
                Sweep {
                    fits: robust_fits,
                    eval: robust_eval,
                },
                true,
            ),
            (
                QS[1],
                Sweep {
                    fits: faith_fits,
                    eval: faith_eval,
                },
                false,
            ),
        ] {
            let r = sweep(&sw, robust)?;
            records.push(Record::new(i, name, "q_min", r.q_min));
            for (m, q_eval, q_fit, bound) in r.rows {
                records.push(Record::new(i, name, &format!("q_eval:m={m}"), q_eval));
                records.push(Record::new(i, name, &format!("q_fit:m={m}"), q_fit));
                records.push(Record::new(
                    i,
                    name,
                    &format!("gap:m={m}"),
                    q_eval - r.q_min,
                ));
                if let Some(bd) = bound {
                    records.push(Record::new(i, name, &format!("bound:m={m}"), bd));
                }
            }
        }
        records.push(Record::new(i, "time", "secs", t0.elapsed().as_secs_f64()));
        eprintln!(
            "thm43 ({}): image {i} ({k} methods) in {:.1} s",
            arch.title(),
            t0.elapsed().as_secs_f64()
        );
    }
    let config = format!(
        "{}; n_images={} m_grid={:?} m_eval_sens={} m_eval_faith={} delta={DELTA}",
        s.describe(arch),
        b.n_thm43,
        M_GRID,
        b.m_thm43_eval_sens,
        b.m_thm43_eval_faith
    );
    let header = RunHeader::new(&run_name(arch), b.n_thm43, RUN_SEED, shard, &config);
    write_records(out, &header, &records)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A fitting Gram equal to the held-out one has gap 0 at every m; a
    /// fitting Gram whose optimum is the wrong vertex has the gap of that
    /// vertex.
    #[test]
    fn the_gap_is_zero_for_the_held_out_optimum_and_positive_otherwise() {
        let eval = Gram::from_matrix(array![[1.0, 0.0], [0.0, 3.0]]).unwrap();
        let wrong = Gram::from_matrix(array![[3.0, 0.0], [0.0, 0.1]]).unwrap();
        let s = Sweep {
            fits: vec![(5, wrong), (200, eval.clone())],
            eval,
        };
        let r = sweep(&s, false).unwrap();
        // Held-out optimum: w = (0.75, 0.25), Q = 0.75.
        assert!((r.q_min - 0.75).abs() < 1e-6, "{}", r.q_min);
        let gap = |m: usize| {
            r.rows
                .iter()
                .find(|x| x.0 == m)
                .map(|x| x.1 - r.q_min)
                .unwrap()
        };
        assert!(gap(200).abs() < 1e-6);
        // ŵ_5 ≈ (1/31)(0.1·… ): close to the second vertex, Q_eval ≫ 0.75.
        assert!(gap(5) > 1.0, "{}", gap(5));
    }
}
