//! How a model opts in to the rule-based explainers ([`GuidedBackprop`],
//! [`Deconvnet`], [`DeepLift`], [`Lrp`]): the [`LayerOps`] /
//! [`RuleForward`] seam.
//!
//! candle has no module hooks and a network cannot be introspected, so a
//! rule-based explainer cannot find a model's ReLUs or linear layers by
//! itself. Instead the model writes its forward pass once, in terms of a
//! small set of layer operations supplied by the caller, as the stages of
//! a [`StagedForward`] (see [`crate::model::forward`]):
//!
//! ```text
//! fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
//!     match k {
//!         0 => ops.max_pool2d(&ops.relu(&ops.conv2d("conv1", &self.conv1, h)?)?, 2),
//!         _ => ops.linear("fc", &self.fc, &ops.flatten(h)?),
//!     }
//! }
//! ```
//!
//! [`staged_model!`](crate::staged_model) derives `Classifier::logits`
//! (every stage with [`PlainOps`], the ordinary forward pass),
//! `LayerSplit` and `RuleForward::forward_with` from it; each explainer
//! passes its own implementation that keeps the forward values but
//! changes the backward pass:
//!
//! | op | Guided Backprop / Deconvnet | DeepLIFT Rescale | LRP |
//! |---|---|---|---|
//! | `linear`, `conv2d` | plain | plain (linear) | the composite's rule |
//! | `relu` | modified ReLU gradient | multiplier Δy/Δx | pass (plain gradient) |
//! | `max_pool2d`, `max_pool2d_strided` | plain (winner) | Δy to the winner of the larger max (Captum) | winner-take-all |
//! | `avg_pool2d`, `global_avg_pool`, `add` | plain | plain (linear) | proportional (Zennit's `Norm`) |
//! | `batch_norm` | plain | plain (affine) | plain (= LRP-0 on the affine map; fold it into the conv with [`fuse_conv_batch_norm`], Zennit's canonizer) |
//! | `conv2d_batch_norm` | canonized: one `conv2d` ([`fuse_conv_batch_norm`]) | canonized | canonized, the composite's conv rule |
//! | `flatten` | plain | plain | plain (tracks the input for first-layer rules) |
//! | `layer_norm` | plain | plain | standard deviation detached (identity rule, [`crate::rules::attn_lrp`]) |
//! | `softmax` | plain | plain | AttnLRP: plain (Gradient × Input); CP-LRP: detached |
//! | `matmul` (two activations) | plain | plain | AttnLRP: uniform rule (half the gradient to each factor); CP-LRP: plain |
//! | `gelu` | plain | plain | identity rule |
//!
//! [`PlainOps`] computes `conv2d_batch_norm` folded into one convolution
//! when the parameters are constants (the ordinary network's values up to
//! float rounding) and unfused otherwise; [`TrainOps`] runs batch norms
//! in training mode, unfused.
//!
//! Anything a model computes *outside* these ops (a `tanh`, a softmax, a
//! hand-written `relu()`) keeps its plain gradient, so the explainers are
//! exact only for models written entirely with the ops. [`RuleSequential`]
//! is a ready-made container.
//!
//! [`GuidedBackprop`]: crate::GuidedBackprop
//! [`Deconvnet`]: crate::Deconvnet
//! [`DeepLift`]: crate::DeepLift
//! [`Lrp`]: crate::Lrp
//! [`RuleSequential`]: crate::RuleSequential
//! [`StagedForward`]: crate::model::forward::StagedForward
//! [`fuse_conv_batch_norm`]: crate::rules::canonize::fuse_conv_batch_norm

pub mod attn_lrp;
pub mod canonize;
pub mod deeplift;
pub mod guided_backprop;
pub mod lrp;
pub mod lrp_rules;

use crate::gradient::{chunk_of_rows, BatchInfo};
use crate::model::classifier::Classifier;
use crate::model::convert::{candle_error, tensor_to_vec};
use candle_core::backprop::GradStore;
use candle_core::{Device, ModuleT, Tensor, Var};
use salience_core::batch::Pass;
use salience_core::{BatchSize, Result, SalienceError};

/// The layer operations a network's forward pass is written with. Every
/// method except [`LayerOps::conv2d_batch_norm`] (canonized by default)
/// has the plain (ordinary forward) behaviour as its default, so an
/// implementation overrides only what its rule changes. The plain
/// behaviours are the fast ops of [`crate::ops`] (the dense layer, the
/// convolution, ReLU and max pooling), whose gradients are candle's.
///
/// Inputs are batches: `[N, D]` for `linear`, `[N, C, H, W]` for the
/// image ops. `name` identifies a layer for per-layer rule overrides
/// ([`crate::Composite::with_layer`]).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::rules::{LayerOps, PlainOps};
/// let x = Tensor::new(&[[-1.0f32, 2.0]], &Device::Cpu).unwrap();
/// let y = PlainOps.relu(&x).unwrap();
/// assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![0.0, 2.0]]);
/// ```
pub trait LayerOps {
    /// A dense layer `x Wᵀ + b`.
    fn linear(
        &self,
        name: &str,
        layer: &candle_nn::Linear,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let _ = name;
        crate::ops::linear(layer, x)
    }

    /// A 2-D convolution (any padding, stride, dilation, groups).
    fn conv2d(
        &self,
        name: &str,
        layer: &candle_nn::Conv2d,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let _ = name;
        crate::ops::conv2d_layer(layer, x)
    }

    /// The rectifier `max(x, 0)`.
    fn relu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::ops::relu(x)
    }

    /// Max pooling with kernel = stride = `k` (H and W divisible by `k`),
    /// [`crate::ops::max_pool2d`]: each window's gradient goes to its
    /// first maximum (candle's own `max_pool2d` backward is wrong, and its
    /// `max` reduction gives the gradient to every tied maximum).
    fn max_pool2d(&self, x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        pool_dims(x, k)?;
        crate::ops::max_pool2d(x, k, k, 0)
    }

    /// Max pooling with any square `kernel`, `stride` and `padding`
    /// (padded entries never win; floor mode), e.g. the 3×3 / stride 2 /
    /// padding 1 pool of ResNet stems. The plain behaviour is
    /// [`crate::ops::max_pool2d`]: the gradient of each window goes to its
    /// winner (the first maximum where several tie), summed over
    /// overlapping windows, which is LRP's winner-take-all redistribution.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use salience_explain::rules::{LayerOps, PlainOps};
    /// let x = Tensor::arange(0f32, 16., &Device::Cpu).unwrap().reshape((1, 1, 4, 4)).unwrap();
    /// let y = PlainOps.max_pool2d_strided(&x, 3, 2, 1).unwrap();
    /// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![5., 7., 13., 15.]);
    /// ```
    fn max_pool2d_strided(
        &self,
        x: &Tensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> candle_core::Result<Tensor> {
        crate::ops::max_pool2d(x, kernel, stride, padding)
    }

    /// Average pooling with kernel = stride = `k` (H and W divisible by `k`).
    fn avg_pool2d(&self, x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = pool_dims(x, k)?;
        x.reshape((n, c, h / k, k, w / k, k))?.mean(5)?.mean(3)
    }

    /// Global average pooling `[N, C, H, W] → [N, C]`.
    fn global_avg_pool(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.mean((2, 3))
    }

    /// Batch normalisation, in inference mode (running statistics) unless
    /// [`LayerOps::training`].
    fn batch_norm(
        &self,
        name: &str,
        layer: &candle_nn::BatchNorm,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let _ = name;
        layer.forward_t(x, self.training())
    }

    /// Whether batch norms run in training mode (batch statistics, running
    /// statistics updated): `false` except for [`TrainOps`].
    fn training(&self) -> bool {
        false
    }

    /// A convolution followed by a batch norm, named after the
    /// convolution. Where [`LayerOps::canonizes`] (the default, as
    /// rule-based explainers need) the batch norm (inference mode) is
    /// merged into the convolution
    /// ([`crate::rules::canonize::fuse_conv_batch_norm`], Zennit's canonizer) and
    /// [`LayerOps::conv2d`] runs the merged layer, so the composite's
    /// convolution rule sees the normalised pre-activations; otherwise
    /// ([`TrainOps`]) [`LayerOps::conv2d`] then [`LayerOps::batch_norm`]
    /// run unfused (the same values up to rounding). [`PlainOps`]
    /// overrides it: folded without canonizing when no parameter is
    /// tracked, unfused otherwise.
    ///
    /// ```
    /// use candle_core::{Device, Module, ModuleT, Tensor};
    /// use candle_nn::{BatchNorm, Conv2d, Conv2dConfig};
    /// use salience_explain::rules::{LayerOps, PlainOps};
    /// let dev = Device::Cpu;
    /// let conv = Conv2d::new(Tensor::new(&[[[[2.0f32]]]], &dev).unwrap(), None, Conv2dConfig::default());
    /// let one = |v: f32| Tensor::new(&[v], &dev).unwrap();
    /// let bn = BatchNorm::new(1, one(1.0), one(4.0), one(0.5), one(0.25), 0.0).unwrap();
    /// let x = Tensor::new(&[[[[3.0f32]]]], &dev).unwrap();
    /// struct Canonized;
    /// impl LayerOps for Canonized {}
    /// // conv: 6; bn: 0.5 (6 − 1) / 2 + 0.25 = 1.5, fused or not.
    /// for ops in [&PlainOps as &dyn LayerOps, &Canonized] {
    ///     let y = ops.conv2d_batch_norm("conv", &conv, &bn, &x).unwrap();
    ///     assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![1.5]);
    /// }
    /// ```
    fn conv2d_batch_norm(
        &self,
        name: &str,
        conv: &candle_nn::Conv2d,
        bn: &candle_nn::BatchNorm,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        conv_batch_norm(self, self.canonizes(), name, conv, bn, x)
    }

    /// Whether the default [`LayerOps::conv2d_batch_norm`] merges the
    /// batch norm into the convolution: `true` by default (rule-based
    /// explainers), `false` for [`PlainOps`] (which folds constant batch
    /// norms by its own override) and [`TrainOps`].
    fn canonizes(&self) -> bool {
        true
    }

    /// An element-wise sum of two branches (residual connections).
    fn add(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        a + b
    }

    /// Flattens all dimensions after the batch: `[N, ...] → [N, D]`.
    fn flatten(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.flatten_from(1)
    }

    /// Layer normalisation over the last dimension,
    /// `(x − mean) / sqrt(var + eps) · weight + bias`
    /// ([`crate::ops::layer_norm`]); `name` identifies the layer. LRP
    /// ([`crate::AttnLrp`], [`crate::Lrp`]) detaches the standard deviation
    /// (the identity rule on the normalisation).
    fn layer_norm(
        &self,
        name: &str,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> candle_core::Result<Tensor> {
        let _ = name;
        crate::ops::layer_norm(x, weight, bias, eps)
    }

    /// Softmax over the last dimension (attention probabilities,
    /// [`crate::ops::softmax`]). LRP: AttnLRP's rule is the plain gradient
    /// (Gradient × Input at the scores); CP-LRP detaches it.
    fn softmax(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::ops::softmax(x, candle_core::D::Minus1)
    }

    /// A (batched) matrix product of two activations, `a · b` (attention
    /// scores `q · kᵀ`, attention-weighted values `A · v`). LRP: AttnLRP's
    /// uniform rule gives each factor half of the relevance.
    fn matmul(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        a.matmul(b)
    }

    /// The exact (erf) GELU. LRP: the identity rule (relevance passes
    /// unchanged).
    fn gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::ops::gelu_erf(x)
    }
}

/// The ordinary forward pass: every [`LayerOps`] method with its plain
/// behaviour. [`LayerOps::conv2d_batch_norm`] folds the inference-mode
/// batch norm into the convolution (one convolution with scaled weights
/// and a bias, [`crate::rules::canonize::fuse_conv_batch_norm`]) when no
/// parameter of either layer is a `Var` or depends on one, the case of
/// every attribution pass through loaded weights: the same values up to
/// float rounding (≈ 1e-6 relative), and a backward pass without the
/// batch norm's four broadcast ops and their full-size temporaries. With
/// tracked parameters (fine-tuning through the plain forward) it runs the
/// two unfused, so every parameter gets its gradient.
/// [`LayerOps::canonizes`] is `false`: the rule-based explainers'
/// canonization is not involved.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::rules::{LayerOps, PlainOps};
/// let x = Tensor::new(&[[[[1.0f32, 3.0], [2.0, 0.0]]]], &Device::Cpu).unwrap();
/// let m = PlainOps.max_pool2d(&x, 2).unwrap();
/// assert_eq!(m.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![3.0]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainOps;

impl LayerOps for PlainOps {
    fn canonizes(&self) -> bool {
        false
    }

    fn conv2d_batch_norm(
        &self,
        name: &str,
        conv: &candle_nn::Conv2d,
        bn: &candle_nn::BatchNorm,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        conv_batch_norm(self, batch_norm_foldable(conv, bn), name, conv, bn, x)
    }
}

/// `conv` then `bn` through `ops`: merged into one convolution
/// ([`crate::rules::canonize::fuse_conv_batch_norm`]) when `fold`, unfused
/// otherwise.
fn conv_batch_norm<O: LayerOps + ?Sized>(
    ops: &O,
    fold: bool,
    name: &str,
    conv: &candle_nn::Conv2d,
    bn: &candle_nn::BatchNorm,
    x: &Tensor,
) -> candle_core::Result<Tensor> {
    if fold {
        let fused = crate::rules::canonize::fuse_conv_batch_norm(conv, bn)?;
        ops.conv2d(name, &fused, x)
    } else {
        ops.batch_norm(name, bn, &ops.conv2d(name, conv, x)?)
    }
}

/// Whether folding `bn` into `conv` loses no gradient that matters: no
/// weight or bias of either is a `Var` or depends on one. The running
/// statistics are always `Var`s in candle-nn (so training can update
/// them) and are not trained by gradient, so they do not count.
fn batch_norm_foldable(conv: &candle_nn::Conv2d, bn: &candle_nn::BatchNorm) -> bool {
    let mut params = vec![conv.weight()];
    params.extend(conv.bias());
    if let Some((w, b)) = bn.weight_and_bias() {
        params.extend([w, b]);
    }
    !params.into_iter().any(crate::ops::needs_grad)
}

/// The forward pass for training: [`PlainOps`] with every batch norm in
/// training mode (batch statistics; the running statistics are updated),
/// also inside [`LayerOps::conv2d_batch_norm`], which it runs unfused.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_explain::rules::{LayerOps, TrainOps};
/// let dev = Device::Cpu;
/// let bn = candle_nn::BatchNorm::new_no_bias(
///     1, Tensor::new(&[0.0f32], &dev).unwrap(), Tensor::new(&[1.0f32], &dev).unwrap(), 0.0,
/// ).unwrap();
/// // Batch statistics: mean 2, variance 1 → [-1, 1].
/// let x = Tensor::new(&[1.0f32, 3.0], &dev).unwrap().reshape((2, 1, 1, 1)).unwrap();
/// let y = TrainOps.batch_norm("bn", &bn, &x).unwrap();
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![-1.0, 1.0]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOps;

impl LayerOps for TrainOps {
    fn training(&self) -> bool {
        true
    }

    fn canonizes(&self) -> bool {
        false
    }
}

/// A network whose forward pass is written with [`LayerOps`], so that
/// rule-based explainers can substitute their rules. Models written once
/// as a [`StagedForward`](crate::model::forward::StagedForward) get it (with
/// `Classifier` and `LayerSplit`) from
/// [`staged_model!`](crate::staged_model); see [`crate::model::forward`] for an
/// example. Implementing it by hand is possible too (then
/// `Classifier::logits` should be `self.forward_with(x, &PlainOps)`).
pub trait RuleForward: Classifier {
    /// The forward pass (logits `[N, classes]`) written with `ops`.
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor>;

    /// Why LRP rules (every composite, and AttnLRP / CP-LRP) do not apply
    /// to this model, or `None` (the default) where they do: for example
    /// batch norms that come before their ReLU and convolution, which no
    /// rule canonizes. [`crate::Lrp`] and [`crate::AttnLrp`] ask first and
    /// return [`salience_core::SalienceError::Unsupported`] with this
    /// reason instead of running.
    fn lrp_refusal(&self) -> Option<String> {
        None
    }
}

/// A short name of the type `M` for error messages: its last path
/// segment, without references or generic arguments
/// (`&salience_models::DenseNet` → `DenseNet`).
pub(crate) fn type_label<M: ?Sized>() -> String {
    let mut t = std::any::type_name::<M>();
    loop {
        t = t.trim_start_matches('&').trim_start_matches("mut ");
        // Look through smart pointers to the model type.
        let inner = ["alloc::sync::Arc<", "alloc::boxed::Box<", "alloc::rc::Rc<"]
            .iter()
            .find_map(|w| t.strip_prefix(w))
            .and_then(|r| r.strip_suffix('>'));
        match inner {
            Some(r) => t = r,
            None => break,
        }
    }
    let head = t.split('<').next().unwrap_or(t);
    head.rsplit("::").next().unwrap_or(head).to_string()
}

impl<M: RuleForward + ?Sized> RuleForward for &M {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        (**self).forward_with(x, ops)
    }
    fn lrp_refusal(&self) -> Option<String> {
        (**self).lrp_refusal()
    }
}

impl<M: RuleForward + ?Sized> RuleForward for Box<M> {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        (**self).forward_with(x, ops)
    }
    fn lrp_refusal(&self) -> Option<String> {
        (**self).lrp_refusal()
    }
}

impl<M: RuleForward + ?Sized> RuleForward for std::sync::Arc<M> {
    fn forward_with(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        (**self).forward_with(x, ops)
    }
    fn lrp_refusal(&self) -> Option<String> {
        (**self).lrp_refusal()
    }
}

/// Checks a pooling input `[N, C, H, W]` with H, W divisible by `k ≥ 1`.
pub(crate) fn pool_dims(x: &Tensor, k: usize) -> candle_core::Result<(usize, usize, usize, usize)> {
    let (n, c, h, w) = x.dims4()?;
    if k == 0 || h % k != 0 || w % k != 0 {
        candle_core::bail!(
            "pooling with kernel = stride = {k} needs H ({h}) and W ({w}) divisible by {k}"
        );
    }
    Ok((n, c, h, w))
}

/// `x / d` where `d ≠ 0`, and 0 where `d == 0`.
pub(crate) fn safe_div(x: &Tensor, d: &Tensor) -> candle_core::Result<Tensor> {
    let zero = d.eq(0.0)?;
    let ones = d.ones_like()?;
    let d1 = zero.where_cond(&ones, d)?;
    let q = (x / d1)?;
    zero.where_cond(&q.zeros_like()?, &q)
}

/// The stop-gradient trick: a tensor with the value of `value` whose
/// gradient with respect to the inputs is that of `path` scaled
/// element-wise by `factor` (`value.detach() + (path − path.detach()) ⊙
/// factor.detach()`).
pub(crate) fn grad_trick(
    value: &Tensor,
    path: &Tensor,
    factor: &Tensor,
) -> candle_core::Result<Tensor> {
    let delta = (path - path.detach())?;
    value.detach() + delta * factor.detach()
}

/// Logits of `x` (rows: `targets.len()`) through `model` with `ops`, the
/// target logit of every row, and the gradients of the sum of the first
/// `grad_rows` target logits.
pub(crate) fn backward_targets<M: RuleForward + ?Sized>(
    model: &M,
    ops: &dyn LayerOps,
    x: &Tensor,
    targets: &[usize],
    grad_rows: usize,
) -> Result<(Vec<f32>, GradStore)> {
    let rows = targets.len();
    let k = model.num_classes();
    let logits = model.forward_with(x, ops).map_err(candle_error)?;
    if logits.dims() != [rows, k] {
        return Err(SalienceError::Model(format!(
            "model returned logits of shape {:?} for a batch of {rows} (expected [{rows}, {k}])",
            logits.dims()
        )));
    }
    let idx = targets
        .iter()
        .map(|&t| u32::try_from(t).map_err(|_| SalienceError::invalid("target", t, "exceeds u32")))
        .collect::<Result<Vec<u32>>>()?;
    let idx = Tensor::from_vec(idx, (rows, 1), x.device()).map_err(candle_error)?;
    let picked = logits.gather(&idx, 1).map_err(candle_error)?;
    let values = tensor_to_vec(&picked)?;
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "model logits".into(),
            index,
            value,
        });
    }
    let grads = picked
        .narrow(0, 0, grad_rows)
        .and_then(|p| p.sum_all())
        .and_then(|s| s.backward())
        .map_err(candle_error)?;
    Ok((values, grads))
}

/// The gradient of `t` in `grads` as a flat vector (zeros when the output
/// does not depend on `t`), checked finite.
pub(crate) fn grad_vec(grads: &GradStore, t: &Tensor) -> Result<Vec<f32>> {
    let g = match grads.get(t) {
        Some(g) => tensor_to_vec(g)?,
        None => vec![0f32; t.elem_count()],
    };
    if let Some((index, &value)) = g.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "rule-modified gradient".into(),
            index,
            value,
        });
    }
    Ok(g)
}

/// How many inputs of `info` a rule-based explainer puts in one forward +
/// backward pass when each input takes `rows` rows of the model batch
/// (1; DeepLIFT's input and reference: 2), for `batch_size`.
pub(crate) fn rule_chunk<M: Classifier + ?Sized>(
    model: &M,
    batch_size: BatchSize,
    info: &BatchInfo,
    rows: u64,
) -> Result<usize> {
    chunk_of_rows(
        model,
        batch_size,
        &info.sample_shape,
        info.n,
        Pass::ForwardBackward,
        rows,
    )
}

/// Inputs `rows` of the flat batch `data` (samples shaped like `info`'s)
/// as a gradient leaf `[len, ...]` on `device`.
pub(crate) fn chunk_leaf(
    data: &[f32],
    info: &BatchInfo,
    rows: std::ops::Range<usize>,
    device: &Device,
) -> Result<Var> {
    let f = info.features;
    let mut shape = vec![rows.len()];
    shape.extend_from_slice(&info.sample_shape);
    Var::from_slice(&data[rows.start * f..rows.end * f], shape, device).map_err(candle_error)
}

/// The gradients of the sum of the target logits of the inputs `x` (one
/// target per row) through `ops` ([`backward_targets`]), and the input
/// gradient ([`grad_vec`]).
pub(crate) fn input_gradients<M: RuleForward + ?Sized>(
    model: &M,
    ops: &dyn LayerOps,
    x: &Var,
    targets: &[usize],
) -> Result<(GradStore, Vec<f32>)> {
    let (_, grads) = backward_targets(model, ops, x.as_tensor(), targets, targets.len())?;
    let g = grad_vec(&grads, x.as_tensor())?;
    Ok((grads, g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, VarBuilder, VarMap};

    #[test]
    fn type_labels_are_the_model_type() {
        struct Net;
        assert_eq!(super::type_label::<Net>(), "Net");
        assert_eq!(super::type_label::<&std::sync::Arc<Net>>(), "Net");
        assert_eq!(super::type_label::<Box<Vec<Net>>>(), "Vec");
    }

    fn seq(shape: &[usize], a: f32, b: f32, c: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| (i as f32 * a).sin() * b + c).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() <= tol * (1.0 + p.abs()), "{p} vs {q}");
        }
    }

    /// With constant parameters the plain forward folds the batch norm
    /// into the convolution: one graph node after the input (before: the
    /// convolution plus the batch norm's broadcast ops), and the values and
    /// input gradients of the unfused pair to 1e-5.
    #[test]
    fn plain_ops_fold_constant_batch_norms() {
        let cfg = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let conv = Conv2d::new(seq(&[4, 3, 3, 3], 0.7, 0.4, 0.0), None, cfg);
        let bn = BatchNorm::new(
            4,
            seq(&[4], 1.3, 0.5, 0.1),
            seq(&[4], 0.9, 0.3, 1.0),
            seq(&[4], 0.4, 0.6, 1.0),
            seq(&[4], 2.1, 0.2, 0.0),
            1e-5,
        )
        .unwrap();
        let x = Var::from_tensor(&seq(&[2, 3, 9, 9], 0.37, 1.0, 0.2)).unwrap();
        let wts = seq(&[2, 4, 5, 5], 0.11, 1.0, 0.0);
        let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let y = f(x.as_tensor()).unwrap();
            let g = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
            (y.clone(), flat(g.get(x.as_tensor()).unwrap()))
        };
        let (folded, g_folded) = run(&|t| PlainOps.conv2d_batch_norm("c", &conv, &bn, t));
        let (unfused, g_unfused) =
            run(&|t| PlainOps.batch_norm("c", &bn, &PlainOps.conv2d("c", &conv, t)?));
        // The folded pass is one op on the input Var (nodes: op, input).
        assert_eq!(folded.sorted_nodes().len(), 2);
        assert!(unfused.sorted_nodes().len() > 2);
        close(&flat(&folded), &flat(&unfused), 1e-5);
        close(&g_folded, &g_unfused, 1e-5);
    }

    /// With `Var` parameters (training) the pair runs unfused, so the
    /// batch-norm scale gets its gradient.
    #[test]
    fn plain_ops_keep_tracked_batch_norms_unfused() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let conv = candle_nn::conv2d_no_bias(3, 4, 3, Conv2dConfig::default(), vb.pp("c")).unwrap();
        let bn = candle_nn::batch_norm(4, 1e-5, vb.pp("bn")).unwrap();
        let x = seq(&[1, 3, 6, 6], 0.37, 1.0, 0.2);
        let y = PlainOps.conv2d_batch_norm("c", &conv, &bn, &x).unwrap();
        let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let (gamma, _) = bn.weight_and_bias().unwrap();
        assert!(g.get(gamma).is_some());
        assert!(g.get(conv.weight()).is_some());
    }
}
