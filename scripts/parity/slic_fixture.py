"""scikit-image SLIC on the shipped localization images: the reference for
salience_perturb::slic (crates/salience-data/tests/slic_parity.rs).

Developers run it (CI does not):
    /work/pyref/bin/python scripts/parity/slic_fixture.py
It reads crates/salience-data/assets/localization_sample.safetensors and
writes crates/salience-data/tests/fixtures/slic/: the first N images'
scikit-image labels (default parameters: n_segments=100, compactness=10,
max_num_iter=10, sigma=0, convert2lab for RGB, enforce_connectivity,
start_label=0) and, per image, the boundary recall of the item masks
(fraction of mask-boundary pixels within 1 pixel of a superpixel boundary).
"""
import json
import pathlib

import numpy as np
import skimage
from safetensors.numpy import load_file
from skimage.segmentation import slic

ROOT = pathlib.Path(__file__).resolve().parents[2]
N = 12
OUT = ROOT / "crates/salience-data/tests/fixtures/slic"


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
    return float((gt & dil).sum() / max(gt.sum(), 1))


def main():
    t = load_file(str(ROOT / "crates/salience-data/assets/localization_sample.safetensors"))
    images = t["images"][:N].astype(np.float64) / 255.0  # [N, 3, 64, 64]
    masks = t["masks"][:N] != 0
    OUT.mkdir(parents=True, exist_ok=True)
    labels = []
    recall = []
    for img, mask in zip(images, masks):
        hwc = np.transpose(img, (1, 2, 0))
        seg = slic(hwc, n_segments=100, compactness=10.0, max_num_iter=10, sigma=0,
                   start_label=0, channel_axis=-1)
        labels.append(seg.astype(np.float32))  # exact below 2**24
        recall.append(boundary_recall(seg, mask))
    np.save(OUT / "skimage_labels.npy", np.stack(labels))
    meta = {
        "skimage": skimage.__version__,
        "n_images": N,
        "params": {"n_segments": 100, "compactness": 10.0, "max_num_iter": 10, "sigma": 0},
        "boundary_recall_tol1": recall,
    }
    (OUT / "skimage.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(meta)


if __name__ == "__main__":
    main()
