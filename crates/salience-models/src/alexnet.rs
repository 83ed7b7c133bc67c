//! torchvision's AlexNet (Krizhevsky et al. 2012, the one-GPU variant of
//! torchvision): [`FeatureCnnConfig::alexnet`] and reduced widths through
//! [`FeatureCnnConfig::alexnet_widths`], as a
//! [`crate::FeatureCnn`] (tensor names `features.{0,3,6,8,10}.*`
//! and `classifier.{1,4,6}.*` as torchvision's).

use super::feature_cnn::{ClassifierLayout, FeatureCnnConfig, FeatureLayer};

impl FeatureCnnConfig {
    /// AlexNet's layout with convolution widths `widths`: 11×11 stride 4
    /// padding 2, 3×3/2 max pool, 5×5 padding 2, max pool, three 3×3
    /// padding 1, max pool (each convolution with a ReLU); a 6×6 adaptive
    /// average pool; two dense layers of width `hidden` (dropout before
    /// each), then `num_classes` logits.
    ///
    /// ```
    /// let c = salience_models::FeatureCnnConfig::alexnet_widths([8, 24, 48, 32, 32], 32, 5);
    /// assert_eq!(c.last_conv_stage().as_deref(), Some("features.11"));
    /// ```
    pub fn alexnet_widths(widths: [usize; 5], hidden: usize, num_classes: usize) -> Self {
        let conv = |out_channels, kernel, stride, padding| FeatureLayer::Conv {
            out_channels,
            kernel,
            stride,
            padding,
        };
        let pool = FeatureLayer::MaxPool {
            kernel: 3,
            stride: 2,
            padding: 0,
        };
        let [a, b, c, d, e] = widths;
        FeatureCnnConfig {
            in_channels: 3,
            features: vec![
                conv(a, 11, 4, 2),
                pool,
                conv(b, 5, 1, 2),
                pool,
                conv(c, 3, 1, 1),
                conv(d, 3, 1, 1),
                conv(e, 3, 1, 1),
                pool,
            ],
            batch_norm: false,
            pool: (6, 6),
            hidden: vec![hidden, hidden],
            layout: ClassifierLayout::AlexNet,
            num_classes,
        }
    }

    /// torchvision's `alexnet`: widths 64, 192, 384, 256, 256, dense
    /// layers 4096, 4096.
    ///
    /// ```
    /// let s = salience_models::FeatureCnnConfig::alexnet(1000).tensor_shapes();
    /// assert!(s.contains(&("classifier.1.weight".to_string(), vec![4096, 9216])));
    /// assert!(s.contains(&("features.10.weight".to_string(), vec![256, 256, 3, 3])));
    /// ```
    pub fn alexnet(num_classes: usize) -> Self {
        Self::alexnet_widths([64, 192, 384, 256, 256], 4096, num_classes)
    }
}
