//! Grad-CAM++ (Chattopadhyay et al. 2018), in the closed form that
//! pytorch-grad-cam implements.
//!
//! Assuming the class score is `Y = exp(y_c)`, the paper's second and
//! third derivatives of `Y` reduce to powers of the first-order gradient
//! `g = ∂y_c/∂A`, and the pixel weights are
//!
//! `α_k(i, j) = g² / (2 g² + (Σ_ab A_k(a, b)) · g³ + ε)` (0 where g = 0),
//!
//! with `ε = 10⁻⁶` (pytorch-grad-cam's value); the channel weights are `w_k = Σ_ij α_k(i, j) ·
//! ReLU(g_k(i, j))` and the map is `ReLU(Σ_k w_k A_k)`, upsampled to the
//! input (see [`crate::cam`]). The gradient is that of the logit `y_c`
//! (pytorch-grad-cam's `ClassifierOutputTarget`).

use crate::cam::grad_cam::{run_gradient_weighted_cam, GradCamConfig};
use crate::model::split::LayerSplit;
use ndarray::ArrayViewD;
use salience_core::{AttributionBatch, Explainer, Result, Seeds};

/// The ε of the α denominator (pytorch-grad-cam's value).
pub const GRAD_CAM_PLUS_PLUS_EPS: f64 = 1e-6;

/// The Grad-CAM++ explainer; configured like Grad-CAM ([`GradCamConfig`]:
/// layer, final ReLU, batch size). Deterministic (ignores seeds).
///
/// ```
/// use candle_core::Tensor;
/// use salience_core::{Explainer, Seeds};
/// use salience_explain::{GradCamPlusPlus, SequentialClassifier};
/// let m = SequentialClassifier::new(1)
///     .push("features", |x: &Tensor| Ok(x.clone()))
///     .push("head", |a: &Tensor| a.flatten_from(1)?.sum_keepdim(1));
/// let x = ndarray::Array4::from_shape_vec((1, 1, 1, 2), vec![1.0f32, 3.0])?.into_dyn();
/// // g = 1 everywhere, ΣA = 4: α = 1 / (2 + 4) per pixel, w = 2/6.
/// let a = GradCamPlusPlus::new(&m, "features").explain(x.view(), &[0], Seeds::base(0))?;
/// let v: Vec<f32> = a.view().iter().copied().collect();
/// assert!((v[0] - 1.0 / 3.0).abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct GradCamPlusPlus<M> {
    model: M,
    config: GradCamConfig,
}

impl<M: LayerSplit> GradCamPlusPlus<M> {
    /// Grad-CAM++ at `layer` (ReLU on).
    pub fn new(model: M, layer: &str) -> Self {
        Self::with_config(model, GradCamConfig::new(layer))
    }

    /// Grad-CAM++ with `config`.
    ///
    /// ```
    /// use salience_explain::{GradCamConfig, GradCamPlusPlus, SequentialClassifier};
    /// let m = SequentialClassifier::new(1).push("fc", |x: &candle_core::Tensor| Ok(x.clone()));
    /// assert_eq!(GradCamPlusPlus::with_config(m, GradCamConfig::new("fc")).config().layer, "fc");
    /// ```
    pub fn with_config(model: M, config: GradCamConfig) -> Self {
        GradCamPlusPlus { model, config }
    }

    /// The configuration.
    pub fn config(&self) -> &GradCamConfig {
        &self.config
    }
}

/// Grad-CAM++ channel weights from one sample's `[k, hw]` activations and
/// gradients.
pub(crate) fn grad_cam_pp_weights(acts: &[f32], grads: &[f32], hw: usize) -> Vec<f64> {
    acts.chunks_exact(hw)
        .zip(grads.chunks_exact(hw))
        .map(|(a, g)| {
            let sum_a: f64 = a.iter().map(|&v| v as f64).sum();
            g.iter()
                .map(|&gv| {
                    let g = gv as f64;
                    if g == 0.0 {
                        return 0.0;
                    }
                    let g2 = g * g;
                    let alpha = g2 / (2.0 * g2 + sum_a * g2 * g + GRAD_CAM_PLUS_PLUS_EPS);
                    alpha * g.max(0.0)
                })
                .sum()
        })
        .collect()
}

impl<M: LayerSplit> Explainer for GradCamPlusPlus<M> {
    fn name(&self) -> &str {
        "grad_cam_plus_plus"
    }

    fn explain(
        &self,
        inputs: ArrayViewD<'_, f32>,
        targets: &[usize],
        _seeds: Seeds<'_>,
    ) -> Result<AttributionBatch> {
        run_gradient_weighted_cam(
            &self.model,
            &inputs,
            targets,
            &self.config,
            grad_cam_pp_weights,
        )
    }
}
