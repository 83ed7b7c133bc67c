#!/usr/bin/env python3
"""Records Quantus' outputs on tiny deterministic cases as JSON fixtures for
crates/salience-metrics/tests/quantus_parity.rs.

Developers run it (CI does not): it needs PyTorch, Quantus and NumPy, e.g.

    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install torch quantus captum numpy
    /tmp/pyref/bin/python scripts/parity/quantus_fixtures.py

and rewrites crates/salience-metrics/tests/fixtures/quantus/*.json. Every
case is deterministic: the model is a linear torch model y = W x + b (which
salience mirrors with `salience_core::LinearModel`), attributions and masks are
fixed arrays written to the fixture, and Quantus' random perturbations
(relative stability) are seeded and recorded, so the Rust side replays the
exact perturbed inputs Quantus drew.

Arrays are flat row-major lists with their shape beside them; float32 values
are written as the exact float64 value of the float32 (so they round-trip);
NaN is written as null.
"""

import json
import os
import platform
import sys
import warnings

import numpy as np
import torch

import quantus
from quantus.functions.perturb_func import batch_uniform_noise
from quantus.functions.normalise_func import normalise_by_max

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "salience-metrics", "tests", "fixtures", "quantus")


def arr(a):
    """A numpy array as {"shape", "data"} (NaN -> null)."""
    a = np.asarray(a)
    data = [None if (isinstance(v, float) and np.isnan(v)) else v for v in a.astype(np.float64).ravel().tolist()]
    return {"shape": list(a.shape), "data": data}


def versions():
    return {
        "quantus": quantus.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write(name, obj):
    os.makedirs(OUT, exist_ok=True)
    obj = {"versions": versions(), **obj}
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(path)
    assert size < 200_000, f"{path} is {size} bytes"
    print(f"wrote {path} ({size} bytes)")


def linear_model(w, b):
    """nn.Sequential(Flatten, Linear) with the given float32 weights."""
    k, d = w.shape
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, k))
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy(w))
        model[1].bias.copy_(torch.from_numpy(b))
    model.eval()
    return model


def logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


# ---------------------------------------------------------------------------
# Relative Input / Output / Representation Stability
# ---------------------------------------------------------------------------


def write_stability():
    s = stability_case()
    write(
        "relative_stability.json",
        {
            "description": (
                "RelativeInputStability / RelativeOutputStability / RelativeRepresentationStability "
                "(nr_samples=m, default U(0.02, 0.2) noise, eps_min=1e-6, seeded np.random; the same "
                "seed before each metric gives the same draws) on a linear model y = W x + b "
                "(nn.Sequential(Flatten, Linear)); explain_func = x * x * W[target]; the representation "
                "is Quantus' default (every layer): [flatten(x), logits]. xs[j][i] is the j-th "
                "perturbed copy of sample i that Quantus drew. obj_* are Quantus' own "
                "*_stability_objective values per draw [m, N]; flipped[j][i] whether draw j changed "
                "sample i's predicted class (Quantus then sets NaN and np.max gives NaN)."
            ),
            "w": arr(s["w"]),
            "b": arr(s["b"]),
            "x": arr(s["x"]),
            "xs": arr(s["xs"]),
            "targets": arr(s["targets"]),
            "rep_width": s["rep_width"],
            "quantus_ris": arr(s["ris"]),
            "quantus_ros": arr(s["ros"]),
            "quantus_rrs": arr(s["rrs"]),
            "obj_ris": arr(s["obj"]["ris"]),
            "obj_ros": arr(s["obj"]["ros"]),
            "obj_rrs": arr(s["obj"]["rrs"]),
            "flipped": arr(s["flipped"].astype(np.float64)),
        },
    )


def stability_case():
    """Sample 2's top-two logits tie on average under the mean noise, so some
    of its perturbations flip the prediction; samples 0 and 1 never flip."""
    rng = np.random.default_rng(24)
    n, k, shape = 3, 3, (1, 8, 8)
    d = int(np.prod(shape))
    w = (rng.normal(size=(k, d)) * 0.3).astype(np.float32)
    x = rng.uniform(0.2, 1.0, size=(n, *shape)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0
    h0 = logits(linear_model(w, np.zeros(k, np.float32)), x)
    # Expected shift of the logits under the mean noise 0.11 per feature.
    mean_shift = w.sum(1) * 0.11
    # Biases: make sample 2's top-two logits (after the mean shift) nearly tie.
    top2 = np.argsort(-(h0[2] + mean_shift))[:2]
    b = np.zeros(k, dtype=np.float32)
    gap = (h0[2, top2[0]] + mean_shift[top2[0]]) - (h0[2, top2[1]] + mean_shift[top2[1]])
    b[top2[1]] = np.float32(gap)  # a tie on average: about half the draws flip
    return run_stability(w, b, x)


def run_stability(w, b, x):
    n = x.shape[0]
    model = linear_model(w, b)
    h = logits(model, x)
    targets = h.argmax(-1).astype(np.int64)

    def explain(model, inputs, targets, **kwargs):
        inputs = np.asarray(inputs, dtype=np.float32)
        wt = w[np.asarray(targets)].reshape(inputs.shape)
        # A nonlinear explainer, so RIS is not identically 1: x * x * W[target]
        # (evaluated left to right in float32, as the Rust mirror does).
        return (inputs * inputs * wt).astype(np.float32)

    drawn = []

    def recording_noise(arr, indices, **kwargs):
        out = batch_uniform_noise(arr=arr, indices=indices, **kwargs)
        drawn.append(np.array(out, dtype=np.float32, copy=True))
        return out

    m, seed = 12, 7
    common = dict(nr_samples=m, perturb_func=recording_noise, disable_warnings=True)
    call = dict(model=model, x_batch=x, y_batch=targets, explain_func=explain, a_batch=None, device="cpu")
    outs, draws, metrics = {}, {}, {}
    for name, cls in (
        ("ris", quantus.RelativeInputStability),
        ("ros", quantus.RelativeOutputStability),
        ("rrs", quantus.RelativeRepresentationStability),
    ):
        np.random.seed(seed)
        metrics[name] = cls(**common)
        outs[name] = np.array(metrics[name](**call), dtype=np.float64)
        draws[name] = np.stack(drawn)
        drawn.clear()
    assert np.array_equal(draws["ris"], draws["ros"]) and np.array_equal(draws["ris"], draws["rrs"])
    xs = draws["ris"].reshape(m, *x.shape)

    wrapped = quantus.helpers.model.pytorch_model.PyTorchModel(model, channel_first=True, softmax=False, device="cpu")
    e_x = explain(model, x, targets)
    l_x = wrapped.get_hidden_representations(x)
    obj = {"ris": [], "ros": [], "rrs": []}
    flipped = []
    for j in range(m):
        e_xs = explain(model, xs[j], targets)
        h_xs = logits(model, xs[j])
        obj["ris"].append(metrics["ris"].relative_input_stability_objective(x, xs[j], e_x, e_xs))
        obj["ros"].append(metrics["ros"].relative_output_stability_objective(h, h_xs, e_x, e_xs))
        l_xs = wrapped.get_hidden_representations(xs[j])
        obj["rrs"].append(metrics["rrs"].relative_representation_stability_objective(l_x, l_xs, e_x, e_xs))
        flipped.append(h_xs.argmax(-1) != h.argmax(-1))
        # Margins must be clear of float rounding so Rust sees the same flips.
        srt = np.sort(h_xs, axis=-1)
        assert np.all(srt[:, -1] - srt[:, -2] > 1e-4), "a perturbation lands on a decision boundary"
    flipped = np.array(flipped)
    assert not flipped[:, :2].any(), "samples 0 and 1 must keep their class"
    assert 0 < flipped[:, 2].sum() < m, f"sample 2 must flip for some draws: {flipped[:, 2]}"
    for name in ("ris", "ros", "rrs"):
        o = np.array(obj[name])
        assert np.allclose(o.max(0)[:2], outs[name][:2], rtol=1e-6), name
        assert np.isnan(outs[name][2]), name
    return dict(
        w=w,
        b=b,
        x=x,
        xs=xs,
        targets=targets,
        ris=outs["ris"],
        ros=outs["ros"],
        rrs=outs["rrs"],
        obj={kk: np.array(v) for kk, v in obj.items()},
        flipped=flipped,
        rep_width=l_x.shape[1],
    )


# ---------------------------------------------------------------------------
# Localisation: TopKIntersection, PointingGame, RelevanceRankAccuracy,
# RelevanceMassAccuracy, AUC
# ---------------------------------------------------------------------------


def localisation():
    rng = np.random.default_rng(2024)
    n, h, wd = 5, 8, 8
    x = rng.uniform(size=(n, 1, h, wd)).astype(np.float32)
    a = rng.normal(size=(n, 1, h, wd)).astype(np.float32)
    a += 0.3  # positive totals, so signed mass accuracy is defined in salience
    s = np.zeros((n, 1, h, wd), dtype=np.float32)
    s[0, 0, 1:4, 2:6] = 1.0
    s[1, 0, 4:8, 0:3] = 1.0
    s[2, 0, 0:8, 6:8] = 1.0
    # Sample 3: the maximum is tied at two pixels, one of them in the mask.
    flat = a[3].ravel()
    top = np.float32(flat.max() + 1.0)
    a[3, 0, 0, 0] = top
    a[3, 0, 7, 7] = top
    s[3, 0, 6:8, 6:8] = 1.0
    # Sample 4: an empty mask (Quantus' pointing game says True).
    y = np.zeros(n, dtype=np.int64)
    model = linear_model(np.zeros((2, h * wd), np.float32), np.zeros(2, np.float32))
    call = dict(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, device="cpu")
    res = {}
    for k in (1, 5, 20, 63):
        res[f"topk_{k}"] = quantus.TopKIntersection(k=k, disable_warnings=True)(**call)
        res[f"topk_{k}_ci"] = quantus.TopKIntersection(k=k, concept_influence=True, disable_warnings=True)(**call)
    try:
        quantus.TopKIntersection(k=h * wd, disable_warnings=True)(**call)
        res["topk_all_pixels_rejected"] = 0.0
    except ValueError:
        res["topk_all_pixels_rejected"] = 1.0
    res["pointing_game"] = [float(v) for v in quantus.PointingGame(disable_warnings=True)(**call)]
    res["pointing_game_abs"] = [float(v) for v in quantus.PointingGame(abs=True, disable_warnings=True)(**call)]
    res["rank_accuracy"] = quantus.RelevanceRankAccuracy(disable_warnings=True)(**call)
    res["mass_accuracy"] = quantus.RelevanceMassAccuracy(disable_warnings=True)(**call)
    res["mass_accuracy_abs"] = quantus.RelevanceMassAccuracy(abs=True, disable_warnings=True)(**call)
    res["auc"] = quantus.AUC(disable_warnings=True)(**call)
    out = {
        "description": (
            "Localisation metrics with Quantus' defaults (normalise=True by the batch max, abs=False "
            "unless *_abs) on fixed [N,1,8,8] maps a and masks s. Sample 3's maximum is tied at two "
            "pixels; sample 4's mask is empty. topk_K_ci: concept_influence=True. "
            "topk_all_pixels_rejected: 1 if Quantus raises for k = H*W."
        ),
        "a": arr(a),
        "s": arr(s),
    }
    for key, v in res.items():
        out[key] = arr(np.array(v, dtype=np.float64)) if isinstance(v, (list, np.ndarray)) else v
    write("localisation.json", out)


# ---------------------------------------------------------------------------
# Complexity: Sparseness (Gini), Complexity (entropy)
# ---------------------------------------------------------------------------


def complexity():
    rng = np.random.default_rng(11)
    n = 4
    x = rng.uniform(size=(n, 3, 8, 8)).astype(np.float32)
    a = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    a[1] *= 0.001  # a map far below the batch maximum: Quantus' batch-max normalisation shows
    a[2] = np.abs(a[2]) ** 4  # a sparse-ish map
    y = np.zeros(n, dtype=np.int64)
    model = linear_model(np.zeros((2, 3 * 64), np.float32), np.zeros(2, np.float32))
    call = dict(model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu")
    per_sample = {"normalise_axes": [1, 2, 3]}
    out = {
        "description": (
            "Sparseness (Gini) and Complexity (entropy) with Quantus' defaults (abs=True, "
            "normalise=True: normalise_by_max over the whole batch) and with normalise_by_max per "
            "sample (normalise_func_kwargs normalise_axes=[1,2,3]), on fixed [N,3,8,8] maps. "
            "Sample 1's maximum is 1e-3 of the batch maximum."
        ),
        "a": arr(a),
        "sparseness": arr(quantus.Sparseness(disable_warnings=True)(**call)),
        "sparseness_per_sample_max": arr(
            quantus.Sparseness(normalise_func=normalise_by_max, normalise_func_kwargs=per_sample, disable_warnings=True)(
                **call
            )
        ),
        "complexity": arr(quantus.Complexity(disable_warnings=True)(**call)),
    }
    write("complexity.json", out)


# ---------------------------------------------------------------------------
# Infidelity (Quantus' cumulative patches)
# ---------------------------------------------------------------------------


def infidelity():
    rng = np.random.default_rng(5)
    n, c, h, wd, k = 2, 3, 8, 8, 3
    d = c * h * wd
    w = (rng.normal(size=(k, d)) * 0.2).astype(np.float32)
    b = rng.normal(size=k).astype(np.float32)
    x = rng.normal(size=(n, c, h, wd)).astype(np.float32)  # min != 0: "black" is the sample minimum
    model = linear_model(w, b)
    y = np.array([0, 2], dtype=np.int64)
    a_full = rng.normal(size=(n, c, h, wd)).astype(np.float32)
    a_pix = rng.normal(size=(n, 1, h, wd)).astype(np.float32)
    res = {}
    for name, a in (("full", a_full), ("pixel", a_pix)):
        call = dict(model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu")
        for ps in (4, 2):
            res[f"{name}_p{ps}_black"] = quantus.Infidelity(perturb_patch_sizes=[ps], disable_warnings=True)(**call)
            res[f"{name}_p{ps}_zero"] = quantus.Infidelity(
                perturb_patch_sizes=[ps], perturb_baseline=0.0, disable_warnings=True
            )(**call)
    # The exact map of a linear model for a fixed baseline b0: (x - b0) * W[y]
    # telescopes; with the per-sample minimum it is W[y] itself (the
    # projection multiplies by x - x_k).
    out = {
        "description": (
            "Infidelity (loss mse, n_perturb_samples=10, abs=False, normalise=False) on a linear model "
            "y = W x + b over [N,3,8,8] inputs; perturb_patch_sizes [4] and [2]; perturb_baseline "
            "'black' (Quantus: the minimum of each sample) and 0.0; maps input-shaped (full) or "
            "[N,1,8,8] (pixel, broadcast over channels)."
        ),
        "w": arr(w),
        "b": arr(b),
        "x": arr(x),
        "targets": arr(y),
        "a_full": arr(a_full),
        "a_pixel": arr(a_pix),
        "x_min": arr(x.reshape(n, -1).min(-1)),
    }
    for key, v in res.items():
        out[key] = arr(np.array(v, dtype=np.float64))
    write("infidelity.json", out)


if __name__ == "__main__":
    torch.manual_seed(0)
    write_stability()
    localisation()
    complexity()
    infidelity()
    print("versions:", json.dumps(versions()), file=sys.stderr)
