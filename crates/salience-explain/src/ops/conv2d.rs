//! A 2-D convolution as im2col + one batched matrix product.
//!
//! candle 0.11's CPU convolution is a direct loop that dispatches one
//! parallel task per (image, kernel offset), and its backward pass goes
//! through an equally direct `conv_transpose2d`: on small feature maps
//! most of the time is spent in dispatch and in dot products of length
//! `C_in`. This convolution gathers the `k_h × k_w` shifted (and, for
//! stride > 1, strided) views of the zero-padded input into a
//! `[N, C·k_h·k_w, H_out·W_out]` column tensor and multiplies it by the
//! `[C_out, C·k_h·k_w]` weight matrix, so the backward pass is matrix
//! products plus the adjoint of the gather (col2im).
//!
//! On the CPU (f32, f64) the whole layer is one custom op on
//! `(x, weight[, bias])` whose backward pass computes only the gradients
//! candle will ask for: the input gradient `col2im(Wᵀ·G)` (one fused op
//! that multiplies and scatters one band of output rows at a time through
//! a reused, cache-sized buffer, so no full-size column gradient is
//! materialised), and the weight
//! and bias gradients only when those are `Var`s or depend on one
//! (training). candle's generic matmul and broadcast-add backward compute
//! both operands' gradients unconditionally, which made an attribution
//! pass through constant weights pay for a weight gradient it discarded.
//! The op also frees the column buffer as soon as the forward product is
//! done. On other devices the gather is built from differentiable candle
//! ops (`pad_with_zeros`, `narrow`, `reshape`, `stack`) and candle's own
//! backward runs. The result equals candle's `conv2d` up to the rounding
//! of a different summation order.

use super::{by_float, layer_op_impls, needs_grad, LayerGrads, LayerOp};
use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module, Shape, Tensor, WithDType,
};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// Cross-correlation of `x` (`[N, C, H, W]`) with `weight`
/// (`[C_out, C, k_h, k_w]`), plus an optional `bias` (`[C_out]`), with
/// the same `stride` and zero `padding` on both spatial axes (PyTorch's
/// `conv2d` with `dilation = 1`, `groups = 1`). The output is
/// `[N, C_out, (H + 2p − k_h) / s + 1, (W + 2p − k_w) / s + 1]`.
///
/// Errors (a candle error with a message) when a tensor has the wrong
/// rank, the channel counts disagree, `stride` is 0, or the padded input
/// is smaller than the kernel.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::conv2d;
/// let dev = Device::Cpu;
/// let x = Tensor::arange(0f32, 16., &dev).unwrap().reshape((1, 1, 4, 4)).unwrap();
/// let w = Tensor::ones((1, 1, 3, 3), candle_core::DType::F32, &dev).unwrap();
/// let ours = conv2d(&x, &w, None, 1, 1).unwrap();
/// let candle = x.conv2d(&w, 1, 1, 1, 1).unwrap();
/// let diff = (ours - candle).unwrap().abs().unwrap().max_all().unwrap();
/// assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
/// ```
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> candle_core::Result<Tensor> {
    conv2d_grouped(x, weight, bias, stride, padding, 1)
}

/// [`conv2d`] with `groups` channel groups (PyTorch's `groups`): the
/// input's `C` channels and the weight's `C_out` filters are split into
/// `groups` consecutive blocks and block `j` of the filters sees only
/// block `j` of the channels, so the weight is `[C_out, C / groups, k_h,
/// k_w]`; `groups = C = C_out` is a depthwise convolution (MobileNet).
/// The columns are gathered once, as for one group; each image then runs
/// one matrix product batched over the groups (the weight block `j`
/// times the rows of channel block `j`), and the backward pass is the
/// same per-group products plus the one col2im.
///
/// Errors (a candle error) as [`conv2d`], and when `groups` is 0 or does
/// not divide `C_out`, or `C ≠ groups · C_in`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::ops::conv2d::conv2d_grouped;
/// let dev = Device::Cpu;
/// // Depthwise: channel 0 is scaled by 2, channel 1 by 3.
/// let x = Tensor::new(&[1.0f32, 1.0, 10.0, 10.0], &dev).unwrap().reshape((1, 2, 1, 2)).unwrap();
/// let w = Tensor::new(&[2.0f32, 3.0], &dev).unwrap().reshape((2, 1, 1, 1)).unwrap();
/// let y = conv2d_grouped(&x, &w, None, 1, 0, 2).unwrap();
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![2.0, 2.0, 30.0, 30.0]);
/// ```
pub fn conv2d_grouped(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    groups: usize,
) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = match x.dims() {
        &[n, c, h, w] => (n, c, h, w),
        d => bail!("conv2d expects a [N, C, H, W] input, got shape {d:?}"),
    };
    let (co, ci, kh, kw) = match weight.dims() {
        &[co, ci, kh, kw] => (co, ci, kh, kw),
        d => bail!("conv2d expects a [C_out, C_in, k_h, k_w] weight, got shape {d:?}"),
    };
    if groups == 0 || co % groups != 0 {
        bail!("conv2d: {groups} groups do not divide the {co} output channels");
    }
    if ci * groups != c {
        bail!("conv2d: the input has {c} channels but the weight expects {ci} per group x {groups} groups");
    }
    if stride == 0 || kh == 0 || kw == 0 {
        bail!("conv2d: stride ({stride}) and kernel ({kh}x{kw}) must be at least 1");
    }
    if h + 2 * padding < kh || w + 2 * padding < kw {
        bail!("conv2d: input {h}x{w} with padding {padding} is smaller than the kernel {kh}x{kw}");
    }
    if let Some(b) = bias {
        if b.dims() != [co] {
            bail!("conv2d: bias of shape {:?}, expected [{co}]", b.dims());
        }
    }
    let oh = (h + 2 * padding - kh) / stride + 1;
    let ow = (w + 2 * padding - kw) / stride + 1;

    let geom = Im2Col {
        n,
        c,
        h,
        w,
        kh,
        kw,
        stride,
        padding,
        oh,
        ow,
    };
    if x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
        && weight.dtype() == x.dtype()
        && bias.is_none_or(|b| b.dtype() == x.dtype())
    {
        // One op whose backward computes only the gradients that are
        // needed (see [`ConvOp`]).
        let op = ConvOp { geom, co, groups };
        let (x, w) = (x.contiguous()?, weight.contiguous()?);
        return match bias {
            Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
            None => x.apply_op2(&w, op),
        };
    }
    conv2d_views(x, weight, bias, geom, co, groups)
}

/// The convolution from differentiable candle ops (any device and
/// dtype): the gathered views times the weight matrix, plus the bias.
fn conv2d_views(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geom: Im2Col,
    co: usize,
    groups: usize,
) -> candle_core::Result<Tensor> {
    let (n, k, p) = geom.cols_shape();
    let cols = if geom.is_direct() {
        // A 1×1 convolution is a plain channel-mixing product.
        x.reshape(geom.cols_shape())?
    } else {
        geom.gather_views(x)?
    };
    let out = if groups == 1 {
        weight.reshape((co, k))?.broadcast_matmul(&cols)?
    } else {
        // Block j of the filters times block j of the column rows.
        let (cog, kg) = (co / groups, k / groups);
        weight
            .reshape((1, groups, cog, kg))?
            .broadcast_as((n, groups, cog, kg))?
            .contiguous()?
            .matmul(&cols.reshape((n, groups, kg, p))?)?
    };
    let out = out.reshape((n, co, geom.oh, geom.ow))?;
    match bias {
        Some(b) => out.broadcast_add(&b.reshape((1, co, 1, 1))?),
        None => Ok(out),
    }
}

/// The CPU convolution as one op on `(x, weight[, bias])`: the forward
/// pass gathers the im2col columns into a temporary buffer (freed when
/// the op returns; a stride-1 unpadded 1×1 kernel reads `x` directly),
/// multiplies them by the weight matrix and adds the bias in place.
///
/// Its backward pass returns the input gradient `col2im(Wᵀ·G)` (one
/// [`ConvInputGrad`] op) when `x` is tracked, and the weight gradient `Σ_b G_b·cols_bᵀ` (the columns
/// rebuilt from `x`) and bias gradient only when the weight or bias is a
/// `Var` or depends on one ([`needs_grad`]). candle's generic matmul
/// backward computes both operands' gradients unconditionally, so an
/// attribution pass through constant weights used to pay for a weight
/// gradient it then discarded. Every backward product is differentiable
/// (candle ops, or [`ConvInputGrad`] with its own backward), so second
/// derivatives still work.
#[derive(Debug, Clone, Copy)]
struct ConvOp {
    geom: Im2Col,
    co: usize,
    groups: usize,
}

impl ConvOp {
    /// `[N, C_out, P] = W·cols (+ b)` on the CPU.
    fn cpu<T: WithDType + Default>(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.geom;
        let (n, k, p) = g.cols_shape();
        let co = self.co;
        let (wa, _) = match wl.contiguous_offsets() {
            Some(o) => o,
            None => bail!("conv2d: the weight must be contiguous"),
        };
        let out = if self.groups > 1 {
            self.grouped_cpu::<T>(xs, xl, ws, wa)?
        } else if g.is_direct() {
            let w_layout = Layout::contiguous_with_offset((co, k), wa).broadcast_as((n, co, k))?;
            let (xa, _) = match xl.contiguous_offsets() {
                Some(o) => o,
                None => bail!("conv2d: im2col needs a contiguous tensor"),
            };
            let cols_layout = Layout::contiguous_with_offset((n, k, p), xa);
            ws.matmul(xs, (n, co, p, k), &w_layout, &cols_layout)?
        } else {
            let w_layout = Layout::contiguous_with_offset((co, k), wa).broadcast_as((n, co, k))?;
            let x = contiguous_slice(T::cpu_storage_as_slice(xs)?, xl)?;
            let cols = T::to_cpu_storage_owned(g.gather(x));
            ws.matmul(
                &cols,
                (n, co, p, k),
                &w_layout,
                &Layout::contiguous((n, k, p)),
            )?
        };
        let out = match bias {
            Some((bs, bl)) => {
                let b = contiguous_slice(T::cpu_storage_as_slice(bs)?, bl)?;
                let mut v = T::cpu_storage_data(out)?;
                for (row, &bo) in v.chunks_exact_mut(p).zip(b.iter().cycle()) {
                    for y in row {
                        *y += bo;
                    }
                }
                T::to_cpu_storage_owned(v)
            }
            None => out,
        };
        Ok((out, Shape::from((n, co, g.oh, g.ow))))
    }

    /// `[N, C_out, P]` for `groups > 1`: per image, one matrix product
    /// batched over the groups, `[g, C_out/g, K/g] · [g, K/g, P]` (the
    /// column rows of channel block `j` are contiguous).
    fn grouped_cpu<T: WithDType + Default>(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wa: usize,
    ) -> candle_core::Result<CpuStorage> {
        let g = self.geom;
        let (n, k, p) = g.cols_shape();
        let (groups, co) = (self.groups, self.co);
        let (cog, kg) = (co / groups, k / groups);
        let w_layout = Layout::contiguous_with_offset((groups, cog, kg), wa);
        let owned;
        let (cols, base): (&CpuStorage, usize) = if g.is_direct() {
            match xl.contiguous_offsets() {
                Some((a, _)) => (xs, a),
                None => bail!("conv2d: im2col needs a contiguous tensor"),
            }
        } else {
            let x = contiguous_slice(T::cpu_storage_as_slice(xs)?, xl)?;
            owned = T::to_cpu_storage_owned(g.gather(x));
            (&owned, 0)
        };
        let mut out: Vec<T> = Vec::with_capacity(n * co * p);
        for b in 0..n {
            let cols_layout = Layout::contiguous_with_offset((groups, kg, p), base + b * k * p);
            let y = ws.matmul(cols, (groups, cog, p, kg), &w_layout, &cols_layout)?;
            out.extend_from_slice(T::cpu_storage_as_slice(&y)?);
        }
        Ok(T::to_cpu_storage_owned(out))
    }
}

impl LayerOp for ConvOp {
    fn forward(
        &self,
        (xs, xl): (&CpuStorage, &Layout),
        (ws, wl): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        by_float(
            xs,
            "conv2d",
            || self.cpu::<f32>(xs, xl, ws, wl, bias),
            || self.cpu::<f64>(xs, xl, ws, wl, bias),
        )
    }

    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> candle_core::Result<LayerGrads> {
        let g = self.geom;
        let (n, k, p) = g.cols_shape();
        if self.groups > 1 {
            return self.grouped_grads(x, weight, bias, grad);
        }
        let grad = grad.reshape((n, self.co, p))?;
        let w2 = weight.reshape((self.co, k))?;
        let gx = if !x.track_op() {
            None
        } else if g.is_direct() {
            Some(w2.t()?.broadcast_matmul(&grad)?.reshape(x.shape())?)
        } else {
            Some(self.input_grad(weight, &grad)?)
        };
        let gw = if needs_grad(weight) {
            let cols = if g.is_direct() {
                x.reshape((n, k, p))?
            } else {
                x.contiguous()?.apply_op1(g)?
            };
            Some(grad.matmul(&cols.t()?)?.sum(0)?.reshape(weight.shape())?)
        } else {
            None
        };
        let gb = match bias {
            Some(b) if needs_grad(b) => Some(grad.sum((0, 2))?),
            _ => None,
        };
        Ok((gx, gw, gb))
    }
}

impl ConvOp {
    /// `col2im(Wᵀ·G)` for `G` of shape `[N, C_out, H_out·W_out]`, one
    /// [`ConvInputGrad`] op.
    fn input_grad(&self, weight: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let op = ConvInputGrad {
            geom: self.geom,
            co: self.co,
            groups: self.groups,
            band_values: BAND_VALUES,
        };
        weight.contiguous()?.apply_op2(&grad.contiguous()?, op)
    }

    /// [`LayerOp::grads`] for `groups > 1`: the same products per group
    /// (`[N, g, ·, ·]` batches), then one col2im.
    fn grouped_grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> candle_core::Result<LayerGrads> {
        let g = self.geom;
        let (n, k, p) = g.cols_shape();
        let groups = self.groups;
        let (cog, kg) = (self.co / groups, k / groups);
        let grad = grad.reshape((n, groups, cog, p))?;
        let gx = if !x.track_op() {
            None
        } else if g.is_direct() {
            let wt = weight
                .reshape((1, groups, cog, kg))?
                .transpose(2, 3)?
                .broadcast_as((n, groups, kg, cog))?
                .contiguous()?;
            Some(wt.matmul(&grad.contiguous()?)?.reshape(x.shape())?)
        } else {
            Some(self.input_grad(weight, &grad.reshape((n, self.co, p))?)?)
        };
        let gw = if needs_grad(weight) {
            let cols = if g.is_direct() {
                x.reshape((n, k, p))?
            } else {
                x.contiguous()?.apply_op1(g)?
            };
            let cols_t = cols
                .reshape((n, groups, kg, p))?
                .transpose(2, 3)?
                .contiguous()?;
            Some(
                grad.contiguous()?
                    .matmul(&cols_t)?
                    .sum(0)?
                    .reshape(weight.shape())?,
            )
        } else {
            None
        };
        let gb = match bias {
            Some(b) if needs_grad(b) => Some(grad.sum((0, 3))?.flatten_all()?),
            _ => None,
        };
        Ok((gx, gw, gb))
    }
}

layer_op_impls!(ConvOp, "salience-conv2d", "salience-conv2d-bias");

/// Values of one band buffer of [`ConvInputGrad`]: `[C·k_h·k_w / groups,
/// rows·W_out]` stays within a core's L2 cache (512 KiB of f32), so col2im
/// reads back what the product has just written.
const BAND_VALUES: usize = 1 << 17;

/// The input gradient of the convolution, `col2im(Wᵀ·G)`, as one op on
/// `(weight, G)` (`G` is `[N, C_out, H_out·W_out]`). Per image, group
/// and band of output rows, the product `W_jᵀ·G_b[:, band]` goes into a
/// buffer of at most [`BAND_VALUES`] values that is scattered into the
/// image's gradient before the next band, so no `[N, C·k_h·k_w,
/// H_out·W_out]` column gradient is materialised. Its backward pass (second derivatives)
/// is the convolution of the upstream gradient with `W` for `G` and the
/// convolution's weight gradient for `W`, both differentiable.
#[derive(Debug, Clone, Copy)]
struct ConvInputGrad {
    geom: Im2Col,
    co: usize,
    groups: usize,
    /// The most values of a band buffer ([`BAND_VALUES`]; smaller in
    /// tests, to exercise many bands on small inputs).
    band_values: usize,
}

impl ConvInputGrad {
    /// Output rows per band for `kg` column rows (at least one).
    fn band_rows(&self, kg: usize) -> usize {
        (self.band_values / (kg * self.geom.ow).max(1)).clamp(1, self.geom.oh)
    }

    fn cpu<T: WithDType + Default + std::ops::AddAssign>(
        &self,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<Vec<T>> {
        let geo = self.geom;
        let (n, k, p) = geo.cols_shape();
        let (groups, co) = (self.groups, self.co);
        let (cog, kg, cg) = (co / groups, k / groups, geo.c / groups);
        let (wa, ga) = match (wl.contiguous_offsets(), gl.contiguous_offsets()) {
            (Some((wa, _)), Some((ga, _))) => (wa, ga),
            _ => bail!("conv2d backward: the weight and gradient must be contiguous"),
        };
        if gl.shape().elem_count() != n * co * p || wl.shape().elem_count() != co * kg {
            bail!(
                "conv2d backward: gradient {:?} / weight {:?} do not fit the layer",
                gl.dims(),
                wl.dims()
            );
        }
        let hw = geo.h * geo.w;
        let rows = self.band_rows(kg);
        let mut out = vec![T::default(); n * geo.c * hw];
        let taps = geo.kh * geo.kw;
        // Images one after the other: the product is parallel inside (on
        // the calling thread's pool), the scatter over the channel planes.
        // (Images in parallel made each worker allocate its own product
        // buffers, +12 % peak RSS on ResNet-18.)
        for (b, img) in out.chunks_exact_mut(geo.c * hw).enumerate() {
            for (j, planes) in img.chunks_exact_mut(cg * hw).enumerate() {
                // W_jᵀ: [kg, cog], a transposed view of rows j·cog.. of W.
                let wt =
                    Layout::contiguous_with_offset((cog, kg), wa + j * cog * kg).transpose(0, 1)?;
                let g_j = Layout::contiguous_with_offset((cog, p), ga + (b * co + j * cog) * p);
                let mut r0 = 0;
                while r0 < geo.oh {
                    let r1 = (r0 + rows).min(geo.oh);
                    let band = (r1 - r0) * geo.ow;
                    let g_band = g_j.narrow(1, r0 * geo.ow, band)?;
                    let cols = ws.matmul(gs, (1, kg, band, cog), &wt, &g_band)?;
                    let cols = T::cpu_storage_as_slice(&cols)?;
                    let plane = |(cl, plane): (usize, &mut [T])| {
                        geo.scatter_band(&cols[cl * taps * band..][..taps * band], r0..r1, plane);
                    };
                    if cols.len() >= PARALLEL_MIN {
                        planes.par_chunks_mut(hw).enumerate().for_each(plane);
                    } else {
                        planes.chunks_mut(hw).enumerate().for_each(plane);
                    }
                    r0 = r1;
                }
            }
        }
        Ok(out)
    }
}

impl CustomOp2 for ConvInputGrad {
    fn name(&self) -> &'static str {
        "salience-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let geo = self.geom;
        if gl.shape().elem_count() != geo.n * self.co * geo.oh * geo.ow {
            bail!(
                "conv2d backward: gradient {:?} does not fit the layer",
                gl.dims()
            );
        }
        let out = by_float(
            gs,
            "conv2d",
            || {
                self.cpu::<f32>(ws, wl, gs, gl)
                    .map(f32::to_cpu_storage_owned)
            },
            || {
                self.cpu::<f64>(ws, wl, gs, gl)
                    .map(f64::to_cpu_storage_owned)
            },
        )?;
        Ok((out, Shape::from((geo.n, geo.c, geo.h, geo.w))))
    }

    /// `⟨U, col2im(Wᵀ·G)⟩ = ⟨conv(U, W), G⟩`: the gradient for `G` is the
    /// convolution of `U` with `W`, the one for `W` the convolution's
    /// weight gradient at input `U` and output gradient `G`.
    fn bwd(
        &self,
        weight: &Tensor,
        grad: &Tensor,
        _res: &Tensor,
        up: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let geo = self.geom;
        let gg = if grad.track_op() {
            let y = conv2d_grouped(up, weight, None, geo.stride, geo.padding, self.groups)?;
            Some(y.reshape(grad.shape())?)
        } else {
            None
        };
        let op = ConvOp {
            geom: geo,
            co: self.co,
            groups: self.groups,
        };
        let (_, gw, _) = op.grads(&up.detach(), weight, None, grad)?;
        Ok((gw, gg))
    }
}

/// The geometry of an im2col gather: input `[n, c, h, w]`, kernel
/// `kh × kw`, output positions `oh × ow`.
/// Below this many output values im2col / col2im run on the calling
/// thread (the rayon hand-off costs more than it saves).
const PARALLEL_MIN: usize = 1 << 15;

#[derive(Debug, Clone, Copy)]
struct Im2Col {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    oh: usize,
    ow: usize,
}

impl Im2Col {
    /// A stride-1 unpadded 1×1 kernel: the columns are the input itself.
    fn is_direct(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    fn cols_shape(&self) -> (usize, usize, usize) {
        (self.n, self.c * self.kh * self.kw, self.oh * self.ow)
    }

    /// For each column row `(ci, i, j)` and output row `r`: the input row
    /// it reads, if inside the image.
    fn src_row(&self, i: usize, r: usize) -> Option<usize> {
        (r * self.stride + i)
            .checked_sub(self.padding)
            .filter(|&y| y < self.h)
    }

    /// The output columns `q` whose input column `q·s + j − p` lies inside
    /// the image, as a range.
    fn valid_cols(&self, j: usize) -> std::ops::Range<usize> {
        let (s, p) = (self.stride, self.padding);
        let lo = if j >= p { 0 } else { (p - j).div_ceil(s) };
        let hi = if self.w + p > j {
            ((self.w - 1 + p - j) / s + 1).min(self.ow)
        } else {
            0
        };
        lo..hi.max(lo)
    }

    /// cols[b, (ci, i, j), (r, q)] = x[b, ci, r·s + i − p, q·s + j − p]
    /// (0 outside the image). Planes `(b, ci)` are gathered in parallel
    /// (each writes its own rows of `cols`), so the result does not depend
    /// on the thread count.
    fn gather<T: Copy + Default + Send + Sync>(&self, x: &[T]) -> Vec<T> {
        let (n, rows, pos) = self.cols_shape();
        let mut out = vec![T::default(); n * rows * pos];
        let block = self.kh * self.kw * pos;
        let hw = self.h * self.w;
        let fill = |(plane_index, dst): (usize, &mut [T])| {
            let plane = &x[plane_index * hw..][..hw];
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let dst = &mut dst[(i * self.kw + j) * pos..][..pos];
                    let qs = self.valid_cols(j);
                    for r in 0..self.oh {
                        let Some(y) = self.src_row(i, r) else {
                            continue;
                        };
                        let src = &plane[y * self.w..][..self.w];
                        let row = &mut dst[r * self.ow..][..self.ow];
                        if self.stride == 1 {
                            let x0 = qs.start + j - self.padding;
                            row[qs.clone()].copy_from_slice(&src[x0..x0 + qs.len()]);
                        } else {
                            for q in qs.clone() {
                                row[q] = src[q * self.stride + j - self.padding];
                            }
                        }
                    }
                }
            }
        };
        if out.len() >= PARALLEL_MIN {
            out.par_chunks_mut(block).enumerate().for_each(fill);
        } else {
            out.chunks_mut(block).enumerate().for_each(fill);
        }
        out
    }

    /// The adjoint of [`Im2Col::gather`]: scatter-add the columns back.
    /// Planes `(b, ci)` are filled in parallel, each summing its own
    /// columns in a fixed order, so the result does not depend on the
    /// thread count.
    fn scatter<T: Copy + Default + std::ops::AddAssign + Send + Sync>(&self, cols: &[T]) -> Vec<T> {
        let (_, rows, pos) = self.cols_shape();
        let hw = self.h * self.w;
        let taps = self.kh * self.kw;
        let mut out = vec![T::default(); self.n * self.c * hw];
        let fill = |(plane_index, plane): (usize, &mut [T])| {
            let (b, ci) = (plane_index / self.c, plane_index % self.c);
            let src = &cols[(b * rows + ci * taps) * pos..][..taps * pos];
            self.scatter_band(src, 0..self.oh, plane);
        };
        if out.len() >= PARALLEL_MIN {
            out.par_chunks_mut(hw).enumerate().for_each(fill);
        } else {
            out.chunks_mut(hw).enumerate().for_each(fill);
        }
        out
    }

    /// Adds the columns of the output rows `rows` of one image into the
    /// gradient `planes` of consecutive channels (`[c', h, w]`): `cols` is
    /// `[c'·k_h·k_w, rows.len()·ow]`, row-major, its rows in the weight's
    /// `(c, i, j)` order. The adjoint of the gather restricted to a band of
    /// output rows and a block of channels.
    fn scatter_band<T: Copy + std::ops::AddAssign>(
        &self,
        cols: &[T],
        rows: std::ops::Range<usize>,
        planes: &mut [T],
    ) {
        let hw = self.h * self.w;
        let band = rows.len() * self.ow;
        let (s, p) = (self.stride, self.padding);
        for (cl, plane) in planes.chunks_exact_mut(hw).enumerate() {
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let src = &cols[((cl * self.kh + i) * self.kw + j) * band..][..band];
                    let qs = self.valid_cols(j);
                    if qs.is_empty() {
                        continue;
                    }
                    for (rl, r) in rows.clone().enumerate() {
                        let Some(y) = self.src_row(i, r) else {
                            continue;
                        };
                        let dst = &mut plane[y * self.w..][..self.w];
                        let s_row = &src[rl * self.ow..][..self.ow][qs.clone()];
                        let x0 = qs.start * s + j - p;
                        if s == 1 {
                            for (d, &v) in dst[x0..x0 + qs.len()].iter_mut().zip(s_row) {
                                *d += v;
                            }
                        } else {
                            for (d, &v) in dst[x0..].iter_mut().step_by(s).zip(s_row) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The same gather from differentiable candle ops (any device).
    fn gather_views(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, s) = (self.n, self.c, self.stride);
        let (oh, ow) = (self.oh, self.ow);
        // Zero padding: `padding` before, and after as much as the last
        // view of length `o · stride` needs.
        let hp = (self.h + 2 * self.padding).max(self.kh - 1 + oh * s);
        let wp = (self.w + 2 * self.padding).max(self.kw - 1 + ow * s);
        let xp = x
            .pad_with_zeros(2, self.padding, hp - self.h - self.padding)?
            .pad_with_zeros(3, self.padding, wp - self.w - self.padding)?;
        let mut views = Vec::with_capacity(self.kh * self.kw);
        for di in 0..self.kh {
            for dj in 0..self.kw {
                let v = xp.narrow(2, di, oh * s)?.narrow(3, dj, ow * s)?;
                let v = if s == 1 {
                    v
                } else {
                    v.reshape((n, c, oh, s, ow, s))?
                        .narrow(5, 0, 1)?
                        .narrow(3, 0, 1)?
                };
                views.push(v.reshape((n, c, oh * ow))?);
            }
        }
        // [N, C, k_h·k_w, H_out·W_out] → [N, C·k_h·k_w, H_out·W_out], in
        // the weight's (c, i, j) order.
        Tensor::stack(&views, 2)?.reshape(self.cols_shape())
    }
}

fn contiguous_slice<'a, T>(v: &'a [T], l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("conv2d: im2col needs a contiguous tensor"),
    }
}

/// `f32(values)` or `f64(values)` of the contiguous f32 or f64 storage
/// `s` (laid out by `l`): one generic column kernel for both dtypes.
fn map_float_storage(
    s: &CpuStorage,
    l: &Layout,
    f32: impl FnOnce(&[f32]) -> Vec<f32>,
    f64: impl FnOnce(&[f64]) -> Vec<f64>,
) -> candle_core::Result<CpuStorage> {
    Ok(match s {
        CpuStorage::F32(v) => CpuStorage::F32(f32(contiguous_slice(v, l)?)),
        CpuStorage::F64(v) => CpuStorage::F64(f64(contiguous_slice(v, l)?)),
        other => bail!(
            "conv2d supports f32 and f64, got {:?}",
            BackendStorage::dtype(other)
        ),
    })
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "salience-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = Shape::from(self.cols_shape());
        let out = map_float_storage(s, l, |v| self.gather(v), |v| self.gather(v))?;
        Ok((out, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1(Col2Im(*self))?))
    }
}

/// The adjoint of [`Im2Col`] (its backward pass); its own backward is
/// the gather again, so second derivatives work.
#[derive(Debug, Clone, Copy)]
struct Col2Im(Im2Col);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "salience-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let shape = Shape::from((g.n, g.c, g.h, g.w));
        let out = map_float_storage(s, l, |v| g.scatter(v), |v| g.scatter(v))?;
        Ok((out, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1(self.0)?))
    }
}

/// A convolution layer computed by [`conv2d`], a drop-in replacement for
/// `candle_nn::Conv2d` (square kernel, `dilation = 1`, `groups = 1`) with
/// the same tensor names (`weight`, `bias`), so the same safetensors
/// load into either.
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// use candle_nn::{VarBuilder, VarMap};
/// use salience_explain::ops::Conv2d;
/// let vm = VarMap::new();
/// let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
/// let conv = Conv2d::new(3, 8, 3, 2, 1, true, vb.pp("conv")).unwrap();
/// let y = conv.forward(&Tensor::zeros((2, 3, 16, 16), DType::F32, &Device::Cpu).unwrap()).unwrap();
/// assert_eq!(y.dims(), &[2, 8, 8, 8]);
/// ```
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// Loads (or, from a `VarMap`, creates with candle-nn's default
    /// Kaiming-uniform initialisation) a `c_in → c_out` convolution with a
    /// `kernel × kernel` window.
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let cfg = candle_nn::Conv2dConfig {
            padding,
            stride,
            ..Default::default()
        };
        let c = if bias {
            candle_nn::conv2d(c_in, c_out, kernel, cfg, vb)?
        } else {
            candle_nn::conv2d_no_bias(c_in, c_out, kernel, cfg, vb)?
        };
        Ok(Self::from_weights(
            c.weight().clone(),
            c.bias().cloned(),
            stride,
            padding,
        ))
    }

    /// A layer from explicit weights (`[C_out, C_in, k, k]`) and bias.
    pub fn from_weights(
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        padding: usize,
    ) -> Self {
        Conv2d {
            weight,
            bias,
            stride,
            padding,
        }
    }

    /// The weight, `[C_out, C_in, k, k]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[C_out]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The stride.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The zero padding on each side.
    pub fn padding(&self) -> usize {
        self.padding
    }

    /// The same layer as a `candle_nn::Conv2d` (sharing the tensors), for
    /// APIs that take candle-nn layers such as
    /// [`crate::rules::LayerOps::conv2d`].
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use candle_nn::{VarBuilder, VarMap};
    /// let vm = VarMap::new();
    /// let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    /// let conv = salience_explain::ops::Conv2d::new(3, 8, 3, 2, 1, true, vb).unwrap();
    /// assert_eq!(conv.to_candle().config().stride, 2);
    /// ```
    pub fn to_candle(&self) -> candle_nn::Conv2d {
        candle_nn::Conv2d::new(
            self.weight.clone(),
            self.bias.clone(),
            candle_nn::Conv2dConfig {
                padding: self.padding,
                stride: self.stride,
                ..Default::default()
            },
        )
    }
}

/// Runs a `candle_nn::Conv2d` through [`conv2d_grouped`] (the fast path,
/// any `groups`) when it has `dilation = 1`, and through candle's own
/// convolution otherwise. Users' candle-nn models can call this in their
/// forward pass to get the faster backward pass without changing their
/// weights.
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// let dev = Device::Cpu;
/// let w = Tensor::ones((2, 1, 3, 3), DType::F32, &dev).unwrap();
/// let layer = candle_nn::Conv2d::new(w, None, candle_nn::Conv2dConfig { padding: 1, ..Default::default() });
/// let x = Tensor::ones((1, 1, 5, 5), DType::F32, &dev).unwrap();
/// let a = salience_explain::ops::conv2d_layer(&layer, &x).unwrap();
/// let b = layer.forward(&x).unwrap();
/// assert_eq!(a.to_vec3::<f32>().is_err(), true); // rank 4
/// assert_eq!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
/// ```
pub fn conv2d_layer(layer: &candle_nn::Conv2d, x: &Tensor) -> candle_core::Result<Tensor> {
    let cfg = layer.config();
    if cfg.dilation == 1 && cfg.cudnn_fwd_algo.is_none() {
        conv2d_grouped(
            x,
            layer.weight(),
            layer.bias(),
            cfg.stride,
            cfg.padding,
            cfg.groups,
        )
    } else {
        layer.forward(x)
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::seeded;
    use super::*;
    use candle_core::{DType, Device, Var};

    /// The gather of a `[2, 3, h, w]` input by a `k × k` kernel.
    /// col2im is the adjoint of im2col, `⟨gather(x), y⟩ = ⟨x, scatter(y)⟩`,
    /// on the serial and the parallel path.
    #[test]
    fn scatter_is_the_adjoint_of_gather() {
        for &(k, s, p, h, w) in &[
            (3, 1, 1, 7, 6),
            (4, 3, 2, 9, 11),
            (3, 1, 1, 64, 64),
            (5, 2, 2, 61, 47),
        ] {
            let g = geometry(h, w, k, s, p);
            let (n, rows, pos) = g.cols_shape();
            let x: Vec<f64> = (0..n * g.c * h * w)
                .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
                .collect();
            let y: Vec<f64> = (0..n * rows * pos)
                .map(|i| ((i * 53 % 97) as f64) / 48.0 - 1.0)
                .collect();
            let lhs: f64 = g.gather(&x).iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(g.scatter(&y)).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "k{k} s{s} p{p}: {lhs} vs {rhs}"
            );
        }
    }

    fn geometry(h: usize, w: usize, k: usize, s: usize, p: usize) -> Im2Col {
        Im2Col {
            n: 2,
            c: 3,
            h,
            w,
            kh: k,
            kw: k,
            stride: s,
            padding: p,
            oh: (h + 2 * p - k) / s + 1,
            ow: (w + 2 * p - k) / s + 1,
        }
    }

    /// Input `[2, 3, h, w]`, weight `[4, 3, k, k]` and bias `[4]` drawn
    /// from seeds `seed`, `seed + 1` and `seed + 2`.
    fn conv_case(h: usize, w: usize, k: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
        (
            seeded(&[2, 3, h, w], seed),
            seeded(&[4, 3, k, k], seed + 1),
            seeded(&[4], seed + 2),
        )
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff")
    }

    #[test]
    fn forward_matches_candle_for_kernels_strides_paddings() {
        for &(k, s, p, h, w) in &[
            (3, 1, 1, 7, 6),
            (3, 2, 1, 7, 8),
            (1, 2, 0, 6, 5),
            (1, 1, 0, 5, 5),
            (7, 2, 3, 13, 11),
            (2, 2, 0, 6, 7),
            (3, 3, 0, 10, 9),
        ] {
            let (x, wt, b) = conv_case(h, w, k, 1);
            let ours = conv2d(&x, &wt, Some(&b), s, p).expect("ours");
            let theirs = x
                .conv2d(&wt, p, s, 1, 1)
                .and_then(|y| y.broadcast_add(&b.reshape((1, 4, 1, 1))?))
                .expect("candle");
            assert_eq!(ours.dims(), theirs.dims(), "k{k} s{s} p{p}");
            assert!(max_diff(&ours, &theirs) < 1e-5, "k{k} s{s} p{p}");
        }
    }

    #[test]
    fn gradients_match_candle() {
        // candle's own backward fails when (H + 2p − k) is not a multiple
        // of the stride, so the comparison uses sizes where it works; the
        // odd sizes are checked against exact differences below.
        for &(k, s, p) in &[(3, 1, 1), (3, 2, 1), (1, 2, 0), (1, 1, 0)] {
            let x = Var::from_tensor(&seeded(&[2, 3, 8, 8], 4)).expect("var");
            let wt = Var::from_tensor(&seeded(&[5, 3, k, k], 5)).expect("var");
            let g = seeded(&[2, 5, (8 + 2 * p - k) / s + 1, (8 + 2 * p - k) / s + 1], 6);
            let ours = conv2d(x.as_tensor(), wt.as_tensor(), None, s, p)
                .and_then(|y| (y * &g)?.sum_all())
                .and_then(|l| l.backward())
                .expect("ours");
            let theirs = x
                .as_tensor()
                .conv2d(wt.as_tensor(), p, s, 1, 1)
                .and_then(|y| (y * &g)?.sum_all())
                .and_then(|l| l.backward())
                .expect("candle");
            for v in [&x, &wt] {
                let a = ours.get(v.as_tensor()).expect("grad");
                let b = theirs.get(v.as_tensor()).expect("grad");
                assert!(max_diff(a, b) < 1e-4, "k{k} s{s} p{p}");
            }
        }
    }

    /// The loss ⟨conv(x, w), g⟩ is linear in x and in w, so its gradient
    /// is exactly the change under a unit step of each coordinate (f64).
    #[test]
    fn gradients_are_exact_differences_on_odd_sizes() {
        let (k, s, p) = (3, 2, 1);
        let x = seeded(&[1, 2, 7, 6], 7).to_dtype(DType::F64).expect("f64");
        let wt = seeded(&[3, 2, k, k], 8).to_dtype(DType::F64).expect("f64");
        let g = seeded(&[1, 3, 4, 3], 9).to_dtype(DType::F64).expect("f64");
        let loss = |x: &Tensor, w: &Tensor| -> f64 {
            conv2d(x, w, None, s, p)
                .and_then(|y| (y * &g)?.sum_all())
                .and_then(|l| l.to_scalar::<f64>())
                .expect("loss")
        };
        let xv = Var::from_tensor(&x).expect("var");
        let wv = Var::from_tensor(&wt).expect("var");
        let grads = conv2d(xv.as_tensor(), wv.as_tensor(), None, s, p)
            .and_then(|y| (y * &g)?.sum_all())
            .and_then(|l| l.backward())
            .expect("backward");
        for (t, v, is_x) in [(&x, &xv, true), (&wt, &wv, false)] {
            let grad: Vec<f64> = grads
                .get(v.as_tensor())
                .and_then(|t| t.flatten_all().ok())
                .and_then(|t| t.to_vec1().ok())
                .expect("grad");
            let base: Vec<f64> = t.flatten_all().and_then(|t| t.to_vec1()).expect("vec");
            let l0 = loss(&x, &wt);
            for (i, gi) in grad.iter().enumerate() {
                let mut b = base.clone();
                b[i] += 1.0;
                let tb = Tensor::from_vec(b, t.dims(), &Device::Cpu).expect("t");
                let l1 = if is_x { loss(&tb, &wt) } else { loss(&x, &tb) };
                assert!(
                    (l1 - l0 - gi).abs() < 1e-9,
                    "coordinate {i}: {} vs {gi}",
                    l1 - l0
                );
            }
        }
    }

    /// ⟨conv(x, w, b), g⟩ in f64 and the gradients backward gives for the
    /// tensors that are `Var`s (`None` for the others).
    fn loss_and_grads(
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        g: &Tensor,
        (s, p): (usize, usize),
        vars: [bool; 3],
    ) -> (f64, [Option<Vec<f64>>; 3], usize) {
        let wrap = |t: &Tensor, v: bool| -> (Tensor, Option<Var>) {
            if v {
                let var = Var::from_tensor(t).expect("var");
                (var.as_tensor().clone(), Some(var))
            } else {
                (t.clone(), None)
            }
        };
        let (xt, xv) = wrap(x, vars[0]);
        let (wt, wv) = wrap(w, vars[1]);
        let (bt, bv) = wrap(b, vars[2]);
        let loss = conv2d(&xt, &wt, Some(&bt), s, p)
            .and_then(|y| (y * g)?.sum_all())
            .expect("loss");
        let value = loss.to_scalar::<f64>().expect("scalar");
        let store = loss.backward().expect("backward");
        let get = |v: &Option<Var>| {
            v.as_ref().map(|v| {
                store
                    .get(v.as_tensor())
                    .and_then(|t| t.flatten_all().ok())
                    .and_then(|t| t.to_vec1::<f64>().ok())
                    .expect("gradient of a Var")
            })
        };
        let grads = [get(&xv), get(&wv), get(&bv)];
        // candle's multiply backward also leaves a gradient for the constant g.
        let entries = store.get_ids().filter(|&&id| id != g.id()).count();
        (value, grads, entries)
    }

    /// Asserts that `grad` (of argument `which` of `args`) is, at every
    /// coordinate, the exact change `loss(args + e_i) − l0` of a loss
    /// linear in that argument.
    fn assert_unit_steps(
        args: &[Tensor; 3],
        which: usize,
        grad: &[f64],
        l0: f64,
        loss: &dyn Fn(&[Tensor; 3]) -> f64,
        what: &str,
    ) {
        let t = &args[which];
        let base: Vec<f64> = t.flatten_all().and_then(|t| t.to_vec1()).expect("v");
        for (i, gi) in grad.iter().enumerate() {
            let mut v = base.clone();
            v[i] += 1.0;
            let mut bumped = args.clone();
            bumped[which] = Tensor::from_vec(v, t.dims(), &Device::Cpu).expect("t");
            let l1 = loss(&bumped);
            assert!(
                (l1 - l0 - gi).abs() < 1e-9,
                "{what} arg {which} coordinate {i}: {} vs {gi}",
                l1 - l0
            );
        }
    }

    /// Each gradient asked for (any subset of x, weight, bias as `Var`s,
    /// 3×3 stride 2 and the direct 1×1 path) is the exact change of the
    /// bilinear loss under a unit step of every coordinate (f64), and the
    /// gradient store holds an entry for the `Var`s only: no weight or
    /// bias gradient is computed for constant weights (candle's matmul and
    /// broadcast-add backward used to leave one for each).
    #[test]
    fn only_the_gradients_of_vars_are_computed_and_they_are_exact() {
        for &(k, s, p, h, w) in &[(3, 2, 1, 7, 6), (1, 1, 0, 4, 5), (3, 1, 1, 5, 5)] {
            let f64t =
                |shape: &[usize], seed| seeded(shape, seed).to_dtype(DType::F64).expect("f64");
            let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
            let x = f64t(&[2, 2, h, w], 21);
            let wt = f64t(&[3, 2, k, k], 22);
            let b = f64t(&[3], 23);
            let g = f64t(&[2, 3, oh, ow], 24);
            for vars in [
                [true, false, false],
                [false, true, false],
                [false, false, true],
                [true, true, true],
                [false, true, true],
            ] {
                let (l0, grads, entries) = loss_and_grads(&x, &wt, &b, &g, (s, p), vars);
                assert_eq!(
                    entries,
                    vars.iter().filter(|&&v| v).count(),
                    "k{k} s{s} vars {vars:?}: only the Vars' gradients are kept"
                );
                for (which, grad) in grads.iter().enumerate() {
                    let Some(grad) = grad else { continue };
                    let loss = |a: &[Tensor; 3]| {
                        loss_and_grads(&a[0], &a[1], &a[2], &g, (s, p), [false; 3]).0
                    };
                    let args = [x.clone(), wt.clone(), b.clone()];
                    assert_unit_steps(&args, which, grad, l0, &loss, &format!("k{k} s{s}"));
                }
            }
        }
    }

    /// A weight computed from a `Var` (weight noise, a folded batch norm
    /// during training) still receives its gradient through the op.
    #[test]
    fn a_weight_derived_from_a_var_gets_its_gradient() {
        let x = seeded(&[1, 2, 5, 5], 31);
        let wv = Var::from_tensor(&seeded(&[3, 2, 3, 3], 32)).expect("var");
        let g = seeded(&[1, 3, 5, 5], 33);
        let loss = |w: &Tensor| {
            conv2d(&x, w, None, 1, 1)
                .and_then(|y| (y * &g)?.sum_all())
                .expect("loss")
        };
        let store = loss(&(wv.as_tensor() * 2.0).expect("scaled"))
            .backward()
            .expect("backward");
        let ours = store.get(wv.as_tensor()).expect("weight gradient");
        // d⟨conv(x, 2w), g⟩/dw = 2 · d⟨conv(x, w), g⟩/dw, the latter from
        // candle's own convolution.
        let wv2 = Var::from_tensor(wv.as_tensor()).expect("var");
        let theirs = x
            .conv2d(wv2.as_tensor(), 1, 1, 1, 1)
            .and_then(|y| (y * &g)?.sum_all())
            .and_then(|l| l.backward())
            .expect("candle");
        let theirs = (theirs.get(wv2.as_tensor()).expect("grad") * 2.0).expect("x2");
        assert!(max_diff(ours, &theirs) < 1e-4);
    }

    /// The CPU op and the device-generic path (used off the CPU) give the
    /// same output and input gradient.
    #[test]
    fn cpu_op_equals_the_generic_path() {
        for &(k, s, p, h, w) in &[
            (3, 1, 1, 7, 6),
            (3, 2, 1, 7, 8),
            (1, 1, 0, 5, 4),
            (1, 2, 0, 6, 5),
        ] {
            let (x, wt, b) = conv_case(h, w, k, 41);
            let geom = geometry(h, w, k, s, p);
            let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
                let xv = Var::from_tensor(&x).expect("var");
                let y = f(xv.as_tensor()).expect("forward");
                let gx = y
                    .sqr()
                    .and_then(|q| q.sum_all())
                    .and_then(|l| l.backward())
                    .expect("backward");
                (y, gx.get(xv.as_tensor()).expect("grad").clone())
            };
            let (y1, g1) = run(&|t| conv2d(t, &wt, Some(&b), s, p));
            let (y2, g2) = run(&|t| conv2d_views(t, &wt, Some(&b), geom, 4, 1));
            assert!(max_diff(&y1, &y2) < 1e-5, "k{k} s{s} p{p}");
            assert!(max_diff(&g1, &g2) < 1e-4, "k{k} s{s} p{p}");
        }
    }

    /// The CPU op and the device-generic view path build the same columns.
    #[test]
    fn cpu_gather_equals_view_gather() {
        for &(k, s, p, h, w) in &[
            (3, 1, 1, 7, 6),
            (3, 2, 1, 7, 8),
            (7, 2, 3, 13, 11),
            (3, 3, 0, 10, 9),
            // Large enough for the parallel path (≥ PARALLEL_MIN values).
            (3, 1, 1, 64, 64),
            (5, 2, 0, 61, 47),
            (1, 2, 0, 200, 190),
        ] {
            let x = seeded(&[2, 3, h, w], 11);
            let g = geometry(h, w, k, s, p);
            let a = x.apply_op1_no_bwd(&g).expect("op");
            let b = g.gather_views(&x).expect("views");
            assert_eq!(a.dims(), b.dims());
            assert_eq!(max_diff(&a, &b), 0.0, "k{k} s{s} p{p}");
        }
    }

    /// Grouped convolutions (depthwise, two groups, grouped 1×1 on the
    /// direct path, stride 2): the output equals candle's grouped
    /// convolution, the generic view path gives the same output and input
    /// gradient, and every gradient (input, weight, bias, all `Var`s) is
    /// the exact change of the bilinear loss ⟨conv, g⟩ under a unit step
    /// of each coordinate (f64).
    #[test]
    fn grouped_convolutions_match_candle_and_exact_differences() {
        // (c, c_out, groups, k, s, p)
        for &(c, co, groups, k, s, p) in &[
            (4, 4, 4, 3, 1, 1),
            (4, 8, 4, 3, 2, 1),
            (4, 6, 2, 3, 1, 0),
            (6, 4, 2, 1, 1, 0),
            (6, 6, 3, 1, 2, 0),
        ] {
            let (h, w) = (7, 6);
            let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
            let x = seeded(&[2, c, h, w], 51);
            let wt = seeded(&[co, c / groups, k, k], 52);
            let b = seeded(&[co], 53);
            let ours = conv2d_grouped(&x, &wt, Some(&b), s, p, groups).expect("ours");
            let theirs = x
                .conv2d(&wt, p, s, 1, groups)
                .and_then(|y| y.broadcast_add(&b.reshape((1, co, 1, 1))?))
                .expect("candle");
            assert_eq!(ours.dims(), &[2, co, oh, ow]);
            assert!(max_diff(&ours, &theirs) < 1e-5, "groups {groups} k{k} s{s}");
            let geom = Im2Col {
                c,
                ..geometry(h, w, k, s, p)
            };
            let views = conv2d_views(&x, &wt, Some(&b), geom, co, groups).expect("views");
            assert!(max_diff(&ours, &views) < 1e-5, "views, groups {groups}");

            let f64t = |t: &Tensor| t.to_dtype(DType::F64).expect("f64");
            let (x, wt, b) = (f64t(&x), f64t(&wt), f64t(&b));
            let g = f64t(&seeded(&[2, co, oh, ow], 54));
            let loss = |x: &Tensor, w: &Tensor, b: &Tensor| -> candle_core::Result<Tensor> {
                (conv2d_grouped(x, w, Some(b), s, p, groups)? * &g)?.sum_all()
            };
            let vars: Vec<Var> = [&x, &wt, &b]
                .iter()
                .map(|t| Var::from_tensor(t).expect("var"))
                .collect();
            let store = loss(
                vars[0].as_tensor(),
                vars[1].as_tensor(),
                vars[2].as_tensor(),
            )
            .and_then(|l| l.backward())
            .expect("backward");
            let l0 = loss(&x, &wt, &b)
                .and_then(|l| l.to_scalar::<f64>())
                .expect("l0");
            for (which, v) in vars.iter().enumerate() {
                let grad: Vec<f64> = store
                    .get(v.as_tensor())
                    .and_then(|t| t.flatten_all().ok())
                    .and_then(|t| t.to_vec1().ok())
                    .expect("grad");
                let l = |a: &[Tensor; 3]| {
                    loss(&a[0], &a[1], &a[2])
                        .and_then(|l| l.to_scalar::<f64>())
                        .expect("l1")
                };
                let args = [x.clone(), wt.clone(), b.clone()];
                let what = format!("groups {groups} k{k} s{s}");
                assert_unit_steps(&args, which, &grad, l0, &l, &what);
            }
        }
    }

    /// `col2im(Wᵀ·G)` the unfused way (the full column gradient, then
    /// col2im), block by block for groups.
    fn unfused_input_grad(geom: Im2Col, w: &Tensor, g: &Tensor, groups: usize) -> Tensor {
        let (n, k, p) = geom.cols_shape();
        let co = w.dim(0).expect("co");
        let (cog, kg) = (co / groups, k / groups);
        let wt = w
            .reshape((1, groups, cog, kg))
            .and_then(|t| t.transpose(2, 3))
            .and_then(|t| t.broadcast_as((n, groups, kg, cog)))
            .and_then(|t| t.contiguous())
            .expect("wt");
        wt.matmul(&g.reshape((n, groups, cog, p)).expect("g"))
            .and_then(|c| c.reshape((n, k, p)))
            .and_then(|c| c.apply_op1_no_bwd(&Col2Im(geom)))
            .expect("col2im")
    }

    /// The fused input gradient (per image, per band of output rows, one
    /// reused buffer) equals the unfused `col2im(Wᵀ·G)` to the rounding, with one
    /// output row per band, a few rows per band and the default; a serial
    /// and a parallel scatter; groups, strides 1–3, paddings, 1×1 stride 2
    /// and a 7×7 stem (f64).
    #[test]
    fn fused_input_gradient_equals_col2im_of_the_product_for_any_band() {
        // (n, c, h, w, c_out, groups, k, s, p)
        for &(n, c, h, w, co, groups, k, s, p) in &[
            (2, 3, 7, 6, 4, 1, 3, 1, 1),
            (2, 3, 9, 11, 5, 1, 4, 3, 2),
            (1, 4, 8, 7, 6, 2, 3, 2, 1),
            (3, 4, 9, 9, 4, 4, 3, 1, 1),
            (2, 6, 10, 9, 4, 1, 1, 2, 0),
            (2, 3, 23, 21, 8, 1, 7, 2, 3),
            // Stride 1: padding 0, k − 1, an even k with groups, p > k − 1.
            (2, 3, 7, 6, 4, 1, 3, 1, 0),
            (2, 3, 7, 6, 4, 1, 3, 1, 2),
            (2, 4, 7, 6, 6, 2, 2, 1, 0),
            (2, 3, 5, 6, 4, 1, 1, 1, 1),
            // Large: a band of 144 · 28 · 32 ≥ PARALLEL_MIN values
            // scattered in parallel.
            (4, 8, 40, 36, 16, 1, 3, 1, 1),
            (4, 8, 40, 36, 16, 2, 3, 2, 1),
            (2, 16, 64, 64, 8, 1, 3, 2, 1),
        ] {
            let geom = Im2Col {
                n,
                c,
                ..geometry(h, w, k, s, p)
            };
            let f64t =
                |shape: &[usize], seed| seeded(shape, seed).to_dtype(DType::F64).expect("f64");
            let (_, _, pos) = geom.cols_shape();
            let wt = f64t(&[co, c / groups, k, k], 61);
            let g = f64t(&[n, co, pos], 62);
            let want = unfused_input_grad(geom, &wt, &g, groups);
            for band_values in [1, 3 * (c / groups) * k * k * geom.ow, BAND_VALUES] {
                let op = ConvInputGrad {
                    geom,
                    co,
                    groups,
                    band_values,
                };
                let got = wt.apply_op2_no_bwd(&g, &op).expect("fused");
                assert_eq!(got.dims(), &[n, c, h, w]);
                let diff = (&got - &want)
                    .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>())
                    .expect("diff");
                assert!(
                    diff < 1e-12,
                    "n{n} c{c} groups {groups} k{k} s{s} p{p} band {band_values}: {diff}"
                );
            }
        }
    }

    /// The backward pass of the fused input gradient (what second
    /// derivatives run when candle keeps the gradient graph): for `f(W, G)
    /// = ⟨col2im(Wᵀ·G), U⟩`, linear in `W` and in `G`, the gradients for
    /// `W` and `G` (both `Var`s) are the exact changes of `f` under a unit
    /// step of each coordinate (f64), with and without groups; a constant
    /// `W` gets no gradient.
    #[test]
    fn input_gradient_backward_is_exact() {
        for &(c, co, groups, k, s, p) in
            &[(2, 3, 1, 3, 2, 1), (4, 4, 2, 3, 1, 1), (2, 2, 1, 1, 2, 0)]
        {
            let (h, w) = (6, 5);
            let geom = Im2Col {
                c,
                ..geometry(h, w, k, s, p)
            };
            let (n, _, pos) = geom.cols_shape();
            let f64t =
                |shape: &[usize], seed| seeded(shape, seed).to_dtype(DType::F64).expect("f64");
            let w0 = f64t(&[co, c / groups, k, k], 72);
            let g0 = f64t(&[n, co, pos], 73);
            let u = f64t(&[n, c, h, w], 74);
            let op = ConvInputGrad {
                geom,
                co,
                groups,
                band_values: 1,
            };
            let f = |wt: &Tensor, g: &Tensor| -> Tensor {
                wt.apply_op2(g, op)
                    .and_then(|gx| (gx * &u)?.sum_all())
                    .expect("f")
            };
            let (wv, gv) = (
                Var::from_tensor(&w0).expect("w"),
                Var::from_tensor(&g0).expect("g"),
            );
            let fv = f(wv.as_tensor(), gv.as_tensor());
            let f0 = fv.to_scalar::<f64>().expect("scalar");
            let store = fv.backward().expect("backward");
            let args = [w0.clone(), g0.clone(), u.clone()];
            let loss = |a: &[Tensor; 3]| f(&a[0], &a[1]).to_scalar::<f64>().expect("f");
            for (which, v) in [&wv, &gv].iter().enumerate() {
                let grad: Vec<f64> = store
                    .get(v.as_tensor())
                    .and_then(|t| t.flatten_all().ok())
                    .and_then(|t| t.to_vec1().ok())
                    .expect("gradient");
                let what = format!("input-gradient backward, groups {groups} k{k} s{s}");
                assert_unit_steps(&args, which, &grad, f0, &loss, &what);
            }
            // Constant weights: only G's gradient is computed.
            let store = f(&w0, gv.as_tensor()).backward().expect("backward");
            assert!(store.get(&w0).is_none());
            assert!(store.get(gv.as_tensor()).is_some());
        }
    }

    #[test]
    fn bad_groups_are_errors() {
        let x = Tensor::zeros((1, 4, 4, 4), DType::F32, &Device::Cpu).expect("x");
        let w = Tensor::zeros((4, 1, 3, 3), DType::F32, &Device::Cpu).expect("w");
        assert!(conv2d_grouped(&x, &w, None, 1, 1, 4).is_ok());
        assert!(conv2d_grouped(&x, &w, None, 1, 1, 0).is_err());
        assert!(conv2d_grouped(&x, &w, None, 1, 1, 2).is_err());
        let w3 = Tensor::zeros((3, 1, 3, 3), DType::F32, &Device::Cpu).expect("w");
        assert!(conv2d_grouped(&x, &w3, None, 1, 1, 4).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = Tensor::zeros((1, 3, 4, 4), DType::F32, &Device::Cpu).expect("x");
        let w = Tensor::zeros((2, 3, 3, 3), DType::F32, &Device::Cpu).expect("w");
        assert!(conv2d(&x, &w, None, 0, 1).is_err());
        let w2 = Tensor::zeros((2, 2, 3, 3), DType::F32, &Device::Cpu).expect("w");
        assert!(conv2d(&x, &w2, None, 1, 1).is_err());
        let w5 = Tensor::zeros((2, 3, 7, 7), DType::F32, &Device::Cpu).expect("w");
        assert!(conv2d(&x, &w5, None, 1, 1).is_err());
        assert!(conv2d(&x.flatten_all().expect("f"), &w, None, 1, 1).is_err());
        let b = Tensor::zeros(3, DType::F32, &Device::Cpu).expect("b");
        assert!(conv2d(&x, &w, Some(&b), 1, 1).is_err());
    }
}
