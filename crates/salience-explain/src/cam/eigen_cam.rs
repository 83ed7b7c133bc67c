// Hand-written here: the leading eigenpair (tridiagonalisation, bisection, inverse iteration), 83 µs / 113 µs against nalgebra SymmetricEigen's 218 µs / 446 µs at n = 49 / 64 (benches/linalg.rs leading_eigen, 2-vCPU shared; docs/performance.md).
//! EigenCAM (Muhammad & Yeasin 2020): the projection of a layer's
//! activations on their first principal component. Target-independent and
//! gradient-free.
//!
//! For one input with activations `A` `[K, h, w]`, let `X` be the
//! `[h·w, K]` matrix whose rows are pixels. With centering (the default,
//! pytorch-grad-cam ≥ 1.4: each channel's spatial mean is subtracted
//! first; the paper does not center), `X ← X − 1 μᵀ`. The map is `X v₁`,
//! `v₁` the leading right singular vector of `X`, then ReLU (as
//! pytorch-grad-cam's `BaseCAM`), upsampled to the input (see
//! [`crate::cam`]).
//!
//! # Sign convention
//! A singular vector is defined up to sign (pytorch-grad-cam inherits
//! LAPACK's arbitrary choice). Here the sign is fixed so that the map
//! correlates non-negatively with the channel-summed activation:
//! `⟨X v₁, X 1⟩ ≥ 0`, i.e. `σ₁² ⟨v₁, 1⟩ ≥ 0` (for uncentred non-negative
//! activations this is the Perron–Frobenius sign, `v₁ ≥ 0`); on a tie the
//! first non-zero entry of the map is positive.
//!
//! # Computation
//! Per chunk of inputs, on the model's device: the activations are centred
//! and the smaller Gram matrix of every input is formed in one batched f32
//! matmul (`X Xᵀ`, `[K, K]`, or `Xᵀ X`, `[h·w, h·w]` when `h·w ≤ K`);
//! only these small matrices go to the host. There the leading eigenpair
//! of each is found deterministically in f64 (Householder
//! tridiagonalisation, bisection for the largest eigenvalue, inverse
//! iteration for its eigenvector, with a residual check and nalgebra's
//! `SymmetricEigen` as the fallback); the eigenvectors go back for one batched
//! projection `X v₁` (or `X v₁ = σ₁ u₁` in the `h·w ≤ K` case). The
//! Gram matrices are f32, the activations' own precision (pytorch-grad-cam's
//! SVD runs in float32 as well): on 32 channels of 14 × 14 the maps agree
//! with an f64 power-iteration reference to 2e-7 of their largest value
//! (unit test, tolerance 1e-5); f64 Gram matrices cost ≈ 25 % more CPU time.

use crate::cam::image_chunk;
use crate::cam::{
    check_finite_slice, check_layer, layer_activations, map_image_chunks, upsample_maps,
    validate_images,
};
use crate::model::convert::{candle_error, tensor_to_vec};
use crate::model::split::LayerSplit;
use candle_core::{DType, Tensor};
use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};

/// Configuration of [`EigenCam`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EigenCamConfig {
    /// The layer whose activations are projected.
    pub layer: String,
    /// Subtract each channel's spatial mean before the SVD
    /// (pytorch-grad-cam). Default `true`; `false` is the paper's form.
    pub center: bool,
    /// Apply a final ReLU (pytorch-grad-cam). Default `true`.
    pub relu: bool,
    /// Inputs per forward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl EigenCamConfig {
    /// pytorch-grad-cam's EigenCAM at `layer` (centred, ReLU).
    ///
    /// ```
    /// assert!(salience_explain::EigenCamConfig::new("conv2").center);
    /// ```
    pub fn new(layer: &str) -> Self {
        EigenCamConfig {
            layer: layer.to_string(),
            center: true,
            relu: true,
            batch_size: BatchSize::Auto,
        }
    }

    /// pytorch-grad-cam's EigenCAM at `layer`: the same as [`Self::new`].
    ///
    /// ```
    /// use salience_explain::EigenCamConfig;
    /// assert_eq!(EigenCamConfig::pytorch_grad_cam("c"), EigenCamConfig::new("c"));
    /// ```
    pub fn pytorch_grad_cam(layer: &str) -> Self {
        Self::new(layer)
    }

    /// Muhammad & Yeasin (2020)'s form: no centering (ReLU kept).
    ///
    /// ```
    /// assert!(!salience_explain::EigenCamConfig::muhammad2020("conv2").center);
    /// ```
    pub fn muhammad2020(layer: &str) -> Self {
        Self::paper(layer)
    }

    /// The paper's form (Muhammad & Yeasin 2020, [`Self::muhammad2020`]):
    /// no centering (ReLU kept).
    ///
    /// ```
    /// assert!(!salience_explain::EigenCamConfig::paper("conv2").center);
    /// ```
    pub fn paper(layer: &str) -> Self {
        EigenCamConfig {
            center: false,
            ..Self::new(layer)
        }
    }
}

/// The EigenCAM explainer. Deterministic; ignores targets (they are still
/// validated) and seeds.
///
/// ```
/// use candle_core::Tensor;
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{EigenCam, EigenCamConfig, SequentialClassifier};
/// let m = SequentialClassifier::new(1)
///     .push("features", |x: &Tensor| Ok(x.clone()))
///     .push("head", |a: &Tensor| a.flatten_from(1)?.sum_keepdim(1));
/// // One channel: the uncentred projection is the activation itself.
/// let x = ndarray::Array4::from_shape_vec((1, 1, 1, 3), vec![1.0f32, 2.0, 0.0])?.into_dyn();
/// let e = EigenCam::with_config(&m, EigenCamConfig::paper("features"));
/// let a = e.explain(x.view(), &[0], Seeds::base(0))?;
/// assert_eq!(a.view().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EigenCam<M> {
    model: M,
    config: EigenCamConfig,
}

impl<M: LayerSplit> EigenCam<M> {
    /// pytorch-grad-cam's EigenCAM at `layer`.
    pub fn new(model: M, layer: &str) -> Self {
        Self::with_config(model, EigenCamConfig::new(layer))
    }

    /// EigenCAM with `config`.
    pub fn with_config(model: M, config: EigenCamConfig) -> Self {
        EigenCam { model, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{EigenCam, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert!(EigenCam::new(m, "fc").config().relu);
    /// ```
    pub fn config(&self) -> &EigenCamConfig {
        &self.config
    }
}

/// The first-principal-component projection of one sample's `[k, hw]`
/// activations (channel-major, as the layer returns them), length `hw`,
/// before the ReLU. See the module docs for the sign convention.
///
/// ```
/// use salience_explain::cam::eigen_cam::principal_projection;
/// // Two channels, A₁ = 2·A₀ (rank one after centering): v₁ ∝ (1, 2).
/// let a = [1.0f32, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0];
/// let p = principal_projection(&a, 2, 4, true);
/// let s5 = 5f64.sqrt();
/// for (got, want) in p.iter().zip([-1.5 * s5, -0.5 * s5, 0.5 * s5, 1.5 * s5]) {
///     assert!((got - want).abs() < 1e-9);
/// }
/// ```
pub fn principal_projection(acts: &[f32], k: usize, hw: usize, center: bool) -> Vec<f64> {
    // X: [k, hw] row-major (channel-major, as given), f64, centred.
    let mut x = vec![0f64; hw * k];
    for (x_c, a_c) in x.chunks_exact_mut(hw).zip(acts.chunks_exact(hw).take(k)) {
        let mean = if center {
            a_c.iter().map(|&v| v as f64).sum::<f64>() / hw as f64
        } else {
            0.0
        };
        for (o, &v) in x_c.iter_mut().zip(a_c) {
            *o = v as f64 - mean;
        }
    }
    // Row sums of the [hw, k] matrix X (the channel sum per pixel).
    let mut row_sums = vec![0f64; hw];
    for x_c in x.chunks_exact(hw) {
        row_sums.iter_mut().zip(x_c).for_each(|(s, v)| *s += v);
    }
    let mut p = if hw <= k {
        // u₁ of X Xᵀ ([hw, hw]); X v₁ = σ₁ u₁ = sqrt(λ₁) u₁.
        let mut g = vec![0f64; hw * hw];
        for x_c in x.chunks_exact(hw) {
            for (i, &a) in x_c.iter().enumerate() {
                for (j, &b) in x_c.iter().enumerate() {
                    g[i * hw + j] += a * b;
                }
            }
        }
        let (lambda, u) = leading_eigen(&g, hw);
        let s = lambda.max(0.0).sqrt();
        u.into_iter().map(|v| v * s).collect::<Vec<_>>()
    } else {
        // v₁ of Xᵀ X ([k, k]); the map is X v₁.
        let mut g = vec![0f64; k * k];
        for (a, x_a) in x.chunks_exact(hw).enumerate() {
            for (b, x_b) in x.chunks_exact(hw).enumerate() {
                g[a * k + b] = dot(x_a, x_b);
            }
        }
        let (_, v) = leading_eigen(&g, k);
        let mut p = vec![0f64; hw];
        for (x_c, &vc) in x.chunks_exact(hw).zip(&v) {
            p.iter_mut().zip(x_c).for_each(|(o, a)| *o += vc * a);
        }
        p
    };
    let corr = dot(&p, &row_sums);
    fix_sign(&mut p, corr);
    p
}

/// Flips `p` so that `corr = ⟨p, X 1⟩ ≥ 0`; when `corr` is zero to
/// rounding, so that the first non-zero entry of `p` is positive.
fn fix_sign(p: &mut [f64], corr: f64) {
    let scale = p.iter().fold(0f64, |m, v| m.max(v.abs()));
    let flip = if corr.abs() > 1e-12 * scale * scale.max(1.0) * (p.len() as f64) {
        corr < 0.0
    } else {
        p.iter()
            .find(|v| v.abs() > 1e-12 * scale)
            .is_some_and(|v| *v < 0.0)
    };
    if flip {
        p.iter_mut().for_each(|v| *v = -*v);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four partial sums (vectorises, and is deterministic).
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for t in 0..4 {
            acc[t] += x[t] * y[t];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// [`leading_eigen`] of a row-major `[n, n]` matrix, exposed only so that
/// `benches/linalg.rs` can time it against nalgebra; not part of the API.
#[doc(hidden)]
pub fn leading_eigen_for_bench(g: &[f64], n: usize) -> Result<(f64, Vec<f64>)> {
    if g.len() != n * n {
        return Err(SalienceError::shape(
            "Gram matrix",
            format!("[{n}, {n}]"),
            &[g.len()],
        ));
    }
    Ok(leading_eigen(g, n))
}

/// The largest eigenvalue and its unit eigenvector of a symmetric PSD
/// `[n, n]` matrix (deterministic). A zero (or non-finite) matrix gives
/// `(0, 0-vector)`.
///
/// Householder tridiagonalisation `G = Q T Qᵀ` (`≈ n³` flops), the largest
/// eigenvalue of `T` by Sturm-sequence bisection to full precision, its
/// eigenvector by inverse iteration on `T − λ I` (tridiagonal LU with
/// partial pivoting), mapped back by `Q`. The result is accepted when its
/// residual `‖G v − λ v‖` is below `1e-10 · tr G`; otherwise (it should not
/// happen) nalgebra's slower `SymmetricEigen` decides.
fn leading_eigen(g: &[f64], n: usize) -> (f64, Vec<f64>) {
    let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
    if n == 0 || g.len() != n * n || trace.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return (0.0, vec![0.0; n]);
    }
    if let Some(mut v) = tridiagonal_leading(g, n) {
        if normalize(&mut v) {
            let gv = matvec(g, &v, n);
            let lambda = dot(&gv, &v);
            let res = gv
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - lambda * b).powi(2))
                .sum::<f64>()
                .sqrt();
            if res <= 1e-10 * trace {
                return (lambda, v);
            }
        }
    }
    eigen_fallback(g, n)
}

/// The leading eigenvector (not normalised) of the symmetric `g` by
/// tridiagonalisation, bisection and inverse iteration; `None` if a step
/// is not finite.
fn tridiagonal_leading(g: &[f64], n: usize) -> Option<Vec<f64>> {
    if n == 1 {
        return Some(vec![1.0]);
    }
    let mut a = g.to_vec();
    let mut e = vec![0f64; n - 1];
    // Householder reflectors H_k = I − β v vᵀ acting on rows/cols k+1…n−1.
    let mut refl: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n.saturating_sub(2));
    for k in 0..n - 2 {
        let m = n - k - 1;
        let mut v: Vec<f64> = (k + 1..n).map(|i| a[i * n + k]).collect();
        let norm = dot(&v, &v).sqrt();
        let tail = dot(&v[1..], &v[1..]);
        if tail == 0.0 {
            // Already tridiagonal in this column.
            e[k] = v[0];
            refl.push((Vec::new(), 0.0));
            continue;
        }
        let s = if v[0] >= 0.0 { -norm } else { norm };
        v[0] -= s;
        let beta = 2.0 / dot(&v, &v);
        // p = β A₂₂ v, w = p − (β pᵀv / 2) v, A₂₂ ← A₂₂ − v wᵀ − w vᵀ.
        let off = k + 1;
        let mut p: Vec<f64> = (0..m)
            .map(|i| beta * dot(&a[(off + i) * n + off..(off + i) * n + n], &v))
            .collect();
        let kf = beta * dot(&p, &v) / 2.0;
        p.iter_mut().zip(&v).for_each(|(pi, vi)| *pi -= kf * vi);
        for i in 0..m {
            let (vi, wi) = (v[i], p[i]);
            let row = &mut a[(off + i) * n + off..(off + i) * n + n];
            for ((r, vj), wj) in row.iter_mut().zip(&v).zip(&p) {
                *r -= vi * wj + wi * vj;
            }
        }
        e[k] = s;
        refl.push((v, beta));
    }
    e[n - 2] = a[(n - 1) * n + n - 2];
    let d: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    if !d.iter().chain(&e).all(|v| v.is_finite()) {
        return None;
    }
    let lambda = tridiagonal_max_eigenvalue(&d, &e);
    let mut y = tridiagonal_inverse_iteration(&d, &e, lambda)?;
    // Back-transform: v = H₀ H₁ ⋯ y.
    for (k, (v, beta)) in refl.iter().enumerate().rev() {
        if v.is_empty() {
            continue;
        }
        let seg = &mut y[k + 1..];
        let t = beta * dot(v, seg);
        seg.iter_mut().zip(v).for_each(|(yi, vi)| *yi -= t * vi);
    }
    y.iter().all(|v| v.is_finite()).then_some(y)
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with
/// diagonal `d` and off-diagonal `e`, by Sturm-sequence bisection from the
/// Gershgorin bound to full precision.
fn tridiagonal_max_eigenvalue(d: &[f64], e: &[f64]) -> f64 {
    let n = d.len();
    let off = |i: usize| -> f64 {
        let lo = if i > 0 { e[i - 1].abs() } else { 0.0 };
        let hi = if i + 1 < n { e[i].abs() } else { 0.0 };
        lo + hi
    };
    let mut hi = (0..n).map(|i| d[i] + off(i)).fold(f64::MIN, f64::max);
    let mut lo = (0..n).map(|i| d[i] - off(i)).fold(f64::MAX, f64::min);
    let emax2 = e.iter().fold(0f64, |m, v| m.max(v * v));
    let pivmin = f64::MIN_POSITIVE * emax2.max(1.0);
    // Number of eigenvalues below x.
    let below = |x: f64| -> usize {
        let mut count = 0;
        let mut q = 1.0;
        for i in 0..n {
            let e2 = if i > 0 { e[i - 1] * e[i - 1] } else { 0.0 };
            q = d[i] - x - if i > 0 { e2 / q } else { 0.0 };
            if q.abs() <= pivmin {
                q = -pivmin;
            }
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    let width = (hi - lo).abs().max(hi.abs()).max(f64::MIN_POSITIVE);
    hi += width * 1e-14 + pivmin;
    lo -= width * 1e-14 + pivmin;
    for _ in 0..256 {
        if hi - lo <= 2.0 * f64::EPSILON * lo.abs().max(hi.abs()) + pivmin {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if below(mid) == n {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// An eigenvector of the symmetric tridiagonal `(d, e)` for the eigenvalue
/// `lambda` (accurate to rounding): three steps of inverse iteration with
/// a tridiagonal LU with partial pivoting (LAPACK's `dgttrf` scheme), tiny
/// pivots replaced by `ε‖T‖`.
fn tridiagonal_inverse_iteration(d: &[f64], e: &[f64], lambda: f64) -> Option<Vec<f64>> {
    let n = d.len();
    let tnorm = d
        .iter()
        .map(|v| v.abs())
        .chain(e.iter().map(|v| 2.0 * v.abs()))
        .fold(0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let tiny = f64::EPSILON * tnorm;
    let mut dl = e.to_vec();
    let mut du = e.to_vec();
    let mut dd: Vec<f64> = d.iter().map(|v| v - lambda).collect();
    let mut du2 = vec![0f64; n.saturating_sub(2)];
    let mut swap = vec![false; n - 1];
    for i in 0..n - 1 {
        if dd[i].abs() >= dl[i].abs() {
            let fact = if dd[i] != 0.0 { dl[i] / dd[i] } else { 0.0 };
            dl[i] = fact;
            dd[i + 1] -= fact * du[i];
        } else {
            let fact = dd[i] / dl[i];
            dd[i] = dl[i];
            dl[i] = fact;
            let temp = du[i];
            du[i] = dd[i + 1];
            dd[i + 1] = temp - fact * dd[i + 1];
            if i + 2 < n {
                du2[i] = du[i + 1];
                du[i + 1] *= -fact;
            }
            swap[i] = true;
        }
    }
    for v in dd.iter_mut() {
        if v.abs() < tiny {
            *v = if *v < 0.0 { -tiny } else { tiny };
        }
    }
    // A fixed start with no special structure.
    let mut b: Vec<f64> = (0..n)
        .map(|i| 1.0 + 0.5 * ((i as f64 + 1.0) * 0.618_033_988_749_895).fract())
        .collect();
    for _ in 0..3 {
        for i in 0..n - 1 {
            if swap[i] {
                let t = b[i];
                b[i] = b[i + 1];
                b[i + 1] = t - dl[i] * b[i];
            } else {
                b[i + 1] -= dl[i] * b[i];
            }
        }
        b[n - 1] /= dd[n - 1];
        b[n - 2] = (b[n - 2] - du[n - 2] * b[n - 1]) / dd[n - 2];
        for i in (0..n.saturating_sub(2)).rev() {
            b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / dd[i];
        }
        if !normalize(&mut b) {
            return None;
        }
    }
    Some(b)
}

/// The fallback: nalgebra's symmetric eigendecomposition (`(0, 0-vector)`
/// should it not converge).
fn eigen_fallback(g: &[f64], n: usize) -> (f64, Vec<f64>) {
    // `g` is symmetric: its row-major slice is its column-major one.
    let g = DMatrix::from_column_slice(n, n, g);
    let Some(e) = SymmetricEigen::try_new(g, f64::EPSILON, 1000 * n) else {
        return (0.0, vec![0.0; n]);
    };
    let i = e.eigenvalues.imax();
    (
        e.eigenvalues[i],
        e.eigenvectors.column(i).iter().copied().collect(),
    )
}

fn matvec(m: &[f64], v: &[f64], n: usize) -> Vec<f64> {
    m.chunks_exact(n).map(|row| dot(row, v)).collect()
}

/// Scales `v` to unit norm; false if it is zero or not finite.
fn normalize(v: &mut [f64]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// The EigenCAM maps (before upsampling) of one chunk of activations
/// `a` `[len, k, h, w]` on its device, flat `[len, h·w]`; see the
/// [module docs](self).
fn chunk_maps(a: &Tensor, (k, hw): (usize, usize), center: bool, relu: bool) -> Result<Vec<f32>> {
    let len = a.dims().first().copied().unwrap_or(0);
    let primal = hw > k;
    let m = if primal { k } else { hw };
    let (x, g) = (|| -> candle_core::Result<(Tensor, Vec<f64>)> {
        let x = a.to_dtype(DType::F32)?.reshape((len, k, hw))?;
        let x = if center {
            x.broadcast_sub(&x.mean_keepdim(2)?)?
        } else {
            x
        };
        let xt = x.transpose(1, 2)?;
        let g = if primal {
            x.matmul(&xt)?
        } else {
            xt.matmul(&x)?
        };
        let g = g.flatten_all()?.to_vec1::<f32>()?;
        Ok((x, g.into_iter().map(f64::from).collect()))
    })()
    .map_err(candle_error)?;
    if let Some(index) = g.iter().position(|v| !v.is_finite()) {
        // Locate the offending activation for the error message.
        check_finite_slice(&tensor_to_vec(a)?, "activations of layer")?;
        return Err(SalienceError::NonFinite {
            context: "EigenCAM Gram matrix (activations too large)".into(),
            index,
            value: f32::INFINITY,
        });
    }
    let mut vecs = Vec::with_capacity(len * m);
    let mut corr = Vec::with_capacity(len);
    for gj in g.chunks_exact(m * m) {
        let (lambda, mut v) = leading_eigen(gj, m);
        if primal {
            // ⟨X v, X 1⟩ = vᵀ (XᵀX) 1 (X here [hw, k]).
            let g1: Vec<f64> = gj.chunks_exact(m).map(|row| row.iter().sum()).collect();
            corr.push(dot(&v, &g1));
        } else {
            // X v₁ = σ₁ u₁.
            let s = lambda.max(0.0).sqrt();
            v.iter_mut().for_each(|x| *x *= s);
        }
        vecs.extend(v);
    }
    let (mut p, row_sums) = (|| -> candle_core::Result<(Vec<f64>, Vec<f64>)> {
        if primal {
            let v: Vec<f32> = vecs.iter().map(|&u| u as f32).collect();
            let v = Tensor::from_vec(v, (len, 1, k), x.device())?;
            let p = v.matmul(&x)?.flatten_all()?.to_vec1::<f32>()?;
            Ok((p.into_iter().map(f64::from).collect(), Vec::new()))
        } else {
            let r = x.sum(1)?.flatten_all()?.to_vec1::<f32>()?;
            Ok((vecs, r.into_iter().map(f64::from).collect()))
        }
    })()
    .map_err(candle_error)?;
    let mut out = Vec::with_capacity(len * hw);
    for (j, pj) in p.chunks_exact_mut(hw).enumerate() {
        let c = if primal {
            corr.get(j).copied().unwrap_or(0.0)
        } else {
            dot(pj, row_sums.get(j * hw..(j + 1) * hw).unwrap_or(&[]))
        };
        fix_sign(pj, c);
        out.extend(pj.iter().map(|&v| if relu { v.max(0.0) } else { v } as f32));
    }
    Ok(out)
}

impl<M: LayerSplit> Explainer for EigenCam<M> {
    fn name(&self) -> &str {
        "eigen_cam"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let model = &self.model;
        let info = validate_images(&inputs, targets, model.num_classes())?;
        check_layer(model, &self.config.layer)?;
        let bs = image_chunk(model, self.config.batch_size, &info, false)?;
        let out = map_image_chunks(&inputs, &info, bs, model.device(), |x, rows| {
            let (a, (k, h, w)) = layer_activations(model, x, &self.config.layer)?;
            let maps = chunk_maps(&a, (k, h * w), self.config.center, self.config.relu)?;
            upsample_maps(maps, rows.len(), (h, w), (info.h, info.w), model.device())
        })?;
        let a = ArrayD::from_shape_vec(IxDyn(&[info.n, info.h, info.w]), out)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform values in [−0.5, 0.5) (xorshift).
    fn noise(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// The independent reference (the library's fallback before issue 20.7):
    /// power iteration on repeated squares of `G / tr G`.
    fn power_leading(g: &[f64], n: usize, trace: f64) -> (f64, Vec<f64>) {
        // Widen the gap: M = (G / tr G)^(2^s), bounded cost n³ per squaring.
        let squarings = if n <= 128 {
            6
        } else if n <= 512 {
            3
        } else {
            0
        };
        let mut m: Vec<f64> = g.iter().map(|v| v / trace).collect();
        for _ in 0..squarings {
            let sq = crate::cam::matmul_skip_zeros(&m, &m, (n, n, n));
            let t: f64 = (0..n).map(|i| sq[i * n + i]).sum();
            if t.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                break;
            }
            m = sq.into_iter().map(|v| v / t).collect();
        }
        // Start from the column with the largest diagonal.
        let j0 = (0..n)
            .max_by(|&a, &b| m[a * n + a].total_cmp(&m[b * n + b]))
            .unwrap_or(0);
        let mut v: Vec<f64> = (0..n).map(|i| m[i * n + j0]).collect();
        normalize(&mut v);
        for _ in 0..2_000 {
            let mut nv = matvec(&m, &v, n);
            if !normalize(&mut nv) {
                break;
            }
            let diff: f64 = nv
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = nv;
            if diff < 1e-12 {
                break;
            }
        }
        // Rayleigh quotient on the original matrix.
        let gv = matvec(g, &v, n);
        let lambda: f64 = gv.iter().zip(&v).map(|(a, b)| a * b).sum();
        (lambda, v)
    }

    /// A deterministic pseudo-random symmetric PSD matrix `Bᵀ B`.
    fn psd(n: usize, rank: usize, seed: u64) -> Vec<f64> {
        let b = noise(rank * n, seed);
        let mut g = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..rank).map(|r| b[r * n + i] * b[r * n + j]).sum();
            }
        }
        g
    }

    fn check_pair(g: &[f64], n: usize, lambda: f64, v: &[f64]) {
        let gv = matvec(g, v, n);
        let res: f64 = gv
            .iter()
            .zip(v)
            .map(|(a, b)| (a - lambda * b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(res < 1e-10 * lambda.abs().max(1e-300), "residual {res}");
        assert!((dot(v, v) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn tridiagonal_path_finds_the_top_eigenpair() {
        for (n, rank) in [
            (2, 2),
            (3, 1),
            (5, 5),
            (17, 40),
            (32, 196),
            (64, 30),
            (49, 49),
        ] {
            let g = psd(n, rank, n as u64 * 31 + rank as u64);
            let v = tridiagonal_leading(&g, n).map(|mut v| {
                assert!(normalize(&mut v));
                v
            });
            let v = v.unwrap();
            let lambda = dot(&matvec(&g, &v, n), &v);
            check_pair(&g, n, lambda, &v);
            // The largest: agrees with the power-iteration fallback.
            let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
            let (lp, vp) = power_leading(&g, n, trace);
            assert!((lp - lambda).abs() <= 1e-10 * lp, "{n}: {lp} vs {lambda}");
            let align = dot(&v, &vp).abs();
            assert!((align - 1.0).abs() < 1e-8, "{n}: |⟨v, v_power⟩| = {align}");
            // The library's fallback (nalgebra) finds the same pair.
            let (lf, vf) = eigen_fallback(&g, n);
            check_pair(&g, n, lf, &vf);
            assert!((lf - lambda).abs() <= 1e-10 * lf, "{n}: {lf} vs {lambda}");
            assert!((dot(&v, &vf).abs() - 1.0).abs() < 1e-8, "{n}");
        }
    }

    #[test]
    fn leading_eigen_special_matrices() {
        // Diagonal (already tridiagonal, zero off-diagonal): e_argmax.
        let g = [1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0];
        let (l, v) = leading_eigen(&g, 3);
        assert!((l - 3.0).abs() < 1e-12);
        assert!((v[1].abs() - 1.0).abs() < 1e-12 && v[0].abs() < 1e-12 && v[2].abs() < 1e-12);
        // Zero and empty matrices.
        assert_eq!(leading_eigen(&[0.0; 4], 2), (0.0, vec![0.0, 0.0]));
        assert_eq!(leading_eigen(&[], 0), (0.0, vec![]));
        // 1 × 1.
        assert_eq!(leading_eigen(&[4.0], 1), (4.0, vec![1.0]));
        // Rank one: v ∝ (1, 2, 2) / 3, λ = 9.
        let u = [1.0, 2.0, 2.0];
        let g: Vec<f64> = (0..9).map(|i| u[i / 3] * u[i % 3]).collect();
        let (l, v) = leading_eigen(&g, 3);
        assert!((l - 9.0).abs() < 1e-12);
        for (a, b) in v.iter().zip(u) {
            assert!((a.abs() - b / 3.0).abs() < 1e-12);
        }
    }

    /// The previous host algorithm (f64 Gram, power iteration on repeated
    /// squares, projection, sign, ReLU) on one sample `[k, hw]`.
    fn power_reference(acts: &[f32], k: usize, hw: usize) -> Vec<f64> {
        let x: Vec<f64> = acts
            .chunks_exact(hw)
            .flat_map(|a| {
                let mean = a.iter().map(|&v| v as f64).sum::<f64>() / hw as f64;
                a.iter().map(move |&v| v as f64 - mean)
            })
            .collect();
        let primal = hw > k;
        let m = if primal { k } else { hw };
        let mut g = vec![0f64; m * m];
        for i in 0..m {
            for j in 0..m {
                g[i * m + j] = if primal {
                    (0..hw).map(|t| x[i * hw + t] * x[j * hw + t]).sum()
                } else {
                    (0..k).map(|c| x[c * hw + i] * x[c * hw + j]).sum()
                };
            }
        }
        let trace: f64 = (0..m).map(|i| g[i * m + i]).sum();
        let (l, v) = power_leading(&g, m, trace);
        let mut p: Vec<f64> = if primal {
            (0..hw)
                .map(|t| (0..k).map(|c| x[c * hw + t] * v[c]).sum())
                .collect()
        } else {
            v.iter().map(|u| u * l.sqrt()).collect()
        };
        let corr: f64 = (0..hw)
            .map(|t| p[t] * (0..k).map(|c| x[c * hw + t]).sum::<f64>())
            .sum();
        if corr < 0.0 {
            p.iter_mut().for_each(|v| *v = -*v);
        }
        p.into_iter().map(|v| v.max(0.0)).collect()
    }

    #[test]
    fn batched_device_path_matches_the_power_iteration_reference() {
        // CNN-like non-negative activations: 32 channels of 14 × 14 (Gram
        // [K, K]) and 12 channels of 2 × 2 (Gram [h·w, h·w]).
        for (n, k, h, w) in [(3usize, 32usize, 14usize, 14usize), (2, 12, 2, 2)] {
            let acts: Vec<f32> = noise(n * k * h * w, 7 + k as u64)
                .iter()
                .enumerate()
                .map(|(i, v)| (v * 10.0 + (i % 5) as f64 * 0.3).max(0.0) as f32)
                .collect();
            let a =
                Tensor::from_vec(acts.clone(), (n, k, h, w), &candle_core::Device::Cpu).unwrap();
            let got = chunk_maps(&a, (k, h * w), true, true).unwrap();
            let s = k * h * w;
            for j in 0..n {
                let want = power_reference(&acts[j * s..(j + 1) * s], k, h * w);
                let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
                assert!(scale > 0.0);
                for (g, w) in got[j * h * w..(j + 1) * h * w].iter().zip(&want) {
                    assert!((*g as f64 - w).abs() <= 1e-5 * scale, "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn non_finite_activations_are_typed_errors() {
        let a = Tensor::from_vec(
            vec![1.0f32, f32::NAN, 0.5, 2.0],
            (1, 2, 1, 2),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        assert!(matches!(
            chunk_maps(&a, (2, 2), true, true),
            Err(SalienceError::NonFinite { .. })
        ));
    }
}
