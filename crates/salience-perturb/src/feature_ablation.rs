//! Feature Ablation, with Captum's semantics: the input's elements are
//! grouped by a [`FeatureMask`]; each group g in turn is replaced by the
//! baseline, and every element of g gets `f_t(x) − f_t(x with g ablated)`
//! (the same value for the whole group, not divided by its size).
//!
//! Model evaluations per input: 1 + M (M groups).

use crate::baseline::Baseline;
use crate::feature_mask::{FeatureGroups, FeatureMask};
use crate::perturb::{fill_ablated, prepare, PerturbationSource};
use ndarray::ArrayViewD;
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Explainer, Model, Result, Seeds};

/// Configuration of [`FeatureAblation`]. The default is Captum's (every
/// element its own feature, zero baseline).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureAblationConfig {
    /// The feature groups. Default [`FeatureMask::PerElement`].
    pub feature_mask: FeatureMask,
    /// What ablated groups are replaced with. Default zeros.
    pub baseline: Baseline,
    /// Perturbed inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl FeatureAblationConfig {
    /// Captum's defaults (= `Default`).
    ///
    /// ```
    /// use salience_perturb::FeatureAblationConfig as C;
    /// assert_eq!(C::captum(), C::default());
    /// ```
    pub fn captum() -> Self {
        Self::default()
    }

    /// Decker et al. (2024)'s setting: Captum's defaults over 16 × 16 patches.
    ///
    /// ```
    /// use salience_perturb::{FeatureAblationConfig, FeatureMask};
    /// assert_eq!(FeatureAblationConfig::decker2024().feature_mask, FeatureMask::Patches { size: 16 });
    /// ```
    pub fn decker2024() -> Self {
        FeatureAblationConfig {
            feature_mask: FeatureMask::Patches { size: 16 },
            ..Self::default()
        }
    }
}

/// The Feature Ablation explainer over any [`Model`]. See the
/// [module docs](self).
///
/// ```
/// use ndarray::array;
/// use salience_core::{Explainer, LinearModel, Seeds};
/// use salience_perturb::{FeatureAblation, FeatureAblationConfig, FeatureMask};
/// let m = LinearModel::new(array![[1.0f32, 2.0, 3.0, 4.0]], array![0.0f32])?;
/// let x = array![[1.0f32, 1.0, 1.0, 1.0]].into_dyn();
/// let cfg = FeatureAblationConfig {
///     feature_mask: FeatureMask::Given(array![0usize, 0, 1, 1].into_dyn()),
///     ..Default::default()
/// };
/// let a = FeatureAblation::with_config(m, cfg).explain(x.view(), &[0], Seeds::base(0))?;
/// // Group {0, 1} contributes 1 + 2, group {2, 3} contributes 3 + 4.
/// assert_eq!(a.view().iter().copied().collect::<Vec<_>>(), vec![3.0, 3.0, 7.0, 7.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FeatureAblation<M> {
    model: M,
    config: FeatureAblationConfig,
}

impl<M: Model> FeatureAblation<M> {
    /// Feature Ablation with the default (Captum) configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::FeatureAblation::new(m);
    /// assert_eq!(e.config().feature_mask, salience_perturb::FeatureMask::PerElement);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, FeatureAblationConfig::default())
    }

    /// Feature Ablation with `config`.
    pub fn with_config(model: M, config: FeatureAblationConfig) -> Self {
        FeatureAblation { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &FeatureAblationConfig {
        &self.config
    }

    /// Model evaluations for each input of a batch: 1 + M_i.
    ///
    /// ```
    /// use salience_perturb::{FeatureAblation, FeatureAblationConfig, FeatureMask};
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 36)), ndarray::Array1::zeros(1))?;
    /// let fa = FeatureAblation::with_config(m, FeatureAblationConfig {
    ///     feature_mask: FeatureMask::Patches { size: 3 },
    ///     ..Default::default()
    /// });
    /// let x = ndarray::Array4::<f32>::zeros((2, 1, 6, 6)).into_dyn();
    /// assert_eq!(fa.model_evaluations(x.view())?, vec![5, 5]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self, inputs: ArrayViewD<'_, f32>) -> Result<Vec<usize>> {
        let groups = self.config.feature_mask.groups(inputs)?;
        Ok(groups.iter().map(|g| 1 + g.count()).collect())
    }
}

struct Source<'a> {
    groups: &'a [FeatureGroups],
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    fx: Vec<f32>,
    per_group: Vec<Vec<f64>>,
}

impl PerturbationSource for Source<'_> {
    fn fill(&mut self, i: usize, k: usize, out: &mut [f32]) -> Result<()> {
        let ids = self.groups[i].ids();
        fill_ablated((self.x, self.base, self.f), (i, k), out, |g, b, out| {
            for (e, &gid) in ids.iter().enumerate() {
                if gid == g {
                    out[e] = b[e];
                }
            }
        });
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        if k == 0 {
            self.fx[i] = score;
        } else {
            self.per_group[i][k - 1] = self.fx[i] as f64 - score as f64;
        }
        Ok(())
    }
}

impl<M: Model> Explainer for FeatureAblation<M> {
    fn name(&self) -> &str {
        "feature_ablation"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let p = prepare(&inputs, targets, &self.model, &self.config.baseline, seeds)?;
        let groups = p.groups(&self.config.feature_mask)?;
        let counts: Vec<usize> = groups.iter().map(|g| 1 + g.count()).collect();
        let mut src = Source {
            groups: &groups,
            x: &p.x,
            base: &p.base,
            f: p.features,
            fx: vec![0.0; p.n],
            per_group: groups.iter().map(|g| vec![0.0; g.count()]).collect(),
        };
        p.run(&self.model, &counts, self.config.batch_size, &mut src)?;
        p.spread(&groups, &src.per_group)
    }
}
