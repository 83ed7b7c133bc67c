//! End to end: Φ(x) from a panel, the Gram matrices a [`Strategy`] needs,
//! per-input weights and the aggregated maps; and the paper's held-out
//! evaluation (fit on m_agg = 50 perturbations, evaluate on m_eval = 200
//! fresh ones, Section 5.1 / App. C.1).

use crate::apply::{apply_weights, SampleWeights};
use crate::gram::Gram;
use crate::metrics_grams::{
    explain_panel, faith_gram, robust_gram, FaithConfig, MapNormalization, RobustConfig,
};
use crate::perturb::SeedStream;
use crate::qp::{QpSettings, Weights};
use crate::strategy::{MetricGrams, Strategy};
use ndarray::ArrayViewD;
use rayon::prelude::*;
use salience_core::{AttributionBatch, Ensemble, Explainer, Model, Result, SalienceError, Seeds};

/// Everything [`aggregate`] and [`held_out`] need.
///
/// ```
/// use salience_optimize::{AggregateConfig, Strategy};
/// let c = AggregateConfig::default();
/// assert_eq!(c.strategy, Strategy::default());
/// assert_eq!((c.robust.samples, c.faith.samples), (50, 50));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AggregateConfig<'a> {
    /// Which Gram the weights minimize (AGG_opt by default).
    pub strategy: Strategy,
    /// Normalization of every map, clean and perturbed (overrides
    /// `robust.normalization`; App. C.2: abs-max).
    pub normalization: MapNormalization,
    /// The sensitivity perturbations (used by Robust, Opt).
    pub robust: RobustConfig,
    /// The infidelity perturbations (used by Faith, Opt).
    pub faith: FaithConfig<'a>,
    /// QP settings.
    pub qp: QpSettings,
}

/// Which metrics a strategy fits (and [`held_out`] evaluates): AGG_mean
/// fits none and is evaluated on both.
fn uses(strategy: &Strategy) -> (bool, bool) {
    match strategy {
        Strategy::Robust => (true, false),
        Strategy::Faith => (false, true),
        Strategy::Opt(_) | Strategy::Mean => (true, true),
    }
}

/// The result of [`aggregate`].
#[derive(Debug, Clone)]
pub struct Aggregated {
    /// Φ(x), normalized.
    pub ensemble: Ensemble,
    /// Per-input sensitivity Grams (when the strategy uses them).
    pub robust: Option<Vec<Gram>>,
    /// Per-input infidelity Grams (when the strategy uses them).
    pub faith: Option<Vec<Gram>>,
    /// Per-input weights.
    pub weights: Vec<Weights>,
    /// φ_w for every input.
    pub maps: AttributionBatch,
}

fn robust_cfg(cfg: &AggregateConfig<'_>, stream: SeedStream, samples: usize) -> RobustConfig {
    RobustConfig {
        normalization: cfg.normalization,
        stream,
        samples,
        ..cfg.robust
    }
}

fn faith_cfg<'a>(cfg: &AggregateConfig<'a>, stream: SeedStream, samples: usize) -> FaithConfig<'a> {
    FaithConfig {
        stream,
        samples,
        ..cfg.faith.clone()
    }
}

/// Optimal per-input aggregation of a panel of explainers: Φ(x) by
/// [`explain_panel`], the Grams of `cfg.strategy` ([`robust_gram`],
/// [`faith_gram`], fitted on [`SeedStream::Fit`]), the QP per input, and
/// φ_w = Φw. AGG_mean computes no Gram.
///
/// ```
/// use ndarray::{array, Array};
/// use salience_core::{AttributionBatch, Explainer, LinearModel, Seeds};
/// use salience_optimize::{aggregate, AggregateConfig, Baseline, MapNormalization, Strategy};
/// struct Exact(Vec<f32>); // a ⊙ x: exact for a zero baseline
/// struct Ones;
/// impl Explainer for Exact {
///     fn name(&self) -> &str { "exact" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> {
///         let a = ndarray::Array::from(self.0.clone());
///         AttributionBatch::new((&x.into_dimensionality::<ndarray::Ix2>().unwrap() * &a).into_dyn())
///     }
/// }
/// impl Explainer for Ones {
///     fn name(&self) -> &str { "ones" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.mapv(|_| 1.0)) }
/// }
/// let a = vec![1.0f32, -2.0, 0.5, 3.0];
/// let model = LinearModel::new(Array::from_shape_vec((1, 4), a.clone()).unwrap(), array![0.0f32])?;
/// let panel: Vec<Box<dyn Explainer>> = vec![Box::new(Exact(a)), Box::new(Ones)];
/// let x = array![[1.0f32, 2.0, 3.0, 4.0]].into_dyn();
/// let mut cfg = AggregateConfig { strategy: Strategy::Faith, normalization: MapNormalization::none(), ..Default::default() };
/// cfg.faith.baseline = Baseline::Zeros;
/// let out = aggregate(&model, &panel, x.view(), &[0], &cfg, Seeds::base(0))?;
/// assert!(out.weights[0].as_slice()[0] > 0.99);
/// assert!(out.robust.is_none());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn aggregate<E: Explainer>(
    model: &dyn Model,
    panel: &[E],
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    cfg: &AggregateConfig<'_>,
    seeds: Seeds<'_>,
) -> Result<Aggregated> {
    if panel.is_empty() {
        return Err(SalienceError::Empty("panel with k = 0 explainers".into()));
    }
    salience_core::validate::check_targets(targets, targets.len(), model.num_classes())?;
    let ensemble = explain_panel(panel, x.view(), targets, &cfg.normalization, seeds)?;
    let (use_r, use_f) = match cfg.strategy {
        Strategy::Mean => (false, false),
        s => uses(&s),
    };
    let robust = if use_r {
        let rc = robust_cfg(cfg, SeedStream::Fit, cfg.robust.samples);
        Some(robust_gram(
            panel,
            &ensemble,
            x.view(),
            targets,
            &rc,
            seeds,
        )?)
    } else {
        None
    };
    let faith = if use_f {
        let fc = faith_cfg(cfg, SeedStream::Fit, cfg.faith.samples);
        Some(faith_gram(model, &ensemble, x.view(), targets, &fc, seeds)?)
    } else {
        None
    };
    let k = ensemble.k();
    let weights = (0..ensemble.n_samples())
        .into_par_iter()
        .map(|i| {
            let grams = MetricGrams {
                robust: robust.as_ref().map(|g| &g[i]),
                faith: faith.as_ref().map(|g| &g[i]),
            };
            cfg.strategy.weights(k, &grams, &cfg.qp)
        })
        .collect::<Result<Vec<_>>>()?;
    let maps = apply_weights(&ensemble, SampleWeights::PerSample(&weights))?;
    Ok(Aggregated {
        ensemble,
        robust,
        faith,
        weights,
        maps,
    })
}

/// Held-out Q of one metric, averaged over the inputs (lower is better).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricReport {
    /// Q(φ_i) of every method i, in panel order.
    pub q_methods: Vec<f64>,
    /// Q of AGG_mean (uniform weights).
    pub q_mean: f64,
    /// Q of the fitted aggregate φ_w.
    pub q_optimized: f64,
    /// Per input: (Q of every method, Q of AGG_mean, Q of φ_w).
    pub per_input: Vec<(Vec<f64>, f64, f64)>,
}

impl MetricReport {
    /// Evaluates weights on held-out Grams (one per input).
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{Gram, MetricReport, Weights};
    /// let g = Gram::from_matrix(array![[1.0, 0.0], [0.0, 3.0]])?;
    /// let w = Weights::new(vec![0.75, 0.25])?;
    /// let r = MetricReport::evaluate(&[g], &[w])?;
    /// assert_eq!(r.q_methods, vec![1.0, 3.0]);
    /// assert_eq!(r.q_mean, 1.0);
    /// assert!((r.q_optimized - 0.75).abs() < 1e-15);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn evaluate(grams: &[Gram], weights: &[Weights]) -> Result<MetricReport> {
        if grams.is_empty() || grams.len() != weights.len() {
            return Err(SalienceError::invalid(
                "held-out Grams",
                grams.len(),
                &format!(
                    "need one Gram per weight vector ({}), at least one",
                    weights.len()
                ),
            ));
        }
        let k = grams[0].k();
        let uniform = Weights::uniform(k)?;
        let per_input = grams
            .iter()
            .zip(weights)
            .map(|(g, w)| Ok((g.q_methods(), g.q(uniform.as_slice())?, g.q(w.as_slice())?)))
            .collect::<Result<Vec<_>>>()?;
        let n = per_input.len() as f64;
        let mut q_methods = vec![0.0; k];
        let (mut q_mean, mut q_optimized) = (0.0, 0.0);
        for (qm, mean, opt) in &per_input {
            for (a, b) in q_methods.iter_mut().zip(qm) {
                *a += b / n;
            }
            q_mean += mean / n;
            q_optimized += opt / n;
        }
        Ok(MetricReport {
            q_methods,
            q_mean,
            q_optimized,
            per_input,
        })
    }
}

/// The result of [`held_out`].
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// The fit (weights, Grams and maps from m_agg perturbations).
    pub fit: Aggregated,
    /// Held-out Average-Sensitivity (Robust, Opt and Mean).
    pub robust: Option<MetricReport>,
    /// Held-out Infidelity (Faith, Opt and Mean).
    pub faith: Option<MetricReport>,
}

/// The paper's generalization check (Section 5.1): fit the weights with
/// [`aggregate`] (m_agg = `cfg.robust.samples` / `cfg.faith.samples`
/// perturbations), then evaluate every method, AGG_mean and the fitted
/// aggregate on `eval_samples` (m_eval = 200) fresh perturbations of the
/// [`SeedStream::Eval`] stream, for each metric the strategy uses (both for
/// AGG_mean).
///
/// The weights are held fixed: the held-out sensitivity is that of
/// Σ w_i φ_i with the weights fitted at x (the paper's evaluation through
/// Quantus re-runs the whole AGG explainer, re-fitting w at x + ε).
///
/// ```
/// use ndarray::array;
/// use salience_core::{AttributionBatch, Explainer, LinearModel, Seeds};
/// use salience_optimize::{held_out, AggregateConfig, Strategy};
/// struct Ones;
/// struct Input;
/// impl Explainer for Ones {
///     fn name(&self) -> &str { "ones" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.mapv(|_| 1.0)) }
/// }
/// impl Explainer for Input {
///     fn name(&self) -> &str { "input" }
///     fn explain(&self, x: ndarray::ArrayViewD<'_, f32>, _: &[usize], _: Seeds<'_>)
///         -> salience_core::Result<AttributionBatch> { AttributionBatch::new(x.mapv(|v| v + 2.0)) }
/// }
/// let model = LinearModel::new(array![[1.0f32, 1.0, 1.0]], array![0.0f32])?;
/// let panel: Vec<Box<dyn Explainer>> = vec![Box::new(Ones), Box::new(Input)];
/// let x = array![[1.0f32, 2.0, 3.0]].into_dyn();
/// let cfg = AggregateConfig { strategy: Strategy::Robust, ..Default::default() };
/// let r = held_out(&model, &panel, x.view(), &[0], &cfg, 20, Seeds::base(5))?;
/// let rob = r.robust.unwrap();
/// assert!(rob.q_optimized <= rob.q_mean);
/// assert!(r.faith.is_none());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn held_out<E: Explainer>(
    model: &dyn Model,
    panel: &[E],
    x: ArrayViewD<'_, f32>,
    targets: &[usize],
    cfg: &AggregateConfig<'_>,
    eval_samples: usize,
    seeds: Seeds<'_>,
) -> Result<HeldOut> {
    if eval_samples == 0 {
        return Err(SalienceError::Empty(
            "m_eval = 0 held-out perturbations".into(),
        ));
    }
    let fit = aggregate(model, panel, x.view(), targets, cfg, seeds)?;
    let (use_r, use_f) = uses(&cfg.strategy);
    let robust = if use_r {
        let rc = robust_cfg(cfg, SeedStream::Eval, eval_samples);
        let g = robust_gram(panel, &fit.ensemble, x.view(), targets, &rc, seeds)?;
        Some(MetricReport::evaluate(&g, &fit.weights)?)
    } else {
        None
    };
    let faith = if use_f {
        let fc = faith_cfg(cfg, SeedStream::Eval, eval_samples);
        let g = faith_gram(model, &fit.ensemble, x.view(), targets, &fc, seeds)?;
        Some(MetricReport::evaluate(&g, &fit.weights)?)
    } else {
        None
    };
    Ok(HeldOut { fit, robust, faith })
}
