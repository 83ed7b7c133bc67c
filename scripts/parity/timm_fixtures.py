#!/usr/bin/env python3
"""Records timm and Hugging Face Vision Transformers' logits, attention maps,
input gradients and Captum's Integrated Gradients as fixtures for
crates/salience-models/tests/timm_parity.rs.

Developers run it (CI does not): it needs PyTorch, timm, safetensors, Captum
and NumPy, e.g.

    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch timm safetensors captum numpy
    /tmp/pyref/bin/python scripts/parity/timm_fixtures.py

Two reduced `timm.models.vision_transformer.VisionTransformer`s (32x32 RGB,
8x8 patches, width 48, 2 blocks of 3 heads, MLP 96, 5 classes): one with a
class token and token pooling (ViT / DeiT's default), one without a class
token and with average pooling + fc_norm. Their seeded weights (every
parameter, LayerNorm scales and position embeddings included, drawn from
N(0, 0.2^2) or around 1 for scales, so no parameter is trivially zero or
one) go to `<name>.safetensors` with timm's names; `vit_hf` is the same
shape as a Hugging Face `ViTForImageClassification` (LayerNorm eps 1e-12,
its own tensor names: the layout of google/vit-base-patch16-224, which
candle-transformers' `vit` loads); inputs, targets and
outputs to `<name>.json` (flat row-major lists with their shapes; float32
values written with 9 significant digits, which read back as the same
float32).
"""

import json
import os
import platform

import numpy as np
import torch
import timm
from timm.models.vision_transformer import VisionTransformer
from safetensors.torch import save_file

import captum
from captum.attr import IntegratedGradients

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-models", "tests", "fixtures", "timm")
IG_STEPS = 16


def arr(a):
    # 9 significant digits read back as the same float32.
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(f"{v:.9g}") for v in a.ravel()]}


def model(pool):
    m = VisionTransformer(
        img_size=32,
        patch_size=8,
        in_chans=3,
        num_classes=5,
        embed_dim=48,
        depth=2,
        num_heads=3,
        mlp_ratio=2.0,
        qkv_bias=True,
        class_token=(pool == "token"),
        global_pool=pool,
    )
    g = torch.Generator().manual_seed(0 if pool == "token" else 1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
                p.copy_(1.0 + noise)
            else:
                p.copy_(noise)
    return m.eval()


def record(pool):
    torch.manual_seed(42)
    m = model(pool)
    name = f"vit_{pool}"
    write(m, m.state_dict(), name, dict(CONFIG, pool=pool, layer_norm_eps=1e-6),
          {"timm": timm.__version__}, timm_attentions)


CONFIG = {"img_size": 32, "patch_size": 8, "in_chans": 3, "num_classes": 5,
          "embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_dim": 96}


def hub_names(state):
    """transformers 5 `state_dict` names -> the names of the checkpoints on
    the hub (google/vit-base-patch16-224), which candle-transformers loads."""
    out = {}
    for k, v in state.items():
        for new, old in [("attention.q_proj", "attention.attention.query"),
                         ("attention.k_proj", "attention.attention.key"),
                         ("attention.v_proj", "attention.attention.value"),
                         ("attention.o_proj", "attention.output.dense"),
                         ("mlp.fc1", "intermediate.dense"),
                         ("mlp.fc2", "output.dense")]:
            k = k.replace(new, old)
        out[k.replace("vit.layers.", "vit.encoder.layer.")] = v
    return out


def record_hf():
    import transformers

    torch.manual_seed(42)
    inner = hf_model()
    write(LogitsOnly(inner).eval(), hub_names(inner.state_dict()), "vit_hf",
          dict(CONFIG, pool="token", layer_norm_eps=1e-12),
          {"transformers": transformers.__version__}, hf_attentions)


def hf_model():
    """A reduced Hugging Face ViTForImageClassification (the layout of
    google/vit-base-patch16-224, which candle-transformers' vit loads)."""
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=48,
                    num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
                    num_labels=5, layer_norm_eps=1e-12, hidden_act="gelu",
                    attn_implementation="eager")
    m = ViTForImageClassification(cfg)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in m.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            p.copy_(1.0 + noise if "layernorm" in name and name.endswith("weight") else noise)
    return m.eval()


class LogitsOnly(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(pixel_values=x).logits


def timm_attentions(m, x):
    """Every block's softmax output, via a forward hook on the attention
    module's input (recomputed as timm does)."""
    maps = []

    def hook(mod, inp, _out):
        (h,) = inp
        b, n, c = h.shape
        qkv = mod.qkv(h).reshape(b, n, 3, mod.num_heads, c // mod.num_heads).permute(2, 0, 3, 1, 4)
        q, k, _ = qkv.unbind(0)
        maps.append(((q * mod.scale) @ k.transpose(-2, -1)).softmax(-1).detach())

    hooks = [blk.attn.register_forward_hook(hook) for blk in m.blocks]
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    return maps


def hf_attentions(m, x):
    with torch.no_grad():
        return list(m.m(pixel_values=x, output_attentions=True).attentions)


def grad_cam(m, x, targets, prefix):
    """pytorch-grad-cam's GradCAM at the first block's output (the input of
    the last block: at the last block's output the class token alone reaches
    the logits, so a class-token model's CAM there is 0), with the ViT
    reshape transform (prefix tokens dropped, patches to a 4x4 grid)."""
    def reshape(t):
        r = t[:, prefix:, :].reshape(t.size(0), 4, 4, t.size(2))
        return r.permute(0, 3, 1, 2)

    return grad_cam_at(m, m.blocks[0], reshape, x, targets)


def grad_cam_at(m, layer, reshape, x, targets):
    """pytorch-grad-cam's GradCAM at `layer` with `reshape` (to [N, C, h, w]):
    its own weighting (`get_cam_image`) on its own captured activations and
    gradients, ReLU'd, before its min-max scaling; then upsampled bilinearly
    (align_corners=False) to the input, as salience does."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = GradCAM(model=m, target_layers=[layer], reshape_transform=reshape)
    outs = cam.activations_and_grads(x)
    tg = [ClassifierOutputTarget(t) for t in targets]
    m.zero_grad()
    sum(t(o) for t, o in zip(tg, outs)).backward(retain_graph=True)
    acts = cam.activations_and_grads.activations[0].cpu().numpy()
    grads = cam.activations_and_grads.gradients[0].cpu().numpy()
    grid = np.maximum(cam.get_cam_image(x, layer, tg, acts, grads, False), 0)
    up = torch.nn.functional.interpolate(torch.from_numpy(grid)[:, None].float(), size=tuple(x.shape[2:]),
                                         mode="bilinear", align_corners=False)
    cam.activations_and_grads.release()
    return up[:, 0].numpy()


def write(m, state, name, config, versions, attentions):
    save_file({k: v.detach().contiguous() for k, v in state.items()},
              os.path.join(OUT, f"{name}.safetensors"))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = m(x)
    targets = [int(t) for t in logits.argmax(1)]
    targets[1] = (targets[1] + 1) % 5  # one non-argmax target
    xg = x.clone().requires_grad_(True)
    out = m(xg)
    out[torch.arange(2), torch.tensor(targets)].sum().backward()
    grad = xg.grad.detach()
    maps = attentions(m, x)
    ig = IntegratedGradients(m)
    attr, delta = ig.attribute(
        x,
        baselines=torch.zeros_like(x),
        target=targets,
        n_steps=IG_STEPS,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    extra = {}
    if "timm" in versions:
        import importlib.metadata

        versions = dict(versions, grad_cam=importlib.metadata.version("grad-cam"))
        prefix = 1 if config["pool"] == "token" else 0
        extra["grad_cam_block0"] = arr(grad_cam(m, x, targets, prefix))
    doc = {
        **extra,
        "versions": dict(versions, torch=torch.__version__, captum=captum.__version__,
                         python=platform.python_version()),
        "config": config,
        "x": arr(x.numpy()),
        "targets": arr(np.array(targets, dtype=np.float64)),
        "logits": arr(logits.numpy()),
        "input_gradient": arr(grad.numpy()),
        "attention": arr(torch.stack(maps).numpy()),
        "ig_steps": IG_STEPS,
        "ig_gausslegendre": arr(attr.detach().numpy()),
        "ig_delta": arr(delta.detach().numpy()),
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for pool in ["token", "avg"]:
        record(pool)
    record_hf()
    print("wrote", OUT)
