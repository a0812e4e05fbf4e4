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


def soa(c: Candidates, acc: Accelerator) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Temporal factors (L, 8, M) and the spatial factors of every level with a
    fan-out, gathered at that level: {level: (8, M)} (levels without one: all 1)."""
    tf = c.tf.transpose(1, 2, 0)
    if not tf.flags.c_contiguous:
        tf = np.ascontiguousarray(tf)
    sf: dict[int, np.ndarray] = {}
    for ai, a in enumerate(acc.array_axes):
        li = acc.axis_level(a)
        s = c.sf[:, ai].T
        sf[li] = sf[li] * s if li in sf else np.ascontiguousarray(s)
    return tf, sf


def tile_extents(tf: np.ndarray, sf: dict[int, np.ndarray]) -> np.ndarray:
    """(L + 1, 8, M) per-dim extent of the tile each level holds; index L (MAC) is 1."""
    L = tf.shape[0]
    tiles = np.empty((L + 1,) + tf.shape[1:], dtype=tf.dtype)
    tiles[L] = 1
    np.copyto(tiles[L - 1], tf[L - 1])
    for li in range(L - 1, -1, -1):   # inner levels first
        if li < L - 1:
            np.multiply(tiles[li + 1], tf[li], out=tiles[li])
        if li in sf:
            tiles[li] *= sf[li]
    return tiles


def spatial_between(sf: dict[int, np.ndarray], p: int, ch: int) -> np.ndarray | None:
    """(8, M) product of the spatial factors of levels p..ch-1 (None: no fan-out)."""
    out = None
    for li in range(p, ch):
        if li in sf:
            out = sf[li] if out is None else out * sf[li]
    return out


class LoopPositions:
    """Per level, the loop position of every dim whose factor is > 1 (-1 for factor-1
    loops; (8, M) int8, computed on first use) and the position of the innermost such
    loop ((M,) int8, -1 when the level has none). Shared by the counts and the
    capacity check."""

    def __init__(self, c: Candidates, tf: np.ndarray):
        self._c, self._tf = c, tf
        self._pb: dict[int, np.ndarray] = {}
        self._inner: dict[int, np.ndarray] = {}

    def big(self, li: int) -> np.ndarray:
        if li not in self._pb:
            self._pb[li] = np.where(self._tf[li] > 1, self._c.loop_positions()[li],
                                    np.int8(-1))
        return self._pb[li]

    def innermost(self, li: int) -> np.ndarray:
        if li not in self._inner:
            pb = self.big(li)
            out = pb[0]
            for row in pb[1:]:
                out = np.maximum(out, row)
            self._inner[li] = out
        return self._inner[li]


def resident_divisors(lp: LoopPositions, tf: np.ndarray, li: int,
                      L: int) -> dict[str, np.ndarray]:
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
    ones = {x: 1 for x in OPERANDS}
    if li >= L - 1:
        return ones
    M = tf.shape[2]
    # per operand: does the innermost loop above the level with a factor > 1 move to
    # disjoint data (True also where there is no such loop)?
    stream = {x: np.ones(M, dtype=bool) for x in OPERANDS}
    decided = np.zeros(M, dtype=bool)
    for lv in range(li - 1, -1, -1):
        inner, pb = lp.innermost(lv), lp.big(lv)
        now = (inner >= 0) & ~decided
        if now.any():
            for x in OPERANDS:
                hit = np.zeros(M, dtype=bool)
                for d in np.flatnonzero(DISJOINT[x]):
                    hit |= pb[d] == inner
                stream[x] = np.where(now, hit, stream[x])
            decided |= now
            if decided.all():
                break
    f, pb = tf[li], lp.big(li)
    out = {}
    for x in OPERANDS:
        disjoint = DISJOINT[x]
        if not stream[x].any():
            out[x] = ones[x]
            continue
        # a loop is streamed if it is disjoint and no loop outside it blocks: the
        # outermost non-disjoint loop with a factor > 1 ends the streamed run
        block = np.full(M, 8, dtype=np.int8)
        for d in np.flatnonzero(~disjoint):
            block = np.where((pb[d] >= 0) & (pb[d] < block), pb[d], block)
        block[~stream[x]] = -1
        div = None
        for d in np.flatnonzero(disjoint):
            term = np.where((pb[d] >= 0) & (pb[d] < block), f[d], 1)
            div = term if div is None else div * term
        out[x] = div
    return out


def capacity_need(c: Candidates, acc: Accelerator, layer: Layer,
                  tiles: np.ndarray | None = None,
                  weight_bits_at: np.ndarray | None = None,
                  fp=None, tf: np.ndarray | None = None,
                  lp: LoopPositions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each bounded partition needs per instance (L, P, M; 0 for unbounded ones)
    and capacities (L, P) (inf when unbounded). Where the whole held tiles overflow a
    level, the need is that of their resident parts (`resident_divisors`); elsewhere the
    whole tiles' bytes (which fit anyway). Weights take `weight_bits_at[level]` bits
    each (their stored format). `fp(operand, level)` may supply the whole tiles'
    footprints the caller computed."""
    if tiles is None or tf is None:
        tf, sf = soa(c, acc)
        tiles = tile_extents(tf, sf)
    if weight_bits_at is None:
        weight_bits_at = weight_format(layer, acc).bits_at
    if lp is None:
        lp = LoopPositions(c, tf)
    if fp is None:
        def fp(x, li):
            return footprint(x, tiles[li], layer)
    L = len(acc.levels)
    P = max(len(lvl.partitions) for lvl in acc.levels)
    need = np.zeros((L, P, len(c)), dtype=np.int64)
    cap = np.full((L, P), np.inf)

    def nbytes(x, li, n):
        if x == "W":
            return np.ceil(n * weight_bits_at[li] / 8).astype(np.int64)
        bits = layer.operand_bits(x)
        return n * (bits // 8) if bits % 8 == 0 else -(-n * bits // 8)

    for head, lvl in enumerate(acc.levels):
        if lvl.same_memory_as:
            continue
        # a memory's tiles at all its tile boundaries share its capacity: their needs
        # add up in the row of its first level (its other levels' rows stay 0, inf)
        group = acc.memory_levels(head)
        held: dict[int, list[tuple[int, str]]] = {}
        for pi, part in enumerate(lvl.partitions):
            if part.capacity_bytes is None:
                continue    # unbounded (off-chip): its need is not computed (0)
            cap[head, pi] = part.capacity_bytes
            held[pi] = [(li, x) for li in group for x in part.operands
                        if c.keep[li, OPERANDS.index(x)]]
            for li, x in held[pi]:
                need[head, pi] += nbytes(x, li, fp(x, li))
        if not held:
            continue
        idx = np.flatnonzero((need[head] > cap[head][:, None]).any(axis=0))
        if not len(idx):
            continue
        div = {li: resident_divisors(lp, tf, li, L) for li in group if li < L - 1}
        if not div:
            continue
        for pi, xs in held.items():
            sub = np.zeros(len(idx), dtype=np.int64)
            for li, x in xs:
                d = div[li][x] if li in div else 1
                sub += nbytes(x, li, fp(x, li)[idx] // (d if np.isscalar(d) else d[idx]))
            need[head, pi, idx] = sub
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
