//! MLP-Mixer (Tolstikhin et al. 2021) with timm's `MlpMixer` layout and
//! tensor names (`mixer_b16_224`: `stem.proj`, `blocks.N.norm1`,
//! `blocks.N.mlp_tokens.fc1/fc2`, `blocks.N.norm2`,
//! `blocks.N.mlp_channels.fc1/fc2`, `norm`, `head`), so a timm
//! `state_dict` saved as safetensors loads as it is.
//!
//! The forward pass is timm's with its default options: a stride-`patch`
//! convolution to row-major patch tokens `[N, T, D]` (no stem norm, no
//! class token, no position embedding), pre-norm blocks
//! `x + mlp_tokens(norm1(x)ᵀ)ᵀ` (the token-mixing MLP, across tokens) and
//! `x + mlp_channels(norm2(x))` with exact GELU and LayerNorm ε = 1e-6,
//! the final `norm`, the mean of the tokens and the linear `head`. The
//! LayerNorm, MLP and patch embedding are the ViT's
//! ([`super::vit`]).
//!
//! The forward pass is written once over [`LayerOps`] (patch embedding,
//! every LayerNorm, dense layer, GELU and residual sum), so
//! [`RuleForward`] is derived and the LRP rules apply: [`salience_explain::Lrp`]
//! with the transformer rules for LayerNorm (standard deviation detached)
//! and GELU (identity rule) of AttnLRP (Achtibat et al. 2024). With zero
//! biases and ε → 0 the input relevance sums to the target logit (tested).
//! [`salience_explain::AttnLrp`] itself is a typed error here: its rules
//! are for attention, and a Mixer computes no softmax.
//!
//! MLP-Mixer has no attention, so it is not an
//! [`salience_explain::AttentionModel`]: attention rollout and Chefer et
//! al.'s gradient rollout do not apply ([`MlpMixer::registry`] names them
//! and says so). CAMs take the token layers (`stem`, `blocks.*`, `norm`) on
//! the patch grid; use the last block's output (or `norm`).

use super::vit::{
    check_image, check_sizes, count_parameters, patch_conv, patch_tokens, timm_constructors,
    token_layer, Mlp, Norm,
};
use candle_core::{bail, Device, Tensor};
use candle_nn::{Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::registry::Registry;
use salience_explain::rules::LayerOps;
use salience_explain::LayerSplit;
#[cfg(doc)]
use salience_explain::{Classifier, RuleForward};
use std::sync::Arc;

/// The shape of an [`MlpMixer`].
#[derive(Debug, Clone, PartialEq)]
pub struct MixerConfig {
    /// Input height and width (square inputs).
    pub image_size: usize,
    /// Patch height and width; divides `image_size`.
    pub patch_size: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Token width (timm: `embed_dim`).
    pub embed_dim: usize,
    /// Number of mixer blocks (timm: `num_blocks`).
    pub depth: usize,
    /// Hidden width of the token-mixing MLP (timm: `0.5 · embed_dim`).
    pub tokens_mlp_dim: usize,
    /// Hidden width of the channel MLP (timm: `4 · embed_dim`).
    pub channels_mlp_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// LayerNorm ε (timm: 1e-6).
    pub layer_norm_eps: f64,
}

impl MixerConfig {
    /// timm's `mixer_b16_224`: 224² RGB, 16² patches (196 tokens), width
    /// 768, 12 blocks, token MLP 384, channel MLP 3072; 59 880 472
    /// parameters with 1000 classes.
    ///
    /// ```
    /// let c = salience_models::MixerConfig::timm_mixer_b16_224(1000);
    /// assert_eq!(c.num_parameters(), 59_880_472);
    /// ```
    pub fn timm_mixer_b16_224(num_classes: usize) -> Self {
        MixerConfig {
            image_size: 224,
            patch_size: 16,
            in_channels: 3,
            embed_dim: 768,
            depth: 12,
            tokens_mlp_dim: 384,
            channels_mlp_dim: 3072,
            num_classes,
            layer_norm_eps: 1e-6,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    /// Tokens per input (the patches).
    pub fn num_tokens(&self) -> usize {
        self.grid() * self.grid()
    }

    /// The number of parameters (every tensor of
    /// [`MixerConfig::tensor_shapes`]).
    pub fn num_parameters(&self) -> usize {
        count_parameters(&self.tensor_shapes())
    }

    /// Checks the sizes: all positive and at most
    /// [`super::MAX_VIT_DIM`], the patch dividing the image, ε in (0, 1).
    pub fn validate(&self) -> candle_core::Result<()> {
        let (i, p, c, d, k) = (
            self.image_size,
            self.patch_size,
            self.in_channels,
            self.embed_dim,
            self.num_classes,
        );
        let more = [
            ("depth", self.depth),
            ("tokens_mlp_dim", self.tokens_mlp_dim),
            ("channels_mlp_dim", self.channels_mlp_dim),
        ];
        check_sizes("MLP-Mixer", [i, p, c, d, k], &more, self.layer_norm_eps)
    }

    /// The names (timm's) and shapes of all tensors.
    ///
    /// ```
    /// let s = salience_models::MixerConfig::timm_mixer_b16_224(1000).tensor_shapes();
    /// assert!(s.iter().any(|(n, d)| n == "blocks.11.mlp_tokens.fc1.weight" && d == &vec![384, 196]));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, p, c, t) = (
            self.embed_dim,
            self.patch_size,
            self.in_channels,
            self.num_tokens(),
        );
        let mut s = vec![
            ("stem.proj.weight".to_string(), vec![d, c, p, p]),
            ("stem.proj.bias".to_string(), vec![d]),
        ];
        let mut linear = |name: String, i: usize, o: usize| {
            s.push((format!("{name}.weight"), vec![o, i]));
            s.push((format!("{name}.bias"), vec![o]));
        };
        for b in 0..self.depth {
            let n = |x: &str| format!("blocks.{b}.{x}");
            let (tm, cm) = (self.tokens_mlp_dim, self.channels_mlp_dim);
            for (name, i, o) in [
                ("mlp_tokens.fc1", t, tm),
                ("mlp_tokens.fc2", tm, t),
                ("mlp_channels.fc1", d, cm),
                ("mlp_channels.fc2", cm, d),
            ] {
                linear(n(name), i, o);
            }
        }
        linear("head".to_string(), d, self.num_classes);
        for b in 0..self.depth {
            for norm in ["norm1", "norm2"] {
                for leaf in ["weight", "bias"] {
                    s.push((format!("blocks.{b}.{norm}.{leaf}"), vec![d]));
                }
            }
        }
        s.push(("norm.weight".to_string(), vec![d]));
        s.push(("norm.bias".to_string(), vec![d]));
        s
    }

    /// The layers an [`MlpMixer`] can be split at, in forward order:
    /// `stem` (patch tokens `[N, T, D]`), `blocks.0` … `blocks.{depth-1}`
    /// and `norm` (`[N, T, D]`), `pre_logits` (the mean token, `[N, D]`)
    /// and `head` (the logits).
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["stem".to_string()];
        v.extend((0..self.depth).map(|b| format!("blocks.{b}")));
        v.extend(["norm", "pre_logits", "head"].map(String::from));
        v
    }
}

#[derive(Debug, Clone)]
struct MixerBlock {
    norm1: Norm,
    mlp_tokens: Mlp,
    norm2: Norm,
    mlp_channels: Mlp,
}

impl MixerBlock {
    fn new(c: &MixerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (d, eps) = (c.embed_dim, c.layer_norm_eps);
        Ok(MixerBlock {
            norm1: Norm::new(d, eps, vb.pp("norm1"))?,
            mlp_tokens: Mlp::new(c.num_tokens(), c.tokens_mlp_dim, vb.pp("mlp_tokens"))?,
            norm2: Norm::new(d, eps, vb.pp("norm2"))?,
            mlp_channels: Mlp::new(d, c.channels_mlp_dim, vb.pp("mlp_channels"))?,
        })
    }

    /// `x + mlp_tokens(norm1(x)ᵀ)ᵀ`, then `x + mlp_channels(norm2(x))`,
    /// through `ops`.
    fn forward(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let mixed = self
            .mlp_tokens
            .forward_with(&self.norm1.forward_with(x, ops)?.transpose(1, 2)?, ops)?
            .transpose(1, 2)?;
        let x = ops.add(x, &mixed)?;
        let m = self
            .mlp_channels
            .forward_with(&self.norm2.forward_with(&x, ops)?, ops)?;
        ops.add(&x, &m)
    }
}

/// An MLP-Mixer (see the module docs), implementing [`Classifier`],
/// [`LayerSplit`] (layers of [`MixerConfig::layer_names`]) and
/// [`RuleForward`], so every gradient, perturbation and representation
/// method, the CAMs on its token grid and LRP accept it.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{MixerConfig, MlpMixer};
/// use salience_explain::{Classifier, LayerSplit};
/// let c = MixerConfig { image_size: 32, patch_size: 8, embed_dim: 16, depth: 2,
///     tokens_mlp_dim: 8, channels_mlp_dim: 32, num_classes: 5,
///     ..MixerConfig::timm_mixer_b16_224(5) };
/// let m = MlpMixer::seeded(&c, 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 5]);
/// assert_eq!(m.activations(&x, "blocks.1").unwrap().dims(), &[2, 16, 16]);
/// assert_eq!(m.token_grid("blocks.1").map(|g| (g.prefix, g.rows)), Some((0, 4)));
/// ```
#[derive(Debug, Clone)]
pub struct MlpMixer {
    config: MixerConfig,
    stem: candle_nn::Conv2d,
    blocks: Vec<MixerBlock>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl MlpMixer {
    /// Builds the network of `config` from `vb` (timm's names).
    pub fn new(vb: VarBuilder, config: &MixerConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let d = config.embed_dim;
        let stem = patch_conv(
            config.in_channels,
            d,
            config.patch_size,
            vb.pp("stem").pp("proj"),
        )?;
        let blocks = (0..config.depth)
            .map(|b| MixerBlock::new(config, vb.pp("blocks").pp(b.to_string())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(MlpMixer {
            config: config.clone(),
            stem,
            blocks,
            norm: Norm::new(d, config.layer_norm_eps, vb.pp("norm"))?,
            head: candle_nn::linear(d, config.num_classes, vb.pp("head"))?,
            device: vb.device().clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MixerConfig {
        &self.config
    }

    /// The built-in explainer registry for this model
    /// ([`Registry::with_builtins`]) in which `attention_rollout`,
    /// `gradient_rollout`, `attnlrp` and `cp_lrp` (and their aliases) are
    /// typed errors saying why they do not apply: MLP-Mixer mixes tokens
    /// with an MLP, not with attention. LRP (`lrp`, with the transformer
    /// rules for LayerNorm and GELU) is added by
    /// [`Registry::with_rules`] with the input range.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_models::{MixerConfig, MlpMixer};
    /// let c = MixerConfig { image_size: 16, patch_size: 8, embed_dim: 4, depth: 1,
    ///     tokens_mlp_dim: 2, channels_mlp_dim: 8, ..MixerConfig::timm_mixer_b16_224(3) };
    /// let m = Arc::new(MlpMixer::seeded(&c, 0, &candle_core::Device::Cpu).unwrap());
    /// let e = MlpMixer::registry().build(&"rollout".parse().unwrap(), &m).err().unwrap();
    /// assert!(e.to_string().contains("no attention"), "{e}");
    /// assert!(MlpMixer::registry().build(&"saliency".parse().unwrap(), &m).is_ok());
    /// let e = MlpMixer::registry().build(&"cp-lrp".parse().unwrap(), &m).err().unwrap();
    /// assert!(e.to_string().contains("use `lrp`"), "{e}");
    /// let r = MlpMixer::registry().with_rules(-1.0, 1.0);
    /// assert!(r.build(&"lrp:composite=epsilon_plus".parse().unwrap(), &m).is_ok());
    /// ```
    pub fn registry() -> Registry<Self> {
        let mut r = without_attention(
            "MLP-Mixer has no attention (its tokens are mixed by an MLP), so there are no \
             attention maps to roll out; use a gradient method or a CAM on a `blocks.*` layer",
        );
        refuse(
            &mut r,
            &["attnlrp", "cp_lrp"],
            "MLP-Mixer has no attention (no softmax) for AttnLRP / CP-LRP's rules; use `lrp` \
             (Registry::with_rules), which applies their LayerNorm and GELU rules",
        );
        r
    }

    /// Stage `k` of [`MixerConfig::layer_names`] applied to `h` with `ops`.
    fn stage_with(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let depth = self.blocks.len();
        match k {
            0 => patch_tokens(ops, "stem.proj", &self.stem, h),
            k if k <= depth => self.blocks[k - 1].forward(h, ops),
            k if k == depth + 1 => self.norm.forward_with(h, ops),
            k if k == depth + 2 => h.mean(1),
            k if k == depth + 3 => ops.linear("head", &self.head, h),
            _ => bail!("MLP-Mixer stage {k} out of range"),
        }
    }
}

/// The built-in registry of a model without global token-to-token
/// attention, with `attention_rollout` and `gradient_rollout` (aliases
/// `rollout`, `chefer2021`) registered as typed errors
/// ([`salience_core::SalienceError::InvalidParameter`] on `method`)
/// carrying `why`.
pub(crate) fn without_attention<M: LayerSplit + 'static>(why: &'static str) -> Registry<M> {
    let mut r = Registry::with_builtins();
    refuse(&mut r, &["attention_rollout", "gradient_rollout"], why);
    r.alias("rollout", "attention_rollout");
    r.alias("chefer2021", "gradient_rollout");
    r
}

/// Registers each of `names` in `r` as a typed error
/// ([`salience_core::SalienceError::InvalidParameter`] on `method`)
/// carrying `why`.
fn refuse<M: LayerSplit + 'static>(r: &mut Registry<M>, names: &[&'static str], why: &'static str) {
    for &name in names {
        r.register(
            name,
            Arc::new(move |_, _, _| {
                Err(salience_core::SalienceError::invalid("method", name, why))
            }),
        );
    }
}

/// The forward pass, written once over [`LayerOps`] (patch embedding,
/// every LayerNorm, dense layer, GELU and residual sum; the token mean is
/// linear and keeps its gradient): [`Classifier`], [`LayerSplit`] and
/// [`RuleForward`] are derived from it. Layer names are timm's
/// (`stem.proj`, `blocks.{b}.norm1`, `blocks.{b}.mlp_tokens.fc1`, …,
/// `head`).
impl StagedForward for MlpMixer {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        self.stage_with(k, h, ops)
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        check_image(
            "MLP-Mixer",
            x,
            self.config.in_channels,
            self.config.image_size,
        )
    }

    /// `stem`, `blocks.*` and `norm` output tokens on the patch grid (no
    /// prefix tokens), so the CAMs take them.
    fn token_grid(&self, layer: &str) -> Option<salience_explain::TokenGrid> {
        token_layer(
            layer,
            &self.config.layer_names(),
            "stem",
            0,
            self.config.grid(),
        )
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(MlpMixer);
timm_constructors!(MlpMixer, MixerConfig);
