//! Structured linear queries γ1 and targets γ2 of a generalized L2 metric
//! (Decker et al. 2024, Definition 4.1).
//!
//! One metric-evaluation sample j is a pair (γ1⁽ʲ⁾ ∈ ℝ^{g×d}, γ2⁽ʲ⁾ ∈ ℝ^g).
//! [`Query`] describes such a pair without materializing a d×d or g×d
//! matrix where the structure allows it.

use ndarray::{ArrayView1, ArrayView2};
use salience_core::validate::check_finite;
use salience_core::{Result, SalienceError};

/// Features processed per block by the identity queries (keeps the scratch
/// memory at `k × BLOCK` f64 whatever d is).
const BLOCK: usize = 256;

/// A 0/1 row of γ1, given by the features it selects.
///
/// ```
/// use salience_optimize::Mask;
/// let by_flag = Mask::Bool(&[true, false, true]);
/// let by_index = Mask::Indices(&[0, 2]);
/// assert_eq!(by_flag.count(), by_index.count());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask<'a> {
    /// One flag per feature (length d); `true` selects the feature.
    Bool(&'a [bool]),
    /// The selected feature indices (distinct, each `< d`, any order).
    Indices(&'a [usize]),
}

impl Mask<'_> {
    /// Number of selected features (the ℓ1 norm of the 0/1 row).
    ///
    /// ```
    /// assert_eq!(salience_optimize::Mask::Bool(&[true, true, false]).count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        match self {
            Mask::Bool(b) => b.iter().filter(|&&v| v).count(),
            Mask::Indices(i) => i.len(),
        }
    }
}

/// One row of a sparse γ1: `(feature index, coefficient)` pairs. An index
/// may appear more than once; its coefficients add up.
///
/// ```
/// use salience_optimize::SparseRow;
/// let row = SparseRow::new(vec![(0, 1.0), (3, -0.5)]);
/// assert_eq!(row.entries().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseRow {
    entries: Vec<(usize, f64)>,
}

impl SparseRow {
    /// A row from its non-zero entries.
    ///
    /// ```
    /// let row = salience_optimize::SparseRow::new(vec![(2, 0.25)]);
    /// assert_eq!(row.entries()[0], (2, 0.25));
    /// ```
    pub fn new(entries: Vec<(usize, f64)>) -> Self {
        SparseRow { entries }
    }

    /// The `(index, coefficient)` entries.
    ///
    /// ```
    /// assert!(salience_optimize::SparseRow::default().entries().is_empty());
    /// ```
    pub fn entries(&self) -> &[(usize, f64)] {
        &self.entries
    }
}

/// One metric-evaluation sample (γ1⁽ʲ⁾, γ2⁽ʲ⁾) of a generalized L2 metric
/// Q(φ) = E‖γ1 φ − γ2‖², in structured form. The maps Φ it is applied to are
/// given separately (see [`crate::GramAccumulator::add`]) as a `[k, d]`
/// array, one row per method.
///
/// ```
/// use ndarray::array;
/// use salience_optimize::{Mask, Query};
/// // Infidelity sample: γ1 = indicator of the perturbed features {0, 2},
/// // γ2 = f(x) − f(x̃).
/// let q = Query::MaskRow { mask: Mask::Indices(&[0, 2]), target: 0.7 };
/// assert_eq!(q.rows(), 1);
/// // Average-Sensitivity sample with a fixed reference map: γ1 = I, γ2 = φ_ref(x + ε).
/// let reference = [0.1f32, 0.2, 0.3];
/// assert_eq!(Query::Identity { target: &reference }.rows(), 3);
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// γ1 = I_d, γ2 = `target` (length d). With a fixed reference map as
    /// target this is the paper's literal Average-Sensitivity form
    /// (Section 4: γ1 = I_d, γ2 = φ(x + ε)).
    Identity {
        /// γ2, one value per feature.
        target: &'a [f32],
    },
    /// Average sensitivity of the *aggregate* (App. C.2):
    /// ‖φ_w(x) − φ_w(x + ε)‖² = ‖(Φ − Φ′)w‖², i.e. γ1 = I_d applied to the
    /// difference Φ − Φ′ and γ2 = 0. `perturbed` is Φ′ = the k maps of the
    /// perturbed input x + ε, `[k, d]` like Φ. This is the query AGG_robust
    /// uses (and what aggopt's `AGGrobust_explainer` computes).
    Sensitivity {
        /// The k maps of the perturbed input, `[k, d]`.
        perturbed: ArrayView2<'a, f32>,
    },
    /// γ1 = one 0/1 row (g = 1), γ2 = `target`. Infidelity with binary
    /// perturbations: γ2 = f(x) − f(x with the masked features replaced by a
    /// baseline).
    MaskRow {
        /// The selected features.
        mask: Mask<'a>,
        /// γ2 (a scalar).
        target: f64,
    },
    /// γ1 = a few weighted sparse rows, γ2 = `target` (one value per row).
    Sparse {
        /// The rows of γ1 (g ≥ 1).
        rows: &'a [SparseRow],
        /// γ2, one value per row.
        target: &'a [f64],
    },
    /// A dense γ1 (`[g, d]`) and γ2 (length g), for generality.
    Dense {
        /// γ1, `[g, d]`.
        gamma1: ArrayView2<'a, f64>,
        /// γ2, length g.
        target: ArrayView1<'a, f64>,
    },
}

/// The contribution of one sample: the k×k residual Gram
/// Γᵀ Γ (Γ = γ1Φ − γ2 1ᵀ), Γᵀγ2, ‖γ2‖² and the quantities Theorem 4.3 needs.
#[derive(Debug, Clone)]
pub(crate) struct SampleContribution {
    /// Row-major k×k, full (both triangles filled).
    pub(crate) gram: Vec<f64>,
    pub(crate) cross: Vec<f64>,
    pub(crate) target_sq: f64,
    pub(crate) rows: usize,
    pub(crate) row_l1: f64,
    /// max |entry| of the Φ the metric actually sees (Φ − Φ′ for
    /// [`Query::Sensitivity`]).
    pub(crate) max_abs_phi: f64,
}

impl Query<'_> {
    /// g, the number of rows of γ1 (`d` for the identity queries, which
    /// need Φ to know d: they return the target length, or the perturbed
    /// maps' width).
    ///
    /// ```
    /// use salience_optimize::{Mask, Query};
    /// assert_eq!(Query::MaskRow { mask: Mask::Bool(&[true]), target: 0.0 }.rows(), 1);
    /// ```
    pub fn rows(&self) -> usize {
        match self {
            Query::Identity { target } => target.len(),
            Query::Sensitivity { perturbed } => perturbed.ncols(),
            Query::MaskRow { .. } => 1,
            Query::Sparse { rows, .. } => rows.len(),
            Query::Dense { gamma1, .. } => gamma1.nrows(),
        }
    }

    /// Validates this query against maps of `d` features and computes the
    /// per-sample residual Gram for `phi` (`[k, d]`, already validated finite).
    pub(crate) fn contribution(&self, phi: ArrayView2<'_, f32>) -> Result<SampleContribution> {
        let (k, d) = phi.dim();
        let phi = phi.as_standard_layout();
        let phi_s = phi.as_slice().unwrap_or(&[]);
        let mut out = SampleContribution {
            gram: vec![0.0; k * k],
            cross: vec![0.0; k],
            target_sq: 0.0,
            rows: 0,
            row_l1: 0.0,
            max_abs_phi: phi_s.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs())),
        };
        match *self {
            Query::Identity { target } => {
                if target.len() != d {
                    return Err(SalienceError::shape(
                        "Query::Identity target",
                        format!("[{d}] (one value per feature)"),
                        &[target.len()],
                    ));
                }
                check_finite(&ArrayView1::from(target), "Query::Identity target")?;
                identity_blocks(phi_s, k, d, &mut out, |t| f64::from(target[t]));
                out.rows = d;
                out.row_l1 = 1.0;
            }
            Query::Sensitivity { perturbed } => {
                if perturbed.dim() != (k, d) {
                    return Err(SalienceError::shape(
                        "Query::Sensitivity perturbed maps",
                        format!("[{k}, {d}] (the shape of phi)"),
                        perturbed.shape(),
                    ));
                }
                check_finite(&perturbed, "Query::Sensitivity perturbed maps")?;
                let p = perturbed.as_standard_layout();
                let p = p.as_slice().unwrap_or(&[]);
                // Residual of method i at feature t is φ_i[t] − φ′_i[t] and the
                // target is 0: we pass φ′ per method through `diff_blocks`.
                diff_blocks(phi_s, p, k, d, &mut out);
                out.max_abs_phi = phi_s.iter().zip(p).fold(0.0f64, |m, (&a, &b)| {
                    m.max((f64::from(a) - f64::from(b)).abs())
                });
                out.rows = d;
                out.row_l1 = 1.0;
            }
            Query::MaskRow { mask, target } => {
                check_scalar(target, "Query::MaskRow target")?;
                let mut a = vec![0.0f64; k];
                match mask {
                    Mask::Bool(flags) => {
                        if flags.len() != d {
                            return Err(SalienceError::shape(
                                "Query::MaskRow mask",
                                format!("[{d}] (one flag per feature)"),
                                &[flags.len()],
                            ));
                        }
                        for (i, ai) in a.iter_mut().enumerate() {
                            let row = &phi_s[i * d..(i + 1) * d];
                            *ai = row
                                .iter()
                                .zip(flags)
                                .filter(|&(_, &f)| f)
                                .map(|(&v, _)| f64::from(v))
                                .sum();
                        }
                    }
                    Mask::Indices(idx) => {
                        let mut seen = vec![false; d];
                        for &t in idx {
                            if t >= d {
                                return Err(SalienceError::invalid(
                                    "Query::MaskRow mask index",
                                    t,
                                    &format!("must be < d = {d}"),
                                ));
                            }
                            if std::mem::replace(&mut seen[t], true) {
                                return Err(SalienceError::invalid(
                                    "Query::MaskRow mask index",
                                    t,
                                    "indices of a 0/1 mask must be distinct",
                                ));
                            }
                        }
                        for (i, ai) in a.iter_mut().enumerate() {
                            let row = &phi_s[i * d..(i + 1) * d];
                            *ai = idx.iter().map(|&t| f64::from(row[t])).sum();
                        }
                    }
                }
                add_row(&a, target, &mut out);
                out.rows = 1;
                out.row_l1 = mask.count() as f64;
            }
            Query::Sparse { rows, target } => {
                if rows.is_empty() {
                    return Err(SalienceError::Empty("Query::Sparse with no rows".into()));
                }
                if rows.len() != target.len() {
                    return Err(SalienceError::shape(
                        "Query::Sparse target",
                        format!("[{}] (one value per row)", rows.len()),
                        &[target.len()],
                    ));
                }
                let mut a = vec![0.0f64; k];
                for (row, &y) in rows.iter().zip(target) {
                    check_scalar(y, "Query::Sparse target")?;
                    let mut l1 = 0.0;
                    for &(t, c) in row.entries() {
                        if t >= d {
                            return Err(SalienceError::invalid(
                                "Query::Sparse row index",
                                t,
                                &format!("must be < d = {d}"),
                            ));
                        }
                        check_scalar(c, "Query::Sparse coefficient")?;
                        l1 += c.abs();
                    }
                    for (i, ai) in a.iter_mut().enumerate() {
                        let phi_row = &phi_s[i * d..(i + 1) * d];
                        *ai = row
                            .entries()
                            .iter()
                            .map(|&(t, c)| c * f64::from(phi_row[t]))
                            .sum();
                    }
                    add_row(&a, y, &mut out);
                    out.row_l1 = out.row_l1.max(l1);
                }
                out.rows = rows.len();
            }
            Query::Dense { gamma1, target } => {
                let g = gamma1.nrows();
                if g == 0 || gamma1.ncols() != d {
                    return Err(SalienceError::shape(
                        "Query::Dense gamma1",
                        format!("[g, {d}] with g ≥ 1"),
                        gamma1.shape(),
                    ));
                }
                if target.len() != g {
                    return Err(SalienceError::shape(
                        "Query::Dense target",
                        format!("[{g}] (one value per row of gamma1)"),
                        target.shape(),
                    ));
                }
                check_finite_f64(gamma1.iter().copied(), "Query::Dense gamma1")?;
                check_finite_f64(target.iter().copied(), "Query::Dense target")?;
                let mut a = vec![0.0f64; k];
                for (row, &y) in gamma1.outer_iter().zip(target.iter()) {
                    for (i, ai) in a.iter_mut().enumerate() {
                        let phi_row = &phi_s[i * d..(i + 1) * d];
                        *ai = row
                            .iter()
                            .zip(phi_row)
                            .map(|(&c, &v)| c * f64::from(v))
                            .sum();
                    }
                    add_row(&a, y, &mut out);
                    out.row_l1 = out.row_l1.max(row.iter().map(|c| c.abs()).sum());
                }
                out.rows = g;
            }
        }
        mirror_upper(&mut out.gram, k);
        Ok(out)
    }
}

fn check_scalar(v: f64, context: &str) -> Result<()> {
    check_finite_f64(std::iter::once(v), context)
}

pub(crate) fn check_finite_f64(values: impl Iterator<Item = f64>, context: &str) -> Result<()> {
    for (index, v) in values.enumerate() {
        if !v.is_finite() {
            return Err(SalienceError::NonFinite {
                context: context.to_string(),
                index,
                value: v as f32,
            });
        }
    }
    Ok(())
}

/// `v` if finite, else a [`SalienceError::NonFinite`] saying that `what`
/// overflowed f64 (its inputs were finite).
pub(crate) fn overflow_checked(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(SalienceError::NonFinite {
            context: format!("{what} (overflow: the result exceeds f64's range)"),
            index: 0,
            value: v as f32,
        })
    }
}

/// Adds one row: a = γ1-row applied to each method, y = target.
/// Only the upper triangle of the Gram is written (mirrored at the end).
fn add_row(a: &[f64], y: f64, out: &mut SampleContribution) {
    let k = a.len();
    for (i, &ai) in a.iter().enumerate() {
        let ri = ai - y;
        for (l, &al) in a.iter().enumerate().skip(i) {
            out.gram[i * k + l] += ri * (al - y);
        }
        out.cross[i] += ri * y;
    }
    out.target_sq += y * y;
}

/// Identity query: residual r_i[t] = φ_i[t] − y[t], processed in feature
/// blocks so that scratch memory stays `k × BLOCK`.
fn identity_blocks(
    phi: &[f32],
    k: usize,
    d: usize,
    out: &mut SampleContribution,
    target: impl Fn(usize) -> f64,
) {
    let mut r = vec![0.0f64; k * BLOCK];
    let mut y = vec![0.0f64; BLOCK];
    let mut start = 0;
    while start < d {
        let b = BLOCK.min(d - start);
        for (off, yv) in y[..b].iter_mut().enumerate() {
            *yv = target(start + off);
        }
        for i in 0..k {
            let src = &phi[i * d + start..i * d + start + b];
            let dst = &mut r[i * BLOCK..i * BLOCK + b];
            for ((dv, &s), &yv) in dst.iter_mut().zip(src).zip(&y[..b]) {
                *dv = f64::from(s) - yv;
            }
        }
        block_update(&r, &y[..b], k, b, out);
        start += b;
    }
}

/// Sensitivity query: residual r_i[t] = φ_i[t] − φ′_i[t], target 0.
fn diff_blocks(phi: &[f32], pert: &[f32], k: usize, d: usize, out: &mut SampleContribution) {
    let mut r = vec![0.0f64; k * BLOCK];
    let zeros = [0.0f64; BLOCK];
    let mut start = 0;
    while start < d {
        let b = BLOCK.min(d - start);
        for i in 0..k {
            let s1 = &phi[i * d + start..i * d + start + b];
            let s2 = &pert[i * d + start..i * d + start + b];
            let dst = &mut r[i * BLOCK..i * BLOCK + b];
            for ((dv, &a), &p) in dst.iter_mut().zip(s1).zip(s2) {
                *dv = f64::from(a) - f64::from(p);
            }
        }
        block_update(&r, &zeros[..b], k, b, out);
        start += b;
    }
}

fn block_update(r: &[f64], y: &[f64], k: usize, b: usize, out: &mut SampleContribution) {
    for i in 0..k {
        let ri = &r[i * BLOCK..i * BLOCK + b];
        for l in i..k {
            let rl = &r[l * BLOCK..l * BLOCK + b];
            out.gram[i * k + l] += dot(ri, rl);
        }
        out.cross[i] += dot(ri, y);
    }
    out.target_sq += dot(y, y);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four independent accumulators: vectorizes and is deterministic.
    let mut acc = [0.0f64; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for j in 0..4 {
            acc[j] += a[4 * c + j] * b[4 * c + j];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for j in 4 * chunks..a.len() {
        s += a[j] * b[j];
    }
    s
}

fn mirror_upper(g: &mut [f64], k: usize) {
    for i in 0..k {
        for l in 0..i {
            g[i * k + l] = g[l * k + i];
        }
    }
}

/// Checks that a Gram matrix is square, non-empty and finite; returns k.
pub(crate) fn check_gram_matrix(g: ArrayView2<'_, f64>) -> Result<usize> {
    let (r, c) = g.dim();
    if r != c {
        return Err(SalienceError::shape(
            "Gram matrix",
            "[k, k] (square)",
            &[r, c],
        ));
    }
    if r == 0 {
        return Err(SalienceError::Empty(
            "Gram matrix with k = 0 methods".into(),
        ));
    }
    check_finite_f64(g.iter().copied(), "Gram matrix")?;
    Ok(r)
}
