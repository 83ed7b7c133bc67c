"""scikit-image SLIC on the shipped localization images: the reference for
salience_perturb::slic (crates/salience-datasets/tests/slic_parity.rs).

Developers run it (CI does not):
    /work/pyref/bin/python scripts/parity/slic_fixture.py
It reads crates/salience-datasets/assets/localization_sample.safetensors (200
images of 3 x 64 x 64, uint8, and their exact item masks) and writes
crates/salience-datasets/tests/fixtures/slic/skimage.json: for each setting
below (n_segments in {50, 100}, sigma in {0, 2}; otherwise scikit-image's
defaults: compactness=10, max_num_iter=10, convert2lab for RGB,
enforce_connectivity, min/max_size_factor 0.5/3, start_label=0)

* the labels of the first N_LABELS images, run-length encoded in raster
  order ([label, run, label, run, ...]);
* per image (all 200): the number of segments, the boundary recall of the
  item mask at tolerance 1 and 2 pixels (fraction of mask-boundary pixels
  within that Chebyshev distance of a superpixel boundary) and the
  undersegmentation error sum_s min(|s & M|, |s - M|) / N (the pixels the
  best superpixel-constant mask gets wrong), as
  salience_perturb::slic::{boundary_recall, undersegmentation_error}
  define them.
"""
import json
import pathlib

import numpy as np
import skimage
from safetensors.numpy import load_file
from skimage.segmentation import slic

ROOT = pathlib.Path(__file__).resolve().parents[2]
N_LABELS = 12
SETTINGS = [(50, 0.0), (50, 2.0), (100, 0.0), (100, 2.0)]
COMPACTNESS = 10.0
OUT = ROOT / "crates/salience-datasets/tests/fixtures/slic"


def boundaries(labels):
    """Pixels whose right or lower 4-neighbour has another label (and those neighbours)."""
    b = np.zeros(labels.shape, bool)
    dh = labels[1:, :] != labels[:-1, :]
    dw = labels[:, 1:] != labels[:, :-1]
    b[1:, :] |= dh
    b[:-1, :] |= dh
    b[:, 1:] |= dw
    b[:, :-1] |= dw
    return b


def boundary_recall(segments, mask, tol=1):
    gt = boundaries(mask.astype(np.int32))
    seg = boundaries(segments)
    # Dilate the segment boundaries by `tol` (Chebyshev).
    h, w = seg.shape
    dil = np.zeros_like(seg)
    for dy in range(-tol, tol + 1):
        for dx in range(-tol, tol + 1):
            ys = slice(max(dy, 0), h + min(dy, 0))
            yd = slice(max(-dy, 0), h + min(-dy, 0))
            xs = slice(max(dx, 0), w + min(dx, 0))
            xd = slice(max(-dx, 0), w + min(-dx, 0))
            dil[yd, xd] |= seg[ys, xs]
    return float((gt & dil).sum() / gt.sum())


def undersegmentation_error(segments, mask):
    wrong = 0
    for s in np.unique(segments):
        m = segments == s
        wrong += min(int((m & mask).sum()), int((m & ~mask).sum()))
    return wrong / segments.size


def rle(labels):
    flat = labels.ravel()
    out = []
    start = 0
    for i in range(1, flat.size + 1):
        if i == flat.size or flat[i] != flat[start]:
            out += [int(flat[start]), i - start]
            start = i
    return out


def main():
    t = load_file(str(ROOT / "crates/salience-datasets/assets/localization_sample.safetensors"))
    images = t["images"].astype(np.float64) / 255.0  # [200, 3, 64, 64]
    masks = t["masks"] != 0
    OUT.mkdir(parents=True, exist_ok=True)
    settings = []
    for n_segments, sigma in SETTINGS:
        entry = {"n_segments": n_segments, "sigma": sigma, "labels_rle": [],
                 "segments": [], "boundary_recall_1": [], "boundary_recall_2": [],
                 "undersegmentation": []}
        for i, (img, mask) in enumerate(zip(images, masks)):
            hwc = np.transpose(img, (1, 2, 0))
            seg = slic(hwc, n_segments=n_segments, compactness=COMPACTNESS, max_num_iter=10,
                       sigma=sigma, start_label=0, channel_axis=-1)
            if i < N_LABELS:
                entry["labels_rle"].append(rle(seg))
            entry["segments"].append(int(seg.max()) + 1)
            entry["boundary_recall_1"].append(boundary_recall(seg, mask, 1))
            entry["boundary_recall_2"].append(boundary_recall(seg, mask, 2))
            entry["undersegmentation"].append(undersegmentation_error(seg, mask))
        settings.append(entry)
        k = np.array(entry["segments"])
        print(f"n_segments={n_segments} sigma={sigma}: "
              f"recall@1 {np.mean(entry['boundary_recall_1']):.4f} "
              f"recall@2 {np.mean(entry['boundary_recall_2']):.4f} "
              f"UE {np.mean(entry['undersegmentation']):.4f} "
              f"segments median {np.median(k):.0f}, < 10 on {(k < 10).sum()} images")
    meta = {
        "skimage": skimage.__version__,
        "n_images": int(images.shape[0]),
        "n_labels": N_LABELS,
        "compactness": COMPACTNESS,
        "max_num_iter": 10,
        "settings": settings,
    }
    (OUT / "skimage.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
