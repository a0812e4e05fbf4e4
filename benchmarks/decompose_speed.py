"""Decomposition time for all decomposable weights of ResNet-50 and VGG-16 (random
default-init weights, theta 4e-3, 30 iterations, as in REFERENCE 1.2's measurement of the
authors' code: ResNet-50 about 70 s, VGG-16 about 200 s on this kind of machine).

    python benchmarks/decompose_speed.py [--models resnet50 vgg16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sedse_models
from sedse.compress import SmartExchange, SmartExchangeConfig


def run(model_name: str) -> dict:
    model = sedse_models.build(model_name)
    comp = SmartExchange(SmartExchangeConfig())
    t0 = time.perf_counter()
    n_dec = n_dense = bits = dense_bits = 0
    errs = []
    for name, p in model.named_parameters():
        if p.ndim not in (2, 4):
            continue
        out = comp.compress(name, p.detach().numpy())
        bits += out.encoding.total_bits
        dense_bits += p.numel() * 8
        if out.method == "dense":
            n_dense += p.numel()
        else:
            n_dec += p.numel()
            errs.append(out.rel_error)
    return {"seconds": time.perf_counter() - t0, "decomposed": n_dec, "dense": n_dense,
            "ratio8": dense_bits / bits, "mean_rel_error": float(np.mean(errs))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["resnet50", "vgg16"])
    args = ap.parse_args()
    for m in args.models:
        r = run(m)
        print(f"{m:10s} {r['seconds']:7.1f} s  {r['decomposed']:,} weights decomposed, "
              f"{r['dense']:,} kept dense; ratio vs 8-bit {r['ratio8']:.2f}x, "
              f"mean relative error {r['mean_rel_error']:.3f}")


if __name__ == "__main__":
    main()
