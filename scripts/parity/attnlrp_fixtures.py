#!/usr/bin/env python3
"""Records AttnLRP and CP-LRP relevances of timm Vision Transformers computed
with the authors' reference implementation, LXT (`pip install lxt`, version
2.1; its explicit, relevance-propagating functions
`lxt.explicit.functional` and `lxt.explicit.rules`), as fixtures for
crates/salience-models/tests/attn_lrp.rs.

Developers run it (CI does not); it needs PyTorch, timm, safetensors, NumPy
and lxt, and runs offline:

    /work/pyref/bin/pip install lxt
    /work/pyref/bin/python scripts/parity/attnlrp_fixtures.py

Cases:
* `vit_token`: the reduced timm ViT of scripts/parity/timm_fixtures.py
  (weights `tests/fixtures/timm/vit_token.safetensors`, its inputs and
  targets), 2 blocks of 3 heads, width 48.
* `tiny`: 1 block, 2 tokens (a class token and one 1x1 patch of 2
  channels), width 2, 1 head, MLP 2; seeded weights written inline.

timm's forward is rewritten with LXT's rule functions (a torch
`VisionTransformer` built from the same weights checks that the rewrite
gives timm's logits); it runs in float64. Relevance starts at the target
logit (the backward pass is seeded with the logit), as in salience's Lrp.
AttnLRP: LRP-ε for dense layers and the patch convolution
(`linear_epsilon` / `epsilon_lrp`, with ε = 0, see EPS), LXT's `layer_norm` (std detached),
`matmul` (uniform rule), `softmax` (Proposition 3.1), `add2` for residuals
and position embeddings, `mul2` for the query scaling, the identity rule
for GELU. CP-LRP: the same, with the attention probabilities detached and
`A @ v` by `epsilon_lrp` (linear in v).
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import timm
from timm.models.vision_transformer import VisionTransformer
from safetensors.torch import load_file

from importlib.metadata import version

import lxt.explicit.functional as lf
from lxt.explicit.rules import identity, epsilon_lrp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "crates", "salience-models", "tests", "fixtures")
OUT = os.path.join(FIX, "lxt")
# The stabiliser of every rule. 0: the rules themselves are compared. (LXT
# adds its ε without sign, also to LayerNorm outputs and sums, which
# salience leaves unstabilised; a few outputs within 1e-6 of 0 make the
# relevance sensitive to any ε at the 1e-4 level.)
EPS = 0.0


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(f"{v:.9g}") for v in a.ravel()]}


def layer_norm(x, weight, bias, eps):
    # lf.layer_norm with the stabiliser EPS instead of its fixed 1e-6.
    return lf.layer_norm_grad_fn.apply(x, weight, bias, eps, EPS)


def forward(w, cfg, x, cp):
    """timm's ViT forward with LXT's rules; w: name -> float64 tensor."""
    d, heads, p = cfg["embed_dim"], cfg["num_heads"], cfg["patch_size"]
    eps = cfg["layer_norm_eps"]
    n = x.shape[0]
    pw, pb = w["patch_embed.proj.weight"], w["patch_embed.proj.bias"]
    h = epsilon_lrp(lambda t: F.conv2d(t, pw, pb, stride=p), EPS, x)
    h = h.flatten(2).transpose(1, 2)
    h = torch.cat([w["cls_token"].expand(n, 1, d), h], dim=1)
    h = lf.add2(h, w["pos_embed"].expand(n, -1, -1), epsilon=EPS)
    for b in range(cfg["depth"]):
        k_ = lambda s: w[f"blocks.{b}.{s}"]
        y = layer_norm(h, k_("norm1.weight"), k_("norm1.bias"), eps)
        t = y.shape[1]
        qkv = lf.linear_epsilon(y, k_("attn.qkv.weight"), k_("attn.qkv.bias"), EPS)
        qkv = qkv.reshape(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = lf.mul2(q, (d // heads) ** -0.5)
        if cp:
            with torch.no_grad():
                a = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
            o = epsilon_lrp(lambda vv: a @ vv, EPS, v)
        else:
            a = lf.softmax(lf.matmul(q, k.transpose(-1, -2), epsilon=EPS), -1)
            o = lf.matmul(a, v, epsilon=EPS)
        o = o.transpose(1, 2).reshape(n, t, d)
        o = lf.linear_epsilon(o, k_("attn.proj.weight"), k_("attn.proj.bias"), EPS)
        h = lf.add2(h, o, epsilon=EPS)
        y = layer_norm(h, k_("norm2.weight"), k_("norm2.bias"), eps)
        y = lf.linear_epsilon(y, k_("mlp.fc1.weight"), k_("mlp.fc1.bias"), EPS)
        y = identity(F.gelu, y)
        y = lf.linear_epsilon(y, k_("mlp.fc2.weight"), k_("mlp.fc2.bias"), EPS)
        h = lf.add2(h, y, epsilon=EPS)
    h = layer_norm(h, w["norm.weight"], w["norm.bias"], eps)
    return lf.linear_epsilon(h[:, 0], w["head.weight"], w["head.bias"], EPS)


def relevance(w, cfg, x, targets, cp):
    x = x.clone().requires_grad_(True)
    logits = forward(w, cfg, x, cp)
    sel = logits[torch.arange(x.shape[0]), targets]
    sel.backward(sel.detach())
    return logits.detach(), x.grad.detach()


def timm_model(cfg, w):
    m = VisionTransformer(
        img_size=cfg["img_size"],
        patch_size=cfg["patch_size"],
        in_chans=cfg["in_chans"],
        num_classes=cfg["num_classes"],
        embed_dim=cfg["embed_dim"],
        depth=cfg["depth"],
        num_heads=cfg["num_heads"],
        mlp_ratio=cfg["mlp_dim"] / cfg["embed_dim"],
        qkv_bias=True,
        global_pool="token",
    ).double()
    m.load_state_dict({k: v.double() for k, v in w.items()})
    return m.eval()


def case(cfg, w32, x32, targets, inline):
    w = {k: v.double() for k, v in w32.items()}
    x = x32.double()
    t = torch.tensor(targets)
    with torch.no_grad():
        ref = timm_model(cfg, w32)(x)
    out = {"config": cfg, "x": arr(x32), "targets": targets}
    for name, cp in [("attnlrp", False), ("cp_lrp", True)]:
        logits, r = relevance(w, cfg, x, t, cp)
        assert torch.allclose(logits, ref, rtol=1e-9, atol=1e-9), (logits, ref)
        out[name] = arr(r)
    out["logits"] = arr(logits)
    if inline:
        out["weights"] = {k: arr(v) for k, v in w32.items()}
    return out


def main():
    torch.manual_seed(0)
    tj = json.load(open(os.path.join(FIX, "timm", "vit_token.json")))
    c = tj["config"]
    cfg = {k: c[k] for k in ["img_size", "patch_size", "in_chans", "num_classes",
                             "embed_dim", "depth", "num_heads", "mlp_dim", "layer_norm_eps"]}
    w = load_file(os.path.join(FIX, "timm", "vit_token.safetensors"))
    x = torch.tensor(tj["x"]["data"], dtype=torch.float32).reshape(tj["x"]["shape"])
    targets = [int(v) for v in tj["targets"]["data"]]
    cases = {"vit_token": case(cfg, w, x, targets, False)}

    tiny = dict(img_size=1, patch_size=1, in_chans=2, num_classes=2, embed_dim=2,
                depth=1, num_heads=1, mlp_dim=2, layer_norm_eps=1e-6)
    g = torch.Generator().manual_seed(21)
    shapes = {k: v.shape for k, v in VisionTransformer(
        img_size=1, patch_size=1, in_chans=2, num_classes=2, embed_dim=2, depth=1,
        num_heads=1, mlp_ratio=1.0, qkv_bias=True).state_dict().items()}
    tw = {}
    for k, s in shapes.items():
        base = 1.0 if ("norm" in k and k.endswith("weight")) else 0.0
        tw[k] = (base + 0.5 * torch.randn(s, generator=g)).float()
    tx = torch.tensor([[1.0, -0.5], [0.3, 2.0]]).reshape(2, 2, 1, 1)
    cases["tiny"] = case(tiny, tw, tx, [0, 1], True)

    os.makedirs(OUT, exist_ok=True)
    doc = {
        "versions": {"lxt": version("lxt"), "torch": torch.__version__, "timm": timm.__version__},
        "cases": cases,
    }
    with open(os.path.join(OUT, "attnlrp.json"), "w") as f:
        json.dump(doc, f)
    print("wrote", os.path.join(OUT, "attnlrp.json"))


if __name__ == "__main__":
    main()
