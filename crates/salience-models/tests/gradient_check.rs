//! The shipped models pass the gradient check (their max pooling is the
//! project's, whose backward routes the gradient to the maximum).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::Device;
use ndarray::{s, Axis};
use salience_explain::gradient::gradient_check::{check_gradients, GradientCheckConfig};

#[test]
fn shipped_cnn_and_resnet_pass_the_gradient_check() {
    let cnn = salience_models::assets::small_cnn(&Device::Cpu).unwrap();
    let sample = salience_datasets::assets::fashion_mnist_sample().unwrap();
    let x = sample
        .images
        .slice(s![0..4, .., .., ..])
        .to_owned()
        .into_dyn();
    let t = &sample.labels[0..4];
    let c = check_gradients(&cnn, x.view(), t, &GradientCheckConfig::default()).unwrap();
    eprintln!("small CNN: {c:?}");
    assert!(c.passed(), "{c:?}");
    assert!((c.gradient_ratio - 1.0).abs() < 0.02, "{c:?}");
    let resnet = salience_models::assets::resnet_small(&Device::Cpu).unwrap();
    let loc = salience_datasets::assets::localization_sample().unwrap();
    let x = loc
        .images
        .index_axis(Axis(0), 0)
        .insert_axis(Axis(0))
        .to_owned()
        .into_dyn();
    let c = check_gradients(
        &resnet,
        x.view(),
        &loc.labels[0..1],
        &GradientCheckConfig::default(),
    )
    .unwrap();
    eprintln!("small ResNet: {c:?}");
    assert!(c.passed(), "{c:?}");
}
