#!/usr/bin/env python3
"""Records tiny, randomly initialised Hugging Face `transformers` DeiT
(`DeiTForImageClassificationWithTeacher`) and Swin
(`SwinForImageClassification`) models with their logits and input
gradients, for crates/salience-models/tests/hf_names.rs
(`VisionTransformer::from_hf_safetensors_bytes`,
`SwinTransformer::from_hf_safetensors_bytes`).

Developers run it (CI does not); it needs torch, transformers, safetensors:

    /work/pyref/bin/python scripts/parity/hf_fixtures.py

Each model is written twice to crates/salience-models/tests/fixtures/hf/:
`<name>.v5.safetensors` with the names of transformers 5's `state_dict`
(`deit.layers.{i}.attention.q_proj`, ...), and `<name>.hub.safetensors`
with the names of the checkpoints on the hub (`facebook/deit-*`,
`microsoft/swin-*`: `attention.attention.query`, `attention.self.query`,
`intermediate.dense`, ...; Swin's with its `relative_position_index`
buffers). `<name>.json`: config, input, targets, logits, input gradient.

* `deit_hf`: 32x32 RGB, 8x8 patches, width 24, 2 layers of 2 heads, MLP
  48, 5 classes; the output is the mean of `cls_classifier` and
  `distillation_classifier` (timm's distilled DeiT in eval mode).
* `swin_hf`: 32x32 RGB, 2x2 patches, width 8, depths (2, 2, 2), heads
  (1, 2, 4), window 4 (shifted windows in the first two stages), MLP ratio
  2, 5 classes.
"""

import json
import os

import torch
import transformers
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-models", "tests", "fixtures", "hf")


def arr(t):
    t = t.detach().double().contiguous()
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.flatten().tolist()]}


def seed(m, s):
    g = torch.Generator().manual_seed(s)
    with torch.no_grad():
        for name, p in m.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.2
            is_norm = ("layernorm" in name or "norm" in name.split(".")[-2]) and name.endswith("weight")
            p.copy_(1.0 + noise if is_norm else noise)
    return m.eval()


HUB = [
    ("attention.q_proj", "attention.attention.query"),
    ("attention.k_proj", "attention.attention.key"),
    ("attention.v_proj", "attention.attention.value"),
    ("attention.o_proj", "attention.output.dense"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
]


def deit_hub(state):
    out = {}
    for k, v in state.items():
        for new, old in HUB:
            k = k.replace(new, old)
        out[k.replace("deit.layers.", "deit.encoder.layer.")] = v
    return out


def swin_hub(m):
    out = {}
    for k, v in m.state_dict().items():
        k = k.replace("attention.relative_position_bias.relative_position_bias_table",
                      "attention.self.relative_position_bias_table")
        for new, old in HUB:
            k = k.replace(new, old.replace("attention.attention.", "attention.self."))
        out[k] = v
    for k, b in m.named_buffers():
        if k.endswith("relative_position_index"):
            k = k.replace("attention.relative_position_bias.", "attention.self.")
            out[k] = b
    return out


def write(name, m, config, hub):
    os.makedirs(OUT, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
    save_file(state, os.path.join(OUT, f"{name}.v5.safetensors"))
    save_file({k: v.detach().contiguous() for k, v in hub.items()},
              os.path.join(OUT, f"{name}.hub.safetensors"))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = m(pixel_values=x).logits
    targets = [int(t) for t in logits.argmax(1)]
    targets[1] = (targets[1] + 1) % logits.shape[1]
    xg = x.clone().requires_grad_(True)
    out = m(pixel_values=xg).logits
    out[torch.arange(2), torch.tensor(targets)].sum().backward()
    doc = {
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "config": config,
        "x": arr(x),
        "targets": arr(torch.tensor(targets, dtype=torch.float64)),
        "logits": arr(logits),
        "input_gradient": arr(xg.grad),
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(doc, f)
    print(name, "logits", logits.abs().max().item())


def deit():
    cfg = transformers.DeiTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=24,
                                  num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                                  num_labels=5, hidden_act="gelu", attn_implementation="eager")
    m = seed(transformers.DeiTForImageClassificationWithTeacher(cfg), 3)
    config = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=24, depth=2, num_heads=2,
                  mlp_dim=48, num_classes=5, layer_norm_eps=cfg.layer_norm_eps)
    write("deit_hf", m, config, deit_hub(m.state_dict()))


def swin():
    cfg = transformers.SwinConfig(image_size=32, patch_size=2, num_channels=3, embed_dim=8,
                                  depths=[2, 2, 2], num_heads=[1, 2, 4], window_size=4,
                                  mlp_ratio=2.0, num_labels=5, hidden_act="gelu",
                                  attn_implementation="eager")
    m = seed(transformers.SwinForImageClassification(cfg), 4)
    config = dict(img_size=32, patch_size=2, in_chans=3, embed_dim=8, depths=[2, 2, 2],
                  num_heads=[1, 2, 4], window_size=4, mlp_ratio=2.0, num_classes=5,
                  layer_norm_eps=cfg.layer_norm_eps)
    write("swin_hf", m, config, swin_hub(m))


if __name__ == "__main__":
    torch.manual_seed(0)
    deit()
    swin()
