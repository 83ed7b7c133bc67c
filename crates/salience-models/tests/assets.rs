//! The shipped weights: trained models reach their stated accuracy on the
//! shipped samples (the samples' own checks are salience-datasets'
//! `tests/assets.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::{Device, D};
use salience_datasets::assets::{
    fashion_mnist_sample, fashion_mnist_sample_gray, localization_sample, FASHION_SAMPLE_LEN,
};
use salience_datasets::{LocalizationConfig, LocalizationGenerator};
use salience_explain::Classifier;
use salience_models::assets::{
    resnet_small, small_cnn, small_cnn_permuted_labels, vgg_small_loc, vit_fashion,
    RESNET_SMALL_HELD_OUT_ACCURACY, RESNET_TEST_SEED, VGG_SMALL_LOC_HELD_OUT_ACCURACY,
    VIT_FASHION_TEST_ACCURACY,
};

/// A floor under the accuracy the shipped small ResNet reaches on the
/// shipped localization sample (83.0 %, 166 of 200; see docs/data.md).
const RESNET_THRESHOLD: f64 = 0.80;

fn accuracy<C: Classifier>(m: &C, x: &candle_core::Tensor, labels: &[usize]) -> f64 {
    let pred: Vec<u32> = m
        .logits(x)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap();
    pred.iter()
        .zip(labels)
        .filter(|(p, l)| **p as usize == **l)
        .count() as f64
        / labels.len() as f64
}

#[test]
fn shipped_small_cnn_reaches_88_percent_on_the_shipped_fashion_sample() {
    let s = fashion_mnist_sample().unwrap();
    assert_eq!(s.len(), FASHION_SAMPLE_LEN);
    let m = small_cnn(&Device::Cpu).unwrap();
    let mut correct = 0.0;
    for start in (0..s.len()).step_by(250) {
        let x = s.tensor(start, 250, &Device::Cpu).unwrap();
        correct += accuracy(&m, &x, &s.labels[start..start + 250]) * 250.0;
    }
    let acc = correct / s.len() as f64;
    println!("small CNN accuracy on the shipped sample: {acc:.4}");
    assert!(acc >= 0.88, "accuracy {acc}");
}

/// The shipped ViT: 83.25 % on the full test split when trained; on the
/// shipped 1000 test images it must stay within 3 points of that.
#[test]
fn shipped_vit_reaches_its_stated_accuracy_on_the_shipped_fashion_sample() {
    let s = fashion_mnist_sample().unwrap();
    let m = vit_fashion(&Device::Cpu).unwrap();
    let mut correct = 0.0;
    for start in (0..s.len()).step_by(250) {
        let x = s.tensor(start, 250, &Device::Cpu).unwrap();
        correct += accuracy(&m, &x, &s.labels[start..start + 250]) * 250.0;
    }
    let acc = correct / s.len() as f64;
    println!("ViT accuracy on the shipped sample: {acc:.4}");
    assert!(acc >= VIT_FASHION_TEST_ACCURACY - 0.03, "accuracy {acc}");
}

/// The data-randomization model: trained on permuted labels, it must be
/// near chance (10 %) on the true labels of the shipped sample and must
/// not agree with the real CNN more than chance would.
#[test]
fn shipped_permuted_label_cnn_is_near_chance_on_the_shipped_fashion_sample() {
    let s = fashion_mnist_sample().unwrap();
    let real = small_cnn(&Device::Cpu).unwrap();
    let perm = small_cnn_permuted_labels(&Device::Cpu).unwrap();
    assert_eq!(perm.num_classes(), 10);
    let (mut correct, mut agree) = (0.0, 0.0);
    for start in (0..s.len()).step_by(250) {
        let x = s.tensor(start, 250, &Device::Cpu).unwrap();
        correct += accuracy(&perm, &x, &s.labels[start..start + 250]) * 250.0;
        let real_pred: Vec<usize> = real
            .logits(&x)
            .unwrap()
            .argmax(D::Minus1)
            .unwrap()
            .to_vec1::<u32>()
            .unwrap()
            .into_iter()
            .map(|p| p as usize)
            .collect();
        agree += accuracy(&perm, &x, &real_pred) * 250.0;
    }
    let (acc, agree) = (correct / s.len() as f64, agree / s.len() as f64);
    println!("permuted-label CNN: accuracy {acc:.4}, agreement with the real CNN {agree:.4}");
    assert!((0.03..=0.2).contains(&acc), "accuracy {acc}");
    assert!(agree <= 0.2, "agreement {agree}");
}

/// Accuracy of `m` on the 200 shipped localization images.
fn localization_sample_accuracy<C: Classifier>(m: &C) -> f64 {
    let s = localization_sample().unwrap();
    let mut correct = 0.0;
    for start in (0..s.len()).step_by(100) {
        let x = s.tensor(start, 100, &Device::Cpu).unwrap();
        correct += accuracy(m, &x, &s.labels[start..start + 100]) * 100.0;
    }
    correct / s.len() as f64
}

#[test]
fn shipped_resnet_reaches_its_stated_accuracy_on_the_shipped_localization_sample() {
    let acc = localization_sample_accuracy(&resnet_small(&Device::Cpu).unwrap());
    println!("small ResNet accuracy on the shipped localization sample: {acc:.4}");
    assert!(acc >= RESNET_THRESHOLD, "accuracy {acc}");
}

/// Accuracy of `m` on 1000 fresh localization images (the held-out seed,
/// the training configuration) built from the 1000 shipped Fashion-MNIST
/// test items.
fn fresh_held_out_accuracy<C: Classifier>(m: &C) -> f64 {
    let items = fashion_mnist_sample_gray().unwrap();
    let g = LocalizationGenerator::new(&items, LocalizationConfig::easy()).unwrap();
    let (n, chunk) = (1000, 250);
    let mut correct = 0.0;
    for start in (0..n).step_by(chunk) {
        let set = g.generate(RESNET_TEST_SEED, start, chunk).unwrap();
        let x = set.tensor(0, chunk, &Device::Cpu).unwrap();
        correct += accuracy(m, &x, &set.labels) * chunk as f64;
    }
    correct / n as f64
}

/// The stated held-out accuracy, re-measured offline on 1000 fresh
/// generated images ([`fresh_held_out_accuracy`]). Binomial standard
/// error at n = 1000 is ≈ 1.3 points, so the margin is 3 standard errors.
#[test]
fn shipped_resnet_reaches_its_stated_held_out_accuracy_on_fresh_generated_images() {
    let acc = fresh_held_out_accuracy(&resnet_small(&Device::Cpu).unwrap());
    println!("small ResNet accuracy on 1000 fresh generated images: {acc:.4}");
    assert!(
        acc >= RESNET_SMALL_HELD_OUT_ACCURACY - 0.04,
        "accuracy {acc}, stated {RESNET_SMALL_HELD_OUT_ACCURACY}"
    );
}

/// The localization set's second architecture: the shipped small VGG's
/// stated held-out accuracy re-measured as the ResNet's (within 3
/// binomial standard errors), and well above chance on the shipped
/// sample the reproductions explain.
#[test]
fn shipped_vgg_reaches_its_stated_held_out_accuracy_on_fresh_generated_images() {
    let m = vgg_small_loc(&Device::Cpu).unwrap();
    let acc = fresh_held_out_accuracy(&m);
    println!("small VGG accuracy on 1000 fresh generated images: {acc:.4}");
    assert!(
        (acc - VGG_SMALL_LOC_HELD_OUT_ACCURACY).abs() <= 0.04,
        "accuracy {acc}, stated {VGG_SMALL_LOC_HELD_OUT_ACCURACY}"
    );
    let sample = localization_sample_accuracy(&m);
    println!("small VGG accuracy on the shipped localization sample: {sample:.4}");
    assert!(sample >= 0.5, "accuracy {sample}");
}

/// PolyCAM reads the shipped ViT's token layers as their 7 × 7 patch grid
/// (class token dropped), as Grad-CAM does; it failed with a shape error
/// on `[N, T, D]` tokens.
#[test]
fn poly_cam_explains_the_shipped_vit_at_its_token_layers() {
    use salience_core::{Explainer, Seeds};
    use salience_explain::{LayerSplit, PolyCam, PolyCamConfig, PolyCamVariant};
    let s = fashion_mnist_sample().unwrap();
    let x = s
        .images
        .slice(ndarray::s![0..2, .., .., ..])
        .to_owned()
        .into_dyn();
    let t = &s.labels[0..2];
    let m = vit_fashion(&Device::Cpu).unwrap();
    for l in ["blocks.1", "blocks.2"] {
        let g = m.token_grid(l).expect("token layer");
        assert_eq!((g.prefix, g.rows, g.cols), (1, 7, 7));
    }
    for variant in [PolyCamVariant::Plus, PolyCamVariant::PlusMinus] {
        let cfg = PolyCamConfig {
            variant,
            ..PolyCamConfig::new(&["blocks.1", "blocks.2"])
        };
        let a = PolyCam::with_config(&m, cfg)
            .explain(x.view(), t, Seeds::base(0))
            .expect("PolyCAM on the ViT's token layers");
        assert_eq!(a.shape(), &[2, 28, 28]);
        let mut spread = Vec::new();
        for i in 0..2 {
            let map = a.view().index_axis(ndarray::Axis(0), i).to_owned();
            assert!(map.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
            let (lo, hi) = map
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            spread.push(hi - lo);
        }
        // A layer map is ReLU(Σ_k w_k A_k) and a ViT's tokens are not
        // post-ReLU, so an image's last-layer map can be ≤ 0 everywhere
        // and its whole map 0: the definition, not a failure. Here both
        // PCAM⁺ maps spread over > 0.5; PCAM±'s map of image 1 is flat.
        match variant {
            PolyCamVariant::Plus => {
                assert!(spread.iter().all(|&d| d > 0.5), "{variant:?}: {spread:?}")
            }
            _ => assert!(spread.iter().any(|&d| d > 0.5), "{variant:?}: {spread:?}"),
        }
    }
}
