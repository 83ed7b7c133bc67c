//! A Vision Transformer with timm's `VisionTransformer` layout and tensor
//! names (Dosovitskiy et al. 2021; DeiT, Touvron et al. 2021, is the same
//! network), so a timm `state_dict` saved as safetensors loads as it is.
//!
//! The forward pass is timm's with its default options: patch embedding by
//! a stride-`patch` convolution, a class token, learned position embeddings
//! added to every token (class token included), pre-norm blocks
//! `x + attn(norm1(x))`, `x + mlp(norm2(x))` with exact (erf) GELU,
//! LayerNorm ε = 1e-6, a final norm and the class token's features
//! ([`VitPool::Token`]), or the mean of the patch tokens followed by
//! `fc_norm` ([`VitPool::Avg`]), then the linear head. DeiT's distilled
//! models ([`VitPool::Distilled`], timm's `VisionTransformerDistilled`)
//! add a distillation token after the class token and a second head,
//! `head_dist`, reading it; their output is the mean of the two heads
//! (timm's inference output). Every op has a
//! backward pass (LayerNorm and softmax through
//! [`salience_explain::ops`], since candle-nn's fused ones are detached).
//! The forward pass is written once over [`LayerOps`], so the transformer
//! LRP rules (AttnLRP, CP-LRP: [`salience_explain::AttnLrp`]) apply.
//!
//! Not covered: LayerScale, relative position
//! biases, resizing position embeddings for another image size.

use candle_core::{bail, Device, Tensor};
use candle_nn::{Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::rules::{LayerOps, PlainOps};
use salience_explain::AttentionModel;
#[cfg(doc)]
use salience_explain::{Classifier, LayerSplit, RuleForward};

/// How the token features become the head's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VitPool {
    /// The class token after the final `norm` (timm's `global_pool='token'`).
    Token,
    /// The mean of the patch tokens, then `fc_norm` (timm's
    /// `global_pool='avg'`); no class token.
    Avg,
    /// DeiT's distilled models (timm's `VisionTransformerDistilled`): a
    /// class token and a distillation token (`dist_token`) lead the patch
    /// tokens; after the final `norm`, `head` reads the class token and
    /// `head_dist` the distillation token, and the logits are the mean of
    /// the two (timm's output in eval mode).
    Distilled,
}

impl VitPool {
    /// The tokens before the patches: 1 (class token), 0 (average
    /// pooling) or 2 (class and distillation tokens).
    pub fn prefix_tokens(self) -> usize {
        match self {
            VitPool::Token => 1,
            VitPool::Avg => 0,
            VitPool::Distilled => 2,
        }
    }
}

/// The shape of a [`VisionTransformer`].
#[derive(Debug, Clone, PartialEq)]
pub struct VitConfig {
    /// Input height and width (square inputs).
    pub image_size: usize,
    /// Patch height and width; divides `image_size`.
    pub patch_size: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Token width; divisible by `num_heads`.
    pub embed_dim: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Hidden width of each block's MLP (timm: `embed_dim · mlp_ratio`).
    pub mlp_dim: usize,
    /// Whether the query/key/value projection has a bias (timm: yes).
    pub qkv_bias: bool,
    /// Pooling before the head.
    pub pool: VitPool,
    /// Number of classes.
    pub num_classes: usize,
    /// LayerNorm ε (timm: 1e-6; Hugging Face `transformers`: 1e-12).
    pub layer_norm_eps: f64,
}

/// The largest token width, depth, head count, MLP width or image side a
/// [`VitConfig`] accepts (far above ViT-Huge), so a hostile config cannot
/// request an absurd allocation.
pub const MAX_VIT_DIM: usize = 1 << 14;

impl VitConfig {
    /// timm's `vit_tiny_patch16_224` (also `deit_tiny_patch16_224`):
    /// 224² RGB, 16² patches, width 192, 12 blocks of 3 heads, MLP 768,
    /// class-token pooling; 5 717 416 parameters with 1000 classes.
    ///
    /// ```
    /// let c = salience_models::VitConfig::timm_vit_tiny_patch16_224(1000);
    /// assert_eq!(c.num_parameters(), 5_717_416);
    /// ```
    pub fn timm_vit_tiny_patch16_224(num_classes: usize) -> Self {
        VitConfig {
            image_size: 224,
            patch_size: 16,
            in_channels: 3,
            embed_dim: 192,
            depth: 12,
            num_heads: 3,
            mlp_dim: 768,
            qkv_bias: true,
            pool: VitPool::Token,
            num_classes,
            layer_norm_eps: 1e-6,
        }
    }

    /// Hugging Face's `google/vit-base-patch16-224` (`ViTForImageClassification`,
    /// the model candle-transformers' `vit` runs): width 768, 12 blocks of
    /// 12 heads, MLP 3072, LayerNorm ε = 1e-12; 86 567 656 parameters with
    /// 1000 classes. Load its weights with
    /// [`VisionTransformer::from_hf_safetensors_bytes`].
    ///
    /// ```
    /// let c = salience_models::VitConfig::hf_vit_base_patch16_224(1000);
    /// assert_eq!(c.num_parameters(), 86_567_656);
    /// ```
    pub fn hf_vit_base_patch16_224(num_classes: usize) -> Self {
        VitConfig {
            embed_dim: 768,
            num_heads: 12,
            mlp_dim: 3072,
            layer_norm_eps: 1e-12,
            ..Self::timm_vit_tiny_patch16_224(num_classes)
        }
    }

    /// timm's `vit_small_patch16_224` (also `deit_small_patch16_224`):
    /// width 384, 12 blocks of 6 heads, MLP 1536; 22 050 664 parameters
    /// with 1000 classes.
    ///
    /// ```
    /// let c = salience_models::VitConfig::timm_vit_small_patch16_224(1000);
    /// assert_eq!(c.num_parameters(), 22_050_664);
    /// ```
    pub fn timm_vit_small_patch16_224(num_classes: usize) -> Self {
        VitConfig {
            embed_dim: 384,
            num_heads: 6,
            mlp_dim: 1536,
            ..Self::timm_vit_tiny_patch16_224(num_classes)
        }
    }

    /// The shipped Fashion-MNIST ViT's shape: 1×28×28 inputs, 4×4 patches
    /// (49 tokens and a class token), width 64, 4 blocks of 4 heads,
    /// MLP 128, 10 classes; 139 018 parameters (as timm counts it).
    ///
    /// ```
    /// let c = salience_models::VitConfig::fashion_mnist();
    /// assert_eq!(c.num_parameters(), 139_018);
    /// ```
    pub fn fashion_mnist() -> Self {
        VitConfig {
            image_size: 28,
            patch_size: 4,
            in_channels: 1,
            embed_dim: 64,
            depth: 4,
            num_heads: 4,
            mlp_dim: 128,
            qkv_bias: true,
            pool: VitPool::Token,
            num_classes: 10,
            layer_norm_eps: 1e-6,
        }
    }

    /// timm's `deit_tiny_patch16_224` (the layout of
    /// [`VitConfig::timm_vit_tiny_patch16_224`]).
    pub fn timm_deit_tiny_patch16_224(num_classes: usize) -> Self {
        Self::timm_vit_tiny_patch16_224(num_classes)
    }

    /// timm's `deit_small_patch16_224` (the layout of
    /// [`VitConfig::timm_vit_small_patch16_224`]).
    pub fn timm_deit_small_patch16_224(num_classes: usize) -> Self {
        Self::timm_vit_small_patch16_224(num_classes)
    }

    /// timm's `deit_tiny_distilled_patch16_224`: DeiT-tiny with the
    /// distillation token and head ([`VitPool::Distilled`]); 5 910 800
    /// parameters with 1000 classes.
    ///
    /// ```
    /// let c = salience_models::VitConfig::timm_deit_tiny_distilled_patch16_224(1000);
    /// assert_eq!(c.num_parameters(), 5_910_800);
    /// assert_eq!(c.num_tokens(), 198);
    /// ```
    pub fn timm_deit_tiny_distilled_patch16_224(num_classes: usize) -> Self {
        VitConfig {
            pool: VitPool::Distilled,
            ..Self::timm_vit_tiny_patch16_224(num_classes)
        }
    }

    /// timm's `deit_small_distilled_patch16_224`; 22 436 432 parameters
    /// with 1000 classes.
    ///
    /// ```
    /// let c = salience_models::VitConfig::timm_deit_small_distilled_patch16_224(1000);
    /// assert_eq!(c.num_parameters(), 22_436_432);
    /// ```
    pub fn timm_deit_small_distilled_patch16_224(num_classes: usize) -> Self {
        VitConfig {
            pool: VitPool::Distilled,
            ..Self::timm_vit_small_patch16_224(num_classes)
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    /// Tokens per input: the patches plus [`VitPool::prefix_tokens`] (the
    /// class token with [`VitPool::Token`], the class and distillation
    /// tokens with [`VitPool::Distilled`]).
    pub fn num_tokens(&self) -> usize {
        self.grid() * self.grid() + self.pool.prefix_tokens()
    }

    /// The number of parameters (every tensor of
    /// [`VitConfig::tensor_shapes`]).
    pub fn num_parameters(&self) -> usize {
        count_parameters(&self.tensor_shapes())
    }

    /// Checks the sizes: all positive and at most [`MAX_VIT_DIM`], the
    /// patch dividing the image and the heads dividing the width.
    pub fn validate(&self) -> candle_core::Result<()> {
        check_sizes(
            "ViT",
            self.common_sizes(),
            &[
                ("depth", self.depth),
                ("num_heads", self.num_heads),
                ("mlp_dim", self.mlp_dim),
            ],
            self.layer_norm_eps,
        )?;
        if self.embed_dim % self.num_heads != 0 {
            bail!(
                "ViT config: num_heads {} does not divide embed_dim {}",
                self.num_heads,
                self.embed_dim
            );
        }
        Ok(())
    }

    fn common_sizes(&self) -> [usize; 5] {
        [
            self.image_size,
            self.patch_size,
            self.in_channels,
            self.embed_dim,
            self.num_classes,
        ]
    }

    /// The names (timm's) and shapes of all tensors.
    ///
    /// ```
    /// let s = salience_models::VitConfig::fashion_mnist().tensor_shapes();
    /// assert!(s.iter().any(|(n, d)| n == "blocks.3.attn.qkv.weight" && d == &vec![192, 64]));
    /// assert!(s.iter().any(|(n, d)| n == "pos_embed" && d == &vec![1, 50, 64]));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, m, p, c) = (
            self.embed_dim,
            self.mlp_dim,
            self.patch_size,
            self.in_channels,
        );
        let mut s = vec![
            ("patch_embed.proj.weight".to_string(), vec![d, c, p, p]),
            ("patch_embed.proj.bias".to_string(), vec![d]),
            ("pos_embed".to_string(), vec![1, self.num_tokens(), d]),
        ];
        if self.pool != VitPool::Avg {
            s.push(("cls_token".to_string(), vec![1, 1, d]));
        }
        if self.pool == VitPool::Distilled {
            s.push(("dist_token".to_string(), vec![1, 1, d]));
        }
        let vec_ = |n: String, k: usize| (n, vec![k]);
        for b in 0..self.depth {
            let n = |x: &str| format!("blocks.{b}.{x}");
            s.push(vec_(n("norm1.weight"), d));
            s.push(vec_(n("norm1.bias"), d));
            s.push((n("attn.qkv.weight"), vec![3 * d, d]));
            if self.qkv_bias {
                s.push(vec_(n("attn.qkv.bias"), 3 * d));
            }
            s.push((n("attn.proj.weight"), vec![d, d]));
            s.push(vec_(n("attn.proj.bias"), d));
            s.push(vec_(n("norm2.weight"), d));
            s.push(vec_(n("norm2.bias"), d));
            s.push((n("mlp.fc1.weight"), vec![m, d]));
            s.push(vec_(n("mlp.fc1.bias"), m));
            s.push((n("mlp.fc2.weight"), vec![d, m]));
            s.push(vec_(n("mlp.fc2.bias"), d));
        }
        let norm = match self.pool {
            VitPool::Token | VitPool::Distilled => "norm",
            VitPool::Avg => "fc_norm",
        };
        s.push(vec_(format!("{norm}.weight"), d));
        s.push(vec_(format!("{norm}.bias"), d));
        s.push(("head.weight".to_string(), vec![self.num_classes, d]));
        s.push(vec_("head.bias".to_string(), self.num_classes));
        if self.pool == VitPool::Distilled {
            s.push(("head_dist.weight".to_string(), vec![self.num_classes, d]));
            s.push(vec_("head_dist.bias".to_string(), self.num_classes));
        }
        s
    }

    /// The layers a [`VisionTransformer`] can be split at, in forward
    /// order: `patch_embed` (tokens with position embeddings, `[N, T, D]`),
    /// `blocks.0` … `blocks.{depth-1}` (`[N, T, D]`), `norm` (with
    /// [`VitPool::Token`] and [`VitPool::Distilled`]), `pre_logits` (the
    /// head's input: `[N, D]`, or the class and distillation tokens
    /// `[N, 2, D]` with [`VitPool::Distilled`]) and `head` (the logits).
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["patch_embed".to_string()];
        v.extend((0..self.depth).map(|b| format!("blocks.{b}")));
        if self.pool != VitPool::Avg {
            v.push("norm".to_string());
        }
        v.push("pre_logits".to_string());
        v.push("head".to_string());
        v
    }
}

/// Checks a transformer config's sizes: `[image_size, patch_size,
/// in_channels, embed_dim, num_classes]` and the named `more` all in
/// `1..=`[`MAX_VIT_DIM`], its LayerNorm ε in `(0, 1)`, and the patch
/// dividing the image; errors name the `model`.
pub(crate) fn check_sizes(
    model: &str,
    [image, patch, channels, width, classes]: [usize; 5],
    more: &[(&str, usize)],
    layer_norm_eps: f64,
) -> candle_core::Result<()> {
    let common = [
        ("image_size", image),
        ("patch_size", patch),
        ("in_channels", channels),
        ("embed_dim", width),
        ("num_classes", classes),
    ];
    for &(name, v) in common.iter().chain(more) {
        if v == 0 || v > MAX_VIT_DIM {
            bail!("{model} config: {name} = {v} is outside 1..={MAX_VIT_DIM}");
        }
    }
    if !(layer_norm_eps > 0.0 && layer_norm_eps < 1.0) {
        bail!("{model} config: layer_norm_eps = {layer_norm_eps} is outside (0, 1)");
    }
    if image % patch != 0 {
        bail!("{model} config: patch_size {patch} does not divide image_size {image}");
    }
    Ok(())
}

/// Checks that `x` is a batch `[N, channels, size, size]`; errors name the
/// `model`.
pub(crate) fn check_image(
    model: &str,
    x: &Tensor,
    channels: usize,
    size: usize,
) -> candle_core::Result<()> {
    match x.dims() {
        [_, c, h, w] if *c == channels && *h == size && *w == size => Ok(()),
        d => bail!("this {model} expects [N, {channels}, {size}, {size}] inputs, got {d:?}"),
    }
}

/// The token grid of `layer` when it is one of the model's `names` and
/// its output is tokens on a `grid × grid` patch grid after `prefix`
/// tokens: the patch embedding `embed`, `blocks.*` or `norm`.
pub(crate) fn token_layer(
    layer: &str,
    names: &[String],
    embed: &str,
    prefix: usize,
    grid: usize,
) -> Option<salience_explain::TokenGrid> {
    let tokens = layer == embed || layer == "norm" || layer.starts_with("blocks.");
    (tokens && names.iter().any(|l| l == layer)).then_some(salience_explain::TokenGrid {
        prefix,
        rows: grid,
        cols: grid,
    })
}

/// The number of parameters in tensors of these shapes.
pub(crate) fn count_parameters(shapes: &[(String, Vec<usize>)]) -> usize {
    shapes
        .iter()
        .map(|(_, d)| d.iter().product::<usize>())
        .sum()
}

/// A LayerNorm's name, affine parameters and ε.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    name: String,
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    pub(crate) fn new(d: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Norm {
            name: vb.prefix(),
            weight: vb.get(d, "weight")?,
            bias: vb.get(d, "bias")?,
            eps,
        })
    }
    /// The LayerNorm of `x` through `ops` ([`LayerOps::layer_norm`]).
    pub(crate) fn forward_with(
        &self,
        x: &Tensor,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<Tensor> {
        ops.layer_norm(&self.name, x, &self.weight, Some(&self.bias), self.eps)
    }
}

/// A linear layer `name` over the last dimension of `[N, T, D]` tokens (as
/// one `[N·T, D]` product, the fast path of
/// [`salience_explain::ops::linear`]) through `ops`.
pub(crate) fn token_linear_with(
    ops: &dyn LayerOps,
    name: &str,
    layer: &Linear,
    x: &Tensor,
) -> candle_core::Result<Tensor> {
    let (n, t, d) = x.dims3()?;
    let y = ops.linear(name, layer, &x.reshape((n * t, d))?)?;
    let out = y.dim(1)?;
    y.reshape((n, t, out))
}

/// Multi-head self-attention with timm's fused `qkv` and `proj` layers
/// (`attn.qkv`, `attn.proj`), shared by the ViT and Swin's window
/// attention.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    /// The layer-name prefix (`blocks.{b}.attn`).
    name: String,
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

impl Attention {
    /// `qkv` (`d → 3d`, with a bias when `qkv_bias`) and `proj` (`d → d`)
    /// under `vb` (the `attn` prefix).
    pub(crate) fn new(
        d: usize,
        heads: usize,
        qkv_bias: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let qkv = if qkv_bias {
            candle_nn::linear(d, 3 * d, vb.pp("qkv"))?
        } else {
            candle_nn::linear_no_bias(d, 3 * d, vb.pp("qkv"))?
        };
        Ok(Attention {
            name: vb.prefix(),
            qkv,
            proj: candle_nn::linear(d, d, vb.pp("proj"))?,
            heads,
        })
    }

    /// Attention of `[N, T, D]` tokens; also returns the probabilities
    /// `[N, heads, T, T]`. `bias` (`[G, heads, T, T]`, `G` dividing `N`,
    /// sequence `i` taking `bias[i mod G]`) is added to the scaled scores
    /// before the softmax (Swin's relative position bias and shift mask);
    /// `offset` is added to the probabilities before they weight the
    /// values (see [`AttentionModel`]). `per_input` sequences belong to
    /// each input, consecutively (1 for the ViT; Swin's windows per image):
    /// the softmax sees the scores as `[N / per_input, per_input · heads,
    /// T, T]`, so its leading dimension is the batch (where the LRP rules
    /// measure the relevance the softmax absorbs per input); the values
    /// are the same. Runs through `ops` (its linear layers, the two
    /// products of activations and the softmax).
    pub(crate) fn forward_with(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
        offset: Option<&Tensor>,
        per_input: usize,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (n, t, d) = x.dims3()?;
        if per_input == 0 || n % per_input != 0 {
            bail!("attention over {n} sequences, not a multiple of {per_input} per input");
        }
        let hd = d / self.heads;
        let name = |l: &str| format!("{}.{l}", self.name);
        let qkv = token_linear_with(ops, &name("qkv"), &self.qkv, x)?
            .reshape((n, t, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let q = (qkv.get(0)?.contiguous()? * scale)?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let mut scores = ops.matmul(&q, &k.t()?.contiguous()?)?;
        if let Some(b) = bias {
            let g = b.dim(0)?;
            scores = scores
                .reshape((n / g, g, self.heads, t, t))?
                .broadcast_add(b)?
                .reshape((n, self.heads, t, t))?;
        }
        let attn = ops
            .softmax(&scores.reshape((n / per_input, per_input * self.heads, t, t))?)?
            .reshape((n, self.heads, t, t))?;
        let used = match offset {
            Some(o) => (&attn + o)?,
            None => attn.clone(),
        };
        let o = ops.matmul(&used, &v)?.transpose(1, 2)?.reshape((n, t, d))?;
        Ok((token_linear_with(ops, &name("proj"), &self.proj, &o)?, attn))
    }
}

/// timm's `Mlp`: `fc2(gelu(fc1(x)))` over the last dimension of
/// `[N, T, D]` (exact GELU).
#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    /// The layer-name prefix (`blocks.{b}.mlp`).
    name: String,
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    /// `fc1` (`d → hidden`) and `fc2` (`hidden → d`) under `vb`.
    pub(crate) fn new(d: usize, hidden: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Mlp {
            name: vb.prefix(),
            fc1: candle_nn::linear(d, hidden, vb.pp("fc1"))?,
            fc2: candle_nn::linear(hidden, d, vb.pp("fc2"))?,
        })
    }

    /// `fc2(gelu(fc1(x)))` through `ops`.
    pub(crate) fn forward_with(
        &self,
        x: &Tensor,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<Tensor> {
        let fc = |l: &str| format!("{}.{l}", self.name);
        let h = token_linear_with(ops, &fc("fc1"), &self.fc1, x)?;
        token_linear_with(ops, &fc("fc2"), &self.fc2, &ops.gelu(&h)?)
    }
}

/// A patch embedding: a `patch × patch` convolution of stride `patch`
/// (`weight`, `bias` under `vb`).
pub(crate) fn patch_conv(
    in_channels: usize,
    d: usize,
    patch: usize,
    vb: VarBuilder,
) -> candle_core::Result<candle_nn::Conv2d> {
    Ok(candle_nn::Conv2d::new(
        vb.get((d, in_channels, patch, patch), "weight")?,
        Some(vb.get(d, "bias")?),
        candle_nn::Conv2dConfig {
            stride: patch,
            ..Default::default()
        },
    ))
}

/// The patch embedding `name` of `x` through `ops` as row-major tokens
/// `[N, h·w, D]`.
pub(crate) fn patch_tokens(
    ops: &dyn LayerOps,
    name: &str,
    conv: &candle_nn::Conv2d,
    x: &Tensor,
) -> candle_core::Result<Tensor> {
    ops.conv2d(name, conv, x)?
        .flatten_from(2)?
        .transpose(1, 2)?
        .contiguous()
}

#[derive(Debug, Clone)]
struct Block {
    norm1: Norm,
    attn: Attention,
    norm2: Norm,
    mlp: Mlp,
}

impl Block {
    fn new(c: &VitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = c.embed_dim;
        Ok(Block {
            norm1: Norm::new(d, c.layer_norm_eps, vb.pp("norm1"))?,
            attn: Attention::new(d, c.num_heads, c.qkv_bias, vb.pp("attn"))?,
            norm2: Norm::new(d, c.layer_norm_eps, vb.pp("norm2"))?,
            mlp: Mlp::new(d, c.mlp_dim, vb.pp("mlp"))?,
        })
    }

    /// The block's output and its attention weights.
    fn forward_attention(
        &self,
        x: &Tensor,
        offset: Option<&Tensor>,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (a, attn) =
            self.attn
                .forward_with(&self.norm1.forward_with(x, ops)?, None, offset, 1, ops)?;
        let x = ops.add(x, &a)?;
        let m = self
            .mlp
            .forward_with(&self.norm2.forward_with(&x, ops)?, ops)?;
        Ok((ops.add(&x, &m)?, attn))
    }

    fn forward(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        Ok(self.forward_attention(x, None, ops)?.0)
    }
}

/// A Vision Transformer (see the module docs), implementing
/// [`Classifier`], [`LayerSplit`] (layers of [`VitConfig::layer_names`])
/// and [`AttentionModel`], so every gradient, perturbation and
/// representation method, attention rollout and Chefer et al.'s
/// gradient-weighted rollout accept it.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{VisionTransformer, VitConfig};
/// use salience_explain::{AttentionModel, Classifier, LayerSplit};
/// let m = VisionTransformer::seeded(&VitConfig::fashion_mnist(), 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 10]);
/// assert_eq!(m.activations(&x, "blocks.3").unwrap().dims(), &[2, 50, 64]);
/// assert_eq!(m.activations(&x, "pre_logits").unwrap().dims(), &[2, 64]);
/// assert_eq!(m.attention_shape(), (4, 4, 50)); // blocks, heads, tokens
/// ```
#[derive(Debug, Clone)]
pub struct VisionTransformer {
    config: VitConfig,
    patch: candle_nn::Conv2d,
    cls_token: Option<Tensor>,
    dist_token: Option<Tensor>,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: Norm,
    head: Linear,
    head_dist: Option<Linear>,
    device: Device,
}

impl VisionTransformer {
    /// Builds the network of `config` from `vb` (timm's names).
    pub fn new(vb: VarBuilder, config: &VitConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let d = config.embed_dim;
        let p = config.patch_size;
        let patch = patch_conv(config.in_channels, d, p, vb.pp("patch_embed").pp("proj"))?;
        let token = |name: &str| -> candle_core::Result<Option<Tensor>> {
            let wanted = match name {
                "cls_token" => config.pool != VitPool::Avg,
                _ => config.pool == VitPool::Distilled,
            };
            wanted.then(|| vb.get((1, 1, d), name)).transpose()
        };
        let cls_token = token("cls_token")?;
        let dist_token = token("dist_token")?;
        let pos_embed = vb.get((1, config.num_tokens(), d), "pos_embed")?;
        let blocks = (0..config.depth)
            .map(|b| Block::new(config, vb.pp("blocks").pp(b.to_string())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let eps = config.layer_norm_eps;
        let norm = match config.pool {
            VitPool::Token | VitPool::Distilled => Norm::new(d, eps, vb.pp("norm"))?,
            VitPool::Avg => Norm::new(d, eps, vb.pp("fc_norm"))?,
        };
        let head = candle_nn::linear(d, config.num_classes, vb.pp("head"))?;
        let head_dist = match config.pool {
            VitPool::Distilled => Some(candle_nn::linear(
                d,
                config.num_classes,
                vb.pp("head_dist"),
            )?),
            _ => None,
        };
        Ok(VisionTransformer {
            config: config.clone(),
            patch,
            cls_token,
            dist_token,
            pos_embed,
            blocks,
            norm,
            head,
            head_dist,
            device: vb.device().clone(),
        })
    }

    /// The network of `config` from safetensors `bytes` with Hugging Face
    /// `transformers` names, the hub checkpoints' or transformers 5's:
    /// `ViTForImageClassification` (as `google/vit-base-patch16-224`, the
    /// weights candle-transformers' `vit` loads; use [`VitPool::Token`],
    /// e.g. [`VitConfig::hf_vit_base_patch16_224`]) or
    /// `DeiTForImageClassificationWithTeacher` (`facebook/deit-*-distilled-*`,
    /// `deit.*`, `cls_classifier`, `distillation_classifier`; use
    /// [`VitPool::Distilled`]: its output is the mean of the two heads, as
    /// transformers' in eval mode). The tensors are renamed to timm's (the
    /// separate query / key / value projections concatenated into `qkv`)
    /// and then checked as in [`VisionTransformer::from_safetensors_bytes`].
    /// Use `layer_norm_eps: 1e-12` (transformers' default). Names outside
    /// these models (`vit.pooler.*`; a `DeiTForImageClassification`'s
    /// single `classifier` with a distillation token, which reads the class
    /// token only) are reported as unexpected or missing.
    pub fn from_hf_safetensors_bytes(
        bytes: &[u8],
        config: &VitConfig,
        what: &str,
        device: &Device,
    ) -> crate::Result<Self> {
        config
            .validate()
            .map_err(salience_explain::model::convert::candle_error)?;
        let vb = renamed_var_builder(bytes, &config.tensor_shapes(), what, device, |r| {
            hf_to_timm_names(r, config.depth)
        })?;
        Self::new(vb, config).map_err(salience_explain::model::convert::candle_error)
    }

    /// The configuration.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// The attention weights `[N, heads, T, T]` of every block for inputs
    /// `x` (rows: queries, columns: keys; token 0 is the class token with
    /// [`VitPool::Token`]), for attention rollout and similar methods.
    pub fn attention_maps(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        Ok(self.attention_forward(x, None)?.1)
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        check_image("ViT", x, self.config.in_channels, self.config.image_size)
    }

    /// Patch embedding, class token and position embeddings: `[N, T, D]`.
    /// The position embeddings enter through [`LayerOps::add`] (for LRP, a
    /// bias: the relevance they take is not passed on).
    fn embed(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let d = self.config.embed_dim;
        let h = ops
            .conv2d("patch_embed.proj", &self.patch, x)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let mut parts = Vec::with_capacity(3);
        for t in [&self.cls_token, &self.dist_token].into_iter().flatten() {
            parts.push(t.broadcast_as((n, 1, d))?);
        }
        let h = if parts.is_empty() {
            h.contiguous()?
        } else {
            parts.push(h);
            Tensor::cat(&parts, 1)?
        };
        ops.add(&h, &self.pos_embed.broadcast_as(h.shape())?)
    }

    /// Stage `k` of [`VitConfig::layer_names`] applied to `h` with `ops`.
    fn stage_with(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let depth = self.blocks.len();
        let token = self.config.pool != VitPool::Avg;
        match k {
            0 => self.embed(h, ops),
            k if k <= depth => self.blocks[k - 1].forward(h, ops),
            k if token && k == depth + 1 => self.norm.forward_with(h, ops),
            k if k == depth + 1 + usize::from(token) => match self.config.pool {
                VitPool::Token => h.narrow(1, 0, 1)?.squeeze(1),
                VitPool::Distilled => h.narrow(1, 0, 2),
                VitPool::Avg => self.norm.forward_with(&h.mean(1)?, ops),
            },
            k if k == depth + 2 + usize::from(token) => match &self.head_dist {
                Some(head_dist) => {
                    let cls = ops.linear("head", &self.head, &h.narrow(1, 0, 1)?.squeeze(1)?)?;
                    let dist =
                        ops.linear("head_dist", head_dist, &h.narrow(1, 1, 1)?.squeeze(1)?)?;
                    (cls + dist)? / 2.0
                }
                None => ops.linear("head", &self.head, h),
            },
            _ => bail!("ViT stage {k} out of range"),
        }
    }

    fn run(&self, x: &Tensor, from: usize, to: usize) -> candle_core::Result<Tensor> {
        salience_explain::model::forward::run(self, x, from, to, &PlainOps)
    }
}

/// Writes `seeded` and `from_safetensors_bytes` for a model type with a
/// `new(vb, &config)` constructor and a config with `validate` and
/// `tensor_shapes`; the doc attributes given go on
/// `from_safetensors_bytes` (an example).
macro_rules! timm_constructors {
    ($model:ident, $config:ident $(, $(#[$doc:meta])*)?) => {
        impl $model {
            /// An untrained network with seeded weights (see
            /// [`crate::init`]).
            pub fn seeded(
                config: &$config,
                seed: u64,
                device: &candle_core::Device,
            ) -> candle_core::Result<Self> {
                config.validate()?;
                let t = crate::init::seeded_tensors(&config.tensor_shapes(), seed, device)?;
                Self::new(
                    candle_nn::VarBuilder::from_tensors(t, candle_core::DType::F32, device),
                    config,
                )
            }

            /// The network of `config` from safetensors `bytes` (e.g. a
            /// timm `state_dict` saved with `safetensors.torch.save_file`);
            /// `what` names the source in errors. Missing, unexpected and
            /// wrongly-shaped tensors are reported together, by name
            /// ([`crate::check_tensors`]).
            $($(#[$doc])*)?
            pub fn from_safetensors_bytes(
                bytes: &[u8],
                config: &$config,
                what: &str,
                device: &candle_core::Device,
            ) -> crate::Result<Self> {
                config.validate().map_err(salience_explain::model::convert::candle_error)?;
                let vb = crate::checked_var_builder(
                    bytes,
                    &config.tensor_shapes(),
                    &[],
                    what,
                    device,
                )?;
                Self::new(vb, config).map_err(salience_explain::model::convert::candle_error)
            }
        }
    };
}
pub(crate) use timm_constructors;

timm_constructors!(
    VisionTransformer,
    VitConfig,
    /// ```
    /// use salience_models::{VisionTransformer, VitConfig};
    /// let e = VisionTransformer::from_safetensors_bytes(
    ///     salience_models::assets::SMALL_CNN_SAFETENSORS,
    ///     &VitConfig::fashion_mnist(),
    ///     "cnn.safetensors",
    ///     &candle_core::Device::Cpu,
    /// );
    /// assert!(e.unwrap_err().to_string().contains("missing: blocks.0.attn.proj.bias"));
    /// ```
);

/// Tensors being renamed from another library's names to timm's: what is
/// not moved passes through unchanged (so the shape check that follows
/// reports it as unexpected).
pub(crate) struct Renamer {
    from: std::collections::HashMap<String, Tensor>,
    to: std::collections::HashMap<String, Tensor>,
}

impl Renamer {
    pub(crate) fn new(from: std::collections::HashMap<String, Tensor>) -> Self {
        let to = std::collections::HashMap::with_capacity(from.len());
        Renamer { from, to }
    }

    /// Whether some name starts with `prefix`.
    pub(crate) fn any_starts_with(&self, prefix: &str) -> bool {
        self.from.keys().any(|k| k.starts_with(prefix))
    }

    /// Moves `from` to `to` if present.
    pub(crate) fn tensor(&mut self, from: &str, to: &str) {
        if let Some(v) = self.from.remove(from) {
            self.to.insert(to.to_string(), v);
        }
    }

    /// Moves `{from}.weight` and `{from}.bias` to `{to}.…`.
    pub(crate) fn layer(&mut self, from: &str, to: &str) {
        for leaf in ["weight", "bias"] {
            self.tensor(&format!("{from}.{leaf}"), &format!("{to}.{leaf}"));
        }
    }

    /// Concatenates separate query / key / value layers `parts` into
    /// `{to}.weight` / `{to}.bias` where all three are present.
    pub(crate) fn qkv(&mut self, parts: [String; 3], to: &str) -> candle_core::Result<()> {
        for leaf in ["weight", "bias"] {
            let names = parts.each_ref().map(|p| format!("{p}.{leaf}"));
            if names.iter().all(|p| self.from.contains_key(p)) {
                let qkv: Vec<Tensor> = names.iter().filter_map(|p| self.from.remove(p)).collect();
                self.to
                    .insert(format!("{to}.{leaf}"), Tensor::cat(&qkv, 0)?);
            }
        }
        Ok(())
    }

    /// Drops `name` (a buffer the model recomputes).
    pub(crate) fn drop(&mut self, name: &str) {
        self.from.remove(name);
    }

    /// The renamed tensors and the ones left as they were.
    pub(crate) fn finish(mut self) -> std::collections::HashMap<String, Tensor> {
        self.to.extend(self.from);
        self.to
    }
}

/// Loads safetensors `bytes`, renames them with `rename`, checks them
/// against `shapes` (missing, unexpected and wrongly-shaped tensors named
/// together) and gives a var builder over them.
pub(crate) fn renamed_var_builder(
    bytes: &[u8],
    shapes: &[(String, Vec<usize>)],
    what: &str,
    device: &Device,
    rename: impl FnOnce(Renamer) -> candle_core::Result<Renamer>,
) -> crate::Result<VarBuilder<'static>> {
    let tensors = candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| salience_core::SalienceError::format(what, e.to_string()))?;
    let tensors = rename(Renamer::new(tensors))
        .map_err(|e| salience_core::SalienceError::format(what, e.to_string()))?
        .finish();
    super::check_tensors(&tensors, shapes, &[], what)?;
    Ok(VarBuilder::from_tensors(
        tensors,
        candle_core::DType::F32,
        device,
    ))
}

/// Renames Hugging Face `ViTForImageClassification` or
/// `DeiTForImageClassificationWithTeacher` tensors (model prefix `vit` or
/// `deit`) to timm's, from either the hub checkpoints' names
/// (`{vit,deit}.encoder.layer.{i}.…`) or transformers 5's
/// (`{vit,deit}.layers.{i}.…`).
fn hf_to_timm_names(mut r: Renamer, depth: usize) -> candle_core::Result<Renamer> {
    let p = if r.any_starts_with("deit.") {
        "deit"
    } else {
        "vit"
    };
    for (hf, timm) in [
        ("embeddings.cls_token", "cls_token"),
        ("embeddings.distillation_token", "dist_token"),
        ("embeddings.position_embeddings", "pos_embed"),
    ] {
        r.tensor(&format!("{p}.{hf}"), timm);
    }
    r.layer(
        &format!("{p}.embeddings.patch_embeddings.projection"),
        "patch_embed.proj",
    );
    r.layer(&format!("{p}.layernorm"), "norm");
    r.layer("classifier", "head");
    r.layer("cls_classifier", "head");
    r.layer("distillation_classifier", "head_dist");
    // The checkpoints' names (`google/vit-base-patch16-224`,
    // `facebook/deit-*`; what candle-transformers loads), then
    // transformers 5's `state_dict` names.
    for (blocks, [attn_out, fc1, fc2], qkv) in [
        (
            "encoder.layer",
            [
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ],
            [
                "attention.attention.query",
                "attention.attention.key",
                "attention.attention.value",
            ],
        ),
        (
            "layers",
            ["attention.o_proj", "mlp.fc1", "mlp.fc2"],
            ["attention.q_proj", "attention.k_proj", "attention.v_proj"],
        ),
    ] {
        for b in 0..depth {
            let hf = |x: &str| format!("{p}.{blocks}.{b}.{x}");
            let timm = |x: &str| format!("blocks.{b}.{x}");
            for (from, to) in [
                ("layernorm_before", "norm1"),
                (attn_out, "attn.proj"),
                ("layernorm_after", "norm2"),
                (fc1, "mlp.fc1"),
                (fc2, "mlp.fc2"),
            ] {
                r.layer(&hf(from), &timm(to));
            }
            r.qkv(qkv.map(hf), &timm("attn.qkv"))?;
        }
    }
    Ok(r)
}

/// The forward pass, written once over [`LayerOps`] (patch embedding,
/// every LayerNorm, dense layer, attention product, softmax, GELU and
/// residual sum): [`Classifier`], [`LayerSplit`] and [`RuleForward`] are
/// derived from it, so the transformer LRP rules ([`salience_explain::AttnLrp`]:
/// AttnLRP and CP-LRP) apply. Layer names are timm's (`patch_embed.proj`,
/// `blocks.{b}.attn.qkv`, `blocks.{b}.norm1`, …, `head`).
impl StagedForward for VisionTransformer {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        self.stage_with(k, h, ops)
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        VisionTransformer::check_input(self, x)
    }

    /// `patch_embed`, `blocks.*` and `norm` output tokens on the patch grid
    /// (the class token, if any, is the prefix), so the CAMs take them.
    fn token_grid(&self, layer: &str) -> Option<salience_explain::TokenGrid> {
        let names = self.config.layer_names();
        let grid = self.config.grid();
        token_layer(
            layer,
            &names,
            "patch_embed",
            self.config.pool.prefix_tokens(),
            grid,
        )
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(VisionTransformer);

impl AttentionModel for VisionTransformer {
    fn attention_shape(&self) -> (usize, usize, usize) {
        (
            self.config.depth,
            self.config.num_heads,
            self.config.num_tokens(),
        )
    }

    fn attention_forward(
        &self,
        x: &Tensor,
        offsets: Option<&[Tensor]>,
    ) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        self.check_input(x)?;
        if let Some(o) = offsets {
            if o.len() != self.blocks.len() {
                bail!(
                    "{} attention offsets for {} blocks",
                    o.len(),
                    self.blocks.len()
                );
            }
        }
        let mut h = self.embed(x, &PlainOps)?;
        let mut maps = Vec::with_capacity(self.blocks.len());
        for (b, block) in self.blocks.iter().enumerate() {
            let (next, a) = block.forward_attention(&h, offsets.map(|o| &o[b]), &PlainOps)?;
            maps.push(a);
            h = next;
        }
        let depth = self.blocks.len();
        let logits = self.run(&h, depth + 1, self.config.layer_names().len())?;
        Ok((logits, maps))
    }

    fn prefix_tokens(&self) -> usize {
        self.config.pool.prefix_tokens()
    }

    fn token_grid(&self) -> (usize, usize) {
        (self.config.grid(), self.config.grid())
    }
}
