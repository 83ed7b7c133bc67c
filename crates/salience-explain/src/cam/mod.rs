//! Shared machinery of the class-activation-map (CAM) explainers
//! ([`crate::GradCam`], [`crate::GradCamPlusPlus`], [`crate::EigenCam`],
//! [`crate::PolyCam`]): input validation, the split forward/backward pass
//! at a layer, and bilinear upsampling of the maps to the input size.
//!
//! # Layer gradients on candle
//! candle keeps gradients only for [`candle_core::Var`] leaves, so the
//! gradient of the target logit with respect to layer `l`'s activations is
//! obtained by cutting the forward pass ([`crate::LayerSplit`]):
//! `A = activations(x, l)`, detached and wrapped in a `Var`, then
//! `logits = head(A, l)`, one backward pass per chunk of inputs.
//!
//! # Output
//! CAM explainers return one pixel map per input, `[N, H, W]`
//! ([`salience_core::Layout::PixelMap`]), upsampled from the layer's
//! `h × w` with [`crate::ops::upsample_bilinear2d`] (`align_corners =
//! false`, PyTorch's and pytorch-grad-cam's choice). Maps are *not*
//! min-max normalised (pytorch-grad-cam's `scale_cam_image` does that);
//! normalisation belongs to the aggregation step (salience-core's
//! `normalize`). PolyCAM is the exception: its maps are in `[0, 1]` by
//! construction of the method.

pub mod attention;
pub mod eigen_cam;
pub mod grad_cam;
pub mod grad_cam_plus_plus;
pub mod poly_cam;

use crate::gradient::{chunk_size, contiguous, flat_slice, missing_gradient, validate};
use crate::model::convert::{candle_error, tensor_to_vec};
use crate::model::split::LayerSplit;
use crate::ops::upsample_bilinear2d;
use candle_core::{Device, Tensor, Var};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::batch::Pass;
use salience_core::BatchSize;
use salience_core::{AttributionBatch, Result, SalienceError};

/// A validated image batch `[N, C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImageInfo {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl ImageInfo {
    pub fn features(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// Validates CAM inputs: rank 4 `[N, C, H, W]`, non-empty, finite, one
/// target per input below the number of classes.
pub(crate) fn validate_images(
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    num_classes: usize,
) -> Result<ImageInfo> {
    if inputs.ndim() != 4 {
        return Err(SalienceError::shape(
            "CAM inputs",
            "[N, C, H, W]",
            inputs.shape(),
        ));
    }
    let info = validate(inputs, targets, num_classes)?;
    let s = &info.sample_shape;
    Ok(ImageInfo {
        n: info.n,
        c: s[0],
        h: s[1],
        w: s[2],
    })
}

/// Checks that `layer` exists (typed error listing the known layers).
pub(crate) fn check_layer<M: LayerSplit + ?Sized>(model: &M, layer: &str) -> Result<()> {
    model.check_layer(layer)
}

/// A layer's raw activations (detached) and how they map to a CAM's
/// `[k, h, w]` grid per sample.
pub(crate) struct SplitActivations {
    /// `[N, k, h, w]` feature maps, or `[N, T, D]` tokens.
    pub raw: Tensor,
    pub k: usize,
    pub h: usize,
    pub w: usize,
    /// `Some((T, prefix))` for token activations (k = D, h·w = T − prefix).
    pub tokens: Option<(usize, usize)>,
}

impl SplitActivations {
    /// The `[N, k, h, w]` grid (token layers: prefix dropped, transposed).
    pub fn grid(&self) -> Result<Tensor> {
        match self.tokens {
            None => Ok(self.raw.clone()),
            Some((_, prefix)) => {
                let n = self.raw.dim(0).map_err(candle_error)?;
                self.raw
                    .narrow(1, prefix, self.h * self.w)
                    .and_then(|t| t.transpose(1, 2))
                    .and_then(|t| t.reshape((n, self.k, self.h, self.w)))
                    .map_err(candle_error)
            }
        }
    }

    /// Flat per-sample values of the raw activations (or of their
    /// gradients) rearranged into the `[len, k, h, w]` grid.
    pub fn to_grid(&self, v: Vec<f32>, len: usize) -> Vec<f32> {
        let Some((t, prefix)) = self.tokens else {
            return v;
        };
        let (d, hw) = (self.k, self.h * self.w);
        let mut out = vec![0f32; len * d * hw];
        for j in 0..len {
            for p in 0..hw {
                let src = &v[(j * t + prefix + p) * d..][..d];
                for (c, &x) in src.iter().enumerate() {
                    out[(j * d + c) * hw + p] = x;
                }
            }
        }
        out
    }
}

/// The activations of `layer` for the chunk `x` (detached), with their
/// per-sample grid `(k, h, w)`: `[N, k, h, w]` feature maps, or `[N, T, D]`
/// tokens of a layer the model describes with [`LayerSplit::token_grid`]
/// (typed error for another rank, another batch size, or an empty layer).
pub(crate) fn split_activations<M: LayerSplit + ?Sized>(
    model: &M,
    x: &Tensor,
    layer: &str,
) -> Result<SplitActivations> {
    let len = x.dims().first().copied().unwrap_or(0);
    let a = model.activations(x, layer).map_err(candle_error)?.detach();
    let what = format!("activations of layer `{layer}`");
    let (n, k, h, w, tokens) = match (a.dims(), model.token_grid(layer)) {
        (&[n, k, h, w], _) => (n, k, h, w, None),
        (&[n, t, d], Some(g)) => {
            if g.prefix + g.rows * g.cols != t {
                return Err(SalienceError::shape(
                    &what,
                    format!(
                        "[N, {}, D] tokens ({} prefix + {}×{} patches)",
                        g.prefix + g.rows * g.cols,
                        g.prefix,
                        g.rows,
                        g.cols
                    ),
                    a.dims(),
                ));
            }
            (n, d, g.rows, g.cols, Some((t, g.prefix)))
        }
        _ => {
            return Err(SalienceError::shape(
                &what,
                "[N, K, h, w] (or [N, T, D] tokens of a layer the model describes with LayerSplit::token_grid)",
                a.dims(),
            ))
        }
    };
    if n != len || k * h * w == 0 {
        return Err(SalienceError::shape(
            &what,
            format!("non-empty [{len}, K, h, w]"),
            a.dims(),
        ));
    }
    Ok(SplitActivations {
        raw: a,
        k,
        h,
        w,
        tokens,
    })
}

/// The activations of `layer` as an `[N, k, h, w]` grid (see
/// [`split_activations`]) with their per-sample dims `(k, h, w)`.
pub(crate) fn layer_activations<M: LayerSplit + ?Sized>(
    model: &M,
    x: &Tensor,
    layer: &str,
) -> Result<(Tensor, (usize, usize, usize))> {
    let s = split_activations(model, x, layer)?;
    Ok((s.grid()?, (s.k, s.h, s.w)))
}

/// Activations (and optionally the target-logit gradients) at one layer
/// for one chunk of `len` inputs, as flat row-major `[len, k, h, w]`.
pub(crate) struct LayerChunk {
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub acts: Vec<f32>,
    /// Empty when gradients were not requested.
    pub grads: Vec<f32>,
}

impl LayerChunk {
    /// Values per sample (`k · h · w`).
    pub fn per_sample(&self) -> usize {
        self.k * self.h * self.w
    }
}

/// Builds the `[len, C, H, W]` tensor of a chunk on `device`.
pub(crate) fn chunk_tensor(
    data: &[f32],
    len: usize,
    info: &ImageInfo,
    device: &Device,
) -> Result<Tensor> {
    Tensor::from_slice(data, (len, info.c, info.h, info.w), device).map_err(candle_error)
}

/// The row-major product `a · b` of an `[r, k]` and a `[k, c]` matrix,
/// skipping the zero entries of `a` (sparse interpolation weights): each
/// output entry accumulates over `k` in ascending order.
pub(crate) fn matmul_skip_zeros<T>(a: &[T], b: &[T], (r, k, c): (usize, usize, usize)) -> Vec<T>
where
    T: Copy + Default + PartialEq + std::ops::AddAssign + std::ops::Mul<Output = T>,
{
    let zero = T::default();
    let mut out = vec![zero; r * c];
    for i in 0..r {
        for l in 0..k {
            let w = a[i * k + l];
            if w == zero {
                continue;
            }
            for j in 0..c {
                out[i * c + j] += w * b[l * c + j];
            }
        }
    }
    out
}

/// Runs `per_chunk(x, rows)` on the images of `inputs` (described by
/// `info`) `batch_size` at a time, `x` holding images `rows` as a
/// `[len, c, h, w]` tensor on `device`, and concatenates the values it
/// returns, in input order.
pub(crate) fn map_image_chunks(
    inputs: &ArrayViewD<'_, f32>,
    info: &ImageInfo,
    batch_size: usize,
    device: &Device,
    mut per_chunk: impl FnMut(&Tensor, std::ops::Range<usize>) -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let batch_size = batch_size.max(1);
    let xs = contiguous(inputs);
    let data = flat_slice(&xs)?;
    let f = info.features();
    let mut out = Vec::new();
    let mut start = 0;
    while start < info.n {
        let len = (info.n - start).min(batch_size);
        let x = chunk_tensor(&data[start * f..(start + len) * f], len, info, device)?;
        out.extend(per_chunk(&x, start..start + len)?);
        start += len;
    }
    Ok(out)
}

/// Runs one chunk to layer `layer`, and (with `targets`) backpropagates the
/// sum of the target logits from the head to the detached activations.
pub(crate) fn layer_pass<M: LayerSplit + ?Sized>(
    model: &M,
    x: &Tensor,
    layer: &str,
    targets: Option<&[usize]>,
) -> Result<LayerChunk> {
    let len = x.dims().first().copied().unwrap_or(0);
    let split = split_activations(model, x, layer)?;
    let (a, (k, h, w)) = (&split.raw, (split.k, split.h, split.w));
    let (acts, grads) = match targets {
        None => (tensor_to_vec(a)?, Vec::new()),
        Some(t) => {
            let var = Var::from_tensor(a).map_err(candle_error)?;
            let logits = model.head(var.as_tensor(), layer).map_err(candle_error)?;
            let nc = model.num_classes();
            if logits.dims() != [len, nc] {
                return Err(SalienceError::Model(format!(
                    "head of layer `{layer}` returned logits of shape {:?} (expected [{len}, {nc}])",
                    logits.dims()
                )));
            }
            let idx = t
                .iter()
                .map(|&c| {
                    u32::try_from(c).map_err(|_| SalienceError::invalid("target", c, "exceeds u32"))
                })
                .collect::<Result<Vec<u32>>>()?;
            let idx = Tensor::from_vec(idx, (len, 1), model.device()).map_err(candle_error)?;
            let grads = logits
                .gather(&idx, 1)
                .and_then(|p| p.sum_all())
                .and_then(|s| s.backward())
                .map_err(candle_error)?;
            let g = match grads.get(var.as_tensor()) {
                Some(g) => tensor_to_vec(g)?,
                None => {
                    let logits_of = |t: &Tensor| model.head(t, layer);
                    let picked = logits.gather(&idx, 1).map_err(candle_error)?;
                    let what = format!("activation of layer `{layer}`");
                    return Err(missing_gradient(
                        &logits_of,
                        var.as_tensor(),
                        &idx,
                        &picked,
                        &what,
                    ));
                }
            };
            (tensor_to_vec(var.as_tensor())?, g)
        }
    };
    check_finite_slice(&acts, &format!("activations of layer `{layer}`"))?;
    check_finite_slice(&grads, &format!("gradients at layer `{layer}`"))?;
    let acts = split.to_grid(acts, len);
    let grads = if grads.is_empty() {
        grads
    } else {
        split.to_grid(grads, len)
    };
    Ok(LayerChunk {
        k,
        h,
        w,
        acts,
        grads,
    })
}

/// A typed error for the first non-finite value of `v`.
pub(crate) fn check_finite_slice(v: &[f32], context: &str) -> Result<()> {
    match salience_core::validate::first_non_finite(v) {
        Some(index) => Err(SalienceError::NonFinite {
            context: context.into(),
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

/// Upsamples `len` maps `[len, h, w]` (flat) to `[len, H, W]` (flat).
pub(crate) fn upsample_maps(
    maps: Vec<f32>,
    len: usize,
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
    device: &Device,
) -> Result<Vec<f32>> {
    if (h, w) == (out_h, out_w) {
        return Ok(maps);
    }
    let t = Tensor::from_vec(maps, (len, 1, h, w), device).map_err(candle_error)?;
    tensor_to_vec(&upsample_bilinear2d(&t, out_h, out_w, false)?)
}

/// The per-sample map of a gradient CAM at the layer resolution, from one
/// sample's activations and gradients (`[k, h, w]` each).
pub(crate) type MapFn<'a> = dyn Fn(&[f32], &[f32], usize, usize, usize) -> Vec<f64> + 'a;

/// The chunk of a CAM's passes over images like `info`'s ([`chunk_size`];
/// forward and backward when `with_grad`).
pub(crate) fn image_chunk<M: crate::Classifier + ?Sized>(
    model: &M,
    batch_size: BatchSize,
    info: &ImageInfo,
    with_grad: bool,
) -> Result<usize> {
    let pass = if with_grad {
        Pass::ForwardBackward
    } else {
        Pass::Forward
    };
    chunk_size(model, batch_size, &[info.c, info.h, info.w], info.n, pass)
}

/// Runs a single-layer CAM over a batch, in chunks of `batch_size` inputs:
/// for each chunk one split forward (and backward, with `with_grad`)
/// pass, then `map` per sample, then upsampling to the input resolution.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_layer_cam<M: LayerSplit + ?Sized>(
    model: &M,
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    layer: &str,
    batch_size: BatchSize,
    with_grad: bool,
    map: &MapFn<'_>,
) -> Result<AttributionBatch> {
    let info = validate_images(inputs, targets, model.num_classes())?;
    check_layer(model, layer)?;
    let batch_size = image_chunk(model, batch_size, &info, with_grad)?;
    let out = map_image_chunks(inputs, &info, batch_size, model.device(), |x, rows| {
        let len = rows.len();
        let t = &targets[rows];
        let chunk = layer_pass(model, x, layer, with_grad.then_some(t))?;
        let s = chunk.per_sample();
        let mut maps = Vec::with_capacity(len * chunk.h * chunk.w);
        for j in 0..len {
            let a = &chunk.acts[j * s..(j + 1) * s];
            let g = if with_grad {
                &chunk.grads[j * s..(j + 1) * s]
            } else {
                &[][..]
            };
            maps.extend(
                map(a, g, chunk.k, chunk.h, chunk.w)
                    .into_iter()
                    .map(|v| v as f32),
            );
        }
        upsample_maps(
            maps,
            len,
            (chunk.h, chunk.w),
            (info.h, info.w),
            model.device(),
        )
    })?;
    let a = ArrayD::from_shape_vec(IxDyn(&[info.n, info.h, info.w]), out)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    AttributionBatch::new(a)
}

/// `Σ_k w_k A_k` over a sample's `[k, h·w]` activations, optionally ReLU'd.
pub(crate) fn weighted_sum(acts: &[f32], weights: &[f64], hw: usize, relu: bool) -> Vec<f64> {
    let mut m = vec![0f64; hw];
    for (a_k, &w_k) in acts.chunks_exact(hw).zip(weights) {
        for (o, &a) in m.iter_mut().zip(a_k) {
            *o += w_k * a as f64;
        }
    }
    if relu {
        m.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    m
}
