//! The exact (erf) GELU `x · Φ(x) = x · (1 + erf(x / √2)) / 2` — the
//! function of `torch.nn.GELU()` and timm's default, not the tanh
//! approximation — with a branch-free f32 kernel that the compiler
//! vectorises, and its derivative `Φ(x) + x · φ(x)` (`φ` the standard
//! normal density).
//!
//! candle's `gelu_erf` calls the scalar `libm::erff` per value (and its
//! backward the same plus `exp`), which took 8–13 % of a ViT-tiny 224²
//! forward + backward on the project's CPU (docs/performance.md). Here, in
//! f32, every step is an arithmetic operation, a comparison-and-select or
//! an integer operation on the bits, so each loop runs 4 values per
//! instruction with SSE2 alone:
//!
//! * `Φ(x) = erfc(−x / √2) / 2`, from the Chebyshev fit of `erfc` of
//!   Press, Teukolsky, Vetterling & Flannery, *Numerical Recipes in C*,
//!   2nd ed. (1992), § 6.2, function `erfcc`:
//!   `erfc(z) ≈ t · exp(−z² + P(t))`, `t = 1 / (1 + z/2)`, `P` of degree 9,
//!   fractional error below 1.2e-7 for every `z ≥ 0`. A relative error is
//!   what the left tail needs (`x · Φ(x)` with `Φ(x)` tiny); on the right,
//!   `x · Φ(x) = x − x · erfc(x / √2) / 2` keeps the result within a
//!   rounding of `x`.
//! * `exp` by the range reduction of Cephes' `expf` (S. L. Moshier,
//!   *Methods and Programs for Mathematical Functions*, 1989):
//!   `exp(a) = 2ⁿ · exp(r)`, `n = round(a / ln 2)` (rounded by adding and
//!   subtracting 1.5 · 2²³), `r = a − n ln 2` in two parts, `exp(r)` by
//!   Cephes' degree-6 polynomial, and `2ⁿ` written into the exponent bits.
//!   Values below `e⁻⁸⁷` (where f32 turns subnormal) are flushed to 0.
//!
//! Measured over a grid of 2·10⁶ points of [−10, 10] against the f64
//! formula (libm's `erf`): the f32 GELU within 2.4e-7 (half an ulp of the
//! result at 4, i.e. a rounding), its derivative within 2.3e-7, and
//! [`erf_f32`] within 1.4e-7. f64 takes libm's `erf` and `exp` (candle's
//! own `erf`, so `gelu_erf` equals `Tensor::gelu_erf` in f64).
//!
//! Non-finite inputs: `gelu(−∞) = 0` (`−0`), `gelu(+∞) = +∞`, derivative
//! 0 and 1 there; NaN gives NaN in the value and the derivative.

use super::fused::{fused_fits, Fused, Kernel, Real};
use candle_core::{CpuStorage, Layout, Tensor};

/// `1 / √(2π)`.
const INV_SQRT_2PI: f64 = 0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;

/// Beyond this `|x|` the products with the tail `erfc(|x| / √2) / 2` (and
/// `φ(x)`) use `±CLAMP` instead of `x`: those factors are exactly 0 there
/// (f32: `e⁻²⁰⁰` flushed; f64: `erf` rounds to ±1 and `e⁻⁸⁰⁰` underflows),
/// so the results are unchanged for finite `x` and `0 · ∞` never occurs.
const CLAMP: f32 = 20.0;

/// The f64 clamp of [`CLAMP`]'s role.
const CLAMP_F64: f64 = 40.0;

/// The 1.5 · 2²³ of round-to-nearest by addition.
const ROUNDER: f32 = 12_582_912.0;

/// `ln 2` in two parts (Cephes): `LN2_HI` = 0.693359375 has 9
/// significant bits, so `n · LN2_HI` is exact for `|n| < 2¹⁵`.
const LN2_HI: f32 = 355.0 / 512.0;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Cephes `expf`'s polynomial for `(exp(r) − 1 − r) / r²`, highest
/// degree first.
#[allow(clippy::excessive_precision)] // the published decimal coefficients
const EXP_POLY: [f32; 6] = [
    1.987_569_150_0e-4,
    1.398_199_950_7e-3,
    8.333_451_907_3e-3,
    4.166_579_589_4e-2,
    1.666_666_545_9e-1,
    5.000_000_120_1e-1,
];

/// Numerical Recipes' `erfcc`: `erfc(z) = t · exp(−z² + P(t))` for
/// `z ≥ 0`, the coefficients of `P` highest degree first.
#[allow(clippy::excessive_precision)] // the published decimal coefficients
const ERFC_POLY: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_87,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_68,
    -1.265_512_23,
];

/// `v` clamped to `[lo, hi]` by compare-and-select (no branch after
/// vectorisation); NaN stays NaN (every comparison with it is false).
#[inline(always)]
fn clamp_nan(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if v > hi {
        hi
    } else {
        v
    }
}

/// `exp(a)` for `a ≤ 0` (or NaN; larger `a` is not needed here and not
/// handled), relative error a few 1e-7, 0 below −87.
#[inline(always)]
fn exp_nonpos(a: f32) -> f32 {
    let b = if a < -87.0 { -87.0 } else { a };
    let s = b * std::f32::consts::LOG2_E + ROUNDER;
    let n = s - ROUNDER;
    // `s`'s bits are `ROUNDER`'s plus `n` (one unit in its last place is 1).
    let k = (s.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let r = b - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let scale = f32::from_bits((k.wrapping_add(127) << 23) as u32);
    let y = (p * r * r + r + 1.0) * scale;
    if a < -87.0 {
        0.0
    } else {
        y
    }
}

/// `(t, P(t))` of Numerical Recipes' `erfc(z) = t · exp(−z² + P(t))`,
/// `z ≥ 0`.
#[inline(always)]
fn erfc_parts(z: f32) -> (f32, f32) {
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = ERFC_POLY[0];
    for &c in &ERFC_POLY[1..] {
        p = p * t + c;
    }
    (t, p)
}

/// `erfc(|v| / √2) / 2`, the smaller of `Φ(v)` and `1 − Φ(v)`, with a
/// relative error of a few 1e-7; and `exp(−v² / 2)` when `density`.
#[inline(always)]
fn normal_tail(v: f32, density: bool) -> (f32, f32) {
    let z = v.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let z2 = z * z;
    let (t, p) = erfc_parts(z);
    let e = if density { exp_nonpos(-z2) } else { 0.0 };
    (0.5 * t * exp_nonpos(p - z2), e)
}

/// The error function in f32, branch-free: the odd Taylor series to
/// `x¹³` for `|x| < 1/2`, `±(1 − erfc(|x|))` with Numerical Recipes'
/// `erfc` beyond (see the module documentation). Maximum absolute error
/// 1.4e-7 over the real line (measured on a dense grid against libm's f64
/// `erf`); `erf(±∞) = ±1`, `erf(NaN)` is NaN.
///
/// ```
/// use salience_explain::ops::gelu::erf_f32;
/// assert!((erf_f32(0.5) - 0.520_499_9).abs() < 2e-7);
/// assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
/// ```
#[inline]
pub fn erf_f32(x: f32) -> f32 {
    let x2 = x * x;
    // erf(x) = 2/√π · Σ (−1)ᵏ x²ᵏ⁺¹ / (k! (2k + 1)), k ≤ 6.
    let mut s = 1.0 / 9360.0;
    for c in [
        -1.0 / 1320.0,
        1.0 / 216.0,
        -1.0 / 42.0,
        0.1,
        -1.0 / 3.0,
        1.0,
    ] {
        s = s * x2 + c;
    }
    let small = x * s * std::f32::consts::FRAC_2_SQRT_PI;
    let (t, p) = erfc_parts(x.abs());
    let big = 1.0 - t * exp_nonpos(p - x2);
    let big = if x < 0.0 { -big } else { big };
    if x.abs() < 0.5 {
        small
    } else {
        big
    }
}

/// The exact GELU `x · Φ(x)` in f32 (branch-free; see the module
/// documentation for its accuracy and non-finite values).
#[inline(always)]
pub(crate) fn gelu_f32(v: f32) -> f32 {
    let (h, _) = normal_tail(v, false);
    let vc = clamp_nan(v, -CLAMP, CLAMP);
    if v < 0.0 {
        vc * h
    } else {
        v - vc * h
    }
}

/// The derivative `Φ(x) + x · φ(x)` of the exact GELU in f32
/// (branch-free).
#[inline(always)]
pub(crate) fn gelu_grad_f32(v: f32) -> f32 {
    let vc = clamp_nan(v, -CLAMP, CLAMP);
    let (h, e) = normal_tail(vc, true);
    let cdf = if v < 0.0 { h } else { 1.0 - h };
    cdf + vc * e * INV_SQRT_2PI as f32
}

/// The exact GELU in f64 through libm's `erf` (candle's `erf_f64`): the
/// values of candle's `Tensor::gelu_erf`, except `gelu(−∞) = −0`.
#[inline]
pub(crate) fn gelu_f64(v: f64) -> f64 {
    let vc = if v < -CLAMP_F64 { -CLAMP_F64 } else { v };
    (candle_core::cpu::erf::erf_f64(v * std::f64::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * vc
}

/// The derivative of the exact GELU in f64 through libm's `erf` and `exp`.
#[inline]
pub(crate) fn gelu_grad_f64(v: f64) -> f64 {
    let vc = v.clamp(-CLAMP_F64, CLAMP_F64);
    let cdf = (candle_core::cpu::erf::erf_f64(v * std::f64::consts::FRAC_1_SQRT_2) + 1.0) * 0.5;
    let pdf = (-0.5 * vc * vc).exp() * INV_SQRT_2PI;
    cdf + if v.is_nan() { v } else { vc * pdf }
}

/// The exact GELU as a [`Kernel`]: one element-wise loop forward, one
/// backward (from the input).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gelu;

impl Kernel for Gelu {
    const NAME: &'static str = "salience-gelu-erf";
    const GRAD_NAME: &'static str = "salience-gelu-erf-backward";
    const FROM_OUTPUT: bool = false;

    fn fwd<T: Real>(s: &CpuStorage, l: &Layout) -> candle_core::Result<CpuStorage> {
        super::fused::map1::<T>(s, l, T::gelu)
    }

    fn grad<T: Real>(
        x: (&CpuStorage, &Layout),
        g: (&CpuStorage, &Layout),
    ) -> candle_core::Result<CpuStorage> {
        super::fused::map2::<T>(x, g, "gelu backward", |v, gv| gv * v.gelu_grad())
    }

    fn grad_ops(arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let pdf = ((arg.sqr()? * -0.5)?.exp()? * INV_SQRT_2PI)?;
        let cdf = (((arg * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)? * 0.5)?;
        grad * (cdf + (arg * pdf)?)?
    }
}

/// The exact (erf) GELU `x · (1 + erf(x / √2)) / 2` (`torch.nn.GELU()`,
/// not the tanh approximation). On the CPU, in f32 and f64, it is one op
/// whose backward pass is one loop, `g · (Φ(x) + x · φ(x))`; f32 runs the
/// vectorised kernel of this module (within 2.4e-7 of the f64 formula,
/// i.e. a rounding of the result), f64 libm's `erf` (the values of
/// candle's `Tensor::gelu_erf`). Strided inputs are copied to contiguous
/// first. Other devices (CUDA, Metal) and dtypes run candle's
/// `Tensor::gelu_erf`. `gelu(−∞) = 0` (`−0`), `gelu(+∞) = +∞`, with
/// derivatives 0 and 1; NaN propagates to the value and the gradient.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// let x = Var::new(&[-1f64, 0., 2.], &Device::Cpu).unwrap();
/// let y = salience_explain::ops::gelu_erf(x.as_tensor()).unwrap();
/// assert_eq!(y.to_vec1::<f64>().unwrap(), x.as_tensor().gelu_erf().unwrap().to_vec1::<f64>().unwrap());
/// let g = y.sum_all().unwrap().backward().unwrap();
/// // d/dx at 0 is 1/2.
/// assert_eq!(g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap()[1], 0.5);
/// ```
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if fused_fits(x, &[]) {
        x.contiguous()?.apply_op1(Fused(Gelu))
    } else {
        x.gelu_erf()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_fd, close, flat, run, seeded};
    use super::*;
    use candle_core::{CustomOp1, DType, Device, Var};

    /// The exact GELU and its derivative in f64 (libm's `erf`).
    fn exact(v: f64) -> (f64, f64) {
        let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f64(v / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * v * v).exp() * INV_SQRT_2PI;
        (v * cdf, cdf + v * pdf)
    }

    /// `n + 1` evenly spaced f32 points of `[lo, hi]`.
    fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..=n)
            .map(|i| lo + (hi - lo) * (i as f32 / n as f32))
            .collect()
    }

    /// Values and gradient (of the sum) of the op at the f32 points `xs`.
    fn op_f32(xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let x = Var::new(xs, &Device::Cpu).unwrap();
        let y = gelu_erf(x.as_tensor()).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec1().unwrap();
        (y.to_vec1().unwrap(), g)
    }

    #[test]
    fn erf_f32_is_within_2e_7_on_the_real_line() {
        let mut worst = 0f64;
        for x in grid(-12.0, 12.0, 1_200_000) {
            let e = candle_core::cpu::erf::erf_f64(x as f64);
            worst = worst.max((erf_f32(x) as f64 - e).abs());
            assert!((-1.0..=1.0).contains(&erf_f32(x)), "{x}");
        }
        assert!(worst <= 2e-7, "max abs error {worst}");
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_f32(f32::MAX), 1.0);
        assert_eq!(erf_f32(0.0), 0.0);
        assert!(erf_f32(f32::NAN).is_nan());
        // Odd to the last bit on both branches.
        for x in grid(0.0, 6.0, 6000) {
            assert_eq!(erf_f32(-x), -erf_f32(x), "{x}");
        }
    }

    #[test]
    fn forward_and_gradient_match_the_f64_formula_on_a_dense_grid() {
        let xs = grid(-10.0, 10.0, 400_000);
        let (y, g) = op_f32(&xs);
        let (mut wy, mut wg) = (0f64, 0f64);
        for ((&x, &y), &g) in xs.iter().zip(&y).zip(&g) {
            let (ey, eg) = exact(x as f64);
            wy = wy.max((y as f64 - ey).abs());
            wg = wg.max((g as f64 - eg).abs());
        }
        assert!(wy <= 5e-7, "forward max abs error {wy}");
        assert!(wg <= 1e-6, "derivative max abs error {wg}");
        // Hand values: gelu(1) = Φ(1) = 0.841344746, gelu'(0) = 1/2,
        // gelu'(1) = Φ(1) + φ(1) = 0.841344746 + 0.241970725.
        let (y, g) = op_f32(&[1.0, 0.0]);
        assert!((y[0] as f64 - 0.841_344_746).abs() < 1e-7);
        assert!((g[0] as f64 - 1.083_315_471).abs() < 2e-7);
        assert_eq!((y[1], g[1]), (0.0, 0.5));
    }

    #[test]
    fn gradient_matches_finite_differences_and_candles_backward() {
        let xs = grid(-7.0, 7.0, 2800);
        let (_, g) = op_f32(&xs);
        let h = 1e-5;
        for (&x, &g) in xs.iter().zip(&g) {
            let x = x as f64;
            let fd = (exact(x + h).0 - exact(x - h).0) / (2.0 * h);
            assert!((g as f64 - fd).abs() <= 1e-6, "{x}: {g} vs {fd}");
        }
        // candle's own backward (f64; its 1/√(2π) is rounded to 0.398942,
        // 1.7e-7 at most).
        let x64 = Var::new(
            xs.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            &Device::Cpu,
        )
        .unwrap();
        let gc = x64.as_tensor().gelu_erf().unwrap().sum_all().unwrap();
        let gc: Vec<f64> = gc
            .backward()
            .unwrap()
            .get(x64.as_tensor())
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = g
            .iter()
            .zip(&gc)
            .map(|(&a, b)| (a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-6, "against candle's backward: {worst}");
    }

    #[test]
    fn non_finite_inputs() {
        let big = [
            f32::NEG_INFINITY,
            -f32::MAX,
            -1e30,
            -100.0,
            -20.5,
            20.5,
            1e30,
            f32::MAX,
            f32::INFINITY,
        ];
        let (y, g) = op_f32(&big);
        for (i, &x) in big.iter().enumerate() {
            assert!(!y[i].is_nan() && !g[i].is_nan(), "{x}: {} {}", y[i], g[i]);
            if x < 0.0 {
                assert_eq!((y[i], g[i]), (0.0, 0.0), "{x}");
            } else {
                assert_eq!((y[i], g[i]), (x, 1.0), "{x}");
            }
        }
        let (y, g) = op_f32(&[f32::NAN, 1.0]);
        assert!(y[0].is_nan() && g[0].is_nan());
        assert!(!y[1].is_nan() && !g[1].is_nan());
        // f64 likewise (candle's own gives NaN at −∞).
        let x = Var::new(&[f64::NEG_INFINITY, f64::INFINITY, f64::NAN], &Device::Cpu).unwrap();
        let y = gelu_erf(x.as_tensor()).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let (y, g): (Vec<f64>, Vec<f64>) = (
            y.to_vec1().unwrap(),
            g.get(x.as_tensor()).unwrap().to_vec1().unwrap(),
        );
        assert_eq!((y[0], y[1], g[0], g[1]), (0.0, f64::INFINITY, 0.0, 1.0));
        assert!(y[2].is_nan() && g[2].is_nan());
    }

    #[test]
    fn strided_inputs_give_the_contiguous_values_and_gradients() {
        let base = (seeded(&[6, 40], 3) * 8.0).unwrap();
        let v = Var::from_tensor(&base).unwrap();
        let cases: [&dyn Fn(&Tensor) -> Tensor; 3] = [
            &|t| t.t().unwrap(),
            &|t| t.narrow(1, 5, 20).unwrap(),
            &|t| t.narrow(0, 2, 3).unwrap(),
        ];
        for view in cases {
            let xv = view(v.as_tensor());
            let y = gelu_erf(&xv).unwrap();
            let want = gelu_erf(&xv.contiguous().unwrap().detach()).unwrap();
            assert_eq!(y.dims(), xv.dims());
            assert_eq!(flat::<f32>(&y), flat::<f32>(&want));
            let g = y.sum_all().unwrap().backward().unwrap();
            let g = g.get(v.as_tensor()).unwrap();
            // The gradient is the derivative on the view's elements and 0
            // elsewhere.
            let (gv, bv) = (flat::<f32>(g), flat::<f32>(&base));
            let mut on = 0;
            for (gi, &b) in gv.iter().zip(&bv) {
                if *gi != 0.0 {
                    on += 1;
                    assert_eq!(*gi, gelu_grad_f32(b));
                }
            }
            assert_eq!(on, xv.elem_count());
        }
    }

    #[test]
    fn gradient_through_a_two_layer_mlp() {
        // x [5, 4] → x W1ᵀ [5, 6] → GELU → · W2ᵀ [5, 3], weighted sum.
        let x = (seeded(&[5, 4], 21) * 6.0).unwrap();
        let w1 = (seeded(&[6, 4], 22) * 2.0).unwrap();
        let w2 = seeded(&[3, 6], 23);
        let wts = seeded(&[5, 3], 24);
        let mlp = |w1: Tensor, w2: Tensor, gelu: fn(&Tensor) -> candle_core::Result<Tensor>| {
            move |t: &Tensor| {
                let h = gelu(&t.matmul(&w1.t()?)?)?;
                h.matmul(&w2.t()?)
            }
        };
        let f64s = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        // f64: against central finite differences.
        let m64 = mlp(f64s(&w1), f64s(&w2), gelu_erf);
        check_fd(&f64s(&x), &f64s(&wts), &m64);
        // f32 (the vectorised kernel) against candle's GELU in f64.
        let ours = run(&x, &wts, &mlp(w1.clone(), w2.clone(), gelu_erf));
        let reference = run(
            &f64s(&x),
            &f64s(&wts),
            &mlp(f64s(&w1), f64s(&w2), |t| t.gelu_erf()),
        );
        close(&ours.0, &reference.0, 2e-6);
        close(&ours.1, &reference.1, 2e-6);
    }

    #[test]
    fn one_node_candle_values_and_second_derivatives() {
        let x = (seeded(&[5000], 9) * 8.0).unwrap();
        let wts = seeded(&[5000], 10);
        let fused = run(&x, &wts, &|t| gelu_erf(t));
        let candle = run(&x, &wts, &|t| t.gelu_erf());
        // f32: the vectorised kernel, not libm's erff, so equal to candle's
        // values within rounding (both are within 2.4e-7 of the f64 formula).
        close(&fused.0, &candle.0, 5e-7);
        assert_eq!(fused.2, 2);
        // candle's backward rounds 1/√(2π) to 0.398942.
        close(&fused.1, &candle.1, 1e-6);
        let x64 = seeded(&[40], 11).to_dtype(DType::F64).unwrap();
        let x64 = (x64 * 6.0).unwrap();
        let w64 = seeded(&[40], 12).to_dtype(DType::F64).unwrap();
        // f64: libm's erf, candle's values exactly.
        let f = run(&x64, &w64, &|t| gelu_erf(t));
        let c = run(&x64, &w64, &|t| t.gelu_erf());
        assert_eq!(f.0, c.0);
        check_fd(&x64, &w64, &|t| gelu_erf(t));
        let g = Var::from_tensor(&w64).unwrap();
        let a = Fused(Gelu).bwd(&x64, &x64, &w64).unwrap().unwrap();
        let b = Fused(Gelu).bwd(&x64, &x64, g.as_tensor()).unwrap().unwrap();
        assert!(b.track_op());
        close(&flat(&a), &flat(&b), 1e-12);
    }
}
