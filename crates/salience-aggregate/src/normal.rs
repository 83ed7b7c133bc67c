//! The standard normal density φ and distribution function Φ (f64), and
//! the antiderivatives used by the exact API/AEI integrals.

use libm::erfc;

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// φ(x) = exp(−x²/2) / √(2π).
pub(crate) fn pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Φ(x), accurate in both tails (through erfc, no 1 − small cancellation).
pub(crate) fn cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// F(u) = uΦ(u) + φ(u), an antiderivative of Φ (F′ = Φ).
pub(crate) fn cdf_integral(u: f64) -> f64 {
    u * cdf(u) + pdf(u)
}

/// G(u) = ((u² + 1)Φ(u) + uφ(u)) / 2, an antiderivative of F (G′ = F).
pub(crate) fn cdf_integral2(u: f64) -> f64 {
    0.5 * ((u * u + 1.0) * cdf(u) + u * pdf(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((cdf(0.0) - 0.5).abs() < 1e-15);
        let t = cdf(1.959_963_984_540_054) - 0.975;
        assert!(t.abs() < 1e-12, "{t}");
        assert!((cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-12);
        // Lower tail keeps relative precision.
        let t = cdf(-10.0) / 7.619_853_024_160_527e-24 - 1.0;
        assert!(t.abs() < 1e-9, "{t}");
        assert!((pdf(0.0) - FRAC_1_SQRT_2PI).abs() < 1e-16);
    }

    #[test]
    fn antiderivatives_by_finite_differences() {
        for &u in &[-3.0, -0.7, 0.0, 0.4, 2.5] {
            let h = 1e-5;
            let d1 = (cdf_integral(u + h) - cdf_integral(u - h)) / (2.0 * h);
            assert!((d1 - cdf(u)).abs() < 1e-8, "F' at {u}");
            let d2 = (cdf_integral2(u + h) - cdf_integral2(u - h)) / (2.0 * h);
            assert!((d2 - cdf_integral(u)).abs() < 1e-8, "G' at {u}");
        }
    }
}
