//! A small CNN for 1×28×28 Fashion-MNIST.

use candle_core::{bail, Device, Tensor};
use candle_nn::{Conv2d, Linear, VarBuilder};
use salience_explain::model::forward::StagedForward;
use salience_explain::rules::LayerOps;

/// The layers [`SmallCnn`] can be split at, in forward order.
pub const SMALL_CNN_LAYERS: [&str; 6] = ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"];

/// conv 1→16 3×3 pad 1, ReLU (`conv1`), 2×2 max pool (`pool1`), conv
/// 16→32 3×3 pad 1, ReLU (`conv2`), 2×2 max pool (`pool2`), flatten,
/// linear 1568→128, ReLU (`fc1`), linear 128→10 (`fc2`, the logits).
/// Inputs `[N, 1, 28, 28]` in `[0, 1]`.
///
/// Its forward pass is written once, as the six stages of
/// [`SMALL_CNN_LAYERS`] over [`LayerOps`] ([`StagedForward`]); the
/// [`Classifier`](salience_explain::Classifier), the
/// [`LayerSplit`](salience_explain::LayerSplit) at every stage and the
/// [`RuleForward`](salience_explain::RuleForward) pass of the rule-based
/// explainers (Guided Backprop, Deconvnet, DeepLIFT, LRP; layer names
/// `conv1`, `conv2`, `fc1`, `fc2`) are derived from it.
///
/// Tensors: `conv1.{weight,bias}`, `conv2.{weight,bias}`,
/// `fc1.{weight,bias}`, `fc2.{weight,bias}` (PyTorch layout).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use salience_models::SmallCnn;
/// use salience_explain::{Classifier, LayerSplit};
/// let m = SmallCnn::seeded(0, &Device::Cpu).unwrap();
/// let x = Tensor::zeros((2, 1, 28, 28), candle_core::DType::F32, &Device::Cpu).unwrap();
/// assert_eq!(m.logits(&x).unwrap().dims(), &[2, 10]);
/// assert_eq!(m.activations(&x, "conv2").unwrap().dims(), &[2, 32, 14, 14]);
/// ```
#[derive(Debug, Clone)]
pub struct SmallCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
    device: Device,
}

impl SmallCnn {
    /// Builds the network from `vb` (a safetensors file, a `VarMap` for
    /// training, or any weight map).
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let conv = |cin, cout, vb| {
            salience_explain::ops::Conv2d::new(cin, cout, 3, 1, 1, true, vb).map(|c| c.to_candle())
        };
        Ok(SmallCnn {
            conv1: conv(1, 16, vb.pp("conv1"))?,
            conv2: conv(16, 32, vb.pp("conv2"))?,
            fc1: candle_nn::linear(32 * 7 * 7, 128, vb.pp("fc1"))?,
            fc2: candle_nn::linear(128, 10, vb.pp("fc2"))?,
            device: vb.device().clone(),
        })
    }
    /// The names and shapes of all tensors.
    ///
    /// ```
    /// let s = salience_models::SmallCnn::tensor_shapes();
    /// assert_eq!(s.len(), 8);
    /// ```
    pub fn tensor_shapes() -> Vec<(String, Vec<usize>)> {
        [
            ("conv1.weight", vec![16, 1, 3, 3]),
            ("conv1.bias", vec![16]),
            ("conv2.weight", vec![32, 16, 3, 3]),
            ("conv2.bias", vec![32]),
            ("fc1.weight", vec![128, 32 * 7 * 7]),
            ("fc1.bias", vec![128]),
            ("fc2.weight", vec![10, 128]),
            ("fc2.bias", vec![10]),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect()
    }

    /// The network from safetensors `bytes` (the format of the shipped
    /// weights); `what` names the source in errors. Every tensor is
    /// checked against [`SmallCnn::tensor_shapes`] first (F32, exact
    /// shape, no missing or extra tensors; see
    /// [`crate::check_tensors`]), so a file with a changed dtype or
    /// shape is an error naming the tensors, never a model running on
    /// garbage.
    ///
    /// ```
    /// use salience_models::SmallCnn;
    /// let bytes = salience_models::assets::SMALL_CNN_SAFETENSORS;
    /// assert!(SmallCnn::from_safetensors_bytes(bytes, "cnn", &candle_core::Device::Cpu).is_ok());
    /// assert!(SmallCnn::from_safetensors_bytes(&bytes[..100], "cnn", &candle_core::Device::Cpu).is_err());
    /// ```
    pub fn from_safetensors_bytes(
        bytes: &[u8],
        what: &str,
        device: &Device,
    ) -> crate::Result<Self> {
        let vb = super::checked_var_builder(bytes, &Self::tensor_shapes(), &[], what, device)?;
        Self::new(vb).map_err(salience_explain::model::convert::candle_error)
    }

    /// An untrained network with seeded Kaiming weights (see
    /// [`crate::init`]).
    pub fn seeded(seed: u64, device: &Device) -> candle_core::Result<Self> {
        let t = super::init::seeded_tensors(&Self::tensor_shapes(), seed, device)?;
        Self::new(VarBuilder::from_tensors(t, candle_core::DType::F32, device))
    }
}

/// The forward pass, written once: conv1 → relu | 2×2 max pool | conv2 →
/// relu | 2×2 max pool | flatten → fc1 → relu | fc2.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use salience_core::{Explainer, Seeds};
/// use salience_models::SmallCnn;
/// use salience_explain::{DeepLift, Lrp};
/// let m = SmallCnn::seeded(0, &Device::Cpu).unwrap();
/// let x = ndarray::Array4::<f32>::from_elem((1, 1, 28, 28), 0.5).into_dyn();
/// let out = DeepLift::new(&m).explain_with_delta(x.view(), &[3], Seeds::base(0)).unwrap();
/// assert!(out.delta[0].abs() <= 1e-4 * (1.0 + out.output_difference[0].abs()));
/// let lrp = Lrp::new(&m).explain(x.view(), &[3], Seeds::base(0)).unwrap();
/// assert_eq!(lrp.view().shape(), &[1, 1, 28, 28]);
/// ```
impl StagedForward for SmallCnn {
    fn stage_names(&self) -> Vec<String> {
        SMALL_CNN_LAYERS.iter().map(|s| s.to_string()).collect()
    }

    fn stage(&self, k: usize, h: &Tensor, ops: &dyn LayerOps) -> candle_core::Result<Tensor> {
        match k {
            0 => ops.relu(&ops.conv2d("conv1", &self.conv1, h)?),
            1 | 3 => ops.max_pool2d(h, 2),
            2 => ops.relu(&ops.conv2d("conv2", &self.conv2, h)?),
            4 => ops.relu(&ops.linear("fc1", &self.fc1, &ops.flatten(h)?)?),
            5 => ops.linear("fc2", &self.fc2, h),
            _ => bail!("stage {k} out of range"),
        }
    }

    fn check_input(&self, x: &Tensor) -> candle_core::Result<()> {
        match x.dims() {
            [_, 1, 28, 28] => Ok(()),
            d => bail!("the small CNN expects [N, 1, 28, 28] inputs, got {d:?}"),
        }
    }

    fn num_classes(&self) -> usize {
        10
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

salience_explain::staged_model!(SmallCnn);
