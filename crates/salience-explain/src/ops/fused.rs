//! Fused row kernels with hand-written backward passes: layer
//! normalisation and softmax over the last dimension, and the erf GELU.
//!
//! Built from candle primitives, layer norm is nine graph nodes and
//! softmax five, each of whose backward passes allocates full-size
//! temporaries (and candle's broadcast binary ops compute the gradient of
//! the broadcast operand too, then sum it away); candle's `gelu_erf`
//! backward is six full-size ops. On the CPU (f32, f64, contiguous rows)
//! each of these is one op here whose backward is one pass over the rows.
//! The layer-norm op takes this path only when its weight and bias are
//! constants (no `Var` behind them), so it returns the input gradient
//! alone. When a backward pass is itself differentiated (a tracked output
//! gradient: second derivatives), the gradient is built from
//! differentiable candle ops instead.

use super::{by_float, needs_grad};
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, WithDType, D,
};
use rayon::prelude::*;

/// Below this many values a kernel runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;

/// The element-wise kernels work in chunks of this many values.
const CHUNK: usize = 4096;

/// The float operations the kernels need, for f32 and f64.
pub(crate) trait Real: WithDType {
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    /// The exact GELU `x · Φ(x)` ([`super::gelu`]).
    fn gelu(self) -> Self;
    /// Its derivative `Φ(x) + x · φ(x)`.
    fn gelu_grad(self) -> Self;
    fn from_usize(n: usize) -> Self;
    fn from_f(v: f64) -> Self;
}

/// `impl Real` for a float type with its GELU and GELU-derivative
/// functions.
macro_rules! impl_real {
    ($t:ty, $gelu:path, $gelu_grad:path) => {
        impl Real for $t {
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn gelu(self) -> Self {
                $gelu(self)
            }
            #[inline(always)]
            fn gelu_grad(self) -> Self {
                $gelu_grad(self)
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn from_f(v: f64) -> Self {
                v as $t
            }
        }
    };
}

impl_real!(f32, super::gelu::gelu_f32, super::gelu::gelu_grad_f32);
impl_real!(f64, super::gelu::gelu_f64, super::gelu::gelu_grad_f64);

/// Whether `x` and `others` can take a fused CPU kernel.
pub(crate) fn fused_fits(x: &Tensor, others: &[&Tensor]) -> bool {
    x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
        && x.rank() >= 1
        && others.iter().all(|t| t.dtype() == x.dtype())
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&T::cpu_storage_as_slice(s)?[a..b]),
        None => bail!("fused kernel: the operands must be contiguous"),
    }
}

/// The size of the last dimension of `l` (at least 1), checked against
/// the length of every other operand.
fn row_len(l: &Layout, others: &[usize]) -> candle_core::Result<usize> {
    let d = l.dims().last().copied().unwrap_or(1);
    let n = l.shape().elem_count();
    if d == 0 || others.iter().any(|&m| m != n) {
        bail!("fused kernel: operands of {n} values with rows of {d} and {others:?} values");
    }
    Ok(d)
}

/// `out` (rows of `d`, the last one shorter when `d` does not divide
/// `len`) filled by `f(row index, out row)`, in parallel for large
/// outputs; each row is computed alone, so the result does not depend on
/// the thread count.
fn fill_rows<T: WithDType>(len: usize, d: usize, f: impl Fn(usize, &mut [T]) + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); len];
    if len >= PARALLEL_MIN {
        out.par_chunks_mut(d)
            .with_min_len((PARALLEL_MIN / d).max(1))
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        out.chunks_mut(d).enumerate().for_each(|(i, r)| f(i, r));
    }
    out
}

/// `f` of every value of a contiguous storage, in chunks of [`CHUNK`]
/// (in parallel for large tensors, see [`fill_rows`]).
pub(crate) fn map1<T: Real>(
    s: &CpuStorage,
    l: &Layout,
    f: impl Fn(T) -> T + Sync,
) -> candle_core::Result<CpuStorage> {
    let x = slice::<T>(s, l)?;
    Ok(T::to_cpu_storage_owned(fill_rows(
        x.len(),
        CHUNK,
        |i, y| {
            for (y, &v) in y.iter_mut().zip(&x[i * CHUNK..]) {
                *y = f(v);
            }
        },
    )))
}

/// `f(a, b)` of the values of two contiguous storages of the same length
/// (`what` names the op in the error otherwise), like [`map1`].
pub(crate) fn map2<T: Real>(
    (a_s, a_l): (&CpuStorage, &Layout),
    (b_s, b_l): (&CpuStorage, &Layout),
    what: &str,
    f: impl Fn(T, T) -> T + Sync,
) -> candle_core::Result<CpuStorage> {
    let (a, b) = (slice::<T>(a_s, a_l)?, slice::<T>(b_s, b_l)?);
    if a.len() != b.len() {
        bail!("{what}: {} and {} values", a.len(), b.len());
    }
    Ok(T::to_cpu_storage_owned(fill_rows(
        a.len(),
        CHUNK,
        |i, out| {
            let (a, b) = (&a[i * CHUNK..], &b[i * CHUNK..]);
            for ((o, &u), &v) in out.iter_mut().zip(a).zip(b) {
                *o = f(u, v);
            }
        },
    )))
}

/// Mean and standard deviation `sqrt(var + eps)` (biased variance) of a row.
fn moments<T: Real>(x: &[T], eps: T) -> (T, T) {
    let n = T::from_usize(x.len());
    let mean = x.iter().fold(T::zero(), |a, &v| a + v) / n;
    let var = x
        .iter()
        .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
        / n;
    (mean, (var + eps).sqrt())
}

/// Layer normalisation as one op on `(x, weight, bias)` (see
/// [`super::layer_norm`]); its backward returns the input gradient only,
/// through the same struct with `grad` set: the op on `(x, weight, g)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerNorm {
    pub(crate) eps: f64,
    /// This is the backward op.
    pub(crate) grad: bool,
}

impl LayerNorm {
    fn fwd<T: Real>(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        (bs, bl): (&CpuStorage, &Layout),
    ) -> candle_core::Result<CpuStorage> {
        let (x, w, b) = (
            slice::<T>(xs, xl)?,
            slice::<T>(ws, wl)?,
            slice::<T>(bs, bl)?,
        );
        let d = row_len(xl, &[])?;
        if w.len() != d || b.len() != d {
            bail!("layer_norm: weight and bias need {d} values");
        }
        let eps = T::from_f(self.eps);
        Ok(T::to_cpu_storage_owned(fill_rows(x.len(), d, |i, y| {
            let xr = &x[i * d..][..d];
            let (mean, std) = moments(xr, eps);
            for (((y, &v), &wv), &bv) in y.iter_mut().zip(xr).zip(w).zip(b) {
                *y = (v - mean) / std * wv + bv;
            }
        })))
    }

    /// The input gradient `(ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / σ` with
    /// `ĝ = g ⊙ weight`, per row.
    fn backward<T: Real>(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        (gs, gl): (&CpuStorage, &Layout),
    ) -> candle_core::Result<CpuStorage> {
        let (x, w, g) = (
            slice::<T>(xs, xl)?,
            slice::<T>(ws, wl)?,
            slice::<T>(gs, gl)?,
        );
        let d = row_len(xl, &[g.len()])?;
        if w.len() != d {
            bail!("layer_norm backward: weight needs {d} values");
        }
        let eps = T::from_f(self.eps);
        let n = T::from_usize(d);
        Ok(T::to_cpu_storage_owned(fill_rows(x.len(), d, |i, out| {
            let (xr, gr) = (&x[i * d..][..d], &g[i * d..][..d]);
            let (mean, std) = moments(xr, eps);
            let (mut a, mut c) = (T::zero(), T::zero());
            for ((&v, &gv), &wv) in xr.iter().zip(gr).zip(w) {
                let gh = gv * wv;
                a += gh;
                c += gh * ((v - mean) / std);
            }
            let (a, c) = (a / n, c / n);
            for (((o, &v), &gv), &wv) in out.iter_mut().zip(xr).zip(gr).zip(w) {
                *o = (gv * wv - a - (v - mean) / std * c) / std;
            }
        })))
    }
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        if self.grad {
            "salience-layer-norm-backward"
        } else {
            "salience-layer-norm"
        }
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = ((xs, xl), (ws, wl), (bs, bl));
        let out = by_float(
            xs,
            "layer_norm",
            || match self.grad {
                false => self.fwd::<f32>(a.0, a.1, a.2),
                true => self.backward::<f32>(a.0, a.1, a.2),
            },
            || match self.grad {
                false => self.fwd::<f64>(a.0, a.1, a.2),
                true => self.backward::<f64>(a.0, a.1, a.2),
            },
        )?;
        Ok((out, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gx = if grad.track_op() {
            layer_norm_grad_ops(x, weight, grad, self.eps)?
        } else {
            let op = LayerNorm {
                grad: true,
                ..*self
            };
            x.apply_op3_no_bwd(weight, &grad.contiguous()?, &op)?
        };
        Ok((Some(gx), None, None))
    }
}

/// The input gradient of [`LayerNorm`] from differentiable candle ops
/// (for second derivatives).
pub(crate) fn layer_norm_grad_ops(
    x: &Tensor,
    weight: &Tensor,
    grad: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
    let xhat = centred.broadcast_div(&std)?;
    let gh = grad.broadcast_mul(weight)?;
    let a = gh.mean_keepdim(D::Minus1)?;
    let c = (&gh * &xhat)?.mean_keepdim(D::Minus1)?;
    gh.broadcast_sub(&a)?
        .sub(&xhat.broadcast_mul(&c)?)?
        .broadcast_div(&std)
}

/// Layer norm through [`LayerNorm`] when it fits (CPU, f32 / f64, `[D]`
/// constant weight and bias); `None` otherwise.
pub(crate) fn layer_norm_fused(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
) -> candle_core::Result<Option<Tensor>> {
    let d = x.dims().last().copied().unwrap_or(0);
    let fits = fused_fits(x, &[weight])
        && bias.is_none_or(|b| b.dtype() == x.dtype() && b.dims() == [d])
        && weight.dims() == [d]
        && !needs_grad(weight)
        && !bias.is_some_and(needs_grad);
    if !fits {
        return Ok(None);
    }
    let b = match bias {
        Some(b) => b.contiguous()?,
        None => weight.zeros_like()?,
    };
    let op = LayerNorm { eps, grad: false };
    Ok(Some(x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &b,
        op,
    )?))
}

/// A one-operand kernel with a hand-written backward, made a candle op by
/// [`Fused`]: its forward on a contiguous storage, its input gradient
/// from one saved operand (the op's input or output) and the output
/// gradient, and the same gradient from differentiable candle ops (used
/// when the output gradient is itself tracked: second derivatives).
pub(crate) trait Kernel: Copy + Send + Sync + 'static {
    /// The op's name; the backward op's is `GRAD_NAME`.
    const NAME: &'static str;
    /// The backward op's name.
    const GRAD_NAME: &'static str;
    /// Whether the gradient kernel reads the output (else the input).
    const FROM_OUTPUT: bool;
    /// The forward pass.
    fn fwd<T: Real>(s: &CpuStorage, l: &Layout) -> candle_core::Result<CpuStorage>;
    /// The input gradient from the saved operand `a` and the output
    /// gradient `g` (same shape).
    fn grad<T: Real>(
        a: (&CpuStorage, &Layout),
        g: (&CpuStorage, &Layout),
    ) -> candle_core::Result<CpuStorage>;
    /// The input gradient from differentiable candle ops.
    fn grad_ops(arg: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor>;
}

/// A [`Kernel`] as a candle `CustomOp1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fused<K>(pub(crate) K);

impl<K: Kernel> CustomOp1 for Fused<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = by_float(s, K::NAME, || K::fwd::<f32>(s, l), || K::fwd::<f64>(s, l))?;
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(if grad.track_op() {
            K::grad_ops(arg, res, grad)?
        } else {
            let saved = if K::FROM_OUTPUT { res } else { arg };
            saved.apply_op2_no_bwd(&grad.contiguous()?, &GradOf(self.0))?
        }))
    }
}

/// The backward op of a [`Kernel`]: `(saved, grad)` → the input gradient.
#[derive(Debug, Clone, Copy)]
struct GradOf<K>(K);

impl<K: Kernel> CustomOp2 for GradOf<K> {
    fn name(&self) -> &'static str {
        K::GRAD_NAME
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        al: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a2, g2) = ((a, al), (g, gl));
        let out = by_float(
            a,
            K::NAME,
            || K::grad::<f32>(a2, g2),
            || K::grad::<f64>(a2, g2),
        )?;
        Ok((out, al.shape().clone()))
    }
}

/// Softmax over the last dimension; its backward is `y ⊙ (g − Σ g ⊙ y)`
/// per row, from the output `y`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Softmax;

impl Kernel for Softmax {
    const NAME: &'static str = "salience-softmax";
    const GRAD_NAME: &'static str = "salience-softmax-backward";
    const FROM_OUTPUT: bool = true;

    fn fwd<T: Real>(s: &CpuStorage, l: &Layout) -> candle_core::Result<CpuStorage> {
        let x = slice::<T>(s, l)?;
        let d = row_len(l, &[])?;
        Ok(T::to_cpu_storage_owned(fill_rows(x.len(), d, |i, y| {
            let xr = &x[i * d..][..d];
            let max = xr
                .iter()
                .copied()
                .fold(xr[0], |m, v| if v > m { v } else { m });
            let mut sum = T::zero();
            for (y, &v) in y.iter_mut().zip(xr) {
                *y = (v - max).exp();
                sum += *y;
            }
            for y in y.iter_mut() {
                *y /= sum;
            }
        })))
    }

    fn grad<T: Real>(
        (ys, yl): (&CpuStorage, &Layout),
        (gs, gl): (&CpuStorage, &Layout),
    ) -> candle_core::Result<CpuStorage> {
        let (y, g) = (slice::<T>(ys, yl)?, slice::<T>(gs, gl)?);
        let d = row_len(yl, &[g.len()])?;
        Ok(T::to_cpu_storage_owned(fill_rows(y.len(), d, |i, out| {
            let (yr, gr) = (&y[i * d..][..d], &g[i * d..][..d]);
            let dot = yr.iter().zip(gr).fold(T::zero(), |a, (&p, &q)| a + p * q);
            for ((o, &p), &q) in out.iter_mut().zip(yr).zip(gr) {
                *o = p * (q - dot);
            }
        })))
    }

    fn grad_ops(_arg: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let dot = (grad * res)?.sum_keepdim(D::Minus1)?;
        res * grad.broadcast_sub(&dot)?
    }
}

#[cfg(test)]
mod tests {
    use super::super::norm::{layer_norm_composed, softmax_composed};
    use super::super::test_util::{check_fd, close, flat, run, seeded};
    use super::*;
    use candle_core::Var;

    fn ln_params(d: usize) -> (Tensor, Tensor) {
        let w = (seeded(&[d], 11) + 1.0).unwrap();
        (w, seeded(&[d], 12))
    }

    #[test]
    fn layer_norm_equals_the_composed_one_in_one_node() {
        let x = (seeded(&[3, 5, 7], 1) * 4.0).unwrap();
        let wts = seeded(&[3, 5, 7], 2);
        let (w, b) = ln_params(7);
        let fused = run(&x, &wts, &|t| {
            layer_norm_fused(t, &w, Some(&b), 1e-5).map(|y| y.unwrap())
        });
        let comp = run(&x, &wts, &|t| layer_norm_composed(t, &w, Some(&b), 1e-5));
        close(&fused.0, &comp.0, 1e-5);
        close(&fused.1, &comp.1, 1e-5);
        assert_eq!(fused.2, 2);
        assert!(comp.2 > 2);
        // Without bias, and through the public function.
        let a = run(&x, &wts, &|t| super::super::layer_norm(t, &w, None, 1e-5));
        let c = run(&x, &wts, &|t| layer_norm_composed(t, &w, None, 1e-5));
        assert_eq!(a.2, 2);
        close(&a.0, &c.0, 1e-5);
        close(&a.1, &c.1, 1e-5);
    }

    #[test]
    fn layer_norm_gradient_matches_finite_differences() {
        let x = seeded(&[2, 3, 6], 3).to_dtype(DType::F64).unwrap();
        let wts = seeded(&[2, 3, 6], 4).to_dtype(DType::F64).unwrap();
        let (w, b) = ln_params(6);
        let (w, b) = (
            w.to_dtype(DType::F64).unwrap(),
            b.to_dtype(DType::F64).unwrap(),
        );
        check_fd(&x, &wts, &|t| {
            super::super::layer_norm(t, &w, Some(&b), 1e-5)
        });
        // The differentiable fallback (second derivatives) equals the kernel.
        let g = seeded(&[2, 3, 6], 5).to_dtype(DType::F64).unwrap();
        let kernel = x
            .apply_op3_no_bwd(
                &w,
                &g,
                &LayerNorm {
                    eps: 1e-5,
                    grad: true,
                },
            )
            .unwrap();
        let ops = layer_norm_grad_ops(&x, &w, &g, 1e-5).unwrap();
        close(&flat(&kernel), &flat(&ops), 1e-12);
    }

    /// `Var` parameters take the composed path, so they get gradients.
    #[test]
    fn layer_norm_with_tracked_weight_keeps_its_gradient() {
        let x = seeded(&[2, 4], 6);
        let w = Var::from_tensor(&ln_params(4).0).unwrap();
        let y = super::super::layer_norm(&x, w.as_tensor(), None, 1e-5).unwrap();
        let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g.get(w.as_tensor()).is_some());
    }

    #[test]
    fn softmax_equals_the_composed_one_and_finite_differences() {
        let x = (seeded(&[2, 3, 9], 7) * 6.0).unwrap();
        let wts = seeded(&[2, 3, 9], 8);
        let fused = run(&x, &wts, &|t| super::super::softmax(t, D::Minus1));
        let comp = run(&x, &wts, &|t| softmax_composed(t, D::Minus1));
        assert_eq!(fused.2, 2);
        close(&fused.0, &comp.0, 1e-6);
        close(&fused.1, &comp.1, 1e-5);
        for row in fused.0.chunks(9) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        }
        let x64 = x.to_dtype(DType::F64).unwrap();
        let w64 = wts.to_dtype(DType::F64).unwrap();
        check_fd(&x64, &w64, &|t| super::super::softmax(t, 2));
        // Second derivatives: a tracked output gradient takes the
        // differentiable path, with the kernel's values.
        let y = super::super::softmax(&x64, 2).unwrap();
        let g = Var::from_tensor(&w64).unwrap();
        let a = Fused(Softmax).bwd(&x64, &y, &w64).unwrap().unwrap();
        let b = Fused(Softmax)
            .bwd(&x64, &y, g.as_tensor())
            .unwrap()
            .unwrap();
        assert!(b.track_op());
        close(&flat(&a), &flat(&b), 1e-12);
    }
}
