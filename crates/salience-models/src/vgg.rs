//! torchvision's VGG (Simonyan & Zisserman 2015): [`FeatureCnnConfig::vgg16`],
//! [`FeatureCnnConfig::vgg11`] and any other configuration through
//! [`FeatureCnnConfig::vgg`], as a [`crate::FeatureCnn`] (tensor
//! names `features.{i}.*` and `classifier.{0,3,6}.*` as torchvision's).

use super::feature_cnn::{ClassifierLayout, FeatureCnnConfig, FeatureLayer};

impl FeatureCnnConfig {
    /// A VGG: each block is 3×3 convolutions (padding 1) of the given
    /// widths, each with a ReLU (and a batch norm before it when
    /// `batch_norm`), then a 2×2 max pool; a 7×7 adaptive average pool;
    /// dense layers of widths `hidden` with ReLU (and dropout), then
    /// `num_classes` logits.
    ///
    /// ```
    /// use salience_models::FeatureCnnConfig;
    /// let c = FeatureCnnConfig::vgg(&[&[8], &[16]], false, vec![32], 5);
    /// assert_eq!(c.layer_names(), ["features.1", "features.2", "features.4", "features.5",
    ///     "avgpool", "classifier.1", "classifier.3"]);
    /// ```
    pub fn vgg(
        blocks: &[&[usize]],
        batch_norm: bool,
        hidden: Vec<usize>,
        num_classes: usize,
    ) -> Self {
        let mut features = Vec::new();
        for block in blocks {
            features.extend(block.iter().map(|&out_channels| FeatureLayer::Conv {
                out_channels,
                kernel: 3,
                stride: 1,
                padding: 1,
            }));
            features.push(FeatureLayer::MaxPool {
                kernel: 2,
                stride: 2,
                padding: 0,
            });
        }
        FeatureCnnConfig {
            in_channels: 3,
            features,
            batch_norm,
            pool: (7, 7),
            hidden,
            layout: ClassifierLayout::Vgg,
            num_classes,
        }
    }

    /// torchvision's `vgg11` (configuration "A", no batch norm): blocks
    /// of 64, 128, 256², 512², 512² channels, dense layers 4096, 4096.
    /// [`FeatureCnnConfig::last_conv_stage`] is `features.19`.
    pub fn vgg11(num_classes: usize) -> Self {
        Self::vgg(
            &[&[64], &[128], &[256, 256], &[512, 512], &[512, 512]],
            false,
            vec![4096, 4096],
            num_classes,
        )
    }

    /// torchvision's `vgg16` (configuration "D", no batch norm): blocks
    /// of 64², 128², 256³, 512³, 512³ channels, dense layers 4096, 4096;
    /// [`FeatureCnnConfig::last_conv_stage`] is `features.29`.
    ///
    /// ```
    /// let c = salience_models::FeatureCnnConfig::vgg16(1000);
    /// assert_eq!(c.layer_names().len(), 13 + 5 + 1 + 3);
    /// ```
    pub fn vgg16(num_classes: usize) -> Self {
        Self::vgg(
            &[
                &[64, 64],
                &[128, 128],
                &[256, 256, 256],
                &[512, 512, 512],
                &[512, 512, 512],
            ],
            false,
            vec![4096, 4096],
            num_classes,
        )
    }

    /// The small VGG of the localization reproductions (the second
    /// architecture beside [`crate::ResNetConfig::small`]): 3×3
    /// convolutions of 16 | 32 | 64, 64 | 128 channels, each block ending
    /// in a 2×2 max pool (64² → 4²), no batch norm, a 4×4 adaptive average
    /// pool (the identity on 64² inputs), one hidden dense layer of 128 and
    /// 10 logits: 397 930 parameters. The last convolution
    /// (`features.12`, 128 × 8 × 8 on 64² inputs) is where CAMs look.
    ///
    /// ```
    /// let c = salience_models::FeatureCnnConfig::small_vgg();
    /// assert_eq!(c.last_conv_stage().as_deref(), Some("features.12"));
    /// assert_eq!(c.num_parameters(), 397_930);
    /// ```
    pub fn small_vgg() -> Self {
        let mut c = Self::vgg(&[&[16], &[32], &[64, 64], &[128]], false, vec![128], 10);
        c.pool = (4, 4);
        c
    }
}
