"""Tile extents, operand footprints and capacity needs of candidate mappings.

Arrays here put dims first and candidates last ((8, M), (L + 1, 8, M)): every per-dim
operation then runs over a contiguous row of M values, which is what makes the cost
model fast. `Candidates` keep the (M, L, 8) layout of their public API.
"""

from __future__ import annotations

import numpy as np

from sedse.hardware import Accelerator
from sedse.mapping._formats import weight_format
from sedse.mapping._mapping import Candidates
from sedse.workload import DIMS, OPERANDS, Layer

_N, _G, _K, _C, _P, _Q, _R, _S = range(8)


def footprint(operand: str, t: np.ndarray, layer: Layer) -> np.ndarray:
    """Elements of `operand` touched by a tile with per-dim extents `t` (dims first).

    Inputs follow the sliding window: p output rows and r kernel rows touch
    ``min((p - 1) * stride + (r - 1) * dilation + 1, p * r)`` input rows (the second term
    when a stride larger than the window skips rows; exact whenever stride or dilation
    is 1, an upper bound otherwise).
    """
    if operand == "W":
        return t[_G] * t[_K] * t[_C] * t[_R] * t[_S]
    if operand == "O":
        return t[_N] * t[_G] * t[_K] * t[_P] * t[_Q]
    h = np.minimum((t[_P] - 1) * layer.stride_h + (t[_R] - 1) * layer.dilation_h + 1,
                   t[_P] * t[_R])
    w = np.minimum((t[_Q] - 1) * layer.stride_w + (t[_S] - 1) * layer.dilation_w + 1,
                   t[_Q] * t[_S])
    return t[_N] * t[_G] * t[_C] * h * w


def soa(c: Candidates, acc: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """Temporal factors (L + 1, 8, M) (index L: the MAC, all 1) and spatial factors
    gathered at the level they fan out under (L + 1, 8, M)."""
    M, L, _ = c.tf.shape
    tf = np.empty((L + 1, 8, M), dtype=np.int64)
    tf[:L] = c.tf.transpose(1, 2, 0)
    tf[L] = 1
    sf = np.ones((L + 1, 8, M), dtype=np.int64)
    for ai, a in enumerate(acc.array_axes):
        sf[acc.axis_level(a)] *= c.sf[:, ai].T
    return tf, sf


def tile_extents(tf: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """(L + 1, 8, M) per-dim extent of the tile each level holds; index L (MAC) is 1."""
    tiles = np.empty_like(tf)
    tiles[-1] = 1
    step = tf * sf
    for li in range(tf.shape[0] - 2, -1, -1):   # inner levels first
        np.multiply(tiles[li + 1], step[li], out=tiles[li])
    return tiles


def capacity_need(c: Candidates, acc: Accelerator, layer: Layer,
                  tiles: np.ndarray | None = None,
                  weight_bits_at: np.ndarray | None = None,
                  fp=None) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each partition needs per instance (L, P, M) and capacities (L, P) (inf when
    unbounded). Weights take `weight_bits_at[level]` bits each (their stored format).
    `fp(operand, level)` may supply footprints the caller already computed."""
    if tiles is None:
        tiles = tile_extents(*soa(c, acc))
    if weight_bits_at is None:
        weight_bits_at = weight_format(layer, acc).bits_at
    if fp is None:
        def fp(x, li):
            return footprint(x, tiles[li], layer)
    L = len(acc.levels)
    P = max(len(lvl.partitions) for lvl in acc.levels)
    need = np.zeros((L, P, len(c)), dtype=np.int64)
    cap = np.full((L, P), np.inf)
    for li, lvl in enumerate(acc.levels):
        for pi, part in enumerate(lvl.partitions):
            if part.capacity_bytes is not None:
                cap[li, pi] = part.capacity_bytes
            for x in part.operands:
                if c.keep[li, OPERANDS.index(x)]:
                    if x == "W":
                        need[li, pi] += np.ceil(fp(x, li) * weight_bits_at[li] / 8
                                                ).astype(np.int64)
                    else:
                        bits = layer.operand_bits(x)
                        need[li, pi] += -(-fp(x, li) * bits // 8)
    return need, cap


def structural_ok(c: Candidates, acc: Accelerator, layer: Layer) -> np.ndarray:
    """(M,) True where factors cover the layer, spatial factors fit the array and no
    reduction dim is unrolled under a network without spatial reduction."""
    total = c.tf.prod(axis=1) * c.sf.prod(axis=1)
    dims = np.array([getattr(layer, d) for d in DIMS])
    ok = (total >= dims).all(axis=1)
    sizes = np.array([acc.axis_size(a) for a in acc.array_axes])
    ok &= (c.sf.prod(axis=2) <= sizes).all(axis=1)
    for ai, a in enumerate(acc.array_axes):
        net = acc.levels[acc.axis_level(a)].network
        if not net.spatial_reduction:
            ok &= (c.sf[:, ai, [_C, _R, _S]] == 1).all(axis=1)
    return ok
