//! PolyCAM (Englebert, Cornu & De Vleeschouwer 2022, "Poly-CAM: high
//! resolution class activation map for convolutional neural networks"),
//! the variant used in Mahlau & Nolde (2022) ("channel-wise variation of confidence as
//! activation map weights").
//!
//! # Definition (as in the authors' reference implementation)
//! Let `s(x) = softmax(f(x))_c` be the target-class confidence (a sigmoid
//! for single-output models). For a layer `l` with activations `A_k`
//! `[h_l, w_l]`, each channel becomes a mask
//! `m_k = up(N(A_k))`, where `N` is the outlier-robust normalisation
//! `N(a) = clamp((a − q₀.₁(a)) / max(q₉₉.₉(a), 10⁻¹²), 0, 1)` (q_p: the
//! p-th percentile of the map, linear interpolation as NumPy; note the
//! division by the upper percentile, not by the range, as in the
//! reference) and `up` is bilinear resampling to the input size. The
//! channel weights are, per [`PolyCamVariant`]:
//! * PCAM⁺: `w_k = s(x ⊙ m_k)`,
//! * PCAM⁻: `w_k = ReLU(s(x) − s(x ⊙ (1 − m_k)))`,
//! * PCAM± (default): `w_k = ReLU(s(x ⊙ m_k) + s(x) − s(x ⊙ (1 − m_k)))`.
//!
//! The layer map is `M_l = ReLU(Σ_k w_k A_k)`. Layers are combined from the
//! last (coarsest) to the first: `P = M_L`, then for each earlier layer
//! `P ← ReLU(LNorm(M_l) ⊙ up_l(P))`, where `up_l` resamples to layer `l`'s
//! size and the local relevance normalisation divides `M_l` by
//! `max(up_l(down(M_l)), 10⁻¹²)`, `down` resampling `M_l` to the size of
//! the previous `P`. The result is `up(N(P))` at the input size, in
//! `[0, 1]`. All resampling is bilinear with `align_corners = false`.
//!
//! # Cost and chunking
//! Every channel of every layer costs one (PCAM⁺, PCAM⁻) or two (PCAM±)
//! masked inputs per input (`Σ_l K_l` or `2 Σ_l K_l`). The masked inputs
//! of all inputs and channels of a layer are generated point by point
//! (each mask upsampled when its point is built) and evaluated
//! `batch_size` at a time, forward only; layer activations are computed
//! `batch_size` inputs at a time. Memory holds one chunk of masked inputs
//! and the layer activations, whatever the number of channels.

use crate::cam::{
    check_finite_slice, chunk_tensor, matmul_skip_zeros, split_activations, validate_images,
    ImageInfo,
};
use crate::gradient::{chunk_size, contiguous, flat_slice};
use crate::model::convert::{candle_error, tensor_to_vec};
use crate::model::split::LayerSplit;
use crate::ops::upsample::interpolation_matrix;
use candle_core::{Device, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::batch::Pass;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, SalienceError, Seeds};

/// How PolyCAM weighs the channels of a layer (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PolyCamVariant {
    /// PCAM⁺: the confidence when only the channel's mask is kept.
    Plus,
    /// PCAM⁻: the confidence drop when the channel's mask is removed.
    Minus,
    /// PCAM±: both (two forward passes per channel). The default.
    #[default]
    #[serde(alias = "pm")]
    PlusMinus,
}

/// Configuration of [`PolyCam`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolyCamConfig {
    /// The layers, in forward order (e.g. the last layer of each
    /// resolution stage); at least one.
    pub layers: Vec<String>,
    /// The channel-weighting variant. Default PCAM±.
    pub variant: PolyCamVariant,
    /// Use the local relevance normalisation when combining layers
    /// (reference default `true`).
    pub lnorm: bool,
    /// Masked inputs per forward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl PolyCamConfig {
    /// PCAM± over `layers` (forward order), with local normalisation.
    ///
    /// ```
    /// let c = salience_explain::PolyCamConfig::new(&["conv1", "conv2"]);
    /// assert_eq!(c.variant, salience_explain::PolyCamVariant::PlusMinus);
    /// ```
    pub fn new(layers: &[&str]) -> Self {
        PolyCamConfig {
            layers: layers.iter().map(|s| s.to_string()).collect(),
            variant: PolyCamVariant::PlusMinus,
            lnorm: true,
            batch_size: BatchSize::Auto,
        }
    }
}

/// The PolyCAM explainer. Deterministic (ignores seeds). Returns `[N, H,
/// W]` maps in `[0, 1]` for `[N, C, H, W]` inputs. Layers may be feature
/// maps `[N, K, h, w]` or transformer tokens `[N, T, D]` of a layer the
/// model describes with [`LayerSplit::token_grid`] (read as the `[D, rows,
/// cols]` patch grid, class tokens dropped, as by every CAM).
///
/// ```
/// use candle_core::Tensor;
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{PolyCam, PolyCamConfig, SequentialClassifier};
/// let m = SequentialClassifier::new(2)
///     .push("features", |x: &Tensor| x.relu())
///     .push("head", |a: &Tensor| {
///         let s = a.flatten_from(1)?.sum_keepdim(1)?;
///         Tensor::cat(&[&s, &s.neg()?], 1)
///     });
/// let x = ndarray::Array4::from_shape_fn((2, 1, 3, 3), |(n, _, i, j)| (n + i * j) as f32).into_dyn();
/// let a = PolyCam::new(&m, &["features"]).explain(x.view(), &[0, 0], Seeds::base(0))?;
/// assert_eq!(a.shape(), &[2, 3, 3]);
/// assert!(a.view().iter().all(|v| (0.0..=1.0).contains(v)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PolyCam<M> {
    model: M,
    config: PolyCamConfig,
}

impl<M: LayerSplit> PolyCam<M> {
    /// PCAM± over `layers` (forward order).
    pub fn new(model: M, layers: &[&str]) -> Self {
        Self::with_config(model, PolyCamConfig::new(layers))
    }

    /// PolyCAM with `config`.
    pub fn with_config(model: M, config: PolyCamConfig) -> Self {
        PolyCam { model, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{PolyCam, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert_eq!(PolyCam::new(m, &["fc"]).config().layers, vec!["fc".to_string()]);
    /// ```
    pub fn config(&self) -> &PolyCamConfig {
        &self.config
    }

    fn check(&self, inputs: &ArrayViewD<'_, f32>, targets: &[usize]) -> Result<ImageInfo> {
        let info = validate_images(inputs, targets, self.model.num_classes())?;
        if self.config.layers.is_empty() {
            return Err(SalienceError::invalid(
                "layers",
                "[]",
                "PolyCAM needs at least one layer",
            ));
        }
        for l in &self.config.layers {
            self.model.check_layer(l)?;
        }
        self.chunk(&info, info.n)?;
        Ok(info)
    }

    /// The chunk of `n_points` forward passes on inputs like `info`'s
    /// ([`chunk_size`]).
    fn chunk(&self, info: &ImageInfo, n_points: usize) -> Result<usize> {
        chunk_size(
            &self.model,
            self.config.batch_size,
            &[info.c, info.h, info.w],
            n_points,
            Pass::Forward,
        )
    }

    /// The channel weights `w_k` of layer `layer` for every input, `[N,
    /// K]` (row-major), with the configured variant; the building block of
    /// the map, exposed for inspection and tests.
    ///
    /// ```
    /// use candle_core::Tensor;
    /// use salience_explain::{PolyCam, SequentialClassifier};
    /// let m = SequentialClassifier::new(1)
    ///     .push("features", |x: &Tensor| Ok(x.clone()))
    ///     .push("head", |a: &Tensor| a.flatten_from(1)?.sum_keepdim(1));
    /// let x = ndarray::Array4::from_shape_vec((1, 1, 1, 2), vec![0.0f32, 1.0])?.into_dyn();
    /// let w = PolyCam::new(&m, &["features"]).channel_weights(x.view(), &[0], "features")?;
    /// assert_eq!(w.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn channel_weights(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        layer: &str,
    ) -> Result<Vec<f64>> {
        let info = self.check(&inputs, targets)?;
        self.model.check_layer(layer)?;
        let xs = contiguous(&inputs);
        let data = flat_slice(&xs)?;
        let base = self.scores_of(data, info.n, &info, targets, None)?;
        let acts = self.layer_acts(data, &info, layer)?;
        self.weights(data, &info, targets, &base, &acts)
    }

    /// Activations of every input at `layer` as an `[N, k, h, w]` grid
    /// (feature maps as they are; `[N, T, D]` tokens of a layer the model
    /// describes with [`LayerSplit::token_grid`] with their class /
    /// distillation tokens dropped and the patches laid out as `[D, rows,
    /// cols]`, like every CAM's `split_activations`),
    /// computed `batch_size` inputs at a time.
    fn layer_acts(&self, data: &[f32], info: &ImageInfo, layer: &str) -> Result<Acts> {
        let f = info.features();
        let ctx = format!("activations of layer `{layer}`");
        let mut v = Vec::new();
        let mut dims: Option<(usize, usize, usize)> = None;
        let bs = self.chunk(info, info.n)?;
        let mut start = 0;
        while start < info.n {
            let len = (info.n - start).min(bs);
            let x = chunk_tensor(
                &data[start * f..(start + len) * f],
                len,
                info,
                self.model.device(),
            )?;
            let a = split_activations(&self.model, &x, layer)?;
            let (k, h, w) = (a.k, a.h, a.w);
            if dims.is_some_and(|d| d != (k, h, w)) {
                return Err(SalienceError::shape(
                    &ctx,
                    format!("the same [K, h, w] for every chunk (first {dims:?})"),
                    a.raw.dims(),
                ));
            }
            dims = Some((k, h, w));
            v.extend(a.to_grid(tensor_to_vec(&a.raw)?, len));
            start += len;
        }
        check_finite_slice(&v, &ctx)?;
        let (k, h, w) = dims.ok_or_else(|| SalienceError::Empty("inputs".into()))?;
        Ok(Acts { v, k, h, w })
    }

    /// Target-class confidences of `n_points` points built by `fill` (or
    /// the `n` inputs themselves when `fill` is `None`), `batch_size` at a
    /// time.
    fn scores_of(
        &self,
        data: &[f32],
        n_points: usize,
        info: &ImageInfo,
        targets: &[usize],
        fill: Option<&FillFn<'_>>,
    ) -> Result<Vec<f64>> {
        let f = info.features();
        let bs = self.chunk(info, n_points)?;
        let device = self.model.device();
        let mut out = Vec::with_capacity(n_points);
        let mut start = 0;
        while start < n_points {
            let len = (n_points - start).min(bs);
            let x = match fill {
                None => chunk_tensor(&data[start * f..(start + len) * f], len, info, device)?,
                Some(fill) => {
                    let mut buf = vec![0f32; len * f];
                    for (j, row) in buf.chunks_exact_mut(f).enumerate() {
                        fill(start + j, row);
                    }
                    chunk_tensor(&buf, len, info, device)?
                }
            };
            let t = &targets[start..start + len];
            out.extend(confidences(&self.model, &x, t)?);
            start += len;
        }
        Ok(out)
    }

    /// Channel weights `[N, k]` of every input at one layer: the masked
    /// inputs of all inputs and channels are evaluated `batch_size` at a
    /// time; each mask is upsampled when its point is generated.
    fn weights(
        &self,
        data: &[f32],
        info: &ImageInfo,
        targets: &[usize],
        base: &[f64],
        acts: &Acts,
    ) -> Result<Vec<f64>> {
        let f = info.features();
        let hw = info.h * info.w;
        let (k, h, w) = (acts.k, acts.h, acts.w);
        // Normalised channel masks at the layer resolution: [N, k, h·w].
        let mut small = Vec::with_capacity(acts.v.len());
        for a_k in acts.v.chunks_exact(h * w) {
            small.extend(percentile_normalize(a_k).into_iter().map(|v| v as f32));
        }
        let ah = interpolation_matrix(h, info.h, false)?;
        let aw = interpolation_matrix(w, info.w, false)?;
        let variant = self.config.variant;
        let per_input = if variant == PolyCamVariant::PlusMinus {
            2 * k
        } else {
            k
        };
        // Point p: input p / per_input, j = p % per_input, channel j % k;
        // PCAM⁺ and the first k points of PCAM± keep the mask, PCAM⁻ and
        // the last k of PCAM± remove it.
        let fill = |p: usize, out: &mut [f32]| {
            let (i, j) = (p / per_input, p % per_input);
            let ch = j % k;
            let keep = match variant {
                PolyCamVariant::Plus => true,
                PolyCamVariant::Minus => false,
                PolyCamVariant::PlusMinus => j < k,
            };
            let m = &small[(i * k + ch) * h * w..(i * k + ch + 1) * h * w];
            let up = upsample_one(m, (h, w), (info.h, info.w), &ah, &aw);
            let x = &data[i * f..(i + 1) * f];
            for (c_out, c_in) in out.chunks_exact_mut(hw).zip(x.chunks_exact(hw)) {
                for ((o, &xv), &mv) in c_out.iter_mut().zip(c_in).zip(&up) {
                    *o = if keep { xv * mv } else { xv * (1.0 - mv) };
                }
            }
        };
        let n_points = info.n * per_input;
        let point_targets: Vec<usize> = (0..n_points).map(|p| targets[p / per_input]).collect();
        let s = self.scores_of(&[], n_points, info, &point_targets, Some(&fill))?;
        let mut out = Vec::with_capacity(info.n * k);
        for (s_i, &b) in s.chunks_exact(per_input).zip(base) {
            match variant {
                PolyCamVariant::Plus => out.extend_from_slice(s_i),
                PolyCamVariant::Minus => out.extend(s_i.iter().map(|r| (b - r).max(0.0))),
                PolyCamVariant::PlusMinus => {
                    out.extend((0..k).map(|c| (s_i[c] + b - s_i[k + c]).max(0.0)))
                }
            }
        }
        Ok(out)
    }
}

/// Bilinear resampling of one `[h, w]` map with the per-axis matrices
/// `ah` `[H, h]` and `aw` `[W, w]` (`A_h · m · A_wᵀ`).
fn upsample_one(
    m: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    ah: &[f32],
    aw: &[f32],
) -> Vec<f32> {
    if (h, w) == (oh, ow) {
        return m.to_vec();
    }
    let mut tmp = vec![0f32; h * ow];
    for a in 0..h {
        for c in 0..ow {
            tmp[a * ow + c] = (0..w).map(|b| aw[c * w + b] * m[a * w + b]).sum();
        }
    }
    matmul_skip_zeros(ah, &tmp, (oh, h, ow))
}

/// A map and its `(h, w)`.
type SizedMap = (Vec<f64>, (usize, usize));

/// Writes masked point `p` into a buffer row.
type FillFn<'a> = dyn Fn(usize, &mut [f32]) + 'a;

/// One sample's activations at a layer.
struct Acts {
    v: Vec<f32>,
    k: usize,
    h: usize,
    w: usize,
}

/// Softmax (sigmoid for one output) confidence of each row's target.
fn confidences<M: LayerSplit + ?Sized>(
    model: &M,
    x: &Tensor,
    targets: &[usize],
) -> Result<Vec<f64>> {
    let len = targets.len();
    let nc = model.num_classes();
    let logits = model.logits(x).map_err(candle_error)?;
    if logits.dims() != [len, nc] {
        return Err(SalienceError::Model(format!(
            "classifier returned logits of shape {:?} (expected [{len}, {nc}])",
            logits.dims()
        )));
    }
    let l = tensor_to_vec(&logits)?;
    check_finite_slice(&l, "model logits")?;
    Ok(l.chunks_exact(nc)
        .zip(targets)
        .map(|(row, &t)| {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            if nc == 1 {
                1.0 / (1.0 + (-row[0]).exp())
            } else {
                let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
                (row[t] - m).exp() / z
            }
        })
        .collect())
}

/// The p-th percentile (0..=100) of sorted values, linear interpolation
/// (NumPy's default).
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = p / 100.0 * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = rank - lo as f64;
    sorted[lo.min(n - 1)] + frac * (sorted[hi] - sorted[lo.min(n - 1)])
}

/// PolyCAM's normalisation of one map to `[0, 1]`:
/// `clamp((a − q₀.₁) / max(q₉₉.₉, 10⁻¹²), 0, 1)`.
///
/// ```
/// use salience_explain::cam::poly_cam::percentile_normalize;
/// let n = percentile_normalize(&[0.0f32, 1.0, 2.0, 4.0]);
/// // q₀.₁ = 0.003, q₉₉.₉ = 3.994.
/// assert_eq!(n[0], 0.0);
/// assert!((n[1] - 0.997 / 3.994).abs() < 1e-12);
/// assert_eq!(n[3], 1.0);
/// ```
pub fn percentile_normalize(a: &[f32]) -> Vec<f64> {
    let mut sorted: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let lo = percentile_sorted(&sorted, 0.1);
    let hi = percentile_sorted(&sorted, 99.9).max(1e-12);
    a.iter()
        .map(|&v| ((v as f64 - lo) / hi).clamp(0.0, 1.0))
        .collect()
}

fn percentile_normalize_f64(a: &[f64]) -> Vec<f64> {
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    percentile_normalize(&v)
}

/// Bilinear resampling of one map (f64 via f32 tensors on `device`).
fn resample(
    m: &[f64],
    from: (usize, usize),
    to: (usize, usize),
    device: &Device,
) -> Result<Vec<f64>> {
    let v: Vec<f32> = m.iter().map(|&x| x as f32).collect();
    Ok(crate::cam::upsample_maps(v, 1, from, to, device)?
        .into_iter()
        .map(|x| x as f64)
        .collect())
}

impl<M: LayerSplit> Explainer for PolyCam<M> {
    fn name(&self) -> &str {
        "poly_cam"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        let info = self.check(&inputs, targets)?;
        let xs = contiguous(&inputs);
        let data = flat_slice(&xs)?;
        let device = self.model.device();
        let base = self.scores_of(data, info.n, &info, targets, None)?;
        // Per input: the running map P and its size.
        let mut prev: Vec<Option<SizedMap>> = vec![None; info.n];
        for layer in self.config.layers.iter().rev() {
            let acts = self.layer_acts(data, &info, layer)?;
            let w = self.weights(data, &info, targets, &base, &acts)?;
            let (k, hw) = (acts.k, acts.h * acts.w);
            let size = (acts.h, acts.w);
            for (i, p_i) in prev.iter_mut().enumerate() {
                let a_i = &acts.v[i * k * hw..(i + 1) * k * hw];
                let mut m = crate::cam::weighted_sum(a_i, &w[i * k..(i + 1) * k], hw, true);
                *p_i = Some(match p_i.take() {
                    None => (m, size),
                    Some((p, psize)) => {
                        if self.config.lnorm {
                            let down = resample(&m, size, psize, device)?;
                            let norm = resample(&down, psize, size, device)?;
                            for (v, n) in m.iter_mut().zip(norm) {
                                *v /= n.max(1e-12);
                            }
                        }
                        let up = resample(&p, psize, size, device)?;
                        let combined = m.iter().zip(up).map(|(a, b)| (a * b).max(0.0)).collect();
                        (combined, size)
                    }
                });
            }
        }
        let mut out = Vec::with_capacity(info.n * info.h * info.w);
        for p_i in prev {
            let (p, psize) = p_i.ok_or_else(|| SalienceError::invalid("layers", "[]", "empty"))?;
            let normed = percentile_normalize_f64(&p);
            out.extend(
                resample(&normed, psize, (info.h, info.w), device)?
                    .into_iter()
                    .map(|v| v.clamp(0.0, 1.0) as f32),
            );
        }
        let a = ArrayD::from_shape_vec(IxDyn(&[info.n, info.h, info.w]), out)
            .map_err(|e| SalienceError::backend("ndarray", e))?;
        AttributionBatch::new(a)
    }
}
