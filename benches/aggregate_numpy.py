#!/usr/bin/env python3
"""NumPy/SciPy timings of the Mahlau & Nolde aggregators, for comparison with
`cargo bench --bench aggregate` (same input: k = 7 z-scored maps of 224x224
for N = 16 samples). Not part of the test suite.

    pip install numpy scipy && python3 benches/aggregate_numpy.py
"""
import time

import numpy as np
from scipy.stats import norm

K, N, H = 7, 16, 224
rng = np.random.default_rng(0)
E = rng.uniform(-1, 1, size=(K, N, H, H)).astype(np.float32)
E = (E - E.mean(axis=(2, 3), keepdims=True)) / E.std(axis=(2, 3), keepdims=True)


def moments(e):
    mu = e.mean(axis=0)
    sd = e.std(axis=0)
    best = mu.reshape(N, -1).max(axis=1)[:, None, None]
    return mu, sd, best


def pi(e, eps):
    mu, sd, best = moments(e)
    return norm.cdf((mu - best - eps) / sd)


def ei(e, eps):
    mu, sd, best = moments(e)
    d = mu - best - eps
    z = d / sd
    return d * norm.cdf(z) + sd * norm.pdf(z)


def ci(e):
    mu, sd, best = moments(e)
    eps = (sd**2).reshape(N, -1).mean(axis=1)[:, None, None] / best
    return ei(e, eps)


def averaged(f, a, b, n=10):
    return sum(f(E, a + i * (b - a) / (n - 1)) for i in range(n)) / n


def ucb(e, eps):
    mu, sd, _ = moments(e)
    return mu + eps * sd


def var(e, eps, delta):
    return e.mean(axis=0) / (eps * e.std(axis=0) + delta)


cases = {
    "memcpy": lambda: E.copy(),
    "mean": lambda: E.mean(axis=0),
    "percentile(q=25)": lambda: np.percentile(E, 25, axis=0),
    "ucb(eps=-0.5)": lambda: ucb(E, -0.5),
    "pi(eps=-4)": lambda: pi(E, -4.0),
    "ei(eps=-6)": lambda: ei(E, -6.0),
    "ci": lambda: ci(E),
    "api(a=-7,b=2,n=10)": lambda: averaged(pi, -7.0, 2.0),
    "aei(a=-10,b=5,n=10)": lambda: averaged(ei, -10.0, 5.0),
    "var(eps=1e-7,delta=1)": lambda: var(E, 1e-7, 1.0),
}

for name, f in cases.items():
    f()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    print(f"{name:28s} {1e3 * min(times):9.2f} ms (min of 5)")
