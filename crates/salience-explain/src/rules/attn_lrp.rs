//! LRP for transformers: AttnLRP (Achtibat et al. 2024, "AttnLRP:
//! Attention-Aware Layer-Wise Relevance Propagation for Transformers",
//! ICML) and CP-LRP (Ali et al. 2022, "XAI for Transformers: Better
//! Explanations through Conservative Propagation", ICML), as [`AttnLrp`].
//!
//! Both are realised like the CNN rules of [`crate::Lrp`]: as
//! modified-gradient [`LayerOps`](crate::LayerOps), so that the relevance
//! is Gradient × Input of the modified network (see [`crate::rules::lrp`]) and a
//! model's forward pass, written once over `LayerOps`, serves the plain
//! classifier and both variants. The rules, with `R` the relevance of an
//! op's output and `g = R / y` the gradient arriving at it:
//!
//! | op ([`LayerOps`](crate::LayerOps) method) | AttnLRP | CP-LRP |
//! |---|---|---|
//! | `linear`, `conv2d` | the composite's rule (default ε = 1e-6) | the same |
//! | `layer_norm` | identity rule on the normalisation: `sqrt(var + eps)` detached, so the centring and the affine map are LRP-0 / ε (the bias absorbs its share) | the same |
//! | `softmax` | Gradient × Input at the scores, `R_in = x ⊙ (R − s Σ_j R_j)` (Proposition 3.1) | detached: no relevance to the queries and keys |
//! | `matmul` (`q·kᵀ`, `A·v`) | uniform rule: each factor gets half, `R_a = a ⊙ (R / 2(a·b)) bᵀ` (Proposition 3.3) | plain (with `A` detached, `A·v` is linear in `v`, which gets everything) |
//! | `gelu` (and `relu`) | identity rule, `R_in = R_out` (Equation 9) | the same |
//! | `add` (residuals, position embeddings) | proportional split `R_a = a / (a + b) · R` (ε → 0) | the same |
//!
//! The class-token readout (a selection) and token means are linear and
//! keep their gradient: the readout gives the class token all the
//! relevance, a mean splits it in proportion to the tokens.
//!
//! **Conservation.** With zero biases (dense, convolution, LayerNorm,
//! position embeddings and a zero class token, whose relevance stays with
//! the parameter) and ε → 0, every CP-LRP rule is conservative, so the
//! input relevance sums to the target logit (tested to float error).
//! AttnLRP's softmax rule is not: the first-order Taylor expansion of
//! softmax at its input `x` has the bias `b_j = s_j (1 − x_j + Σ_i s_i x_i)`
//! and, as in the paper and the authors' LXT (`lxt.explicit.functional.softmax`),
//! the bias's relevance `Σ_j b_j g_j` is absorbed rather than passed on.
//! [`AttnLrp::explain_with_softmax_bias`] returns it per input, so that
//! `Σ R_input + absorbed = f_target` (tested). Biases elsewhere absorb
//! their share as in LRP-ε.
//!
//! Differences from LXT: its ε for sums and products (1e-8, added
//! without sign) are left out (they matter only where an output is 0) and
//! the dense ε-rule's stabiliser is Zennit's sign-aware one.
//!
//! Tested: equality with the authors' `lxt` 2.1 (≤ 1.5e-6 on a reduced
//! timm ViT and a hand-sized one-block model;
//! `scripts/parity/attnlrp_fixtures.py`, ε = 0 there because `lxt` adds
//! its ε without sign), hand-computed rules, and conservation on bias-free
//! ViTs (CP-LRP: Σ R = f_t(x); AttnLRP: Σ R plus the absorbed softmax
//! relevance). Swin and MLP-Mixer route their ops through the rules too: on
//! Swin, AttnLRP and CP-LRP run on the window attention (the relative
//! position bias and shift mask are constants added to the scores;
//! conservation tested on a bias-free Swin with padding, a shifted block
//! and patch merging, `salience-models/tests/transformer_lrp.rs`); the Mixer
//! has no softmax, so `attnlrp` there is a typed error and `lrp` applies
//! the LayerNorm and GELU rules (conservation tested on a bias-free Mixer).

use crate::model::split::LayerSplit;
use crate::registry::Registry;
use crate::rules::lrp::LrpRun;
use crate::rules::lrp_rules::{Composite, LrpRule};
use crate::rules::{grad_trick, safe_div, RuleForward};
use candle_core::{Tensor, Var, D};
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};
use std::sync::Arc;

/// The rules for the attention and normalisation layers of a transformer
/// (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionRule {
    /// AttnLRP (Achtibat et al. 2024): softmax by Gradient × Input,
    /// products of activations by the uniform rule.
    #[default]
    AttnLrp,
    /// CP-LRP (Ali et al. 2022): attention probabilities detached.
    CpLrp,
}

/// The softmaxes a rule-based forward pass went through, and the
/// leaves measuring the relevance absorbed by AttnLRP's softmax biases.
#[derive(Debug, Default)]
pub(crate) struct TransformerState {
    /// Softmaxes seen.
    pub softmaxes: usize,
    /// Whether to add a softmax-bias leaf per softmax.
    pub track_bias: bool,
    /// Zero leaves `β` (`[N, 1, …]`) with `∂f/∂β` the absorbed relevance.
    pub bias_leaves: Vec<Var>,
}

/// LayerNorm over the last dimension with the standard deviation detached
/// (the identity rule on the normalisation); the values are those of
/// [`crate::ops::layer_norm`].
pub(crate) fn layer_norm_identity(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?
        .sqrt()?
        .detach();
    let y = centred.broadcast_div(&std)?.broadcast_mul(weight)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// Softmax over the last dimension with `rule`'s relevance rule.
pub(crate) fn softmax_rule(
    rule: AttentionRule,
    x: &Tensor,
    state: &mut TransformerState,
) -> candle_core::Result<Tensor> {
    state.softmaxes += 1;
    let s = crate::ops::softmax(x, D::Minus1)?;
    match rule {
        AttentionRule::CpLrp => Ok(s.detach()),
        AttentionRule::AttnLrp if !state.track_bias => Ok(s),
        AttentionRule::AttnLrp => {
            // b_j = s_j (1 − x_j + Σ_i s_i x_i), the Taylor bias at x.
            let sx = (&s * x)?.sum_keepdim(D::Minus1)?;
            let b = (&s * (sx.broadcast_sub(x)? + 1.0)?)?.detach();
            let mut shape = vec![1usize; x.rank()];
            shape[0] = x.dim(0)?;
            let beta = Var::zeros(shape, x.dtype(), x.device())?;
            let y = (&s + beta.as_tensor().broadcast_mul(&b)?)?;
            state.bias_leaves.push(beta);
            Ok(y)
        }
    }
}

/// `a · b` with `rule`'s relevance rule: AttnLRP's uniform rule halves
/// the gradient to both factors; CP-LRP keeps it.
pub(crate) fn matmul_rule(
    rule: AttentionRule,
    a: &Tensor,
    b: &Tensor,
) -> candle_core::Result<Tensor> {
    let o = a.matmul(b)?;
    match rule {
        AttentionRule::CpLrp => Ok(o),
        AttentionRule::AttnLrp => (&o * 0.5)? + (o.detach() * 0.5)?,
    }
}

/// The identity rule for an element-wise activation `y = f(x)`: the value
/// `y`, and the gradient `f(x) / x` times the gradient of `y` (0 where
/// `x = 0`), so `x ⊙ ∇x = y ⊙ ∇y`.
pub(crate) fn identity_rule(x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    grad_trick(y, x, &safe_div(y, x)?)
}

/// The settings of [`AttnLrp`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttnLrpConfig {
    /// AttnLRP or CP-LRP.
    pub rule: AttentionRule,
    /// The rules of the dense and convolutional layers (default: ε =
    /// 1e-6 everywhere, as the paper).
    pub composite: Composite,
    /// Inputs per forward/backward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for AttnLrpConfig {
    fn default() -> Self {
        AttnLrpConfig {
            rule: AttentionRule::AttnLrp,
            composite: Composite::uniform(LrpRule::Epsilon(1e-6)),
            batch_size: BatchSize::Auto,
        }
    }
}

/// LRP for transformers: AttnLRP or CP-LRP (see the [module docs](self)).
/// Relevance starts at the target logit, as in [`crate::Lrp`]. The model
/// must compute its attention with [`LayerOps::softmax`](crate::LayerOps::softmax)
/// (as `salience_models::VisionTransformer` does); a model whose
/// forward pass has no softmax (a CNN, an MLP-Mixer) is a
/// [`SalienceError::Unsupported`] error: use [`crate::Lrp`] there.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::model::forward::StagedForward;
/// use salience_explain::{staged_model, AttnLrp, LayerOps};
/// /// One attention step over the 2 features of a row, then their sum.
/// struct Tiny;
/// impl StagedForward for Tiny {
///     fn stage_names(&self) -> Vec<String> { vec!["out".into()] }
///     fn stage(&self, _: usize, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
///         let a = ops.softmax(x)?; // [1, 2]
///         ops.matmul(&a, &x.t()?)  // Σ_j a_j x_j: [1, 1]
///     }
///     fn num_classes(&self) -> usize { 1 }
///     fn device(&self) -> &Device { &Device::Cpu }
/// }
/// staged_model!(Tiny);
/// let x = ndarray::array![[1.0f32, 3.0]].into_dyn();
/// // CP-LRP: A detached, f = A·x linear in x, R = A ⊙ x sums to f.
/// let r = AttnLrp::cp_lrp(Tiny).explain(x.view(), &[0], Seeds::base(0))?;
/// let f = (1.0 + 3.0 * 2f32.exp()) / (1.0 + 2f32.exp());
/// assert!((r.view().sum() - f).abs() < 1e-5);
/// # Ok::<(), salience_core::SalienceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AttnLrp<M> {
    model: M,
    config: AttnLrpConfig,
}

impl<M: RuleForward> AttnLrp<M> {
    /// AttnLRP with the default settings.
    pub fn new(model: M) -> Self {
        Self::with_config(model, AttnLrpConfig::default())
    }

    /// CP-LRP with the default settings.
    pub fn cp_lrp(model: M) -> Self {
        Self::with_config(
            model,
            AttnLrpConfig {
                rule: AttentionRule::CpLrp,
                ..Default::default()
            },
        )
    }

    /// Explicit settings.
    pub fn with_config(model: M, config: AttnLrpConfig) -> Self {
        AttnLrp { model, config }
    }

    /// The settings.
    pub fn config(&self) -> &AttnLrpConfig {
        &self.config
    }

    /// The relevance, and per input the relevance absorbed by the
    /// AttnLRP softmax rule's bias terms (all 0 for CP-LRP): with zero
    /// biases elsewhere and ε → 0, `Σ relevance + absorbed = f_target`.
    pub fn explain_with_softmax_bias(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
    ) -> Result<(AttributionBatch, Vec<f32>)> {
        let out = self.run(inputs, targets, true)?;
        Ok((AttributionBatch::new(out.0)?, out.1))
    }

    /// The logits of the rule-based forward pass on `x`, which equal the
    /// model's own (the rules change only the backward pass): a check
    /// that a model's forward is written with the ops.
    pub fn rule_logits(&self, x: &Tensor) -> Result<Tensor> {
        self.lrp_run(true).logits(&self.model, x)
    }

    fn lrp_run(&self, track: bool) -> LrpRun<'_> {
        LrpRun {
            method: self.name(),
            composite: &self.config.composite,
            attention: self.config.rule,
            batch_size: self.config.batch_size,
            track_softmax_bias: track && self.config.rule == AttentionRule::AttnLrp,
            require_attention: Some(self.name()),
        }
    }

    fn run(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        track: bool,
    ) -> Result<(ndarray::ArrayD<f32>, Vec<f32>)> {
        let out = self.lrp_run(track).explain(&self.model, inputs, targets)?;
        Ok((out.relevance, out.softmax_bias))
    }
}

/// The error for a model without attention ops.
pub(crate) fn no_attention(method: &str, model: &str) -> SalienceError {
    SalienceError::unsupported(
        method,
        model,
        "it has rules for attention, but the model's rule-based forward pass \
         (RuleForward) computed no softmax through LayerOps::softmax: a CNN or an MLP-Mixer \
         has no attention (use `lrp`, Lrp, for those), and a transformer must compute its \
         attention with LayerOps::softmax / LayerOps::matmul",
    )
}

impl<M: RuleForward> Explainer for AttnLrp<M> {
    /// `attnlrp` or `cp_lrp`.
    fn name(&self) -> &str {
        match self.config.rule {
            AttentionRule::AttnLrp => "attnlrp",
            AttentionRule::CpLrp => "cp_lrp",
        }
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        AttributionBatch::new(self.run(inputs, targets, false)?.0)
    }
}

/// The registry names of [`AttnLrp`] and their rules.
const NAMES: [(&str, AttentionRule); 2] = [
    ("attnlrp", AttentionRule::AttnLrp),
    ("cp_lrp", AttentionRule::CpLrp),
];

/// Registers `attnlrp` and `cp_lrp` (aliases `attn_lrp`, `cp-lrp`) as
/// builders that fail with a typed error saying why: a plain
/// [`LayerSplit`] model has no rule-based forward pass.
pub(crate) fn register_unsupported<M: LayerSplit + 'static>(r: &mut Registry<M>) {
    for (name, _) in NAMES {
        r.register(
            name,
            Arc::new(move |_, _, _| {
                Err(SalienceError::unsupported(
                    name,
                    crate::rules::type_label::<M>(),
                    "it needs a transformer whose forward pass is written with LayerOps \
                     (RuleForward, e.g. salience_models' VisionTransformer): build the registry \
                     with Registry::with_attention_lrp() for such a model",
                ))
            }),
        );
    }
    r.alias("attn_lrp", "attnlrp");
    r.alias("cp-lrp", "cp_lrp");
}

impl<M: LayerSplit + RuleForward + 'static> Registry<M> {
    /// Adds `attnlrp` and `cp_lrp` ([`AttnLrp`]; aliases `attn_lrp`,
    /// `cp-lrp`; key `batch_size`) for models with a rule-based forward
    /// pass. On a model without attention (a CNN) they build, and
    /// explaining is a typed error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_explain::{registry::Registry, RuleSequential};
    /// let m = Arc::new(RuleSequential::new(2));
    /// assert!(Registry::with_builtins().build(&"attnlrp".parse()?, &m).is_err());
    /// let r = Registry::with_builtins().with_attention_lrp();
    /// assert_eq!(r.build(&"cp-lrp".parse()?, &m)?.name(), "cp_lrp");
    /// # Ok::<(), salience_core::SalienceError>(())
    /// ```
    pub fn with_attention_lrp(mut self) -> Self {
        for (name, rule) in NAMES {
            self.register(
                name,
                Arc::new(move |p, m, _| {
                    let cfg = AttnLrpConfig {
                        rule,
                        batch_size: p.get_or("batch_size", BatchSize::Auto)?,
                        ..Default::default()
                    };
                    Ok(Box::new(AttnLrp::with_config(m.clone(), cfg)))
                }),
            );
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::forward::StagedForward;
    use crate::rules::LayerOps;
    use candle_core::Device;

    /// `x ⊙ ∇ₓ Σ (f(x) ⊙ g)`: the input relevance when the output's is
    /// `f(x) ⊙ g`.
    fn relevance(
        f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
        x: &[f32],
        shape: &[usize],
        g: &[f32],
    ) -> Vec<f32> {
        let v = Var::from_slice(x, shape, &Device::Cpu).unwrap();
        let y = f(v.as_tensor()).unwrap();
        let g = Tensor::from_slice(g, y.shape(), &Device::Cpu).unwrap();
        let grads = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
        match grads.get(v.as_tensor()) {
            Some(gx) => (v.as_tensor() * gx)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap(),
            None => vec![0.0; x.len()], // detached
        }
    }

    fn close(a: &[f32], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn layer_norm_rule_detaches_the_scale() {
        // x = (1, 3): mean 2, σ = 1, y = (−1, 1); output relevance
        // y ⊙ (1, 2) = (−1, 2). With σ constant, ∇ₓ = (g − mean g) / σ =
        // (−0.5, 0.5), so R = (−0.5, 1.5): the sum 1 is conserved. (The
        // plain gradient of a 2-wide LayerNorm is 0: its output is ±1.)
        let w = Tensor::new(&[1f32, 1.0], &Device::Cpu).unwrap();
        let r = relevance(
            |x| layer_norm_identity(x, &w, None, 0.0),
            &[1.0, 3.0],
            &[1, 2],
            &[1.0, 2.0],
        );
        close(&r, &[-0.5, 1.5], 1e-6);
        let plain = relevance(
            |x| crate::ops::layer_norm(x, &w, None, 0.0),
            &[1.0, 3.0],
            &[1, 2],
            &[1.0, 2.0],
        );
        close(&plain, &[0.0, 0.0], 1e-6);
    }

    #[test]
    fn softmax_rules_by_hand() {
        // x = (0, ln 3): s = (1/4, 3/4); g = (4, 0): R_out = (1, 0).
        // AttnLRP: R = x ⊙ (R_out − s Σ R_out) = (0, −¾ ln 3); the Taylor
        // bias s ⊙ (1 − x + Σ s x) takes 4 · ¼ (1 + ¾ ln 3) = 1 + ¾ ln 3.
        let ln3 = 3f32.ln();
        let x = [0.0, ln3];
        let run = |rule, track| {
            let mut st = TransformerState {
                track_bias: track,
                ..Default::default()
            };
            let r = relevance(|x| softmax_rule(rule, x, &mut st), &x, &[1, 2], &[4.0, 0.0]);
            (r, st)
        };
        let l3 = 3f64.ln();
        let (r, st) = run(AttentionRule::AttnLrp, false);
        close(&r, &[0.0, -0.75 * l3], 1e-6);
        assert_eq!((st.softmaxes, st.bias_leaves.len()), (1, 0));
        // The absorbed bias, measured by the zero leaf.
        let mut st = TransformerState {
            track_bias: true,
            ..Default::default()
        };
        let v = Var::from_slice(&x, (1, 2), &Device::Cpu).unwrap();
        let y = softmax_rule(AttentionRule::AttnLrp, v.as_tensor(), &mut st).unwrap();
        let g = Tensor::new(&[[4f32, 0.0]], &Device::Cpu).unwrap();
        let grads = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
        let beta = grads.get(st.bias_leaves[0].as_tensor()).unwrap();
        let b: Vec<f32> = beta.flatten_all().unwrap().to_vec1().unwrap();
        close(&b, &[1.0 + 0.75 * l3], 1e-5);
        // CP-LRP: detached, nothing passes.
        let (r, _) = run(AttentionRule::CpLrp, false);
        close(&r, &[0.0, 0.0], 0.0);
    }

    #[test]
    fn matmul_uniform_rule_and_gelu_identity_rule_by_hand() {
        // a = (1, 2), b = (3, 4)ᵀ: a·b = 11, R_out = 11 (g = 1). Uniform:
        // each factor gets 5.5, split as a_k b_k: a → (1.5, 4), b → (1.5, 4).
        let f = |rule| {
            move |t: &Tensor| {
                let a = t.narrow(1, 0, 2)?;
                let b = t.narrow(1, 2, 2)?.t()?;
                matmul_rule(rule, &a, &b)
            }
        };
        let x = [1.0, 2.0, 3.0, 4.0];
        let r = relevance(f(AttentionRule::AttnLrp), &x, &[1, 4], &[1.0]);
        close(&r, &[1.5, 4.0, 1.5, 4.0], 1e-6);
        // CP-LRP keeps the plain gradient (both factors get everything:
        // with A detached only v is a variable).
        let r = relevance(f(AttentionRule::CpLrp), &x, &[1, 4], &[1.0]);
        close(&r, &[3.0, 8.0, 3.0, 8.0], 1e-6);
        // GELU: R_in = R_out = gelu(x) g; 0 at x = 0.
        let r = relevance(
            |x| identity_rule(x, &x.gelu_erf()?),
            &[1.0, -2.0, 0.0],
            &[3],
            &[1.0, 2.0, 3.0],
        );
        close(&r, &[0.841_344_7, -0.091_000_5, 0.0], 1e-6);
    }

    /// One attention block over 2 tokens of width 2 (input `[1, 2, 2]`):
    /// `Y = LN(X)` (scale 1, no bias), `A = softmax(Y Yᵀ)`, `O = A Y`,
    /// `H = X + O`, logit `c · H₀` with `c = (1, 2)`.
    struct Block {
        norm: Tensor,
        head: candle_nn::Linear,
    }

    impl StagedForward for Block {
        fn stage_names(&self) -> Vec<String> {
            vec!["logits".into()]
        }
        fn stage(&self, _: usize, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
            let y = ops.layer_norm("norm", x, &self.norm, None, 0.0)?;
            let a = ops.softmax(&ops.matmul(&y, &y.transpose(1, 2)?)?)?;
            let h = ops.add(x, &ops.matmul(&a, &y)?)?;
            ops.linear("head", &self.head, &h.narrow(1, 0, 1)?.squeeze(1)?)
        }
        fn num_classes(&self) -> usize {
            1
        }
        fn device(&self) -> &Device {
            &Device::Cpu
        }
    }
    crate::staged_model!(Block);

    fn block() -> Block {
        let dev = &Device::Cpu;
        Block {
            norm: Tensor::new(&[1f32, 1.0], dev).unwrap(),
            head: candle_nn::Linear::new(Tensor::new(&[[1f32, 2.0]], dev).unwrap(), None),
        }
    }

    #[test]
    fn one_block_two_tokens_by_hand() {
        // X = [(1, 3), (2, 0)]: Y = [(−1, 1), (1, −1)] (σ = 1 for both),
        // scores Y Yᵀ = [[2, −2], [−2, 2]], A₀ = (p, q) with p = σ(4),
        // q = σ(−4); O₀ = (q − p, p − q); f = c·(X₀ + O₀) = 7 + (p − q).
        let x = ndarray::array![[[1f32, 3.0], [2.0, 0.0]]].into_dyn();
        let (p, q) = (1.0 / (1.0 + (-4f64).exp()), 1.0 / (1.0 + 4f64.exp()));
        let f = 7.0 + (p - q);
        let m = block();
        let cfg = |rule| AttnLrpConfig {
            rule,
            composite: Composite::uniform(LrpRule::Epsilon(0.0)),
            batch_size: BatchSize::fixed(1).unwrap(),
        };
        // CP-LRP (A, σ constant): ∇X₀ = c + p·P c, ∇X₁ = q·P c with the
        // centring P c = (−½, ½); R = X ⊙ ∇X, summing to f.
        let cp = AttnLrp::with_config(&m, cfg(AttentionRule::CpLrp));
        let (r, b) = cp.explain_with_softmax_bias(x.view(), &[0]).unwrap();
        let r: Vec<f32> = r.view().iter().copied().collect();
        close(&r, &[1.0 - p / 2.0, 3.0 * (2.0 + p / 2.0), -q, 0.0], 1e-6);
        assert_eq!(b, vec![0.0]);
        // AttnLRP, rule by rule (token 1's output is not read: only row 0
        // of A and O carry relevance; g = c at O₀).
        // A·v, uniform: V_j gets ½ A₀ⱼ Y_j ⊙ c, A₀ⱼ gets ½ A₀ⱼ (Y_j · c).
        let (y0, y1, c) = ([-1.0, 1.0], [1.0, -1.0], [1.0, 2.0]);
        let dot = |a: [f64; 2], b: [f64; 2]| a[0] * b[0] + a[1] * b[1];
        let (ra0, ra1) = (0.5 * p * dot(y0, c), 0.5 * q * dot(y1, c));
        // softmax at scores s = (2, −2): R_s = s ⊙ (R_A − A₀ Σ R_A).
        let sum_a = ra0 + ra1;
        let (rs0, rs1) = (2.0 * (ra0 - p * sum_a), -2.0 * (ra1 - q * sum_a));
        let absorbed = (ra0 + ra1) - (rs0 + rs1);
        // Y Yᵀ, uniform: half to the query Y₀, half to the key Y_j, each
        // split evenly over the 2 dimensions (|Y₀ₖ Y_jₖ| are equal).
        // Y₀ (value, query, key of score 0) and Y₁ (value, key of score 1):
        let ry0 = [0, 1].map(|k| 0.5 * p * y0[k] * c[k] + 0.25 * (rs0 + rs1) + 0.25 * rs0);
        let ry1 = [0, 1].map(|k| 0.5 * q * y1[k] * c[k] + 0.25 * rs1);
        // LN (σ = 1 constant): ∇X = P (R_Y / Y), R = X ⊙ ∇X; plus the
        // residual X₀ ⊙ c.
        let ln = |xt: [f64; 2], ry: [f64; 2], y: [f64; 2]| {
            let g = [ry[0] / y[0], ry[1] / y[1]];
            let m = (g[0] + g[1]) / 2.0;
            [xt[0] * (g[0] - m), xt[1] * (g[1] - m)]
        };
        let r0 = ln([1.0, 3.0], ry0, y0);
        let r1 = ln([2.0, 0.0], ry1, y1);
        let want = [r0[0] + 1.0, r0[1] + 6.0, r1[0], r1[1]];
        let attn = AttnLrp::with_config(&m, cfg(AttentionRule::AttnLrp));
        let (r, b) = attn.explain_with_softmax_bias(x.view(), &[0]).unwrap();
        let r: Vec<f32> = r.view().iter().copied().collect();
        close(&r, &want, 1e-5);
        close(&b, &[absorbed], 1e-5);
        let total: f64 = r.iter().map(|&v| v as f64).sum::<f64>() + b[0] as f64;
        assert!((total - f).abs() < 1e-5, "{total} vs {f}");
    }
}
