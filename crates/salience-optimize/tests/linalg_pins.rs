//! Pins of the QP's outputs on fixed Grams (issue 20.7): recorded with the
//! hand-written Cholesky before the switch to nalgebra, to 1e-6 relative.
//! `SALIENCE_PRINT_PINS=1` prints the current values. Zero weights and
//! objectives (rank-deficient G) are pinned to an absolute 1e-15.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::Array2;
use salience_optimize::{solve_qp, QpSettings};

/// Seeded uniform values in [−0.5, 0.5).
fn noise(len: usize, seed: u64) -> Vec<f64> {
    use rand::RngExt;
    let mut r = salience_core::seed::rng(seed);
    (0..len).map(|_| r.random_range(-0.5..0.5)).collect()
}

/// G = BᵀB for B `[rows, k]` given column-major by `cols`.
fn gram_of(cols: &[Vec<f64>]) -> Array2<f64> {
    let k = cols.len();
    Array2::from_shape_fn((k, k), |(i, j)| {
        cols[i].iter().zip(&cols[j]).map(|(a, b)| a * b).sum()
    })
}

fn random_gram(rows: usize, k: usize, seed: u64) -> Array2<f64> {
    let b = noise(rows * k, seed);
    gram_of(
        &(0..k)
            .map(|j| b[j * rows..(j + 1) * rows].to_vec())
            .collect::<Vec<_>>(),
    )
}

fn check(name: &str, got: &[f64], want: &[f64], tol: f64) {
    if std::env::var_os("SALIENCE_PRINT_PINS").is_some() {
        eprintln!("{name}: {got:?}");
        return;
    }
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs() + 1e-15,
            "{name}[{i}]: {g:e} vs pinned {w:e}"
        );
    }
}

fn weights(g: &Array2<f64>) -> (Vec<f64>, f64) {
    let sol = solve_qp(g.view(), &QpSettings::default()).unwrap();
    (sol.weights.into_vec(), sol.objective)
}

#[test]
fn interior_optimum_of_a_fixed_3x3() {
    let g = ndarray::array![[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]];
    let (w, obj) = weights(&g);
    check(
        "interior_3 w",
        &w,
        &[0.1806930693069933, 0.4727722772276945, 0.34653465346531226],
        1e-6,
    );
    check("interior_3 obj", &[obj], &[0.6324257425742575], 1e-6);
}

#[test]
fn random_full_rank_and_rank_deficient_grams() {
    for (name, rows, k, seed, want_w, want_obj) in [
        (
            "full_4",
            12usize,
            4usize,
            3u64,
            &[
                0.30885142766267304,
                0.3756064887910105,
                0.0854744051742507,
                0.23006767837206585,
            ][..],
            0.1548178129996543,
        ),
        (
            "full_8",
            20,
            8,
            5,
            &[
                0.14578496687600825,
                0.08082135513839377,
                0.11847956539729022,
                0.11163257851532071,
                0.14704275044536536,
                0.21342118160964768,
                0.1332927270520747,
                0.049524874965899315,
            ][..],
            0.1859573122205283,
        ),
        (
            "full_16",
            40,
            16,
            11,
            &[
                0.1095124832336386,
                0.047389586335163804,
                0.08139787020507858,
                0.060508628243868906,
                0.001560200819653213,
                0.05673217593236209,
                0.05764420383734853,
                0.10371348144124759,
                0.009807644238739506,
                0.07448846777309139,
                0.06343609158760218,
                0.0,
                0.1457094836783833,
                0.02784616315289188,
                0.0526070414515187,
                0.10764647806941186,
            ][..],
            0.07861287231461625,
        ),
        (
            "rank6_16",
            6,
            16,
            13,
            &[
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.2791388083994298,
                0.0,
                0.08772119535348592,
                0.043407608703588396,
                0.0,
                0.33690187266117927,
                0.0,
                0.0,
                0.15555906021225244,
                0.0,
                0.09727145467006405,
            ][..],
            5.816179843662372e-5,
        ),
        (
            "rank2_5",
            2,
            5,
            19,
            &[
                0.5714740471163732,
                0.0,
                0.09723841365044503,
                0.29016166306499414,
                0.04112587616818765,
            ][..],
            -1.4735447806624071e-18,
        ),
    ] {
        let g = random_gram(rows, k, seed);
        let (w, obj) = weights(&g);
        check(name, &w, want_w, 1e-6);
        check(name, &[obj], &[want_obj], 1e-6);
    }
}

#[test]
fn scales_spread_over_eight_orders_of_magnitude() {
    let g = random_gram(20, 8, 17);
    let s: Vec<f64> = (0..8).map(|i| 10f64.powi(i - 4)).collect();
    let g = Array2::from_shape_fn((8, 8), |(i, j)| g[[i, j]] * s[i] * s[j]);
    let (w, obj) = weights(&g);
    check(
        "scales_8 w",
        &w,
        &[
            0.9981620350750847,
            0.0,
            0.0018035894659290232,
            3.317887739307611e-5,
            0.0,
            9.452537748623126e-7,
            2.422866641729614e-7,
            9.041154197649168e-9,
        ],
        1e-6,
    );
    check("scales_8 obj", &[obj], &[9.624410888313423e-9], 1e-6);
}

#[test]
fn nearly_singular_gram() {
    // c ≈ (a + b) / 2: G is singular up to 1e-7 relative.
    let a = noise(30, 23);
    let b = noise(30, 29);
    let e = noise(30, 31);
    let c: Vec<f64> = (0..30).map(|t| 0.5 * (a[t] + b[t]) + 1e-7 * e[t]).collect();
    let d: Vec<f64> = (0..30).map(|t| a[t] - 0.3 * b[t] + 0.2 * e[t]).collect();
    let g = gram_of(&[a, b, c, d]);
    let (w, obj) = weights(&g);
    check(
        "nearly_singular w",
        &w,
        &[0.0, 0.5909063919962309, 0.0, 0.4090936080037692],
        1e-6,
    );
    check("nearly_singular obj", &[obj], &[0.6899862529202125], 1e-6);
}

#[test]
fn exactly_singular_gram_with_a_duplicated_method() {
    // Methods 0 and 1 are identical: only their total weight is defined
    // (in f64 the 1e-12 ridge splits it equally to ~1e-4, see QpSettings).
    let a = noise(25, 37);
    let b = noise(25, 41);
    let c: Vec<f64> = (0..25).map(|t| 0.4 * a[t] + b[t]).collect();
    let g = gram_of(&[a.clone(), a, b, c]);
    let (w, obj) = weights(&g);
    check(
        "duplicate split",
        &[w[0], w[1]],
        &[0.29169243112695653, 0.2916280212715858],
        1e-3,
    );
    check(
        "duplicate w",
        &[w[0] + w[1], w[2], w[3]],
        &[0.5833204523985424, 0.4166795476014576, 0.0],
        1e-6,
    );
    check("duplicate obj", &[obj], &[0.8564496123536812], 1e-6);
}

#[test]
fn psd_tolerance_boundary_is_kept() {
    // S = [[1, ρ], [ρ, 1]] has eigenvalues 1 ± ρ; with psd_tolerance 1e-9
    // ρ = 1 + 5e-10 (λ_min = −5e-10) is accepted, ρ = 1 + 2e-9 rejected.
    let s = QpSettings::default();
    let ok = ndarray::array![[1.0, 1.0 + 5e-10], [1.0 + 5e-10, 1.0]];
    assert!(solve_qp(ok.view(), &s).is_ok());
    let bad = ndarray::array![[1.0, 1.0 + 2e-9], [1.0 + 2e-9, 1.0]];
    assert!(solve_qp(bad.view(), &s).is_err());
    // The same on unequal scales (equilibration makes the test relative).
    let ok = ndarray::array![[4.0, 2.0 * (1.0 + 5e-10)], [2.0 * (1.0 + 5e-10), 1.0]];
    assert!(solve_qp(ok.view(), &s).is_ok());
    let bad = ndarray::array![[4.0, 2.0 * (1.0 + 2e-9)], [2.0 * (1.0 + 2e-9), 1.0]];
    assert!(solve_qp(bad.view(), &s).is_err());
}
