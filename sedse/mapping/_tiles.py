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

#: Per operand, the dims along which consecutive tiles share no data (the inputs'
#: P, Q, R and S steps slide a window over shared rows, so they are not here).
DISJOINT = {"W": np.array([d in "GKCRS" for d in DIMS]),
            "I": np.array([d in "NGC" for d in DIMS]),
            "O": np.array([d in "NGKPQ" for d in DIMS])}


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


def resident_divisors(c: Candidates, tf: np.ndarray, li: int) -> dict[str, np.ndarray]:
    """Per operand, (M,) the factor by which level `li` may shrink its tile of it.

    A level streams its tile of an operand through when nothing above reuses it: the
    innermost loop above the level with a factor > 1 moves to disjoint data of the
    operand (or there is none). Then the level's own outermost loops over dims disjoint
    for the operand visit sub-tiles that are never revisited, and only one sub-tile
    needs to be held: the tile's footprint divided by those loops' factors (the dims
    disjoint for an operand multiply its footprint). Counts are unchanged: every
    sub-tile is still filled once per visit of the tile. The innermost level's loop
    order is not a mapping choice, so it holds its whole tile (divisor 1).
    """
    M = tf.shape[2]
    ones = {x: 1 for x in OPERANDS}
    if li >= len(c.keep) - 1:
        return ones
    pos = c.loop_positions()
    # the dim of the innermost loop with a factor > 1 above the level (-1: none)
    above = np.full(M, -1, dtype=np.int64)
    for lp in range(li - 1, -1, -1):
        inner = np.where(tf[lp] > 1, pos[lp], np.int8(-1)).max(axis=0)
        todo = above < 0
        above[todo] = np.where(inner[todo] >= 0,
                               c.order[todo, lp, np.maximum(inner[todo], 0)], -1)
        if not (above < 0).any():
            break
    f = tf[li]                                                # (8, M) factor per dim
    big = f > 1
    out = {}
    for x in OPERANDS:
        disjoint = DISJOINT[x]
        stream = (above < 0) | disjoint[np.maximum(above, 0)]
        if not stream.any():
            out[x] = ones[x]
            continue
        # a loop is streamed if it is disjoint and no loop outside it blocks: the
        # outermost non-disjoint loop with a factor > 1 ends the streamed run
        nd, dd = ~disjoint, disjoint
        block = np.where(big[nd], pos[li][nd], np.int8(8)).min(axis=0)
        take = (pos[li][dd] < block) & stream
        out[x] = np.where(take, f[dd], 1).prod(axis=0)
    return out


def capacity_need(c: Candidates, acc: Accelerator, layer: Layer,
                  tiles: np.ndarray | None = None,
                  weight_bits_at: np.ndarray | None = None,
                  fp=None, tf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each partition needs per instance (L, P, M) and capacities (L, P) (inf when
    unbounded): the resident part of every held tile (`resident_divisors`). Weights take
    `weight_bits_at[level]` bits each (their stored format). `fp(operand, level)` may
    supply the whole tiles' footprints the caller already computed."""
    if tiles is None or tf is None:
        tf, sf = soa(c, acc)
        tiles = tile_extents(tf, sf)
    if weight_bits_at is None:
        weight_bits_at = weight_format(layer, acc).bits_at
    if fp is None:
        def fp(x, li):
            return footprint(x, tiles[li], layer)
    L = len(acc.levels)
    P = max(len(lvl.partitions) for lvl in acc.levels)
    need = np.zeros((L, P, len(c)), dtype=np.int64)
    cap = np.full((L, P), np.inf)
    div: dict[int, dict[str, np.ndarray]] = {}
    for li, lvl in enumerate(acc.levels):
        for pi, part in enumerate(lvl.partitions):
            bounded = part.capacity_bytes is not None
            if bounded:
                cap[li, pi] = part.capacity_bytes
            for x in part.operands:
                if c.keep[li, OPERANDS.index(x)]:
                    n = fp(x, li)
                    if bounded and li < L - 1:
                        if li not in div:
                            div[li] = resident_divisors(c, tf, li)
                        n = n // div[li][x]
                    if x == "W":
                        need[li, pi] += np.ceil(n * weight_bits_at[li] / 8).astype(np.int64)
                    else:
                        need[li, pi] += -(-n * layer.operand_bits(x) // 8)
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
