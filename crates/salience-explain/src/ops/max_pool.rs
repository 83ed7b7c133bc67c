//! A differentiable 2-D max pool for any kernel, stride and padding.
//!
//! candle's own `max_pool2d` has a wrong backward pass (the gradient is
//! scaled by k²) and its backward fails when `kernel != stride`, which
//! rules out the 3×3 / stride 2 / padding 1 pool of ResNet stems. This
//! pool is built only from differentiable candle ops (`narrow`,
//! `reshape`, `cat`, `where_cond`, `sum`), so gradients flow to the input
//! exactly like PyTorch's `max_pool2d` (floor mode, no dilation): each
//! window's gradient goes to **one** winner, the first maximum in
//! row-major window order (PyTorch's CPU kernel makes the same choice).
//! Ties are common in practice (flat image regions, zero background, the
//! bias-only output of a convolution over zeros), and candle's own `max`
//! reduction would give the *full* gradient to every tied entry, which
//! over-counts it (an LRP winner-take-all pass would then create
//! relevance: the shipped CNN without biases lost conservation by 1 % on
//! Fashion-MNIST images before this rule).

use super::by_float;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, WithDType,
};

/// Max pool of a `[N, C, H, W]` tensor with a square `kernel`, `stride`
/// and zero-cost `padding` (padded entries never win, as in PyTorch).
/// The output is `[N, C, (H + 2p − k) / s + 1, (W + 2p − k) / s + 1]`
/// (floor mode).
///
/// The windows are gathered into a last axis (a reshape when `kernel ==
/// stride` and `padding == 0`, remainder rows and columns dropped; the
/// `k × k` shifted, strided views of the padded input otherwise) and the
/// first arg-max of each window is selected, so the gradient of a window
/// goes to that entry only. When no gradient can flow to `x` (it is not a
/// variable and does not depend on one) a cheaper value-only pool is used
/// (reshape + `max`, or the element-wise maximum of the shifted views):
/// the values are identical. On the CPU (f32, f64) the pool is instead
/// one custom op that loops over the windows once, and its backward pass
/// one scatter of the output gradient to each window's first maximum (the
/// same winner), instead of the dozen full-size temporaries of the
/// view-based graph.
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
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        // One loop over the windows forward, one scatter backward.
        let g = PoolGeometry::new(x, kernel, stride, padding)?;
        return x.contiguous()?.apply_op1(PoolOp(g));
    }
    max_pool2d_views(x, kernel, stride, padding)
}

/// The max pool from differentiable candle ops (any device and dtype).
fn max_pool2d_views(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    if !x.track_op() {
        // No gradient will be asked for: the cheaper value-only pool.
        return max_value(x, kernel, stride, padding);
    }
    let win = pool_windows(x, kernel, stride, padding, f32::NEG_INFINITY)?;
    let one_hot = first_winners(&win)?;
    one_hot.where_cond(&win, &win.zeros_like()?)?.sum(4)
}

/// The max pool's value only (a reshape and `max` when `kernel ==
/// stride` and `padding == 0`, else the element-wise maximum of the
/// shifted views), for inputs no gradient flows to.
fn max_value(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    let g = PoolGeometry::new(x, kernel, stride, padding)?;
    if kernel == stride && padding == 0 {
        let PoolGeometry { n, c, oh, ow, .. } = g;
        let k = kernel;
        let x = x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?;
        return x.reshape((n, c, oh, k, ow, k))?.max(5)?.max(3);
    }
    let mut out: Option<Tensor> = None;
    for v in g.shifted_views(x, f32::NEG_INFINITY)? {
        out = Some(match out {
            None => v,
            Some(m) => m.maximum(&v)?,
        });
    }
    match out {
        Some(o) => Ok(o),
        None => bail!("max_pool2d: empty kernel"),
    }
}

/// A `u8` mask over windows `[.., k²]` selecting, in each window, the
/// first entry (lowest index) holding the window's maximum.
pub(crate) fn first_winners(win: &Tensor) -> candle_core::Result<Tensor> {
    let kk = win.dim(4)?;
    let idx = win.argmax_keepdim(4)?;
    let pos = Tensor::arange(0u32, kk as u32, win.device())?.reshape((1, 1, 1, 1, kk))?;
    pos.broadcast_eq(&idx)
}

/// The pooling windows of `x` `[N, C, H, W]` as a last axis: `[N, C, OH,
/// OW, kernel²]` (row-major within a window), with padded entries set to
/// `pad` (floor mode, as [`max_pool2d`]). Differentiable: the gradient of
/// a window entry flows to its input pixel (summed over overlapping
/// windows). Used by rules that need every window's members (DeepLIFT's
/// max-pool rule).
pub(crate) fn pool_windows(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
    pad: f32,
) -> candle_core::Result<Tensor> {
    let g = PoolGeometry::new(x, kernel, stride, padding)?;
    let PoolGeometry { n, c, oh, ow, .. } = g;
    if kernel == stride && padding == 0 {
        let k = kernel;
        return x
            .narrow(2, 0, oh * k)?
            .narrow(3, 0, ow * k)?
            .reshape((n, c, oh, k, ow, k))?
            .permute((0, 1, 2, 4, 3, 5))?
            .reshape((n, c, oh, ow, k * k))?
            .contiguous();
    }
    let views = g
        .shifted_views(x, pad)?
        .into_iter()
        .map(|v| v.unsqueeze(4))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&views, 4)?.contiguous()
}

/// Validated sizes of a max pool: input `[n, c, h, w]`, output `oh × ow`.
#[derive(Debug, Clone, Copy)]
struct PoolGeometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl PoolGeometry {
    fn new(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> candle_core::Result<Self> {
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
        Ok(PoolGeometry {
            n,
            c,
            h,
            w,
            oh: (h + 2 * padding - kernel) / stride + 1,
            ow: (w + 2 * padding - kernel) / stride + 1,
            kernel,
            stride,
            padding,
        })
    }

    /// The `kernel²` shifted, strided views `[n, c, oh, ow]` of `x` padded
    /// with `pad`: view `(di, dj)` holds entry `(di, dj)` of every window.
    fn shifted_views(&self, x: &Tensor, pad: f32) -> candle_core::Result<Vec<Tensor>> {
        let PoolGeometry {
            n,
            c,
            h,
            w,
            oh,
            ow,
            kernel,
            stride,
            padding,
        } = *self;
        // Pad `padding` before, and after as much as the last shifted view
        // of length `o * stride` needs.
        let hp = (h + 2 * padding).max(kernel - 1 + oh * stride);
        let wp = (w + 2 * padding).max(kernel - 1 + ow * stride);
        let xp = pad_const(x, 2, padding, hp - h - padding, pad)?;
        let xp = pad_const(&xp, 3, padding, wp - w - padding, pad)?;
        let mut views = Vec::with_capacity(kernel * kernel);
        for di in 0..kernel {
            for dj in 0..kernel {
                views.push(
                    xp.narrow(2, di, oh * stride)?
                        .narrow(3, dj, ow * stride)?
                        .reshape((n, c, oh, stride, ow, stride))?
                        .narrow(5, 0, 1)?
                        .narrow(3, 0, 1)?
                        .reshape((n, c, oh, ow))?,
                );
            }
        }
        Ok(views)
    }
}

impl PoolGeometry {
    /// Calls `f(o, i)` for every window: `o` its flat output index, `i` the
    /// flat index in `x` of its first maximum in row-major window order
    /// (padded entries never win; a window always holds a real entry, as
    /// `padding ≤ kernel / 2`).
    fn for_each_winner<T: WithDType>(&self, x: &[T], mut f: impl FnMut(usize, usize)) {
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        let (kernel, stride, padding) = (self.kernel, self.stride, self.padding);
        let span = |o: usize, len: usize| {
            let lo = (o * stride).max(padding) - padding;
            let hi = (o * stride + kernel).min(len + padding) - padding;
            lo..hi
        };
        for plane in 0..self.n * self.c {
            let xp = &x[plane * h * w..][..h * w];
            for i in 0..oh {
                let rows = span(i, h);
                for j in 0..ow {
                    let cols = span(j, w);
                    let mut best = rows.start * w + cols.start;
                    for r in rows.clone() {
                        for q in cols.clone() {
                            if xp[r * w + q] > xp[best] {
                                best = r * w + q;
                            }
                        }
                    }
                    f((plane * oh + i) * ow + j, plane * h * w + best);
                }
            }
        }
    }

    fn out_len(&self) -> usize {
        self.n * self.c * self.oh * self.ow
    }
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&T::cpu_storage_as_slice(s)?[a..b]),
        None => bail!("max_pool2d needs a contiguous tensor"),
    }
}

/// The CPU max pool (see [`max_pool2d`]).
#[derive(Debug, Clone, Copy)]
struct PoolOp(PoolGeometry);

impl PoolOp {
    fn pool<T: WithDType>(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<CpuStorage> {
        let x = slice::<T>(s, l)?;
        let mut out = vec![T::zero(); self.0.out_len()];
        self.0.for_each_winner(x, |o, i| out[o] = x[i]);
        Ok(T::to_cpu_storage_owned(out))
    }
}

impl CustomOp1 for PoolOp {
    fn name(&self) -> &'static str {
        "salience-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let out = by_float(
            s,
            "max_pool2d",
            || self.pool::<f32>(s, l),
            || self.pool::<f64>(s, l),
        )?;
        Ok((out, Shape::from((g.n, g.c, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &PoolGrad(self.0),
        )?))
    }
}

/// The max pool's backward pass: `(x, grad)` → each window's gradient
/// added at its winner.
#[derive(Debug, Clone, Copy)]
struct PoolGrad(PoolGeometry);

impl PoolGrad {
    fn scatter<T: WithDType>(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<CpuStorage> {
        let (x, g) = (slice::<T>(xs, xl)?, slice::<T>(gs, gl)?);
        if g.len() != self.0.out_len() {
            bail!(
                "max_pool2d backward: gradient of {} values, expected {}",
                g.len(),
                self.0.out_len()
            );
        }
        let mut dx = vec![T::zero(); x.len()];
        self.0.for_each_winner(x, |o, i| dx[i] += g[o]);
        Ok(T::to_cpu_storage_owned(dx))
    }
}

impl CustomOp2 for PoolGrad {
    fn name(&self) -> &'static str {
        "salience-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let dx = by_float(
            xs,
            "max_pool2d",
            || self.scatter::<f32>(xs, xl, gs, gl),
            || self.scatter::<f64>(xs, xl, gs, gl),
        )?;
        Ok((dx, Shape::from((g.n, g.c, g.h, g.w))))
    }
}

/// Pads `x` along `dim` with `before` and `after` entries of `value`.
fn pad_const(
    x: &Tensor,
    dim: usize,
    before: usize,
    after: usize,
    value: f32,
) -> candle_core::Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    let mut parts = Vec::with_capacity(3);
    let block = |len: usize| -> candle_core::Result<Tensor> {
        let mut shape = x.dims().to_vec();
        shape[dim] = len;
        Tensor::full(value, shape, x.device())?.to_dtype(x.dtype())
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
            // The tracked (gradient-routing) path gives the same values.
            let v = Var::from_tensor(&x).unwrap();
            let yt = max_pool2d(v.as_tensor(), k, s, p).unwrap();
            assert_eq!(yt.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want);
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
    fn windows_hold_every_window_entry() {
        for &(k, s, p, h, w) in &[(3, 2, 1, 7, 8), (2, 2, 0, 7, 5), (3, 1, 1, 5, 4)] {
            let data = distinct(2 * h * w);
            let x = Tensor::from_vec(data.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
            let win = pool_windows(&x, k, s, p, -100.0).unwrap();
            let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
            assert_eq!(win.dims(), &[1, 2, oh, ow, k * k]);
            let got: Vec<f64> = win.flatten_all().unwrap().to_vec1().unwrap();
            let mut want = Vec::new();
            for ch in 0..2 {
                for i in 0..oh {
                    for j in 0..ow {
                        for di in 0..k {
                            for dj in 0..k {
                                let r = (i * s + di) as isize - p as isize;
                                let q = (j * s + dj) as isize - p as isize;
                                let inside =
                                    r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w;
                                want.push(if inside {
                                    data[ch * h * w + r as usize * w + q as usize]
                                } else {
                                    -100.0
                                });
                            }
                        }
                    }
                }
            }
            assert_eq!(got, want, "k={k} s={s} p={p}");
            // The window maxima are the pool.
            let m: Vec<f64> = win
                .max(4)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let pool: Vec<f64> = max_pool2d(&x, k, s, p)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(m, pool);
        }
    }

    #[test]
    fn tied_maxima_pass_the_gradient_to_the_first_winner_only() {
        // A flat 4×4 image: every window is a four-way tie. PyTorch sends
        // each window's gradient to its first entry; so do we (candle's
        // `max` would send it to all four: a 4× larger gradient).
        for &(k, s, p) in &[(2, 2, 0), (3, 2, 1)] {
            let x =
                Var::from_tensor(&Tensor::ones((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap())
                    .unwrap();
            let y = max_pool2d(x.as_tensor(), k, s, p).unwrap();
            assert!(y
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|&v| v == 1.0));
            let g = y.sum_all().unwrap().backward().unwrap();
            let g: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            // The gradient sums to the number of windows (one per window).
            assert_eq!(g.iter().sum::<f32>(), y.elem_count() as f32, "k={k}");
            let want: Vec<f32> = match (k, s, p) {
                // Windows start at (0,0), (0,2), (2,0), (2,2).
                (2, 2, 0) => vec![
                    1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.,
                ],
                // Windows start at (-1,-1), (-1,1), (1,-1), (1,1): the first
                // real entries are (0,0), (0,1), (1,0), (1,1).
                _ => vec![
                    1., 1., 0., 0., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.,
                ],
            };
            assert_eq!(g, want, "k={k} s={s} p={p}");
        }
    }

    /// The CPU op and the view-based graph (used off the CPU) give the same
    /// values and route every window's gradient to the same entry, also
    /// with many ties (small integers).
    #[test]
    fn cpu_op_equals_the_view_path_with_ties() {
        for &(k, s, p, h, w) in &[
            (2, 2, 0, 7, 6),
            (3, 2, 1, 8, 7),
            (3, 1, 1, 5, 6),
            (3, 3, 0, 9, 8),
        ] {
            let data: Vec<f64> = (0..2 * 3 * h * w).map(|i| ((i * 37) % 5) as f64).collect();
            let x = Tensor::from_vec(data, (2, 3, h, w), &Device::Cpu).unwrap();
            let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
                let v = Var::from_tensor(&x).unwrap();
                let y = f(v.as_tensor()).unwrap();
                let wts: Vec<f64> = (0..y.elem_count()).map(|i| 1.0 + i as f64).collect();
                let wt = Tensor::from_vec(wts, y.dims(), &Device::Cpu).unwrap();
                let g = (&y * &wt).unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                (flat(&y), flat(g.get(&v).unwrap()))
            };
            let ours = run(&|t| max_pool2d(t, k, s, p));
            let views = run(&|t| max_pool2d_views(t, k, s, p));
            assert_eq!(ours, views, "k={k} s={s} p={p}");
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
