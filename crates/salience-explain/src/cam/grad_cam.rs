//! Grad-CAM (Selvaraju et al. 2017): channel weights are the spatial mean
//! of the target logit's gradient at a layer,
//! `w_k = (1 / hw) Σ_ij ∂y_c/∂A_k(i, j)`, and the map is
//! `ReLU(Σ_k w_k A_k)`, upsampled to the input (see [`crate::cam`]).

use crate::cam::{run_layer_cam, weighted_sum};
use crate::model::split::LayerSplit;
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, BatchSize, Explainer, Result, Seeds};

/// Configuration of [`GradCam`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradCamConfig {
    /// The layer (a name of [`LayerSplit::layer_names`]) whose activations
    /// are weighted, typically the last convolutional block.
    pub layer: String,
    /// Apply the final ReLU (the paper and pytorch-grad-cam). Default
    /// `true`; `false` is Captum's `LayerGradCam(relu_attributions=False)`
    /// default and keeps negative evidence.
    pub relu: bool,
    /// Inputs per forward/backward pass. Default [`BatchSize::Auto`] (see
    /// [`salience_core::batch`]).
    pub batch_size: BatchSize,
}

impl GradCamConfig {
    /// The paper's Grad-CAM at `layer` (ReLU on).
    ///
    /// ```
    /// assert!(salience_explain::GradCamConfig::new("conv2").relu);
    /// ```
    pub fn new(layer: &str) -> Self {
        GradCamConfig {
            layer: layer.to_string(),
            relu: true,
            batch_size: BatchSize::Auto,
        }
    }

    /// pytorch-grad-cam's `GradCAM` at `layer` (ReLU on): the same as
    /// [`Self::new`], the paper's form.
    ///
    /// ```
    /// use salience_explain::GradCamConfig;
    /// assert_eq!(GradCamConfig::pytorch_grad_cam("c"), GradCamConfig::new("c"));
    /// ```
    pub fn pytorch_grad_cam(layer: &str) -> Self {
        Self::new(layer)
    }

    /// Captum's `LayerGradCam` default: no ReLU (Captum also does not
    /// upsample; this crate always does).
    ///
    /// ```
    /// assert!(!salience_explain::GradCamConfig::captum("conv2").relu);
    /// ```
    pub fn captum(layer: &str) -> Self {
        GradCamConfig {
            relu: false,
            ..Self::new(layer)
        }
    }
}

/// The Grad-CAM explainer. Deterministic (ignores seeds). Returns `[N, H,
/// W]` pixel maps for `[N, C, H, W]` inputs.
///
/// ```
/// use candle_core::Tensor;
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{GradCam, SequentialClassifier};
/// // Activations A = x (1 channel); head: global average pool, logit = 2·mean(A).
/// let m = SequentialClassifier::new(1)
///     .push("features", |x: &Tensor| Ok(x.clone()))
///     .push("head", |a: &Tensor| (a.mean_keepdim(3)?.mean_keepdim(2)?.flatten_from(1)? * 2.0));
/// let x = ndarray::Array4::from_shape_vec((1, 1, 2, 2), vec![1.0f32, -1.0, 2.0, 0.0])?.into_dyn();
/// let a = GradCam::new(&m, "features").explain(x.view(), &[0], Seeds::base(0))?;
/// // w = 2 / 4 = 0.5; map = ReLU(0.5 · A).
/// assert_eq!(a.view().iter().copied().collect::<Vec<_>>(), vec![0.5, 0.0, 1.0, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct GradCam<M> {
    model: M,
    config: GradCamConfig,
}

impl<M: LayerSplit> GradCam<M> {
    /// Grad-CAM at `layer` with the paper's settings.
    pub fn new(model: M, layer: &str) -> Self {
        Self::with_config(model, GradCamConfig::new(layer))
    }

    /// Grad-CAM with `config`.
    ///
    /// ```
    /// use salience_explain::{GradCam, GradCamConfig, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// let _e = GradCam::with_config(m, GradCamConfig::captum("fc"));
    /// ```
    pub fn with_config(model: M, config: GradCamConfig) -> Self {
        GradCam { model, config }
    }

    /// The configuration.
    ///
    /// ```
    /// use salience_explain::{GradCam, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert_eq!(GradCam::new(m, "fc").config().layer, "fc");
    /// ```
    pub fn config(&self) -> &GradCamConfig {
        &self.config
    }
}

/// Grad-CAM channel weights: spatial means of the gradients.
pub(crate) fn grad_cam_weights(grads: &[f32], hw: usize) -> Vec<f64> {
    grads
        .chunks_exact(hw)
        .map(|g| g.iter().map(|&v| v as f64).sum::<f64>() / hw as f64)
        .collect()
}

impl<M: LayerSplit> Explainer for GradCam<M> {
    fn name(&self) -> &str {
        "grad_cam"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        run_gradient_weighted_cam(&self.model, &inputs, targets, &self.config, |_a, g, hw| {
            grad_cam_weights(g, hw)
        })
    }
}

/// One sample's channel weights from its `[k, hw]` activations and
/// gradients and `hw`.
pub(crate) type ChannelWeights = fn(&[f32], &[f32], usize) -> Vec<f64>;

/// Grad-CAM and Grad-CAM++ at `config.layer`: per sample, the `[k, hw]`
/// activations weighted by `weights(activations, gradients, hw)` (one
/// weight per channel), summed over channels, optionally ReLU'd, and
/// upsampled to the input.
pub(crate) fn run_gradient_weighted_cam<M: LayerSplit>(
    model: &M,
    inputs: &ArrayViewD<'_, f32>,
    targets: &[usize],
    config: &GradCamConfig,
    weights: ChannelWeights,
) -> Result<AttributionBatch> {
    let relu = config.relu;
    run_layer_cam(
        model,
        inputs,
        targets,
        &config.layer,
        config.batch_size,
        true,
        &|a, g, _k, h, w| weighted_sum(a, &weights(a, g, h * w), h * w, relu),
    )
}
