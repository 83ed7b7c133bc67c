//! Swin Transformer (Liu et al. 2021) with timm 1.0's `SwinTransformer`
//! layout and tensor names (`swin_tiny_patch4_window7_224`:
//! `patch_embed.proj/norm`, `layers.N.downsample.norm/reduction`,
//! `layers.N.blocks.M.{norm1, attn.qkv, attn.proj,
//! attn.relative_position_bias_table, norm2, mlp.fc1, mlp.fc2}`, `norm`,
//! `head.fc`), so a timm `state_dict` saved as safetensors loads as it is.
//!
//! The forward pass is timm 1.0's (NHWC feature maps, kept here as
//! row-major tokens `[N, H·W, C]`): a stride-`patch` convolution and a
//! LayerNorm; four stages, stages 1… starting with patch merging (the
//! 2 × 2 neighbours concatenated in timm's order, LayerNorm, a bias-free
//! linear `4C → 2C`); pre-norm blocks of window attention with a learned
//! relative position bias, every second block on windows cyclically
//! shifted by half a window (`torch.roll`) with timm's attention mask
//! (−100 between tokens from different regions of the shifted map); a
//! window that would cover the whole map, or more, is clipped to the map
//! and not shifted (timm's rule). Then the final `norm`, the mean over the
//! map and the linear `head.fc`. LayerNorm ε = 1e-5 (PyTorch's default);
//! exact GELU. The attention, MLP, LayerNorm and patch embedding are the
//! ViT's ([`super::vit`]).
//!
//! Maps that the windows or the merging do not divide are padded as
//! timm 1.0 pads them, so any input size divisible by the patch runs
//! (e.g. 72² with windows of 7): patch merging zero-pads an odd map at the
//! bottom and right (each stage's side is the previous one halved, rounded
//! up); a block zero-pads its (shifted) normalised map at the bottom and
//! right to a multiple of the window, builds the shift mask on the padded
//! map (timm's `get_attn_mask` on `ceil(r / w) · w`), and crops the
//! attention output back before the reverse shift and the residual. The
//! padding tokens take part in the attention like timm's (zeros, not
//! masked), and gradients flow through the pad and the crop. Not covered:
//! other window sizes per stage.
//!
//! The windowed attention has no global token-to-token matrix, so Swin is
//! not an [`salience_explain::AttentionModel`]: attention rollout and
//! Chefer et al.'s gradient rollout do not apply
//! ([`SwinTransformer::registry`] says so). CAMs take the stage outputs
//! (`layers.*`, `norm`) on their own grids: the windows are merged back
//! into the stage's `H × W` map before each stage ends, so the last
//! stage's map (`layers.3` or `norm`) is the usual CAM layer.
//!
//! The forward pass is written once over [`LayerOps`], so [`RuleForward`]
//! is derived and LRP applies with the transformer rules
//! ([`salience_explain::AttnLrp`]: AttnLRP, Achtibat et al. 2024, or
//! CP-LRP, Ali et al. 2022) for the window attention, LayerNorm and GELU.
//! The relative position bias and the shift mask are constants added to
//! the scores before the softmax: like a bias they take their share of
//! the relevance (the mask's −100 entries get ≈ 0: their probabilities
//! are ≈ e⁻¹⁰⁰). With zero biases (the dense layers', LayerNorms' and the
//! position bias table) and ε → 0, CP-LRP conserves the target logit and
//! AttnLRP does up to what its softmax rule absorbs (tested).

use super::mixer::without_attention;
use super::vit::{
    check_image, check_sizes, count_parameters, patch_conv, patch_tokens, renamed_var_builder,
    timm_constructors, token_linear_with, Attention, Mlp, Norm, Renamer, MAX_VIT_DIM,
};
use candle_core::{bail, Device, Tensor};
use candle_nn::{Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::registry::Registry;
use salience_explain::rules::LayerOps;
#[cfg(doc)]
use salience_explain::{Classifier, LayerSplit, RuleForward};

/// The shape of a [`SwinTransformer`].
#[derive(Debug, Clone, PartialEq)]
pub struct SwinConfig {
    /// Input height and width (square inputs).
    pub image_size: usize,
    /// Patch height and width; divides `image_size`.
    pub patch_size: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Width of the first stage; stage `i` has `embed_dim · 2^i`.
    pub embed_dim: usize,
    /// Blocks per stage (timm: `depths`); at most 8 stages.
    pub depths: Vec<usize>,
    /// Attention heads per stage; each divides its stage's width.
    pub num_heads: Vec<usize>,
    /// Window side (timm: `window_size`); clipped to a stage's map when
    /// the map is not larger.
    pub window_size: usize,
    /// MLP hidden width over block width (timm: `mlp_ratio`; the hidden
    /// width is `⌊width · mlp_ratio⌋`).
    pub mlp_ratio: f64,
    /// Whether the query/key/value projection has a bias (timm: yes).
    pub qkv_bias: bool,
    /// Number of classes.
    pub num_classes: usize,
    /// LayerNorm ε (timm's Swin: PyTorch's default 1e-5).
    pub layer_norm_eps: f64,
}

/// The most stages a [`SwinConfig`] accepts.
const MAX_STAGES: usize = 8;

impl SwinConfig {
    /// timm's `swin_tiny_patch4_window7_224`: 224² RGB, 4² patches (a
    /// 56 × 56 map), widths 96 / 192 / 384 / 768, depths (2, 2, 6, 2), heads
    /// (3, 6, 12, 24), window 7, MLP ratio 4; 28 288 354 parameters with
    /// 1000 classes.
    ///
    /// ```
    /// let c = salience_models::SwinConfig::timm_swin_tiny_patch4_window7_224(1000);
    /// assert_eq!(c.num_parameters(), 28_288_354);
    /// assert_eq!(c.stage_grid(3), 7);
    /// ```
    pub fn timm_swin_tiny_patch4_window7_224(num_classes: usize) -> Self {
        SwinConfig {
            image_size: 224,
            patch_size: 4,
            in_channels: 3,
            embed_dim: 96,
            depths: vec![2, 2, 6, 2],
            num_heads: vec![3, 6, 12, 24],
            window_size: 7,
            mlp_ratio: 4.0,
            qkv_bias: true,
            num_classes,
            layer_norm_eps: 1e-5,
        }
    }

    /// The side of stage `i`'s map: the patch grid halved `i` times,
    /// rounding up (timm's patch merging pads an odd map).
    ///
    /// ```
    /// use salience_models::SwinConfig;
    /// let c = SwinConfig { image_size: 72, ..SwinConfig::timm_swin_tiny_patch4_window7_224(10) };
    /// assert_eq!((0..4).map(|i| c.stage_grid(i)).collect::<Vec<_>>(), vec![18, 9, 5, 3]);
    /// ```
    pub fn stage_grid(&self, i: usize) -> usize {
        let mut r = self.image_size / self.patch_size.max(1);
        for _ in 0..i.min(usize::BITS as usize) {
            r = r.div_ceil(2);
        }
        r
    }

    /// The side of stage `i`'s map padded to a multiple of its window
    /// (what its blocks attend over; the map itself when the window
    /// divides it).
    pub fn stage_padded_grid(&self, i: usize) -> usize {
        let (w, _) = self.stage_window(i);
        self.stage_grid(i).div_ceil(w.max(1)) * w.max(1)
    }

    /// The width of stage `i`: `embed_dim · 2^i`.
    pub fn stage_dim(&self, i: usize) -> usize {
        self.embed_dim.saturating_mul(1 << i.min(MAX_STAGES))
    }

    /// Stage `i`'s window side and shift of its odd blocks (timm's rule:
    /// a window not smaller than the map is clipped to it, unshifted).
    pub fn stage_window(&self, i: usize) -> (usize, usize) {
        let r = self.stage_grid(i);
        if r <= self.window_size {
            (r, 0)
        } else {
            (self.window_size, self.window_size / 2)
        }
    }

    fn mlp_dim(&self, i: usize) -> usize {
        (self.stage_dim(i) as f64 * self.mlp_ratio) as usize
    }

    /// The number of parameters (every tensor of
    /// [`SwinConfig::tensor_shapes`]).
    pub fn num_parameters(&self) -> usize {
        count_parameters(&self.tensor_shapes())
    }

    /// Checks the sizes (all positive, at most [`MAX_VIT_DIM`]; 1 to 8
    /// stages, with as many head counts; the patch divides the image),
    /// that the heads divide each stage's width, and the MLP ratio and ε.
    /// Maps that the windows or the merging do not divide are padded (see
    /// the module docs).
    pub fn validate(&self) -> candle_core::Result<()> {
        let stages = self.depths.len();
        if stages == 0 || stages > MAX_STAGES || self.num_heads.len() != stages {
            bail!(
                "Swin config: {} stage depths and {} head counts (1 to {MAX_STAGES} stages, one head count each)",
                stages,
                self.num_heads.len()
            );
        }
        let (i, p, c, d, k) = (
            self.image_size,
            self.patch_size,
            self.in_channels,
            self.embed_dim,
            self.num_classes,
        );
        let mut named = vec![
            ("window_size".to_string(), self.window_size),
            (
                "the last stage's width".to_string(),
                self.stage_dim(stages - 1),
            ),
        ];
        for (s, (&depth, &heads)) in self.depths.iter().zip(&self.num_heads).enumerate() {
            named.push((format!("depths[{s}]"), depth));
            named.push((format!("num_heads[{s}]"), heads));
        }
        let more: Vec<(&str, usize)> = named.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        check_sizes("Swin", [i, p, c, d, k], &more, self.layer_norm_eps)?;
        if !(self.mlp_ratio.is_finite() && self.mlp_ratio > 0.0)
            || self.mlp_dim(stages - 1) > MAX_VIT_DIM
            || self.mlp_dim(0) == 0
        {
            bail!(
                "Swin config: mlp_ratio = {} gives an MLP width outside 1..={MAX_VIT_DIM}",
                self.mlp_ratio
            );
        }
        for s in 0..stages {
            if self.stage_dim(s) % self.num_heads[s] != 0 {
                bail!(
                    "Swin config: num_heads[{s}] = {} does not divide the stage width {}",
                    self.num_heads[s],
                    self.stage_dim(s)
                );
            }
        }
        Ok(())
    }

    /// The names (timm 1.0's) and shapes of all tensors.
    ///
    /// ```
    /// let s = salience_models::SwinConfig::timm_swin_tiny_patch4_window7_224(1000).tensor_shapes();
    /// let has = |n: &str, d: &[usize]| s.iter().any(|(a, b)| a == n && b == d);
    /// assert!(has("layers.1.downsample.reduction.weight", &[192, 384]));
    /// assert!(has("layers.3.blocks.1.attn.relative_position_bias_table", &[169, 24]));
    /// assert!(has("head.fc.weight", &[1000, 768]));
    /// ```
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d0, p, c) = (self.embed_dim, self.patch_size, self.in_channels);
        let mut s = vec![
            ("patch_embed.proj.weight".to_string(), vec![d0, c, p, p]),
            ("patch_embed.proj.bias".to_string(), vec![d0]),
        ];
        let norm = |s: &mut Vec<(String, Vec<usize>)>, name: String, d: usize| {
            s.push((format!("{name}.weight"), vec![d]));
            s.push((format!("{name}.bias"), vec![d]));
        };
        norm(&mut s, "patch_embed.norm".into(), d0);
        for (i, &depth) in self.depths.iter().enumerate() {
            let d = self.stage_dim(i);
            if i > 0 {
                let n = format!("layers.{i}.downsample");
                norm(&mut s, format!("{n}.norm"), 2 * d);
                s.push((format!("{n}.reduction.weight"), vec![d, 2 * d]));
            }
            let (w, _) = self.stage_window(i);
            let (heads, m) = (self.num_heads[i], self.mlp_dim(i));
            for b in 0..depth {
                let n = |x: &str| format!("layers.{i}.blocks.{b}.{x}");
                norm(&mut s, n("norm1"), d);
                let table = (2 * w - 1) * (2 * w - 1);
                s.push((n("attn.relative_position_bias_table"), vec![table, heads]));
                s.push((n("attn.qkv.weight"), vec![3 * d, d]));
                if self.qkv_bias {
                    s.push((n("attn.qkv.bias"), vec![3 * d]));
                }
                s.push((n("attn.proj.weight"), vec![d, d]));
                s.push((n("attn.proj.bias"), vec![d]));
                norm(&mut s, n("norm2"), d);
                for (fc, rows, cols) in [("mlp.fc1", m, d), ("mlp.fc2", d, m)] {
                    s.push((n(&format!("{fc}.weight")), vec![rows, cols]));
                    s.push((n(&format!("{fc}.bias")), vec![rows]));
                }
            }
        }
        let d = self.stage_dim(self.depths.len().saturating_sub(1));
        norm(&mut s, "norm".into(), d);
        s.push(("head.fc.weight".to_string(), vec![self.num_classes, d]));
        s.push(("head.fc.bias".to_string(), vec![self.num_classes]));
        s
    }

    /// The layers a [`SwinTransformer`] can be split at, in forward order:
    /// `patch_embed` (normalised patch tokens), `layers.0` … (each stage's
    /// `H × W` map as row-major tokens `[N, H·W, C]`), `norm`,
    /// `pre_logits` (the mean token, `[N, C]`) and `head` (the logits).
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["patch_embed".to_string()];
        v.extend((0..self.depths.len()).map(|i| format!("layers.{i}")));
        v.extend(["norm", "pre_logits", "head"].map(String::from));
        v
    }
}

/// Renames `SwinForImageClassification` tensors (hub or transformers 5
/// names) to timm's; see [`SwinTransformer::from_hf_safetensors_bytes`].
fn hf_to_timm_names(mut r: Renamer, depths: &[usize]) -> candle_core::Result<Renamer> {
    r.layer(
        "swin.embeddings.patch_embeddings.projection",
        "patch_embed.proj",
    );
    r.layer("swin.embeddings.norm", "patch_embed.norm");
    r.layer("swin.layernorm", "norm");
    r.layer("classifier", "head.fc");
    for (i, &depth) in depths.iter().enumerate() {
        let stage = format!("swin.encoder.layers.{i}");
        if i + 1 < depths.len() {
            let to = format!("layers.{}.downsample", i + 1);
            r.layer(&format!("{stage}.downsample.norm"), &format!("{to}.norm"));
            r.tensor(
                &format!("{stage}.downsample.reduction.weight"),
                &format!("{to}.reduction.weight"),
            );
        }
        for b in 0..depth {
            let hf = |x: &str| format!("{stage}.blocks.{b}.{x}");
            let timm = |x: &str| format!("layers.{i}.blocks.{b}.{x}");
            r.layer(&hf("layernorm_before"), &timm("norm1"));
            r.layer(&hf("layernorm_after"), &timm("norm2"));
            // the hub checkpoints' names, then transformers 5's
            for (attn, [out, fc1, fc2], table) in [
                (
                    "attention.self",
                    [
                        "attention.output.dense",
                        "intermediate.dense",
                        "output.dense",
                    ],
                    "attention.self",
                ),
                (
                    "attention",
                    ["attention.o_proj", "mlp.fc1", "mlp.fc2"],
                    "attention.relative_position_bias",
                ),
            ] {
                let (q, k, v) = if attn == "attention.self" {
                    ("query", "key", "value")
                } else {
                    ("q_proj", "k_proj", "v_proj")
                };
                r.qkv(
                    [q, k, v].map(|p| hf(&format!("{attn}.{p}"))),
                    &timm("attn.qkv"),
                )?;
                for (from, to) in [(out, "attn.proj"), (fc1, "mlp.fc1"), (fc2, "mlp.fc2")] {
                    r.layer(&hf(from), &timm(to));
                }
                r.tensor(
                    &hf(&format!("{table}.relative_position_bias_table")),
                    &timm("attn.relative_position_bias_table"),
                );
                r.drop(&hf(&format!("{table}.relative_position_index")));
            }
        }
    }
    Ok(r)
}

/// timm's attention mask of a `r × r` map (already padded to a multiple
/// of `w`) shifted by `shift` in windows of `w`: `[windows, w², w²]`, 0
/// between tokens of the same region of the shifted map and −100
/// otherwise (windows and tokens row-major).
fn shift_mask(r: usize, w: usize, shift: usize) -> Vec<f32> {
    let region = |y: usize| usize::from(y >= r - w) + usize::from(y >= r - shift);
    let per = r / w;
    let t = w * w;
    let mut mask = Vec::with_capacity(per * per * t * t);
    for wy in 0..per {
        for wx in 0..per {
            let label = |k: usize| {
                let (y, x) = (wy * w + k / w, wx * w + k % w);
                region(y) * 3 + region(x)
            };
            for i in 0..t {
                for j in 0..t {
                    mask.push(if label(i) == label(j) { 0.0 } else { -100.0 });
                }
            }
        }
    }
    mask
}

/// timm's `relative_position_index` of a `w × w` window, flattened
/// (`[w², w²]` row-major).
fn relative_position_index(w: usize) -> Vec<u32> {
    let t = w * w;
    let mut idx = Vec::with_capacity(t * t);
    for i in 0..t {
        for j in 0..t {
            let dy = i / w + w - 1 - j / w;
            let dx = i % w + w - 1 - j % w;
            idx.push((dy * (2 * w - 1) + dx) as u32);
        }
    }
    idx
}

#[derive(Debug, Clone)]
struct SwinBlock {
    norm1: Norm,
    attn: Attention,
    /// Relative position bias plus the shift mask: `[1 or windows, heads,
    /// w², w²]`.
    bias: Tensor,
    norm2: Norm,
    mlp: Mlp,
    window: usize,
    shift: usize,
    /// The map's side padded to a multiple of the window.
    padded: usize,
}

impl SwinBlock {
    fn new(c: &SwinConfig, stage: usize, b: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let (d, heads, eps) = (c.stage_dim(stage), c.num_heads[stage], c.layer_norm_eps);
        let r = c.stage_padded_grid(stage);
        let (w, half) = c.stage_window(stage);
        let shift = if b % 2 == 1 { half } else { 0 };
        let attn_vb = vb.pp("attn");
        let t = w * w;
        let table = attn_vb.get(
            ((2 * w - 1) * (2 * w - 1), heads),
            "relative_position_bias_table",
        )?;
        let index = Tensor::from_vec(relative_position_index(w), t * t, vb.device())?;
        let rel = table
            .index_select(&index, 0)?
            .reshape((t, t, heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()?;
        let bias = if shift > 0 {
            let windows = (r / w) * (r / w);
            let mask = Tensor::from_vec(shift_mask(r, w, shift), (windows, 1, t, t), vb.device())?;
            mask.broadcast_add(&rel)?.contiguous()?
        } else {
            rel
        };
        Ok(SwinBlock {
            norm1: Norm::new(d, eps, vb.pp("norm1"))?,
            attn: Attention::new(d, heads, c.qkv_bias, attn_vb)?,
            bias,
            norm2: Norm::new(d, eps, vb.pp("norm2"))?,
            mlp: Mlp::new(d, c.mlp_dim(stage), vb.pp("mlp"))?,
            window: w,
            shift,
            padded: r,
        })
    }

    /// A block on `[N, r·r, C]` tokens of an `r × r` map through `ops`
    /// (LayerNorms, the attention's dense layers, products and softmax,
    /// the MLP and the residual sums; the relative position bias and the
    /// shift mask are constants added to the scores before the softmax).
    fn forward(&self, x: &Tensor, r: usize, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let (n, _, c) = x.dims3()?;
        let (w, s, rp) = (self.window, self.shift as i32, self.padded);
        let per = rp / w;
        let mut h = self.norm1.forward_with(x, ops)?.reshape((n, r, r, c))?;
        if s > 0 {
            h = h.roll(-s, 1)?.roll(-s, 2)?;
        }
        if rp > r {
            // timm: F.pad after the shift, zeros at the bottom and right
            h = h
                .pad_with_zeros(1, 0, rp - r)?
                .pad_with_zeros(2, 0, rp - r)?;
        }
        let windows = h
            .reshape((n, per, w, per, w, c))?
            .permute((0, 1, 3, 2, 4, 5))?
            .reshape((n * per * per, w * w, c))?;
        let (a, _) = self
            .attn
            .forward_with(&windows, Some(&self.bias), None, per * per, ops)?;
        let mut h = a
            .reshape((n, per, per, w, w, c))?
            .permute((0, 1, 3, 2, 4, 5))?
            .reshape((n, rp, rp, c))?;
        if rp > r {
            h = h.narrow(1, 0, r)?.narrow(2, 0, r)?;
        }
        if s > 0 {
            h = h.roll(s, 1)?.roll(s, 2)?;
        }
        let x = ops.add(x, &h.reshape((n, r * r, c))?)?;
        let m = self
            .mlp
            .forward_with(&self.norm2.forward_with(&x, ops)?, ops)?;
        ops.add(&x, &m)
    }
}

/// timm's `PatchMerging`: each 2 × 2 neighbourhood's features
/// concatenated (timm's order), LayerNorm, a bias-free linear `4C → 2C`.
#[derive(Debug, Clone)]
struct PatchMerging {
    /// The layer-name prefix (`layers.{i}.downsample`).
    name: String,
    norm: Norm,
    reduction: Linear,
}

impl PatchMerging {
    /// `[N, r·r, C]` tokens of an `r × r` map → `[N, ⌈r/2⌉², 2C]` (an odd
    /// map zero-padded at the bottom and right first, as timm does), the
    /// LayerNorm and the reduction through `ops`.
    fn forward(&self, x: &Tensor, r: usize, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let (n, _, c) = x.dims3()?;
        let mut h = x.reshape((n, r, r, c))?;
        if r % 2 == 1 {
            h = h.pad_with_zeros(1, 0, 1)?.pad_with_zeros(2, 0, 1)?;
        }
        let q = r.div_ceil(2);
        let h = h
            .reshape((n, q, 2, q, 2, c))?
            .permute((0, 1, 3, 4, 2, 5))?
            .reshape((n, q * q, 4 * c))?;
        let reduction = format!("{}.reduction", self.name);
        token_linear_with(
            ops,
            &reduction,
            &self.reduction,
            &self.norm.forward_with(&h, ops)?,
        )
    }
}

#[derive(Debug, Clone)]
struct Stage {
    downsample: Option<PatchMerging>,
    blocks: Vec<SwinBlock>,
    /// The side of the stage's map (after merging).
    grid: usize,
    /// The side of the map merged into it (the previous stage's).
    in_grid: usize,
}

/// A Swin Transformer (see the module docs), implementing [`Classifier`],
/// [`LayerSplit`] (layers of [`SwinConfig::layer_names`]) and
/// [`RuleForward`], so every gradient, perturbation and representation
/// method, the CAMs on each stage's map, LRP and AttnLRP / CP-LRP accept
/// it.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_models::{SwinConfig, SwinTransformer};
/// use salience_explain::{Classifier, LayerSplit};
/// let c = SwinConfig { image_size: 32, patch_size: 4, embed_dim: 8, depths: vec![2, 1],
///     num_heads: vec![1, 2], window_size: 4, num_classes: 3,
///     ..SwinConfig::timm_swin_tiny_patch4_window7_224(3) };
/// let m = SwinTransformer::seeded(&c, 0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 3]);
/// assert_eq!(m.activations(&x, "layers.1").unwrap().dims(), &[2, 16, 16]); // 4 × 4 map, width 16
/// assert_eq!(m.token_grid("layers.1").map(|g| (g.prefix, g.rows, g.cols)), Some((0, 4, 4)));
/// ```
#[derive(Debug, Clone)]
pub struct SwinTransformer {
    config: SwinConfig,
    patch: candle_nn::Conv2d,
    patch_norm: Norm,
    stages: Vec<Stage>,
    norm: Norm,
    head: Linear,
    device: Device,
}

impl SwinTransformer {
    /// Builds the network of `config` from `vb` (timm 1.0's names).
    pub fn new(vb: VarBuilder, config: &SwinConfig) -> candle_core::Result<Self> {
        config.validate()?;
        let (d0, eps) = (config.embed_dim, config.layer_norm_eps);
        let pe = vb.pp("patch_embed");
        let patch = patch_conv(config.in_channels, d0, config.patch_size, pe.pp("proj"))?;
        let patch_norm = Norm::new(d0, eps, pe.pp("norm"))?;
        let mut stages = Vec::with_capacity(config.depths.len());
        for (i, &depth) in config.depths.iter().enumerate() {
            let svb = vb.pp("layers").pp(i.to_string());
            let d = config.stage_dim(i);
            let downsample = if i > 0 {
                let dvb = svb.pp("downsample");
                Some(PatchMerging {
                    name: dvb.prefix(),
                    norm: Norm::new(2 * d, eps, dvb.pp("norm"))?,
                    reduction: candle_nn::linear_no_bias(2 * d, d, dvb.pp("reduction"))?,
                })
            } else {
                None
            };
            let blocks = (0..depth)
                .map(|b| SwinBlock::new(config, i, b, svb.pp("blocks").pp(b.to_string())))
                .collect::<candle_core::Result<Vec<_>>>()?;
            stages.push(Stage {
                downsample,
                blocks,
                grid: config.stage_grid(i),
                in_grid: config.stage_grid(i.saturating_sub(1)),
            });
        }
        let d = config.stage_dim(config.depths.len() - 1);
        Ok(SwinTransformer {
            config: config.clone(),
            patch,
            patch_norm,
            stages,
            norm: Norm::new(d, eps, vb.pp("norm"))?,
            head: candle_nn::linear(d, config.num_classes, vb.pp("head").pp("fc"))?,
            device: vb.device().clone(),
        })
    }

    /// The network of `config` from safetensors `bytes` with Hugging Face
    /// `transformers` `SwinForImageClassification` names, the hub
    /// checkpoints' (`microsoft/swin-tiny-patch4-window7-224`:
    /// `swin.encoder.layers.{i}.blocks.{j}.attention.self.query`, …,
    /// `intermediate.dense`, `output.dense`, with the
    /// `relative_position_index` buffers, which are dropped: they are
    /// recomputed) or transformers 5's (`attention.q_proj`, …,
    /// `attention.relative_position_bias.relative_position_bias_table`,
    /// `mlp.fc1`): renamed to timm's (query / key / value concatenated into
    /// `qkv`; transformers' `layers.{i}.downsample`, which ends stage `i`,
    /// is timm's `layers.{i+1}.downsample`, which starts stage `i + 1`),
    /// then checked as in [`SwinTransformer::from_safetensors_bytes`].
    /// transformers' defaults match [`SwinConfig`]'s (LayerNorm ε 1e-5,
    /// exact GELU, the same merging order and shift mask), so on inputs
    /// whose maps the windows divide (224² with windows of 7) the logits
    /// are transformers'. On other sizes the forward pass stays timm's:
    /// transformers pads a block's map *before* the cyclic shift, timm
    /// after it, so there the two libraries differ.
    pub fn from_hf_safetensors_bytes(
        bytes: &[u8],
        config: &SwinConfig,
        what: &str,
        device: &Device,
    ) -> crate::Result<Self> {
        config
            .validate()
            .map_err(salience_explain::model::convert::candle_error)?;
        let vb = renamed_var_builder(bytes, &config.tensor_shapes(), what, device, |r| {
            hf_to_timm_names(r, &config.depths)
        })?;
        Self::new(vb, config).map_err(salience_explain::model::convert::candle_error)
    }

    /// The configuration.
    pub fn config(&self) -> &SwinConfig {
        &self.config
    }

    /// The built-in explainer registry for this model
    /// ([`Registry::with_builtins`]) in which `attention_rollout` and
    /// `gradient_rollout` (and their aliases) are typed errors saying why
    /// they do not apply: Swin attends within local windows only. AttnLRP
    /// and CP-LRP (`attnlrp`, `cp_lrp`: [`Registry::with_attention_lrp`])
    /// do apply and are included; `lrp` comes with [`Registry::with_rules`]
    /// and the input range.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use salience_models::{SwinConfig, SwinTransformer};
    /// let c = SwinConfig { image_size: 16, patch_size: 4, embed_dim: 4, depths: vec![2],
    ///     num_heads: vec![1], window_size: 2, ..SwinConfig::timm_swin_tiny_patch4_window7_224(3) };
    /// let m = Arc::new(SwinTransformer::seeded(&c, 0, &candle_core::Device::Cpu).unwrap());
    /// assert!(SwinTransformer::registry().build(&"rollout".parse().unwrap(), &m).is_err());
    /// let e = SwinTransformer::registry().build(&"cp-lrp".parse().unwrap(), &m).unwrap();
    /// assert_eq!(e.name(), "cp_lrp");
    /// ```
    pub fn registry() -> Registry<Self> {
        without_attention(
            "Swin's attention is within (shifted) local windows, so there is no global \
             token-to-token attention matrix to roll out; use a gradient method or a CAM on \
             `layers.*` or `norm`",
        )
        .with_attention_lrp()
    }

    /// Stage `k` of [`SwinConfig::layer_names`] applied to `h` with `ops`.
    fn stage_with(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        let n = self.stages.len();
        match k {
            0 => {
                let tokens = patch_tokens(ops, "patch_embed.proj", &self.patch, h)?;
                self.patch_norm.forward_with(&tokens, ops)
            }
            k if k <= n => {
                let stage = &self.stages[k - 1];
                let mut h = match &stage.downsample {
                    Some(m) => m.forward(h, stage.in_grid, ops)?,
                    None => h.clone(),
                };
                for b in &stage.blocks {
                    h = b.forward(&h, stage.grid, ops)?;
                }
                Ok(h)
            }
            k if k == n + 1 => self.norm.forward_with(h, ops),
            k if k == n + 2 => h.mean(1),
            k if k == n + 3 => ops.linear("head.fc", &self.head, h),
            _ => bail!("Swin stage {k} out of range"),
        }
    }
}

/// The forward pass, written once over [`LayerOps`] (patch embedding,
/// every LayerNorm, dense layer, attention product, softmax, GELU and
/// residual sum; the shifts, window partitions, padding, crops, the
/// merging's rearrangement and the token mean are linear and keep their
/// gradient): [`Classifier`], [`LayerSplit`] and [`RuleForward`] are
/// derived from it, so LRP and the transformer rules
/// ([`salience_explain::AttnLrp`]: AttnLRP and CP-LRP) apply. Layer names
/// are timm's (`patch_embed.proj`, `layers.{i}.blocks.{b}.attn.qkv`,
/// `layers.{i}.downsample.reduction`, …, `head.fc`).
impl StagedForward for SwinTransformer {
    fn stage_names(&self) -> Vec<String> {
        self.config.layer_names()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        self.stage_with(k, h, ops)
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        check_image("Swin", x, self.config.in_channels, self.config.image_size)
    }

    /// `patch_embed`, `layers.*` and `norm` output row-major tokens of a
    /// square map (no prefix tokens), so the CAMs take them.
    fn token_grid(&self, layer: &str) -> Option<salience_explain::TokenGrid> {
        let last = self.stages.len().saturating_sub(1);
        let stage = match layer {
            "patch_embed" => Some(0),
            "norm" => Some(last),
            l => l
                .strip_prefix("layers.")
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|&i| i <= last && layer == format!("layers.{i}")),
        }?;
        let r = self.config.stage_grid(stage);
        Some(salience_explain::TokenGrid {
            prefix: 0,
            rows: r,
            cols: r,
        })
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(SwinTransformer);
timm_constructors!(SwinTransformer, SwinConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_position_index_is_timms() {
        // timm 1.0.31: get_relative_position_index(2, 2).flatten().
        let want = [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4];
        assert_eq!(relative_position_index(2), want);
        // The centre entry (no offset) is on the diagonal for any window.
        let w = 7;
        let idx = relative_position_index(w);
        let centre = ((w - 1) * (2 * w - 1) + (w - 1)) as u32;
        assert!((0..w * w).all(|i| idx[i * w * w + i] == centre));
        assert!(idx
            .iter()
            .all(|&v| (v as usize) < (2 * w - 1) * (2 * w - 1)));
    }

    #[test]
    fn shift_mask_is_timms() {
        // A 4 × 4 map, windows of 2, shift 1: regions by row/column are
        // 0, 0, 1, 2. timm 1.0.31's attn_mask != 0, window by window.
        let want: [[u8; 16]; 4] = [
            [0; 16],
            [0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0],
            [0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0],
            [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0],
        ];
        let mask = shift_mask(4, 2, 1);
        assert_eq!(mask.len(), 64);
        for (k, row) in want.iter().enumerate() {
            for (i, &m) in row.iter().enumerate() {
                let v = mask[k * 16 + i];
                assert_eq!(v, if m == 1 { -100.0 } else { 0.0 }, "window {k} entry {i}");
            }
        }
    }
}
