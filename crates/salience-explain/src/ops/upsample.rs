//! Differentiable bilinear upsampling (and downsampling) of NCHW tensors,
//! with PyTorch's `F.interpolate(mode="bilinear")` semantics.
//!
//! candle's own `upsample_bilinear2d` has no backward pass. Bilinear
//! interpolation is linear and separable, so here it is two dense
//! interpolation-matrix products, `Y = A_h · X · A_wᵀ` per plane, built
//! from candle's `matmul`, `reshape` and `transpose`: the backward pass is
//! candle's (exact: the adjoint `A_hᵀ · G · A_w`), and it runs on any
//! device. The matrices are `[out, in]` per axis, so the cost is
//! `O(N·C·H·W·(W_out + H_out))`, fine for CAM-sized maps.
//!
//! Source coordinates follow PyTorch (with an explicit output size, no
//! scale factor, no antialiasing):
//! * `align_corners = false` (the default of PyTorch, Captum and
//!   pytorch-grad-cam): `src = (dst + ½)·in/out − ½`, clamped below at 0;
//! * `align_corners = true`: `src = dst·(in − 1)/(out − 1)` (0 when
//!   `out = 1`).
//!
//! The two neighbours are `⌊src⌋` and `min(⌊src⌋ + 1, in − 1)` with
//! weights `1 − λ` and `λ`, `λ = src − ⌊src⌋`.

use crate::model::convert::candle_error;
use candle_core::{DType, Tensor};
use salience_core::{Result, SalienceError};

/// The `[out, in]` interpolation matrix of one axis, row-major, f32.
///
/// ```
/// use salience_explain::ops::upsample::interpolation_matrix;
/// // 2 → 4, align_corners = false: rows [1,0], [¾,¼], [¼,¾], [0,1].
/// let m = interpolation_matrix(2, 4, false)?;
/// assert_eq!(m, vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn interpolation_matrix(input: usize, output: usize, align_corners: bool) -> Result<Vec<f32>> {
    if input == 0 || output == 0 {
        return Err(SalienceError::invalid(
            "interpolation size",
            format!("{input} -> {output}"),
            "sizes must be at least 1",
        ));
    }
    let mut m = vec![0f32; output * input];
    for (dst, row) in m.chunks_exact_mut(input).enumerate() {
        let src = if align_corners {
            if output > 1 {
                dst as f64 * (input as f64 - 1.0) / (output as f64 - 1.0)
            } else {
                0.0
            }
        } else {
            ((dst as f64 + 0.5) * input as f64 / output as f64 - 0.5).max(0.0)
        };
        let i0 = (src.floor() as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let lambda = (src - i0 as f64).clamp(0.0, 1.0);
        row[i0] += (1.0 - lambda) as f32;
        row[i1] += lambda as f32;
    }
    Ok(m)
}

/// Bilinear resampling of `x` `[N, C, H, W]` to `[N, C, h, w]` (up or
/// down), differentiable with respect to `x`. Matches PyTorch's
/// `F.interpolate(x, size=(h, w), mode="bilinear", align_corners=...)`.
/// The output has `x`'s dtype (f32 or f64) and device.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::upsample_bilinear2d;
/// let x = Tensor::new(&[[[[1.0f32, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap();
/// let y = upsample_bilinear2d(&x, 4, 4, false)?;
/// let row0 = y.get(0).unwrap().get(0).unwrap().get(0).unwrap().to_vec1::<f32>().unwrap();
/// assert_eq!(row0, vec![1.0, 1.25, 1.75, 2.0]);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
pub fn upsample_bilinear2d(x: &Tensor, h: usize, w: usize, align_corners: bool) -> Result<Tensor> {
    let (n, c, h_in, w_in) = x
        .dims4()
        .map_err(|_| SalienceError::shape("upsample_bilinear2d input", "[N, C, H, W]", x.dims()))?;
    if n * c * h_in * w_in == 0 {
        return Err(SalienceError::shape(
            "upsample_bilinear2d input",
            "non-empty [N, C, H, W]",
            x.dims(),
        ));
    }
    let dtype = x.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(SalienceError::invalid(
            "upsample_bilinear2d dtype",
            format!("{dtype:?}"),
            "must be f32 or f64",
        ));
    }
    let ah = interpolation_matrix(h_in, h, align_corners)?;
    let aw = interpolation_matrix(w_in, w, align_corners)?;
    let run = || -> candle_core::Result<Tensor> {
        let dev = x.device();
        // [W_in, w] = A_wᵀ and [H_in, h] = A_hᵀ.
        let awt = Tensor::from_vec(aw, (w, w_in), dev)?.t()?.to_dtype(dtype)?;
        let aht = Tensor::from_vec(ah, (h, h_in), dev)?.t()?.to_dtype(dtype)?;
        // Width: [N·C·H, W] · [W, w].
        let y = x
            .contiguous()?
            .reshape((n * c * h_in, w_in))?
            .matmul(&awt.contiguous()?)?
            .reshape((n, c, h_in, w))?;
        // Height: [N·C·w, H] · [H, h], then back to [N, C, h, w].
        y.transpose(2, 3)?
            .contiguous()?
            .reshape((n * c * w, h_in))?
            .matmul(&aht.contiguous()?)?
            .reshape((n, c, w, h))?
            .transpose(2, 3)?
            .contiguous()
    };
    run().map_err(candle_error)
}
