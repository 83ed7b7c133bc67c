//! `salience_perturb::slic` against scikit-image's `slic` on the shipped
//! localization images (fixture: `scripts/parity/slic_fixture.py`), and
//! how well either follows the items' outlines (boundary recall of the
//! exact masks at 1 and 2 pixels, undersegmentation error), the question
//! Gattas' and Decker's LIME / KernelSHAP localisation scores depend on.
//!
//! Measured (scikit-image 0.26, 200 images, compactness 10; the same for
//! ours, image by image):
//!
//! | n_segments | σ | recall@1 | recall@2 | UE | images with < 10 segments |
//! |---:|---:|---:|---:|---:|---:|
//! | 50 | 0 | 0.639 | 0.746 | 0.089 | 73 |
//! | 50 | 2 | 0.924 | 0.985 | 0.037 | 0 |
//! | 100 | 0 | 0.849 | 0.924 | 0.061 | 20 |
//! | 100 | 2 | 0.982 | 1.000 | 0.026 | 0 |
//!
//! With scikit-image's default `sigma = 0` the per-pixel noise of these
//! images fragments the k-means labels into specks that the connectivity
//! step merges into one giant segment (a single segment on some images):
//! both implementations do it, so the fix is the Gaussian pre-smoothing
//! (`SlicConfig::sigma`), checked here against scikit-image's `sigma`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array2, Axis};
use salience_perturb::slic::{boundary_recall, slic, undersegmentation_error, SlicConfig};
use serde_json::Value;
use std::path::Path;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slic/skimage.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Decodes `[label, run, label, run, …]` (raster order) to `[h, w]`.
fn decode_rle(v: &Value, h: usize, w: usize) -> Array2<usize> {
    let flat: Vec<usize> = v
        .as_array()
        .unwrap()
        .chunks(2)
        .flat_map(|p| {
            let (l, n) = (p[0].as_u64().unwrap(), p[1].as_u64().unwrap());
            std::iter::repeat_n(l as usize, n as usize)
        })
        .collect();
    Array2::from_shape_vec((h, w), flat).unwrap()
}

fn config(setting: &Value) -> SlicConfig {
    SlicConfig {
        sigma: setting["sigma"].as_f64().unwrap() as f32,
        ..SlicConfig::with_segments(setting["n_segments"].as_u64().unwrap() as usize)
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn slic_labels_equal_scikit_image_with_and_without_smoothing() {
    let meta = fixture();
    let set = salience_datasets::assets::localization_sample().unwrap();
    let (h, w) = (set.images.shape()[2], set.images.shape()[3]);
    for setting in meta["settings"].as_array().unwrap() {
        let cfg = config(setting);
        for (i, rle) in setting["labels_rle"].as_array().unwrap().iter().enumerate() {
            let img = set.images.index_axis(Axis(0), i);
            let ours = slic(img.into_dyn(), &cfg).unwrap();
            assert_eq!(
                ours,
                decode_rle(rle, h, w),
                "image {i}, n_segments {}, sigma {}",
                cfg.n_segments,
                cfg.sigma
            );
        }
    }
}

/// On all 200 images: our per-image segment counts, boundary recalls and
/// undersegmentation errors against scikit-image's. The stated tolerance
/// (ours at least as good as scikit-image's on the means, within 1e-3) is
/// what the test demands; the measured difference is zero on every image.
#[test]
fn slic_follows_the_items_as_well_as_scikit_image() {
    let meta = fixture();
    let set = salience_datasets::assets::localization_sample().unwrap();
    let n = meta["n_images"].as_u64().unwrap() as usize;
    assert_eq!(n, set.images.shape()[0]);
    for setting in meta["settings"].as_array().unwrap() {
        let cfg = config(setting);
        let sk_segments = floats(&setting["segments"]);
        let sk_r1 = floats(&setting["boundary_recall_1"]);
        let sk_r2 = floats(&setting["boundary_recall_2"]);
        let sk_ue = floats(&setting["undersegmentation"]);
        let (mut r1, mut r2, mut ue, mut same) = (vec![], vec![], vec![], 0usize);
        for i in 0..n {
            let img = set.images.index_axis(Axis(0), i);
            let mask = set.masks.index_axis(Axis(0), i);
            let labels = slic(img.into_dyn(), &cfg).unwrap();
            let k = labels.iter().max().unwrap() + 1;
            r1.push(boundary_recall(labels.view(), mask.view(), 1).unwrap());
            r2.push(boundary_recall(labels.view(), mask.view(), 2).unwrap());
            ue.push(undersegmentation_error(labels.view(), mask.view()).unwrap());
            let equal = |a: f64, b: f64| (a - b).abs() < 1e-12;
            same += usize::from(
                k as f64 == sk_segments[i]
                    && equal(r1[i], sk_r1[i])
                    && equal(r2[i], sk_r2[i])
                    && equal(ue[i], sk_ue[i]),
            );
        }
        eprintln!(
            "n_segments {} sigma {}: recall@1 {:.4} (skimage {:.4}), recall@2 {:.4} ({:.4}), \
             UE {:.4} ({:.4}); {same}/{n} images identical on every measure",
            cfg.n_segments,
            cfg.sigma,
            mean(&r1),
            mean(&sk_r1),
            mean(&r2),
            mean(&sk_r2),
            mean(&ue),
            mean(&sk_ue)
        );
        assert!(mean(&r1) >= mean(&sk_r1) - 1e-3, "{cfg:?}");
        assert!(mean(&r2) >= mean(&sk_r2) - 1e-3, "{cfg:?}");
        assert!(mean(&ue) <= mean(&sk_ue) + 1e-3, "{cfg:?}");
        assert_eq!(same, n, "{cfg:?}");
    }
}

/// The setting the Gattas reproduction uses (50 segments, σ = 2) follows
/// the items; scikit-image's default σ = 0 does not on these noisy
/// 64 × 64 images (numbers in the module docs).
#[test]
fn smoothing_removes_the_degenerate_segmentations() {
    let set = salience_datasets::assets::localization_sample().unwrap();
    let stats = |sigma: f32| {
        let cfg = SlicConfig {
            sigma,
            ..SlicConfig::with_segments(50)
        };
        let (mut few, mut r2, mut ue) = (0usize, vec![], vec![]);
        for (img, mask) in set.images.outer_iter().zip(set.masks.outer_iter()) {
            let labels = slic(img.into_dyn(), &cfg).unwrap();
            few += usize::from(labels.iter().max().unwrap() + 1 < 10);
            r2.push(boundary_recall(labels.view(), mask.view(), 2).unwrap());
            ue.push(undersegmentation_error(labels.view(), mask.view()).unwrap());
        }
        (few, mean(&r2), mean(&ue))
    };
    let (few0, r0, ue0) = stats(0.0);
    let (few2, r2, ue2) = stats(2.0);
    assert!(few0 >= 50 && r0 < 0.8 && ue0 > 0.08, "{few0} {r0} {ue0}");
    assert!(few2 == 0 && r2 > 0.98 && ue2 < 0.04, "{few2} {r2} {ue2}");
}
