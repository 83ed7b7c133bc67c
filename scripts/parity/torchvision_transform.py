#!/usr/bin/env python3
"""Writes the test images and the torchvision-transformed tensors that
crates/salience-datasets/tests/image_parity.rs compares with
`salience_datasets::ImageTransform` and `salience_datasets::load_image`, and the
ImageNet class-name asset of `salience_datasets::imagenet`.

Developers run it (CI does not): it needs torch, torchvision, Pillow and
NumPy, e.g.

    /work/pyref/bin/pip install torchvision pillow   # matching the torch version
    /work/pyref/bin/python scripts/parity/torchvision_transform.py

What it writes (all deterministic; the images are drawn with NumPy from a
fixed seed):

* crates/salience-datasets/tests/fixtures/images/*.png|*.jpg: small test images
  of odd sizes and every mode a loader meets (RGB, portrait RGB, gray "L",
  RGBA, gray+alpha "LA", palette "P", a 4:2:0 JPEG, a CMYK JPEG, a JPEG with
  EXIF orientation 6).
* .../images/expected/<case>.u8: torchvision's evaluation transform on the
  image as `ImageFolder` does it (PIL `Image.open(f).convert("RGB")`, or
  "L" for the gray case, then `transforms.Resize(s)` and
  `transforms.CenterCrop(c)` on the PIL image, then `ToTensor()`), stored as
  the bytes round(255 * tensor) in C, H, W order: PIL's resampler works on
  8-bit images, so ToTensor's output is exactly byte / 255.
* .../images/expected/<case>.tensor.f32: the same Resize + CenterCrop on the
  float tensor of the decoded image (`antialias=True`, the tensor path of
  `transforms.Resize`), little-endian float32, C, H, W.
* .../images/expected/<case>.norm.f32: the PIL-path result after
  `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])`.
* .../images/expected/<image>.decoded.u8: the pixels PIL decodes (after
  convert("RGB")), C, H, W, for the JPEG decoder comparison.
* .../images/manifest.json: every case, its parameters and output shape,
  and the versions used.
* crates/salience-datasets/assets/imagenet_classes.txt: the 1000 names of
  `torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]`,
  one a line, in class-index order.
"""

import io
import json
import os

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import functional as F

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DATA = os.path.join(ROOT, "crates", "salience-datasets")
IMAGES = os.path.join(DATA, "tests", "fixtures", "images")
EXPECTED = os.path.join(IMAGES, "expected")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def pattern(h, w, seed):
    """A smooth colour field with stripes, a checker patch and discs: fine
    detail for the antialiasing filter, yet a few KB as PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / (7 + 5 * rng.random()) + y / 23.0)
    g = 127 + 120 * np.cos(y / (5 + 4 * rng.random()) - x / 31.0)
    b = 255 * (x + y) / (h + w)
    img = np.stack([r, g, b], axis=-1)
    # one-pixel stripes and a one-pixel checker patch (aliasing bait)
    img[h // 8 : h // 3, :, 0] = np.where((x[h // 8 : h // 3] % 2) == 0, 250, 5)
    cy, cx = h // 2, w // 2
    patch = ((y + x) % 2 == 0)[cy : cy + h // 5, cx : cx + w // 5]
    img[cy : cy + h // 5, cx : cx + w // 5, 1] = np.where(patch, 240, 10)
    for _ in range(4):
        py, px, rad = rng.integers(0, h), rng.integers(0, w), rng.integers(5, 30)
        disc = (y - py) ** 2 + (x - px) ** 2 < rad**2
        img[disc] = rng.integers(0, 256, size=3)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_images():
    os.makedirs(EXPECTED, exist_ok=True)
    files = {}
    # landscape, odd sizes: 301 wide, 257 high
    Image.fromarray(pattern(257, 301, 1), "RGB").save(os.path.join(IMAGES, "odd_rgb.png"))
    files["odd_rgb.png"] = "RGB"
    Image.fromarray(pattern(317, 181, 2), "RGB").save(os.path.join(IMAGES, "portrait.png"))
    files["portrait.png"] = "RGB"
    gray = pattern(190, 230, 3)[..., 1]
    Image.fromarray(gray, "L").save(os.path.join(IMAGES, "gray.png"))
    files["gray.png"] = "L"
    rgb = pattern(149, 203, 4)
    alpha = np.tile(np.linspace(0, 255, 203).astype(np.uint8), (149, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(os.path.join(IMAGES, "rgba.png"))
    files["rgba.png"] = "RGBA"
    la = np.dstack([pattern(77, 91, 5)[..., 0], alpha[:77, :91]])
    Image.fromarray(la, "LA").save(os.path.join(IMAGES, "gray_alpha.png"))
    files["gray_alpha.png"] = "LA"
    pal = Image.fromarray(pattern(61, 97, 6), "RGB").quantize(colors=16, dither=Image.Dither.NONE)
    pal.save(os.path.join(IMAGES, "palette.png"))
    files["palette.png"] = "P"
    Image.fromarray(pattern(133, 171, 7), "RGB").save(
        os.path.join(IMAGES, "photo.jpg"), quality=90, subsampling="4:2:0"
    )
    files["photo.jpg"] = "RGB"
    Image.fromarray(pattern(30, 40, 8), "RGB").convert("CMYK").save(
        os.path.join(IMAGES, "cmyk.jpg"), quality=95
    )
    files["cmyk.jpg"] = "CMYK"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pattern(24, 40, 9), "RGB").save(
        os.path.join(IMAGES, "exif_orientation6.jpg"), quality=95, exif=exif
    )
    files["exif_orientation6.jpg"] = "RGB"
    return files


def chw_u8(pil):
    a = np.asarray(pil)
    if a.ndim == 2:
        a = a[..., None]
    return np.ascontiguousarray(a.transpose(2, 0, 1)).astype(np.uint8)


def main():
    files = write_images()
    cases = []
    # (image, mode, resize, crop [h, w]); crops chosen so that the centre
    # offset (size - crop) / 2 lands on .5 (torchvision rounds half to even),
    # one smaller than the resized image's side (zero padding).
    # The last flag: also write the float outputs (tensor path, normalized);
    # only for a few small cases, to keep the fixture small.
    plan = [
        ("odd_rgb.png", "RGB", 256, [224, 224], False),
        ("odd_rgb.png", "RGB", 64, [57, 57], True),
        ("odd_rgb.png", "RGB", 40, [48, 50], False),
        ("portrait.png", "RGB", 64, [50, 61], True),
        ("portrait.png", "RGB", 100, [90, 90], False),
        ("gray.png", "L", 64, [56, 56], True),
        ("gray.png", "RGB", 72, [61, 64], False),
        ("rgba.png", "RGB", 64, [56, 56], False),
        ("gray_alpha.png", "RGB", 64, [56, 56], False),
        ("palette.png", "RGB", 48, [45, 45], False),
        ("photo.jpg", "RGB", 64, [56, 56], True),
        ("photo.jpg", "RGB", 133, [120, 120], False),
    ]
    for name, mode, size, crop, floats in plan:
        case = f"{os.path.splitext(name)[0]}_{mode}_r{size}_c{crop[0]}x{crop[1]}"
        with open(os.path.join(IMAGES, name), "rb") as f:
            img = Image.open(f).convert(mode)
        pil_out = F.center_crop(transforms.Resize(size)(img), crop)
        t = transforms.ToTensor()(pil_out)
        u8 = chw_u8(pil_out)
        assert np.array_equal(np.rint(t.numpy() * 255).astype(np.uint8), u8)
        u8.tofile(os.path.join(EXPECTED, case + ".u8"))
        norm = transforms.Normalize(MEAN[: t.shape[0]], STD[: t.shape[0]])(t)
        full = transforms.ToTensor()(img)
        tensor_out = F.center_crop(
            transforms.Resize(size, antialias=True)(full), crop
        )
        if floats:
            norm.numpy().astype("<f4").tofile(os.path.join(EXPECTED, case + ".norm.f32"))
            tensor_out.numpy().astype("<f4").tofile(
                os.path.join(EXPECTED, case + ".tensor.f32")
            )
        cases.append(
            {
                "case": case,
                "image": name,
                "mode": mode,
                "resize": size,
                "crop": crop,
                "shape": list(t.shape),
                "floats": floats,
                "tensor_vs_pil_max_abs": float((tensor_out - t).abs().max()),
            }
        )
    decoded = []
    for name in ["photo.jpg", "cmyk.jpg", "exif_orientation6.jpg"]:
        with open(os.path.join(IMAGES, name), "rb") as f:
            img = Image.open(f)
            src_mode = img.mode
            img = img.convert("RGB")
        u8 = chw_u8(img)
        u8.tofile(os.path.join(EXPECTED, name + ".decoded.u8"))
        decoded.append({"image": name, "source_mode": src_mode, "shape": list(u8.shape)})
    manifest = {
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
        "mean": MEAN,
        "std": STD,
        "images": files,
        "cases": cases,
        "decoded": decoded,
    }
    with open(os.path.join(IMAGES, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    cats = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(cats) == 1000 and all("\n" not in c for c in cats)
    with open(os.path.join(DATA, "assets", "imagenet_classes.txt"), "w") as f:
        f.write("\n".join(cats) + "\n")


if __name__ == "__main__":
    main()
