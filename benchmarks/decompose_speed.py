"""SmartExchange decomposition speed against a plain per-block reference, same process.

Decomposes every decomposable weight of a network (default ResNet-50 at ImageNet shapes,
PyTorch's default initialisation, seed 0) with the issue's settings: theta 4e-3, 30
iterations, the row threshold off, 2 threads. Two implementations of the same
algorithm (Zhao et al., ISCA 2020; REFERENCE.md 1.2):

* `sedse.compress.compress_model` with `SmartExchange`: all blocks of a layer at once
  (batched S x S normal equations), two layers at a time in threads (BLAS on one
  thread each);
* `sedse.compress.decompose_reference`: one block at a time with `np.linalg.lstsq`, as
  the paper writes it.

Printed: both wall times and their ratio, and both results' Ce density (non-zero Ce
entries / stored Ce entries over all layers) and relative error (||W - Ce B|| / ||W||
over all decomposed weights), with their differences (the target: ratio >= 10 at equal
density and error within 0.1%; the batched run <= 5 s on 2 cores).

    python benchmarks/decompose_speed.py [--models resnet50 vgg16] [--no-reference]
"""

from __future__ import annotations

import argparse
import os
import time

# the 2 threads: two layers at once (`compress_model(threads=2)`), each with a
# single-threaded BLAS, so the process never runs more than two threads of work
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sedse_models  # noqa: E402
from sedse.compress import (  # noqa: E402
    SmartExchange,
    SmartExchangeConfig,
    compress_model,
    decompose_reference,
    to_blocks,
)

CONFIG = SmartExchangeConfig(theta=4e-3, max_iter=30, row_theta=None)


def _summary(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Over all layers: (w, reconstruction, ce, valid rows) -> density, relative error."""
    nz = sum(int((ce[valid] != 0).sum()) for _, _, ce, valid in parts)
    stored = sum(int(valid.sum()) * ce.shape[-1] for _, _, ce, valid in parts)
    num = sum(float(np.sum((w.astype(np.float64) - r) ** 2)) for w, r, _, _ in parts)
    den = sum(float(np.sum(w.astype(np.float64) ** 2)) for w, _, _, _ in parts)
    return {"density": nz / stored, "rel_error": (num / den) ** 0.5}


def run(model_name: str, reference: bool) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = sedse_models.build(model_name)
    weights = {n.removesuffix(".weight"): p.detach().numpy()
               for n, p in model.named_parameters() if p.ndim in (2, 4)}
    t0 = time.perf_counter()
    out = compress_model(model, SmartExchange(CONFIG), threads=2)
    fast_s = time.perf_counter() - t0
    layers = [c for c in out.layers if c.method == "smartexchange"]
    fast = _summary([(weights[c.name], np.asarray(c.weight, dtype=np.float64), c.extra["ce"],
                      to_blocks(weights[c.name].astype(np.float64), CONFIG).valid)
                     for c in layers])
    n_w = sum(weights[c.name].size for c in layers)
    print(f"{model_name}: {len(layers)} decomposed layers, {n_w:,} weights "
          f"({sum(1 for c in out.layers if c.method != 'smartexchange')} kept dense)")
    print(f"  batched (sedse.compress):      {fast_s:7.2f} s   Ce density "
          f"{fast['density']:.5f}   relative error {fast['rel_error']:.5f}")
    if not reference:
        return
    t0 = time.perf_counter()
    parts = []
    for c in layers:
        w = weights[c.name]
        d = decompose_reference(w, CONFIG)
        parts.append((w, d.reconstruct(), d.ce, d.blocks.valid))
    ref_s = time.perf_counter() - t0
    ref = _summary(parts)
    print(f"  per-block reference (lstsq):   {ref_s:7.2f} s   Ce density "
          f"{ref['density']:.5f}   relative error {ref['rel_error']:.5f}")
    print(f"  speed-up {ref_s / fast_s:.1f}x; density differs by "
          f"{100 * abs(fast['density'] - ref['density']) / ref['density']:.3f}%, relative "
          f"error by {100 * abs(fast['rel_error'] - ref['rel_error']) / ref['rel_error']:.3f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet50"])
    ap.add_argument("--no-reference", action="store_true",
                    help="time the batched decomposition only")
    args = ap.parse_args()
    for m in args.models:
        run(m, not args.no_reference)


if __name__ == "__main__":
    main()
