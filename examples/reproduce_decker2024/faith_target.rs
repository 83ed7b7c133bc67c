//! AGG_faith with the infidelity target on logits vs on softmax
//! probabilities (`--part faith_target`).
//!
//! Per image (Table 2 panel): the infidelity Gram is fitted on the same
//! m_agg masks twice, once with Δf = the change of the target's logit (the
//! default here, and what aggopt computes with a torchvision model), once
//! with Δf = the change of its softmax probability; each gives AGG_faith
//! weights. Both aggregates are scored on the same fresh masks with both
//! targets: the held-out objective INFD_Q, the β-normalized INFD and FCOR.
//!
//! Records (run `decker2024_faith_target[_vit]`): method
//! `AGG_faith[logit]` / `AGG_faith[prob]`, metrics `INFD_Q_logit`,
//! `INFD_Q_prob`, `INFD_logit`, `INFD_prob`, `FCOR_logit`, `FCOR_prob` and
//! the weights `w:<method>`; method `time`, metric `secs`.

use crate::extra::{setup, Explained, Softmax};
use crate::main_tables::{fit_blur, metric_seeds, FAITH_PANEL};
use crate::{Arch, Budget, Result, RUN_SEED};
use ndarray::Array2;
use salience::core::{AttributionBatch, Model};
use salience::metrics::{
    faithfulness_correlation, infidelity, Baseline as MetricBaseline,
    FaithfulnessCorrelationConfig, InfidelityConfig, Perturbation, ScoreKind,
};
use salience::optimize::{faith_gram, FaithConfig, MetricGrams, QpSettings, SeedStream, Strategy};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::{SalienceError, Seeds};
use std::time::Instant;

/// The two targets: (suffix of the records, score kind of the metrics).
pub const TARGETS: [(&str, ScoreKind); 2] =
    [("logit", ScoreKind::Raw), ("prob", ScoreKind::Softmax)];

/// The record-run name of `arch`'s comparison.
pub fn run_name(arch: Arch) -> String {
    match arch {
        Arch::Cnn => "decker2024_faith_target".into(),
        Arch::Vit => "decker2024_faith_target_vit".into(),
    }
}

/// Row name of AGG_faith fitted on `target`.
pub fn row(target: &str) -> String {
    format!("AGG_faith[{target}]")
}

/// Runs the comparison on this shard's images and writes the records.
pub fn run(b: &Budget, arch: Arch, shard: Shard, out: &std::path::Path) -> Result<()> {
    let b = b.for_arch(arch);
    let s = setup(arch, &FAITH_PANEL, b.n_images)?;
    let k = s.panel.len();
    let logit: &dyn Model = s.model.as_ref();
    let prob = Softmax(logit);
    let perturbation = Perturbation::RandomPixels {
        share: 0.2,
        baseline: MetricBaseline::Blur {
            sigma: 5.0,
            kernel_size: 11,
        },
    };
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
        let cfg = |m: usize, stream: SeedStream| FaithConfig {
            samples: m,
            baseline: fit_blur(),
            stream,
            ..Default::default()
        };
        let models: [&dyn Model; 2] = [logit, &prob];
        // The same masks (same seeds) for both targets.
        let mut fit = Vec::new();
        let mut eval = Vec::new();
        for m in models {
            let one = |g: Vec<salience::optimize::Gram>| g.into_iter().next().ok_or("no Gram");
            fit.push(one(faith_gram(
                m,
                &phi,
                x.view(),
                &targets,
                &cfg(b.m_agg, SeedStream::Fit),
                sd,
            )?)?);
            eval.push(one(faith_gram(
                m,
                &phi,
                x.view(),
                &targets,
                &cfg(b.m_faith_eval, SeedStream::Eval),
                sd,
            )?)?);
        }
        for ((name, _), g) in TARGETS.iter().zip(&fit) {
            let rname = row(name);
            let w = Strategy::Faith
                .weights(
                    k,
                    &MetricGrams {
                        robust: None,
                        faith: Some(g),
                    },
                    &QpSettings::default(),
                )?
                .as_slice()
                .to_vec();
            for (m, v) in s.names.iter().zip(&w) {
                records.push(Record::new(i, &rname, &format!("w:{m}"), *v));
            }
            for ((t, _), ge) in TARGETS.iter().zip(&eval) {
                records.push(Record::new(i, &rname, &format!("INFD_Q_{t}"), ge.q(&w)?));
            }
            // φ_w = Σ w_m φ_m of the clean maps.
            let flat = phi.as_flat();
            let d = flat.shape()[2];
            let mut agg = Array2::<f32>::zeros((1, d));
            for (mi, &wm) in w.iter().enumerate() {
                if wm != 0.0 {
                    agg.row_mut(0)
                        .scaled_add(wm as f32, &flat.index_axis(ndarray::Axis(0), mi).row(0));
                }
            }
            let maps = AttributionBatch::from_pixel_maps(
                agg.into_shape_with_order((1, 28, 28))
                    .map_err(|e| SalienceError::backend("ndarray", e))?,
            )?;
            for (t, score) in TARGETS.iter() {
                let infd_cfg = InfidelityConfig {
                    perturbation,
                    n_perturbations: b.m_faith_eval,
                    score: *score,
                    ..InfidelityConfig::decker2024()
                };
                let fcor_cfg = FaithfulnessCorrelationConfig {
                    perturbation,
                    n_runs: b.m_faith_eval,
                    score: *score,
                    ..FaithfulnessCorrelationConfig::decker2024()
                };
                // The same masks for both rows and both targets.
                let ms = metric_seeds(&seeds, 70);
                let fs = metric_seeds(&seeds, 71);
                let infd = defined(infidelity(
                    logit,
                    x.view(),
                    &maps,
                    &targets,
                    &infd_cfg,
                    Seeds::per_sample(&ms),
                ))?;
                if let Some(v) = infd {
                    records.push(Record::new(i, &rname, &format!("INFD_{t}"), v));
                }
                let fcor = defined(faithfulness_correlation(
                    logit,
                    x.view(),
                    &maps,
                    &targets,
                    &fcor_cfg,
                    Seeds::per_sample(&fs),
                ))?;
                if let Some(v) = fcor {
                    records.push(Record::new(i, &rname, &format!("FCOR_{t}"), v));
                }
            }
        }
        records.push(Record::new(i, "time", "secs", t0.elapsed().as_secs_f64()));
    }
    let config = format!(
        "{}; n_images={} m_agg={} m_faith_eval={}",
        s.describe(arch),
        b.n_images,
        b.m_agg,
        b.m_faith_eval
    );
    let header = RunHeader::new(&run_name(arch), b.n_images, RUN_SEED, shard, &config);
    write_records(out, &header, &records)?;
    Ok(())
}

/// The score of the single image, `None` where the metric is undefined for
/// it (an all-zero map, a constant correlated sequence).
fn defined(r: salience::core::Result<salience::metrics::Outcomes>) -> Result<Option<f64>> {
    match r {
        Ok(o) => Ok(o.get(0)),
        Err(SalienceError::Empty(_)) | Err(SalienceError::DegenerateMap { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
