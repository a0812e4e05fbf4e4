"""Scaled quantisers for the fair ablations: uniform and power-of-two codes with a scale
per layer or per output channel, chosen by the largest magnitude or by the least squared
error (a grid search, as post-training quantisers such as those surveyed by Nagel et
al. 2021 choose a clipping range).

A weight matrix is viewed as rows, one per output channel: ``w.reshape(K, -1)``. Each
function takes and returns float64 arrays of that (K, n) shape; a `mask` (same shape,
bool) restricts the error to the entries that are stored (the kept weights of a pruned
layer), the others are quantised too but do not count.

* uniform, `bits` b: levels ``step * i`` for integers ``|i| <= 2**(b-1) - 1``, nearest;
  entries beyond the top level are clipped to it.
* power of two, `bits` b (sign + exponent code, one code for zero): levels
  ``0, +-top * 2**-j`` for ``j = 0 .. 2**(b-1) - 2``, nearest in linear distance; beyond
  ``top`` clipped to it.

The scale (`step` or `top`) is stored at 32 bits, one per row with `per_channel`, else
one for the layer.
"""

from __future__ import annotations

import numpy as np

SCALES = ("max", "mse")
#: candidate scales, as fractions of the largest magnitude (uniform: of max / qmax)
_GRID_UNIFORM = np.linspace(0.1, 1.0, 46)
#: candidate tops for the power-of-two code: max * 2**-u, u in [-0.5, 1.5], and the
#: largest magnitude rounded to a power of two (the "max" scale)
_GRID_POW2 = 2.0 ** -np.linspace(-0.5, 1.5, 41)


def _qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def uniform(m: np.ndarray, bits: int, step: np.ndarray) -> np.ndarray:
    """`m` (K, n) on the uniform grid of `step` ((K, 1) or (1, 1)); a zero step gives 0."""
    q = _qmax(bits)
    safe = np.where(step > 0, step, 1.0)
    return np.clip(np.round(m / safe), -q, q) * step


def pow2(m: np.ndarray, bits: int, top: np.ndarray) -> np.ndarray:
    """`m` (K, n) as signed powers of two below `top` ((K, 1) or (1, 1)), nearest in
    linear distance; 2**(bits-1) - 1 magnitudes, the smallest top * 2**-(L-1)."""
    levels = _qmax(bits)
    mag = np.abs(m)
    safe = np.where(top > 0, top, 1.0)
    r = np.minimum(mag / safe, 1.0)          # relative magnitude in [0, 1]
    # nearest of 2**-j and 2**-(j+1) for r in between: the upper iff r >= 0.75 * 2**-j
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(r > 0, r, 1.0)))          # r in [2**e, 2**(e+1))
    up = r >= 1.5 * 2.0 ** e
    e = np.minimum(e + up, 0.0)
    smallest = 2.0 ** -(levels - 1)
    e = np.maximum(e, -(levels - 1))
    out = 2.0 ** e
    out[r < smallest / 2] = 0.0
    out[r == 0] = 0.0
    return np.copysign(out * top, m)


def _largest(m: np.ndarray, per_channel: bool, mask: np.ndarray | None) -> np.ndarray:
    a = np.abs(m) if mask is None else np.where(mask, np.abs(m), 0.0)
    if per_channel:
        return a.max(axis=1, keepdims=True) if a.shape[1] else np.zeros((a.shape[0], 1))
    return np.full((1, 1), float(a.max()) if a.size else 0.0)


def _best(m: np.ndarray, fn, bits: int, candidates: list[np.ndarray],
          per_channel: bool, mask: np.ndarray | None) -> np.ndarray:
    """The candidate scale with the least squared error, per row or for all (the first
    of equals)."""
    best = candidates[0]
    best_err = np.full(best.shape, np.inf)
    for cand in candidates:
        d = fn(m, bits, cand) - m
        d = d * d if mask is None else np.where(mask, d * d, 0.0)
        err = d.sum(axis=1, keepdims=True) if per_channel else np.full((1, 1), d.sum())
        better = err < best_err
        best = np.where(better, cand, best)
        best_err = np.where(better, err, best_err)
    return best


def uniform_step(m: np.ndarray, bits: int, scale: str = "max", per_channel: bool = False,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """The uniform step, (K, 1) with `per_channel`, else (1, 1): the largest magnitude
    over 2**(bits-1) - 1 ("max"), or the grid step with the least squared error ("mse")."""
    base = _largest(m, per_channel, mask) / _qmax(bits)
    if scale == "max":
        return base
    return _best(m, uniform, bits, [base * g for g in _GRID_UNIFORM[::-1]], per_channel, mask)


def pow2_top(m: np.ndarray, bits: int, scale: str = "max", per_channel: bool = False,
             mask: np.ndarray | None = None) -> np.ndarray:
    """The power-of-two code's top level: the largest magnitude ("max"), or the grid top
    with the least squared error ("mse")."""
    base = _largest(m, per_channel, mask)
    if scale == "max":
        return base
    rounded = np.where(base > 0, _nearest_pow2(base), 0.0)
    return _best(m, pow2, bits, [rounded] + [base * g for g in _GRID_POW2], per_channel, mask)


def _nearest_pow2(x: np.ndarray) -> np.ndarray:
    """The power of two nearest to each x > 0 in linear distance."""
    e = np.floor(np.log2(np.where(x > 0, x, 1.0)))
    return 2.0 ** (e + (x >= 1.5 * 2.0 ** e))


__all__ = ["SCALES", "pow2", "pow2_top", "uniform", "uniform_step"]
