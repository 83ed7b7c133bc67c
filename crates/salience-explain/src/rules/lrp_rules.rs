//! LRP rules ([`LrpRule`]) and the [`Composite`] that assigns them to
//! layers, with Zennit's named composites as presets.
//!
//! Notation (Montavon et al. 2019, "Layer-wise relevance propagation: an
//! overview"): a dense or convolutional layer computes
//! `z_k = Σ_j a_j w_jk + b_k`; relevance `R_k` of its outputs is
//! redistributed to its inputs `a_j`. `x⁺ = max(x, 0)`, `x⁻ = min(x, 0)`,
//! and `stab(d) = d + 1e-6 · sign(d)` (with sign 0 = 1) is Zennit's
//! stabiliser.

use salience_core::{Result, SalienceError};

/// A rule for dense and convolutional layers. The formulas are Zennit's
/// (the behavioural reference), including how biases enter denominators.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LrpRule {
    /// LRP-ε: `R_j = a_j Σ_k w_jk R_k / (z_k + ε sign z_k)` (bias in z;
    /// sign 0 = 1). `ε = 0` is LRP-0 (outputs with `z = 0` then pass no
    /// relevance). Zennit's `Epsilon`, default ε = 1e-6.
    Epsilon(f32),
    /// Generalized LRP-γ (Zennit's `Gamma`): for outputs with `z_k > 0`,
    /// `R_j = (a_j⁺ (w_jk + γ w_jk⁺) + a_j⁻ (w_jk + γ w_jk⁻)) R_k / stab(Σ_j … + b_k + γ b_k⁺)`;
    /// for `z_k < 0` the roles of `w⁺` and `w⁻` swap (bias `b + γ b⁻`);
    /// `z_k = 0` passes nothing. With non-negative inputs and `z > 0` this
    /// is Montavon et al.'s γ-rule. Zennit's default γ = 0.25.
    Gamma(f32),
    /// LRP-αβ with `α − β = 1`: `R_j = α (a_j⁺ w_jk⁺ + a_j⁻ w_jk⁻) R_k / stab(Σ_j … + b_k⁺)
    /// − β (a_j⁺ w_jk⁻ + a_j⁻ w_jk⁺) R_k / stab(Σ_j … + b_k⁻)` (Zennit's `AlphaBeta`).
    AlphaBeta {
        /// Weight of the positive part (≥ 1).
        alpha: f32,
        /// Weight of the negative part (≥ 0, `alpha − beta = 1`).
        beta: f32,
    },
    /// LRP-z⁺ (= α1β0): `R_j = (a_j⁺ w_jk⁺ + a_j⁻ w_jk⁻) R_k / stab(Σ_j … + b_k⁺)`
    /// (Zennit's `ZPlus`).
    ZPlus,
    /// The zᴮ (box) rule for a first layer whose inputs lie in
    /// `[low, high]`: `R_j = (x_j w_jk − l w_jk⁺ − h w_jk⁻) R_k /
    /// stab(Σ_j x_j w_jk − l w_jk⁺ − h w_jk⁻)` (Zennit's `ZBox`; the
    /// bias cancels), with scalar bounds.
    ZBox {
        /// Lowest possible input value.
        low: f32,
        /// Highest possible input value (≥ `low`).
        high: f32,
    },
    /// zᴮ with one `[low, high]` pair per channel (axis 1 of the layer
    /// input, e.g. the bounds of normalised image channels,
    /// `(0 − mean_c) / std_c` and `(1 − mean_c) / std_c`); Zennit's `ZBox`
    /// with `(1, C, 1, 1)` tensors.
    ZBoxChannels {
        /// Lowest possible value of each channel.
        low: Vec<f32>,
        /// Highest possible value of each channel.
        high: Vec<f32>,
    },
    /// The flat rule (Lapuschkin et al. 2019): relevance is spread
    /// uniformly over each output's receptive field, `R_j = Σ_k R_k / |RF_k|`,
    /// ignoring inputs and weights (Zennit's `Flat`). First layer only.
    Flat,
    /// The w² rule (Montavon et al. 2017): `R_j = Σ_k w_jk² R_k / stab(Σ_j w_jk²)`
    /// (Zennit's `WSquare`). First layer only.
    WSquare,
    /// The plain gradient (no rule): the layer contributes to
    /// Gradient × Input. Useful to switch a layer off.
    Gradient,
}

impl LrpRule {
    /// Checks the rule's parameters: ε, γ ≥ 0 and finite; α, β ≥ 0 with
    /// α − β = 1; finite box bounds with `low ≤ high`.
    ///
    /// ```
    /// use salience_explain::LrpRule;
    /// assert!(LrpRule::Gamma(0.25).check().is_ok());
    /// assert!(LrpRule::Epsilon(-1.0).check().is_err());
    /// assert!(LrpRule::AlphaBeta { alpha: 2.0, beta: 0.5 }.check().is_err());
    /// assert!(LrpRule::ZBox { low: 1.0, high: 0.0 }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        let nonneg = |name: &str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(SalienceError::invalid(name, v, "must be finite and ≥ 0"))
            }
        };
        match *self {
            LrpRule::Epsilon(e) => nonneg("epsilon", e),
            LrpRule::Gamma(g) => nonneg("gamma", g),
            LrpRule::AlphaBeta { alpha, beta } => {
                nonneg("alpha", alpha)?;
                nonneg("beta", beta)?;
                if (alpha - beta - 1.0).abs() > 1e-6 {
                    return Err(SalienceError::invalid(
                        "alpha - beta",
                        alpha - beta,
                        "must equal 1",
                    ));
                }
                Ok(())
            }
            LrpRule::ZBox { low, high } => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    return Err(SalienceError::invalid(
                        "zbox bounds",
                        format!("[{low}, {high}]"),
                        "must be finite with low ≤ high",
                    ));
                }
                Ok(())
            }
            LrpRule::ZBoxChannels { ref low, ref high } => {
                if low.is_empty() || low.len() != high.len() {
                    return Err(SalienceError::invalid(
                        "zbox channel bounds",
                        format!("{} lows, {} highs", low.len(), high.len()),
                        "need one (low, high) pair per channel, at least one",
                    ));
                }
                for (l, h) in low.iter().zip(high) {
                    LrpRule::ZBox { low: *l, high: *h }.check()?;
                }
                Ok(())
            }
            LrpRule::ZPlus | LrpRule::Flat | LrpRule::WSquare | LrpRule::Gradient => Ok(()),
        }
    }

    /// Whether the rule replaces the inputs (zᴮ, flat, w²) and so must be
    /// applied to the model input itself.
    pub(crate) fn needs_input(&self) -> bool {
        matches!(
            self,
            LrpRule::ZBox { .. } | LrpRule::ZBoxChannels { .. } | LrpRule::Flat | LrpRule::WSquare
        )
    }
}

/// The kind of a layer a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// A dense layer (`LayerOps::linear`).
    Dense,
    /// A convolution (`LayerOps::conv2d`).
    Conv,
}

/// Which [`LrpRule`] each dense / convolutional layer uses. The rule of a
/// layer is, in order of precedence: a per-name override
/// ([`Composite::with_layer`]); the `first` rule for the first dense or
/// convolutional layer of the forward pass; `conv` or `dense` by kind.
///
/// ReLUs pass relevance unchanged (Zennit's `Pass`), sums and average
/// pools split it in proportion to their inputs (Zennit's `Norm`, here
/// exact, without the 1e-6 stabiliser), max pools give it to the winner
/// (the gradient, as Zennit does: it has no max-pool rule), batch norm is
/// differentiated as an affine map (Zennit instead merges it into the
/// preceding layer with a canonizer: fold it with
/// [`fuse_conv_batch_norm`](crate::fuse_conv_batch_norm), as the shipped
/// `ResNet` does, for the same result).
///
/// ```
/// use salience_explain::{Composite, LayerKind, LrpRule};
/// let c = Composite::epsilon_gamma_box(0.0, 1.0);
/// assert_eq!(c.rule_for("conv1", LayerKind::Conv, 0), &LrpRule::ZBox { low: 0.0, high: 1.0 });
/// assert_eq!(c.rule_for("conv2", LayerKind::Conv, 1), &LrpRule::Gamma(0.25));
/// assert_eq!(c.rule_for("fc", LayerKind::Dense, 2), &LrpRule::Epsilon(1e-6));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Composite {
    /// The rule of the first dense or convolutional layer (None: by kind).
    pub first: Option<LrpRule>,
    /// The rule of convolutional layers.
    pub conv: LrpRule,
    /// The rule of dense layers.
    pub dense: LrpRule,
    /// Per-layer overrides by name (the `name` given to `LayerOps`).
    pub layers: Vec<(String, LrpRule)>,
}

impl Default for Composite {
    /// Zennit's `EpsilonPlus` ([`Composite::epsilon_plus`]).
    fn default() -> Self {
        Self::epsilon_plus()
    }
}

impl Composite {
    /// One rule for every dense and convolutional layer.
    ///
    /// ```
    /// use salience_explain::{Composite, LayerKind, LrpRule};
    /// let c = Composite::uniform(LrpRule::Epsilon(0.0));
    /// assert_eq!(c.rule_for("any", LayerKind::Conv, 0), &LrpRule::Epsilon(0.0));
    /// ```
    pub fn uniform(rule: LrpRule) -> Self {
        Composite {
            first: None,
            conv: rule.clone(),
            dense: rule,
            layers: Vec::new(),
        }
    }

    /// Zennit's `EpsilonPlus`: z⁺ for convolutions, ε = 1e-6 for dense
    /// layers. The default composite.
    ///
    /// ```
    /// use salience_explain::{Composite, LayerKind, LrpRule};
    /// assert_eq!(Composite::epsilon_plus().rule_for("c", LayerKind::Conv, 0), &LrpRule::ZPlus);
    /// ```
    pub fn epsilon_plus() -> Self {
        Composite {
            first: None,
            conv: LrpRule::ZPlus,
            dense: LrpRule::Epsilon(1e-6),
            layers: Vec::new(),
        }
    }

    /// Zennit's `EpsilonGammaBox(low, high)`: zᴮ for the first layer, γ =
    /// 0.25 for the other convolutions, ε = 1e-6 for dense layers. (Zennit
    /// applies zᴮ only when the first layer is a convolution; here it
    /// applies to a dense first layer too.)
    ///
    /// ```
    /// use salience_explain::{Composite, LrpRule};
    /// assert_eq!(Composite::epsilon_gamma_box(-1.0, 1.0).conv, LrpRule::Gamma(0.25));
    /// ```
    pub fn epsilon_gamma_box(low: f32, high: f32) -> Self {
        Composite {
            first: Some(LrpRule::ZBox { low, high }),
            conv: LrpRule::Gamma(0.25),
            dense: LrpRule::Epsilon(1e-6),
            layers: Vec::new(),
        }
    }

    /// `EpsilonGammaBox` with per-channel bounds
    /// ([`LrpRule::ZBoxChannels`]), e.g. for normalised images.
    ///
    /// ```
    /// use salience_explain::{Composite, LrpRule};
    /// let c = Composite::epsilon_gamma_box_channels(vec![-2.0, -1.0], vec![2.0, 1.0]);
    /// assert!(matches!(c.first, Some(LrpRule::ZBoxChannels { .. })));
    /// ```
    pub fn epsilon_gamma_box_channels(low: Vec<f32>, high: Vec<f32>) -> Self {
        Composite {
            first: Some(LrpRule::ZBoxChannels { low, high }),
            ..Self::epsilon_gamma_box(0.0, 1.0)
        }
    }

    /// Zennit's `EpsilonPlusFlat`: flat for the first layer, z⁺ for the
    /// other convolutions, ε = 1e-6 for dense layers.
    ///
    /// ```
    /// use salience_explain::{Composite, LrpRule};
    /// assert_eq!(Composite::epsilon_plus_flat().first, Some(LrpRule::Flat));
    /// ```
    pub fn epsilon_plus_flat() -> Self {
        Composite {
            first: Some(LrpRule::Flat),
            ..Self::epsilon_plus()
        }
    }

    /// Zennit's `EpsilonAlpha2Beta1`: α2β1 for convolutions, ε = 1e-6 for
    /// dense layers.
    ///
    /// ```
    /// use salience_explain::{Composite, LrpRule};
    /// assert_eq!(Composite::epsilon_alpha2_beta1().conv, LrpRule::AlphaBeta { alpha: 2.0, beta: 1.0 });
    /// ```
    pub fn epsilon_alpha2_beta1() -> Self {
        Composite {
            conv: LrpRule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            },
            ..Self::epsilon_plus()
        }
    }

    /// Overrides the rule of the layer called `name`.
    ///
    /// ```
    /// use salience_explain::{Composite, LayerKind, LrpRule};
    /// let c = Composite::epsilon_plus().with_layer("fc2", LrpRule::Epsilon(0.0));
    /// assert_eq!(c.rule_for("fc2", LayerKind::Dense, 3), &LrpRule::Epsilon(0.0));
    /// ```
    pub fn with_layer(mut self, name: &str, rule: LrpRule) -> Self {
        self.layers.push((name.to_string(), rule));
        self
    }

    /// The rule of layer `name` of kind `kind`, the `index`-th dense or
    /// convolutional layer of the forward pass (from 0).
    pub fn rule_for(&self, name: &str, kind: LayerKind, index: usize) -> &LrpRule {
        if let Some((_, r)) = self.layers.iter().rev().find(|(n, _)| n == name) {
            return r;
        }
        if index == 0 {
            if let Some(r) = &self.first {
                return r;
            }
        }
        match kind {
            LayerKind::Conv => &self.conv,
            LayerKind::Dense => &self.dense,
        }
    }

    /// Checks every rule's parameters ([`LrpRule::check`]).
    ///
    /// ```
    /// use salience_explain::{Composite, LrpRule};
    /// assert!(Composite::uniform(LrpRule::Gamma(-0.1)).check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        self.first.iter().try_for_each(LrpRule::check)?;
        self.conv.check()?;
        self.dense.check()?;
        self.layers.iter().try_for_each(|(_, r)| r.check())
    }
}
