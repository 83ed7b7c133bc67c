//! Gram matrices of generalized L2 metrics and their streaming accumulation.

use crate::exact::ExactSum;
use crate::query::{check_finite_f64, check_gram_matrix, overflow_checked, Query};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;
use salience_core::validate::check_finite;
use salience_core::{Result, SalienceError};

/// Per-sample maxima seen while accumulating, i.e. empirical values of the
/// constants of Theorem 4.3 (they are maxima over the *observed* samples,
/// so they under-estimate the suprema the theorem assumes).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{GramAccumulator, Mask, Query};
/// let phi = array![[1.0f32, 0.0], [0.0, 1.0]];
/// let mut acc = GramAccumulator::new(2).unwrap();
/// acc.add(phi.view(), &Query::MaskRow { mask: Mask::Indices(&[0, 1]), target: 0.5 }).unwrap();
/// let stats = acc.finish().unwrap().stats().copied().unwrap();
/// assert_eq!((stats.max_rows, stats.max_row_l1, stats.max_abs_phi), (1, 2.0, 1.0));
/// assert_eq!(stats.max_residual_sq, 0.25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SampleStats {
    /// max over samples j and methods i of ‖γ1⁽ʲ⁾φ_i − γ2⁽ʲ⁾‖² (the c2 of Theorem 4.3).
    pub max_residual_sq: f64,
    /// max over samples and rows of the ℓ1 norm of a row of γ1 (the c1 of
    /// Theorem 4.3: the proof uses |(γ1Φ)_{rj}| ≤ ‖γ1 row r‖₁ ‖φ_j‖∞).
    pub max_row_l1: f64,
    /// max number of rows g of γ1.
    pub max_rows: usize,
    /// max |entry| of Φ (Theorem 4.3 assumes ‖φ_i‖∞ ≤ 1).
    pub max_abs_phi: f64,
}

impl SampleStats {
    fn merge(&mut self, o: &SampleStats) {
        self.max_residual_sq = self.max_residual_sq.max(o.max_residual_sq);
        self.max_row_l1 = self.max_row_l1.max(o.max_row_l1);
        self.max_rows = self.max_rows.max(o.max_rows);
        self.max_abs_phi = self.max_abs_phi.max(o.max_abs_phi);
    }
}

/// The Gram matrix of a generalized L2 metric for k methods, with the parts
/// needed to evaluate Q off the simplex.
///
/// With Γ⁽ʲ⁾ = γ1⁽ʲ⁾Φ − γ2⁽ʲ⁾1ᵀ (g×k) and m samples:
/// * [`Gram::matrix`] G = (1/m) Σ_j Γ⁽ʲ⁾ᵀΓ⁽ʲ⁾ (k×k, symmetric PSD);
/// * [`Gram::cross`] h = (1/m) Σ_j Γ⁽ʲ⁾ᵀγ2⁽ʲ⁾ (k);
/// * [`Gram::target_sq`] c = (1/m) Σ_j ‖γ2⁽ʲ⁾‖².
///
/// On the simplex (Σw = 1) Q(φ_w) = wᵀGw; for any w,
/// Q(φ_w) = wᵀGw + 2(s−1)hᵀw + (s−1)²c with s = Σw (see [`Gram::q`]).
///
/// ```
/// use ndarray::array;
/// use salience_optimize::Gram;
/// let g = Gram::from_matrix(array![[2.0, 0.0], [0.0, 1.0]]).unwrap();
/// assert_eq!(g.k(), 2);
/// assert_eq!(g.objective(&[0.5, 0.5]).unwrap(), 0.75);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    matrix: Array2<f64>,
    cross: Array1<f64>,
    target_sq: f64,
    samples: Option<usize>,
    stats: Option<SampleStats>,
}

impl Gram {
    /// Wraps a bare k×k matrix G, read as the Gram of a metric with γ2 = 0
    /// (so h = 0, c = 0 and G is also the query Gram K). G must be square,
    /// k ≥ 1 and finite; it is symmetrized as (G + Gᵀ)/2.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::Gram;
    /// assert!(Gram::from_matrix(array![[1.0, 0.0]]).is_err());
    /// assert!(Gram::from_matrix(array![[f64::NAN]]).is_err());
    /// let g = Gram::from_matrix(array![[1.0, 2.0], [0.0, 1.0]]).unwrap();
    /// assert_eq!(g.matrix()[[0, 1]], 1.0);
    /// ```
    pub fn from_matrix(matrix: Array2<f64>) -> Result<Gram> {
        let k = matrix.nrows();
        Gram::from_parts(matrix, Array1::zeros(k), 0.0)
    }

    /// Builds a Gram from all three parts G, h = E\[Γᵀγ2\] and c = E‖γ2‖²
    /// (validated: square, finite, `cross` of length k, c ≥ 0).
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::Gram;
    /// let g = Gram::from_parts(array![[1.0]], array![0.5], 2.0).unwrap();
    /// assert_eq!(g.target_sq(), 2.0);
    /// assert!(Gram::from_parts(array![[1.0]], array![0.5, 1.0], 2.0).is_err());
    /// ```
    pub fn from_parts(matrix: Array2<f64>, cross: Array1<f64>, target_sq: f64) -> Result<Gram> {
        let r = check_gram_matrix(matrix.view())?;
        if cross.len() != r {
            return Err(SalienceError::shape(
                "Gram cross term",
                format!("[{r}]"),
                &[cross.len()],
            ));
        }
        check_finite_f64(matrix.iter().copied(), "Gram matrix")?;
        check_finite_f64(cross.iter().copied(), "Gram cross term")?;
        check_finite_f64(std::iter::once(target_sq), "Gram target_sq")?;
        if target_sq < 0.0 {
            return Err(SalienceError::invalid(
                "target_sq",
                target_sq,
                "E‖γ2‖² must be ≥ 0",
            ));
        }
        let sym = &matrix * 0.5 + &matrix.t() * 0.5;
        Ok(Gram {
            matrix: sym,
            cross,
            target_sq,
            samples: None,
            stats: None,
        })
    }

    /// Number of methods k.
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(3)).unwrap();
    /// assert_eq!(g.k(), 3);
    /// ```
    pub fn k(&self) -> usize {
        self.matrix.nrows()
    }

    /// G, the k×k residual Gram (the QP's objective matrix).
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert_eq!(g.matrix()[[1, 1]], 1.0);
    /// ```
    pub fn matrix(&self) -> ArrayView2<'_, f64> {
        self.matrix.view()
    }

    /// h = E\[Γᵀγ2\], the residual/target cross term (k).
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert_eq!(g.cross().to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn cross(&self) -> ArrayView1<'_, f64> {
        self.cross.view()
    }

    /// c = E‖γ2‖².
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert_eq!(g.target_sq(), 0.0);
    /// ```
    pub fn target_sq(&self) -> f64 {
        self.target_sq
    }

    /// The number of metric-evaluation samples m it was accumulated from
    /// (`None` for matrices given directly or combined).
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert_eq!(g.samples(), None);
    /// ```
    pub fn samples(&self) -> Option<usize> {
        self.samples
    }

    /// The per-sample maxima of the accumulation (`None` when not accumulated).
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert!(g.stats().is_none());
    /// ```
    pub fn stats(&self) -> Option<&SampleStats> {
        self.stats.as_ref()
    }

    /// K = E\[(γ1Φ)ᵀ(γ1Φ)\] = G + h1ᵀ + 1hᵀ + c11ᵀ, the Gram of the query
    /// part alone (target-free; used for the diversity term of Theorem 4.2).
    ///
    /// ```
    /// use ndarray::array;
    /// let g = salience_optimize::Gram::from_parts(array![[1.0]], array![-1.0], 1.0).unwrap();
    /// // γ1φ = 0 and γ2 = 1 give G = 1, h = −1, c = 1 and K = 0.
    /// assert_eq!(g.query_gram()[[0, 0]], 0.0);
    /// ```
    pub fn query_gram(&self) -> Array2<f64> {
        let k = self.k();
        Array2::from_shape_fn((k, k), |(i, l)| {
            self.matrix[[i, l]] + self.cross[i] + self.cross[l] + self.target_sq
        })
    }

    /// Q(φ_i) for every method: the diagonal of G.
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2) * 3.0).unwrap();
    /// assert_eq!(g.q_methods(), vec![3.0, 3.0]);
    /// ```
    pub fn q_methods(&self) -> Vec<f64> {
        self.matrix.diag().to_vec()
    }

    /// wᵀGw, the QP objective (equal to Q(φ_w) when Σw = 1).
    ///
    /// ```
    /// let g = salience_optimize::Gram::from_matrix(ndarray::Array2::eye(2)).unwrap();
    /// assert_eq!(g.objective(&[1.0, 0.0]).unwrap(), 1.0);
    /// assert!(g.objective(&[1.0]).is_err());
    /// ```
    pub fn objective(&self, w: &[f64]) -> Result<f64> {
        self.check_w(w)?;
        overflow_checked(quad(&self.matrix, w), "Gram::objective")
    }

    /// Q(φ_w) = E‖γ1Φw − γ2‖² for any w (not only on the simplex):
    /// wᵀGw + 2(s−1)hᵀw + (s−1)²c with s = Σw, which is the expansion of
    /// ‖Γw + (s−1)γ2‖² since γ1Φw − γ2 = Γw + (s−1)γ2.
    ///
    /// ```
    /// use ndarray::array;
    /// // One method whose query output is 0 against a target of 1: Q(φ_w) = 1 for any w.
    /// let g = salience_optimize::Gram::from_parts(array![[1.0]], array![-1.0], 1.0).unwrap();
    /// assert_eq!(g.q(&[1.0]).unwrap(), 1.0);
    /// assert_eq!(g.q(&[3.0]).unwrap(), 1.0);
    /// ```
    ///
    /// Weights so large that Q overflows f64 are a
    /// [`SalienceError::NonFinite`] saying so (never Ok(∞) or Ok(NaN)).
    pub fn q(&self, w: &[f64]) -> Result<f64> {
        self.check_w(w)?;
        let s1 = w.iter().sum::<f64>() - 1.0;
        let hw: f64 = self.cross.iter().zip(w).map(|(h, w)| h * w).sum();
        let v = quad(&self.matrix, w) + 2.0 * s1 * hw + s1 * s1 * self.target_sq;
        overflow_checked(v, "Gram::q")
    }

    /// The mean of several Grams of the same k (e.g. the per-input Grams of
    /// a data set, for one global weight vector): every part is averaged,
    /// summing exactly so the result does not depend on the order.
    /// `samples` becomes the total of the parts' sample counts when all are
    /// known.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use salience_optimize::Gram;
    /// let a = Gram::from_matrix(Array2::eye(2)).unwrap();
    /// let b = Gram::from_matrix(Array2::eye(2) * 3.0).unwrap();
    /// assert_eq!(Gram::mean(&[a, b]).unwrap().matrix()[[0, 0]], 2.0);
    /// assert!(Gram::mean(&[]).is_err());
    /// ```
    ///
    /// When the sum overflows f64 (two Grams of 1e308), the parts are
    /// divided by n before the exact summation, so the mean of finite Grams
    /// is always finite.
    pub fn mean(grams: &[Gram]) -> Result<Gram> {
        let n = grams.len();
        let inv = 1.0 / n as f64;
        let refs: Vec<(f64, &Gram)> = grams.iter().map(|g| (1.0, g)).collect();
        let mut out = match weighted_sum(&refs, "Gram::mean") {
            Ok(mut out) => {
                out.matrix.mapv_inplace(|v| v * inv);
                out.cross.mapv_inplace(|v| v * inv);
                out.target_sq *= inv;
                out
            }
            Err(SalienceError::NonFinite { .. }) => {
                // Overflow of the sum (every Gram is finite by construction).
                let scaled: Vec<(f64, &Gram)> = grams.iter().map(|g| (inv, g)).collect();
                weighted_sum(&scaled, "Gram::mean")?
            }
            Err(e) => return Err(e),
        };
        out.samples = grams.iter().map(|g| g.samples).sum::<Option<usize>>();
        out.stats = grams.iter().try_fold(SampleStats::default(), |mut acc, g| {
            g.stats.map(|s| {
                acc.merge(&s);
                acc
            })
        });
        Ok(out)
    }

    fn check_w(&self, w: &[f64]) -> Result<()> {
        if w.len() != self.k() {
            return Err(SalienceError::shape(
                "weights",
                format!("[{}] (one weight per method)", self.k()),
                &[w.len()],
            ));
        }
        check_finite_f64(w.iter().copied(), "weights")
    }
}

/// Σ λ_t · gram_t over every part (G, h, c), summed exactly in f64.
/// λ must be finite and ≥ 0; all grams must share k.
pub(crate) fn weighted_sum(terms: &[(f64, &Gram)], context: &str) -> Result<Gram> {
    let Some((_, first)) = terms.first() else {
        return Err(SalienceError::Empty(format!("{context}: no Gram matrices")));
    };
    let k = first.k();
    let mut g: Vec<ExactSum> = vec![ExactSum::default(); k * k];
    let mut h: Vec<ExactSum> = vec![ExactSum::default(); k];
    let mut c = ExactSum::default();
    for (t, &(lambda, gram)) in terms.iter().enumerate() {
        if !lambda.is_finite() || lambda < 0.0 {
            return Err(SalienceError::invalid(
                &format!("lambda[{t}]"),
                lambda,
                "weights of a combination of metrics must be finite and ≥ 0",
            ));
        }
        if gram.k() != k {
            return Err(SalienceError::shape(
                &format!("{context}: Gram {t}"),
                format!("[{k}, {k}] (the size of Gram 0)"),
                gram.matrix.shape(),
            ));
        }
        for (acc, &v) in g.iter_mut().zip(gram.matrix.iter()) {
            acc.add(lambda * v);
        }
        for (acc, &v) in h.iter_mut().zip(gram.cross.iter()) {
            acc.add(lambda * v);
        }
        c.add(lambda * gram.target_sq);
    }
    // Every Gram is finite by construction, so a non-finite sum is an
    // overflow: say so, rather than "NaN in the Gram".
    let what = format!("{context}: the weighted sum of Gram matrices");
    let values = |s: &[ExactSum]| -> Result<Vec<f64>> {
        s.iter()
            .map(|e| overflow_checked(e.value(), &what))
            .collect()
    };
    let matrix = Array2::from_shape_vec((k, k), values(&g)?)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    let cross = Array1::from_vec(values(&h)?);
    let out = Gram::from_parts(matrix, cross, overflow_checked(c.value(), &what)?)?;
    Ok(out)
}

pub(crate) fn quad(g: &Array2<f64>, w: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, row) in g.outer_iter().enumerate() {
        let gi: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
        s += w[i] * gi;
    }
    s
}

/// Accumulates the Gram of a generalized L2 metric sample by sample, in f64,
/// with memory independent of the number of samples m.
///
/// Each sample's contribution Γ⁽ʲ⁾ᵀΓ⁽ʲ⁾ is computed in f64 in a fixed
/// order, then added to *exact* running sums (non-overlapping partials,
/// see the crate docs). [`GramAccumulator::merge`] is exact too, so the
/// finished Gram is bitwise identical whatever the order of the samples,
/// the chunking and the number of threads.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{GramAccumulator, Mask, Query};
/// // k = 2 methods, d = 3 features.
/// let phi = array![[0.5f32, 0.0, 0.5], [0.2, 0.2, 0.2]];
/// let mut acc = GramAccumulator::new(2)?;
/// acc.add(phi.view(), &Query::MaskRow { mask: Mask::Indices(&[0]), target: 0.5 })?;
/// acc.add(phi.view(), &Query::MaskRow { mask: Mask::Bool(&[false, true, true]), target: 0.5 })?;
/// let gram = acc.finish()?;
/// // Method 0 explains both samples exactly: Q(φ_0) = 0.
/// assert_eq!(gram.q_methods()[0], 0.0);
/// assert_eq!(gram.samples(), Some(2));
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GramAccumulator {
    k: usize,
    gram: Vec<ExactSum>,
    cross: Vec<ExactSum>,
    target_sq: ExactSum,
    m: usize,
    stats: SampleStats,
}

impl GramAccumulator {
    /// An empty accumulator for k ≥ 1 methods.
    ///
    /// ```
    /// assert!(salience_optimize::GramAccumulator::new(0).is_err());
    /// ```
    pub fn new(k: usize) -> Result<Self> {
        if k == 0 {
            return Err(SalienceError::Empty(
                "Gram accumulator with k = 0 methods".into(),
            ));
        }
        Ok(GramAccumulator {
            k,
            gram: vec![ExactSum::default(); k * (k + 1) / 2],
            cross: vec![ExactSum::default(); k],
            target_sq: ExactSum::default(),
            m: 0,
            stats: SampleStats::default(),
        })
    }

    /// Number of methods k.
    ///
    /// ```
    /// assert_eq!(salience_optimize::GramAccumulator::new(4).unwrap().k(), 4);
    /// ```
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of samples added so far (m).
    ///
    /// ```
    /// assert_eq!(salience_optimize::GramAccumulator::new(4).unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.m
    }

    /// True before the first sample.
    ///
    /// ```
    /// assert!(salience_optimize::GramAccumulator::new(4).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// Adds one metric-evaluation sample: `phi` is Φᵀ, the k maps of the
    /// input as a `[k, d]` array (row i = method i, e.g. one sample of
    /// [`salience_core::Ensemble::as_flat`] read as `[k, features]`), and
    /// `query` is (γ1⁽ʲ⁾, γ2⁽ʲ⁾). Φ may differ between samples.
    ///
    /// Errors (and nothing is added) on a wrong k, d = 0, non-finite values
    /// or a query that does not fit d.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{GramAccumulator, Query};
    /// let phi = array![[1.0f32, 2.0], [3.0, 4.0]];
    /// let reference = [1.0f32, 2.0];
    /// let mut acc = GramAccumulator::new(2).unwrap();
    /// acc.add(phi.view(), &Query::Identity { target: &reference }).unwrap();
    /// assert!(acc.add(phi.view(), &Query::Identity { target: &[1.0] }).is_err());
    /// assert_eq!(acc.finish().unwrap().q_methods(), vec![0.0, 8.0]);
    /// ```
    pub fn add(&mut self, phi: ArrayView2<'_, f32>, query: &Query<'_>) -> Result<()> {
        let (k, d) = phi.dim();
        if k != self.k {
            return Err(SalienceError::shape(
                "phi (the maps of one input)",
                format!("[{}, d] (one row per method)", self.k),
                &[k, d],
            ));
        }
        if d == 0 {
            return Err(SalienceError::Empty("phi with d = 0 features".into()));
        }
        check_finite(&phi, "phi")?;
        let c = query.contribution(phi)?;
        let finite =
            c.gram.iter().chain(&c.cross).all(|v| v.is_finite()) && c.target_sq.is_finite();
        if !finite {
            return Err(SalienceError::NonFinite {
                context: "Gram contribution of a sample (overflow)".into(),
                index: self.m,
                value: f32::INFINITY,
            });
        }
        let mut idx = 0;
        for i in 0..k {
            for l in i..k {
                self.gram[idx].add(c.gram[i * k + l]);
                idx += 1;
            }
            self.cross[i].add(c.cross[i]);
        }
        self.target_sq.add(c.target_sq);
        let diag_max = (0..k).map(|i| c.gram[i * k + i]).fold(0.0f64, f64::max);
        self.stats.merge(&SampleStats {
            max_residual_sq: diag_max,
            max_row_l1: c.row_l1,
            max_rows: c.rows,
            max_abs_phi: c.max_abs_phi,
        });
        self.m += 1;
        Ok(())
    }

    /// Merges another accumulator (same k) into this one, exactly.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{GramAccumulator, Mask, Query};
    /// let phi = array![[1.0f32, 2.0]];
    /// let q = Query::MaskRow { mask: Mask::Indices(&[1]), target: 1.0 };
    /// let (mut a, mut b) = (GramAccumulator::new(1)?, GramAccumulator::new(1)?);
    /// a.add(phi.view(), &q)?;
    /// b.add(phi.view(), &q)?;
    /// a.merge(&b)?;
    /// assert_eq!(a.len(), 2);
    /// assert!(a.merge(&GramAccumulator::new(2)?).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn merge(&mut self, other: &GramAccumulator) -> Result<()> {
        if other.k != self.k {
            return Err(SalienceError::invalid(
                "GramAccumulator::merge k",
                other.k,
                &format!("both accumulators need the same k = {}", self.k),
            ));
        }
        for (a, b) in self.gram.iter_mut().zip(&other.gram) {
            a.merge(b);
        }
        for (a, b) in self.cross.iter_mut().zip(&other.cross) {
            a.merge(b);
        }
        self.target_sq.merge(&other.target_sq);
        self.stats.merge(&other.stats);
        self.m += other.m;
        Ok(())
    }

    /// The Gram (1/m)·Σ_j of everything added. Errors with
    /// [`SalienceError::Empty`] when m = 0.
    ///
    /// ```
    /// assert!(salience_optimize::GramAccumulator::new(2).unwrap().finish().is_err());
    /// ```
    pub fn finish(&self) -> Result<Gram> {
        if self.m == 0 {
            return Err(SalienceError::Empty(
                "Gram accumulator with m = 0 metric-evaluation samples".into(),
            ));
        }
        let k = self.k;
        let inv = 1.0 / self.m as f64;
        let mut matrix = Array2::<f64>::zeros((k, k));
        let mut idx = 0;
        for i in 0..k {
            for l in i..k {
                let v = self.gram[idx].value() * inv;
                matrix[[i, l]] = v;
                matrix[[l, i]] = v;
                idx += 1;
            }
        }
        let cross = Array1::from_iter(self.cross.iter().map(|s| s.value() * inv));
        let mut gram = Gram::from_parts(matrix, cross, self.target_sq.value() * inv)?;
        gram.samples = Some(self.m);
        gram.stats = Some(self.stats);
        Ok(gram)
    }

    /// The Gram of m samples that share one Φ (`[k, d]`, the usual case: one
    /// input, m perturbations), accumulated in parallel with rayon. The
    /// result is bitwise independent of the thread count.
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{GramAccumulator, Mask, Query};
    /// let phi = array![[1.0f32, 0.0], [0.5, 0.5]];
    /// let qs = [
    ///     Query::MaskRow { mask: Mask::Indices(&[0]), target: 1.0 },
    ///     Query::MaskRow { mask: Mask::Indices(&[1]), target: 0.0 },
    /// ];
    /// let g = GramAccumulator::accumulate(phi.view(), &qs)?;
    /// assert_eq!(g.q_methods(), vec![0.0, 0.25]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn accumulate(phi: ArrayView2<'_, f32>, queries: &[Query<'_>]) -> Result<Gram> {
        let k = phi.nrows();
        let acc = queries
            .par_iter()
            .fold(
                || GramAccumulator::new(k),
                |acc, q| {
                    acc.and_then(|mut a| {
                        a.add(phi, q)?;
                        Ok(a)
                    })
                },
            )
            .reduce_with(merge_results);
        match acc {
            Some(a) => a?.finish(),
            None => GramAccumulator::new(k)?.finish(),
        }
    }

    /// Like [`GramAccumulator::accumulate`] with one Φ per sample (e.g. the
    /// per-sample differences of a sensitivity metric built elsewhere).
    ///
    /// ```
    /// use ndarray::array;
    /// use salience_optimize::{GramAccumulator, Mask, Query};
    /// let (a, b) = (array![[1.0f32]], array![[2.0f32]]);
    /// let q = Query::MaskRow { mask: Mask::Indices(&[0]), target: 0.0 };
    /// let g = GramAccumulator::accumulate_pairs(&[(a.view(), q), (b.view(), q)])?;
    /// assert_eq!(g.q_methods(), vec![2.5]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn accumulate_pairs(samples: &[(ArrayView2<'_, f32>, Query<'_>)]) -> Result<Gram> {
        let Some((first, _)) = samples.first() else {
            return Err(SalienceError::Empty(
                "Gram accumulation with m = 0 metric-evaluation samples".into(),
            ));
        };
        let k = first.nrows();
        let acc = samples
            .par_iter()
            .fold(
                || GramAccumulator::new(k),
                |acc, (phi, q)| {
                    acc.and_then(|mut a| {
                        a.add(*phi, q)?;
                        Ok(a)
                    })
                },
            )
            .reduce_with(merge_results);
        match acc {
            Some(a) => a?.finish(),
            None => GramAccumulator::new(k)?.finish(),
        }
    }
}

/// Reduction step of the parallel accumulation. Rayon keeps the left operand
/// before the right one, so the error reported is the one of the first bad
/// sample whatever the thread count.
fn merge_results(
    a: Result<GramAccumulator>,
    b: Result<GramAccumulator>,
) -> Result<GramAccumulator> {
    let mut a = a?;
    a.merge(&b?)?;
    Ok(a)
}
