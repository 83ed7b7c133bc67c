//! Dense linear algebra, hand-written against nalgebra, in the same run, at
//! the library's typical sizes. The hand-written routines nalgebra replaced
//! (issue 20.7) are copied verbatim in `linalg_handwritten/`; the two the
//! library keeps because nalgebra is slower (the pivoted-Cholesky
//! pseudo-inverse, EigenCAM's leading eigenpair) are called in the library:
//! * `qp_support_solve/k`: the QP polish's Cholesky solve with one step of
//!   refinement on a k × k support (k = 2…16 methods);
//! * `spd_solve/m` and `pinv_solve/m`: the linear surrogates' full-rank
//!   Cholesky solve and rank-deficient minimum-norm solve (rank m/2) for
//!   m = 16…200 (`pinv_solve/jacobi/m`: the old Jacobi fallback, now
//!   nalgebra's `SymmetricEigen`);
//! * `leading_eigen/n`: EigenCAM's leading eigenpair of a PSD Gram
//!   (n = 49 for 512×7×7 / 2048×7×7 layers, 64 for 64×28×28).
//!
//! Results are recorded in docs/performance.md ("Linear algebra").
//!
//! `cargo bench --bench linalg -- --warm-up-time 1 --measurement-time 3`

#[allow(dead_code)]
mod linalg_handwritten;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use linalg_handwritten as old;
use nalgebra::{Cholesky, DMatrix, DVector, SymmetricEigen};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use salience::explain::cam::eigen_cam;
use salience::perturb::linear_fit;
use std::hint::black_box;

/// A row-major m × m Gram `BᵀB` of rank `rank` (B `[rank, m]`).
fn gram(m: usize, rank: usize, seed: u64) -> Vec<f64> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let b: Vec<f64> = (0..rank * m).map(|_| r.random_range(-1.0..1.0)).collect();
    let mut g = vec![0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            g[i * m + j] = (0..rank).map(|t| b[t * m + i] * b[t * m + j]).sum();
        }
    }
    g
}

fn rhs(m: usize) -> Vec<f64> {
    (0..m).map(|i| 1.0 + 0.1 * (i % 7) as f64).collect()
}

fn new_chol_solve(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    // `a` is symmetric: its row-major slice is its column-major one.
    let chol = Cholesky::new(DMatrix::from_column_slice(m, m, a))?;
    let mut x = DVector::from_column_slice(b);
    chol.solve_mut(&mut x);
    Some(x.data.into())
}

fn new_eigen_pinv(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    let e = SymmetricEigen::try_new(DMatrix::from_row_slice(m, m, a), f64::EPSILON, 1000 * m)?;
    let tol = e.eigenvalues.amax() * 1e-12;
    let bt = e.eigenvectors.tr_mul(&DVector::from_column_slice(b));
    let scaled = bt.zip_map(&e.eigenvalues, |p, l| if l > tol { p / l } else { 0.0 });
    Some((e.eigenvectors * scaled).data.into())
}

fn new_leading_eigen(g: &[f64], n: usize) -> Option<(f64, Vec<f64>)> {
    let m = DMatrix::from_row_slice(n, n, g);
    let lambda = m.symmetric_eigenvalues().max();
    let shift = lambda + lambda.abs() * 1e-10;
    let chol = Cholesky::new(DMatrix::from_diagonal_element(n, n, shift) - m)?;
    let mut v = DVector::from_fn(n, |i, _| {
        1.0 + 0.5 * ((i as f64 + 1.0) * 0.618_033_988_749_895).fract()
    });
    for _ in 0..3 {
        chol.solve_mut(&mut v);
        v.normalize_mut();
    }
    Some((lambda, v.data.into()))
}

fn bench_qp(c: &mut Criterion) {
    let mut group = c.benchmark_group("qp_support_solve");
    for k in [2usize, 4, 8, 16] {
        let g = gram(k, 2 * k, k as u64);
        let p = Array2::from_shape_vec((k, k), g.clone()).unwrap();
        let cs = rhs(k);
        let idx: Vec<usize> = (0..k).collect();
        group.bench_with_input(BenchmarkId::new("handwritten", k), &k, |b, _| {
            b.iter(|| black_box(old::qp::solve_on_support(&p, &cs, &idx)))
        });
        group.bench_with_input(BenchmarkId::new("nalgebra", k), &k, |b, _| {
            b.iter(|| {
                let a = DMatrix::from_fn(k, k, |i, j| p[[idx[i], idx[j]]]);
                let chol = Cholesky::new(a.clone()).unwrap();
                let r = DVector::from_column_slice(&cs);
                let mut u = chol.solve(&r);
                u += chol.solve(&(&r - &a * &u));
                black_box(u)
            })
        });
    }
    group.finish();
}

fn bench_surrogate(c: &mut Criterion) {
    let mut group = c.benchmark_group("spd_solve");
    for m in [16usize, 64, 200] {
        let a = gram(m, 2 * m, m as u64);
        let b = rhs(m);
        group.bench_with_input(BenchmarkId::new("handwritten", m), &m, |bn, _| {
            bn.iter(|| black_box(old::linear_fit::cholesky_solve(&a, &b, m)))
        });
        group.bench_with_input(BenchmarkId::new("nalgebra", m), &m, |bn, _| {
            bn.iter(|| black_box(new_chol_solve(&a, &b, m)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("pinv_solve");
    group.sample_size(20);
    for m in [16usize, 64, 200] {
        let a = gram(m, m / 2, 100 + m as u64);
        let b = rhs(m);
        group.bench_with_input(BenchmarkId::new("pivoted_cholesky", m), &m, |bn, _| {
            bn.iter(|| black_box(linear_fit::pinv_solve_for_bench(&a, &b, m).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("jacobi", m), &m, |bn, _| {
            bn.iter(|| black_box(old::linear_fit::eigen_pinv_solve(&a, &b, m)))
        });
        group.bench_with_input(BenchmarkId::new("nalgebra_eigen", m), &m, |bn, _| {
            bn.iter(|| black_box(new_eigen_pinv(&a, &b, m)))
        });
    }
    group.finish();
}

fn bench_eigen(c: &mut Criterion) {
    let mut group = c.benchmark_group("leading_eigen");
    for (n, rank) in [(49usize, 512usize), (64, 784)] {
        let g = gram(n, rank, 200 + n as u64);
        group.bench_with_input(BenchmarkId::new("handwritten", n), &n, |b, _| {
            b.iter(|| black_box(eigen_cam::leading_eigen_for_bench(&g, n).unwrap()))
        });
        group.bench_with_input(
            BenchmarkId::new("nalgebra_values_inverse", n),
            &n,
            |b, _| b.iter(|| black_box(new_leading_eigen(&g, n))),
        );
        group.bench_with_input(BenchmarkId::new("nalgebra", n), &n, |b, _| {
            b.iter(|| {
                let e = SymmetricEigen::try_new(
                    DMatrix::from_row_slice(n, n, &g),
                    f64::EPSILON,
                    1000 * n,
                )
                .unwrap();
                let i = e.eigenvalues.imax();
                black_box((e.eigenvalues[i], e.eigenvectors.column(i).into_owned()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_qp, bench_surrogate, bench_eigen);
criterion_main!(benches);
