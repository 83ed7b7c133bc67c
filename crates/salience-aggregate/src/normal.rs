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

/// e^y for f32, branch-free so that loops over pixels vectorize:
/// Cody–Waite reduction y = n ln 2 + r (|r| ≤ ln2/2, rounding by the
/// 1.5·2²³ trick, no libm call), a degree-6 polynomial for e^r (Cephes'
/// `expf` coefficients), and 2ⁿ built from the exponent bits. Relative
/// error ≤ 2·10⁻⁷ on [−69, 88]. Below −69 (e^y < 10⁻³⁰) it returns 0: values
/// near f32's subnormal range would make every later operation on the lane
/// take a ~100-cycle microcode assist on x86.
#[inline(always)]
fn exp_f32(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
    let underflow = y < -69.0;
    let y = y.clamp(-69.0, 88.7);
    // t = MAGIC + round(y log2 e): the integer sits in t's low mantissa
    // bits, so 2ⁿ is built with integer ops only (Rust's saturating
    // float → int cast would not vectorize).
    let t = y * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let r = y - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    if underflow {
        0.0
    } else {
        e * scale
    }
}

/// Φ(z) in f32, branch-free: erfc(x) = t·exp(−x² − 1.26551223 + t·P(t)),
/// t = 1/(1 + x/2) (the Chebyshev fit of Numerical Recipes §6.2, relative
/// error < 1.2·10⁻⁷ for every x ≥ 0), x = |z|/√2, and the reflection
/// Φ(z) = 1 − Φ(−z). Relative error ≤ 2·10⁻⁶ for |z| ≤ 5 and ≤ 2·10⁻⁵
/// down to z = −11.5 (Φ ≈ 10⁻³⁰): the lower tail keeps relative precision
/// (tested against libm's f64 `erfc`). Below z ≈ −11.7, Φ is flushed to 0
/// (see `exp_f32`).
#[inline(always)]
pub(crate) fn cdf_f32(z: f32) -> f32 {
    let x = z.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let p = t
        * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    let half = 0.5 * t * exp_f32(-x * x - 1.265_512_2 + p);
    if z < 0.0 {
        half
    } else {
        1.0 - half
    }
}

/// φ(z) in f32.
#[inline(always)]
pub(crate) fn pdf_f32(z: f32) -> f32 {
    0.398_942_3 * exp_f32(-0.5 * z * z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_f32_versions_match_libm() {
        // Below z ≈ −11.7, Φ < 10⁻³⁰ is flushed to 0 (no subnormals).
        let mut z = -11.5f64;
        while z < 9.0 {
            // Compare at the same (f32-rounded) input.
            let zf = z as f32;
            let (want, got) = (cdf(zf as f64), cdf_f32(zf) as f64);
            // Relative in the lower tail, absolute near 1.
            let err = if z < 0.0 {
                (got / want - 1.0).abs()
            } else {
                (got - want).abs()
            };
            // The f32 exponent argument (≈ z²/2) limits the far tail.
            let tol = if z.abs() <= 5.0 { 2e-6 } else { 2e-5 };
            assert!(err < tol, "Φ({z}): {got} vs {want}");
            let (want, got) = (pdf(zf as f64), pdf_f32(zf) as f64);
            assert!((got / want - 1.0).abs() < tol, "φ({z}): {got} vs {want}");
            z += 0.0137;
        }
        assert_eq!(cdf_f32(-12.0), 0.0);
        assert_eq!(cdf_f32(-30.0), 0.0);
        assert_eq!(cdf_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(cdf_f32(f32::INFINITY), 1.0);
        assert_eq!(cdf_f32(30.0), 1.0);
        assert_eq!(pdf_f32(100.0), 0.0);
        assert_eq!(exp_f32(-70.0), 0.0);
        for y in [-68.9f32, -20.0, -1.0, -0.3, 0.0, 0.3, 1.0, 20.0, 88.0] {
            let rel = (exp_f32(y) as f64 / (y as f64).exp() - 1.0).abs();
            assert!(rel < 3e-7, "exp({y}): {rel}");
        }
    }

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
