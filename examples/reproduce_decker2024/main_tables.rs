//! Tables 1–3, Figure 4 and the App. D.4 ablations on a shipped
//! Fashion-MNIST model (the small CNN, or the ViT for the Table 1 and
//! Table 2 panels): computes per-image records.
//!
//! One union panel (every method any table needs) is explained once per
//! image; both Grams (sensitivity, infidelity) are fitted on it; each
//! experiment's panel is a subset, whose Grams are the sub-matrices. Every
//! row (method or aggregate) is then scored on the same fresh perturbations
//! (see `cache`).

use crate::cache::{combine_maps, CachedModel, Combine, PanelCache, RowExplainer};
use crate::common::argmax;
use crate::{Arch, Budget, Result, RUN_SEED};
use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, Array4, ArrayViewD, Axis};
use salience::core::{derive_seed, AttributionBatch, ChannelReduction, Model, PixelMaps};
use salience::datasets::assets as samples;
use salience::explain::registry::{ExplainerSpec, Registry};
use salience::explain::rules::{LayerOps, PlainOps, RuleForward};
use salience::explain::{CandleModel, DeepLift, GuidedBackprop, LayerSplit};
use salience::metrics::Baseline as MetricBaseline;
use salience::metrics::{
    faithfulness_correlation, infidelity, on_defined_samples, relative_stability, road,
    sensitivity, FaithfulnessCorrelationConfig, InfidelityConfig, Perturbation, Representation,
    RoadConfig, RoadOrder, SampleSubset, Scores, SensitivityConfig, StabilityConfig,
    StabilityFormula,
};
use salience::models::assets;
use salience::optimize::{
    explain_panel, faith_gram, robust_gram, Baseline, FaithConfig, GaussianBlur, Gram,
    MapNormalization, MetricGrams, OptConfig, QpSettings, RobustConfig, SeedStream, Strategy,
};
use salience::report::records::{write_records, Record, RunHeader};
use salience::report::Shard;
use salience::{DegeneratePolicy, Explainer, Normalization, SalienceError, Seeds};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

/// The union panel: (table name, registry spec). Budgets of the
/// multi-pass methods are reduced from Captum's defaults (see the results
/// file).
pub const PANEL: [(&str, &str); 14] = [
    ("Saliency", "saliency"),
    ("InputxGrad", "input_x_gradient"),
    ("IntGrad", "integrated_gradients:n_steps=16"),
    ("SmoothGrad", "smoothgrad:n_samples=10,sigma=0.15"),
    ("VarGrad", "vargrad:n_samples=10,sigma=0.15"),
    ("GuidedBP", "guided_backprop"),
    ("DeepLift", "deeplift"),
    ("GradSHAP", "gradient_shap"),
    ("GradCAM", "grad_cam:layer=conv2"),
    ("GradCAM++", "grad_cam_plus_plus:layer=conv2"),
    ("EigenCAM", "eigen_cam:layer=conv2"),
    (
        "LIME",
        "lime:n_samples=50,surrogate=lasso,lambda=0.01,feature_mask=patches,patch_size=4",
    ),
    (
        "ShapleyValues",
        "shapley_sampling:n_permutations=2,feature_mask=patches,patch_size=4",
    ),
    (
        "FeatureAblation",
        "feature_ablation:feature_mask=patches,patch_size=4",
    ),
];

/// Table 1 / Table 3's methods, in App. D.4's order (the count ablation
/// takes the first 2…7).
pub const ROBUST_PANEL: [&str; 7] = [
    "DeepLift",
    "VarGrad",
    "GuidedBP",
    "SmoothGrad",
    "IntGrad",
    "InputxGrad",
    "Saliency",
];
/// Table 2's methods.
pub const FAITH_PANEL: [&str; 7] = [
    "GradSHAP",
    "IntGrad",
    "InputxGrad",
    "SmoothGrad",
    "GradCAM",
    "GradCAM++",
    "EigenCAM",
];
/// App. D.4 (Tables 10–11): gradient-based methods.
pub const GRAD_PANEL: [&str; 3] = ["DeepLift", "SmoothGrad", "InputxGrad"];
/// App. D.4: perturbation-based methods.
pub const PERT_PANEL: [&str; 3] = ["LIME", "ShapleyValues", "FeatureAblation"];

/// An aggregation strategy of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strat {
    Mean,
    Var,
    Robust,
    Faith,
    Opt,
}

impl Strat {
    pub fn name(self) -> &'static str {
        match self {
            Strat::Mean => "AGG_mean",
            Strat::Var => "AGG_var",
            Strat::Robust => "AGG_robust",
            Strat::Faith => "AGG_faith",
            Strat::Opt => "AGG_opt",
        }
    }
}

/// All five (Tables 1–3).
pub const ALL_STRATS: [Strat; 5] = [
    Strat::Mean,
    Strat::Var,
    Strat::Faith,
    Strat::Opt,
    Strat::Robust,
];
/// The optimized three (ablations).
pub const QP_STRATS: [Strat; 3] = [Strat::Robust, Strat::Faith, Strat::Opt];

/// One experiment: a panel (subset of [`PANEL`]) and its aggregates.
pub struct Experiment {
    /// Prefix of its aggregate rows (`T1/AGG_opt`).
    pub id: String,
    /// Its methods (names of [`PANEL`]).
    pub methods: Vec<&'static str>,
    /// Its aggregates.
    pub strats: Vec<Strat>,
    /// Whether its rows get every metric (else SENS, INFD, FCOR, INFD_Q).
    pub full: bool,
}

/// Every experiment of `arch`, in report order: on the CNN the Table 1 /
/// Table 2 panels and the D.4 ablations, on the ViT the two panels only
/// (D.4 is a ResNet18 ablation in the paper), each restricted to the
/// methods in `panel` (those that apply to the model).
pub fn experiments(arch: Arch, panel: &[(&'static str, String)]) -> Vec<Experiment> {
    let main = |id: &str, methods: &[&'static str]| Experiment {
        id: id.into(),
        methods: methods
            .iter()
            .copied()
            .filter(|m| panel.iter().any(|(n, _)| n == m))
            .collect(),
        strats: ALL_STRATS.to_vec(),
        full: true,
    };
    let mut v = vec![main("T1", &ROBUST_PANEL), main("T2", &FAITH_PANEL)];
    if arch == Arch::Vit {
        return v;
    }
    v.extend([
        Experiment {
            id: "D4-grad".into(),
            methods: GRAD_PANEL.to_vec(),
            strats: QP_STRATS.to_vec(),
            full: false,
        },
        Experiment {
            id: "D4-pert".into(),
            methods: PERT_PANEL.to_vec(),
            strats: QP_STRATS.to_vec(),
            full: false,
        },
        Experiment {
            id: "D4-both".into(),
            methods: GRAD_PANEL.iter().chain(&PERT_PANEL).copied().collect(),
            strats: QP_STRATS.to_vec(),
            full: false,
        },
    ]);
    for n in 2..ROBUST_PANEL.len() {
        v.push(Experiment {
            id: format!("D4-n{n}"),
            methods: ROBUST_PANEL[..n].to_vec(),
            strats: QP_STRATS.to_vec(),
            full: false,
        });
    }
    v
}

/// The CAM layer of the ViT: the output of block 2, i.e. the input of the
/// last block (pytorch-grad-cam's `blocks[-1].norm1` before its
/// LayerNorm). The last block's own output tokens do not reach the logits
/// (only the class token does), so their gradient, and every CAM on them,
/// is zero.
pub const VIT_CAM_LAYER: &str = "blocks.2";

/// The union panel of `arch` as (table name, registry spec), before the
/// applicability check: the CNN's is [`PANEL`]; the ViT's drops the
/// perturbation methods (only D.4 uses them) and takes its CAMs at
/// [`VIT_CAM_LAYER`].
pub fn arch_panel(arch: Arch) -> Vec<(&'static str, String)> {
    PANEL
        .iter()
        .filter(|(n, _)| arch == Arch::Cnn || !PERT_PANEL.contains(n))
        .map(|(n, s)| {
            let spec = match arch {
                Arch::Cnn => s.to_string(),
                Arch::Vit => s.replace("layer=conv2", &format!("layer={VIT_CAM_LAYER}")),
            };
            (*n, spec)
        })
        .collect()
}

/// Index of the method `name` in `panel` (table names).
pub fn panel_index(panel: &[&str], name: &str) -> Result<usize> {
    panel
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| format!("unknown method {name}").into())
}

/// Abs-max normalization (App. C.2); an all-zero map (a Grad-CAM of a
/// perturbed input) stays zero.
pub fn abs_max() -> MapNormalization {
    MapNormalization {
        method: Normalization::AbsMax,
        degenerate: DegeneratePolicy::Zeros,
    }
}

/// The blurred copy that replaces masked pixels, both when fitting
/// AGG_faith and when evaluating INFD / FCOR: the one decker2024 blur
/// (σ = 5 px, 11-tap kernel, reflect border; the metrics'
/// `Blur { sigma: 5, kernel_size: 11 }`).
pub fn fit_blur<'a>() -> Baseline<'a> {
    Baseline::Blur(GaussianBlur::rise())
}

pub(crate) fn registry<M: LayerSplit + RuleForward + Send + Sync + 'static>() -> Registry<M> {
    let mut r = Registry::<M>::with_builtins();
    r.register(
        "deeplift",
        Arc::new(|_, m, _| Ok(Box::new(DeepLift::new(m.clone())) as Box<dyn Explainer>)),
    );
    r.register(
        "guided_backprop",
        Arc::new(|_, m, _| Ok(Box::new(GuidedBackprop::new(m.clone())) as Box<dyn Explainer>)),
    );
    r
}

/// Counts the layers of a forward pass at which the rule-based methods'
/// backward rules act (ReLUs; ReLUs and max-pools for DeepLIFT); every op
/// computes its plain value.
#[derive(Default)]
struct RuleSites {
    relu: Cell<usize>,
    max_pool: Cell<usize>,
}

impl LayerOps for RuleSites {
    fn relu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.relu.set(self.relu.get() + 1);
        PlainOps.relu(x)
    }

    fn max_pool2d(&self, x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        self.max_pool.set(self.max_pool.get() + 1);
        PlainOps.max_pool2d(x, k)
    }

    fn max_pool2d_strided(
        &self,
        x: &Tensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> candle_core::Result<Tensor> {
        self.max_pool.set(self.max_pool.get() + 1);
        PlainOps.max_pool2d_strided(x, kernel, stride, padding)
    }
}

/// Why the method `name` of the panel does not apply to `model` (`None`
/// where it does), from one forward pass of `x` (`[1, 1, 28, 28]`).
///
/// Guided Backprop replaces the backward pass of the ReLUs and DeepLIFT's
/// rescale rule acts at ReLUs and max-pools; all other layers keep their
/// plain gradient. On a model without such layers (the ViT: GELU, softmax,
/// LayerNorm) Guided Backprop is the plain gradient (Saliency) and
/// DeepLIFT with the zero reference is Input×Gradient, so the method is
/// not what its name says: it is reported as not applicable, as the paper
/// does for Guided Backprop on the MLP-Mixer (Table 1, "–").
pub fn not_applicable<M: RuleForward>(
    model: &M,
    x: &Tensor,
    name: &str,
) -> Result<Option<SalienceError>> {
    let sites = RuleSites::default();
    model
        .forward_with(x, &sites)
        .map_err(|e| SalienceError::backend("rule-site count", e))?;
    let (relu, pool) = (sites.relu.get(), sites.max_pool.get());
    Ok(match name {
        "GuidedBP" if relu == 0 => Some(SalienceError::Model(
            "Guided Backprop replaces the backward pass of the ReLUs; this model has none \
             (GELU, softmax, LayerNorm), so it would return the plain gradient (Saliency)"
                .into(),
        )),
        "DeepLift" if relu + pool == 0 => Some(SalienceError::Model(
            "DeepLIFT's rescale rule acts at ReLUs and max-pools; this model has neither \
             (GELU, softmax, LayerNorm keep their gradient), so it would return Input×Gradient"
                .into(),
        )),
        _ => None,
    })
}

/// An image's index in the shipped sample and its (predicted = true) class.
type ImageId = (usize, usize);

/// The first `n` correctly classified images of a seeded shuffle of the
/// shipped sample (independent of the shard): (index, label) and `[n, 1, 28, 28]`.
pub(crate) fn pick_images(model: &dyn Model, n: usize) -> Result<(Vec<ImageId>, Array4<f32>)> {
    use rand::seq::SliceRandom;
    let data = samples::fashion_mnist_sample()?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut salience::core::seed::rng(RUN_SEED));
    let batch = data.images.select(Axis(0), &order);
    let scores = salience::core::model::forward_chunked(model, batch.view().into_dyn(), None)?;
    let mut chosen = Vec::new();
    for (row, &i) in scores.outer_iter().zip(&order) {
        let pred = argmax(row.iter().copied());
        if Some(pred) == data.labels.get(i).copied() && chosen.len() < n {
            chosen.push((i, pred));
        }
    }
    if chosen.len() < n {
        return Err(format!("only {} correctly classified images", chosen.len()).into());
    }
    let idx: Vec<usize> = chosen.iter().map(|c| c.0).collect();
    Ok((chosen, data.images.select(Axis(0), &idx)))
}

/// A Gram restricted to the methods `idx`.
pub fn sub_gram(g: &Gram, idx: &[usize]) -> Result<Gram> {
    let m = g.matrix();
    let k = idx.len();
    let sub = Array2::from_shape_fn((k, k), |(a, b)| m[[idx[a], idx[b]]]);
    let cross = g.cross();
    let c = Array1::from_iter(idx.iter().map(|&i| cross[i]));
    Ok(Gram::from_parts(sub, c, g.target_sq())?)
}

/// A row of the tables.
struct Row {
    name: String,
    combine: Combine,
    /// Per-image weights over the union panel (linear rows).
    weights: Option<Vec<Vec<f64>>>,
    full: bool,
}

/// Per-metric seeds (the same for every row).
pub(crate) fn metric_seeds(seeds: &[u64], tag: u64) -> Vec<u64> {
    seeds.iter().map(|&s| derive_seed(s, 1000 + tag)).collect()
}

/// Runs the Fashion-MNIST experiments of `arch` on this shard's images and
/// writes their records (run [`Arch::run_name`]).
pub fn run(b: &Budget, arch: Arch, shard: Shard, out: &std::path::Path) -> Result<()> {
    let (b, dev) = (b.for_arch(arch), Device::Cpu);
    match arch {
        Arch::Cnn => run_model(&b, arch, Arc::new(assets::small_cnn(&dev)?), shard, out),
        Arch::Vit => run_model(&b, arch, Arc::new(assets::vit_fashion(&dev)?), shard, out),
    }
}

/// The layer whose activations are the RRS representation: the input of
/// the classifier head.
pub(crate) fn repr_layer(arch: Arch) -> &'static str {
    match arch {
        Arch::Cnn => "fc1",
        Arch::Vit => "pre_logits",
    }
}

/// The first image of `x_all` as a `[1, …]` tensor (the methods that do
/// not apply to a model are decided on it, the same for every shard).
pub(crate) fn first_image(x_all: &Array4<f32>) -> Result<Tensor> {
    let first = x_all.slice_axis(Axis(0), (0..1).into());
    Ok(Tensor::from_slice(
        first.as_standard_layout().as_slice().unwrap_or(&[]),
        first.shape(),
        &Device::Cpu,
    )?)
}

/// The RRS representation of `net`: the activations at
/// [`repr_layer`], flattened per input.
pub(crate) fn representation<M: LayerSplit + Send + Sync + 'static>(
    net: Arc<M>,
    arch: Arch,
) -> impl Fn(ArrayViewD<'_, f32>) -> salience::core::Result<Array2<f32>> + Send + Sync {
    let layer = repr_layer(arch);
    move |x: ArrayViewD<'_, f32>| -> salience::core::Result<Array2<f32>> {
        let xs = x.as_standard_layout();
        let t = Tensor::from_slice(xs.as_slice().unwrap_or(&[]), x.shape(), &Device::Cpu)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        let a = net
            .activations(&t, layer)
            .and_then(|a| a.to_dtype(DType::F32))
            .and_then(|a| a.flatten_from(1))
            .and_then(|a| a.to_vec2::<f32>())
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        let r = a.first().map_or(0, |v| v.len());
        Array2::from_shape_vec((a.len(), r), a.concat())
            .map_err(|e| SalienceError::backend("ndarray", e))
    }
}

fn run_model<M: LayerSplit + RuleForward + Send + Sync + 'static>(
    b: &Budget,
    arch: Arch,
    net: Arc<M>,
    shard: Shard,
    out: &std::path::Path,
) -> Result<()> {
    let plain = CandleModel::new(net.clone());
    let (chosen, x_all) = pick_images(&plain, b.n_images)?;
    // The methods that do not apply to this model (decided on the first
    // image, the same for every shard).
    let first = first_image(&x_all)?;
    let mut panel_specs = Vec::new();
    let mut unsupported = Vec::new();
    for (name, spec) in arch_panel(arch) {
        match not_applicable(net.as_ref(), &first, name)? {
            Some(e) => unsupported.push((name, e.to_string())),
            None => panel_specs.push((name, spec)),
        }
    }
    let specs: Vec<ExplainerSpec> = panel_specs
        .iter()
        .map(|(_, s)| s.parse())
        .collect::<std::result::Result<_, _>>()?;
    let panel: Vec<PixelMaps<Box<dyn Explainer>>> = registry::<M>()
        .build_panel(&specs, &net)?
        .into_iter()
        .map(|e| PixelMaps::new(e, ChannelReduction::Sum))
        .collect();
    let range = shard.range(b.n_images);
    let bar = ProgressBar::new(range.len() as u64);
    bar.set_style(ProgressStyle::with_template(&format!(
        "{{elapsed_precise}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} images (Fashion-MNIST, {}) {{msg}}",
        arch.title()
    ))?);
    let mut records = Vec::new();
    for i in range.clone() {
        for (name, reason) in &unsupported {
            records.push(Record::new(
                i,
                name,
                &format!("{NOT_APPLICABLE}{reason}"),
                1.0,
            ));
        }
    }
    let model = CachedModel::new(CandleModel::new(net.clone()));
    let cache = PanelCache::new(&panel, abs_max());
    let repr = representation(net.clone(), arch);
    let setup = Setup {
        budget: b,
        panel_names: panel_specs.iter().map(|p| p.0).collect(),
        experiments: experiments(arch, &panel_specs),
    };
    let mut start = range.start;
    while start < range.end {
        let end = (start + b.chunk).min(range.end);
        let idx: Vec<usize> = (start..end).collect();
        let x = x_all.select(Axis(0), &idx).into_dyn();
        let targets: Vec<usize> = idx.iter().map(|&i| chosen[i].1).collect();
        let seeds: Vec<u64> = idx
            .iter()
            .map(|&i| Shard::sample_seed(RUN_SEED, i))
            .collect();
        let ctx = Chunk {
            idx: &idx,
            x: x.view(),
            targets: &targets,
            seeds: &seeds,
        };
        chunk_records(
            &setup,
            &ctx,
            &panel,
            &plain,
            &model,
            &cache,
            &repr,
            &bar,
            &mut records,
        )?;
        cache.clear()?;
        model.clear()?;
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let config = format!(
        "model={}; {}; panel: {}",
        arch.name(),
        b.describe(),
        panel_specs
            .iter()
            .map(|p| p.1.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let header = RunHeader::new(arch.run_name(), b.n_images, RUN_SEED, shard, &config);
    write_records(out, &header, &records)?;
    Ok(())
}

/// Prefix of the metric of a record saying that a method does not apply
/// to the model; the rest of the metric is the typed error's message.
pub const NOT_APPLICABLE: &str = "not applicable: ";

/// What every chunk of a run shares.
struct Setup<'a> {
    budget: &'a Budget,
    /// The table names of the panel's methods, in panel order.
    panel_names: Vec<&'static str>,
    experiments: Vec<Experiment>,
}

/// The images of one processing chunk.
struct Chunk<'a> {
    idx: &'a [usize],
    x: ArrayViewD<'a, f32>,
    targets: &'a [usize],
    seeds: &'a [u64],
}

#[allow(clippy::too_many_arguments)]
fn chunk_records(
    setup: &Setup<'_>,
    c: &Chunk<'_>,
    panel: &[PixelMaps<Box<dyn Explainer>>],
    plain: &dyn Model,
    model: &dyn Model,
    cache: &PanelCache<'_>,
    repr: &dyn Representation,
    bar: &ProgressBar,
    records: &mut Vec<Record>,
) -> Result<()> {
    let b = setup.budget;
    let n = c.idx.len();
    let seeds = Seeds::per_sample(c.seeds);
    bar.set_message(format!("explaining ({} methods)", panel.len()));
    let phi = explain_panel(panel, c.x.view(), c.targets, &abs_max(), seeds)?;
    cache.prefill(c.x.view(), c.seeds, &phi)?;
    bar.set_message(format!("sensitivity Gram (m_agg = {})", b.m_agg));
    let robust_cfg = RobustConfig {
        samples: b.m_agg,
        normalization: abs_max(),
        ..Default::default()
    };
    let robust = robust_gram(panel, &phi, c.x.view(), c.targets, &robust_cfg, seeds)?;
    bar.set_message("infidelity Grams");
    let faith_cfg = FaithConfig {
        samples: b.m_agg,
        baseline: fit_blur(),
        ..Default::default()
    };
    let faith = faith_gram(plain, &phi, c.x.view(), c.targets, &faith_cfg, seeds)?;
    let faith_eval = faith_gram(
        plain,
        &phi,
        c.x.view(),
        c.targets,
        &FaithConfig {
            samples: b.m_faith_eval,
            stream: SeedStream::Eval,
            ..faith_cfg
        },
        seeds,
    )?;

    // The rows: every method, then every experiment's aggregates.
    let k = panel.len();
    let mut rows: Vec<Row> = setup
        .panel_names
        .iter()
        .enumerate()
        .map(|(m, name)| Row {
            name: name.to_string(),
            combine: Combine::OneHot(m),
            weights: Some(
                (0..n)
                    .map(|_| (0..k).map(|j| f64::from(u8::from(j == m))).collect())
                    .collect(),
            ),
            full: true,
        })
        .collect();
    for e in &setup.experiments {
        let sub: Vec<usize> = e
            .methods
            .iter()
            .map(|m| panel_index(&setup.panel_names, m))
            .collect::<Result<_>>()?;
        for s in &e.strats {
            let name = format!("{}/{}", e.id, s.name());
            if *s == Strat::Var {
                rows.push(Row {
                    name,
                    combine: Combine::AggVar(sub.clone()),
                    weights: None,
                    full: e.full,
                });
                continue;
            }
            let mut per_image = Vec::with_capacity(n);
            for (i, (r, f)) in robust.iter().zip(&faith).enumerate() {
                let (r, f) = (sub_gram(r, &sub)?, sub_gram(f, &sub)?);
                let grams = MetricGrams {
                    robust: Some(&r),
                    faith: Some(&f),
                };
                let strategy = match s {
                    Strat::Mean => Strategy::Mean,
                    Strat::Robust => Strategy::Robust,
                    Strat::Faith => Strategy::Faith,
                    _ => Strategy::Opt(OptConfig::paper()),
                };
                let w = strategy.weights(sub.len(), &grams, &QpSettings::default())?;
                let mut full_w = vec![0.0; k];
                for (&m, &v) in sub.iter().zip(w.as_slice()) {
                    full_w[m] = v;
                    if *s != Strat::Mean {
                        records.push(Record::new(
                            c.idx[i],
                            &name,
                            &format!("w:{}", setup.panel_names[m]),
                            v,
                        ));
                    }
                }
                per_image.push(full_w);
            }
            let by_seed: HashMap<u64, Vec<f64>> = c
                .seeds
                .iter()
                .copied()
                .zip(per_image.iter().cloned())
                .collect();
            rows.push(Row {
                name,
                combine: Combine::Weights(Arc::new(by_seed)),
                weights: Some(per_image),
                full: e.full,
            });
        }
    }

    // Score every row on the same fresh perturbations.
    let all_maps = cache.maps(c.x.view(), c.targets, seeds)?;
    for (r_i, row) in rows.iter().enumerate() {
        bar.set_message(format!("metrics {}/{}: {}", r_i + 1, rows.len(), row.name));
        let flat = combine_maps(&row.combine, &all_maps, c.seeds)?;
        let maps = AttributionBatch::from_pixel_maps(
            flat.into_shape_with_order((n, 28, 28))
                .map_err(|e| SalienceError::backend("ndarray", e))?,
        )?;
        let mut push = |metric: &str, values: Vec<(usize, f64)>| {
            for (i, v) in values {
                if v.is_finite() {
                    records.push(Record::new(c.idx[i], &row.name, metric, v));
                }
            }
        };
        // Held-out Q of the infidelity Gram (the objective AGG_faith
        // minimizes, on m_eval fresh masks).
        if let Some(ws) = &row.weights {
            let q = ws
                .iter()
                .zip(&faith_eval)
                .enumerate()
                .map(|(i, (w, g))| Ok((i, g.q(w)?)))
                .collect::<Result<Vec<_>>>()?;
            push("INFD_Q", q);
        }
        let explainer = RowExplainer {
            name: row.name.clone(),
            cache,
            combine: row.combine.clone(),
        };
        let sens_cfg = SensitivityConfig {
            n_samples: b.m_sens,
            ..SensitivityConfig::decker2024()
        };
        let sens = per_image(n, |i| {
            let s = sensitivity(
                &explainer,
                c.x.slice_axis(Axis(0), (i..i + 1).into()),
                &c.targets[i..i + 1],
                &sens_cfg,
                Seeds::per_sample(&c.seeds[i..i + 1]),
            )?;
            Ok(vec![first(&s.average), first(&s.max)])
        })?;
        push("SENS_avg", pick(&sens, 0));
        push("SENS_max", pick(&sens, 1));
        let faith_variants: Vec<(&str, &str, MetricBaseline)> = if row.full {
            vec![
                (
                    "INFD",
                    "FCOR",
                    MetricBaseline::Blur {
                        sigma: 5.0,
                        kernel_size: 11,
                    },
                ),
                ("INFD_0", "FCOR_0", MetricBaseline::Constant(0.0)),
                ("INFD_mean", "FCOR_mean", MetricBaseline::ChannelMean),
            ]
        } else {
            vec![(
                "INFD",
                "FCOR",
                MetricBaseline::Blur {
                    sigma: 5.0,
                    kernel_size: 11,
                },
            )]
        };
        for (t, (infd_name, fcor_name, baseline)) in faith_variants.into_iter().enumerate() {
            let perturbation = Perturbation::RandomPixels {
                share: 0.2,
                baseline,
            };
            let infd_cfg = InfidelityConfig {
                perturbation,
                n_perturbations: b.m_faith_eval,
                ..InfidelityConfig::decker2024()
            };
            let fcor_cfg = FaithfulnessCorrelationConfig {
                perturbation,
                n_runs: b.m_faith_eval,
                ..FaithfulnessCorrelationConfig::decker2024()
            };
            let tag = 10 * t as u64;
            push(
                infd_name,
                defined(c, &maps, tag, &|s, sd| {
                    infidelity(model, s.inputs.view(), &s.maps, &s.targets, &infd_cfg, sd)?.strict()
                })?,
            );
            push(
                fcor_name,
                defined(c, &maps, tag + 1, &|s, sd| {
                    faithfulness_correlation(
                        model,
                        s.inputs.view(),
                        &s.maps,
                        &s.targets,
                        &fcor_cfg,
                        sd,
                    )?
                    .strict()
                })?,
            );
        }
        if !row.full {
            continue;
        }
        let stab_cfg = StabilityConfig {
            n_samples: b.m_stab,
            // The relative-change ROS this reproduction has always used
            // (Decker et al. (2024) computes the stabilities with OpenXAI's relative
            // changes), not Quantus' absolute logit change.
            formula: StabilityFormula::Relative,
            ..StabilityConfig::symmetric()
        };
        let stab = per_image(n, |i| {
            let s = relative_stability(
                model,
                &explainer,
                Some(repr),
                c.x.slice_axis(Axis(0), (i..i + 1).into()),
                &c.targets[i..i + 1],
                &stab_cfg,
                Seeds::per_sample(&c.seeds[i..i + 1]),
            )?;
            // Strict: an image none of whose perturbations keeps the
            // prediction is `Empty`, i.e. no value (see `per_image`).
            let rrs = match &s.rrs {
                Some(r) => first(&r.strict()?),
                None => f64::NAN,
            };
            Ok(vec![first(&s.ris.strict()?), rrs, first(&s.ros.strict()?)])
        })?;
        push("RIS", pick(&stab, 0));
        push("RRS", pick(&stab, 1));
        push("ROS", pick(&stab, 2));
        for (order, label) in [(RoadOrder::MoRF, "MoRF"), (RoadOrder::LeRF, "LeRF")] {
            let cfg = RoadConfig {
                order,
                ..RoadConfig::decker2024()
            };
            let sd = metric_seeds(c.seeds, 50);
            let curves = road(
                model,
                c.x.view(),
                &maps,
                c.targets,
                &cfg,
                Seeds::per_sample(&sd),
            )?;
            let change = curves.change();
            for (p_i, p) in cfg.percentages.iter().enumerate() {
                let vals = (0..n)
                    .map(|i| (i, 100.0 * change[[i, p_i]]))
                    .collect::<Vec<_>>();
                push(&format!("{label}{p:.0}"), vals);
            }
        }
    }
    Ok(())
}

pub(crate) fn first(s: &Scores) -> f64 {
    s.values().first().copied().unwrap_or(f64::NAN)
}

/// Runs `f` per image; an image for which the metric is undefined (every
/// stability perturbation flips the prediction, …) gets no value.
pub(crate) fn per_image(
    n: usize,
    f: impl Fn(usize) -> salience::core::Result<Vec<f64>>,
) -> Result<Vec<Option<Vec<f64>>>> {
    (0..n)
        .map(|i| match f(i) {
            Ok(v) => Ok(Some(v)),
            Err(SalienceError::Empty(_)) | Err(SalienceError::DegenerateMap { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        })
        .collect()
}

fn pick(v: &[Option<Vec<f64>>], j: usize) -> Vec<(usize, f64)> {
    v.iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().and_then(|x| x.get(j)).map(|&x| (i, x)))
        .collect()
}

/// A map-based metric over the images it is defined for (an all-zero
/// Grad-CAM map has no correlation), with its own per-image seed stream.
fn defined(
    c: &Chunk<'_>,
    maps: &AttributionBatch,
    tag: u64,
    metric: &dyn Fn(&SampleSubset, Seeds<'_>) -> salience::core::Result<Scores>,
) -> Result<Vec<(usize, f64)>> {
    let scored = on_defined_samples(c.x.view(), maps, c.targets, c.seeds, |s| {
        let sd = metric_seeds(&s.seeds, tag);
        metric(s, Seeds::per_sample(&sd))
    })?;
    Ok(match scored {
        Some((scores, kept)) => kept
            .into_iter()
            .zip(scores.values().iter().copied())
            .collect(),
        None => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_sub_gram_gives_the_full_objective_of_the_zero_padded_weights() {
        let m = array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let g = Gram::from_parts(m, array![0.3, -0.1, 0.7], 5.0).unwrap();
        let sub = sub_gram(&g, &[2, 0]).unwrap();
        assert_eq!(sub.matrix(), array![[2.0, 0.5], [0.5, 4.0]]);
        for w in [[0.3, 0.7], [1.0, 0.0], [0.6, 0.6]] {
            let full = [w[1], 0.0, w[0]];
            assert!((sub.q(&w).unwrap() - g.q(&full).unwrap()).abs() < 1e-12);
        }
    }

    /// The shipped ViT has no ReLU or max-pool: Guided Backprop is not
    /// applicable and returns exactly the plain gradient, DeepLIFT is not
    /// applicable and returns exactly Input×Gradient (what the reasons
    /// say); on the CNN both apply.
    #[test]
    fn rule_methods_without_rule_layers_are_not_applicable_and_say_why() {
        let data = samples::fashion_mnist_sample().unwrap();
        let x = data.images.slice_axis(Axis(0), (0..1).into()).into_dyn();
        let label = data.labels[0];
        let t = Tensor::from_slice(
            x.as_standard_layout().as_slice().unwrap(),
            x.shape(),
            &Device::Cpu,
        )
        .unwrap();
        let vit = Arc::new(assets::vit_fashion(&Device::Cpu).unwrap());
        let cnn = Arc::new(assets::small_cnn(&Device::Cpu).unwrap());
        for name in ["GuidedBP", "DeepLift"] {
            let e = not_applicable(vit.as_ref(), &t, name).unwrap().unwrap();
            assert!(matches!(e, SalienceError::Model(_)), "{e}");
            assert!(not_applicable(cnn.as_ref(), &t, name).unwrap().is_none());
        }
        for name in ["Saliency", "IntGrad", "GradCAM"] {
            assert!(not_applicable(vit.as_ref(), &t, name).unwrap().is_none());
        }
        let r = registry::<salience::models::VisionTransformer>();
        let map = |spec: &str| {
            r.build(&spec.parse().unwrap(), &vit)
                .unwrap()
                .explain(x.view(), &[label], Seeds::base(0))
                .unwrap()
                .view()
                .to_owned()
        };
        let close = |a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>| {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0);
            let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff <= 1e-4 * scale, "max |Δ| {diff} vs scale {scale}");
        };
        close(&map("guided_backprop"), &map("saliency"));
        close(&map("deeplift"), &map("input_x_gradient"));
    }

    #[test]
    fn every_experiment_names_panel_methods() {
        for arch in Arch::ALL {
            let panel = arch_panel(arch);
            let names: Vec<&str> = panel.iter().map(|p| p.0).collect();
            for e in experiments(arch, &panel) {
                assert!(e.methods.len() >= 2, "{}", e.id);
                for m in &e.methods {
                    assert!(panel_index(&names, m).is_ok(), "{m}");
                }
            }
            assert!(panel_index(&names, "nope").is_err());
        }
    }
}
