//! PolyCAM (Englebert, Cornu & De Vleeschouwer 2022, "Poly-CAM: high
//! resolution class activation map for convolutional neural networks"),
//! the variant used in seed `000` ("channel-wise variation of confidence as
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
//! forward passes per input: `Σ_l K_l` masked inputs per input, evaluated
//! `batch_size` at a time (forward only, no gradients), so memory does not
//! grow with the number of channels.

use crate::cam::{check_finite_slice, chunk_tensor, validate_images, ImageInfo};
use crate::convert::{candle_error, tensor_to_vec};
use crate::gradient::{check_batch_size, contiguous, flat_slice, DEFAULT_BATCH_SIZE};
use crate::split::LayerSplit;
use candle_core::{Device, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use salience_core::{AttributionBatch, Explainer, Result, SalienceError, Seeds};

/// How PolyCAM weighs the channels of a layer (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolyCamVariant {
    /// PCAM⁺: the confidence when only the channel's mask is kept.
    Plus,
    /// PCAM⁻: the confidence drop when the channel's mask is removed.
    Minus,
    /// PCAM±: both (two forward passes per channel). The default.
    #[default]
    PlusMinus,
}

/// Configuration of [`PolyCam`].
#[derive(Debug, Clone, PartialEq)]
pub struct PolyCamConfig {
    /// The layers, in forward order (e.g. the last layer of each
    /// resolution stage); at least one.
    pub layers: Vec<String>,
    /// The channel-weighting variant. Default PCAM±.
    pub variant: PolyCamVariant,
    /// Use the local relevance normalisation when combining layers
    /// (reference default `true`).
    pub lnorm: bool,
    /// Masked inputs per forward pass. Default 64.
    pub batch_size: usize,
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
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The PolyCAM explainer. Deterministic (ignores seeds). Returns `[N, H,
/// W]` maps in `[0, 1]` for `[N, C, H, W]` inputs.
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
        check_batch_size(self.config.batch_size)?;
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
        Ok(info)
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
        let mut out = Vec::new();
        for i in 0..info.n {
            let x = self.sample(data, i, &info)?;
            let acts = self.layer_acts(&x, layer)?;
            out.extend(self.weights(data, i, &info, targets[i], base[i], &acts)?);
        }
        Ok(out)
    }

    fn sample(&self, data: &[f32], i: usize, info: &ImageInfo) -> Result<Tensor> {
        let f = info.features();
        chunk_tensor(&data[i * f..(i + 1) * f], 1, info, self.model.device())
    }

    /// One sample's activations at `layer`: (values `[k, h, w]`, k, h, w).
    fn layer_acts(&self, x: &Tensor, layer: &str) -> Result<Acts> {
        let a = self.model.activations(x, layer).map_err(candle_error)?;
        let (_, k, h, w) = a.dims4().map_err(|_| {
            SalienceError::shape(
                &format!("activations of layer `{layer}`"),
                "[1, K, h, w]",
                a.dims(),
            )
        })?;
        if k * h * w == 0 {
            return Err(SalienceError::shape(
                &format!("activations of layer `{layer}`"),
                "non-empty [1, K, h, w]",
                a.dims(),
            ));
        }
        let v = tensor_to_vec(&a)?;
        check_finite_slice(&v, &format!("activations of layer `{layer}`"))?;
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
        let bs = self.config.batch_size;
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

    /// Channel weights of one input (index `i`) at one layer.
    fn weights(
        &self,
        data: &[f32],
        i: usize,
        info: &ImageInfo,
        target: usize,
        base: f64,
        acts: &Acts,
    ) -> Result<Vec<f64>> {
        let f = info.features();
        let hw = info.h * info.w;
        let x = &data[i * f..(i + 1) * f];
        // Channel masks at the input size: [k, H·W].
        let mut small = Vec::with_capacity(acts.v.len());
        for a_k in acts.v.chunks_exact(acts.h * acts.w) {
            small.extend(percentile_normalize(a_k).into_iter().map(|v| v as f32));
        }
        let masks = crate::cam::upsample_maps(
            small,
            acts.k,
            (acts.h, acts.w),
            (info.h, info.w),
            self.model.device(),
        )?;
        let k = acts.k;
        let (n_points, variant) = match self.config.variant {
            PolyCamVariant::PlusMinus => (2 * k, self.config.variant),
            v => (k, v),
        };
        // Point p: channel p % k; p < k keeps the mask (except PCAM⁻),
        // p ≥ k (PCAM±) or PCAM⁻ removes it.
        let fill = |p: usize, out: &mut [f32]| {
            let ch = p % k;
            let keep = match variant {
                PolyCamVariant::Plus => true,
                PolyCamVariant::Minus => false,
                PolyCamVariant::PlusMinus => p < k,
            };
            let m = &masks[ch * hw..(ch + 1) * hw];
            for (c_out, c_in) in out.chunks_exact_mut(hw).zip(x.chunks_exact(hw)) {
                for ((o, &xv), &mv) in c_out.iter_mut().zip(c_in).zip(m) {
                    *o = if keep { xv * mv } else { xv * (1.0 - mv) };
                }
            }
        };
        let targets = vec![target; n_points];
        let s = self.scores_of(&[], n_points, info, &targets, Some(&fill))?;
        Ok(match variant {
            PolyCamVariant::Plus => s,
            PolyCamVariant::Minus => s.iter().map(|r| (base - r).max(0.0)).collect(),
            PolyCamVariant::PlusMinus => {
                (0..k).map(|c| (s[c] + base - s[k + c]).max(0.0)).collect()
            }
        })
    }
}

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
/// use salience_explain::poly_cam::percentile_normalize;
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
        let mut out = Vec::with_capacity(info.n * info.h * info.w);
        for i in 0..info.n {
            let x = self.sample(data, i, &info)?;
            let mut prev: Option<(Vec<f64>, (usize, usize))> = None;
            for layer in self.config.layers.iter().rev() {
                let acts = self.layer_acts(&x, layer)?;
                let w = self.weights(data, i, &info, targets[i], base[i], &acts)?;
                let hw = acts.h * acts.w;
                let size = (acts.h, acts.w);
                let mut m = crate::cam::weighted_sum(&acts.v, &w, hw, true);
                prev = Some(match prev {
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
            let (p, psize) = prev.ok_or_else(|| SalienceError::invalid("layers", "[]", "empty"))?;
            let normed = percentile_normalize_f64(&p);
            out.extend(
                resample(&normed, psize, (info.h, info.w), device)?
                    .into_iter()
                    .map(|v| v.clamp(0.0, 1.0) as f32),
            );
        }
        let a = ArrayD::from_shape_vec(IxDyn(&[info.n, info.h, info.w]), out)
            .map_err(|e| SalienceError::Backend(e.to_string()))?;
        AttributionBatch::new(a)
    }
}
