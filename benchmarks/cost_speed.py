"""Speed of the vectorised cost model: mappings evaluated per second.

Prints, for a few layers on each shipped accelerator, the rate of one batched call
over N candidates against the same N candidates evaluated one per call (the baseline,
same process, same candidates), and the time of a whole-network `sedse eval`
(default mapper, 3000 candidates per distinct layer shape).

    python benchmarks/cost_speed.py [--n 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sedse_models
from sedse.cost import evaluate, evaluate_workload
from sedse.hardware import load_accelerator
from sedse.mapping._generate import random_candidates


def _rate(fn, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000, help="candidates per batch")
    ap.add_argument("--n-single", type=int, default=300, help="candidates for the baseline")
    args = ap.parse_args()
    alexnet = sedse_models.workload("alexnet", 4)
    layers = [alexnet.layers[0], alexnet.layers[2], alexnet.layers[5]]
    print(f"{'accelerator':12s} {'layer':14s} {'batched map/s':>14s} {'one-by-one map/s':>17s} "
          f"{'ratio':>7s}")
    for hw in ("eyeriss", "diannao"):
        acc = load_accelerator(f"hw_configs/{hw}.yaml")
        for layer in layers:
            cand = random_candidates(layer, acc, args.n, np.random.default_rng(0))
            batched = _rate(lambda c=cand, la=layer, a=acc: evaluate(la, a, c), args.n)
            few = cand.take(np.arange(args.n_single))
            single = _rate(lambda c=few, la=layer, a=acc: [evaluate(la, a, c.take([i]))
                                                          for i in range(len(c))],
                           args.n_single, repeat=1)
            print(f"{hw:12s} {layer.name:14s} {batched:14,.0f} {single:17,.0f} "
                  f"{batched / single:6.1f}x")
    for model in ("alexnet", "resnet18"):
        wl = sedse_models.workload(model)
        for hw in ("eyeriss", "diannao"):
            acc = load_accelerator(f"hw_configs/{hw}.yaml")
            t0 = time.perf_counter()
            evaluate_workload(wl, acc)
            dt = time.perf_counter() - t0
            n_shapes = len({layer.shape_key() for layer in wl.layers})
            print(f"whole network {model} on {hw}: {dt:.2f} s ({n_shapes} distinct layer shapes)")


if __name__ == "__main__":
    main()
