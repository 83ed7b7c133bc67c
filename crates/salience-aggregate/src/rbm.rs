//! Restricted Boltzmann Machine aggregation (Borisov et al. 2021, as
//! summarized by Mahlau & Nolde 2022).

use crate::kernel::{finish, flat};
use crate::Aggregator;
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use salience_core::seed::{derive_seed, rng, SalienceRng};
use salience_core::validate::check_param_finite;
use salience_core::{AttributionBatch, Ensemble, Result, SalienceError};

/// How the negative phase of contrastive divergence is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Chain {
    /// Persistent CD (Tieleman 2008): one Gibbs step from a chain that
    /// persists across mini-batches, as scikit-learn's `BernoulliRBM`
    /// (the implementation Mahlau & Nolde used) does. Default.
    #[default]
    #[serde(alias = "pcd")]
    Persistent,
    /// CD-1: one Gibbs step started from the mini-batch itself.
    #[serde(alias = "cd")]
    Cd1,
}

/// Aggregation by a Bernoulli RBM with one hidden unit, trained per
/// sample on the ensemble, the aggregate read from the hidden unit.
///
/// Exact formulation (everything per sample, independently):
/// 1. Data: each pixel is a training vector v ∈ [0, 1]^k holding the k
///    maps' values at that pixel, each map min–max scaled over the
///    sample's pixels (Bernoulli visible units need [0, 1]; a constant map
///    scales to 0). The maps are put in a canonical order (lexicographic
///    on their values) first, so the result does not depend on the order
///    of the maps in the ensemble.
/// 2. Model: one binary hidden unit h, weights W ∈ ℝ^k, visible biases
///    b ∈ ℝ^k, hidden bias c; p(h = 1 | v) = σ(vᵀW + c),
///    p(v_j = 1 | h) = σ(W_j h + b_j). Initialization: W ~ N(0, 0.01²)
///    (`init_std`), b = 0, c = 0.
/// 3. Training: `n_iter` epochs; each epoch walks the pixels in order in
///    ⌈P / batch_size⌉ evenly sized mini-batches. For a mini-batch V of B
///    rows: positive phase h⁺ = σ(VW + c); negative phase: a hidden state
///    (the persistent chain's, or a sample of h⁺ for CD-1) gives sampled
///    visibles V⁻ ~ Bernoulli(σ(hWᵀ + b)) and h⁻ = σ(V⁻W + c); then
///    W += α/B (Vᵀh⁺ − V⁻ᵀh⁻), c += α/B Σ(h⁺ − h⁻),
///    b += α/B Σ(V − V⁻); the persistent chain becomes h ~ Bernoulli(h⁻).
/// 4. Output: p(h = 1 | v) at every pixel, in [0, 1]. The hidden unit's
///    polarity is arbitrary, so if the output correlates negatively with
///    the mean of the scaled maps it is replaced by 1 − p (Borisov et
///    al. orient it the same way).
///
/// Randomness (initial weights, Gibbs samples) comes from a ChaCha8
/// generator seeded with `derive_seed(seed, sample)`: the same seed gives
/// the same output whatever the thread count. Defaults are the tuned values
/// of Mahlau & Nolde (Table 1): α = 10⁻⁴, 100 iterations; batch size 10 as
/// scikit-learn's default.
///
/// ```
/// use ndarray::Array;
/// use salience_aggregate::{Aggregator, Rbm};
/// use salience_core::Ensemble;
/// let e = Ensemble::from_stacked(
///     Array::from_shape_fn((3, 1, 8, 8), |(k, _, i, j)| (i * 8 + j + k) as f32).into_dyn(),
///     None,
/// ).unwrap();
/// let rbm = Rbm { learning_rate: 0.1, n_iter: 20, ..Rbm::default() };
/// let a = rbm.aggregate(&e).unwrap();
/// // Reproducible, in [0, 1], and oriented like the maps (the last pixel
/// // is the most important in every map).
/// assert_eq!(a, rbm.aggregate(&e).unwrap());
/// assert!(a.view().iter().all(|v| (0.0..=1.0).contains(v)));
/// assert!(a.view()[[0, 7, 7]] > a.view()[[0, 0, 0]]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rbm {
    /// Learning rate α.
    #[serde(alias = "lr")]
    pub learning_rate: f64,
    /// Training epochs over the sample's pixels, 1 ≤ n_iter ≤
    /// [`MAX_RBM_ITERS`].
    #[serde(alias = "iters")]
    pub n_iter: usize,
    /// Mini-batch size, 1 ≤ batch_size ≤ [`MAX_RBM_BATCH_SIZE`] (a batch
    /// larger than the sample's pixel count P acts as P).
    #[serde(alias = "batch")]
    pub batch_size: usize,
    /// Persistent CD or CD-1.
    pub chain: Chain,
    /// Standard deviation of the initial weights.
    pub init_std: f64,
    /// Base seed; sample i uses `derive_seed(seed, i)`.
    pub seed: u64,
}

impl Default for Rbm {
    fn default() -> Self {
        Rbm {
            learning_rate: 1e-4,
            n_iter: 100,
            batch_size: 10,
            chain: Chain::Persistent,
            init_std: 0.01,
            seed: 0,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The largest accepted [`Rbm::n_iter`] (10⁵ epochs; the paper uses 100).
pub const MAX_RBM_ITERS: usize = 100_000;
/// The largest accepted [`Rbm::batch_size`] (2²⁴; the default is 10).
pub const MAX_RBM_BATCH_SIZE: usize = 1 << 24;

impl Rbm {
    /// Checks the counts against their limits (also used by the spec parser).
    pub(crate) fn check_counts(&self) -> Result<()> {
        crate::check_count_limit("rbm n_iter", self.n_iter, MAX_RBM_ITERS, "")?;
        crate::check_count_limit("rbm batch_size", self.batch_size, MAX_RBM_BATCH_SIZE, "")
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.check_counts()?;
        check_param_finite("rbm learning_rate", self.learning_rate)?;
        check_param_finite("rbm init_std", self.init_std)?;
        if self.learning_rate <= 0.0 {
            return Err(SalienceError::invalid(
                "rbm learning_rate",
                self.learning_rate,
                "must be > 0",
            ));
        }
        if self.n_iter == 0 {
            return Err(SalienceError::invalid("rbm n_iter", 0, "must be ≥ 1"));
        }
        if self.batch_size == 0 {
            return Err(SalienceError::invalid("rbm batch_size", 0, "must be ≥ 1"));
        }
        if self.init_std < 0.0 {
            return Err(SalienceError::invalid(
                "rbm init_std",
                self.init_std,
                "must be ≥ 0",
            ));
        }
        Ok(())
    }

    /// Trains on one sample's `[P, k]` scaled data and writes p(h | v).
    fn fit_sample(
        &self,
        v: &[f64],
        k: usize,
        out: &mut [f32],
        rng: &mut SalienceRng,
    ) -> Result<()> {
        let p = out.len();
        let normal = Normal::new(0.0, self.init_std)
            .map_err(|e| SalienceError::invalid("rbm init_std", self.init_std, &e.to_string()))?;
        let mut w: Vec<f64> = (0..k).map(|_| normal.sample(rng)).collect();
        let mut b = vec![0.0f64; k];
        let mut c = 0.0f64;
        // A batch larger than P acts as P: the chain never needs more.
        let batch = self.batch_size.min(p).max(1);
        let n_batches = p.div_ceil(batch);
        let mut chain = vec![0.0f64; batch];
        let mut vneg = vec![0.0f64; k];
        let (mut gw, mut gb) = (vec![0.0f64; k], vec![0.0f64; k]);
        let hidden = |row: &[f64], w: &[f64], c: f64| -> f64 {
            sigmoid(row.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() + c)
        };
        for _ in 0..self.n_iter {
            for bi in 0..n_batches {
                // In u128: bi·P cannot overflow.
                let bound = |i: usize| (i as u128 * p as u128 / n_batches as u128) as usize;
                let (start, end) = (bound(bi), bound(bi + 1));
                let len = end - start;
                gw.iter_mut().for_each(|g| *g = 0.0);
                gb.iter_mut().for_each(|g| *g = 0.0);
                let mut gc = 0.0;
                for (r, row) in v[start * k..end * k].chunks_exact(k).enumerate() {
                    let hpos = hidden(row, &w, c);
                    let h = match self.chain {
                        Chain::Persistent => chain[r],
                        Chain::Cd1 => f64::from(u8::from(rng.random::<f64>() < hpos)),
                    };
                    for j in 0..k {
                        let pv = sigmoid(w[j] * h + b[j]);
                        vneg[j] = f64::from(u8::from(rng.random::<f64>() < pv));
                    }
                    let hneg = hidden(&vneg, &w, c);
                    for j in 0..k {
                        gw[j] += row[j] * hpos - vneg[j] * hneg;
                        gb[j] += row[j] - vneg[j];
                    }
                    gc += hpos - hneg;
                    if self.chain == Chain::Persistent {
                        chain[r] = f64::from(u8::from(rng.random::<f64>() < hneg));
                    }
                }
                let lr = self.learning_rate / len as f64;
                for j in 0..k {
                    w[j] += lr * gw[j];
                    b[j] += lr * gb[j];
                }
                c += lr * gc;
            }
        }
        if !(w.iter().all(|x| x.is_finite()) && c.is_finite()) {
            return Err(SalienceError::solver(
                "RBM contrastive divergence",
                salience_core::SolverStatus::Diverged,
                "the weights became non-finite (lower the learning rate)",
            ));
        }
        let mut h: Vec<f64> = v.chunks_exact(k).map(|row| hidden(row, &w, c)).collect();
        // Orient the hidden unit like the mean of the maps.
        let mean: Vec<f64> = v
            .chunks_exact(k)
            .map(|row| row.iter().sum::<f64>() / k as f64)
            .collect();
        let (mh, mm) = (
            h.iter().sum::<f64>() / p as f64,
            mean.iter().sum::<f64>() / p as f64,
        );
        let cov: f64 = h.iter().zip(&mean).map(|(a, b)| (a - mh) * (b - mm)).sum();
        if cov < 0.0 {
            h.iter_mut().for_each(|x| *x = 1.0 - *x);
        }
        for (o, x) in out.iter_mut().zip(&h) {
            *o = *x as f32;
        }
        Ok(())
    }
}

impl Aggregator for Rbm {
    fn name(&self) -> String {
        format!("rbm(lr={},iters={})", self.learning_rate, self.n_iter)
    }

    fn aggregate(&self, ensemble: &Ensemble) -> Result<AttributionBatch> {
        self.validate()?;
        let (data, k, n, p) = flat(ensemble)?;
        let mut out = vec![0.0f32; n * p];
        out.par_chunks_mut(p)
            .enumerate()
            .try_for_each(|(s, o)| -> Result<()> {
                let plane = |j: usize| &data[(j * n + s) * p..(j * n + s + 1) * p];
                // Canonical map order (lexicographic on the values), so the
                // result does not depend on the order of the maps even
                // though weights and Gibbs samples are drawn per map.
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|&a, &b| {
                    plane(a)
                        .iter()
                        .zip(plane(b))
                        .map(|(x, y)| x.total_cmp(y))
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                // Pixel-major [P, k] copy of this sample, each map scaled to [0, 1].
                let mut v = vec![0.0f64; p * k];
                for (j, &m) in order.iter().enumerate() {
                    let plane = plane(m);
                    let (lo, hi) = plane
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                            (lo.min(x), hi.max(x))
                        });
                    let range = hi as f64 - lo as f64;
                    for (i, &x) in plane.iter().enumerate() {
                        v[i * k + j] = if range > 0.0 {
                            (x as f64 - lo as f64) / range
                        } else {
                            0.0
                        };
                    }
                }
                let mut r = rng(derive_seed(self.seed, s as u64));
                self.fit_sample(&v, k, o, &mut r)
            })?;
        finish(ensemble, out, "rbm")
    }
}
