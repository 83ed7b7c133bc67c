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
//! `fc_norm` ([`VitPool::Avg`]), then the linear head. Every op has a
//! backward pass (LayerNorm and softmax through
//! [`salience_explain::ops`], since candle-nn's fused ones are detached).
//! The forward pass is written once over [`LayerOps`], so the transformer
//! LRP rules (AttnLRP, CP-LRP: [`salience_explain::AttnLrp`]) apply.
//!
//! Not covered: DeiT's distillation token, LayerScale, relative position
//! biases, resizing position embeddings for another image size.

use candle_core::{bail, Device, Tensor};
use candle_nn::{Linear, VarBuilder};
use salience_explain::forward::StagedForward;
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
    /// let c = salience_data::models::VitConfig::timm_vit_tiny_patch16_224(1000);
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
    /// let c = salience_data::models::VitConfig::hf_vit_base_patch16_224(1000);
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
    /// let c = salience_data::models::VitConfig::timm_vit_small_patch16_224(1000);
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
    /// let c = salience_data::models::VitConfig::fashion_mnist();
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

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    /// Tokens per input: the patches, plus the class token with
    /// [`VitPool::Token`].
    pub fn num_tokens(&self) -> usize {
        self.grid() * self.grid() + usize::from(self.pool == VitPool::Token)
    }

    /// The number of parameters (every tensor of
    /// [`VitConfig::tensor_shapes`]).
    pub fn num_parameters(&self) -> usize {
        self.tensor_shapes()
            .iter()
            .map(|(_, d)| d.iter().product::<usize>())
            .sum()
    }

    /// Checks the sizes: all positive and at most [`MAX_VIT_DIM`], the
    /// patch dividing the image and the heads dividing the width.
    pub fn validate(&self) -> candle_core::Result<()> {
        let sizes = [
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("in_channels", self.in_channels),
            ("embed_dim", self.embed_dim),
            ("depth", self.depth),
            ("num_heads", self.num_heads),
            ("mlp_dim", self.mlp_dim),
            ("num_classes", self.num_classes),
        ];
        for (name, v) in sizes {
            if v == 0 || v > MAX_VIT_DIM {
                bail!("ViT config: {name} = {v} is outside 1..={MAX_VIT_DIM}");
            }
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            bail!(
                "ViT config: layer_norm_eps = {} is outside (0, 1)",
                self.layer_norm_eps
            );
        }
        if self.image_size % self.patch_size != 0 {
            bail!(
                "ViT config: patch_size {} does not divide image_size {}",
                self.patch_size,
                self.image_size
            );
        }
        if self.embed_dim % self.num_heads != 0 {
            bail!(
                "ViT config: num_heads {} does not divide embed_dim {}",
                self.num_heads,
                self.embed_dim
            );
        }
        Ok(())
    }

    /// The names (timm's) and shapes of all tensors.
    ///
    /// ```
    /// let s = salience_data::models::VitConfig::fashion_mnist().tensor_shapes();
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
        if self.pool == VitPool::Token {
            s.push(("cls_token".to_string(), vec![1, 1, d]));
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
            VitPool::Token => "norm",
            VitPool::Avg => "fc_norm",
        };
        s.push(vec_(format!("{norm}.weight"), d));
        s.push(vec_(format!("{norm}.bias"), d));
        s.push(("head.weight".to_string(), vec![self.num_classes, d]));
        s.push(vec_("head.bias".to_string(), self.num_classes));
        s
    }

    /// The layers a [`VisionTransformer`] can be split at, in forward
    /// order: `patch_embed` (tokens with position embeddings, `[N, T, D]`),
    /// `blocks.0` … `blocks.{depth-1}` (`[N, T, D]`), `norm` (with
    /// [`VitPool::Token`]), `pre_logits` (the head's input, `[N, D]`) and
    /// `head` (the logits).
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["patch_embed".to_string()];
        v.extend((0..self.depth).map(|b| format!("blocks.{b}")));
        if self.pool == VitPool::Token {
            v.push("norm".to_string());
        }
        v.push("pre_logits".to_string());
        v.push("head".to_string());
        v
    }
}

/// A LayerNorm's name, affine parameters and ε.
#[derive(Debug, Clone)]
struct Norm {
    name: String,
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn new(d: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Norm {
            name: vb.prefix(),
            weight: vb.get(d, "weight")?,
            bias: vb.get(d, "bias")?,
            eps,
        })
    }
    fn forward(&self, x: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        ops.layer_norm(&self.name, x, &self.weight, Some(&self.bias), self.eps)
    }
}

/// A linear layer `name` over the last dimension of `[N, T, D]` tokens (as
/// one `[N·T, D]` product, the fast path of
/// [`salience_explain::ops::linear`]).
fn token_linear(
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

#[derive(Debug, Clone)]
struct Block {
    /// `blocks.{b}`: the prefix of the layer names.
    name: String,
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
}

impl Block {
    fn new(c: &VitConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = c.embed_dim;
        let attn = vb.pp("attn");
        let qkv = if c.qkv_bias {
            candle_nn::linear(d, 3 * d, attn.pp("qkv"))?
        } else {
            candle_nn::linear_no_bias(d, 3 * d, attn.pp("qkv"))?
        };
        Ok(Block {
            name: vb.prefix(),
            norm1: Norm::new(d, c.layer_norm_eps, vb.pp("norm1"))?,
            qkv,
            proj: candle_nn::linear(d, d, attn.pp("proj"))?,
            norm2: Norm::new(d, c.layer_norm_eps, vb.pp("norm2"))?,
            fc1: candle_nn::linear(d, c.mlp_dim, vb.pp("mlp").pp("fc1"))?,
            fc2: candle_nn::linear(c.mlp_dim, d, vb.pp("mlp").pp("fc2"))?,
            heads: c.num_heads,
        })
    }

    /// Multi-head self-attention of `[N, T, D]` tokens; also returns the
    /// attention weights `[N, heads, T, T]`. `offset` is added to the
    /// weights before they weight the values (see [`AttentionModel`]).
    fn attention(
        &self,
        x: &Tensor,
        offset: Option<&Tensor>,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (n, t, d) = x.dims3()?;
        let hd = d / self.heads;
        let name = |l: &str| format!("{}.attn.{l}", self.name);
        let qkv = token_linear(ops, &name("qkv"), &self.qkv, x)?
            .reshape((n, t, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let q = (qkv.get(0)?.contiguous()? * scale)?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let attn = ops.softmax(&ops.matmul(&q, &k.t()?.contiguous()?)?)?;
        let used = match offset {
            Some(o) => (&attn + o)?,
            None => attn.clone(),
        };
        let o = ops.matmul(&used, &v)?.transpose(1, 2)?.reshape((n, t, d))?;
        Ok((token_linear(ops, &name("proj"), &self.proj, &o)?, attn))
    }

    /// The block's output and its attention weights.
    fn forward_attention(
        &self,
        x: &Tensor,
        offset: Option<&Tensor>,
        ops: &dyn LayerOps,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (a, attn) = self.attention(&self.norm1.forward(x, ops)?, offset, ops)?;
        let x = ops.add(x, &a)?;
        let fc = |l: &str| format!("{}.mlp.{l}", self.name);
        let h = token_linear(ops, &fc("fc1"), &self.fc1, &self.norm2.forward(&x, ops)?)?;
        let h = token_linear(ops, &fc("fc2"), &self.fc2, &ops.gelu(&h)?)?;
        Ok((ops.add(&x, &h)?, attn))
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
/// use salience_data::models::{VisionTransformer, VitConfig};
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
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl VisionTransformer {
    /// Builds the network of `config` from `vb` (timm's names).
    pub fn new(vb: VarBuilder, config: &VitConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let d = config.embed_dim;
        let p = config.patch_size;
        let pe = vb.pp("patch_embed").pp("proj");
        let patch = candle_nn::Conv2d::new(
            pe.get((d, config.in_channels, p, p), "weight")?,
            Some(pe.get(d, "bias")?),
            candle_nn::Conv2dConfig {
                stride: p,
                ..Default::default()
            },
        );
        let cls_token = match config.pool {
            VitPool::Token => Some(vb.get((1, 1, d), "cls_token")?),
            VitPool::Avg => None,
        };
        let pos_embed = vb.get((1, config.num_tokens(), d), "pos_embed")?;
        let blocks = (0..config.depth)
            .map(|b| Block::new(config, vb.pp("blocks").pp(b.to_string())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let eps = config.layer_norm_eps;
        let norm = match config.pool {
            VitPool::Token => Norm::new(d, eps, vb.pp("norm"))?,
            VitPool::Avg => Norm::new(d, eps, vb.pp("fc_norm"))?,
        };
        let head = candle_nn::linear(d, config.num_classes, vb.pp("head"))?;
        Ok(VisionTransformer {
            config: config.clone(),
            patch,
            cls_token,
            pos_embed,
            blocks,
            norm,
            head,
            device: vb.device().clone(),
        })
    }

    /// An untrained network with seeded weights (see
    /// [`crate::models::init`]).
    pub fn seeded(config: &VitConfig, seed: u64, device: &Device) -> candle_core::Result<Self> {
        config.validate()?;
        let t = super::init::seeded_tensors(&config.tensor_shapes(), seed, device)?;
        Self::new(
            VarBuilder::from_tensors(t, candle_core::DType::F32, device),
            config,
        )
    }

    /// The network of `config` from safetensors `bytes` (e.g. a timm
    /// `state_dict` saved with `safetensors.torch.save_file`); `what`
    /// names the source in errors. Missing, unexpected and wrongly-shaped
    /// tensors are reported together, by name
    /// ([`crate::models::check_tensors`]).
    ///
    /// ```
    /// use salience_data::models::{VisionTransformer, VitConfig};
    /// let e = VisionTransformer::from_safetensors_bytes(
    ///     salience_data::assets::SMALL_CNN_SAFETENSORS,
    ///     &VitConfig::fashion_mnist(),
    ///     "cnn.safetensors",
    ///     &candle_core::Device::Cpu,
    /// );
    /// assert!(e.unwrap_err().to_string().contains("missing: blocks.0.attn.proj.bias"));
    /// ```
    pub fn from_safetensors_bytes(
        bytes: &[u8],
        config: &VitConfig,
        what: &str,
        device: &Device,
    ) -> crate::Result<Self> {
        config.validate()?;
        let vb = super::checked_var_builder(bytes, &config.tensor_shapes(), &[], what, device)?;
        Ok(Self::new(vb, config)?)
    }

    /// The network of `config` from safetensors `bytes` with Hugging Face
    /// `transformers` `ViTForImageClassification` names (as
    /// `google/vit-base-patch16-224`, the weights candle-transformers'
    /// `vit` loads): the tensors are renamed to timm's (the separate
    /// query / key / value projections concatenated into `qkv`) and then
    /// checked as in [`VisionTransformer::from_safetensors_bytes`]. Use a
    /// config with `layer_norm_eps: 1e-12` and [`VitPool::Token`], e.g.
    /// [`VitConfig::hf_vit_base_patch16_224`]. Names outside the
    /// classification model (`vit.pooler.*`) are reported as unexpected.
    pub fn from_hf_safetensors_bytes(
        bytes: &[u8],
        config: &VitConfig,
        what: &str,
        device: &Device,
    ) -> crate::Result<Self> {
        config.validate()?;
        let tensors = candle_core::safetensors::load_buffer(bytes, device)
            .map_err(|e| crate::DataError::format(what, e.to_string()))?;
        let tensors = hf_to_timm_names(tensors, config.depth)
            .map_err(|e| crate::DataError::format(what, e.to_string()))?;
        super::check_tensors(&tensors, &config.tensor_shapes(), &[], what)?;
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, device);
        Ok(Self::new(vb, config)?)
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
        let c = &self.config;
        match x.dims() {
            [_, ch, h, w] if *ch == c.in_channels && *h == c.image_size && *w == c.image_size => {
                Ok(())
            }
            d => bail!(
                "this ViT expects [N, {}, {}, {}] inputs, got {d:?}",
                c.in_channels,
                c.image_size,
                c.image_size
            ),
        }
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
        let h = match &self.cls_token {
            Some(c) => Tensor::cat(&[&c.broadcast_as((n, 1, d))?, &h], 1)?,
            None => h.contiguous()?,
        };
        ops.add(&h, &self.pos_embed.broadcast_as(h.shape())?)
    }

    /// Stage `k` of [`VitConfig::layer_names`] applied to `h` with `ops`.
    fn stage_with(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let depth = self.blocks.len();
        let token = self.config.pool == VitPool::Token;
        match k {
            0 => self.embed(h, ops),
            k if k <= depth => self.blocks[k - 1].forward(h, ops),
            k if token && k == depth + 1 => self.norm.forward(h, ops),
            k if k == depth + 1 + usize::from(token) => match self.config.pool {
                VitPool::Token => h.narrow(1, 0, 1)?.squeeze(1),
                VitPool::Avg => self.norm.forward(&h.mean(1)?, ops),
            },
            k if k == depth + 2 + usize::from(token) => ops.linear("head", &self.head, h),
            _ => bail!("ViT stage {k} out of range"),
        }
    }

    fn run(&self, x: &Tensor, from: usize, to: usize) -> candle_core::Result<Tensor> {
        salience_explain::forward::run(self, x, from, to, &PlainOps)
    }
}

/// A block-name prefix, the renames of a block's layers, and the names of
/// its query / key / value projections.
type NameScheme = (
    &'static str,
    [(&'static str, &'static str); 5],
    [&'static str; 3],
);

/// Renames Hugging Face `ViTForImageClassification` tensors to timm's,
/// from either the hub checkpoints' names (`vit.encoder.layer.{i}.…`) or
/// transformers 5's (`vit.layers.{i}.…`); names it does not know pass
/// through unchanged (so the check that follows reports them).
fn hf_to_timm_names(
    mut t: std::collections::HashMap<String, Tensor>,
    depth: usize,
) -> candle_core::Result<std::collections::HashMap<String, Tensor>> {
    let mut out = std::collections::HashMap::with_capacity(t.len());
    let fixed = [
        ("vit.embeddings.cls_token", "cls_token"),
        ("vit.embeddings.position_embeddings", "pos_embed"),
        (
            "vit.embeddings.patch_embeddings.projection.weight",
            "patch_embed.proj.weight",
        ),
        (
            "vit.embeddings.patch_embeddings.projection.bias",
            "patch_embed.proj.bias",
        ),
        ("vit.layernorm.weight", "norm.weight"),
        ("vit.layernorm.bias", "norm.bias"),
        ("classifier.weight", "head.weight"),
        ("classifier.bias", "head.bias"),
    ];
    for (hf, timm) in fixed {
        if let Some(v) = t.remove(hf) {
            out.insert(timm.to_string(), v);
        }
    }
    // The checkpoints' names (`google/vit-base-patch16-224`, what
    // candle-transformers loads), then transformers 5's `state_dict` names.
    let schemes: [NameScheme; 2] = [
        (
            "vit.encoder.layer",
            [
                ("layernorm_before", "norm1"),
                ("attention.output.dense", "attn.proj"),
                ("layernorm_after", "norm2"),
                ("intermediate.dense", "mlp.fc1"),
                ("output.dense", "mlp.fc2"),
            ],
            [
                "attention.attention.query",
                "attention.attention.key",
                "attention.attention.value",
            ],
        ),
        (
            "vit.layers",
            [
                ("layernorm_before", "norm1"),
                ("attention.o_proj", "attn.proj"),
                ("layernorm_after", "norm2"),
                ("mlp.fc1", "mlp.fc1"),
                ("mlp.fc2", "mlp.fc2"),
            ],
            ["attention.q_proj", "attention.k_proj", "attention.v_proj"],
        ),
    ];
    for (prefix, renames, qkv_parts) in schemes {
        for b in 0..depth {
            let hf = |x: &str| format!("{prefix}.{b}.{x}");
            let timm = |x: &str| format!("blocks.{b}.{x}");
            for (from, to) in renames {
                for leaf in ["weight", "bias"] {
                    if let Some(v) = t.remove(&hf(&format!("{from}.{leaf}"))) {
                        out.insert(timm(&format!("{to}.{leaf}")), v);
                    }
                }
            }
            for leaf in ["weight", "bias"] {
                let parts: Vec<String> = qkv_parts
                    .iter()
                    .map(|p| hf(&format!("{p}.{leaf}")))
                    .collect();
                if parts.iter().all(|p| t.contains_key(p)) {
                    let qkv: Vec<Tensor> = parts.iter().filter_map(|p| t.remove(p)).collect();
                    out.insert(timm(&format!("attn.qkv.{leaf}")), Tensor::cat(&qkv, 0)?);
                }
            }
        }
    }
    out.extend(t);
    Ok(out)
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
        let tokens = layer == "patch_embed" || layer == "norm" || layer.starts_with("blocks.");
        (tokens && self.config.layer_names().iter().any(|l| l == layer)).then(|| {
            salience_explain::TokenGrid {
                prefix: usize::from(self.config.pool == VitPool::Token),
                rows: self.config.grid(),
                cols: self.config.grid(),
            }
        })
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
        usize::from(self.config.pool == VitPool::Token)
    }

    fn token_grid(&self) -> (usize, usize) {
        (self.config.grid(), self.config.grid())
    }
}
