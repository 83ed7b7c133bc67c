#!/usr/bin/env python3
"""Records a reduced torchvision bottleneck ResNet (torchvision's own
`Bottleneck` blocks and `_forward_impl` layout: conv1/bn1/relu/maxpool,
layer1..2, avgpool, fc) as a fixture for
crates/salience-models/tests/torchvision_bottleneck.rs: its weights with
torchvision's names (safetensors; batch-norm statistics and affine
parameters perturbed so that none is trivially 0 or 1), two inputs, targets,
logits and the input gradient of the target logits.

Developers run it (CI does not):

    /tmp/pyref/bin/python scripts/parity/torchvision_bottleneck.py

Shape: stem 7x7/2 to 8 channels + 3x3/2 max pool, layer1 = one bottleneck
of width 4 (16 out), layer2 = two of width 8 (32 out, stride 2), 5 classes,
3x32x32 inputs; ResNetConfig { stem_channels: 8, widths: [4, 8],
blocks: [1, 2], block: Bottleneck, .. }.
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck, conv1x1
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-models", "tests", "fixtures", "torchvision")


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(f"{v:.9g}") for v in a.ravel()]}


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.inplanes = 8
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(4, 1, 1)
        self.layer2 = self._make_layer(8, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, 5)

    def _make_layer(self, planes, blocks, stride):
        # torchvision's ResNet._make_layer, for Bottleneck.
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * 4, stride), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    m = Tiny()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            noise = torch.randn(t.shape, generator=g) * 0.1
            if name.endswith("running_var"):
                t.copy_(1.0 + noise.abs())
            elif name.endswith("bn1.weight") or name.endswith("bn2.weight") or name.endswith("bn3.weight") or name.endswith("downsample.1.weight"):
                t.copy_(1.0 + noise)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(noise)
    m.eval()
    state = {k: v.contiguous() for k, v in m.state_dict().items()}
    save_file(state, os.path.join(OUT, "bottleneck.safetensors"))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits = m(x)
    targets = [int(t) for t in logits.argmax(1)]
    targets[1] = (targets[1] + 2) % 5
    xg = x.clone().requires_grad_(True)
    m(xg)[torch.arange(2), torch.tensor(targets)].sum().backward()
    doc = {
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        "x": arr(x.numpy()),
        "targets": arr(np.array(targets)),
        "logits": arr(logits.numpy()),
        "input_gradient": arr(xg.grad.numpy()),
    }
    with open(os.path.join(OUT, "bottleneck.json"), "w") as f:
        json.dump(doc, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
