//! Property tests of the quadrature rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use proptest::prelude::*;
use salience_explain::Quadrature;

proptest! {
    /// n-point Gauss–Legendre on [0, 1] integrates every polynomial of
    /// degree ≤ 2n − 1 exactly (here up to degree 15).
    #[test]
    fn gauss_legendre_exact_on_polynomials(
        n in 1usize..40,
        coeffs in proptest::collection::vec(-3.0f64..3.0, 1..16),
    ) {
        let deg = (coeffs.len() - 1).min(2 * n - 1);
        let c = &coeffs[..=deg];
        let (a, w) = Quadrature::GaussLegendre.nodes_weights(n).unwrap();
        let q: f64 = a.iter().zip(&w).map(|(a, w)| {
            w * c.iter().enumerate().map(|(k, ck)| ck * a.powi(k as i32)).sum::<f64>()
        }).sum();
        let exact: f64 = c.iter().enumerate().map(|(k, ck)| ck / (k as f64 + 1.0)).sum();
        prop_assert!((q - exact).abs() < 1e-11, "n={} q={} exact={}", n, q, exact);
    }

    /// Every rule's weights are positive and sum to 1, nodes lie in [0, 1].
    #[test]
    fn weights_sum_to_one(n in 2usize..300, which in 0usize..5) {
        let q = [
            Quadrature::RiemannLeft,
            Quadrature::RiemannRight,
            Quadrature::RiemannMiddle,
            Quadrature::RiemannTrapezoid,
            Quadrature::GaussLegendre,
        ][which];
        let (a, w) = q.nodes_weights(n).unwrap();
        prop_assert_eq!(a.len(), n);
        prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        prop_assert!(w.iter().all(|&w| w > 0.0));
        prop_assert!(a.iter().all(|a| (0.0..=1.0).contains(a)));
    }
}
