//! Quickstart: normalize and aggregate an ensemble of attribution maps.
//!
//! `cargo run --release --example quickstart`
//!
//! The candle explainers, the shipped model and the metric panel are still
//! being built (see the README). Until they land, this quickstart runs the
//! aggregation stage on a *simulated* ensemble with a known answer: for a
//! linear model f(x) = Σ w·x the exact attribution is w ⊙ x, and each
//! "method" below is that truth corrupted the way real explainers corrupt
//! it (noise, blur, a shift, sparsity, a map that ignores the input). Each
//! map and aggregate is scored by its Pearson correlation with the truth,
//! its ranking AUC against the ground-truth mask (the pixels carrying the
//! largest 10% of |truth|) and its Gini sparseness, and written to
//! `target/quickstart/` as .npy.

use ndarray::{Array2, Array3};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use salience::aggregate::{Aggregation, Aggregator};
use salience::core::{npy, AttributionBatch, DegeneratePolicy, Ensemble, Normalization};
use salience::metrics::{
    gini_sparseness, ranking_auc, MaskBatch, PixelMapConfig, SparsenessConfig,
};
use std::time::Instant;

const N: usize = 32;
const S: usize = 32;

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut c, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        c += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    c / (va * vb).sqrt().max(f64::MIN_POSITIVE)
}

fn main() -> salience::core::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let noise =
        Normal::new(0.0f32, 1.0).map_err(|e| salience::SalienceError::Backend(e.to_string()))?;
    // Weights: two Gaussian blobs, one positive and one negative.
    let w = Array2::from_shape_fn((S, S), |(i, j)| {
        let g = |ci: f32, cj: f32, s: f32| {
            (-((i as f32 - ci).powi(2) + (j as f32 - cj).powi(2)) / (2.0 * s * s)).exp()
        };
        g(10.0, 12.0, 4.0) - 0.6 * g(22.0, 20.0, 3.0)
    });
    let x = Array3::from_shape_fn((N, S, S), |_| 1.0 + 0.5 * noise.sample(&mut rng));
    let truth = &x * &w.clone().insert_axis(ndarray::Axis(0));
    let blur = |a: &Array3<f32>| {
        Array3::from_shape_fn(a.dim(), |(n, i, j)| {
            let (mut s, mut c) = (0.0, 0.0);
            for di in -2i32..=2 {
                for dj in -2i32..=2 {
                    let (ii, jj) = (i as i32 + di, j as i32 + dj);
                    if (0..S as i32).contains(&ii) && (0..S as i32).contains(&jj) {
                        s += a[[n, ii as usize, jj as usize]];
                        c += 1.0;
                    }
                }
            }
            s / c
        })
    };
    let methods: Vec<(&str, Array3<f32>)> = vec![
        ("noisy", truth.mapv(|v| v + 0.15 * noise.sample(&mut rng))),
        ("blurred", blur(&truth)),
        (
            "shifted",
            Array3::from_shape_fn((N, S, S), |(n, i, j)| truth[[n, (i + 2).min(S - 1), j]]),
        ),
        (
            "sparse",
            truth.mapv(|v| if v.abs() > 0.4 { v } else { 0.0 }),
        ),
        (
            "input-blind",
            Array3::from_shape_fn((N, S, S), |(_, i, j)| w[[i, j]].abs()),
        ),
        (
            "very-noisy",
            truth.mapv(|v| v + 0.6 * noise.sample(&mut rng)),
        ),
        (
            "gradient",
            Array3::from_shape_fn((N, S, S), |(_, i, j)| w[[i, j]]),
        ),
    ];
    let maps = methods
        .into_iter()
        .map(|(n, m)| Ok((n.to_string(), AttributionBatch::from_pixel_maps(m)?)))
        .collect::<salience::core::Result<Vec<_>>>()?;
    let ensemble =
        Ensemble::new(maps)?.normalize(Normalization::ZScore, DegeneratePolicy::Zeros)?;
    // Ground truth for localisation: the top 10% of |truth| in each sample.
    let mask = Array3::from_shape_fn(truth.dim(), |(n, i, j)| {
        let mut v: Vec<f32> = truth
            .index_axis(ndarray::Axis(0), n)
            .iter()
            .map(|x| x.abs())
            .collect();
        v.sort_by(f32::total_cmp);
        truth[[n, i, j]].abs() >= v[v.len() * 9 / 10]
    });
    let mask = MaskBatch::from_bool(mask)?;
    let truth = AttributionBatch::from_pixel_maps(truth)?;
    let out_dir = std::path::Path::new("target/quickstart");
    std::fs::create_dir_all(out_dir).map_err(|e| salience::SalienceError::Io {
        action: "writing",
        path: out_dir.into(),
        message: e.to_string(),
    })?;

    let score = |b: &AttributionBatch| -> salience::core::Result<(f64, f64, f64)> {
        let (a, t) = (b.as_flat(), truth.as_flat());
        let corr = a
            .outer_iter()
            .zip(t.outer_iter())
            .map(|(a, t)| pearson(&a.to_vec(), &t.to_vec()))
            .sum::<f64>()
            / N as f64;
        let auc = ranking_auc(b, &mask, &PixelMapConfig::default())?.mean();
        let gini = gini_sparseness(b, &SparsenessConfig::default())?.mean();
        Ok((corr, auc, gini))
    };
    println!(
        "salience quickstart: {N} samples of {S}x{S}, k = {} simulated methods, z-score normalized",
        ensemble.k()
    );
    println!("(simulated ensemble: the candle explainers and shipped model are not built yet)\n");
    println!(
        "{:<44} {:>12} {:>8} {:>7} {:>10}",
        "map", "corr(truth)", "AUC", "Gini", "time"
    );
    for i in 0..ensemble.k() {
        let (c, a, g) = score(&ensemble.batch(i)?)?;
        println!(
            "{:<44} {c:>12.4} {a:>8.4} {g:>7.3}",
            format!("method: {}", ensemble.names()[i])
        );
    }
    for agg in Aggregation::paper_defaults() {
        let t = Instant::now();
        let out = agg.aggregate(&ensemble)?;
        let dt = t.elapsed();
        let (c, a, g) = score(&out)?;
        println!(
            "{:<44} {c:>12.4} {a:>8.4} {g:>7.3} {:>8.1}ms",
            format!("aggregate: {}", agg.name()),
            dt.as_secs_f64() * 1e3
        );
        let file = agg.name().replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.',
            "_",
        );
        npy::write_batch(out_dir.join(format!("{file}.npy")), &out)?;
    }
    npy::write_ensemble(out_dir.join("ensemble.npy"), &ensemble)?;
    println!(
        "\nwrote the ensemble and every aggregate to {}/ (.npy)",
        out_dir.display()
    );
    Ok(())
}
