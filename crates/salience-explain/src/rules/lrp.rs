//! Layer-wise Relevance Propagation (Bach et al. 2015; Montavon et al.
//! 2019), with the rules of [`LrpRule`] assigned by a [`Composite`].
//!
//! **Implementation: the gradient × input trick.** Each dense or
//! convolutional layer with output `z` is replaced by a layer with the same
//! value but a modified gradient: `y = z.detach() + (p − p.detach()) ⊙
//! (z / stab(p + b′)).detach()` where `p` is the rule's modified forward
//! (e.g. `W⁺ a⁺ + W⁻ a⁻` for z⁺). If the gradient arriving at `y` is `g`,
//! the output relevance is `R = g ⊙ z`, and the gradient leaving the layer
//! is `c = ∂p/∂a ᵀ (R / stab(p + b′))`, so `a ⊙ c` is exactly the rule's
//! input relevance. ReLUs keep their gradient: `g_in ⊙ x = g_out ⊙ relu(x)`,
//! i.e. relevance passes unchanged. The attribution is therefore
//! `x ⊙ ∇ₓ` of the modified network. Rules that replace the input (zᴮ's
//! bounds, the flat and w² rules' ones) put those replacements in extra
//! leaves `l` and add `l ⊙ ∇_l`.
//!
//! Transformers written with [`LayerOps::layer_norm`], [`LayerOps::softmax`],
//! [`LayerOps::matmul`] and [`LayerOps::gelu`] get AttnLRP's rules for
//! them ([`crate::rules::attn_lrp`]; [`crate::AttnLrp`] also offers CP-LRP).
//!
//! **Relevance starts at the target logit**: the backward pass is seeded
//! with 1 at the target, so `R_out = f_t(x)` and, for conservative rules
//! without biases, `Σ attr = f_t(x)` (Captum's `LRP` does the same).
//! Zennit's usual `attr_output` one-hot seed gives the same map divided
//! by `f_t(x)`.
//!
//! **Conservation, as tested.** LRP-0 = Gradient × Input on bias-free ReLU
//! networks (a sequential CNN and a residual net), to 1e-5 relative.
//! LRP-ε (ε = 1e-7), z⁺ / α1β0, γ and the three first-layer composites
//! conserve `Σ R = f_t(x)` to 1e-4 relative on a bias-free ReLU CNN (max
//! and average pooling) with non-negative, boxed inputs. α2β1 conserves
//! only where each unit has both positive and negative contributions: a
//! unit whose β-part is empty counts its relevance α = 2 times (Zennit
//! behaves the same); the tests show both cases. Every rule is also tested
//! against an explicit layer-by-layer implementation on an MLP with biases
//! and mixed-sign inputs.

use crate::gradient::{contiguous, flat_slice, validate};
use crate::model::convert::{candle_error, tensor_to_vec};
use crate::rules::attn_lrp::{self, AttentionRule, TransformerState};
use crate::rules::lrp_rules::{Composite, LayerKind, LrpRule};
use crate::rules::{
    chunk_leaf, grad_trick, grad_vec, input_gradients, rule_chunk, safe_div, LayerOps, RuleForward,
};
use candle_core::{Module, Tensor, TensorId, Var};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};
use std::cell::RefCell;

/// Zennit's default stabiliser.
const STAB: f64 = 1e-6;

/// `d + e · sign(d)` with sign(0) = 1.
fn stab(d: &Tensor, e: f64) -> candle_core::Result<Tensor> {
    let s = d.ge(0.0)?.to_dtype(d.dtype())?.affine(2.0, -1.0)?;
    d + (s * e)?
}

/// A dense or convolutional layer, for applying modified weights.
#[derive(Clone, Copy)]
enum Affine<'a> {
    Dense(&'a candle_nn::Linear),
    Conv(&'a candle_nn::Conv2d),
}

impl Affine<'_> {
    fn kind(&self) -> LayerKind {
        match self {
            Affine::Dense(_) => LayerKind::Dense,
            Affine::Conv(_) => LayerKind::Conv,
        }
    }
    fn weight(&self) -> &Tensor {
        match self {
            Affine::Dense(l) => l.weight(),
            Affine::Conv(l) => l.weight(),
        }
    }
    fn bias(&self) -> Option<&Tensor> {
        match self {
            Affine::Dense(l) => l.bias(),
            Affine::Conv(l) => l.bias(),
        }
    }
    /// The layer's map with weight `w` and optional bias `b`.
    fn apply(&self, w: &Tensor, b: Option<&Tensor>, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Affine::Dense(_) => candle_nn::Linear::new(w.clone(), b.cloned()).forward(x),
            Affine::Conv(l) => crate::ops::conv2d_layer(
                &candle_nn::Conv2d::new(w.clone(), b.cloned(), *l.config()),
                x,
            ),
        }
    }
    /// `t + b` broadcast over the output (no-op without a bias).
    fn add_bias(&self, t: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Tensor> {
        match b {
            None => Ok(t.clone()),
            Some(b) => {
                let n = b.elem_count();
                let b = match self {
                    Affine::Dense(_) => b.reshape((1, n))?,
                    Affine::Conv(_) => b.reshape((1, n, 1, 1))?,
                };
                t.broadcast_add(&b)
            }
        }
    }
}

/// `t⁺` and `t⁻` (with `t = t⁺ + t⁻`), for weights and biases.
fn split(t: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let p = t.relu()?;
    let n = (t - &p)?;
    Ok((p, n))
}

/// `x⁺ = x ⊙ 1[x > 0]` and `x⁻ = x ⊙ 1[x < 0]` for a layer input, with
/// constant masks: each part's gradient is exactly its mask. (Writing
/// `x⁻ = x − relu(x)` would route the gradient of `x⁻` through a
/// subtraction that cancels catastrophically in f32 when one part's
/// multiplier is large, e.g. behind a stabilised zero denominator.)
/// `x⁻` is `None` when the input has no negative entry (any layer after a
/// ReLU), which saves the layer evaluations on it.
fn split_input(x: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let p = (x * x.gt(0.0)?.to_dtype(x.dtype())?)?;
    let min = x
        .min_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    let n = if min < 0.0 {
        Some((x * x.lt(0.0)?.to_dtype(x.dtype())?)?)
    } else {
        None
    };
    Ok((p, n))
}

/// `W_a x⁺ + W_b x⁻` (the second term skipped when `x⁻` is absent).
fn apply_split(
    aff: Affine<'_>,
    w_pos_in: &Tensor,
    w_neg_in: &Tensor,
    xp: &Tensor,
    xn: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let p = aff.apply(w_pos_in, None, xp)?;
    match xn {
        Some(xn) => p + aff.apply(w_neg_in, None, xn)?,
        None => Ok(p),
    }
}

#[derive(Default)]
struct LrpState {
    /// Dense/conv layers seen so far.
    index: usize,
    /// The model input and its flattenings.
    input_ids: Vec<TensorId>,
    /// Extra leaves (zᴮ bounds, flat/w² ones), each contributing `l ⊙ ∇_l`.
    leaves: Vec<Var>,
    /// The softmaxes seen and AttnLRP's softmax-bias leaves.
    transformer: TransformerState,
    /// Why the composite does not fit the model, when a layer refused its
    /// rule during the forward pass: the typed error [`LrpRun`] returns in
    /// place of the backend error that stopped the pass.
    refusal: Option<SalienceError>,
}

/// The LRP [`LayerOps`]: dense and convolutional layers follow the
/// composite; LayerNorm, softmax, activation products and GELU follow
/// `attention` ([`crate::rules::attn_lrp`]); everything else keeps its gradient.
struct LrpOps<'a> {
    composite: &'a Composite,
    attention: AttentionRule,
    state: RefCell<LrpState>,
    /// The explainer's name and the model type, for typed refusals.
    method: &'a str,
    model: String,
}

impl LrpOps<'_> {
    /// Stops the forward pass for a composite that does not fit the model:
    /// keeps `e` for [`LrpOps::typed`] and returns the backend error that
    /// carries its message out of the pass.
    fn refuse(&self, e: SalienceError) -> candle_core::Error {
        let msg = e.to_string();
        self.state.borrow_mut().refusal = Some(e);
        candle_core::Error::Msg(msg)
    }

    /// The error of a pass with these ops: the kept refusal if a layer
    /// refused its rule, `e` otherwise.
    fn typed(&self, e: SalienceError) -> SalienceError {
        self.state.borrow_mut().refusal.take().unwrap_or(e)
    }

    fn affine(&self, name: &str, aff: Affine<'_>, x: &Tensor) -> candle_core::Result<Tensor> {
        let (index, is_input) = {
            let mut s = self.state.borrow_mut();
            let i = s.index;
            s.index += 1;
            (i, s.input_ids.contains(&x.id()))
        };
        let rule = self.composite.rule_for(name, aff.kind(), index);
        if rule.needs_input() && !is_input {
            return Err(self.refuse(SalienceError::unsupported(
                self.method,
                &self.model,
                format!(
                    "LRP rule {rule:?} of layer `{name}` replaces the layer's inputs, so the layer \
                     must take the model input (or its flattening) directly; give that layer \
                     another rule (Composite::with_layer) or the composite no first-layer rule"
                ),
            )));
        }
        let w = aff.weight();
        let b = aff.bias();
        let z = aff.apply(w, b, x)?;
        match *rule {
            LrpRule::Gradient => Ok(z),
            LrpRule::Epsilon(e) => {
                let d = if e > 0.0 {
                    stab(&z, e as f64)?
                } else {
                    z.clone()
                };
                grad_trick(&z, &z, &safe_div(&z, &d)?)
            }
            LrpRule::ZPlus => alpha_beta(aff, &z, x, 1.0, 0.0),
            LrpRule::AlphaBeta { alpha, beta } => alpha_beta(aff, &z, x, alpha as f64, beta as f64),
            LrpRule::Gamma(g) => {
                let g = g as f64;
                let (wp, wn) = split(w)?;
                let w_up = (w + (&wp * g)?)?;
                let w_down = (w + (&wn * g)?)?;
                let (xp, xn) = split_input(x)?;
                let p = apply_split(aff, &w_up, &w_down, &xp, xn.as_ref())?;
                let q = apply_split(aff, &w_down, &w_up, &xp, xn.as_ref())?;
                let (bp, bq) = match b {
                    Some(b) => {
                        let (b_pos, b_neg) = split(b)?;
                        (Some((b + (b_pos * g)?)?), Some((b + (b_neg * g)?)?))
                    }
                    None => (None, None),
                };
                let dp = stab(&aff.add_bias(&p, bp.as_ref())?, STAB)?;
                let dq = stab(&aff.add_bias(&q, bq.as_ref())?, STAB)?;
                let zp = (&z * z.gt(0.0)?.to_dtype(z.dtype())?)?;
                let zn = (&z * z.lt(0.0)?.to_dtype(z.dtype())?)?;
                let mp = (zp / dp)?;
                let mq = (zn / dq)?;
                let y = grad_trick(&z, &p, &mp)?;
                y + (&q - q.detach())? * mq.detach()
            }
            LrpRule::ZBox { low, high } => {
                let l = x.ones_like()?.affine(low as f64, 0.0)?;
                let h = x.ones_like()?.affine(high as f64, 0.0)?;
                self.zbox(aff, &z, x, l, h)
            }
            LrpRule::ZBoxChannels { ref low, ref high } => {
                let c = low.len();
                if x.rank() < 2 || x.dim(1)? != c {
                    return Err(self.refuse(SalienceError::invalid(
                        "zbox channel bounds",
                        format!("{c} channels"),
                        &format!(
                            "layer `{name}` takes input of shape {:?}: need one (low, high) pair \
                             per channel of axis 1",
                            x.dims()
                        ),
                    )));
                }
                let mut shape = vec![1usize; x.rank()];
                shape[1] = c;
                let bound = |v: &[f32]| {
                    Tensor::from_slice(v, shape.as_slice(), x.device())?
                        .to_dtype(x.dtype())?
                        .broadcast_as(x.shape())?
                        .contiguous()
                };
                self.zbox(aff, &z, x, bound(low)?, bound(high)?)
            }
            LrpRule::Flat | LrpRule::WSquare => {
                let ones = Var::from_tensor(&x.ones_like()?)?;
                let wm = if *rule == LrpRule::Flat {
                    w.ones_like()?
                } else {
                    w.sqr()?
                };
                let d = aff.apply(&wm, None, ones.as_tensor())?;
                let m = (&z / stab(&d, STAB)?)?;
                self.state.borrow_mut().leaves.push(ones);
                grad_trick(&z, &d, &m)
            }
        }
    }
}

impl LrpOps<'_> {
    /// The zᴮ rule with bounds `l`, `h` shaped like the input `x`.
    fn zbox(
        &self,
        aff: Affine<'_>,
        z: &Tensor,
        x: &Tensor,
        l: Tensor,
        h: Tensor,
    ) -> candle_core::Result<Tensor> {
        let l = Var::from_tensor(&l)?;
        let h = Var::from_tensor(&h)?;
        let w = aff.weight();
        let (wp, wn) = split(w)?;
        let d = ((aff.apply(w, None, x)? - aff.apply(&wp, None, l.as_tensor())?)?
            - aff.apply(&wn, None, h.as_tensor())?)?;
        let m = (z / stab(&d, STAB)?)?;
        let mut s = self.state.borrow_mut();
        s.leaves.push(l);
        s.leaves.push(h);
        grad_trick(z, &d, &m)
    }
}

/// The αβ rule (z⁺ for α = 1, β = 0) as a gradient trick.
fn alpha_beta(
    aff: Affine<'_>,
    z: &Tensor,
    x: &Tensor,
    alpha: f64,
    beta: f64,
) -> candle_core::Result<Tensor> {
    let w = aff.weight();
    let (wp, wn) = split(w)?;
    let (xp, xn) = split_input(x)?;
    let (bp, bn) = match aff.bias() {
        Some(b) => {
            let (p, n) = split(b)?;
            (Some(p), Some(n))
        }
        None => (None, None),
    };
    let p = apply_split(aff, &wp, &wn, &xp, xn.as_ref())?;
    let dp = stab(&aff.add_bias(&p, bp.as_ref())?, STAB)?;
    let y = grad_trick(z, &p, &((z / dp)? * alpha)?)?;
    if beta == 0.0 {
        return Ok(y);
    }
    let q = apply_split(aff, &wn, &wp, &xp, xn.as_ref())?;
    let dq = stab(&aff.add_bias(&q, bn.as_ref())?, STAB)?;
    let mq = ((z / dq)? * beta)?;
    y - (&q - q.detach())? * mq.detach()
}

impl LayerOps for LrpOps<'_> {
    fn linear(
        &self,
        name: &str,
        layer: &candle_nn::Linear,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.affine(name, Affine::Dense(layer), x)
    }

    fn conv2d(
        &self,
        name: &str,
        layer: &candle_nn::Conv2d,
        x: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.affine(name, Affine::Conv(layer), x)
    }

    fn flatten(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.flatten_from(1)?;
        let mut s = self.state.borrow_mut();
        if s.input_ids.contains(&x.id()) {
            s.input_ids.push(y.id());
        }
        Ok(y)
    }

    fn layer_norm(
        &self,
        _name: &str,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> candle_core::Result<Tensor> {
        attn_lrp::layer_norm_identity(x, weight, bias, eps)
    }

    fn softmax(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut s = self.state.borrow_mut();
        attn_lrp::softmax_rule(self.attention, x, &mut s.transformer)
    }

    fn matmul(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        attn_lrp::matmul_rule(self.attention, a, b)
    }

    fn gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // The model's own exact GELU (the plain forward's), so the rule's
        // logits are the model's; only the backward is the identity rule.
        attn_lrp::identity_rule(x, &crate::ops::gelu_erf(&x.detach())?)
    }
}

/// The LRP explainer. Deterministic (ignores seeds). See the
/// [module docs](self) for how the rules are realised and where relevance
/// starts.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{Composite, Lrp, LrpRule, RuleLayer, RuleSequential};
/// // A bias-free ReLU net: LRP-0 sums to the target logit.
/// let w1 = Tensor::new(&[[1.0f32, 2.0], [-1.0, 1.0]], &Device::Cpu).unwrap();
/// let w2 = Tensor::new(&[[1.0f32, 1.0]], &Device::Cpu).unwrap();
/// let m = RuleSequential::new(1)
///     .push("fc1", candle_nn::Linear::new(w1, None))
///     .push("relu", RuleLayer::Relu)
///     .push("fc2", candle_nn::Linear::new(w2, None));
/// let lrp = Lrp::with_composite(&m, Composite::uniform(LrpRule::Epsilon(0.0)));
/// let x = ndarray::array![[1.0f32, 1.0]].into_dyn();
/// let r = lrp.explain(x.view(), &[0], Seeds::base(0))?;
/// // f(x) = relu(3) + relu(0) = 3; R = x ⊙ ∇f = (1, 2).
/// assert_eq!(r.view(), ndarray::array![[1.0f32, 2.0]].into_dyn());
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Lrp<M> {
    model: M,
    composite: Composite,
    batch_size: BatchSize,
    name: &'static str,
}

/// `lrp_<preset>` for Zennit's named composites, `lrp` otherwise.
fn composite_name(c: &Composite) -> &'static str {
    let box_first = matches!(
        c.first,
        Some(LrpRule::ZBox { .. }) | Some(LrpRule::ZBoxChannels { .. })
    );
    let gamma_box = Composite {
        first: c.first.clone(),
        ..Composite::epsilon_gamma_box(0.0, 1.0)
    };
    if *c == Composite::epsilon_plus() {
        "lrp_epsilon_plus"
    } else if *c == Composite::epsilon_plus_flat() {
        "lrp_epsilon_plus_flat"
    } else if *c == Composite::epsilon_alpha2_beta1() {
        "lrp_epsilon_alpha2_beta1"
    } else if box_first && *c == gamma_box {
        "lrp_epsilon_gamma_box"
    } else {
        "lrp"
    }
}

impl<M: RuleForward> Lrp<M> {
    /// LRP with the default composite (Zennit's `EpsilonPlus`).
    pub fn new(model: M) -> Self {
        Self::with_composite(model, Composite::default())
    }

    /// LRP with `composite`.
    ///
    /// ```
    /// use salience_explain::{Composite, Lrp, RuleSequential};
    /// let _l = Lrp::with_composite(RuleSequential::new(2), Composite::epsilon_gamma_box(0.0, 1.0));
    /// ```
    pub fn with_composite(model: M, composite: Composite) -> Self {
        Lrp {
            model,
            name: composite_name(&composite),
            composite,
            batch_size: BatchSize::Auto,
        }
    }

    /// Sets the number of inputs per forward/backward pass
    /// ([`BatchSize::Auto`] by default).
    ///
    /// ```
    /// use salience_explain::{Lrp, RuleSequential};
    /// let _l = Lrp::new(RuleSequential::new(2)).with_batch_size(salience_core::BatchSize::fixed(8)?);
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_batch_size(mut self, batch_size: BatchSize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// The composite.
    ///
    /// ```
    /// use salience_explain::{Composite, Lrp, RuleSequential};
    /// assert_eq!(Lrp::new(RuleSequential::new(2)).composite(), &Composite::epsilon_plus());
    /// ```
    pub fn composite(&self) -> &Composite {
        &self.composite
    }
}

impl<M: RuleForward> Explainer for Lrp<M> {
    /// `lrp_epsilon_plus`, `lrp_epsilon_gamma_box`, `lrp_epsilon_plus_flat`,
    /// `lrp_epsilon_alpha2_beta1` for the presets, `lrp` for other composites.
    fn name(&self) -> &str {
        self.name
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let run = LrpRun {
            method: self.name,
            composite: &self.composite,
            attention: AttentionRule::AttnLrp,
            batch_size: self.batch_size,
            track_softmax_bias: false,
            require_attention: None,
        };
        AttributionBatch::new(run.explain(&self.model, inputs, targets)?.relevance)
    }
}

/// One LRP computation: the composite, the transformer rules and the
/// batching ([`Lrp`] and [`crate::AttnLrp`] share it).
pub(crate) struct LrpRun<'a> {
    /// The explainer's name, for errors.
    pub method: &'a str,
    pub composite: &'a Composite,
    pub attention: AttentionRule,
    pub batch_size: BatchSize,
    /// Whether to measure the relevance the AttnLRP softmax rule absorbs.
    pub track_softmax_bias: bool,
    /// `Some(method)`: a forward pass without a softmax is an error
    /// naming `method` (raised after the first batch).
    pub require_attention: Option<&'a str>,
}

/// What [`LrpRun::explain`] returns.
pub(crate) struct LrpOutput {
    /// The input relevance, shaped like the inputs.
    pub relevance: ArrayD<f32>,
    /// Per input, the relevance absorbed by the softmax bias terms (0
    /// unless tracked).
    pub softmax_bias: Vec<f32>,
}

impl LrpRun<'_> {
    /// The layer ops for a forward pass on input `x`.
    fn ops<M: ?Sized>(&self, x: &Tensor) -> LrpOps<'_> {
        LrpOps {
            composite: self.composite,
            attention: self.attention,
            method: self.method,
            model: crate::rules::type_label::<M>(),
            state: RefCell::new(LrpState {
                input_ids: vec![x.id()],
                transformer: TransformerState {
                    track_bias: self.track_softmax_bias,
                    ..Default::default()
                },
                ..Default::default()
            }),
        }
    }

    /// The logits of the rule-based forward pass on `x` (the model's own
    /// logits: the rules change only the backward pass).
    pub(crate) fn logits<M: RuleForward + ?Sized>(&self, model: &M, x: &Tensor) -> Result<Tensor> {
        self.composite.check()?;
        let ops = self.ops::<M>(x);
        model
            .forward_with(x, &ops)
            .map_err(|e| ops.typed(candle_error(e)))
    }

    pub(crate) fn explain<M: RuleForward + ?Sized>(
        &self,
        model: &M,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
    ) -> Result<LrpOutput> {
        let info = validate(&inputs, targets, model.num_classes())?;
        self.composite.check()?;
        if let Some(reason) = model.lrp_refusal() {
            return Err(SalienceError::unsupported(
                self.method,
                crate::rules::type_label::<M>(),
                reason,
            ));
        }
        let chunk = rule_chunk(model, self.batch_size, &info, 1)?;
        let xs = contiguous(&inputs);
        let data = flat_slice(&xs)?;
        let f = info.features;
        let mut out = vec![0f32; info.n * f];
        let mut softmax_bias = vec![0f32; info.n];
        let mut start = 0;
        while start < info.n {
            let len = (info.n - start).min(chunk);
            let r = start * f..(start + len) * f;
            let x = chunk_leaf(data, &info, start..start + len, model.device())?;
            let ops = self.ops::<M>(x.as_tensor());
            let (grads, g) = input_gradients(model, &ops, &x, &targets[start..start + len])
                .map_err(|e| ops.typed(e))?;
            let dst = &mut out[r.clone()];
            for ((o, xv), gv) in dst.iter_mut().zip(&data[r]).zip(&g) {
                *o = xv * gv;
            }
            let state = ops.state.into_inner();
            for leaf in &state.leaves {
                let lv = tensor_to_vec(leaf.as_tensor())?;
                let lg = grad_vec(&grads, leaf.as_tensor())?;
                if lv.len() != dst.len() {
                    return Err(SalienceError::unsupported(
                        self.method,
                        crate::rules::type_label::<M>(),
                        format!(
                            "the composite's input-layer rule (zB, flat or w²) got an input of {} \
                             values where the model input has {}: the layer it applies to must \
                             take the model input (or its flattening) directly",
                            lv.len(),
                            dst.len()
                        ),
                    ));
                }
                for ((o, l), gv) in dst.iter_mut().zip(&lv).zip(&lg) {
                    *o += l * gv;
                }
            }
            for leaf in &state.transformer.bias_leaves {
                let lg = grad_vec(&grads, leaf.as_tensor())?;
                if lg.len() != len {
                    return Err(SalienceError::unsupported(
                        self.method,
                        crate::rules::type_label::<M>(),
                        format!(
                            "a softmax input has a leading dimension of {} for a batch of {len}: \
                             the absorbed softmax bias needs the batch on axis 0 of every \
                             LayerOps::softmax input (keep heads on their own axis, not folded \
                             into the batch)",
                            lg.len()
                        ),
                    ));
                }
                for (o, gv) in softmax_bias[start..start + len].iter_mut().zip(&lg) {
                    *o += gv;
                }
            }
            if let (Some(method), 0) = (self.require_attention, state.transformer.softmaxes) {
                return Err(attn_lrp::no_attention(
                    method,
                    &crate::rules::type_label::<M>(),
                ));
            }
            start += len;
        }
        let relevance = ArrayD::from_shape_vec(IxDyn(inputs.shape()), out)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        Ok(LrpOutput {
            relevance,
            softmax_bias,
        })
    }
}

impl<M: crate::LayerSplit + RuleForward + 'static> crate::registry::Registry<M> {
    /// Adds the rule-based methods for models with a rule-based forward
    /// pass: `deeplift` ([`crate::DeepLift`], zero baseline) and `lrp`
    /// ([`Lrp`]; key `composite`: `epsilon_plus`, `epsilon_plus_flat` or
    /// `epsilon_gamma_box`, the default, whose first-layer zᴮ bounds are
    /// the input range `[low, high]`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_explain::{registry::Registry, RuleSequential};
    /// let m = Arc::new(RuleSequential::new(2));
    /// let r = Registry::with_builtins().with_rules(0.0, 1.0);
    /// assert_eq!(r.build(&"deeplift".parse()?, &m)?.name(), "deeplift");
    /// assert!(r.build(&"lrp:composite=epsilon_plus".parse()?, &m).is_ok());
    /// assert!(r.build(&"lrp:composite=nonsense".parse()?, &m).is_err());
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_rules(mut self, low: f32, high: f32) -> Self {
        self.register(
            "deeplift",
            std::sync::Arc::new(|_, m, _| Ok(Box::new(crate::DeepLift::new(m.clone())))),
        );
        self.register(
            "lrp",
            std::sync::Arc::new(move |p, m, _| {
                let name = p.get_or("composite", "epsilon_gamma_box".to_string())?;
                let composite = match name.as_str() {
                    "epsilon_plus" => Composite::epsilon_plus(),
                    "epsilon_plus_flat" => Composite::epsilon_plus_flat(),
                    "epsilon_gamma_box" => Composite::epsilon_gamma_box(low, high),
                    other => {
                        return Err(SalienceError::invalid(
                            "lrp composite",
                            other,
                            "epsilon_plus, epsilon_plus_flat or epsilon_gamma_box",
                        ))
                    }
                };
                Ok(Box::new(Lrp::with_composite(m.clone(), composite)))
            }),
        );
        self
    }
}
