//! Quadrature rules on [0, 1] for path integrals (Integrated Gradients).

use salience_core::{Result, SalienceError};

/// A rule for `∫₀¹ g(α) dα ≈ Σ_k w_k g(α_k)`.
///
/// Captum's `method` names map as: `riemann_left` → [`Quadrature::RiemannLeft`],
/// `riemann_right` → [`Quadrature::RiemannRight`], `riemann_middle` →
/// [`Quadrature::RiemannMiddle`], `riemann_trapezoid` →
/// [`Quadrature::RiemannTrapezoid`], `gausslegendre` (Captum's default) →
/// [`Quadrature::GaussLegendre`]. Zennit's IG uses right Riemann sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Quadrature {
    /// α_k = k/n, k = 0..n−1, w_k = 1/n.
    RiemannLeft,
    /// α_k = (k+1)/n, w_k = 1/n.
    RiemannRight,
    /// α_k = (k+½)/n, w_k = 1/n.
    RiemannMiddle,
    /// α_k = k/(n−1), w = 1/(n−1) with half weight at both ends (n ≥ 2).
    RiemannTrapezoid,
    /// n-point Gauss–Legendre on [0, 1] (exact for polynomials of degree
    /// 2n−1). The default, as in Captum.
    #[default]
    #[serde(alias = "gausslegendre")]
    GaussLegendre,
}

impl Quadrature {
    /// Nodes α_k in [0, 1] and weights w_k (summing to 1) for `n` points.
    ///
    /// ```
    /// use salience_explain::Quadrature;
    /// let (a, w) = Quadrature::RiemannTrapezoid.nodes_weights(3)?;
    /// assert_eq!(a, vec![0.0, 0.5, 1.0]);
    /// assert_eq!(w, vec![0.25, 0.5, 0.25]);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn nodes_weights(self, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        salience_core::validate::check_count("n_steps", n)?;
        let nf = n as f64;
        Ok(match self {
            Quadrature::RiemannLeft => ((0..n).map(|k| k as f64 / nf).collect(), vec![1.0 / nf; n]),
            Quadrature::RiemannRight => (
                (0..n).map(|k| (k + 1) as f64 / nf).collect(),
                vec![1.0 / nf; n],
            ),
            Quadrature::RiemannMiddle => (
                (0..n).map(|k| (k as f64 + 0.5) / nf).collect(),
                vec![1.0 / nf; n],
            ),
            Quadrature::RiemannTrapezoid => {
                if n < 2 {
                    return Err(SalienceError::invalid(
                        "n_steps",
                        n,
                        "the trapezoid rule needs at least 2 steps",
                    ));
                }
                let h = 1.0 / (nf - 1.0);
                let a = (0..n).map(|k| k as f64 * h).collect();
                let mut w = vec![h; n];
                w[0] = h / 2.0;
                w[n - 1] = h / 2.0;
                (a, w)
            }
            Quadrature::GaussLegendre => {
                let (x, w) = gauss_legendre(n)?;
                (
                    x.iter().map(|x| 0.5 * (x + 1.0)).collect(),
                    w.iter().map(|w| 0.5 * w).collect(),
                )
            }
        })
    }
}

/// Gauss–Legendre nodes (ascending, in [−1, 1]) and weights (summing to 2)
/// for `n` points, by Newton iteration on the Legendre polynomial P_n
/// (three-term recurrence) from Tricomi's initial guesses.
///
/// ```
/// use salience_explain::gradient::quadrature::gauss_legendre;
/// let (x, w) = gauss_legendre(2)?;
/// assert!((x[1] - 1.0 / 3f64.sqrt()).abs() < 1e-15);
/// assert!((w[0] - 1.0).abs() < 1e-15);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn gauss_legendre(n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if n == 0 {
        return Err(SalienceError::invalid("n", n, "must be at least 1"));
    }
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let nf = n as f64;
    // Roots are symmetric: compute the upper half and mirror.
    for i in 0..n.div_ceil(2) {
        // Initial guess for the (i+1)-th largest root.
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        for _ in 0..100 {
            let (p, d) = legendre(n, z);
            let dz = p / d;
            z -= dz;
            if dz.abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        let dp = legendre(n, z).1;
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        x[n - 1 - i] = z;
        x[i] = -z;
        w[n - 1 - i] = wi;
        w[i] = wi;
    }
    if n % 2 == 1 {
        x[n / 2] = 0.0;
    }
    if x.iter().chain(w.iter()).any(|v| !v.is_finite()) {
        return Err(SalienceError::invalid(
            "n",
            n,
            "Gauss-Legendre iteration did not converge",
        ));
    }
    Ok((x, w))
}

/// P_n(z) and P_n'(z) by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, z);
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let p = if n == 0 { 1.0 } else { p1 };
    let prev = if n == 0 { 0.0 } else { p0 };
    let d = n as f64 * (z * p - prev) / (z * z - 1.0);
    (p, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_rules() {
        let (x, w) = gauss_legendre(1).unwrap();
        assert_eq!((x[0], w[0]), (0.0, 2.0));
        let (x, w) = gauss_legendre(3).unwrap();
        assert!((x[2] - (0.6f64).sqrt()).abs() < 1e-15);
        assert!(x[1].abs() < 1e-15);
        assert!((w[1] - 8.0 / 9.0).abs() < 1e-14 && (w[0] - 5.0 / 9.0).abs() < 1e-14);
    }

    #[test]
    fn exact_for_polynomials_and_weights_sum() {
        for n in [1usize, 2, 5, 10, 50, 200, 500] {
            let (x, w) = gauss_legendre(n).unwrap();
            assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-12, "n={n}");
            assert!(x.windows(2).all(|p| p[0] < p[1]), "n={n} not sorted");
            // ∫_{-1}^{1} z^d = 2/(d+1) for even d, exact up to degree 2n-1.
            for d in 0..(2 * n).min(30) {
                let q: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(d as i32)).sum();
                let exact = if d % 2 == 0 {
                    2.0 / (d as f64 + 1.0)
                } else {
                    0.0
                };
                assert!((q - exact).abs() < 1e-12, "n={n} d={d} q={q}");
            }
        }
    }

    #[test]
    fn unit_interval_rules_integrate_linear_exactly() {
        for q in [
            Quadrature::RiemannLeft,
            Quadrature::RiemannRight,
            Quadrature::RiemannMiddle,
            Quadrature::RiemannTrapezoid,
            Quadrature::GaussLegendre,
        ] {
            let (a, w) = q.nodes_weights(7).unwrap();
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-14);
            assert!(a.iter().all(|a| (0.0..=1.0).contains(a)));
            // ∫ α dα = 1/2 exactly for middle, trapezoid, GL.
            if !matches!(q, Quadrature::RiemannLeft | Quadrature::RiemannRight) {
                let i: f64 = a.iter().zip(&w).map(|(a, w)| a * w).sum();
                assert!((i - 0.5).abs() < 1e-14, "{q:?}");
            }
        }
        assert!(Quadrature::GaussLegendre.nodes_weights(0).is_err());
        assert!(Quadrature::RiemannTrapezoid.nodes_weights(1).is_err());
    }
}
