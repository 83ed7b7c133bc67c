#!/usr/bin/env python3
"""The PyTorch + Captum side of the same-run comparison with salience
(issues 21 and 26); the salience side is `examples/side_by_side.rs` and
`benches/side_by_side.sh` runs both, alternating row by row.

Developers run it (CI does not): it needs PyTorch, torchvision, timm,
Captum, safetensors and NumPy (the project's /work/pyref venv has them).

    python benches/torch_side_by_side.py prepare [--dir D]
    python benches/torch_side_by_side.py check MODEL [--maps ROWS] [--dir D]
    python benches/torch_side_by_side.py row MODEL ROW [--reps R] [--warmup W] [--dir D]
    python benches/torch_side_by_side.py table RESULTS.tsv

MODEL is `cnn` (the shipped small CNN, 64 x 1x28x28), `resnet18`
(torchvision ResNet-18, seeded weights, 4 x 3x224x224), `vit_tiny` (timm
`vit_tiny_patch16_224`, seeded weights, 4 x 3x224x224) or `resnet50`
(torchvision ResNet-50, seeded weights, 4 x 3x224x224). ROW is `forward`,
`fwd_bwd`, `saliency`, `ig50`, `smoothgrad50`, `gradcam` or `occlusion`.
D defaults to target/side_by_side under the repository root.

Grad-CAM: Captum's `LayerGradCam` with ReLU at `relu2` (cnn) / `layer4`
(ResNets), bilinearly upsampled (`LayerAttribution.interpolate`). On
ViT-tiny, pytorch-grad-cam's `GradCAM` with the ViT `reshape_transform` of
its documentation (class token dropped, 196 tokens to 14 x 14), at the
output of `blocks[-2]` (= the last block's input), the layer salience
splits at (`blocks.10`; salience's ViT layers are the block outputs, so
the documented `blocks[-1].norm1` = LayerNorm of that tensor is not
available there); its map is min-max scaled per image and resized with
cv2 (bilinear, half-pixel centres: torch's align_corners=False), salience's
is not scaled. A forward hook cuts the graph at that layer (its output
becomes a leaf that requires grad), so the backward stops there as in
salience's layer split and Captum's `LayerGradCam` (the weights are
frozen; without the cut pytorch-grad-cam needs compute_input_gradient=True
and back-propagates to the input).

Occlusion: Captum's `Occlusion`, zero baseline; on the CNN a 1x4x4 window,
stride 2 (13 x 13 positions on 28^2); at 224^2 a 3x32x32 window (all
channels), stride 16 (13 x 13 = 169 positions), the setting of Captum's
ImageNet tutorials scaled to a 32-pixel patch; `perturbations_per_eval` =
CHUNK // batch (64 // 64 = 1 on the CNN, 16 // 4 = 4 at 224^2), so 64 / 16
model inputs per forward pass, as salience's `OcclusionConfig::batch_size`.

`check MODEL --maps "gradcam occlusion"` also compares the maps salience's
`check` wrote (`MODEL_ROW_salience.npy`): Grad-CAM on every input,
Occlusion on the first input only (one input of the row's work: 170
forward passes at 224^2). It prints max |a - b| / max |b| and exits with
status 2 above MAP_TOL (1e-4; 1e-3 for Occlusion, see there). On ViT-tiny it also prints how pytorch-grad-cam's
own output (min-max scaled, cv2-resized) and its documented
`blocks[-1].norm1` recipe compare with salience's map.

`prepare` writes, per model, the weights (`MODEL.safetensors`; the CNN's
are the shipped file, read from crates/salience-models/assets), the seeded
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
CNN_WEIGHTS = os.path.join(ROOT, "crates", "salience-models", "assets", "small_cnn.safetensors")
MODELS = ("cnn", "resnet18", "vit_tiny", "resnet50")
# Inputs per model, path points / noisy inputs per pass, Grad-CAM layer.
BATCH = {"cnn": 64, "resnet18": 4, "vit_tiny": 4, "resnet50": 4}
CHUNK = {"cnn": 64, "resnet18": 16, "vit_tiny": 16, "resnet50": 16}
CAM_LAYER = {"cnn": "relu2", "resnet18": "layer4", "resnet50": "layer4"}
VIT_GRID = 14  # 224 / 16 patches per side
ROWS = ("forward", "fwd_bwd", "saliency", "ig50", "smoothgrad50", "gradcam", "occlusion")
N_STEPS = 50
N_SAMPLES = 50
SIGMA = 0.15  # absolute, salience's NoiseScale::Absolute(0.15)
# Occlusion window and strides: the CNN's, and at 224^2 (all channels).
OCC = {"cnn": ((1, 4, 4), (1, 2, 2))}
OCC_224 = ((3, 32, 32), (3, 16, 16))
LOGIT_TOL = 1e-4
# Map check tolerance, max |a - b| / max |b|. Occlusion's map entries are
# differences of two logits, each within ~1e-6 of the logits' scale, over a
# map whose maximum can be a small fraction of that scale (ViT-tiny: 5e-5).
MAP_TOL = {"gradcam": 1e-4, "occlusion": 1e-3}
MAP_ROWS = ("gradcam", "occlusion")


class SmallCnn(torch.nn.Module):
    """salience_models::SmallCnn in PyTorch: conv 1->16 3x3 pad 1,
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


def min_max(a):
    """pytorch-grad-cam's per-image scaling (scale_cam_image without resizing)."""
    a = a - a.min(axis=(1, 2), keepdims=True)
    return a / (1e-7 + a.max(axis=(1, 2), keepdims=True))


def pearson(a, b):
    """Mean over images of the Pearson correlation of two [N, H, W] maps."""
    a = a.reshape(a.shape[0], -1) - a.reshape(a.shape[0], -1).mean(1, keepdims=True)
    b = b.reshape(b.shape[0], -1) - b.reshape(b.shape[0], -1).mean(1, keepdims=True)
    return float(np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))))


def vit_cam_map(m, x, t, ours):
    """pytorch-grad-cam's Grad-CAM on ViT-tiny at `blocks[-2]`, in salience's
    convention: its own weighting (`get_cam_image`) of its own captured
    activations and gradients on the 14 x 14 grid, ReLU'd, upsampled
    bilinearly (align_corners=False), not min-max scaled. Also prints how
    its own output (min-max scaled, cv2-resized) and the documented
    `blocks[-1].norm1` recipe compare with salience's map `ours`."""
    tg = cam_targets(t)
    cam, cut = vit_cam(m, m.blocks[-2])
    out = cam(input_tensor=x, targets=tg)
    ag = cam.activations_and_grads
    acts, grads = ag.activations[0].numpy(), ag.gradients[0].numpy()
    grid = np.maximum(cam.get_cam_image(x, m.blocks[-2], tg, acts, grads), 0)
    ag.release()
    cut.remove()
    def bilinear(g):
        u = F.interpolate(torch.from_numpy(g)[:, None].float(), size=tuple(x.shape[2:]), mode="bilinear")
        return u[:, 0].numpy()

    up = bilinear(grid)
    # Its output is min-max(cv2.resize(min-max(grid))): cv2's bilinear
    # resize against torch's align_corners=False one.
    resize = np.abs(out - min_max(bilinear(min_max(grid)))).max()
    print(f"  vit_tiny gradcam: {grid.shape[1]}x{grid.shape[2]} grid; pytorch-grad-cam's output vs torch bilinear "
          f"(align_corners=False): max|diff| = {resize:.2e}; "
          f"vs salience's map min-max scaled: max|diff| = {np.abs(out - min_max(ours)).max():.2e}")
    cam, cut = vit_cam(m, m.blocks[-1].norm1)
    doc = cam(input_tensor=x, targets=tg)
    cam.activations_and_grads.release()
    cut.remove()
    print(f"  vit_tiny gradcam: documented recipe blocks[-1].norm1 (min-max) vs salience blocks.10 (min-max): "
          f"max|diff| = {np.abs(doc - min_max(ours)).max():.2e}, mean Pearson r = {pearson(doc, ours):.4f}")
    return up


def check_maps(d, name, m, x, t, rows):
    """Compares salience's maps (`MODEL_ROW_salience.npy`, written by its
    `check --maps`) with PyTorch's: Grad-CAM on every input, Occlusion on
    the first; exits with status 2 above MAP_TOL."""
    for r in rows:
        path = os.path.join(d, f"{name}_{r}_salience.npy")
        if r not in MAP_ROWS:
            continue
        if not os.path.exists(path):
            print(f"map check {name} {r}: no {path}, skipped")
            continue
        ours = np.load(path)
        t0 = time.perf_counter()
        if r == "occlusion":
            ref = occlusion(m, name, x[:1], t[:1]).numpy()
        elif name == "vit_tiny":
            ref = vit_cam_map(m, x, t, ours.reshape(x.shape[0], *x.shape[2:]))
        else:
            ref = captum_cam(m, name, x, t).detach().numpy()
        secs = time.perf_counter() - t0
        if ours.size != ref.size:
            raise SystemExit(f"map check {name} {r}: salience {ours.shape}, PyTorch {ref.shape}")
        rel = float(np.abs(ours.reshape(ref.shape) - ref).max() / max(np.abs(ref).max(), 1e-30))
        ok = rel <= MAP_TOL[r]
        print(f"map check {name} {r}: PyTorch vs salience {ref.shape}: max|diff|/max|ref| = {rel:.2e} "
              f"({'ok' if ok else 'FAILED'}; PyTorch {secs:.1f} s)")
        if not ok:
            sys.exit(2)


def rss_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def captum_cam(m, name, x, t):
    """Captum's LayerGradCam (ReLU) at CAM_LAYER[name], upsampled bilinearly."""
    from captum.attr import LayerAttribution, LayerGradCam

    a = LayerGradCam(m, getattr(m, CAM_LAYER[name])).attribute(x, target=t, relu_attributions=True)
    return LayerAttribution.interpolate(a, tuple(x.shape[2:]), "bilinear")


def vit_cam(m, layer):
    """pytorch-grad-cam's GradCAM at `layer` of the timm ViT with the
    documented reshape transform (class token dropped, 14 x 14 grid), the
    graph cut at `layer` by a forward hook (see the module docstring).
    Returns the CAM and the hook's handle."""
    from pytorch_grad_cam import GradCAM

    def reshape(a):
        g = a[:, 1:, :].reshape(a.size(0), VIT_GRID, VIT_GRID, a.size(2))
        return g.permute(0, 3, 1, 2)

    cut = layer.register_forward_hook(lambda mod, inp, out: out.detach().requires_grad_(True))
    return GradCAM(model=m, target_layers=[layer], reshape_transform=reshape), cut


def cam_targets(t):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return [ClassifierOutputTarget(int(c)) for c in t]


def occlusion(m, name, x, t):
    """Captum's Occlusion with the row's window, strides and
    perturbations_per_eval (see the module docstring)."""
    from captum.attr import Occlusion

    window, strides = OCC.get(name, OCC_224)
    return Occlusion(m).attribute(
        x,
        sliding_window_shapes=window,
        strides=strides,
        baselines=0.0,
        target=t,
        perturbations_per_eval=max(CHUNK[name] // BATCH[name], 1),
    )


def runner(name, row, m, x, t):
    """A zero-argument function running `row` once."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

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

    elif row == "gradcam" and name == "vit_tiny":
        cam, _ = vit_cam(m, m.blocks[-2])
        tg = cam_targets(t)

        def f():
            cam(input_tensor=x, targets=tg)

    elif row == "gradcam":

        def f():
            captum_cam(m, name, x, t)

    elif row == "occlusion":

        def f():
            occlusion(m, name, x, t)

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
    rows_224 = {"occlusion": "Occlusion 32×32 / 16"}
    rows_vit = {"gradcam": "Grad-CAM (token grid; pytorch-grad-cam)"}

    def label_row(name, r):
        if name == "vit_tiny" and r in rows_vit:
            return rows_vit[r]
        return rows_224.get(r, rows.get(r, r)) if name != "cnn" else rows.get(r, r)

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
            f"| {first} | {label_row(name, r)} | {s['reps']} | {secs(s['med'])} | {secs(q['med'])} | "
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
    ap.add_argument("--maps", default="", help="rows whose maps `check` compares (gradcam, occlusion)")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("SIDE_BY_SIDE_THREADS", "2")))
    if a.cmd == "prepare":
        prepare(a.dir)
    elif a.cmd == "check":
        for name in a.args or MODELS:
            m, x, t = load(a.dir, name)
            check_maps(a.dir, name, m, x, t, a.maps.split())
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
