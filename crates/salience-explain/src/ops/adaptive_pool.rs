//! Adaptive average pooling (PyTorch's `AdaptiveAvgPool2d`), with its
//! backward pass.

use candle_core::{bail, Tensor};

/// The `[out, len]` averaging matrix of one axis: row `i` averages the
/// inputs `⌊i·len/out⌋ .. ⌈(i+1)·len/out⌉` (PyTorch's windows).
fn pooling_matrix(len: usize, out: usize, like: &Tensor) -> candle_core::Result<Tensor> {
    let mut m = vec![0f64; out * len];
    for i in 0..out {
        let (a, b) = ((i * len) / out, ((i + 1) * len).div_ceil(out));
        for v in &mut m[i * len + a..i * len + b] {
            *v = 1.0 / (b - a) as f64;
        }
    }
    Tensor::from_vec(m, (out, len), like.device())?.to_dtype(like.dtype())
}

/// Adaptive average pooling of `x` (`[N, C, H, W]`) to `[N, C, out_h,
/// out_w]` with PyTorch's windows: output cell `(i, j)` is the mean of
/// rows `⌊i·H/out_h⌋ .. ⌈(i+1)·H/out_h⌉` and the same columns, which
/// overlap when the sizes do not divide and repeat values when the
/// output is larger (VGG's 7×7 pool of a 2×2 map).
/// Computed as `P_h · x · P_wᵀ` with the constant averaging matrices of
/// the two axes (the window is a product of a row and a column range),
/// so the backward pass is candle's matrix-product backward, linear and
/// exact. Returns `x` itself when the size is already `out`.
///
/// Errors (a candle error) for a rank other than 4 or a zero size.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::adaptive_avg_pool2d;
/// let x = Tensor::arange(0f32, 5., &Device::Cpu).unwrap().reshape((1, 1, 1, 5)).unwrap();
/// // Windows 0..3 and 2..5 (PyTorch's): means 1 and 3.
/// let y = adaptive_avg_pool2d(&x, (1, 2)).unwrap();
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![1.0, 3.0]);
/// ```
pub fn adaptive_avg_pool2d(x: &Tensor, out: (usize, usize)) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = match x.dims() {
        &[n, c, h, w] => (n, c, h, w),
        d => bail!("adaptive_avg_pool2d expects a [N, C, H, W] input, got shape {d:?}"),
    };
    let (oh, ow) = out;
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        bail!("adaptive_avg_pool2d: sizes must be at least 1 (input {h}x{w}, output {oh}x{ow})");
    }
    if (h, w) == (oh, ow) {
        return Ok(x.clone());
    }
    let pw = pooling_matrix(w, ow, x)?.t()?;
    let ph = pooling_matrix(h, oh, x)?;
    // [N·C·H, W] · [W, ow] → [N·C, H, ow]; then [oh, H] · each plane.
    let y = x
        .reshape((n * c * h, w))?
        .matmul(&pw)?
        .reshape((n * c, h, ow))?;
    ph.broadcast_left(n * c)?
        .contiguous()?
        .matmul(&y)?
        .reshape((n, c, oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// The windows by definition, summed naively.
    fn naive(x: &[f64], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f64> {
        let mut y = Vec::new();
        for i in 0..oh {
            for j in 0..ow {
                let (r0, r1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
                let (c0, c1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
                let mut s = 0.0;
                for r in r0..r1 {
                    for c in c0..c1 {
                        s += x[r * w + c];
                    }
                }
                y.push(s / ((r1 - r0) * (c1 - c0)) as f64);
            }
        }
        y
    }

    #[test]
    fn windows_are_pytorchs_and_the_gradient_is_the_adjoint() {
        for &(h, w, oh, ow) in &[
            (2, 2, 7, 7),
            (13, 13, 6, 6),
            (5, 7, 3, 2),
            (4, 4, 1, 1),
            (6, 6, 6, 6),
        ] {
            let v: Vec<f64> = (0..h * w).map(|i| ((i * 37 % 23) as f64) - 9.0).collect();
            let x = Tensor::from_vec(v.clone(), (1, 1, h, w), &Device::Cpu).expect("x");
            let y: Vec<f64> = adaptive_avg_pool2d(&x, (oh, ow))
                .and_then(|y| y.flatten_all()?.to_vec1())
                .expect("pool");
            let want = naive(&v, (h, w), (oh, ow));
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{h}x{w} -> {oh}x{ow}: {a} vs {b}");
            }
            // The loss ⟨pool(x), g⟩ is linear: its gradient at x_k is the
            // change under a unit step of x_k.
            let g: Vec<f64> = (0..oh * ow).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
            let gt = Tensor::from_vec(g.clone(), (1, 1, oh, ow), &Device::Cpu).expect("g");
            let xv = Var::from_tensor(&x).expect("var");
            let grads = adaptive_avg_pool2d(xv.as_tensor(), (oh, ow))
                .and_then(|y| (y * &gt)?.sum_all()?.backward())
                .expect("backward");
            let grad: Vec<f64> = grads
                .get(xv.as_tensor())
                .expect("grad")
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .expect("vec");
            let dot = |y: &[f64]| y.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>();
            let l0 = dot(&want);
            for (k, gk) in grad.iter().enumerate() {
                let mut bumped = v.clone();
                bumped[k] += 1.0;
                let d = dot(&naive(&bumped, (h, w), (oh, ow))) - l0;
                assert!((d - gk).abs() < 1e-12, "{h}x{w} -> {oh}x{ow} at {k}");
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = Tensor::zeros((1, 2, 3), DType::F32, &Device::Cpu).expect("x");
        assert!(adaptive_avg_pool2d(&x, (1, 1)).is_err());
        let x = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).expect("x");
        assert!(adaptive_avg_pool2d(&x, (0, 1)).is_err());
    }
}
