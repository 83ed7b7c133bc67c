//! `salience_perturb::slic` against scikit-image's `slic` on the shipped
//! localization images (fixture: `scripts/parity/slic_fixture.py`), and
//! how well either follows the items' outlines (boundary recall of the
//! exact masks), the question Gattas' and Decker's LIME / KernelSHAP
//! localisation scores depend on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use ndarray::{Array2, ArrayView2, Axis};
use salience_perturb::slic::{slic, SlicConfig};
use std::collections::HashMap;
use std::path::Path;

fn fixture() -> (ndarray::ArrayD<f32>, serde_json::Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slic");
    let labels = salience_core::npy::read_array(dir.join("skimage_labels.npy")).unwrap();
    let meta = std::fs::read_to_string(dir.join("skimage.json")).unwrap();
    (labels, serde_json::from_str(&meta).unwrap())
}

/// Pixels on a boundary between two labels (both sides, 4-neighbours).
fn boundaries(labels: ArrayView2<'_, usize>) -> Array2<bool> {
    let (h, w) = labels.dim();
    let mut b = Array2::from_elem((h, w), false);
    for y in 0..h {
        for x in 0..w {
            if y + 1 < h && labels[[y, x]] != labels[[y + 1, x]] {
                b[[y, x]] = true;
                b[[y + 1, x]] = true;
            }
            if x + 1 < w && labels[[y, x]] != labels[[y, x + 1]] {
                b[[y, x]] = true;
                b[[y, x + 1]] = true;
            }
        }
    }
    b
}

/// Fraction of the mask's boundary pixels within `tol` (Chebyshev) of a
/// superpixel boundary: the script's definition.
fn boundary_recall(
    segments: ArrayView2<'_, usize>,
    mask: ArrayView2<'_, usize>,
    tol: usize,
) -> f64 {
    let gt = boundaries(mask);
    let seg = boundaries(segments);
    let (h, w) = seg.dim();
    let (mut hit, mut total) = (0usize, 0usize);
    for ((y, x), &g) in gt.indexed_iter() {
        if !g {
            continue;
        }
        total += 1;
        let near = (y.saturating_sub(tol)..=(y + tol).min(h - 1))
            .any(|yy| (x.saturating_sub(tol)..=(x + tol).min(w - 1)).any(|xx| seg[[yy, xx]]));
        hit += usize::from(near);
    }
    hit as f64 / total.max(1) as f64
}

/// The Rand index of two labellings: the fraction of pixel pairs both put
/// together or both apart (1 = the same partition).
fn rand_index(a: ArrayView2<'_, usize>, b: ArrayView2<'_, usize>) -> f64 {
    let mut joint: HashMap<(usize, usize), f64> = HashMap::new();
    let (mut ca, mut cb): (HashMap<usize, f64>, HashMap<usize, f64>) = Default::default();
    for (&x, &y) in a.iter().zip(b.iter()) {
        *joint.entry((x, y)).or_default() += 1.0;
        *ca.entry(x).or_default() += 1.0;
        *cb.entry(y).or_default() += 1.0;
    }
    let pairs = |v: f64| v * (v - 1.0) / 2.0;
    let n = a.len() as f64;
    let both: f64 = joint.values().copied().map(pairs).sum();
    let sa: f64 = ca.values().copied().map(pairs).sum();
    let sb: f64 = cb.values().copied().map(pairs).sum();
    let total = pairs(n);
    (total - sa - sb + 2.0 * both) / total
}

#[test]
fn slic_matches_scikit_image_on_the_localization_images() {
    let (reference, meta) = fixture();
    let set = salience_data::assets::localization_sample().unwrap();
    let n = reference.shape()[0];
    let sk_recall: Vec<f64> = meta["boundary_recall_tol1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mut report = Vec::new();
    for (i, &recall) in sk_recall.iter().enumerate().take(n) {
        let img = set.images.index_axis(Axis(0), i);
        let ours = slic(img.into_dyn(), &SlicConfig::default()).unwrap();
        let theirs = reference.index_axis(Axis(0), i).mapv(|v| v as usize);
        let theirs = theirs.into_dimensionality::<ndarray::Ix2>().unwrap();
        let mask = set.masks.index_axis(Axis(0), i).mapv(usize::from);
        assert_eq!(ours, theirs, "image {i}");
        let ri = rand_index(ours.view(), theirs.view());
        let r_ours = boundary_recall(ours.view(), mask.view(), 1);
        let r_theirs = boundary_recall(theirs.view(), mask.view(), 1);
        report.push((i, ri, r_ours, r_theirs, recall));
    }
    for r in &report {
        eprintln!(
            "image {}: rand index {:.4}, recall ours {:.3} skimage {:.3} (script {:.3})",
            r.0, r.1, r.2, r.3, r.4
        );
    }
    for r in &report {
        // The same partition with the same label numbers …
        assert_eq!(r.1, 1.0, "{r:?}");
        // … so the same boundary recall, by the script's definition.
        assert!(
            (r.2 - r.3).abs() < 1e-12 && (r.3 - r.4).abs() < 1e-12,
            "{r:?}"
        );
    }
}
