//! Shapley Value Sampling (Castro et al. 2009), with Captum's semantics:
//! for each of `n_permutations` random orders of the M feature groups,
//! start from the baseline and add the groups one at a time (each added
//! group takes the input's values); a group's attribution is its mean
//! marginal contribution `f_t(S ∪ {g}) − f_t(S)` over the permutations,
//! written to every element of the group.
//!
//! The attributions of an input sum exactly to `f_t(x) − f_t(x′)`
//! (efficiency), and an additive model's contributions are recovered
//! exactly by any number of permutations.
//!
//! Model evaluations per input: 2 + n_permutations · (M − 1): the baseline
//! and the input once, then the M − 1 intermediate coalitions of every
//! permutation (Captum evaluates the full input again at the end of every
//! permutation, 1 + n_permutations · M evaluations; the values are the
//! same). Permutation r of input i is drawn from
//! `derive_seed(seeds.for_sample(i), r)`-derived streams, so the output
//! does not depend on the batch composition or the chunk size.

use crate::baseline::Baseline;
use crate::feature_mask::{FeatureGroups, FeatureMask};
use crate::perturb::{check_positive, prepare, PerturbationSource, STREAM_PERTURB};
use crate::AttributionsWithDelta;
use ndarray::ArrayViewD;
use rand::seq::SliceRandom;
use salience_core::seed::{derive_seed, rng};
use salience_core::BatchSize;
use salience_core::{Explainer, Model, Result, SalienceError, Seeds};

/// Configuration of [`ShapleyValueSampling`]. The default is Captum's
/// (25 permutations, every element its own feature, zero baseline).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapleySamplingConfig {
    /// Number of random permutations (≥ 1). Default 25.
    pub n_permutations: usize,
    /// The feature groups. Default [`FeatureMask::PerElement`].
    pub feature_mask: FeatureMask,
    /// The values of absent groups. Default zeros.
    pub baseline: Baseline,
    /// Perturbed inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl Default for ShapleySamplingConfig {
    fn default() -> Self {
        ShapleySamplingConfig {
            n_permutations: 25,
            feature_mask: FeatureMask::PerElement,
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl ShapleySamplingConfig {
    /// Captum's defaults (= `Default`).
    ///
    /// ```
    /// use salience_perturb::ShapleySamplingConfig as C;
    /// assert_eq!(C::captum(), C::default());
    /// ```
    pub fn captum() -> Self {
        Self::default()
    }

    /// Decker et al. (2024)'s setting: Captum's defaults over 16 × 16 patches.
    ///
    /// ```
    /// use salience_perturb::{FeatureMask, ShapleySamplingConfig};
    /// assert_eq!(ShapleySamplingConfig::decker2024().feature_mask, FeatureMask::Patches { size: 16 });
    /// ```
    pub fn decker2024() -> Self {
        ShapleySamplingConfig {
            feature_mask: FeatureMask::Patches { size: 16 },
            ..Self::default()
        }
    }
}

/// The Shapley Value Sampling explainer over any [`Model`]. See the
/// [module docs](self).
///
/// ```
/// use ndarray::array;
/// use salience_core::{Explainer, LinearModel, Seeds};
/// use salience_perturb::ShapleyValueSampling;
/// let m = LinearModel::new(array![[1.0f32, -2.0, 3.0]], array![0.5f32])?;
/// let x = array![[1.0f32, 2.0, 3.0]].into_dyn();
/// let a = ShapleyValueSampling::new(m).explain(x.view(), &[0], Seeds::base(1))?;
/// // Additive model: exact contributions x ⊙ W.
/// let v: Vec<f32> = a.view().iter().copied().collect();
/// assert!((v[0] - 1.0).abs() < 1e-5 && (v[1] + 4.0).abs() < 1e-5 && (v[2] - 9.0).abs() < 1e-5);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShapleyValueSampling<M> {
    model: M,
    config: ShapleySamplingConfig,
}

impl<M: Model> ShapleyValueSampling<M> {
    /// Shapley Value Sampling with the default (Captum) configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::ShapleyValueSampling::new(m);
    /// assert_eq!(e.config().n_permutations, 25);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, ShapleySamplingConfig::default())
    }

    /// Shapley Value Sampling with `config`.
    pub fn with_config(model: M, config: ShapleySamplingConfig) -> Self {
        ShapleyValueSampling { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &ShapleySamplingConfig {
        &self.config
    }

    /// Model evaluations for each input of a batch:
    /// 2 + n_permutations · (M_i − 1).
    ///
    /// ```
    /// use salience_perturb::ShapleyValueSampling;
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let x = ndarray::Array2::<f32>::zeros((1, 4)).into_dyn();
    /// assert_eq!(ShapleyValueSampling::new(m).model_evaluations(x.view())?, vec![2 + 25 * 3]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self, inputs: ArrayViewD<'_, f32>) -> Result<Vec<usize>> {
        let groups = self.config.feature_mask.groups(inputs)?;
        Ok(groups
            .iter()
            .map(|g| 2 + self.config.n_permutations * (g.count() - 1))
            .collect())
    }
}

/// The permutation of M groups for (sample seed, permutation r).
fn permutation(seed: u64, r: usize, m: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..m).collect();
    let mut g = rng(derive_seed(derive_seed(seed, STREAM_PERTURB), r as u64));
    perm.shuffle(&mut g);
    perm
}

/// A cached permutation and, for each group, its position in it.
struct PermCache {
    key: Option<(usize, usize)>,
    perm: Vec<usize>,
    pos: Vec<usize>,
}

impl PermCache {
    fn get(&mut self, seed: u64, i: usize, r: usize, m: usize) -> (&[usize], &[usize]) {
        if self.key != Some((i, r)) {
            self.perm = permutation(seed, r, m);
            self.pos = vec![0; m];
            for (p, &g) in self.perm.iter().enumerate() {
                self.pos[g] = p;
            }
            self.key = Some((i, r));
        }
        (&self.perm, &self.pos)
    }
}

struct Source<'a> {
    groups: &'a [FeatureGroups],
    seeds: Vec<u64>,
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    fill_cache: PermCache,
    consume_cache: PermCache,
    fb: Vec<f64>,
    fx: Vec<f64>,
    prev: f64,
    phi: Vec<Vec<f64>>,
}

impl PerturbationSource for Source<'_> {
    fn fill(&mut self, i: usize, k: usize, out: &mut [f32]) -> Result<()> {
        let r = i * self.f..(i + 1) * self.f;
        let (x, b) = (&self.x[r.clone()], &self.base[r]);
        match k {
            0 => out.copy_from_slice(b),
            1 => out.copy_from_slice(x),
            _ => {
                let m = self.groups[i].count();
                let (perm_idx, j) = ((k - 2) / (m - 1), (k - 2) % (m - 1) + 1);
                let (_, pos) = self.fill_cache.get(self.seeds[i], i, perm_idx, m);
                for (e, &gid) in self.groups[i].ids().iter().enumerate() {
                    out[e] = if pos[gid] < j { x[e] } else { b[e] };
                }
            }
        }
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        let m = self.groups[i].count();
        let s = score as f64;
        match k {
            0 => self.fb[i] = s,
            1 => {
                self.fx[i] = s;
                if m == 1 {
                    // No intermediate coalitions: every permutation gives
                    // the whole difference to the only group.
                    self.phi[i][0] = self.fx[i] - self.fb[i];
                }
            }
            _ => {
                let (perm_idx, j) = ((k - 2) / (m - 1), (k - 2) % (m - 1) + 1);
                let (perm, _) = self.consume_cache.get(self.seeds[i], i, perm_idx, m);
                let prev = if j == 1 { self.fb[i] } else { self.prev };
                self.phi[i][perm[j - 1]] += s - prev;
                if j == m - 1 {
                    self.phi[i][perm[m - 1]] += self.fx[i] - s;
                }
                self.prev = s;
            }
        }
        Ok(())
    }
}

impl<M: Model> Explainer for ShapleyValueSampling<M> {
    crate::explainer_via_report!("shapley_value_sampling", explain_with_delta);
}

impl<M: Model> ShapleyValueSampling<M> {
    /// Attributions with the efficiency check of every input:
    /// `delta[i] = Σ_g φ_g − (f_t(x) − f_t(x′))` summed over the M groups
    /// (each group's value is written to all its elements, so sum the
    /// groups, not the elements), 0 up to rounding; `output_difference[i]`
    /// is `f_t(x) − f_t(x′)`.
    ///
    /// ```
    /// use ndarray::{Array2, ArrayViewD};
    /// use salience_core::{FnModel, Seeds};
    /// use salience_perturb::ShapleyValueSampling;
    /// let m = FnModel::new(1, |x: ArrayViewD<'_, f32>| {
    ///     Ok(Array2::from_shape_fn((x.shape()[0], 1), |(i, _)| x[[i, 0]] * x[[i, 1]] * x[[i, 2]]))
    /// });
    /// let x = ndarray::array![[1.0f32, 2.0, 3.0]].into_dyn();
    /// let out = ShapleyValueSampling::new(m).explain_with_delta(x.view(), &[0], Seeds::base(0))?;
    /// assert!(out.delta[0].abs() < 1e-5 && (out.output_difference[0] - 6.0).abs() < 1e-6);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn explain_with_delta(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionsWithDelta> {
        check_positive("n_permutations", self.config.n_permutations)?;
        let p = prepare(&inputs, targets, &self.model, &self.config.baseline, seeds)?;
        let groups = p.groups(&self.config.feature_mask)?;
        let np = self.config.n_permutations;
        let counts: Vec<usize> = groups
            .iter()
            .map(|g| {
                np.checked_mul(g.count() - 1)
                    .and_then(|c| c.checked_add(2))
                    .ok_or_else(|| {
                        SalienceError::invalid("n_permutations", np, "too many model evaluations")
                    })
            })
            .collect::<Result<_>>()?;
        let empty = || PermCache {
            key: None,
            perm: Vec::new(),
            pos: Vec::new(),
        };
        let mut src = Source {
            groups: &groups,
            seeds: (0..p.n).map(|i| seeds.for_sample(i)).collect(),
            x: &p.x,
            base: &p.base,
            f: p.features,
            fill_cache: empty(),
            consume_cache: empty(),
            fb: vec![0.0; p.n],
            fx: vec![0.0; p.n],
            prev: 0.0,
            phi: groups.iter().map(|g| vec![0.0; g.count()]).collect(),
        };
        p.run(&self.model, &counts, self.config.batch_size, &mut src)?;
        let phi: Vec<Vec<f64>> = groups
            .iter()
            .zip(&src.phi)
            .map(|(g, phi)| {
                let scale = if g.count() == 1 { 1.0 } else { 1.0 / np as f64 };
                phi.iter().map(|v| v * scale).collect()
            })
            .collect();
        p.with_delta(&groups, &phi, &src.fx, &src.fb)
    }
}
