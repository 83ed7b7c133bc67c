#!/usr/bin/env python3
"""Records Captum's Integrated Gradients (riemann_trapezoid, gausslegendre) and
DeepLift on a tiny CNN with max pooling, as a JSON fixture for
crates/salience-explain/tests/captum_parity.rs.

Developers run it (CI does not): it needs PyTorch, Captum and NumPy, e.g.

    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch quantus captum numpy
    /tmp/pyref/bin/python scripts/parity/captum_fixtures.py

The network, conv(1->4, 3x3, pad 1) -> ReLU -> max-pool 2 -> conv(4->4, 3x3,
pad 1) -> ReLU -> max-pool 2 -> flatten -> linear(16->3), has seeded weights
that the fixture holds; salience mirrors it with `RuleSequential`. Besides
Captum's outputs the fixture holds an independent NumPy/PyTorch DeepLIFT
Rescale reference (layer-by-layer multipliers, max pooling by Captum's
documented rule: a window's output difference goes to the winner of x, or of
the baseline when its maximum is larger), which satisfies summation-to-delta.

Arrays are flat row-major lists with their shape beside them; float32 values
are written as the exact float64 value of the float32.
"""

import json
import os
import platform
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import captum
from captum.attr import DeepLift, IntegratedGradients

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-explain", "tests", "fixtures", "captum")
N_STEPS = 50


def arr(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": a.astype(np.float64).ravel().tolist()}


class Net(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.pool1 = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = torch.nn.ReLU()
        self.pool2 = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(16, 3)
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(torch.from_numpy(params[name]))

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


def params():
    rng = np.random.default_rng(9)
    shapes = {
        "conv1.weight": ((4, 1, 3, 3), 0.5),
        "conv1.bias": ((4,), 0.1),
        "conv2.weight": ((4, 4, 3, 3), 0.3),
        "conv2.bias": ((4,), 0.1),
        "fc.weight": ((3, 16), 0.5),
        "fc.bias": ((3,), 0.1),
    }
    return {k: (rng.normal(size=s) * sc).astype(np.float32) for k, (s, sc) in shapes.items()}


def pool_multipliers(a, a0, m_out):
    """Captum's DeepLIFT max-pool rule (kernel = stride = 2) for one pair of
    activations [C, H, W]: each window's dy = max(a) - max(a0) goes to the
    winner of a (max(a) >= max(a0)) or of a0, multiplier dy / dx there."""
    c, h, w = a.shape
    m_in = np.zeros_like(a, dtype=np.float64)
    for ch in range(c):
        for i in range(h // 2):
            for j in range(w // 2):
                win = a[ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].astype(np.float64)
                win0 = a0[ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].astype(np.float64)
                dy = win.max() - win0.max()
                src = win if win.max() >= win0.max() else win0
                k = int(np.argmax(src.ravel()))  # first maximum
                y, x = divmod(k, 2)
                dx = win[y, x] - win0[y, x]
                mult = dy / dx if abs(dx) >= 1e-10 else 1.0
                m_in[ch, 2 * i + y, 2 * j + x] += m_out[ch, i, j] * mult
    return m_in


def relu_multipliers(z, z0, m_out):
    dz = z.astype(np.float64) - z0.astype(np.float64)
    da = np.maximum(z, 0).astype(np.float64) - np.maximum(z0, 0).astype(np.float64)
    safe = np.abs(dz) >= 1e-10
    mult = np.where(safe, da / np.where(safe, dz, 1.0), (z > 0).astype(np.float64))
    return m_out * mult


def linear_backward(layer, shape, m_out):
    """m_in = Lᵀ m_out for the linear part (no bias) of a layer, by autograd."""
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    if isinstance(layer, torch.nn.Conv2d):
        y = F.conv2d(x, layer.weight.double(), None, padding=layer.padding)
    else:
        y = F.linear(x, layer.weight.double())
    (g,) = torch.autograd.grad((y * torch.from_numpy(m_out)).sum(), x)
    return g.numpy()


def deeplift_reference(net, x, x0, target):
    """Rescale DeepLIFT multipliers layer by layer, in float64 from the
    float32 activations; returns (x - x0) * m_x."""
    with torch.no_grad():
        t, t0 = torch.from_numpy(x[None]), torch.from_numpy(x0[None])
        z1, z10 = net.conv1(t), net.conv1(t0)
        a1, a10 = net.relu1(z1), net.relu1(z10)
        p1, p10 = net.pool1(a1), net.pool1(a10)
        z2, z20 = net.conv2(p1), net.conv2(p10)
        a2, a20 = net.relu2(z2), net.relu2(z20)
    m = np.zeros((1, 3))
    m[0, target] = 1.0
    m_p2 = linear_backward(net.fc, (1, 16), m).reshape(4, 2, 2)
    m_a2 = pool_multipliers(a2[0].numpy(), a20[0].numpy(), m_p2)
    m_z2 = relu_multipliers(z2[0].numpy(), z20[0].numpy(), m_a2)
    m_p1 = linear_backward(net.conv2, (1, 4, 4, 4), m_z2[None])[0]
    m_a1 = pool_multipliers(a1[0].numpy(), a10[0].numpy(), m_p1)
    m_z1 = relu_multipliers(z1[0].numpy(), z10[0].numpy(), m_a1)
    m_x = linear_backward(net.conv1, (1, 1, 8, 8), m_z1[None])[0]
    return (x.astype(np.float64) - x0.astype(np.float64)) * m_x


def main():
    torch.manual_seed(0)
    p = params()
    net = Net(p).eval()
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(3, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        logits = net(torch.from_numpy(x)).numpy()
    targets = logits.argmax(-1).astype(np.int64)
    xt = torch.from_numpy(x)
    tt = torch.from_numpy(targets)
    ig = IntegratedGradients(net)
    ig_trap, ig_trap_delta = ig.attribute(
        xt, target=tt, n_steps=N_STEPS, method="riemann_trapezoid", return_convergence_delta=True
    )
    ig_gl, ig_gl_delta = ig.attribute(
        xt, target=tt, n_steps=N_STEPS, method="gausslegendre", return_convergence_delta=True
    )
    dl = DeepLift(Net(p).eval())
    dl_attr, dl_delta = dl.attribute(xt, target=tt, return_convergence_delta=True)
    ref = np.stack([deeplift_reference(net, x[i], np.zeros_like(x[i]), int(targets[i])) for i in range(len(x))])
    with torch.no_grad():
        f0 = net(torch.zeros_like(xt)).numpy()
    diff = logits[np.arange(len(x)), targets] - f0[np.arange(len(x)), targets]
    ref_delta = ref.reshape(len(x), -1).sum(-1) - diff
    assert np.abs(ref_delta).max() < 1e-5 * np.abs(diff).max(), ref_delta
    dl_attr = dl_attr.detach().numpy()
    out = {
        "versions": {
            "captum": captum.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "description": (
            "Captum IntegratedGradients (n_steps=50, riemann_trapezoid and gausslegendre, zero "
            "baseline) and DeepLift (Rescale, zero baseline) on conv(1->4,3x3,pad1) -> ReLU -> "
            "maxpool2 -> conv(4->4,3x3,pad1) -> ReLU -> maxpool2 -> flatten -> linear(16->3); "
            "PyTorch weight layouts. deeplift_reference: an independent layer-by-layer Rescale "
            "DeepLIFT (float64 multipliers) that sums to f(x) - f(0)."
        ),
        "n_steps": N_STEPS,
        "x": arr(x),
        "targets": arr(targets),
        "logits": arr(logits),
        "output_difference": arr(diff),
        "ig_trapezoid": arr(ig_trap.detach().numpy()),
        "ig_trapezoid_delta": arr(ig_trap_delta.detach().numpy()),
        "ig_gausslegendre": arr(ig_gl.detach().numpy()),
        "ig_gausslegendre_delta": arr(ig_gl_delta.detach().numpy()),
        "deeplift": arr(dl_attr),
        "deeplift_delta": arr(dl_delta.detach().numpy()),
        "deeplift_reference": arr(ref),
    }
    for name, v in p.items():
        out[name] = arr(v)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "cnn_maxpool.json")
    with open(path, "w") as f:
        json.dump(out, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(path)
    assert size < 200_000, size
    rel = np.abs(dl_attr - ref).max() / np.abs(ref).max()
    print(f"wrote {path} ({size} bytes)")
    print(f"Captum DeepLift vs reference: max rel {rel:.3e}; Captum delta {np.abs(dl_delta.numpy()).max():.3e}")
    print(f"IG trapezoid delta {ig_trap_delta.numpy()}, GL delta {ig_gl_delta.numpy()}")


if __name__ == "__main__":
    main()
