#!/usr/bin/env python3
"""Records timm's distilled DeiT, MLP-Mixer and Swin Transformer (reduced
widths and depths) with their logits, input gradients, Captum's Integrated
Gradients and pytorch-grad-cam's Grad-CAM on the token grid, as fixtures
for crates/salience-models/tests/timm_more.rs.

Developers run it (CI does not); it needs what scripts/parity/timm_fixtures.py
needs plus pytorch-grad-cam (`pip install grad-cam`):

    /tmp/pyref/bin/python scripts/parity/timm_more.py
    /tmp/pyref/bin/python scripts/parity/timm_more.py --full /tmp/timm_full  # optional, see full()

The models (32x32 RGB inputs, 5 classes, every parameter seeded from
N(0, s^2), LayerNorm scales around 1):

* `deit_dist`: timm.models.deit.VisionTransformerDistilled, 8x8 patches,
  width 48, 2 blocks of 3 heads, MLP 96 (class and distillation tokens; the
  eval output is the mean of `head` and `head_dist`).
* `mixer`: timm.models.mlp_mixer.MlpMixer, 8x8 patches (16 tokens), width
  48, 2 blocks, token MLP 24, channel MLP 192.
* `swin`: timm.models.swin_transformer.SwinTransformer, 2x2 patches (a
  16x16 grid), width 16, depths (2, 2, 2, 2), heads (2, 2, 4, 8), window 4
  (shifted windows with the attention mask in stages 0 and 1; in stages 2
  and 3 the window is the whole 4x4 / 2x2 map and nothing shifts, timm's
  rule), MLP ratio 2.
* `swin_pad`: the same on 36x36 inputs, width 8, heads (1, 2, 2, 4): maps
  of 18, 9, 5 and 3 that the windows of 4 and the 2x2 merging do not
  divide, padded by timm (see `swin_pad()`).

Weights go to `<name>.safetensors` with timm's names; inputs, targets and
outputs to `<name>.json` (flat row-major lists with their shapes, float32
values with 9 significant digits). Grad-CAM: pytorch-grad-cam's own
weighting (`get_cam_image`) on its captured activations and gradients of
the named layer, with the reshape transform to `[N, C, h, w]` (prefix tokens
dropped for DeiT; Swin's NHWC map permuted), ReLU'd before its min-max
scaling, then upsampled bilinearly (align_corners=False) to the input, as
salience does.
"""

import importlib.metadata
import json
import os
import platform

import numpy as np
import torch
import timm
from timm.models.deit import VisionTransformerDistilled
from timm.models.mlp_mixer import MlpMixer
from timm.models.swin_transformer import SwinTransformer
from safetensors.torch import save_file

import captum
from captum.attr import IntegratedGradients

from timm_fixtures import IG_STEPS, arr, grad_cam_at, timm_attentions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-models", "tests", "fixtures", "timm")
SIZE = 32
CLASSES = 5


def seed(m, s, scale):
    g = torch.Generator().manual_seed(s)
    with torch.no_grad():
        for name, p in m.named_parameters():
            noise = torch.randn(p.shape, generator=g) * scale
            is_norm_scale = name.endswith("weight") and name.rsplit(".", 2)[-2].startswith("norm")
            p.copy_(1.0 + noise if is_norm_scale else noise)
    return m.eval()


def tokens_to_grid(prefix, rows):
    def reshape(t):
        r = t[:, prefix:, :].reshape(t.size(0), rows, rows, t.size(2))
        return r.permute(0, 3, 1, 2)
    return reshape


def nhwc_to_nchw(t):
    return t.permute(0, 3, 1, 2)


def write(name, m, config, cam_layer, cam_name, reshape, attention=None, size=SIZE):
    save_file({k: v.detach().contiguous() for k, v in m.state_dict().items()},
              os.path.join(OUT, f"{name}.safetensors"))
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = m(x)
    targets = [int(t) for t in logits.argmax(1)]
    targets[1] = (targets[1] + 1) % CLASSES  # one non-argmax target
    xg = x.clone().requires_grad_(True)
    out = m(xg)
    out[torch.arange(2), torch.tensor(targets)].sum().backward()
    grad = xg.grad.detach()
    ig = IntegratedGradients(m)
    attr, delta = ig.attribute(x, baselines=torch.zeros_like(x), target=targets, n_steps=IG_STEPS,
                               method="gausslegendre", return_convergence_delta=True)
    doc = {
        "versions": {"timm": timm.__version__, "torch": torch.__version__,
                     "captum": captum.__version__, "grad_cam": importlib.metadata.version("grad-cam"),
                     "python": platform.python_version()},
        "config": config,
        "x": arr(x.numpy()),
        "targets": arr(np.array(targets, dtype=np.float64)),
        "logits": arr(logits.numpy()),
        "input_gradient": arr(grad.numpy()),
        "ig_steps": IG_STEPS,
        "ig_gausslegendre": arr(attr.detach().numpy()),
        "ig_delta": arr(delta.detach().numpy()),
        "grad_cam_layer": cam_name,
        "grad_cam": arr(grad_cam_at(m, cam_layer, reshape, x, targets)),
    }
    if attention is not None:
        doc["attention"] = arr(attention(m, x).numpy())
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(doc, f)
    print(name, "logits", logits.abs().max().item(), "bytes",
          os.path.getsize(os.path.join(OUT, f"{name}.safetensors")),
          os.path.getsize(os.path.join(OUT, f"{name}.json")))


def deit_dist():
    torch.manual_seed(42)
    cfg = dict(img_size=SIZE, patch_size=8, in_chans=3, num_classes=CLASSES, embed_dim=48,
               depth=2, num_heads=3, mlp_ratio=2.0)
    m = seed(VisionTransformerDistilled(**cfg), 3, 0.2)
    config = dict(cfg, mlp_dim=96, layer_norm_eps=1e-6)
    write("deit_dist", m, config, m.blocks[0], "blocks.0", tokens_to_grid(2, 4),
          lambda m, x: torch.stack(timm_attentions(m, x)))


def mixer():
    torch.manual_seed(42)
    cfg = dict(img_size=SIZE, patch_size=8, in_chans=3, num_classes=CLASSES, embed_dim=48,
               num_blocks=2, mlp_ratio=(0.5, 4.0))
    m = seed(MlpMixer(**cfg), 4, 0.2)
    config = dict(cfg, tokens_mlp_dim=24, channels_mlp_dim=192, layer_norm_eps=1e-6)
    write("mixer", m, config, m.blocks[-1], "blocks.1", tokens_to_grid(0, 4))


def swin():
    torch.manual_seed(42)
    cfg = dict(img_size=SIZE, patch_size=2, in_chans=3, num_classes=CLASSES, embed_dim=16,
               depths=(2, 2, 2, 2), num_heads=(2, 2, 4, 8), window_size=4, mlp_ratio=2.0)
    m = SwinTransformer(**cfg)
    for mod in m.modules():
        if hasattr(mod, "fused_attn"):
            mod.fused_attn = False  # timm's explicit softmax path (the default)
    m = seed(m, 5, 0.15)
    config = dict(cfg, layer_norm_eps=1e-5)
    write("swin", m, config, m.layers[-1], "layers.3", nhwc_to_nchw)


def swin_pad():
    """A Swin whose maps the windows and the merging do not divide: 36x36
    inputs, 2x2 patches, window 4, so the stages' maps are 18 (padded to 20,
    shifted), 9 (padded to 12, shifted), 5 (merged from an odd 9, padded to
    8, shifted) and 3 (merged from an odd 5; the window clipped to 3)."""
    torch.manual_seed(42)
    cfg = dict(img_size=36, patch_size=2, in_chans=3, num_classes=CLASSES, embed_dim=8,
               depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=4, mlp_ratio=2.0)
    m = SwinTransformer(**cfg)
    for mod in m.modules():
        if hasattr(mod, "fused_attn"):
            mod.fused_attn = False
    m = seed(m, 6, 0.15)
    config = dict(cfg, layer_norm_eps=1e-5)
    write("swin_pad", m, config, m.layers[-1], "layers.3", nhwc_to_nchw, size=36)


FULL = ["deit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "mixer_b16_224",
        "swin_tiny_patch4_window7_224"]


def full(out):
    """The full-size presets with timm's own random initialisation, heads redrawn
    from N(0, 0.05^2) (no download), one 224x224 input each and its logits: `<name>.safetensors`
    and `<name>.json` in `out`, for the ignored test
    `full_size_presets_match_timm` (SALIENCE_TIMM_FULL=out). Too large to
    ship."""
    os.makedirs(out, exist_ok=True)
    for name in FULL:
        torch.manual_seed(0)
        m = timm.create_model(name, pretrained=False, num_classes=10).eval()
        with torch.no_grad():  # some heads start at zero
            for pname, p in m.named_parameters():
                if pname.startswith("head"):
                    p.normal_(0.0, 0.05)
        save_file({k: v.detach().contiguous() for k, v in m.state_dict().items()},
                  os.path.join(out, f"{name}.safetensors"))
        x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            logits = m(x)
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump({"versions": {"timm": timm.__version__}, "x": arr(x.numpy()),
                       "logits": arr(logits.numpy())}, f)
        print(name, "logits", logits.abs().max().item())


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        full(sys.argv[2])
    else:
        os.makedirs(OUT, exist_ok=True)
        deit_dist()
        mixer()
        swin()
        swin_pad()
        print("wrote", OUT)
