#!/usr/bin/env python3
"""Writes the fixture that crates/salience-core/tests/blur_parity.rs compares
`salience_core::blur::GaussianBlur` with: torchvision's
`transforms.functional.gaussian_blur` (reflect border) on small images.

    /work/pyref/bin/python scripts/parity/blur_fixture.py

Writes crates/salience-core/tests/fixtures/blur/<case>.input.npy and
<case>.expected.npy (float32 [C, H, W] inputs drawn from a fixed NumPy seed;
torchvision's output computed in float64 so the fixture is the exact blur),
and manifest.json with every case's sigma and kernel size and the versions.
"""

import json
import pathlib

import numpy as np
import torch
import torchvision
from torchvision.transforms import functional as F

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/salience-core/tests/fixtures/blur"
CASES = [
    # name, (C, H, W), sigma, kernel_size
    ("rise_3x16x16", (3, 16, 16), 5.0, 11),
    ("small_1x7x9", (1, 7, 9), 1.5, 5),
    ("wide_kernel_2x13x12", (2, 13, 12), 20.0, 23),
    ("identity_1x4x5", (1, 4, 5), 1.0, 1),
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "cases": []}
    for name, shape, sigma, k in CASES:
        x = rng.normal(size=shape).astype(np.float32)
        y = F.gaussian_blur(torch.from_numpy(x.astype(np.float64)), [k, k], [sigma, sigma])
        np.save(OUT / f"{name}.input.npy", x)
        np.save(OUT / f"{name}.expected.npy", y.numpy().astype(np.float32))
        manifest["cases"].append({"name": name, "shape": list(shape), "sigma": sigma, "kernel_size": k})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
