#!/usr/bin/env python3
"""The PyTorch + Captum side of the same-run comparison with salience
(issues 21 and 26); the salience side is `examples/side_by_side.rs` and
`benches/side_by_side.sh` runs both, alternating row by row.

Developers run it (CI does not): it needs PyTorch, torchvision, timm,
Captum, safetensors and NumPy (the project's /work/pyref venv has them).

    python benches/torch_side_by_side.py prepare [--dir D]
    python benches/torch_side_by_side.py check MODEL [--dir D]
    python benches/torch_side_by_side.py row MODEL ROW [--reps R] [--warmup W] [--dir D]
    python benches/torch_side_by_side.py table RESULTS.tsv

MODEL is `cnn` (the shipped small CNN, 64 x 1x28x28), `resnet18`
(torchvision ResNet-18, seeded weights, 4 x 3x224x224), `vit_tiny` (timm
`vit_tiny_patch16_224`, seeded weights, 4 x 3x224x224) or `resnet50`
(torchvision ResNet-50, seeded weights, 4 x 3x224x224). ROW is `forward`,
`fwd_bwd`, `saliency`, `ig50`, `smoothgrad50`, `gradcam` (cnn, resnet18,
resnet50) or `occlusion` (cnn). D defaults to target/side_by_side under the
repository root.

`prepare` writes, per model, the weights (`MODEL.safetensors`; the CNN's
are the shipped file, read from crates/salience-data/assets), the seeded
inputs (`MODEL_x.npy`, uniform in [0, 1)), the targets (`MODEL_targets.npy`,
float32 class indices, since salience's npy reader reads float32) and
PyTorch's logits (`MODEL_logits_torch.npy`). `check` and every `row`
recompute the logits and compare them with the saved ones and with
salience's (`MODEL_logits_salience.npy`, written by the Rust side's
`check`): max |a - b| / max |b| <= 1e-4, or the process exits with status 2
before timing anything.

A `row` prints one tab-separated line starting with `RESULT`: side, model,
row, median / min / max seconds over the timed repetitions, the number of
repetitions, RSS before the row (after loading; MB) and the peak RSS of the
process during the row (VmHWM after resetting it through
/proc/self/clear_refs, MB). Threads: torch.set_num_threads(2) unless
SIDE_BY_SIDE_THREADS says otherwise.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_WEIGHTS = os.path.join(ROOT, "crates", "salience-data", "assets", "small_cnn.safetensors")
MODELS = ("cnn", "resnet18", "vit_tiny", "resnet50")
# Inputs per model, path points / noisy inputs per pass, Grad-CAM layer.
BATCH = {"cnn": 64, "resnet18": 4, "vit_tiny": 4, "resnet50": 4}
CHUNK = {"cnn": 64, "resnet18": 16, "vit_tiny": 16, "resnet50": 16}
CAM_LAYER = {"cnn": "relu2", "resnet18": "layer4", "resnet50": "layer4"}
ROWS = ("forward", "fwd_bwd", "saliency", "ig50", "smoothgrad50", "gradcam", "occlusion")
N_STEPS = 50
N_SAMPLES = 50
SIGMA = 0.15  # absolute, salience's NoiseScale::Absolute(0.15)
OCC_WINDOW = (1, 4, 4)
OCC_STRIDES = (1, 2, 2)
LOGIT_TOL = 1e-4


class SmallCnn(torch.nn.Module):
    """salience_data::models::SmallCnn in PyTorch: conv 1->16 3x3 pad 1,
    ReLU, max pool 2, conv 16->32 3x3 pad 1, ReLU, max pool 2, flatten,
    linear 1568->128, ReLU, linear 128->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.pool1 = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = torch.nn.ReLU()
        self.pool2 = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 128)
        self.relu3 = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def build(name, state=None):
    """The model `name`, with `state` (a state dict) loaded when given."""
    if name == "cnn":
        m = SmallCnn()
    elif name == "resnet18":
        import torchvision

        m = torchvision.models.resnet18(weights=None, num_classes=1000)
    elif name == "resnet50":
        import torchvision

        m = torchvision.models.resnet50(weights=None, num_classes=1000)
    elif name == "vit_tiny":
        import timm

        m = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=1000)
    else:
        raise SystemExit(f"unknown model {name!r}; one of {MODELS}")
    if state is not None:
        missing, unexpected = m.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise SystemExit(f"{name}: missing {missing}, unexpected {unexpected}")
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def seeded_state(name):
    """Seeded weights: the library initialisation under torch.manual_seed(0),
    then batch-norm statistics / norm scales / biases perturbed so that no
    tensor is trivially 0 or 1 (every code path is exercised by the logits
    check)."""
    torch.manual_seed(0)
    m = build(name)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for k, t in m.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=g)
            if k.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif k.endswith("running_mean") or k.endswith(".bias") or k == "cls_token":
                t.copy_(0.05 * noise)
            elif t.dim() == 1 and k.endswith(".weight"):  # BN / LayerNorm scales
                t.copy_(1.0 + 0.1 * noise)
    return {
        k: v.detach().contiguous()
        for k, v in m.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def paths(d, name):
    return {
        "weights": CNN_WEIGHTS if name == "cnn" else os.path.join(d, f"{name}.safetensors"),
        "x": os.path.join(d, f"{name}_x.npy"),
        "targets": os.path.join(d, f"{name}_targets.npy"),
        "torch": os.path.join(d, f"{name}_logits_torch.npy"),
        "salience": os.path.join(d, f"{name}_logits_salience.npy"),
    }


def prepare(d):
    from safetensors.torch import save_file

    os.makedirs(d, exist_ok=True)
    shapes = {
        "cnn": (64, 1, 28, 28),
        "resnet18": (4, 3, 224, 224),
        "vit_tiny": (4, 3, 224, 224),
        "resnet50": (4, 3, 224, 224),
    }
    for i, name in enumerate(MODELS):
        p = paths(d, name)
        if name != "cnn":
            save_file(seeded_state(name), p["weights"])
        m, x, t = load(d, name, check_logits=False)
        rng = np.random.default_rng(100 + i)
        x = rng.uniform(0.0, 1.0, size=shapes[name]).astype(np.float32)
        classes = 10 if name == "cnn" else 1000
        t = rng.integers(0, classes, size=shapes[name][0])
        np.save(p["x"], x)
        np.save(p["targets"], t.astype(np.float32))
        with torch.no_grad():
            logits = m(torch.from_numpy(x)).numpy()
        np.save(p["torch"], logits.astype(np.float32))
        print(f"{name}: wrote {p['x']} {x.shape}, targets, logits (std {logits.std():.3g})")


def load(d, name, check_logits=True):
    from safetensors.torch import load_file

    p = paths(d, name)
    m = build(name, load_file(p["weights"]))
    if not check_logits:
        return m, None, None
    x = torch.from_numpy(np.load(p["x"]))
    t = torch.from_numpy(np.load(p["targets"]).astype(np.int64))
    with torch.no_grad():
        logits = m(x).numpy()
    for other in ("torch", "salience"):
        if not os.path.exists(p[other]):
            print(f"logit check {name}: no {p[other]}, skipped")
            continue
        ref = np.load(p[other])
        rel = float(np.abs(logits - ref).max() / max(np.abs(ref).max(), 1e-30))
        ok = rel <= LOGIT_TOL
        print(f"logit check {name}: PyTorch vs {other}: max|diff|/max|ref| = {rel:.2e} ({'ok' if ok else 'FAILED'})")
        if not ok:
            sys.exit(2)
    return m, x, t


def rss_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def runner(name, row, m, x, t):
    """A zero-argument function running `row` once."""
    from captum.attr import (
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    n = x.shape[0]
    chunk = CHUNK[name]
    if row == "forward":

        def f():
            with torch.no_grad():
                m(x)

    elif row == "fwd_bwd":

        def f():
            xg = x.clone().requires_grad_(True)
            m(xg).gather(1, t[:, None]).sum().backward()
            assert xg.grad is not None

    elif row == "saliency":
        sal = Saliency(m)

        def f():
            sal.attribute(x, target=t, abs=True)

    elif row == "ig50":
        ig = IntegratedGradients(m)

        def f():
            ig.attribute(x, target=t, n_steps=N_STEPS, method="gausslegendre", internal_batch_size=chunk)

    elif row == "smoothgrad50":
        nt = NoiseTunnel(Saliency(m))

        def f():
            nt.attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=N_SAMPLES,
                nt_samples_batch_size=max(chunk // n, 1),
                stdevs=SIGMA,
                target=t,
                abs=False,
            )

    elif row == "gradcam" and name in CAM_LAYER:
        cam = LayerGradCam(m, getattr(m, CAM_LAYER[name]))

        def f():
            a = cam.attribute(x, target=t, relu_attributions=True)
            LayerAttribution.interpolate(a, tuple(x.shape[2:]), "bilinear")

    elif row == "occlusion" and name == "cnn":
        occ = Occlusion(m)

        def f():
            occ.attribute(
                x,
                sliding_window_shapes=OCC_WINDOW,
                strides=OCC_STRIDES,
                baselines=0.0,
                target=t,
                perturbations_per_eval=max(chunk // n, 1),
            )

    else:
        raise SystemExit(f"row {row!r} is not run for {name}")
    return f


def row(d, name, row_name, reps, warmup):
    m, x, t = load(d, name)
    f = runner(name, row_name, m, x, t)
    before = rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as c:
        c.write("5")  # resets VmHWM to the current RSS
    for _ in range(warmup):
        f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    peak = rss_mb("VmHWM")
    print(
        "RESULT\tpytorch\t{}\t{}\t{:.6f}\t{:.6f}\t{:.6f}\t{}\t{:.1f}\t{:.1f}".format(
            name, row_name, statistics.median(times), min(times), max(times), reps, before, peak
        )
    )


def table(path):
    """Markdown table from the driver's results file (RESULT lines with the
    1-minute load average before and after appended)."""
    res = {}
    order = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if not p or p[0] != "RESULT":
                continue
            side, name, r = p[1], p[2], p[3]
            if (name, r) not in order:
                order.append((name, r))
            res[(side, name, r)] = {
                "med": float(p[4]),
                "min": float(p[5]),
                "max": float(p[6]),
                "reps": int(p[7]),
                "before": float(p[8]),
                "peak": float(p[9]),
                "load": (p[10], p[11]) if len(p) > 11 else ("?", "?"),
            }
    label = {
        "cnn": "shipped CNN, 64 × 28²",
        "resnet18": "ResNet-18, 4 × 224²",
        "vit_tiny": "ViT-tiny, 4 × 224²",
        "resnet50": "ResNet-50, 4 × 224²",
    }
    rows = {
        "forward": "forward",
        "fwd_bwd": "forward + backward",
        "saliency": "Saliency",
        "ig50": "IG-50",
        "smoothgrad50": "SmoothGrad-50",
        "gradcam": "Grad-CAM",
        "occlusion": "Occlusion 4×4 / 2",
    }

    def secs(v):
        return f"{v:.3g} s" if v >= 1 else f"{v * 1e3:.3g} ms"

    print(
        "| model | row | R | salience | PyTorch + Captum | salience ÷ PyTorch "
        "| peak RSS, salience / PyTorch | growth in the row, salience / PyTorch "
        "| load before → after (salience; PyTorch) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    last = None
    for name, r in order:
        s, q = res.get(("salience", name, r)), res.get(("pytorch", name, r))
        if s is None or q is None:
            continue
        first = label[name] if name != last else ""
        last = name
        print(
            f"| {first} | {rows.get(r, r)} | {s['reps']} | {secs(s['med'])} | {secs(q['med'])} | "
            f"**{s['med'] / q['med']:.2f}** | {s['peak']:.0f} / {q['peak']:.0f} MB | "
            f"{s['peak'] - s['before']:.0f} / {q['peak'] - q['before']:.0f} MB | "
            f"{s['load'][0]} → {s['load'][1]}; {q['load'][0]} → {q['load'][1]} |"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=("prepare", "check", "row", "table"))
    ap.add_argument("args", nargs="*")
    ap.add_argument("--dir", default=os.path.join(ROOT, "target", "side_by_side"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("SIDE_BY_SIDE_THREADS", "2")))
    if a.cmd == "prepare":
        prepare(a.dir)
    elif a.cmd == "check":
        for name in a.args or MODELS:
            load(a.dir, name)
    elif a.cmd == "row":
        if len(a.args) != 2 or a.args[0] not in MODELS or a.args[1] not in ROWS:
            raise SystemExit(f"row MODEL ROW: MODEL in {MODELS}, ROW in {ROWS}")
        if a.reps < 1 or a.warmup < 0:
            raise SystemExit("--reps >= 1, --warmup >= 0")
        row(a.dir, a.args[0], a.args[1], a.reps, a.warmup)
    else:
        if len(a.args) != 1:
            raise SystemExit("table RESULTS.tsv")
        table(a.args[0])


if __name__ == "__main__":
    main()
