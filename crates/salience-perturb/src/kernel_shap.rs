//! KernelSHAP (Lundberg & Lee 2017): the Shapley values of the M feature
//! groups as the solution of a Shapley-kernel weighted linear regression
//! over coalitions z ∈ {0, 1}^M (present groups take the input's values,
//! absent ones the baseline's).
//!
//! The efficiency constraint is handled as the `shap` package's
//! `KernelExplainer` does, exactly rather than by a large weight: with
//! `y(z) = f_t(z) − f_t(x′)` and `Δ = f_t(x) − f_t(x′)`, the last group's
//! value is eliminated (`φ_M = Δ − Σ_{j<M} φ_j`) and the remaining M − 1
//! values solve the weighted least squares
//! `min Σ_z w(z) (y(z) − z_M Δ − Σ_{j<M} (z_j − z_M) φ_j)²`
//! without intercept (minimum-norm if the sampled design is rank
//! deficient). So `Σ φ = Δ` always holds exactly.
//!
//! Coalitions:
//! * **exact enumeration** when `2^M − 2 ≤ n_samples`: every non-empty
//!   proper coalition, weighted by the Shapley kernel
//!   `w(z) = (M − 1) / (C(M, |z|) |z| (M − |z|))`; the regression then
//!   returns the exact Shapley values (Lundberg & Lee, Theorem 2);
//! * **`shap`'s hybrid sampling** otherwise (`KernelExplainer`): coalition
//!   sizes are visited from the outside in (sizes k and M − k together);
//!   while the remaining budget covers all coalitions of a size pair in
//!   proportion to its share of the kernel, that pair is enumerated with
//!   its exact kernel weight; the rest of the budget draws sizes from the
//!   remaining kernel mass and coalitions uniformly within a size, each
//!   with its complement; a coalition drawn again is not re-evaluated but
//!   gains weight; the drawn samples' weights are finally scaled to the
//!   kernel mass left. Draws stop after 1000 × `n_samples` attempts
//!   (never reached in practice).
//!
//! Model evaluations per input: 2 + min(n_samples, 2^M − 2).
//!
//! Differences from Captum's `KernelShap` (Captum's default `n_samples` is
//! 25 and is kept): Captum enforces the endpoints softly (weight 10⁶ on
//! the empty and full coalitions, an intercept, `sklearn`
//! `LinearRegression`), never enumerates, and does not pair samples; its
//! attributions sum to Δ only approximately.

use crate::baseline::Baseline;
use crate::feature_mask::{FeatureGroups, FeatureMask};
use crate::linear_fit::{fit_weighted, Surrogate, MAX_SURROGATE_FEATURES};
use crate::perturb::{
    check_design_size, check_positive, prepare, PerturbationSource, STREAM_PERTURB,
};
use crate::AttributionsWithDelta;
use ndarray::ArrayViewD;
use rand::seq::SliceRandom;
use rand::RngExt;
use salience_core::seed::{derive_seed, rng};
use salience_core::BatchSize;
use salience_core::{Explainer, Model, Result, SalienceError, Seeds};

/// Configuration of [`KernelShap`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelShapConfig {
    /// Coalitions evaluated besides the empty and the full one (≥ 1).
    /// All 2^M − 2 are enumerated (exact Shapley values) when that is at
    /// most `n_samples`. Default 25 (Captum's).
    pub n_samples: usize,
    /// The feature groups (players). Default [`FeatureMask::PerElement`].
    pub feature_mask: FeatureMask,
    /// The values of absent groups. Default zeros.
    pub baseline: Baseline,
    /// Perturbed inputs per model call: [`BatchSize::Auto`] (the default: the
    /// largest chunk within the memory budget, see [`salience_core::batch`])
    /// or a fixed size.
    pub batch_size: BatchSize,
}

impl Default for KernelShapConfig {
    fn default() -> Self {
        KernelShapConfig {
            n_samples: 25,
            feature_mask: FeatureMask::PerElement,
            baseline: Baseline::Zeros,
            batch_size: BatchSize::Auto,
        }
    }
}

impl KernelShapConfig {
    /// The `shap` package's automatic budget for M groups: 2M + 2048
    /// coalitions.
    ///
    /// ```
    /// use salience_perturb::{FeatureMask, KernelShapConfig};
    /// let c = KernelShapConfig::shap_auto(FeatureMask::Patches { size: 16 }, 196);
    /// assert_eq!(c.n_samples, 2 * 196 + 2048);
    /// ```
    pub fn shap_auto(feature_mask: FeatureMask, m: usize) -> Self {
        KernelShapConfig {
            n_samples: 2 * m + 2048,
            feature_mask,
            ..Self::default()
        }
    }
}

/// The KernelSHAP explainer over any [`Model`]. See the [module docs](self).
///
/// ```
/// use ndarray::{array, Array2, Axis};
/// use salience_core::{Explainer, FnModel, Seeds};
/// use salience_perturb::KernelShap;
/// // f(x) = x0 · x1 + x2: the interaction is split equally.
/// let m = FnModel::new(1, |x| {
///     let x = x.into_dimensionality::<ndarray::Ix2>().unwrap();
///     Ok(Array2::from_shape_fn((x.nrows(), 1), |(i, _)| x[[i, 0]] * x[[i, 1]] + x[[i, 2]]))
/// });
/// let x = array![[2.0f32, 3.0, 1.0]].into_dyn();
/// let a = KernelShap::new(m).explain(x.view(), &[0], Seeds::base(0))?; // 2³ − 2 ≤ 25: exact
/// let v: Vec<f32> = a.view().iter().copied().collect();
/// assert!((v[0] - 3.0).abs() < 1e-4 && (v[1] - 3.0).abs() < 1e-4 && (v[2] - 1.0).abs() < 1e-4);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KernelShap<M> {
    model: M,
    config: KernelShapConfig,
}

impl<M: Model> KernelShap<M> {
    /// KernelSHAP with the default configuration.
    ///
    /// ```
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let e = salience_perturb::KernelShap::new(m);
    /// assert_eq!(e.config().n_samples, 25);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn new(model: M) -> Self {
        Self::with_config(model, KernelShapConfig::default())
    }

    /// KernelSHAP with `config`.
    pub fn with_config(model: M, config: KernelShapConfig) -> Self {
        KernelShap { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &KernelShapConfig {
        &self.config
    }

    /// Model evaluations for each input: 2 + min(n_samples, 2^M − 2)
    /// (2 when M = 1).
    ///
    /// ```
    /// use salience_perturb::KernelShap;
    /// let m = salience_core::LinearModel::new(ndarray::Array2::ones((1, 4)), ndarray::Array1::zeros(1))?;
    /// let x = ndarray::Array2::<f32>::zeros((1, 4)).into_dyn();
    /// assert_eq!(KernelShap::new(m).model_evaluations(x.view())?, vec![2 + 14]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn model_evaluations(&self, inputs: ArrayViewD<'_, f32>) -> Result<Vec<usize>> {
        let groups = self.config.feature_mask.groups(inputs)?;
        Ok(groups
            .iter()
            .map(|g| 2 + plan(g.count(), self.config.n_samples).0)
            .collect())
    }
}

/// (number of coalitions, exact?) for M groups and a budget.
fn plan(m: usize, n_samples: usize) -> (usize, bool) {
    if m <= 1 {
        return (0, true);
    }
    if m < 63 && (1usize << m) - 2 <= n_samples {
        ((1usize << m) - 2, true)
    } else {
        (n_samples, false)
    }
}

fn binom(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1f64, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// One input's coalitions (row-major `[count, m]`, 0/1) and weights.
struct Coalitions {
    z: Vec<u8>,
    w: Vec<f64>,
}

fn coalitions(m: usize, n_samples: usize, seed: u64) -> Coalitions {
    let (count, exact) = plan(m, n_samples);
    if count == 0 {
        return Coalitions {
            z: Vec::new(),
            w: Vec::new(),
        };
    }
    if exact {
        let mut z = vec![0u8; count * m];
        let mut w = vec![1f64; count];
        for c in 0..count {
            let bits = c + 1;
            let mut size = 0;
            for j in 0..m {
                let on = (bits >> j) & 1;
                z[c * m + j] = on as u8;
                size += on;
            }
            w[c] = (m - 1) as f64 / (binom(m, size) * size as f64 * (m - size) as f64);
        }
        return Coalitions { z, w };
    }
    shap_hybrid(m, n_samples, seed)
}

/// `shap`'s `KernelExplainer` coalition scheme (see the module docs).
fn shap_hybrid(m: usize, n_samples: usize, seed: u64) -> Coalitions {
    let n_sizes = (m - 1).div_ceil(2);
    let n_paired = (m - 1) / 2;
    let mut wv: Vec<f64> = (1..=n_sizes)
        .map(|k| (m - 1) as f64 / (k * (m - k)) as f64)
        .collect();
    for v in wv.iter_mut().take(n_paired) {
        *v *= 2.0;
    }
    let total: f64 = wv.iter().sum();
    wv.iter_mut().for_each(|v| *v /= total);
    let mut z: Vec<u8> = Vec::new();
    let mut w: Vec<f64> = Vec::new();
    let mut left = n_samples;
    let mut remaining = wv.clone();
    let mut n_full = 0;
    for k in 1..=n_sizes {
        let paired = k <= n_paired;
        let n_sub = binom(m, k) * if paired { 2.0 } else { 1.0 };
        if left as f64 * remaining[k - 1] / n_sub < 1.0 - 1e-8 {
            break;
        }
        n_full += 1;
        left = left.saturating_sub(n_sub.round() as usize);
        let r = remaining[k - 1];
        if r < 1.0 {
            remaining.iter_mut().for_each(|v| *v /= 1.0 - r);
        }
        let wt = wv[k - 1] / binom(m, k) / if paired { 2.0 } else { 1.0 };
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            let mut row = vec![0u8; m];
            for &j in &idx {
                row[j] = 1;
            }
            if paired {
                let comp: Vec<u8> = row.iter().map(|v| 1 - v).collect();
                z.extend_from_slice(&row);
                z.extend_from_slice(&comp);
                w.extend_from_slice(&[wt, wt]);
            } else {
                z.extend_from_slice(&row);
                w.push(wt);
            }
            // Next k-combination of 0..m in lexicographic order.
            let mut t = k;
            while t > 0 && idx[t - 1] == m - k + t - 1 {
                t -= 1;
            }
            if t == 0 {
                break;
            }
            idx[t - 1] += 1;
            for u in t..k {
                idx[u] = idx[u - 1] + 1;
            }
        }
    }
    let n_fixed = w.len();
    if n_full < n_sizes && left > 0 {
        let mut rw: Vec<f64> = wv.clone();
        for v in rw.iter_mut().take(n_paired) {
            *v /= 2.0;
        }
        let rw = &rw[n_full..];
        let rtot: f64 = rw.iter().sum();
        let mut g = rng(derive_seed(seed, STREAM_PERTURB));
        let mut used: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
        let mut perm: Vec<usize> = (0..m).collect();
        let max_draws = n_samples.saturating_mul(1000);
        let mut draws = 0usize;
        while left > 0 && draws < max_draws {
            draws += 1;
            let u: f64 = g.random::<f64>() * rtot;
            let mut acc = 0.0;
            let mut ind = rw.len() - 1;
            for (t, v) in rw.iter().enumerate() {
                acc += v;
                if u < acc {
                    ind = t;
                    break;
                }
            }
            let k = ind + n_full + 1;
            perm.shuffle(&mut g);
            let mut row = vec![0u8; m];
            for &j in &perm[..k] {
                row[j] = 1;
            }
            let pos = used.get(&row).copied();
            match pos {
                None => {
                    used.insert(row.clone(), w.len());
                    z.extend_from_slice(&row);
                    w.push(1.0);
                    left -= 1;
                }
                Some(p) => w[p] += 1.0,
            }
            if left > 0 && k <= n_paired {
                match pos {
                    None => {
                        z.extend(row.iter().map(|v| 1 - v));
                        w.push(1.0);
                        left -= 1;
                    }
                    Some(p) => {
                        if let Some(v) = w.get_mut(p + 1) {
                            *v += 1.0;
                        }
                    }
                }
            }
        }
        let weight_left: f64 = wv[n_full..].iter().sum();
        let drawn: f64 = w[n_fixed..].iter().sum();
        if drawn > 0.0 {
            w[n_fixed..]
                .iter_mut()
                .for_each(|v| *v *= weight_left / drawn);
        }
    }
    Coalitions { z, w }
}

struct Source<'a> {
    groups: &'a [FeatureGroups],
    coal: &'a [Coalitions],
    x: &'a [f32],
    base: &'a [f32],
    f: usize,
    fb: Vec<f64>,
    fx: Vec<f64>,
    y: Vec<Vec<f64>>,
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
                let z = &self.coal[i].z[(k - 2) * m..(k - 1) * m];
                for (e, &gid) in self.groups[i].ids().iter().enumerate() {
                    out[e] = if z[gid] == 1 { x[e] } else { b[e] };
                }
            }
        }
        Ok(())
    }
    fn consume(&mut self, i: usize, k: usize, score: f32) -> Result<()> {
        match k {
            0 => self.fb[i] = score as f64,
            1 => self.fx[i] = score as f64,
            _ => self.y[i][k - 2] = score as f64,
        }
        Ok(())
    }
}

/// The constrained Shapley regression of one input (see the module docs).
fn solve(c: &Coalitions, m: usize, y: &[f64], fb: f64, fx: f64) -> Result<Vec<f64>> {
    let delta = fx - fb;
    if m == 1 {
        return Ok(vec![delta]);
    }
    let n = c.w.len();
    let q = m - 1;
    let mut design = vec![0f64; n * q];
    let mut target = vec![0f64; n];
    for k in 0..n {
        let z = &c.z[k * m..(k + 1) * m];
        let zl = z[m - 1] as f64;
        for j in 0..q {
            design[k * q + j] = z[j] as f64 - zl;
        }
        target[k] = (y[k] - fb) - zl * delta;
    }
    let fit = fit_weighted(
        &design,
        n,
        q,
        &target,
        &c.w,
        Surrogate::LinearRegression,
        false,
    )?;
    let mut phi = fit.coefficients;
    let rest: f64 = phi.iter().sum();
    phi.push(delta - rest);
    Ok(phi)
}

impl<M: Model> Explainer for KernelShap<M> {
    crate::explainer_via_report!("kernel_shap", explain_with_delta);
}

impl<M: Model> KernelShap<M> {
    /// Attributions with the efficiency check of every input:
    /// `delta[i] = Σ_g φ_g − (f_t(x) − f_t(x′))` summed over the M groups
    /// (each group's value is written to all its elements, so sum the
    /// groups, not the elements), 0 up to rounding; `output_difference[i]`
    /// is `f_t(x) − f_t(x′)`.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_core::{LinearModel, Seeds};
    /// use salience_perturb::{KernelShap, KernelShapConfig};
    /// let m = LinearModel::new(array![[1.0f32, -2.0, 0.5, 3.0, 1.0, 1.0, -1.0, 2.0, 0.0, 1.0]], array![0.1f32])?;
    /// let x = array![[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]].into_dyn();
    /// let ks = KernelShap::with_config(m, KernelShapConfig { n_samples: 50, ..Default::default() });
    /// let out = ks.explain_with_delta(x.view(), &[0], Seeds::base(0))?; // sampled: 2^10 − 2 > 50
    /// assert!(out.delta[0].abs() < 1e-4);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn explain_with_delta(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        seeds: Seeds<'_>,
    ) -> Result<AttributionsWithDelta> {
        check_positive("n_samples", self.config.n_samples)?;
        let p = prepare(&inputs, targets, &self.model, &self.config.baseline, seeds)?;
        let groups = p.groups(&self.config.feature_mask)?;
        if let Some(g) = groups.iter().find(|g| g.count() > MAX_SURROGATE_FEATURES) {
            return Err(SalienceError::invalid(
                "feature groups",
                g.count(),
                &format!("KernelSHAP supports at most {MAX_SURROGATE_FEATURES} groups; use patches or superpixels"),
            ));
        }
        for g in &groups {
            check_design_size(plan(g.count(), self.config.n_samples).0, g.count())?;
        }
        let coal: Vec<Coalitions> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| coalitions(g.count(), self.config.n_samples, seeds.for_sample(i)))
            .collect();
        let counts: Vec<usize> = coal.iter().map(|c| 2 + c.w.len()).collect();
        let mut src = Source {
            groups: &groups,
            coal: &coal,
            x: &p.x,
            base: &p.base,
            f: p.features,
            fb: vec![0.0; p.n],
            fx: vec![0.0; p.n],
            y: coal.iter().map(|c| vec![0.0; c.w.len()]).collect(),
        };
        p.run(&self.model, &counts, self.config.batch_size, &mut src)?;
        let phi = groups
            .iter()
            .enumerate()
            .map(|(i, g)| solve(&coal[i], g.count(), &src.y[i], src.fb[i], src.fx[i]))
            .collect::<Result<Vec<_>>>()?;
        p.with_delta(&groups, &phi, &src.fx, &src.fb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_weights_sum_like_the_kernel() {
        let c = coalitions(4, 100, 0);
        assert_eq!(c.w.len(), 14);
        // Size-1 coalitions: (M−1)/(C(4,1)·1·3) = 3/12.
        let first = c.w[0];
        assert!((first - 0.25).abs() < 1e-12);
    }

    #[test]
    fn hybrid_enumerates_outer_sizes_then_samples_in_pairs() {
        // M = 10, 100 samples: sizes 1 and 9 (20 coalitions) fit in their
        // kernel share, size 2 and 8 (90) do not.
        let m = 10;
        let c = coalitions(m, 100, 3);
        assert_eq!(c.w.len(), 100);
        let sizes: Vec<u8> = c.z.chunks_exact(m).map(|r| r.iter().sum()).collect();
        assert!(sizes[..20].iter().all(|&s| s == 1 || s == 9));
        assert!(sizes[..20].windows(2).step_by(2).all(|p| p[0] + p[1] == 10));
        assert!(sizes[20..].iter().all(|&s| (2..=8).contains(&s)));
        // Enumerated weights: kernel share of sizes {1, 9} split over 20.
        let hm: f64 = (1..=4)
            .map(|k| 2.0 * 9.0 / (k * (10 - k)) as f64)
            .sum::<f64>()
            + 9.0 / 25.0;
        let share = 2.0 * 9.0 / 9.0 / hm;
        assert!((c.w[0] - share / 20.0).abs() < 1e-12);
        // All weights sum to the whole kernel mass (normalized to 1).
        assert!((c.w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Distinct coalitions.
        let set: std::collections::HashSet<&[u8]> = c.z.chunks_exact(m).collect();
        assert_eq!(set.len(), 100);
    }
}
