#!/usr/bin/env python3
"""Writes small JPEG files and what torchvision's `decode_image` (libjpeg-turbo)
and Pillow decode them to, for crates/salience-datasets/tests/jpeg_decode.rs.

Developers run it (CI does not); it needs torch, torchvision, Pillow, NumPy:

    /work/pyref/bin/python scripts/parity/jpeg_decode.py

What it writes (deterministic: the images are drawn with NumPy from fixed
seeds and encoded by Pillow's libjpeg-turbo):

* crates/salience-datasets/tests/fixtures/jpeg/<name>.jpg: one file per layout
  a loader meets: chroma 4:2:0, 4:2:2, 4:4:4 (baseline), greyscale,
  progressive 4:2:0 and 4:4:4, restart markers, odd sizes (37 x 23, 1 x 1,
  2 x 17, ...), a size that is a multiple of the MCU, and quality 100 / 30.
* .../<name>.tv.u8: `torchvision.io.decode_image(data, ImageReadMode.RGB)`
  (or `.GRAY` for the greyscale file), the bytes in C, H, W order.
* .../<name>.pil.u8: `Image.open(f).convert("RGB")` (or "L"), C, H, W.
* .../manifest.json: each file, its shape, the max |Pillow - torchvision|,
  and the versions used.
"""

import io
import json
import os

import numpy as np
import PIL
import PIL.features
import torch
import torchvision
from PIL import Image
from torchvision.io import ImageReadMode, decode_image

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "crates", "salience-datasets", "tests", "fixtures", "jpeg")


def pattern(h, w, seed):
    """Smooth colour gradients, sharp colour edges and noise: every chroma
    upsampling and IDCT rounding shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / (3 + 5 * rng.random()) + y / 7.0)
    g = 127 + 120 * np.cos(y / (2 + 4 * rng.random()) - x / 5.0)
    b = 255 * (x + y) / max(h + w - 2, 1)
    img = np.stack([r, g, b], axis=-1)
    img[(x + 2 * y) % 9 < 2] = [250, 10, 40]
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# name, (height, width), seed, Pillow save options, grey?
CASES = [
    ("s420_37x23", (23, 37), 1, dict(quality=90, subsampling="4:2:0"), False),
    ("s422_37x23", (23, 37), 2, dict(quality=90, subsampling="4:2:2"), False),
    ("s444_37x23", (23, 37), 3, dict(quality=90, subsampling="4:4:4"), False),
    ("s420_64x48", (48, 64), 4, dict(quality=75, subsampling="4:2:0"), False),
    ("s420_q100_33x65", (65, 33), 5, dict(quality=100, subsampling="4:2:0"), False),
    ("s420_q30_51x19", (19, 51), 6, dict(quality=30, subsampling="4:2:0"), False),
    ("s420_1x1", (1, 1), 7, dict(quality=90, subsampling="4:2:0"), False),
    ("s420_2x17", (17, 2), 8, dict(quality=90, subsampling="4:2:0"), False),
    ("s422_3x5", (5, 3), 9, dict(quality=90, subsampling="4:2:2"), False),
    ("gray_37x23", (23, 37), 10, dict(quality=90), True),
    ("progressive_420_41x29", (29, 41), 11, dict(quality=90, subsampling="4:2:0", progressive=True), False),
    ("progressive_444_23x31", (31, 23), 12, dict(quality=85, subsampling="4:4:4", progressive=True), False),
    ("progressive_gray_19x13", (13, 19), 13, dict(quality=90, progressive=True), True),
    ("restart_420_45x35", (35, 45), 14, dict(quality=90, subsampling="4:2:0", restart_marker_blocks=3), False),
    ("optimized_422_30x40", (40, 30), 15, dict(quality=80, subsampling="4:2:2", optimize=True), False),
]


def chw(a):
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a, dtype=np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    files = []
    for name, (h, w), seed, opts, grey in CASES:
        img = Image.fromarray(pattern(h, w, seed), "RGB")
        if grey:
            img = img.convert("L")
        buf = io.BytesIO()
        img.save(buf, format="JPEG", **opts)
        data = buf.getvalue()
        with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
            f.write(data)
        mode = ImageReadMode.GRAY if grey else ImageReadMode.RGB
        tv = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode).numpy()
        pil = chw(Image.open(io.BytesIO(data)).convert("L" if grey else "RGB"))
        assert tv.shape == pil.shape, (name, tv.shape, pil.shape)
        tv.tofile(os.path.join(OUT, name + ".tv.u8"))
        pil.tofile(os.path.join(OUT, name + ".pil.u8"))
        d = int(np.abs(tv.astype(np.int16) - pil.astype(np.int16)).max())
        files.append(
            {
                "name": name + ".jpg",
                "shape": list(tv.shape),
                "grey": grey,
                "options": {k: v for k, v in opts.items()},
                "max_abs_pil_minus_torchvision": d,
            }
        )
        print(f"{name}: {tv.shape}, max |Pillow - torchvision| = {d}")
    manifest = {
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pillow": PIL.__version__,
            "libjpeg-turbo (Pillow)": PIL.features.version("libjpeg_turbo"),
            "libjpeg API (Pillow)": PIL.features.version("jpg"),
            "numpy": np.__version__,
        },
        "files": files,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
