//! # salience
//!
//! Feature attributions for neural networks computed on candle, aggregated
//! into one explanation that is measurably better, and evaluated.
//!
//! This facade re-exports the workspace's crates:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`core`] | salience-core | attribution batches, ensembles, normalization, the `Model` and `Explainer` seams, errors, seeding, `.npy` I/O |
//! | [`aggregate`] | salience-aggregate | pixel-wise aggregators (Mahlau & Nolde 2022) |
//! | [`optimize`] | salience-optimize | optimal convex aggregation (Decker et al. 2024) |
//! | [`metrics`] | salience-metrics | evaluation metrics |
//! | [`report`] | salience-report | the pipeline as one call (`run`, `write_run`) and every picture, chart and result file: heatmaps and labelled grids (`render`), charts (`render::plot`), per-shard JSON-lines records and their merge (`records`, `Shard`) |
//! | [`datasets`] | salience-datasets | offline data, no candle needed (its default `candle` feature adds the tensor conversions): Fashion-MNIST IDX reader, a localization set with ground-truth masks, PNG/JPEG files and folders, torchvision's transform, ImageNet class names, shipped data samples |
//! | [`models`] | salience-models | reference architectures on candle (small CNN / ResNet / ViT, torchvision- and timm-layout ResNet, VGG, AlexNet, MobileNetV2, DenseNet, ViT/DeiT, MLP-Mixer, Swin) and the shipped trained weights |
//! | [`perturb`] | salience-perturb | black-box perturbation explainers over any `Model`, without candle (Occlusion, Feature Ablation, Shapley sampling, KernelSHAP, LIME, RISE), SLIC superpixels, linear surrogates, the `Baseline` type |
//! | [`explain`] | salience-explain | explainers on candle: gradient methods (Saliency, Input×Gradient, Integrated Gradients, SmoothGrad/SmoothGrad²/VarGrad, Expected Gradients/GradientSHAP, NoiseGrad/FusionGrad), the CAM family (Grad-CAM, Grad-CAM++, EigenCAM, PolyCAM), rule-based methods (Guided Backprop, Deconvnet, DeepLIFT, LRP), iGOS++, a registry of text specs (which also builds the perturbation methods over a candle model), and a gradient check |
//!
//! ```
//! use salience::core::{Ensemble, Normalization, DegeneratePolicy};
//! let stacked = ndarray::Array::from_shape_fn((2, 1, 3, 3), |(k, _, i, j)| (k + i + j) as f32);
//! let e = Ensemble::from_stacked(stacked.into_dyn(), None)?;
//! let z = e.normalize(Normalization::ZScore, DegeneratePolicy::Error)?;
//! assert_eq!(z.k(), 2);
//! # Ok::<(), salience::core::SalienceError>(())
//! ```
//!
//! # Explain your own candle model
//!
//! Any `candle_nn::Module` is a [`explain::Classifier`] through
//! [`explain::ModuleClassifier`]; named layers stack into an
//! [`explain::SequentialClassifier`] or [`explain::RuleSequential`]. A network
//! of your own is written once, as named stages over [`explain::LayerOps`]
//! ([`explain::StagedForward`]), and [`explain::staged_model!`] derives the
//! classifier, the [`explain::LayerSplit`] at every stage (CAMs) and the
//! [`explain::RuleForward`] pass (rule-based methods) from it. Two candle
//! 0.11 traps give silently wrong gradients: `max_pool2d` (use
//! [`explain::ops::max_pool2d`] or `ops.max_pool2d`) and candle-nn's fused
//! `layer_norm` / `rms_norm` / `softmax_last_dim` (use [`explain::ops`]'
//! versions). A detached gradient is always an error; run the gradient check
//! once on your model to catch a wrong one.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_nn::{Conv2d, Conv2dConfig, Linear};
//! use salience::core::{ChannelReduction, Explainer, PixelMaps, Seeds};
//! use salience::explain::gradient::gradient_check::{check_gradients, GradientCheckConfig};
//! use salience::explain::{staged_model, GradCam, IntegratedGradients, LayerOps, Lrp, StagedForward};
//!
//! // Your network, its forward pass written once: named stages over `ops`.
//! struct Net { conv1: Conv2d, conv2: Conv2d, fc: Linear }
//! impl StagedForward for Net {
//!     fn stage_names(&self) -> Vec<String> { ["block1", "block2", "fc"].map(String::from).to_vec() }
//!     fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
//!         match k {
//!             0 => ops.max_pool2d(&ops.relu(&ops.conv2d("conv1", &self.conv1, h)?)?, 2),
//!             1 => ops.relu(&ops.conv2d("conv2", &self.conv2, h)?),
//!             _ => ops.linear("fc", &self.fc, &ops.global_avg_pool(h)?),
//!         }
//!     }
//!     fn num_classes(&self) -> usize { 10 }
//!     fn device(&self) -> &Device { &Device::Cpu }
//! }
//! staged_model!(Net); // Classifier, LayerSplit at every stage, RuleForward
//!
//! // Your weights: fixed values here, so the example is deterministic
//! // (candle_nn::VarBuilder::from_mmaped_safetensors loads trained ones).
//! let w = |shape: &[usize], s: f32| -> candle_core::Result<Tensor> {
//!     let v: Vec<f32> = (0..shape.iter().product()).map(|i: usize| 0.3 * (i as f32 * 0.618 + s).sin()).collect();
//!     Tensor::from_vec(v, shape, &Device::Cpu)
//! };
//! let cfg = Conv2dConfig { padding: 1, ..Default::default() };
//! let conv1 = Conv2d::new(w(&[8, 3, 3, 3], 0.1)?, Some(w(&[8], 0.2)?), cfg);
//! let conv2 = Conv2d::new(w(&[16, 8, 3, 3], 0.3)?, Some(w(&[16], 0.4)?), cfg);
//! let model = Net { conv1, conv2, fc: Linear::new(w(&[10, 16], 0.5)?, Some(w(&[10], 0.6)?)) };
//! let x = ndarray::Array4::from_shape_fn((2, 3, 32, 32), |(n, c, i, j)| ((n + c + i * j) % 7) as f32 / 7.0);
//! let (x, targets) = (x.into_dyn(), [3, 7]);
//! // Once per model: are its input gradients right? The error names the op to swap.
//! check_gradients(&model, x.view(), &targets, &GradientCheckConfig::default())?.ensure()?;
//! // Gradient methods take any Classifier; PixelMaps sums channels to [N, H, W].
//! let ig = PixelMaps::new(IntegratedGradients::new(&model), ChannelReduction::Sum);
//! let ig_maps = ig.explain(x.view(), &targets, Seeds::base(0))?;
//! // CAMs at any stage, upsampled to the input: [N, H, W] as well.
//! let cam = GradCam::new(&model, "block2").explain(x.view(), &targets, Seeds::base(0))?;
//! // Rule-based methods (LRP, DeepLIFT, Guided Backprop) from the same forward pass.
//! let lrp = PixelMaps::new(Lrp::new(&model), ChannelReduction::Sum).explain(x.view(), &targets, Seeds::base(0))?;
//! assert_eq!(ig_maps.shape(), cam.shape());
//! assert_eq!(lrp.shape(), cam.shape());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use salience_aggregate as aggregate;
pub use salience_core as core;
pub use salience_datasets as datasets;
pub use salience_explain as explain;
pub use salience_metrics as metrics;
pub use salience_models as models;
pub use salience_optimize as optimize;
pub use salience_perturb as perturb;
pub use salience_report as report;

pub use salience_core::{
    AttributionBatch, BatchSize, DegeneratePolicy, Ensemble, Explainer, Layout, Model,
    Normalization, SalienceError, Seeds,
};
