"""Tile extents, operand footprints and capacity needs of candidate mappings."""

from __future__ import annotations

import numpy as np

from sedse.hardware import Accelerator
from sedse.mapping._mapping import Candidates
from sedse.workload import OPERANDS, Layer

_N, _G, _K, _C, _P, _Q, _R, _S = range(8)


def footprint(operand: str, t: np.ndarray, layer: Layer) -> np.ndarray:
    """Elements of `operand` touched by a tile with per-dim extents `t` (..., 8).

    Inputs follow the sliding window: p output rows and r kernel rows touch
    ``min((p - 1) * stride + (r - 1) * dilation + 1, p * r)`` input rows (the second term
    when a stride larger than the window skips rows; exact whenever stride or dilation
    is 1, an upper bound otherwise).
    """
    if operand == "W":
        return t[..., _G] * t[..., _K] * t[..., _C] * t[..., _R] * t[..., _S]
    if operand == "O":
        return t[..., _N] * t[..., _G] * t[..., _K] * t[..., _P] * t[..., _Q]
    h = np.minimum((t[..., _P] - 1) * layer.stride_h + (t[..., _R] - 1) * layer.dilation_h + 1,
                   t[..., _P] * t[..., _R])
    w = np.minimum((t[..., _Q] - 1) * layer.stride_w + (t[..., _S] - 1) * layer.dilation_w + 1,
                   t[..., _Q] * t[..., _S])
    return t[..., _N] * t[..., _G] * t[..., _C] * h * w


def spatial_per_level(c: Candidates, acc: Accelerator) -> np.ndarray:
    """(M, L + 1, 8) spatial factors gathered at the level they fan out under."""
    L = len(acc.levels)
    sfl = np.ones((len(c), L + 1, 8), dtype=np.int64)
    for ai, a in enumerate(acc.array_axes):
        sfl[:, acc.axis_level(a)] *= c.sf[:, ai]
    return sfl


def tile_extents(c: Candidates, acc: Accelerator, sfl: np.ndarray | None = None) -> np.ndarray:
    """(M, L + 1, 8) per-dim extent of the tile each level holds; index L is the MAC (1)."""
    L = len(acc.levels)
    if sfl is None:
        sfl = spatial_per_level(c, acc)
    tfl = np.ones_like(sfl)
    tfl[:, :L] = c.tf
    tiles = np.flip(np.cumprod(np.flip(tfl * sfl, axis=1), axis=1), axis=1)
    tiles[:, L] = 1
    return tiles


def capacity_need(c: Candidates, acc: Accelerator, layer: Layer,
                  tiles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each partition needs per instance (M, L, P) and capacities (L, P), inf if unbounded."""
    if tiles is None:
        tiles = tile_extents(c, acc)
    L = len(acc.levels)
    P = max(len(lvl.partitions) for lvl in acc.levels)
    need = np.zeros((len(c), L, P), dtype=np.int64)
    cap = np.full((L, P), np.inf)
    for li, lvl in enumerate(acc.levels):
        for pi, part in enumerate(lvl.partitions):
            if part.capacity_bytes is not None:
                cap[li, pi] = part.capacity_bytes
            for x in part.operands:
                if c.keep[li, OPERANDS.index(x)]:
                    bits = layer.operand_bits(x)
                    need[:, li, pi] += -(-footprint(x, tiles[:, li], layer) * bits // 8)
    return need, cap


def structural_ok(c: Candidates, acc: Accelerator, layer: Layer) -> np.ndarray:
    """(M,) True where factors cover the layer, spatial factors fit the array and no
    reduction dim is unrolled under a network without spatial reduction."""
    total = c.tf.prod(axis=1) * c.sf.prod(axis=1)
    dims = np.array([getattr(layer, d) for d in ("N", "G", "K", "C", "P", "Q", "R", "S")])
    ok = (total >= dims).all(axis=1)
    sizes = np.array([acc.axis_size(a) for a in acc.array_axes])
    ok &= (c.sf.prod(axis=2) <= sizes).all(axis=1)
    for ai, a in enumerate(acc.array_axes):
        net = acc.levels[acc.axis_level(a)].network
        if not net.spatial_reduction:
            ok &= (c.sf[:, ai, [_C, _R, _S]] == 1).all(axis=1)
    return ok
