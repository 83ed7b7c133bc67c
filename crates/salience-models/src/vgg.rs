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
}
