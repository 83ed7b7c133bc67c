//! §5.3: AGG_opt over six LIME variants (SLIC superpixels or square
//! patches × no / low / high sparsity regularization) on the shipped small
//! ResNet and localization sample; records the per-image weights and the
//! object's box area (the report bins the images into terciles of area).

use crate::common::argmax;
use crate::main_tables::{abs_max, fit_blur};
use crate::{Budget, Result, RUN_LIME, RUN_SEED};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Axis;
use salience::core::{ChannelReduction, Model, PixelMaps};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::CandleModel;
use salience::models::assets;
use salience::models::ResNet;
use salience::optimize::{
    explain_panel, faith_gram, robust_gram, FaithConfig, MetricGrams, OptConfig, QpSettings,
    RobustConfig, Strategy,
};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::{Explainer, Seeds};
use std::sync::Arc;

/// Square patches of 8 × 8 px (64 features on 64 × 64).
pub const PATCH: usize = 8;
/// SLIC segments requested (the paper: ≈ 100 on 224 × 224).
pub const SLIC_SEGMENTS: usize = 64;

/// The six variants: (name, registry spec without `n_samples`). Paper
/// (App. C.2): λ_high = 0.1, λ_medium = 0.01, none = ordinary least squares.
pub fn variants() -> Vec<(String, String)> {
    let masks = [
        (
            "SLIC",
            format!("feature_mask=slic,n_segments={SLIC_SEGMENTS}"),
        ),
        ("Patch", format!("feature_mask=patches,patch_size={PATCH}")),
    ];
    let sparsity = [
        ("none", "surrogate=ols".to_string()),
        ("low", "surrogate=lasso,lambda=0.01".to_string()),
        ("high", "surrogate=lasso,lambda=0.1".to_string()),
    ];
    let mut v = Vec::new();
    for (m, mspec) in &masks {
        for (s, sspec) in &sparsity {
            v.push((format!("{m}/{s}"), format!("lime:{sspec},{mspec}")));
        }
    }
    v
}

/// Runs §5.3 on this shard's images and writes their records.
pub fn run(b: &Budget, shard: Shard, out: &std::path::Path) -> Result<()> {
    let net = Arc::new(assets::resnet_small(&Device::Cpu)?);
    let model = CandleModel::new(net.clone());
    let set = samples::localization_sample()?;
    // The first n_lime correctly classified images of a seeded shuffle.
    let mut order: Vec<usize> = (0..set.len()).collect();
    {
        use rand::seq::SliceRandom;
        order.shuffle(&mut salience::core::seed::rng(RUN_SEED + 1));
    }
    let scores = salience::core::model::forward_chunked(
        &model,
        set.images.select(Axis(0), &order).view().into_dyn(),
        None,
    )?;
    let mut chosen: Vec<(usize, usize)> = Vec::new();
    for (row, &i) in scores.outer_iter().zip(&order) {
        let pred = argmax(row.iter().copied());
        if Some(pred) == set.labels.get(i).copied() && chosen.len() < b.n_lime {
            chosen.push((i, pred));
        }
    }
    if chosen.len() < b.n_lime {
        return Err(format!(
            "only {} correctly classified localization images (asked for {})",
            chosen.len(),
            b.n_lime
        )
        .into());
    }
    let specs: Vec<ExplainerSpec> = variants()
        .iter()
        .map(|(_, s)| format!("{s},n_samples={}", b.lime_samples).parse())
        .collect::<std::result::Result<_, _>>()?;
    let names: Vec<String> = variants().into_iter().map(|v| v.0).collect();
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = Registry::<ResNet>::with_builtins()
        .build_panel(&specs, &net)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let range = shard.range(b.n_lime);
    let bar = ProgressBar::new(range.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} images (§5.3 LIME, ResNet) {msg}",
    )?);
    let mut records = Vec::new();
    let chunk = b.chunk.max(1);
    let mut start = range.start;
    while start < range.end {
        let end = (start + chunk).min(range.end);
        let idx: Vec<usize> = (start..end).collect();
        let src: Vec<usize> = idx.iter().map(|&i| chosen[i].0).collect();
        let x = set.images.select(Axis(0), &src).into_dyn();
        let targets: Vec<usize> = idx.iter().map(|&i| chosen[i].1).collect();
        let seeds: Vec<u64> = idx
            .iter()
            .map(|&i| Shard::sample_seed(RUN_SEED + 1, i))
            .collect();
        let sd = Seeds::per_sample(&seeds);
        bar.set_message("explaining (6 LIME variants)");
        let phi = explain_panel(&panel, x.view(), &targets, &abs_max(), sd)?;
        bar.set_message(format!("sensitivity Gram (m_agg = {})", b.m_agg_lime));
        let robust = robust_gram(
            &panel,
            &phi,
            x.view(),
            &targets,
            &RobustConfig {
                samples: b.m_agg_lime,
                normalization: abs_max(),
                ..Default::default()
            },
            sd,
        )?;
        bar.set_message("infidelity Gram");
        let faith = faith_gram(
            &model as &dyn Model,
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
        for (j, &i) in idx.iter().enumerate() {
            let (Some(r), Some(f)) = (robust.get(j), faith.get(j)) else {
                return Err("missing Gram".into());
            };
            let grams = MetricGrams {
                robust: Some(r),
                faith: Some(f),
            };
            for (label, strategy) in [
                ("AGG_opt", Strategy::Opt(OptConfig::paper())),
                ("AGG_robust", Strategy::Robust),
                ("AGG_faith", Strategy::Faith),
            ] {
                let w = strategy.weights(names.len(), &grams, &QpSettings::default())?;
                for (name, &v) in names.iter().zip(w.as_slice()) {
                    records.push(Record::new(
                        i,
                        &format!("LIME/{label}"),
                        &format!("w:{name}"),
                        v,
                    ));
                }
            }
            // How much of each variant's clean map is non-zero (an
            // all-zero map is perfectly "robust": the QP can pick it).
            for (m, name) in names.iter().enumerate() {
                let map = phi.map(m)?;
                let row = map.index_axis(Axis(0), j);
                let nz = row.iter().filter(|v| **v != 0.0).count() as f64 / row.len().max(1) as f64;
                records.push(Record::new(i, "LIME/map", &format!("nonzero:{name}"), nz));
            }
            let bx = set.boxes.get(chosen[i].0).ok_or("missing box")?;
            let area = ((bx.bottom - bx.top) * (bx.right - bx.left)) as f64 / (64.0 * 64.0);
            records.push(Record::new(i, "object", "box_area", area));
            let mask_area = set
                .masks
                .index_axis(Axis(0), chosen[i].0)
                .iter()
                .filter(|&&m| m)
                .count() as f64
                / (64.0 * 64.0);
            records.push(Record::new(i, "object", "mask_area", mask_area));
        }
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let config = format!(
        "{}; variants: {}",
        b.describe(),
        specs
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let header = RunHeader::new(RUN_LIME, b.n_lime, RUN_SEED + 1, shard, &config);
    write_records(out, &header, &records)?;
    Ok(())
}
