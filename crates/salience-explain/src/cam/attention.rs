//! Attention-based explanations of vision transformers: the
//! [`AttentionModel`] seam and two explainers over it.
//!
//! * [`AttentionRollout`] (Abnar & Zuidema 2020, "Quantifying Attention
//!   Flow in Transformers"): each block's head-fused attention plus the
//!   residual path, `Â_b = ½·Ā_b + ½·I` (rows renormalised to 1), is
//!   multiplied through the blocks, `R = Â_L ⋯ Â_1`; class-agnostic.
//! * [`GradientRollout`] (Chefer, Gur & Wolf 2021, "Generic Attention-model
//!   Explainability for Interpreting Bi-Modal and Encoder-Decoder
//!   Transformers", ICCV, eqs. 5–6): each block's attention weighted by the
//!   target logit's gradient with respect to it,
//!   `Ā_b = E_h[(∇A_b ⊙ A_b)⁺]`, accumulated as `R ← R + Ā_b·R` from
//!   `R = I`, i.e. `R = (I + Ā_L) ⋯ (I + Ā_1)`; class-specific.
//!
//! The map of an input is the row of `R` that the classification reads —
//! the class token's row for class-token models, the mean of the patch
//! tokens' rows for average-pooling models — restricted to the patch
//! tokens, reshaped to the patch grid and upsampled bilinearly to the input
//! (as the CAMs are). [`AttentionRollout::token_maps`] and
//! [`GradientRollout::token_maps`] return the grid itself.
//!
//! Only that row is needed, so the products are vector–matrix products:
//! `O(blocks · heads · T²)` per input for `T` tokens, computed in f64 on
//! the host from the device's attention probabilities. Models accept an
//! additive offset per block whose gradient is the gradient with respect
//! to the probabilities (candle keeps gradients only for `Var`s, so the
//! offsets are zero `Var`s). Chefer et al.'s CVPR 2021 method, which
//! propagates LRP relevance through every layer, is not built; AttnLRP
//! ([`crate::rules::attn_lrp`]) is the LRP route.
//!
//! Tested against full matrix products computed from timm's own attention
//! probabilities, and the attention gradients against central finite
//! differences.

use crate::cam::image_chunk;
use crate::cam::{map_image_chunks, upsample_maps, validate_images, ImageInfo};
use crate::model::classifier::Classifier;
use crate::model::convert::{candle_error, tensor_to_vec};
use candle_core::{Tensor, Var};
use ndarray::{Array3, ArrayD, ArrayViewD, IxDyn};
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};

/// A transformer classifier whose self-attention probabilities can be read
/// and differentiated: the seam of the attention-based explainers.
/// `salience_models::VisionTransformer` implements it.
pub trait AttentionModel: Classifier {
    /// The number of blocks, heads per block and tokens per input: the
    /// shape `[N, heads, tokens, tokens]` of each block's probabilities.
    fn attention_shape(&self) -> (usize, usize, usize);

    /// The logits `[N, classes]` and each block's attention probabilities
    /// `[N, heads, T, T]` (rows: queries, columns: keys). With `offsets`
    /// (one tensor per block, of that shape), `offsets[b]` is added to
    /// block `b`'s probabilities before they weight the values, so the
    /// gradient of the logits with respect to an all-zero offset is their
    /// gradient with respect to the probabilities.
    fn attention_forward(
        &self,
        x: &Tensor,
        offsets: Option<&[Tensor]>,
    ) -> candle_core::Result<(Tensor, Vec<Tensor>)>;

    /// How many leading tokens are not image patches (1 for a class token,
    /// 0 for an average-pooling model).
    fn prefix_tokens(&self) -> usize;

    /// The patch grid (rows, columns); patch tokens follow the prefix
    /// tokens in row-major order.
    fn token_grid(&self) -> (usize, usize);
}

macro_rules! forward_attention_model {
    ($($ptr:ty),*) => {$(
        impl<M: AttentionModel + ?Sized> AttentionModel for $ptr {
            fn attention_shape(&self) -> (usize, usize, usize) {
                (**self).attention_shape()
            }
            fn attention_forward(
                &self,
                x: &Tensor,
                offsets: Option<&[Tensor]>,
            ) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
                (**self).attention_forward(x, offsets)
            }
            fn prefix_tokens(&self) -> usize {
                (**self).prefix_tokens()
            }
            fn token_grid(&self) -> (usize, usize) {
                (**self).token_grid()
            }
        }
    )*};
}

forward_attention_model!(&M, Box<M>, std::sync::Arc<M>);

/// How [`AttentionRollout`] fuses a block's heads; parses from `mean`,
/// `max` or `min`.
///
/// ```
/// use salience_explain::HeadFusion;
/// assert_eq!("max".parse::<HeadFusion>().unwrap(), HeadFusion::Max);
/// assert!("median".parse::<HeadFusion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadFusion {
    /// The mean over heads (Abnar & Zuidema).
    #[default]
    Mean,
    /// The element-wise maximum over heads.
    Max,
    /// The element-wise minimum over heads.
    Min,
}

impl std::str::FromStr for HeadFusion {
    type Err = SalienceError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mean" => Ok(HeadFusion::Mean),
            "max" => Ok(HeadFusion::Max),
            "min" => Ok(HeadFusion::Min),
            _ => Err(SalienceError::invalid(
                "head_fusion",
                s,
                "expected mean, max or min",
            )),
        }
    }
}

/// Configuration of [`AttentionRollout`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttentionRolloutConfig {
    /// How each block's heads are fused. Default [`HeadFusion::Mean`].
    pub head_fusion: HeadFusion,
    /// The fraction in `[0, 1)` of each block's fused attention entries,
    /// the smallest, set to 0 before the residual path is added (the
    /// class token's attention to itself is never discarded), as in the
    /// widely used vit-explain code. Default 0 (the paper's rollout).
    pub discard_ratio: f64,
    /// Inputs per forward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for AttentionRolloutConfig {
    fn default() -> Self {
        AttentionRolloutConfig {
            head_fusion: HeadFusion::Mean,
            discard_ratio: 0.0,
            batch_size: BatchSize::Auto,
        }
    }
}

/// Attention rollout (see the module docs). Deterministic and
/// class-agnostic: targets are validated but do not change the map.
/// Returns `[N, H, W]` pixel maps for `[N, C, H, W]` inputs.
#[derive(Debug, Clone)]
pub struct AttentionRollout<M> {
    model: M,
    config: AttentionRolloutConfig,
}

impl<M: AttentionModel> AttentionRollout<M> {
    /// Rollout with the default configuration.
    pub fn new(model: M) -> Self {
        Self::with_config(model, AttentionRolloutConfig::default())
    }

    /// Rollout with `config` (checked when explaining).
    pub fn with_config(model: M, config: AttentionRolloutConfig) -> Self {
        AttentionRollout { model, config }
    }

    /// The token-grid maps `[N, rows, cols]` before upsampling.
    pub fn token_maps(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
    ) -> Result<Array3<f32>> {
        let r = self.config.discard_ratio;
        if !(0.0..1.0).contains(&r) {
            return Err(SalienceError::invalid(
                "discard_ratio",
                r,
                "must be in [0, 1)",
            ));
        }
        let fusion = self.config.head_fusion;
        let prefix = self.model.prefix_tokens();
        run_rows(
            &self.model,
            &inputs,
            targets,
            self.config.batch_size,
            false,
            &|attn, _grad, heads, t| {
                let mut m = fuse_heads(attn, heads, t, fusion);
                discard_smallest(&mut m, t, r, prefix > 0);
                for i in 0..t {
                    let row = &mut m[i * t..(i + 1) * t];
                    row.iter_mut().for_each(|v| *v *= 0.5);
                    row[i] += 0.5;
                    let s: f64 = row.iter().sum();
                    row.iter_mut().for_each(|v| *v /= s);
                }
                m
            },
        )
    }
}

impl<M: AttentionModel> Explainer for AttentionRollout<M> {
    fn name(&self) -> &str {
        "attention_rollout"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let maps = self.token_maps(inputs.view(), targets)?;
        upsample_to_input(&self.model, maps, inputs.shape())
    }
}

/// Configuration of [`GradientRollout`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradientRolloutConfig {
    /// Inputs per forward/backward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl Default for GradientRolloutConfig {
    fn default() -> Self {
        GradientRolloutConfig {
            batch_size: BatchSize::Auto,
        }
    }
}

/// Chefer et al.'s gradient-weighted attention rollout (see the module
/// docs). Deterministic and class-specific. Returns `[N, H, W]` pixel maps
/// for `[N, C, H, W]` inputs.
#[derive(Debug, Clone)]
pub struct GradientRollout<M> {
    model: M,
    config: GradientRolloutConfig,
}

impl<M: AttentionModel> GradientRollout<M> {
    /// The method with the default configuration.
    pub fn new(model: M) -> Self {
        Self::with_config(model, GradientRolloutConfig::default())
    }

    /// The method with `config` (checked when explaining).
    pub fn with_config(model: M, config: GradientRolloutConfig) -> Self {
        GradientRollout { model, config }
    }

    /// The token-grid maps `[N, rows, cols]` before upsampling.
    pub fn token_maps(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
    ) -> Result<Array3<f32>> {
        run_rows(
            &self.model,
            &inputs,
            targets,
            self.config.batch_size,
            true,
            &|attn, grad, heads, t| {
                let tt = t * t;
                let mut m = vec![0f64; tt];
                for h in 0..heads {
                    let (a, g) = (&attn[h * tt..(h + 1) * tt], &grad[h * tt..(h + 1) * tt]);
                    for ((o, &a), &g) in m.iter_mut().zip(a).zip(g) {
                        *o += (a as f64 * g as f64).max(0.0);
                    }
                }
                for (i, v) in m.iter_mut().enumerate() {
                    *v /= heads as f64;
                    if i % (t + 1) == 0 {
                        *v += 1.0; // I + Ā_b
                    }
                }
                m
            },
        )
    }
}

impl<M: AttentionModel> Explainer for GradientRollout<M> {
    fn name(&self) -> &str {
        "gradient_rollout"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let maps = self.token_maps(inputs.view(), targets)?;
        upsample_to_input(&self.model, maps, inputs.shape())
    }
}

/// One sample's `[heads, T, T]` probabilities (and gradients, or an empty
/// slice) → the block's `T × T` matrix `M_b` (row-major, f64).
type BlockMatrix<'a> = dyn Fn(&[f32], &[f32], usize, usize) -> Vec<f64> + 'a;

/// The head-fused `T × T` attention of one sample's `[heads, T, T]` block.
fn fuse_heads(attn: &[f32], heads: usize, t: usize, fusion: HeadFusion) -> Vec<f64> {
    let tt = t * t;
    let mut m: Vec<f64> = attn[..tt].iter().map(|&v| v as f64).collect();
    for h in 1..heads {
        for (o, &a) in m.iter_mut().zip(&attn[h * tt..(h + 1) * tt]) {
            let a = a as f64;
            *o = match fusion {
                HeadFusion::Mean => *o + a,
                HeadFusion::Max => o.max(a),
                HeadFusion::Min => o.min(a),
            };
        }
    }
    if fusion == HeadFusion::Mean {
        m.iter_mut().for_each(|v| *v /= heads as f64);
    }
    m
}

/// Sets the `⌊ratio · T²⌋` smallest entries to 0 (never entry (0, 0) when
/// `keep_first`); ties are broken by position, so the result is
/// deterministic.
fn discard_smallest(m: &mut [f64], t: usize, ratio: f64, keep_first: bool) {
    let k = (ratio * (t * t) as f64).floor() as usize;
    if k == 0 {
        return;
    }
    let mut idx: Vec<usize> = (usize::from(keep_first)..t * t).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return;
    }
    idx.select_nth_unstable_by(k - 1, |&a, &b| m[a].total_cmp(&m[b]).then(a.cmp(&b)));
    for &i in &idx[..k] {
        m[i] = 0.0;
    }
}

/// Runs the model over the inputs in chunks, and for each sample computes
/// the read-out row `vᵀ M_L ⋯ M_1` (v: the class token, or the mean of the
/// patch tokens), returning its patch entries as `[N, rows, cols]`.
fn run_rows<M: AttentionModel + ?Sized>(
    model: &M,
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    batch_size: BatchSize,
    with_grad: bool,
    block: &BlockMatrix<'_>,
) -> Result<Array3<f32>> {
    let info = validate_images(inputs, targets, model.num_classes())?;
    let batch_size = image_chunk(model, batch_size, &info, with_grad)?;
    let (blocks, heads, t) = model.attention_shape();
    let prefix = model.prefix_tokens();
    let (gh, gw) = model.token_grid();
    if blocks == 0 || heads == 0 || prefix + gh * gw != t || gh * gw == 0 {
        return Err(SalienceError::Model(format!(
            "attention model reports {blocks} blocks, {heads} heads, {t} tokens, {prefix} prefix tokens and a {gh}x{gw} grid; they do not fit together"
        )));
    }
    let out = map_image_chunks(inputs, &info, batch_size, model.device(), |x, rows| {
        let len = rows.len();
        let (attn, grads) =
            chunk_attention(model, x, &targets[rows], (blocks, heads, t), with_grad)?;
        let per = heads * t * t;
        let mut out = Vec::with_capacity(len * gh * gw);
        for j in 0..len {
            let mut v = vec![0f64; t];
            if prefix > 0 {
                v[0] = 1.0;
            } else {
                v.iter_mut().for_each(|x| *x = 1.0 / t as f64);
            }
            for b in (0..blocks).rev() {
                let a = &attn[b][j * per..(j + 1) * per];
                let g = if with_grad {
                    &grads[b][j * per..(j + 1) * per]
                } else {
                    &[][..]
                };
                let m = block(a, g, heads, t);
                let mut next = vec![0f64; t];
                for (i, &vi) in v.iter().enumerate() {
                    if vi != 0.0 {
                        for (o, &mij) in next.iter_mut().zip(&m[i * t..(i + 1) * t]) {
                            *o += vi * mij;
                        }
                    }
                }
                v = next;
            }
            out.extend(v[prefix..].iter().map(|&x| x as f32));
        }
        Ok(out)
    })?;
    if let Some((index, &value)) = out.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SalienceError::NonFinite {
            context: "attention rollout".into(),
            index,
            value,
        });
    }
    Array3::from_shape_vec((info.n, gh, gw), out).map_err(|e| SalienceError::backend("ndarray", e))
}

/// Flat per-block values of one chunk.
type BlockValues = Vec<Vec<f32>>;

/// One chunk's attention probabilities per block (flat `[len, heads, T,
/// T]`), and with `with_grad` the gradients of the summed target logits
/// with respect to them.
fn chunk_attention<M: AttentionModel + ?Sized>(
    model: &M,
    x: &Tensor,
    targets: &[usize],
    (blocks, heads, t): (usize, usize, usize),
    with_grad: bool,
) -> Result<(BlockValues, BlockValues)> {
    let len = targets.len();
    let offsets: Vec<Var> = if with_grad {
        (0..blocks)
            .map(|_| {
                Var::zeros((len, heads, t, t), candle_core::DType::F32, model.device())
                    .map_err(candle_error)
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let offset_tensors: Vec<Tensor> = offsets.iter().map(|v| v.as_tensor().clone()).collect();
    let (logits, attn) = model
        .attention_forward(x, with_grad.then_some(offset_tensors.as_slice()))
        .map_err(|e| crate::model::convert::model_call_error(e, x.dims()))?;
    if attn.len() != blocks || attn.iter().any(|a| a.dims() != [len, heads, t, t]) {
        return Err(SalienceError::Model(format!(
            "attention_forward returned {} maps of shapes {:?}; expected {blocks} of [{len}, {heads}, {t}, {t}]",
            attn.len(),
            attn.iter().map(|a| a.dims().to_vec()).collect::<Vec<_>>()
        )));
    }
    let attn_host = attn.iter().map(tensor_to_vec).collect::<Result<Vec<_>>>()?;
    if !with_grad {
        return Ok((attn_host, Vec::new()));
    }
    let idx: Vec<u32> = targets.iter().map(|&c| c as u32).collect();
    let idx = Tensor::from_vec(idx, (len, 1), model.device()).map_err(candle_error)?;
    let selected = logits
        .gather(&idx, 1)
        .and_then(|s| s.sum_all())
        .map_err(candle_error)?;
    let grads = selected.backward().map_err(candle_error)?;
    let mut out = Vec::with_capacity(blocks);
    for o in &offset_tensors {
        match grads.get(o) {
            Some(g) => out.push(tensor_to_vec(g)?),
            // No path from this block's attention to the logits.
            None => out.push(vec![0.0; len * heads * t * t]),
        }
    }
    Ok((attn_host, out))
}

/// Upsamples token maps `[N, rows, cols]` to the input's `[N, H, W]`.
fn upsample_to_input<M: AttentionModel + ?Sized>(
    model: &M,
    maps: Array3<f32>,
    input_shape: &[usize],
) -> Result<AttributionBatch> {
    let (n, gh, gw) = maps.dim();
    let info = ImageInfo {
        n,
        c: input_shape[1],
        h: input_shape[2],
        w: input_shape[3],
    };
    let flat = maps.into_raw_vec_and_offset().0;
    let up = upsample_maps(flat, n, (gh, gw), (info.h, info.w), model.device())?;
    let a = ArrayD::from_shape_vec(IxDyn(&[n, info.h, info.w]), up)
        .map_err(|e| SalienceError::backend("ndarray", e))?;
    AttributionBatch::new(a)
}
