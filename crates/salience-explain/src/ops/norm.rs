//! Layer normalisation, RMS normalisation and softmax with a backward
//! pass. On the CPU (f32, f64) layer norm over constant parameters and
//! softmax over the last dimension are one fused op each with a
//! hand-written backward ([`super::fused`]); otherwise they are built
//! from candle primitives that all have a backward pass.
//!
//! candle-nn 0.11's fused `ops::layer_norm`, `ops::rms_norm` and
//! `ops::softmax_last_dim` (which `candle_nn::LayerNorm` / `RmsNorm` use
//! on contiguous inputs) are applied with `apply_op*_no_bwd`: their output
//! is detached from the autodiff graph, so no gradient reaches the input
//! of a model that uses them, and nothing says so. These versions compute
//! the same values (to f32 rounding) and are differentiable; a transformer
//! written with them can be explained by every gradient method.

use candle_core::{DType, Result, Tensor, D};

/// Layer normalisation over the last dimension:
/// `(x − mean) / sqrt(var + eps) · weight + bias`, with the biased variance
/// (as PyTorch's `LayerNorm` and candle-nn's). `weight` and `bias` have
/// the size of the last dimension. On the CPU (f32, f64) with constant
/// `weight` and `bias` (no `Var` behind them) it is one op whose backward
/// computes the input gradient alone; otherwise the composition of
/// candle ops, whose backward also gives the parameters' gradients.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use salience_explain::ops::layer_norm;
/// let x = Var::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu).unwrap();
/// let w = Tensor::ones(3, candle_core::DType::F32, &Device::Cpu).unwrap();
/// let b = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
/// let y = layer_norm(x.as_tensor(), &w, Some(&b), 1e-5).unwrap();
/// let v = y.to_vec2::<f32>().unwrap();
/// assert!((v[0][0] + 1.2247).abs() < 1e-3 && v[0][1].abs() < 1e-6);
/// // Unlike candle_nn::ops::layer_norm, the result has a gradient.
/// let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
/// assert!(g.get(x.as_tensor()).is_some());
/// ```
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    if let Some(y) = super::fused::layer_norm_fused(x, weight, bias, eps)? {
        return Ok(y);
    }
    layer_norm_composed(x, weight, bias, eps)
}

/// [`layer_norm`] from candle primitives (any device, dtype and
/// parameters; gradients for tracked weights).
pub(crate) fn layer_norm_composed(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let x = promote(x)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let y = normed.broadcast_mul(weight)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// RMS normalisation over the last dimension: `x / sqrt(mean(x²) + eps) · weight`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::rms_norm;
/// let x = Tensor::new(&[[3.0f32, 4.0]], &Device::Cpu).unwrap();
/// let w = Tensor::ones(2, candle_core::DType::F32, &Device::Cpu).unwrap();
/// let v = rms_norm(&x, &w, 0.0).unwrap().to_vec2::<f32>().unwrap();
/// let r = (12.5f32).sqrt();
/// assert!((v[0][0] - 3.0 / r).abs() < 1e-6 && (v[0][1] - 4.0 / r).abs() < 1e-6);
/// ```
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let x = promote(x)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(weight)
}

/// Softmax over dimension `dim`, shifted by the maximum for stability; the
/// shift is detached (softmax does not depend on it), so the gradient is
/// softmax's own. Over the last dimension on the CPU (f32, f64) it is one
/// op whose backward is `y ⊙ (g − Σ g ⊙ y)` per row.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::softmax;
/// let x = Tensor::new(&[[0.0f32, 2f32.ln()]], &Device::Cpu).unwrap();
/// let p = softmax(&x, 1).unwrap().to_vec2::<f32>().unwrap();
/// assert!((p[0][0] - 1.0 / 3.0).abs() < 1e-6 && (p[0][1] - 2.0 / 3.0).abs() < 1e-6);
/// ```
pub fn softmax<Dim: candle_core::shape::Dim + Copy>(x: &Tensor, dim: Dim) -> Result<Tensor> {
    let last = dim.to_index(x.shape(), "softmax")? + 1 == x.rank();
    if last && super::fused::fused_fits(x, &[]) {
        return x
            .contiguous()?
            .apply_op1(super::fused::Fused(super::fused::Softmax));
    }
    softmax_composed(x, dim)
}

/// [`softmax`] from candle primitives (any device, dtype and dimension).
pub(crate) fn softmax_composed<Dim: candle_core::shape::Dim + Copy>(
    x: &Tensor,
    dim: Dim,
) -> Result<Tensor> {
    let x = promote(x)?;
    let max = x.max_keepdim(dim)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(dim)?)
}

/// Half-precision inputs are normalised in f32 (as candle-nn does).
fn promote(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::F16 | DType::BF16 => x.to_dtype(DType::F32),
        _ => Ok(x.clone()),
    }
}
