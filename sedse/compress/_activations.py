"""Activation statistics the cost model's skipping and bit-serial terms read.

Measured by running the model on real test data with a hook on every Conv2d / Linear
input, after quantising each layer's input to `bits` (per-layer max scale, unsigned
when the input is non-negative, else signed magnitude):

* input_zero_frac: zero values;
* input_zero_row_frac: all-zero rows, a row being one channel's row of the feature map
  (what a line of the SmartExchange array processes); for a Linear input a row is one
  value;
* input_nonzero_bit_frac: mean non-zero digits of the magnitude's non-adjacent form
  (Booth-style signed digits: popcount((x ^ 3x) >> 1)) / bits.
"""

from __future__ import annotations

import numpy as np

ACTIVATION_FIELDS = ("input_zero_frac", "input_zero_row_frac", "input_nonzero_bit_frac")


def naf_digits(x: np.ndarray) -> np.ndarray:
    """Non-zero digits of the non-adjacent form of non-negative integers `x`."""
    x = x.astype(np.int64)
    v = (x ^ (3 * x)) >> 1
    count = np.zeros_like(v)
    while np.any(v):
        count += v & 1
        v >>= 1
    return count


def _quantise(t: np.ndarray, bits: int) -> np.ndarray:
    """Integer magnitudes of `t` on a per-tensor `bits`-bit grid."""
    signed = bool((t < 0).any())
    top = 2 ** (bits - 1 if signed else bits) - 1
    scale = float(np.abs(t).max()) / top if t.size and np.abs(t).max() > 0 else 1.0
    return np.rint(np.abs(t) / scale).astype(np.int64)


def activation_stats(model, data, *, bits: int = 8, samples: int = 512,
                     batch: int = 256, device: str = "cpu",
                     split: str = "val") -> dict[str, dict[str, float]]:
    """Return {layer name: {ACTIVATION_FIELDS: value}} measured on the first `samples`
    images of `split` (the validation split by default)."""
    import torch

    acc: dict[str, list[float]] = {}
    hooks = []

    def hook(name):
        def fn(_mod, inputs):
            q = _quantise(inputs[0].detach().cpu().numpy(), bits)
            rows = q.reshape(q.shape[0], q.shape[1], q.shape[2], -1) if q.ndim == 4 \
                else q.reshape(q.shape[0], -1, 1)
            row_zero = float((rows.max(axis=-1) == 0).mean())
            a = acc.setdefault(name, [0.0, 0.0, 0.0, 0.0])
            a[0] += float((q == 0).sum())
            a[1] += row_zero * q.size
            a[2] += float(naf_digits(q).sum())
            a[3] += q.size
        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            hooks.append(mod.register_forward_pre_hook(hook(name)))
    model.eval()
    try:
        with torch.no_grad():
            xs, _ = data.split(split)
            for s in range(0, min(samples, len(xs)), batch):
                model(torch.from_numpy(xs[s:min(s + batch, samples)]).to(device))
    finally:
        for h in hooks:
            h.remove()
    return {name: {"input_zero_frac": a[0] / a[3], "input_zero_row_frac": a[1] / a[3],
                   "input_nonzero_bit_frac": a[2] / a[3] / bits}
            for name, a in acc.items()}
