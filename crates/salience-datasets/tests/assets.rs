//! The shipped data samples: the Fashion-MNIST sample is the start of the
//! official test split, and the localization sample's ground truth is
//! exact (moved from `salience-data`'s `tests/assets.rs`; the shipped
//! weights' accuracies are checked in `salience-models`' `tests/assets.rs`).

use salience_datasets::assets::{
    fashion_mnist_sample, fashion_mnist_sample_gray, localization_sample, FASHION_SAMPLE_LEN,
    LOCALIZATION_SAMPLE_LEN,
};
use salience_datasets::{BoundingBox, LocalizationConfig, LocalizationGenerator};

#[test]
fn shipped_fashion_sample_is_well_formed() {
    let s = fashion_mnist_sample().unwrap();
    assert!(s.images.iter().all(|v| (0.0..=1.0).contains(v)));
    // Every class is present (the test split is balanced).
    for c in 0..10 {
        assert!(
            s.labels.iter().filter(|&&l| l == c).count() >= 70,
            "class {c}"
        );
    }
    // When the Debian package is installed, the sample is exactly the first
    // images of the official test split.
    if let Ok(test) = salience_datasets::fashion_mnist::load_default(
        salience_datasets::fashion_mnist::Split::Test,
    ) {
        let g = fashion_mnist_sample_gray().unwrap();
        assert_eq!(
            g.images,
            test.images.slice(ndarray::s![..FASHION_SAMPLE_LEN, .., ..])
        );
        assert_eq!(g.labels[..], test.labels[..FASHION_SAMPLE_LEN]);
    }
}

#[test]
fn shipped_localization_ground_truth_is_exact() {
    let s = localization_sample().unwrap();
    assert_eq!(s.len(), LOCALIZATION_SAMPLE_LEN);
    for k in 0..s.len() {
        let m = s.masks.index_axis(ndarray::Axis(0), k);
        assert_eq!(BoundingBox::of_mask(m), Some(s.boxes[k]), "image {k}");
        assert!(s.labels[k] < 10);
    }
    // Items whose source is among the shipped Fashion-MNIST test images can
    // be re-rendered: their masks must be the resized item's non-zero pixels.
    let pool = fashion_mnist_sample_gray().unwrap();
    let g = LocalizationGenerator::new(&pool, LocalizationConfig::default()).unwrap();
    let mut checked = 0;
    for (k, p) in s.placements.iter().enumerate() {
        if p.source >= FASHION_SAMPLE_LEN {
            continue;
        }
        assert_eq!(s.labels[k], pool.labels[p.source] as usize);
        let alpha = g.item_alpha(p.source, p.side).unwrap();
        for i in 0..64 {
            for j in 0..64 {
                let inside =
                    (p.top..p.top + p.side).contains(&i) && (p.left..p.left + p.side).contains(&j);
                let want = inside && alpha[[i - p.top, j - p.left]] > 0.0;
                assert_eq!(s.masks[[k, i, j]], want, "image {k} pixel ({i}, {j})");
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} items re-rendered");
}
