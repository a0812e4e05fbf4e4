"""Tile extents, operand footprints and capacity needs of candidate mappings.

Arrays here put dims first and candidates last ((8, M), (L + 1, 8, M)): every per-dim
operation then runs over a contiguous row of M values, which is what makes the cost
model fast. `Candidates` keep the (M, L, 8) layout of their public API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sedse.hardware import Accelerator
from sedse.mapping import Candidates
from sedse.workload import DIM_INDEX, DIMS, OPERANDS, RELEVANT, Layer, input_extent

#: rows of the per-dim arrays (dims first), named once for the cost model
_N, _G, _K, _C, _P, _Q, _R, _S = (DIM_INDEX[d] for d in DIMS)

#: Per operand, the dims along which consecutive tiles share no data: the dims indexing
#: it, except for the inputs, whose P, Q, R and S steps slide a window over shared rows.
DISJOINT = {x: np.array([d in RELEVANT[x] and not (x == "I" and d in "PQRS") for d in DIMS])
            for x in OPERANDS}


def footprint(operand: str, t: np.ndarray, layer: Layer) -> np.ndarray:
    """Elements of `operand` touched by a tile with per-dim extents `t` (dims first).

    Inputs follow the sliding window (`sedse.workload.input_extent`): p output rows and
    r kernel rows touch ``min((p - 1) * stride + (r - 1) * dilation + 1, p * r)`` input
    rows.
    """
    if operand == "W":
        return t[_G] * t[_K] * t[_C] * t[_R] * t[_S]
    if operand == "O":
        return t[_N] * t[_G] * t[_K] * t[_P] * t[_Q]
    h, w = window_extents(t, layer)
    return t[_N] * t[_G] * t[_C] * h * w


def window_extents(t: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Input rows and columns touched by a tile with per-dim extents `t`."""
    return (input_extent(t[_P], t[_R], layer.stride_h, layer.dilation_h),
            input_extent(t[_Q], t[_S], layer.stride_w, layer.dilation_w))


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
        #: (L, 8) where a dim's factor may exceed 1 (`Candidates.varies`; the other
        #: rows of `big` are -1), and per level those dims' indices
        self.varies = c.temporal_varies()
        self.rows = [np.flatnonzero(v) for v in self.varies]

    def big(self, li: int) -> np.ndarray:
        if li not in self._pb:
            # (position + 1) x (factor > 1) - 1, in int8: numpy's where over an (8, M)
            # array is several times slower than these three passes
            pb = self._c.loop_positions()[li] + np.int8(1)
            pb *= self._tf[li] > 1
            pb -= np.int8(1)
            self._pb[li] = pb
        return self._pb[li]

    def innermost(self, li: int) -> np.ndarray:
        if li not in self._inner:
            pb, rows = self.big(li), self.rows[li]
            if not len(rows):
                out = pb[0]
            else:
                out = pb[rows[0]]
                for d in rows[1:]:
                    out = np.maximum(out, pb[d])
            self._inner[li] = out
        return self._inner[li]


def resident_divisors(lp: LoopPositions, tf: np.ndarray, li: int, L: int,
                      idx: np.ndarray) -> dict[str, np.ndarray | int]:
    """Per operand, (len(idx),) the factor by which level `li` may shrink its tile of it
    for candidates `idx` (the integer 1 where none of them shrinks it).

    A level streams its tile of an operand through when nothing above reuses it: the
    innermost loop above the level with a factor > 1 moves to disjoint data of the
    operand (or there is none). Then the level's own outermost loops over dims disjoint
    for the operand visit sub-tiles that are never revisited, and only one sub-tile
    needs to be held: the tile's footprint divided by those loops' factors (the dims
    disjoint for an operand multiply its footprint). Counts are unchanged: every
    sub-tile is still filled once per visit of the tile. The innermost level's loop
    order is not a mapping choice, so it holds its whole tile (divisor 1).
    """
    ones: dict[str, np.ndarray | int] = {x: 1 for x in OPERANDS}
    if li >= L - 1:
        return ones
    # for most of the batch, compute for all of it and pick `idx` from the results
    # (cheaper than copying every input row); for a few, copy theirs first
    whole = 2 * len(idx) >= tf.shape[2]
    M = tf.shape[2] if whole else len(idx)

    def rows(a: np.ndarray) -> np.ndarray:
        return a if whole else np.take(a, idx, axis=-1)

    # per operand: does the innermost loop above the level with a factor > 1 move to
    # disjoint data (True also where there is no such loop)?
    stream = {x: np.ones(M, dtype=bool) for x in OPERANDS}
    decided = np.zeros(M, dtype=bool)
    for lv in range(li - 1, -1, -1):
        inner, pb = rows(lp.innermost(lv)), rows(lp.big(lv))
        now = (inner >= 0) & ~decided
        if now.any():
            for x in OPERANDS:
                hit = np.zeros(M, dtype=bool)
                # (a dim whose factor is 1 everywhere has position -1: never `inner`)
                for d in np.flatnonzero(DISJOINT[x] & lp.varies[lv]):
                    hit |= pb[d] == inner
                stream[x] = np.where(now, hit, stream[x])
            decided |= now
            if decided.all():
                break
    f, pb = rows(tf[li]), rows(lp.big(li))
    # only dims whose factor may exceed 1 here: the others block nothing (position -1)
    # and divide by 1
    varies = lp.varies[li]
    # loop positions with factor-1 loops (-1) moved past the innermost one (8), so that
    # "a loop with a factor > 1 outside `block`" is one comparison, pb8 < block
    pb8 = {int(d): pb[d] + np.int8(9) * (pb[d] < 0) for d in np.flatnonzero(varies)}
    out: dict[str, np.ndarray | int] = {}
    for x in OPERANDS:
        disjoint = DISJOINT[x]
        if not stream[x].any() or not (disjoint & varies).any():
            out[x] = ones[x]
            continue
        # a loop is streamed if it is disjoint and no loop outside it blocks: the
        # outermost non-disjoint loop with a factor > 1 ends the streamed run
        block = np.full(M, 8, dtype=np.int8)
        for d in np.flatnonzero(~disjoint & varies):
            block = np.minimum(block, pb8[int(d)])
        block[~stream[x]] = -1
        div = None
        for d in np.flatnonzero(disjoint & varies):
            term = np.where(pb8[int(d)] < block, f[d], 1)
            div = term if div is None else div * term
        assert div is not None   # some disjoint dim varies (checked above)
        out[x] = div[idx] if whole and len(idx) < M else div
    return out


@dataclass(frozen=True, eq=False)
class TileGeometry:
    """The tiles of M candidate mappings of one layer (as the array sees it): factors
    in the dims-first layout (`soa`), every level's tile extents, the loop positions,
    and each (operand, level)'s footprint, computed once on first use and shared by the
    counts and the capacity check."""

    cand: Candidates
    layer: Layer
    tf: np.ndarray                      # (L, 8, M) temporal factors
    sf: dict[int, np.ndarray]           # fan-out level -> (8, M) spatial factors
    tiles: np.ndarray                   # (L + 1, 8, M) tile extents (`tile_extents`)
    loops: LoopPositions
    _footprints: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, c: Candidates, acc: Accelerator, layer: Layer) -> TileGeometry:
        tf, sf = soa(c, acc)
        return cls(c, layer, tf, sf, tile_extents(tf, sf), LoopPositions(c, tf))

    def footprint(self, operand: str, level: int) -> np.ndarray:
        """(M,) elements of `operand` in the tile held at `level` (L: the MAC's)."""
        key = (operand, level)
        if key not in self._footprints:
            self._footprints[key] = footprint(operand, self.tiles[level], self.layer)
        return self._footprints[key]


def capacity_need(geo: TileGeometry, acc: Accelerator,
                  weight_bits_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bytes each bounded partition needs per instance (L, P, M; 0 for unbounded ones)
    and capacities (L, P) (inf when unbounded). Where the whole held tiles overflow a
    level, the need is that of their resident parts (`resident_divisors`); elsewhere the
    whole tiles' bytes (which fit anyway). Weights take `weight_bits_at[level]` bits
    each (their stored format, `weight_format`)."""
    c, layer, tf, lp, fp = geo.cand, geo.layer, geo.tf, geo.loops, geo.footprint
    L = len(acc.levels)
    P = max(len(lvl.partitions) for lvl in acc.levels)
    need = np.zeros((L, P, len(c)), dtype=np.int64)
    cap = np.full((L, P), np.inf)

    def nbytes(x, li, n):
        return operand_bytes(x, n, layer, weight_bits_at[li])

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
        # only the candidates whose whole tiles overflow: the others keep their need
        div = {li: resident_divisors(lp, tf, li, L, idx) for li in group if li < L - 1}
        if not div:
            continue
        for pi, xs in held.items():
            sub = np.zeros(len(idx), dtype=np.int64)
            for li, x in xs:
                d = div[li][x] if li in div else 1
                sub += nbytes(x, li, fp(x, li)[idx] // d)
            need[head, pi, idx] = sub
    return need, cap


def operand_bytes(x: str, elements, layer: Layer, weight_bits: float) -> np.ndarray:
    """Bytes of `elements` of operand `x` (weights at `weight_bits` each, their stored
    format at the level; the others at the layer's precision), rounded up."""
    if x == "W":
        return np.ceil(elements * weight_bits / 8).astype(np.int64)
    bits = layer.operand_bits(x)
    return elements * (bits // 8) if bits % 8 == 0 else -(-elements * bits // 8)
