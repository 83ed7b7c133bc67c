//! The hand-written dense linear algebra the library used before issue
//! 20.7 (verbatim copies at commit 4c2de7e of
//! the routines nalgebra replaced; the ones kept are called in the library), kept here only so that
//! `benches/linalg.rs` can time it against nalgebra in the same run.
#![allow(dead_code, clippy::all)]

/// salience-optimize qp.rs
pub mod qp {
    use ndarray::Array2;

    /// Lower Cholesky factor, or None if `a` is not (numerically) positive definite.
    pub fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
        let n = a.nrows();
        let mut l = Array2::<f64>::zeros((n, n));
        for j in 0..n {
            let mut d = a[[j, j]];
            for t in 0..j {
                d -= l[[j, t]] * l[[j, t]];
            }
            if d.is_nan() || d <= 0.0 || !d.is_finite() {
                return None;
            }
            let dj = d.sqrt();
            l[[j, j]] = dj;
            for i in j + 1..n {
                let mut v = a[[i, j]];
                for t in 0..j {
                    v -= l[[i, t]] * l[[j, t]];
                }
                l[[i, j]] = v / dj;
            }
        }
        Some(l)
    }

    pub fn chol_solve(l: &Array2<f64>, b: &[f64]) -> Vec<f64> {
        let n = b.len();
        let mut y = b.to_vec();
        for i in 0..n {
            for t in 0..i {
                y[i] -= l[[i, t]] * y[t];
            }
            y[i] /= l[[i, i]];
        }
        for i in (0..n).rev() {
            for t in i + 1..n {
                y[i] -= l[[t, i]] * y[t];
            }
            y[i] /= l[[i, i]];
        }
        y
    }

    /// Minimizes vᵀP_SS v s.t. c_Sᵀv = 1: v = P_SS⁻¹c_S / (c_Sᵀ P_SS⁻¹ c_S).
    pub fn solve_on_support(p: &Array2<f64>, c: &[f64], idx: &[usize]) -> Option<Vec<f64>> {
        let n = idx.len();
        let sub = Array2::from_shape_fn((n, n), |(a, b)| p[[idx[a], idx[b]]]);
        let l = cholesky(&sub)?;
        let rhs: Vec<f64> = idx.iter().map(|&i| c[i]).collect();
        let mut u = chol_solve(&l, &rhs);
        // One step of iterative refinement.
        let r: Vec<f64> = (0..n)
            .map(|a| rhs[a] - (0..n).map(|b| sub[[a, b]] * u[b]).sum::<f64>())
            .collect();
        let du = chol_solve(&l, &r);
        u.iter_mut().zip(&du).for_each(|(a, b)| *a += b);
        let s: f64 = u.iter().zip(&rhs).map(|(u, c)| u * c).sum();
        if !(s.is_finite() && s > 0.0) {
            return None;
        }
        Some(u.into_iter().map(|v| v / s).collect())
    }
}

/// salience-explain linear_fit.rs
pub mod linear_fit {
    pub const PINV_RTOL: f64 = 1e-12;

    /// Minimum-norm solution from a Jacobi eigendecomposition (eigenvalues
    /// below `PINV_RTOL` of the largest are dropped).
    pub fn eigen_pinv_solve(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
        let (vals, vecs) = jacobi_eigen(a, m);
        let vmax = vals.iter().fold(0f64, |acc, v| acc.max(v.abs()));
        let tol = vmax * PINV_RTOL;
        let mut beta = vec![0f64; m];
        for i in 0..m {
            if vals[i] > tol {
                // vecs column i
                let proj: f64 = (0..m).map(|r| vecs[r * m + i] * b[r]).sum::<f64>() / vals[i];
                for r in 0..m {
                    beta[r] += proj * vecs[r * m + i];
                }
            }
        }
        beta
    }

    /// Cholesky solve of a symmetric matrix; `None` if a pivot is not clearly
    /// positive (relative 1e-10 of the largest diagonal entry).
    pub fn cholesky_solve(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
        let dmax = (0..m).map(|j| a[j * m + j]).fold(0f64, f64::max);
        if dmax <= 0.0 {
            return None;
        }
        let mut l = vec![0f64; m * m];
        for j in 0..m {
            let mut d = a[j * m + j];
            for k in 0..j {
                d -= l[j * m + k] * l[j * m + k];
            }
            if d <= dmax * 1e-10 {
                return None;
            }
            let dj = d.sqrt();
            l[j * m + j] = dj;
            for i in j + 1..m {
                let mut s = a[i * m + j];
                for k in 0..j {
                    s -= l[i * m + k] * l[j * m + k];
                }
                l[i * m + j] = s / dj;
            }
        }
        let mut z = vec![0f64; m];
        for i in 0..m {
            let mut s = b[i];
            for k in 0..i {
                s -= l[i * m + k] * z[k];
            }
            z[i] = s / l[i * m + i];
        }
        let mut beta = vec![0f64; m];
        for i in (0..m).rev() {
            let mut s = z[i];
            for k in i + 1..m {
                s -= l[k * m + i] * beta[k];
            }
            beta[i] = s / l[i * m + i];
        }
        Some(beta)
    }

    /// Cyclic Jacobi eigendecomposition of a symmetric matrix: eigenvalues and
    /// the eigenvectors as the columns of a row-major m × m matrix.
    pub fn jacobi_eigen(a: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
        let mut a = a.to_vec();
        let mut v = vec![0f64; m * m];
        for i in 0..m {
            v[i * m + i] = 1.0;
        }
        let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        for _sweep in 0..100 {
            let off: f64 = (0..m)
                .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| a[i * m + j] * a[i * m + j])
                .sum::<f64>()
                .sqrt();
            if off <= 1e-15 * norm.max(f64::MIN_POSITIVE) {
                break;
            }
            for p in 0..m {
                for q in p + 1..m {
                    let apq = a[p * m + q];
                    if apq.abs() <= f64::MIN_POSITIVE {
                        continue;
                    }
                    let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let t = if theta == 0.0 { 1.0 } else { t };
                    let c = 1.0 / (t * t + 1.0).sqrt();
                    let s = t * c;
                    for k in 0..m {
                        let akp = a[k * m + p];
                        let akq = a[k * m + q];
                        a[k * m + p] = c * akp - s * akq;
                        a[k * m + q] = s * akp + c * akq;
                    }
                    for k in 0..m {
                        let apk = a[p * m + k];
                        let aqk = a[q * m + k];
                        a[p * m + k] = c * apk - s * aqk;
                        a[q * m + k] = s * apk + c * aqk;
                    }
                    for k in 0..m {
                        let vkp = v[k * m + p];
                        let vkq = v[k * m + q];
                        v[k * m + p] = c * vkp - s * vkq;
                        v[k * m + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        ((0..m).map(|i| a[i * m + i]).collect(), v)
    }
}
