//! Faithfulness Correlation (Bhatt et al. 2020, "Evaluating and aggregating
//! feature-based model explanations"; Decker et al. (2024) C.1).
//!
//! For a sample `x` with attribution `Φ`, draw `m` random subsets `S_j` of
//! pixels, replace them with a baseline to get `x̃_j`, and correlate
//!
//! ```text
//! FCOR = Pearson_j( Σ_{i∈S_j} Φ_i ,  f(x) − f(x̃_j) )
//! ```
//!
//! over the runs. **Higher is better** (1: the attribution mass of a subset
//! predicts, linearly, the score drop when that subset is removed). The
//! correlation of constant sequences is undefined: a sample whose subset
//! sums or score drops are all equal is [`Undefined::ZeroVariance`] (the
//! other samples keep their scores; [`Outcomes::strict`] turns it into a
//! [`DegenerateMap`](salience_core::SalienceError::DegenerateMap) error;
//! Quantus returns NaN there). Each score comes with its standard error
//! over the runs, `SE(r) = √((1 − r²) / (n_runs − 2))` (the usual
//! large-sample standard error of a Pearson correlation; 0 when
//! `n_runs = 2`), in [`Outcomes::sem`]. Perturbations and their seeding are those of
//! [`crate::perturbation`]; the `N·(m + 1)` model inputs are generated and
//! evaluated in chunks.

use crate::baseline::Baseline;
use crate::common::pearson;
use crate::insertion_deletion::ScoreKind;
use crate::perturbation::{checked_draws, McSettings, Perturbation, Projection};
use crate::scores::{Outcome, Outcomes, Undefined};
use ndarray::{ArrayView3, ArrayViewD};
use salience_core::spec::Validate;
use salience_core::{AttributionBatch, BatchSize, Model, Result, SalienceError, Seeds};

/// Options of [`faithfulness_correlation()`].
///
/// | preset | subsets | baseline | runs | score |
/// |---|---|---|---|---|
/// | [`Default`], [`quantus`](Self::quantus) | 224 random pixels | black (0) | 100 | raw |
/// | [`paper`](Self::paper) (Decker et al. (2024) C.1) | 20 % of the pixels | blurred image (σ 5, kernel 11) | 200 | raw |
///
/// Quantus also normalises maps by their maximum |value| first; Pearson's
/// correlation is scale-invariant, so this changes nothing.
///
/// ```
/// use salience_metrics::FaithfulnessCorrelationConfig;
/// let c = FaithfulnessCorrelationConfig::default();
/// assert_eq!(c.n_runs, 100);
/// assert_eq!(FaithfulnessCorrelationConfig::decker2024().n_runs, 200);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaithfulnessCorrelationConfig {
    /// How subsets are drawn and replaced.
    pub perturbation: Perturbation,
    /// What `Φ` is projected on: [`Projection::Indicator`] (Bhatt et al.'s
    /// subset sum, default) or [`Projection::Difference`].
    pub projection: Projection,
    /// Number of runs `m` (≥ 2).
    pub n_runs: usize,
    /// Raw output (default, Quantus' `softmax=False`) or softmax probability.
    pub score: ScoreKind,
    /// Model inputs per forward call: [`BatchSize::Auto`] (default) is the
    /// largest chunk that fits the memory budget, at most the model's
    /// preferred batch size ([`salience_core::batch`]); `Fixed(n)` is `n`.
    /// Scores do not depend on it. `"auto"` or a positive integer in specs.
    pub batch_size: BatchSize,
}

impl Default for FaithfulnessCorrelationConfig {
    fn default() -> Self {
        Self::quantus()
    }
}

impl FaithfulnessCorrelationConfig {
    /// Quantus' `FaithfulnessCorrelation` defaults: `subset_size=224`,
    /// `nr_runs=100`, `perturb_baseline="black"`, Pearson. Quantus'
    /// `subset_size` counts `C·H·W` features, [`Perturbation::RandomPixelCount`]
    /// counts pixels (all channels): identical for single-channel images,
    /// not for RGB (see [`Perturbation::RandomPixelCount`]).
    ///
    /// ```
    /// use salience_metrics::{FaithfulnessCorrelationConfig, Perturbation, Baseline};
    /// let c = FaithfulnessCorrelationConfig::quantus();
    /// assert_eq!(c.perturbation, Perturbation::RandomPixelCount { count: 224, baseline: Baseline::Constant(0.0) });
    /// ```
    pub fn quantus() -> Self {
        FaithfulnessCorrelationConfig {
            perturbation: Perturbation::RandomPixelCount {
                count: 224,
                baseline: Baseline::Constant(0.0),
            },
            projection: Projection::Indicator,
            n_runs: 100,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }

    /// Decker et al. (2024) C.1: the Infidelity perturbations (20 % of the area replaced
    /// by a blurred image), m = 200, Pearson.
    ///
    /// ```
    /// let c = salience_metrics::FaithfulnessCorrelationConfig::decker2024();
    /// assert!(matches!(c.perturbation, salience_metrics::Perturbation::RandomPixels { .. }));
    /// ```
    pub fn decker2024() -> Self {
        FaithfulnessCorrelationConfig {
            perturbation: Perturbation::RandomPixels {
                share: 0.2,
                baseline: Baseline::Blur {
                    sigma: 5.0,
                    kernel_size: 11,
                },
            },
            projection: Projection::Indicator,
            n_runs: 200,
            score: ScoreKind::Raw,
            batch_size: BatchSize::Auto,
        }
    }

    /// The former name of [`FaithfulnessCorrelationConfig::decker2024`].
    #[deprecated(
        since = "0.1.0",
        note = "presets are named after the paper or library they reproduce: use `decker2024`"
    )]
    pub fn paper() -> Self {
        Self::decker2024()
    }
}

impl Validate for FaithfulnessCorrelationConfig {
    /// `n_runs` ≥ 2, a valid perturbation and a batch size in range.
    fn validate(&self) -> Result<()> {
        if self.n_runs < 2 {
            return Err(SalienceError::invalid(
                "n_runs",
                self.n_runs,
                "must be ≥ 2 (a correlation needs two runs)",
            ));
        }
        self.perturbation.validate()?;
        crate::common::check_batch_size(self.batch_size)
    }
}

/// Faithfulness Correlation of each sample (higher is better); see the
/// [module docs](self). Arguments as in [`infidelity()`](crate::infidelity()).
///
/// ```
/// use ndarray::{array, Array4};
/// use salience_core::{AttributionBatch, LinearModel, Seeds};
/// use salience_metrics::{faithfulness_correlation, Baseline, FaithfulnessCorrelationConfig, Perturbation};
/// // f(x) = Σ w_i x_i on a 4×4 image; with a zero baseline x ⊙ w is exact.
/// let w: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
/// let model = LinearModel::new(ndarray::Array2::from_shape_vec((1, 16), w.clone()).unwrap(), array![0.0f32])?;
/// let x = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, y, x)| 1.0 + (y * 4 + x) as f32 / 16.0);
/// let a = AttributionBatch::from_images(Array4::from_shape_fn((1, 1, 4, 4), |(_, _, y, xx)| x[[0, 0, y, xx]] * w[y * 4 + xx]))?;
/// let cfg = FaithfulnessCorrelationConfig {
///     perturbation: Perturbation::RandomPixelCount { count: 5, baseline: Baseline::Constant(0.0) },
///     n_runs: 20,
///     ..Default::default()
/// };
/// let s = faithfulness_correlation(&model, x.view().into_dyn(), &a, &[0], &cfg, Seeds::base(0))?;
/// let r = s.strict()?.values()[0];
/// assert!((r - 1.0).abs() < 1e-9);
/// // Standard error over the 20 runs: √((1 − r²) / 18).
/// assert!((s.sem().unwrap()[0] - ((1.0 - r * r).max(0.0) / 18.0).sqrt()).abs() < 1e-12);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn faithfulness_correlation(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    targets: &[usize],
    config: &FaithfulnessCorrelationConfig,
    seeds: Seeds<'_>,
) -> Result<Outcomes> {
    run(model, inputs, attributions, None, targets, config, seeds)
}

/// [`faithfulness_correlation()`] with optional superpixel `segments`
/// `[N, H, W]` for [`Perturbation::RandomSegments`] (the
/// [`Metric`](crate::Metric) implementation passes the batch's segments).
pub(crate) fn run(
    model: &dyn Model,
    inputs: ArrayViewD<'_, f32>,
    attributions: &AttributionBatch,
    segments: Option<ArrayView3<'_, u32>>,
    targets: &[usize],
    config: &FaithfulnessCorrelationConfig,
    seeds: Seeds<'_>,
) -> Result<Outcomes> {
    config.validate()?;
    let settings = McSettings {
        perturbation: config.perturbation,
        projection: config.projection,
        m: config.n_runs,
        score: config.score,
        batch_size: config.batch_size,
        metric: "faithfulness correlation",
    };
    let (g, draws) = checked_draws(
        model,
        inputs,
        attributions,
        segments,
        targets,
        settings,
        seeds,
    )?;
    let mut out = Vec::with_capacity(g.n);
    for i in 0..g.n {
        let a: Vec<f64> = draws.proj.row(i).to_vec();
        let d: Vec<f64> = draws.delta.row(i).to_vec();
        out.push(match pearson(&a, &d) {
            Some(r) => Outcome::Score(r),
            None => Outcome::Undefined(Undefined::ZeroVariance),
        });
    }
    let m = config.n_runs;
    let sem = out
        .iter()
        .map(|o| match o.score() {
            Some(r) if m > 2 => ((1.0 - r * r).max(0.0) / (m - 2) as f64).sqrt(),
            _ => 0.0,
        })
        .collect();
    Outcomes::new(out)?.with_sem(sem, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2, Array4};
    use salience_core::LinearModel;

    fn setup() -> (LinearModel, Array4<f32>, Array2<f32>) {
        let w = Array2::from_shape_fn((2, 3 * 5 * 5), |(k, j)| {
            ((k * 3 + j * 7) % 13) as f32 / 6.0 - 1.0
        });
        let m = LinearModel::new(w.clone(), array![0.0f32, 1.0]).unwrap();
        let x = Array4::from_shape_fn((2, 3, 5, 5), |(n, c, y, xx)| {
            0.5 + ((n + c * 2 + y * 5 + xx) % 7) as f32 / 7.0
        });
        (m, x, w)
    }

    #[test]
    fn exact_linear_attribution_correlates_perfectly() {
        let (m, x, w) = setup();
        let targets = [1usize, 0];
        let exact = Array4::from_shape_fn((2, 3, 5, 5), |(n, c, y, xx)| {
            x[[n, c, y, xx]] * w[[targets[n], c * 25 + y * 5 + xx]]
        });
        let exact = AttributionBatch::from_images(exact).unwrap();
        let cfg = FaithfulnessCorrelationConfig {
            perturbation: Perturbation::RandomPixelCount {
                count: 6,
                baseline: Baseline::Constant(0.0),
            },
            n_runs: 30,
            ..Default::default()
        };
        let s = faithfulness_correlation(
            &m,
            x.view().into_dyn(),
            &exact,
            &targets,
            &cfg,
            Seeds::base(5),
        )
        .unwrap();
        for v in s.strict().unwrap().values() {
            assert!((v - 1.0).abs() < 1e-9, "{v}");
        }
        // The negated map is perfectly anti-correlated.
        let neg =
            AttributionBatch::from_images(exact.view().mapv(|v| -v).into_dimensionality().unwrap())
                .unwrap();
        let s = faithfulness_correlation(
            &m,
            x.view().into_dyn(),
            &neg,
            &targets,
            &cfg,
            Seeds::base(5),
        )
        .unwrap();
        for v in s.strict().unwrap().values() {
            assert!((v + 1.0).abs() < 1e-9, "{v}");
        }
        // Pixel maps (channel sums) of an image-wise exact attribution are exact too.
        let pm = AttributionBatch::from_pixel_maps(
            exact
                .view()
                .into_dimensionality::<ndarray::Ix4>()
                .unwrap()
                .sum_axis(ndarray::Axis(1)),
        )
        .unwrap();
        let s =
            faithfulness_correlation(&m, x.view().into_dyn(), &pm, &targets, &cfg, Seeds::base(5))
                .unwrap();
        assert!(s
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|v| (v - 1.0).abs() < 1e-9));
    }

    #[test]
    fn hand_computed_two_runs_and_chunks() {
        // Two runs always give ±1 (or a degenerate error).
        let (m, x, _) = setup();
        let a = AttributionBatch::from_images(x.mapv(|v| (v * 7.0).sin())).unwrap();
        let run = |bs: Option<usize>| {
            let cfg = FaithfulnessCorrelationConfig {
                n_runs: 9,
                batch_size: BatchSize::from_option(bs).unwrap(),
                ..FaithfulnessCorrelationConfig::decker2024()
            };
            faithfulness_correlation(&m, x.view().into_dyn(), &a, &[0, 1], &cfg, Seeds::base(3))
                .unwrap()
        };
        let r = run(Some(1));
        for bs in [Some(3), Some(10), None] {
            assert_eq!(run(bs), r);
        }
        assert!(r.strict().unwrap().values().iter().all(|v| v.abs() <= 1.0));
        let cfg = FaithfulnessCorrelationConfig {
            n_runs: 2,
            perturbation: Perturbation::RandomPixelCount {
                count: 3,
                baseline: Baseline::Constant(0.0),
            },
            ..Default::default()
        };
        let s =
            faithfulness_correlation(&m, x.view().into_dyn(), &a, &[0, 1], &cfg, Seeds::base(0))
                .unwrap();
        assert!(s
            .strict()
            .unwrap()
            .values()
            .iter()
            .all(|v| (v.abs() - 1.0).abs() < 1e-9));
    }

    #[test]
    fn bad_input_is_typed() {
        let (m, x, _) = setup();
        let xv = x.view().into_dyn();
        let a = AttributionBatch::from_images(x.clone()).unwrap();
        let s = Seeds::base(0);
        let one = FaithfulnessCorrelationConfig {
            n_runs: 1,
            ..Default::default()
        };
        assert!(matches!(
            faithfulness_correlation(&m, xv.clone(), &a, &[0, 0], &one, s),
            Err(SalienceError::InvalidParameter { .. })
        ));
        // 224 pixels > 25: typed error.
        assert!(matches!(
            faithfulness_correlation(&m, xv.clone(), &a, &[0, 0], &Default::default(), s),
            Err(SalienceError::InvalidParameter { .. })
        ));
        // Constant map ⇒ constant subset sums ⇒ degenerate.
        let cfg = FaithfulnessCorrelationConfig {
            perturbation: Perturbation::RandomPixelCount {
                count: 3,
                baseline: Baseline::Constant(0.0),
            },
            n_runs: 5,
            ..Default::default()
        };
        let c = AttributionBatch::from_images(Array4::from_elem((2, 3, 5, 5), 1.0)).unwrap();
        assert!(matches!(
            faithfulness_correlation(&m, xv.clone(), &c, &[0, 0], &cfg, s).and_then(|o| o.strict()),
            Err(SalienceError::DegenerateMap { .. })
        ));
        assert!(matches!(
            faithfulness_correlation(&m, xv.clone(), &a, &[0], &cfg, s),
            Err(SalienceError::TargetCount { .. })
        ));
    }
}
