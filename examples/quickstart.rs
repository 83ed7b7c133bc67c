//! Quickstart: the whole pipeline — attribute, aggregate, optimize,
//! evaluate, report — on the shipped Fashion-MNIST CNN and test images.
//!
//! `cargo run --release --example quickstart [-- --out DIR]`
//!
//! A panel (`PANEL`) explains `N_IMAGES` correctly classified test images;
//! [`salience::report::run`] aggregates (Mahlau & Nolde, Decker et al.),
//! scores and checks the QP on held-out perturbations; `write_run` writes
//! heatmaps, `scores.csv` and `report.md`. Every draw derives from `SEED`.

use common::{out_dir, progress_bar};
use salience::core::{ChannelReduction, Explainer, PixelMaps};
use salience::datasets::assets as samples;
use salience::datasets::fashion_mnist::CLASS_NAMES;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::CandleModel;
use salience::models::assets;
use salience::report::render::pictures;
use salience::report::{
    correctly_classified, run, write_run, DeckerBudget, MetricBudget, PipelineConfig, ReportText,
};
use std::sync::Arc;

mod common;

/// The explainer panel, one registry spec per line (`name:key=value,...`).
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    unsafe { salience::explain::ops::candle_elementwise_on_caller() }; // SAFETY: no other thread yet
    let out = out_dir("quickstart")?;
    // The shipped model and images: nothing is downloaded.
    let cnn = Arc::new(assets::small_cnn(&candle_core::Device::Cpu)?);
    let model = CandleModel::new(cnn.clone());
    let data = samples::fashion_mnist_sample()?;
    let all = data.images.view().into_dyn();
    let chosen = correctly_classified(&model, all, &data.labels, N_IMAGES, SEED)?;
    let images = data.select(&chosen)?;
    let ids: Vec<u64> = chosen.iter().map(|&i| i as u64).collect();

    let specs = ExplainerSpec::parse_list(PANEL)?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = Registry::with_builtins()
        .with_rules(0.0, 1.0) // DeepLIFT, LRP (inputs in [0, 1])
        .with_reference_samples(data.others(&chosen, 64).images.into_dyn()) // Expected Gradients
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
    let x = images.images.view().into_dyn();
    let bar = progress_bar(cfg.n_steps(panel.len())? as u64)?;
    let result = run(
        &model,
        &panel,
        x.view(),
        &images.labels,
        &ids,
        &cfg,
        &mut |s| {
            bar.set_position(s.done as u64);
            bar.set_message(s.message);
        },
    )?;
    bar.finish_and_clear();

    println!("salience quickstart: small CNN, {N_IMAGES} Fashion-MNIST test images (mean ± std)\n");
    println!("{}", result.table.to_text(4)?);
    if let Some(held) = &result.heldout {
        println!("Decker et al.'s metrics, held-out:\n\n{}", held.to_text(4)?);
    }
    let text = ReportText {
        title: "salience quickstart report".into(),
        description: format!(
            "Small CNN (Fashion-MNIST, shipped weights), {N_IMAGES} correctly classified test \
             images (indices {ids:?} of the shipped sample, a shuffle seeded with {SEED}); the \
             predicted class is explained."
        ),
        image_labels: (chosen.iter().zip(&images.labels))
            .map(|(i, &c)| format!("test image {i}, {} ({c})", CLASS_NAMES[c]))
            .collect(),
        specs: specs.iter().map(|s| s.to_string()).collect(),
    };
    let n = write_run(&result, &out, &pictures(x)?, &text)?
        .pictures
        .len();
    println!("wrote {n} pictures and report.md to {}", out.display());
    Ok(())
}
