//! The standard normal density φ and distribution function Φ (f64), and
//! the antiderivatives used by the exact API/AEI integrals; and the
//! branch-free f32 Φ and EI kernel used by PI, EI, CI and the grid API/AEI.
//!
//! Why a hand-written f32 Φ rather than libm's f64 `erfc`: the per-pixel
//! loops of PI/EI/CI/API/AEI must vectorize. libm's `erfc` costs ≈ 23 ns a
//! call on the reference machine, and with it EI on the `aggregate` bench
//! (k = 7, 16 × 224²) is several times slower than the f32 version, which
//! runs at 6.5–18× NumPy/SciPy (docs/performance.md). The f32 functions
//! here are tested against libm's f64 `erfc` over Z ∈ [−40, 40] (values
//! and monotonicity), and the flush to 0 in the far lower tail happens at
//! one point, |z| = √138 ≈ 11.75, for Φ, φ and the EI kernel alike.

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

/// Where the f32 Gaussian factor e^{−z²/2} is flushed to 0: below e⁻⁶⁹
/// (|z| > √138 ≈ 11.75, φ < 4·10⁻³¹). Φ, φ and the EI kernel all decide
/// their flush on this one quantity, so they vanish at the same |z| (before
/// issue 24, Φ flushed at |z| ≈ 11.65 and φ at 11.75, which made EI ≈ Z²
/// times too large in between and not monotone in Z).
const FLUSH_BELOW: f32 = -69.0;

/// e^y for f32 on y ∈ [−71, 88.7] (clamped outside), branch-free so that
/// loops over pixels vectorize: Cody–Waite reduction y = n ln 2 + r
/// (|r| ≤ ln2/2, rounding by the 1.5·2²³ trick, no libm call), a degree-6
/// polynomial for e^r (Cephes' `expf` coefficients), and 2ⁿ built from the
/// exponent bits. Relative error ≤ 2·10⁻⁷. The result is ≥ e⁻⁷¹ ≈ 1.5·10⁻³¹,
/// a normal f32: callers flush through [`FLUSH_BELOW`], so no lane ever
/// holds a subnormal (those take a ~100-cycle microcode assist on x86).
#[inline(always)]
fn exp_raw(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
    let y = y.clamp(-71.0, 88.7);
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
    e * scale
}

/// e^y for f32 (see [`exp_raw`]), 0 below y = −69.
#[inline(always)]
fn exp_f32(y: f32) -> f32 {
    let v = exp_raw(y);
    if y < FLUSH_BELOW {
        0.0
    } else {
        v
    }
}

/// The lower-tail pieces at a = |z| (a clamped to 40, beyond which
/// everything here is 0 in f32): a, the Gaussian factor g = e^{−a²/2}
/// (flushed to 0 below e⁻⁶⁹) and m = Φ(−a)/g (the Mills ratio times
/// φ(0)), so that Φ(−a) = g·m and φ(a) = φ(0)·g. m comes from Numerical
/// Recipes' erfc fit erfc(x) = t·exp(−x² − 1.26551223 + t·P(t)),
/// t = 1/(1 + x/2), x = a/√2 (relative error < 1.2·10⁻⁷ for every x ≥ 0).
#[inline(always)]
fn tail(z: f32) -> (f32, f32, f32) {
    let a = z.abs().min(40.0);
    let (t, p) = erfc_fit(a);
    let g = exp_f32(-0.5 * a * a);
    let m = 0.5 * t * exp_raw(p - 1.265_512_2);
    (a, g, m)
}

/// t = 1/(1 + x/2) and t·P(t) of Numerical Recipes' erfc fit (§6.2) at
/// x = a/√2.
#[inline(always)]
fn erfc_fit(a: f32) -> (f32, f32) {
    let x = a * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let p = t
        * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    (t, p)
}

/// Φ(z) in f32, branch-free: Φ(−a) = ½·t·exp(−a²/2 − 1.26551223 + t·P(t))
/// (one exp; equal to g·m of [`tail`]) and the reflection
/// Φ(z) = 1 − Φ(−z). Relative error ≤ 2·10⁻⁶ for |z| ≤ 5 and ≤ 2·10⁻⁵
/// down to z = −11.75 (Φ ≈ 10⁻³²): the lower tail keeps relative precision
/// (tested against libm's f64 `erfc`). For |z| > √138 ≈ 11.75 the lower
/// tail is flushed to 0, at the same point as [`pdf_f32`] and
/// [`ei_tail_f32`] (see [`FLUSH_BELOW`]).
#[inline(always)]
pub(crate) fn cdf_f32(z: f32) -> f32 {
    let a = z.abs().min(40.0);
    let (t, p) = erfc_fit(a);
    let q = -0.5 * a * a;
    // q − 1.27 + p ≥ −71 whenever q ≥ −69: within exp_raw's range.
    let e = exp_raw(q - 1.265_512_2 + p);
    let half = if q < FLUSH_BELOW { 0.0 } else { 0.5 * t * e };
    if z < 0.0 {
        half
    } else {
        1.0 - half
    }
}

/// φ(z) in f32, flushed to 0 for |z| > √138 ≈ 11.75 as [`cdf_f32`] is
/// (the aggregators use [`ei_tail_f32`], which shares this factor).
#[cfg(test)]
#[inline(always)]
pub(crate) fn pdf_f32(z: f32) -> f32 {
    0.398_942_3 * exp_f32(-0.5 * z * z)
}

/// h(|z|) = φ(z) − |z|Φ(−|z|) in f32, branch-free: the part of the EI
/// kernel zΦ(z) + φ(z) = max(z, 0) + h(|z|) that is not max(z, 0), computed
/// without the cancellation of the direct formula as h(a) = g·(φ(0) − a·m)
/// ≥ 0 with g, m from [`tail`]: the Gaussian factor g is common to both
/// terms (its rounding does not cancel) and vanishes at the same |z| as Φ
/// and φ. Relative error ≤ 3·10⁻⁵ + 4·10⁻⁷·a² (the Mills ratio's error,
/// amplified by 1/(1 − a·Φ(−a)/φ(a)) ≈ a²; tested against libm's f64
/// `erfc`); 0 for |z| > 11.75, where h < 3·10⁻³³; 0 at z = ±∞.
#[inline(always)]
pub(crate) fn ei_tail_f32(z: f32) -> f32 {
    let (a, g, m) = tail(z);
    (g * (0.398_942_3 - a * m)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Φ's error at `z` (relative in the lower tail, absolute near 1) and
    /// its stated tolerance (the f32 exponent argument ≈ z²/2 limits the
    /// far tail).
    fn cdf_error(z: f64, got: f64, want: f64) -> (f64, f64) {
        let err = if z < 0.0 {
            (got / want - 1.0).abs()
        } else {
            (got - want).abs()
        };
        (err, if z.abs() <= 5.0 { 2e-6 } else { 2e-5 })
    }

    #[test]
    fn fast_f32_versions_match_libm() {
        // Below z ≈ −11.75, Φ < 10⁻³¹ is flushed to 0 (no subnormals).
        let mut z = -11.74f64;
        while z < 9.0 {
            // Compare at the same (f32-rounded) input.
            let zf = z as f32;
            let (want, got) = (cdf(zf as f64), cdf_f32(zf) as f64);
            let (err, tol) = cdf_error(z, got, want);
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

    /// f64 references: Φ(z) and the EI kernel zΦ(z) + φ(z), through libm's
    /// sub-ulp `erfc` (the f64 formula's cancellation costs ≤ a²·10⁻¹⁶).
    fn ei_kernel_f64(z: f64) -> f64 {
        z * cdf(z) + pdf(z)
    }

    /// Issue 24: Φ flushed at |z| ≈ 11.65 but φ at 11.75, so EI was ≈ Z²
    /// too large in between and not monotone. PI and EI (through the
    /// aggregators' per-pixel functions) must be non-decreasing in Z over
    /// [−40, 40], and Φ, φ and EI's tail must vanish at the same point.
    #[test]
    fn pi_and_ei_monotone_in_z_with_one_flush_point() {
        use crate::improvement::{ei, pi};
        for sd in [1.0f32, 0.37, 25.0] {
            let (mut last_pi, mut last_ei) = (-1.0f32, -1.0f32);
            for i in 0..=80_000 {
                let z = -40.0 + i as f32 * 1e-3;
                let d = z * sd;
                let (p, e) = (pi(d, sd), ei(d, sd));
                assert!(p.is_finite() && e.is_finite(), "Z = {z}");
                assert!(p >= last_pi, "PI not monotone at Z = {z}: {last_pi} > {p}");
                assert!(e >= last_ei, "EI not monotone at Z = {z}: {last_ei} > {e}");
                (last_pi, last_ei) = (p, e);
            }
        }
        for i in 0..=40_000 {
            let z = -40.0 + i as f32 * 1e-3;
            let flushed = [cdf_f32(z) == 0.0, pdf_f32(z) == 0.0, ei_tail_f32(z) == 0.0];
            assert!(
                flushed.iter().all(|&f| f == flushed[0]),
                "Z = {z}: Φ, φ, EI tail flushed = {flushed:?}"
            );
            assert_eq!(flushed[0], 0.5 * z * z > 69.0, "Z = {z}");
        }
    }

    /// PI and EI against f64 references over Z ∈ [−40, 40]. Tolerances
    /// (stated in the rustdoc of `cdf_f32` and `ei_tail_f32`): Φ relative
    /// 2·10⁻⁶ (|Z| ≤ 5) / 2·10⁻⁵ in the lower tail, absolute 2·10⁻⁶ near
    /// 1; EI/σ relative 3·10⁻⁵ + 4·10⁻⁷·Z²; past the flush point
    /// (|Z| > 11.75) both tails are 0 where the reference is < 4·10⁻³¹.
    #[test]
    fn pi_and_ei_match_f64_reference() {
        use crate::improvement::{ei, pi};
        let (mut worst_pi, mut worst_ei) = (0.0f64, 0.0f64);
        for i in 0..=80_000 {
            let zf = -40.0 + i as f32 * 1e-3;
            let z = zf as f64;
            let (p, e) = (pi(zf, 1.0) as f64, ei(zf, 1.0) as f64);
            let (p_ref, e_ref) = (cdf(z), ei_kernel_f64(z));
            if 0.5 * z * z > 69.0 {
                if z < 0.0 {
                    assert!(p == 0.0 && p_ref < 4e-31, "Φ({z}) = {p}, ref {p_ref}");
                    assert!(e == 0.0 && e_ref < 4e-33, "EI({z}) = {e}, ref {e_ref}");
                } else {
                    assert_eq!(p, 1.0);
                    assert!((e / e_ref - 1.0).abs() < 1e-6, "EI({z}) = {e}, ref {e_ref}");
                }
                continue;
            }
            let (err_p, tol_p) = cdf_error(z, p, p_ref);
            assert!(err_p < tol_p, "Φ({z}) = {p}, ref {p_ref}");
            let err_e = (e / e_ref - 1.0).abs();
            assert!(
                err_e < 3e-5 + 4e-7 * z * z,
                "EI({z}) = {e}, ref {e_ref}: {err_e:e}"
            );
            worst_pi = worst_pi.max(err_p);
            worst_ei = worst_ei.max(err_e / (3e-5 + 4e-7 * z * z));
        }
        eprintln!("worst Φ error {worst_pi:e}, worst EI error / tolerance {worst_ei:.3}");
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
