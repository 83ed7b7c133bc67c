//! Quickstart: the whole pipeline — attribute, aggregate, optimize,
//! evaluate, report — on the shipped Fashion-MNIST CNN and test images.
//!
//! `cargo run --release --example quickstart [-- --out DIR]`
//!
//! 1. Picks `N_IMAGES` correctly classified test images (a seeded shuffle of
//!    the shipped sample) and explains the predicted class.
//! 2. Builds a panel of explainers from text specs (`PANEL`).
//! 3. [`salience::report::run`] explains, aggregates (Mahlau & Nolde's
//!    aggregators on z-scored maps, AGG_var, Decker et al.'s AGG_mean /
//!    AGG_robust / AGG_faith / AGG_opt with per-image QP weights), scores
//!    every method and aggregate (insertion / deletion AUC, infidelity,
//!    faithfulness correlation, Gini, average / max sensitivity) and checks
//!    the QP's guarantee on held-out perturbations.
//! 4. Prints the tables and writes labelled heatmaps, overlays,
//!    `scores.csv` and `report.md` to the output folder (default
//!    `target/quickstart/`).
//!
//! Every random draw comes from `SEED`: two runs print identical tables.

use common::progress_bar;
use ndarray::Axis;
use salience::core::{ChannelReduction, Explainer, PixelMaps};
use salience::data::assets;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::CandleModel;
use salience::report::render::gray_image;
use salience::report::{
    correctly_classified, run, write_run, DeckerBudget, MetricBudget, PipelineConfig, ReportText,
};
use std::sync::Arc;

mod common;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The explainer panel, one registry spec per line (`name:key=value,...`;
/// see `salience_explain::registry`).
const PANEL: &str = "\
saliency
input_x_gradient
integrated_gradients:n_steps=16
smoothgrad:n_samples=12,sigma=0.15
grad_cam:layer=conv2
occlusion:window=4,stride=2
kernel_shap:n_samples=128,feature_mask=patches,patch_size=4
expected_gradients_data:n_samples=8,n_steps=2
deeplift
lrp:composite=epsilon_gamma_box
";

/// The one seed every random draw derives from.
const SEED: u64 = 2024;
/// Number of test images explained.
const N_IMAGES: usize = 10;
/// Reference images (sample images that are not explained) for Expected
/// Gradients.
const N_REFERENCES: usize = 64;

fn main() -> Result<()> {
    let out = std::path::PathBuf::from(match std::env::args().nth(1).as_deref() {
        None => "target/quickstart".to_string(),
        Some("--out") => std::env::args()
            .nth(2)
            .ok_or("usage: quickstart [--out DIR]")?,
        Some(_) => return Err("usage: quickstart [--out DIR]".into()),
    });
    // The shipped model and images: nothing is downloaded.
    let cnn = Arc::new(assets::small_cnn(&candle_core::Device::Cpu)?);
    let model = CandleModel::new(cnn.clone());
    let data = assets::fashion_mnist_sample()?;
    let all = data.images.view().into_dyn();
    let chosen = correctly_classified(&model, all.view(), &data.labels, N_IMAGES, SEED)?;
    let x = all.select(Axis(0), &chosen);
    let targets: Vec<usize> = chosen.iter().map(|&i| data.labels[i]).collect();
    let ids: Vec<u64> = chosen.iter().map(|&i| i as u64).collect();

    // Expected Gradients' references: the first sample images not explained.
    let rest: Vec<usize> = (0..data.len())
        .filter(|i| !chosen.contains(i))
        .take(N_REFERENCES)
        .collect();
    let references = all.select(Axis(0), &rest);
    let specs = ExplainerSpec::parse_list(PANEL)?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = Registry::with_builtins()
        .with_rules(0.0, 1.0) // DeepLIFT, LRP (inputs in [0, 1])
        .with_reference_samples(references)
        .build_panel(&specs, &cnn)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    // Small budgets for a 2-core laptop (the papers': `PipelineConfig::default()`).
    let cfg = PipelineConfig {
        seed: SEED,
        decker: Some(DeckerBudget {
            robust_samples: 6,
            faith_samples: 50,
            eval_robust_samples: 6,
            eval_faith_samples: 200,
        }),
        metrics: MetricBudget {
            curve_steps: Some(28),
            infidelity_perturbations: 32,
            faithfulness_runs: 32,
            sensitivity_samples: 5,
        },
        ..PipelineConfig::default()
    };
    let bar = progress_bar(cfg.n_steps(panel.len())? as u64)?;
    let result = run(&model, &panel, x.view(), &targets, &ids, &cfg, &mut |s| {
        bar.set_position(s.done as u64);
        bar.set_message(s.message);
    })?;
    bar.finish_and_clear();

    println!("salience quickstart: small CNN, {N_IMAGES} Fashion-MNIST test images (mean ± std)\n");
    println!("{}", result.table.to_text(4)?);
    if let Some(heldout) = &result.heldout {
        println!(
            "Decker et al.'s metrics on held-out perturbations:\n\n{}",
            heldout.to_text(4)?
        );
    }
    let pictures = (x.outer_iter())
        .map(|img| {
            Ok(gray_image(
                img.index_axis(Axis(0), 0).into_dimensionality()?,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let name = |c: usize| {
        salience::data::fashion_mnist::CLASS_NAMES
            .get(c)
            .copied()
            .unwrap_or("?")
    };
    let text = ReportText {
        title: "salience quickstart report".into(),
        description: format!(
            "Small CNN (Fashion-MNIST, shipped weights), {N_IMAGES} correctly classified test \
             images (indices {ids:?} of the shipped sample, a shuffle seeded with {SEED}); the \
             predicted class is explained."
        ),
        image_labels: (chosen.iter().zip(&targets))
            .map(|(i, &c)| format!("test image {i}, {} ({c})", name(c)))
            .collect(),
        specs: specs.iter().map(|s| s.to_string()).collect(),
    };
    let written = write_run(&result, &out, &pictures, &text)?;
    println!(
        "wrote {} pictures and report.md to {}",
        written.pictures.len(),
        out.display()
    );
    Ok(())
}
