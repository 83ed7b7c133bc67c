//! The architectures of the localisation and MPRT runs: the shipped small
//! ResNet and the shipped small VGG, both trained on the localization set.
//! Everything the runs and the report need to know about a model — its
//! name, loader, Grad-CAM layer, MPRT layer groups and its records' names —
//! is here; the runs are generic over [`ArchModel`].

use crate::{Result, RUN_LOC};
use candle_core::Device;
use candle_nn::VarBuilder;
use salience::explain::{Classifier, LayerSplit, RuleForward};
use salience::models::assets;
use salience::models::{FeatureCnn, FeatureCnnConfig, ResNet, ResNetConfig};

/// An architecture of the localisation and MPRT runs (`common::loc_arch`).
pub use crate::common::loc_arch::LocArch as Arch;

/// The ResNet's layer groups in forward order (display name, weight
/// prefixes); the MPRT randomises them cascading from the last one.
pub const RESNET_GROUPS: [(&str, &[&str]); 5] = [
    ("stem", &["conv1", "bn1"]),
    ("layer1", &["layer1"]),
    ("layer2", &["layer2"]),
    ("layer3", &["layer3"]),
    ("fc", &["fc"]),
];

/// The VGG's layer groups in forward order: every convolution and dense
/// layer (no batch norms); the MPRT randomises them from `classifier.3`.
pub const VGG_GROUPS: [(&str, &[&str]); 7] = [
    ("features.0", &["features.0"]),
    ("features.3", &["features.3"]),
    ("features.6", &["features.6"]),
    ("features.8", &["features.8"]),
    ("features.11", &["features.11"]),
    ("classifier.0", &["classifier.0"]),
    ("classifier.3", &["classifier.3"]),
];

impl Arch {
    /// Suffix of the architecture's file names (`""` for the ResNet, so its
    /// committed records keep their names).
    pub fn suffix(self) -> &'static str {
        match self {
            Arch::ResNet => "",
            Arch::Vgg => "-vgg",
        }
    }

    /// Name of the localisation + MPRT run (records file stem):
    /// `gattas2020-loc`, `gattas2020-loc-vgg`.
    pub fn run_loc(self) -> String {
        format!("{RUN_LOC}{}", self.suffix())
    }

    /// A PNG's file name: `gattas2020_<what>.png` for the ResNet,
    /// `gattas2020_<what>_vgg.png` for the VGG.
    pub fn png(self, what: &str) -> String {
        format!("gattas2020_{what}{}.png", self.suffix().replace('-', "_"))
    }

    /// Prefix of the stage names in the provenance timings (`""` for the
    /// ResNet, as before).
    pub fn stage_prefix(self) -> String {
        match self {
            Arch::ResNet => String::new(),
            Arch::Vgg => format!("{}: ", self.name()),
        }
    }

    /// The layer Grad-CAM explains at: the last convolutional stage (8 × 8
    /// on both).
    pub fn grad_cam_layer(self) -> String {
        match self {
            Arch::ResNet => "layer3".into(),
            Arch::Vgg => FeatureCnnConfig::small_vgg()
                .last_conv_stage()
                .unwrap_or_else(|| "features.12".into()),
        }
    }

    /// The MPRT layer groups in forward order.
    pub fn mprt_groups(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Arch::ResNet => &RESNET_GROUPS,
            Arch::Vgg => &VGG_GROUPS,
        }
    }

    /// The model's description in the report's setup.
    pub fn description(self) -> &'static str {
        match self {
            Arch::ResNet => {
                "`ResNetConfig::small()`: a stem and three residual stages with batch norm; \
                 Grad-CAM on the last residual stage (`layer3`, 8 × 8)"
            }
            Arch::Vgg => {
                "`FeatureCnnConfig::small_vgg()`: five 3 × 3 convolutions (16 | 32 | 64, 64 | \
                 128) with max pools, two dense layers, no batch norm, no residual connections; \
                 Grad-CAM on the last convolution (`features.12`, 8 × 8)"
            }
        }
    }

    /// How the MPRT re-initialises it.
    pub fn mprt_description(self) -> &'static str {
        match self {
            Arch::ResNet => "batch norms reset",
            Arch::Vgg => "no batch norms",
        }
    }
}

/// A model of the localisation runs: the explainers' traits plus how to
/// load the shipped weights and rebuild it from (randomised) tensors.
pub trait ArchModel: LayerSplit + RuleForward + Classifier + Send + Sync + Sized + 'static {
    /// The shipped model.
    fn shipped(dev: &Device) -> Result<Self>;
    /// The shipped safetensors bytes.
    fn weights() -> &'static [u8];
    /// The model on the tensors of `vb`.
    fn build(vb: VarBuilder) -> candle_core::Result<Self>;
}

impl ArchModel for ResNet {
    fn shipped(dev: &Device) -> Result<Self> {
        Ok(assets::resnet_small(dev)?)
    }
    fn weights() -> &'static [u8] {
        Arch::ResNet.weights()
    }
    fn build(vb: VarBuilder) -> candle_core::Result<Self> {
        ResNet::new(vb, &ResNetConfig::small())
    }
}

impl ArchModel for FeatureCnn {
    fn shipped(dev: &Device) -> Result<Self> {
        Ok(assets::vgg_small_loc(dev)?)
    }
    fn weights() -> &'static [u8] {
        Arch::Vgg.weights()
    }
    fn build(vb: VarBuilder) -> candle_core::Result<Self> {
        FeatureCnn::new(vb, &FeatureCnnConfig::small_vgg())
    }
}

/// Calls `$body` with `$M` bound to the model type of `$arch`.
macro_rules! with_arch {
    ($arch:expr, $M:ident => $body:expr) => {
        match $arch {
            $crate::arch::Arch::ResNet => {
                type $M = salience::models::ResNet;
                $body
            }
            $crate::arch::Arch::Vgg => {
                type $M = salience::models::FeatureCnn;
                $body
            }
        }
    };
}
