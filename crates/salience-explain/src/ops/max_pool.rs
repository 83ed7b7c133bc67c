//! A differentiable 2-D max pool for any kernel, stride and padding.
//!
//! candle's own `max_pool2d` has a wrong backward pass (the gradient is
//! scaled by k²) and its backward fails when `kernel != stride`, which
//! rules out the 3×3 / stride 2 / padding 1 pool of ResNet stems. This
//! pool is built only from differentiable candle ops (`narrow`,
//! `reshape`, `cat`, `max`, `maximum`), so gradients flow to the input
//! exactly like PyTorch's `max_pool2d` (floor mode, no dilation). Where
//! several entries of a window tie for the maximum, the gradient is split
//! between them (candle's `maximum`/`max` rule) instead of going to a
//! single arg-max as in PyTorch; ties are measure-zero for real-valued
//! inputs.

use candle_core::{bail, Tensor};

/// Max pool of a `[N, C, H, W]` tensor with a square `kernel`, `stride`
/// and zero-cost `padding` (padded entries never win, as in PyTorch).
/// The output is `[N, C, (H + 2p − k) / s + 1, (W + 2p − k) / s + 1]`
/// (floor mode).
///
/// When `kernel == stride` and `padding == 0` the pool is a reshape and
/// a `max` over the window axes (remainder rows and columns dropped);
/// otherwise it is the element-wise maximum of the `k × k` shifted,
/// strided views of the padded input.
///
/// Errors (a candle error with a message) when `x` is not rank 4,
/// `kernel` or `stride` is 0, `padding > kernel / 2` (as PyTorch), or
/// the padded input is smaller than the kernel.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::max_pool2d;
/// let x = Tensor::arange(0f32, 16., &Device::Cpu).unwrap().reshape((1, 1, 4, 4)).unwrap();
/// let y = max_pool2d(&x, 2, 2, 0).unwrap();
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![5., 7., 13., 15.]);
/// let z = max_pool2d(&x, 3, 2, 1).unwrap();
/// assert_eq!(z.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![5., 7., 13., 15.]);
/// ```
pub fn max_pool2d(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = match x.dims() {
        &[n, c, h, w] => (n, c, h, w),
        d => bail!("max_pool2d expects a [N, C, H, W] tensor, got shape {d:?}"),
    };
    if kernel == 0 || stride == 0 {
        bail!("max_pool2d: kernel ({kernel}) and stride ({stride}) must be at least 1");
    }
    if 2 * padding > kernel {
        bail!("max_pool2d: padding ({padding}) must be at most half the kernel ({kernel})");
    }
    if h + 2 * padding < kernel || w + 2 * padding < kernel {
        bail!(
            "max_pool2d: input {h}x{w} with padding {padding} is smaller than the kernel {kernel}"
        );
    }
    let oh = (h + 2 * padding - kernel) / stride + 1;
    let ow = (w + 2 * padding - kernel) / stride + 1;

    if kernel == stride && padding == 0 {
        let k = kernel;
        let x = x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?;
        return x.reshape((n, c, oh, k, ow, k))?.max(5)?.max(3);
    }

    // Pad with -inf: `padding` before, and after as much as the last
    // shifted view of length `o * stride` needs.
    let hp = (h + 2 * padding).max(kernel - 1 + oh * stride);
    let wp = (w + 2 * padding).max(kernel - 1 + ow * stride);
    let xp = pad_neg_inf(x, 2, padding, hp - h - padding)?;
    let xp = pad_neg_inf(&xp, 3, padding, wp - w - padding)?;

    let mut out: Option<Tensor> = None;
    for di in 0..kernel {
        for dj in 0..kernel {
            let v = xp
                .narrow(2, di, oh * stride)?
                .narrow(3, dj, ow * stride)?
                .reshape((n, c, oh, stride, ow, stride))?
                .narrow(5, 0, 1)?
                .narrow(3, 0, 1)?
                .reshape((n, c, oh, ow))?;
            out = Some(match out {
                None => v,
                Some(m) => m.maximum(&v)?,
            });
        }
    }
    match out {
        Some(o) => Ok(o),
        None => bail!("max_pool2d: empty kernel"),
    }
}

/// Pads `x` along `dim` with `before` and `after` entries of -inf.
fn pad_neg_inf(x: &Tensor, dim: usize, before: usize, after: usize) -> candle_core::Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    let mut parts = Vec::with_capacity(3);
    let block = |len: usize| -> candle_core::Result<Tensor> {
        let mut shape = x.dims().to_vec();
        shape[dim] = len;
        Tensor::full(f32::NEG_INFINITY, shape, x.device())?.to_dtype(x.dtype())
    };
    if before > 0 {
        parts.push(block(before)?);
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(block(after)?);
    }
    Tensor::cat(&parts, dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// Naive PyTorch-semantics max pool on a flat NCHW buffer.
    fn naive(
        x: &[f64],
        dims: (usize, usize, usize, usize),
        k: usize,
        s: usize,
        p: usize,
    ) -> Vec<f64> {
        let (n, c, h, w) = dims;
        let oh = (h + 2 * p - k) / s + 1;
        let ow = (w + 2 * p - k) / s + 1;
        let mut out = Vec::new();
        for b in 0..n * c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut m = f64::NEG_INFINITY;
                    for di in 0..k {
                        for dj in 0..k {
                            let (r, q) = (
                                (i * s + di) as isize - p as isize,
                                (j * s + dj) as isize - p as isize,
                            );
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                m = m.max(x[b * h * w + r as usize * w + q as usize]);
                            }
                        }
                    }
                    out.push(m);
                }
            }
        }
        out
    }

    /// Distinct values (no ties) from a fixed permutation-like sequence.
    fn distinct(len: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0 + i as f64 * 1e-4)
            .collect()
    }

    #[test]
    fn forward_matches_naive_loop() {
        for &(k, s, p, h, w) in &[
            (2, 2, 0, 6, 6),
            (2, 2, 0, 7, 5),
            (3, 2, 1, 7, 8),
            (3, 2, 1, 8, 8),
            (3, 1, 1, 5, 4),
            (3, 3, 0, 7, 9),
            (2, 1, 0, 4, 5),
            (3, 2, 0, 9, 7),
        ] {
            let dims = (2, 3, h, w);
            let data = distinct(2 * 3 * h * w);
            let x = Tensor::from_vec(data.clone(), (2, 3, h, w), &Device::Cpu).unwrap();
            let y = max_pool2d(&x, k, s, p).unwrap();
            let want = naive(&data, dims, k, s, p);
            assert_eq!(
                y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
                want,
                "k={k} s={s} p={p}"
            );
            // f32 too.
            let y32 = max_pool2d(&x.to_dtype(DType::F32).unwrap(), k, s, p).unwrap();
            let got: Vec<f32> = y32.flatten_all().unwrap().to_vec1().unwrap();
            let want32: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            assert_eq!(got, want32);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for &(k, s, p) in &[(3, 2, 1), (2, 2, 0), (3, 1, 1)] {
            let (h, w) = (7, 6);
            let data = distinct(2 * h * w);
            let x = Var::from_vec(data.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
            // Weighted sum so every output has a distinct weight.
            let y = max_pool2d(x.as_tensor(), k, s, p).unwrap();
            let m = y.elem_count();
            let wts: Vec<f64> = (0..m).map(|i| 1.0 + 0.37 * i as f64).collect();
            let wt = Tensor::from_vec(wts.clone(), y.dims(), &Device::Cpu).unwrap();
            let loss = (y * &wt).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            let grad: Vec<f64> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let f = |d: &[f64]| -> f64 {
                naive(d, (1, 2, h, w), k, s, p)
                    .iter()
                    .zip(&wts)
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let eps = 1e-6;
            for i in 0..data.len() {
                let mut plus = data.clone();
                plus[i] += eps;
                let mut minus = data.clone();
                minus[i] -= eps;
                let fd = (f(&plus) - f(&minus)) / (2.0 * eps);
                let err = (fd - grad[i]).abs() / fd.abs().max(1.0);
                assert!(
                    err <= 1e-3,
                    "k={k} s={s} p={p} i={i}: fd {fd} vs {}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool2d(&x, 0, 1, 0).is_err());
        assert!(max_pool2d(&x, 2, 0, 0).is_err());
        assert!(max_pool2d(&x, 2, 2, 2).is_err());
        assert!(max_pool2d(&x, 7, 1, 1).is_err());
        let v = Tensor::zeros((4, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool2d(&v, 2, 2, 0).is_err());
    }
}
