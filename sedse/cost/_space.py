"""The mapping space of one layer on one accelerator under its dataflow, as digits.

A point of the space is one "option" per dim plus one loop order per level:

* a dim option fixes that dim's spatial factor on every array axis and its temporal
  factor at every level. Spatial factors may pad (e.g. P = 55 on 14 columns as 14 x 4,
  at most `MAX_PAD` extra); temporal factors at inner levels are divisors of what the
  spatial unroll leaves and the outermost level takes the rest, so only spatial
  unrolls pad;
* a loop order per level above the innermost (the innermost level's order never
  changes a count, because every MAC re-reads its operands). What changes the counts
  is which dims sit in the innermost run of loops that do not index an operand, and
  for the inputs which loop steps the window (P or Q slide it), so the orders
  searched are the canonical ones (`canonical_orders`): for each priority of
  operands (X1, X2, X3), the dims that do not index X1 innermost, then those that do
  not index X2, then the rest, with P and Q innermost in each run (either first).
  Orders that give identical counts are thereby not enumerated twice.

Options are pruned soundly before any search: an option whose own factors alone
overflow a partition at some level (all other dims at 1; a level's own factor of a
dim it could stream not counted) cannot be part of a fitting mapping. The space's
size is the product of the option counts; `digits_to_candidates` turns digit vectors
(M, 8 + levels - 1) into `Candidates`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from sedse._numbers import divisors
from sedse.cost._formats import weight_format
from sedse.cost._tiles import DISJOINT, footprint, operand_bytes
from sedse.errors import MappingError
from sedse.hardware import FULL, Accelerator
from sedse.mapping import Candidates, array_layer, default_keep_mask
from sedse.workload import DIMS, OPERANDS, RELEVANT, Layer

MAX_PAD = 0.15  # spatial padding allowed beyond the dim, as a fraction of the dim


def _divisors(n: int) -> list[int]:
    return list(divisors(n))


def canonical_orders() -> np.ndarray:
    """(n, 8) dim indices, outer first: per operand priority (X1, X2, X3), the dims
    that do not index X1 innermost, then those that do not index X2, then the rest.

    Within each run, the output rows/columns (P, Q) sit innermost, in both orders:
    the run's order changes no operand's stationarity, but the innermost loop that
    indexes the inputs decides whether a refill slides the window (fetching only the
    new rows or columns) or fetches it whole.
    """
    out = []
    for prio in itertools.permutations(OPERANDS):
        for slide in (("Q", "P"), ("P", "Q")):
            inner: list[str] = []
            for run in [[d for d in DIMS if d not in RELEVANT[x]] for x in prio] + [DIMS]:
                run = [d for d in run if d not in inner]
                inner += [d for d in slide if d in run] + [d for d in run if d not in slide]
            out.append([DIMS.index(d) for d in reversed(inner)])
    return np.unique(np.array(out, dtype=np.int64), axis=0)


@dataclass(frozen=True)
class MappingSpace:
    """Per-dim options (A + L factors each) and per-level order choices."""

    layer: Layer
    acc: Accelerator
    options: tuple[np.ndarray, ...]   # per dim: (n_opts, A + L)
    orders: tuple[np.ndarray, ...]    # per level 0..L-2: (n_orders, 8)
    keep: np.ndarray

    @property
    def radices(self) -> list[int]:
        return [len(o) for o in self.options] + [len(o) for o in self.orders]

    @property
    def size(self) -> int:
        return math.prod(self.radices)

    def all_digits(self) -> np.ndarray:
        grids = np.indices(self.radices).reshape(len(self.radices), -1)
        return grids.T.astype(np.int64)

    def sample_digits(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """`m` random points whose spatial factors fit the array.

        Dims are drawn one after another, those with the fewest spatial choices (pinned
        ones) first and ties in random order: first one of the dim's spatial
        combinations that still fits the PEs left on every axis, then one of that
        combination's temporal splits, uniformly.
        """
        sizes = np.array([self.acc.axis_size(a) for a in self.acc.array_axes])
        digits = np.zeros((m, len(self.radices)), dtype=np.int64)
        cap = np.tile(sizes, (m, 1))
        groups = self._spatial_groups
        n_combos = np.array([len(g[0]) for g in groups], dtype=np.int64)
        # the second half of the points favour large unrolls (a combination's weight
        # grows with the PEs it takes): the best mappings keep most PEs busy, and a
        # uniform draw over combinations mostly picks small ones
        half = m // 2
        for di in np.lexsort((rng.random(len(groups)), n_combos)):
            combos, first, counts = groups[di]
            if len(combos) == 1:    # one way to unroll the dim: nothing to draw (a
                # draw from one choice takes nothing from the stream, so skipping it
                # leaves every later number the same)
                digits[:, di] = first[0] + (rng.random(m) * counts[0]).astype(np.int64)
                cap //= combos[0]
                continue
            pick = _pick_fitting(combos, cap, rng)
            if half:
                w = np.cumsum(combos.prod(axis=1).astype(np.float64) ** 2)
                pick[half:] = _pick_fitting(combos, cap[half:], rng, cdf=w)
            within = (rng.random(m) * counts[pick]).astype(np.int64)
            digits[:, di] = first[pick] + within
            cap //= combos[pick]
        for li, ords in enumerate(self.orders):
            digits[:, 8 + li] = rng.integers(0, len(ords), size=m)
        return digits

    @functools.cached_property
    def _spatial_groups(self) -> list:
        """Per dim: its distinct spatial combinations, the first option of each and how
        many options share it (options are sorted by their spatial part)."""
        A = len(self.acc.array_axes)
        return [np.unique(o[:, :A], axis=0, return_index=True, return_counts=True)
                for o in self.options]

    @functools.cached_property
    def _inverse_orders(self) -> list[np.ndarray]:
        """Per level, each order's inverse permutation (a dim's loop position), int8."""
        return [np.argsort(o, axis=1).astype(np.int8) for o in self.orders]

    def to_candidates(self, digits: np.ndarray) -> Candidates:
        A, L = len(self.acc.array_axes), len(self.acc.levels)
        M = len(digits)
        # built candidates-last in memory and handed out as (M, L, 8) views: the cost
        # core reads them dims-first, so its transposes become contiguous copies;
        # every dim's row is written below (pinned dims broadcast)
        tf = np.empty((L, 8, M), dtype=np.int64)
        sf = np.empty((A, 8, M), dtype=np.int64)
        for di, opts in enumerate(self.options):
            if len(opts) == 1:                              # a pinned dim: broadcast
                sf[:, di] = opts[0, :A, None]
                tf[:, di] = opts[0, A:, None]
                continue
            chosen = opts[digits[:, di]].T                  # (A + L, M)
            sf[:, di] = chosen[:A]
            tf[:, di] = chosen[A:]
        # levels with order choices are written below; the others (the innermost)
        # keep the identity order
        order = np.empty((L, 8, M), dtype=np.int64)
        pos = np.empty((L, 8, M), dtype=np.int8)
        for li in range(len(self.orders), L):
            order[li] = np.arange(8, dtype=np.int64)[:, None]
            pos[li] = np.arange(8, dtype=np.int8)[:, None]
        for li, (ords, inverse) in enumerate(zip(self.orders, self._inverse_orders,
                                                 strict=True)):
            pick = digits[:, 8 + li]
            order[li] = ords[pick].T
            pos[li] = inverse[pick].T
        return Candidates(tf.transpose(2, 0, 1), order.transpose(2, 0, 1),
                          sf.transpose(2, 0, 1), self.keep, pos, self._varies)

    @functools.cached_property
    def _varies(self) -> np.ndarray:
        """(L, 8) bool: the (level, dim) temporal slots some option gives a factor > 1."""
        A = len(self.acc.array_axes)
        return np.array([[bool((o[:, A + li] > 1).any()) for o in self.options]
                         for li in range(len(self.acc.levels))])


def _pick_fitting(combos: np.ndarray, cap: np.ndarray, rng: np.random.Generator,
                  tries: int = 6, cdf: np.ndarray | None = None) -> np.ndarray:
    """Per row of `cap` (M, A), a random row of `combos` (U, A) that fits it (the
    smallest when none does): drawn uniformly, or by the cumulative weights `cdf`,
    with rejection first, uniformly among the fitting ones for the rest."""
    m = len(cap)

    def draw(n: int) -> np.ndarray:
        if cdf is None:
            return rng.integers(0, len(combos), size=n)
        return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                          len(combos) - 1)

    pick = draw(m)
    bad = np.flatnonzero((combos[pick] > cap).any(axis=1))
    for _ in range(tries):
        if not len(bad):
            return pick
        pick[bad] = draw(len(bad))
        bad = bad[(combos[pick[bad]] > cap[bad]).any(axis=1)]
    if len(bad):
        # few distinct capacity vectors remain: list the fitting combinations once each
        # (vectorised: rows grouped by capacity vector in the order of the distinct
        # vectors, one uniform draw per row of a group with a fitting combination)
        caps, inverse = _unique_rows(cap[bad])
        fit = (combos[None, :, :] <= caps[:, None, :]).all(axis=2)      # (caps, U)
        n_ok = fit.sum(axis=1)
        order = np.argsort(inverse, kind="stable")
        rows, group = bad[order], inverse[order]
        live = n_ok[group] > 0
        pick[rows[~live]] = 0
        rows, group = rows[live], group[live]
        j = (rng.random(len(rows)) * n_ok[group]).astype(np.int64)
        # the (j+1)-th fitting combination of the row's group: fitting pairs listed
        # group by group (np.nonzero's row-major order), each group's from its start
        fit_u = np.nonzero(fit)[1]
        start = np.concatenate([[0], np.cumsum(n_ok)[:-1]])
        pick[rows] = fit_u[start[group] + j]
    return pick


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(rows, axis=0, return_inverse=True)` (same order), through one int64
    key per row when the values allow it (much faster than a row-wise unique)."""
    base = int(rows.max()) + 1 if rows.size else 1
    if rows.min(initial=0) >= 0 and base ** rows.shape[1] < 2**62:
        key = rows[:, 0].astype(np.int64)
        for a in range(1, rows.shape[1]):
            key = key * base + rows[:, a]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return rows[first], inverse.reshape(-1)
    caps, inverse = np.unique(rows, axis=0, return_inverse=True)
    return caps, inverse.reshape(-1)


def _dim_options(layer: Layer, acc: Accelerator, d: str) -> np.ndarray:
    n = getattr(layer, d)
    A, L = len(acc.array_axes), len(acc.levels)
    df = acc.dataflow
    # spatial values per axis
    per_axis: list[list[int]] = []
    pinned_any = False
    for a in acc.array_axes:
        c = df.axis(a) if df else None
        cap = acc.axis_size(a)
        pin = c.pinned(d) if c else None
        if c is not None and d not in c.allow:
            per_axis.append([1])
        elif pin is not None:
            pinned_any = True
            f = n if pin == FULL else pin
            if f > cap:
                assert df is not None   # a pin comes from the dataflow
                raise MappingError(f"{acc.source}: dataflow", f"layer {layer.name}: dataflow "
                                   f"{df.name}: {d} = {f} is pinned to array axis {a!r}, "
                                   f"which has only {cap} PEs")
            per_axis.append([f])
        else:
            # PEs left on this axis once the dims pinned to it are placed
            free = df.free_pes(a, cap, d, layer.dims) if df else cap
            per_axis.append(list(range(1, min(free, n) + 1)))
    combos = []
    for combo in itertools.product(*per_axis):
        s = math.prod(combo)
        r = -(-n // s)
        if r * s > n * (1 + MAX_PAD) and n % s and not pinned_any:
            continue
        combos.append((combo, s, r))
    if combos and df is not None and df.must_unroll_whole(d, layer.dims, acc.array_shape):
        # the array holds the dim whole: folded over the axes, never strip-mined
        combos = [c for c in combos if c[1] >= n]
    if combos and df is not None and d in df.maximise_spatial:
        # unroll as far as the array allows (largest spatial product within MAX_PAD)
        floor_s = max(min(s, n) for _, s, _ in combos)
        combos = [c for c in combos if c[1] >= floor_s]
    rows = []
    for combo, _, r in combos:
        for chain in _temporal_chains(r, acc, d, L):
            rows.append(list(combo) + chain)
    if not rows:
        raise MappingError(layer.name, f"dataflow {df.name if df else '-'}: no factorisation "
                           f"of {d} = {n} satisfies its constraints")
    arr = np.array(rows, dtype=np.int64).reshape(-1, A + L)
    return arr[np.lexsort(arr[:, :A].T[::-1])] if A else arr


@functools.lru_cache(maxsize=256)
def _raw_options(layer: Layer, acc: Accelerator, d: str) -> np.ndarray:
    """`_dim_options`, shared by the keep patterns of one search (read-only)."""
    out = _dim_options(layer, acc, d)
    out.flags.writeable = False
    return out


def _temporal_chains(r: int, acc: Accelerator, d: str, L: int) -> list[list[int]]:
    """Temporal factors per level (outer first) whose product is r; inner levels divide."""
    df = acc.dataflow
    out = []
    slots = [df.level(lvl.name) if df else None for lvl in acc.levels]
    rules = [(c is None or d in c.allow, c.pinned(d) if c else None) for c in slots]

    def rec(li: int, remaining: int, inner: list[int]) -> None:
        allowed, pin = rules[li]
        if li == 0:
            if remaining > 1 and not allowed:
                return
            if pin is not None and pin != FULL and pin != remaining:
                return
            out.append([remaining] + inner)
            return
        if pin == FULL:
            values = [remaining]
        elif pin is not None:
            values = [pin] if remaining % pin == 0 else []
        elif not allowed:
            values = [1]
        else:
            values = _divisors(remaining)
        for f in values:
            rec(li - 1, remaining // f, [f] + inner)

    rec(L - 1, r, [])
    return out


def _bytes(x: str, elements: np.ndarray, layer: Layer, li: int, acc: Accelerator) -> np.ndarray:
    """Bytes of `elements` of operand `x` held at level `li` (weights in their format)."""
    return operand_bytes(x, elements, layer, weight_format(layer, acc).bits_at[li])


def _overflow_text(layer: Layer, acc: Accelerator, keep: np.ndarray) -> str:
    """Which partitions even one-element tiles overflow (the binding constraint)."""
    out = []
    for li, lvl in enumerate(acc.levels):
        for part in lvl.partitions:
            if part.capacity_bytes is None:
                continue
            held = [x for x in part.operands if keep[li, OPERANDS.index(x)]]
            need = sum(_bytes(x, np.ones(1, dtype=np.int64), layer, li, acc)[0] for x in held)
            if need > part.capacity_bytes:
                out.append(f"level {lvl.name} partition {'+'.join(held)} holds "
                           f"{part.capacity_bytes} B < {need} B for one element each")
    return "; ".join(out) or "every option overflows some level's capacity"


def _prune_single_dim(opts: np.ndarray, di: int, layer: Layer, acc: Accelerator,
                      keep: np.ndarray) -> tuple[np.ndarray, str]:
    """Drop options whose own tile alone overflows some partition; also return, when
    every option goes, the partition that overflows for the most of them."""
    A, L = len(acc.array_axes), len(acc.levels)
    sfl = np.ones((len(opts), L), dtype=np.int64)
    for ai, a in enumerate(acc.array_axes):
        sfl[:, acc.axis_level(a)] *= opts[:, ai]
    per_level = opts[:, A:] * sfl
    inner = np.flip(np.cumprod(np.flip(per_level, axis=1), axis=1), axis=1)
    ok = np.ones(len(opts), dtype=bool)
    worst, worst_n = "", 0
    for li, lvl in enumerate(acc.levels):
        t = np.ones((len(opts), 8), dtype=np.int64)
        t[:, di] = inner[:, li]
        # a level above the innermost may stream sub-tiles of an operand along a dim
        # disjoint for it (`resident_divisors`): its own factor of that dim may not count
        streamed = t.copy()
        if li < L - 1:
            streamed[:, di] //= opts[:, A + li]
        for part in lvl.partitions:
            if part.capacity_bytes is None:
                continue
            need = np.zeros(len(opts), dtype=np.int64)
            held = [x for x in part.operands if keep[li, OPERANDS.index(x)]]
            for x in held:
                tx = streamed if DISJOINT[x][di] else t
                need += _bytes(x, footprint(x, tx.T, layer), layer, li, acc)
            over = need > part.capacity_bytes
            if over.sum() > worst_n:
                worst_n = int(over.sum())
                worst = (f"level {lvl.name} partition {'+'.join(held)} "
                         f"({part.capacity_bytes} B) cannot hold the smallest tile "
                         f"({int(need[over].min())} B)")
            ok &= ~over
    return opts[ok], worst


def keep_variants(acc: Accelerator) -> list[np.ndarray]:
    """Every (L, 3) keep mask the dataflow allows: its `keep` per level, and each
    operand a level `may_bypass` both kept and bypassed; then, in a memory with several
    tile boundaries (`same_memory_as`), each operand it keeps at each of them. The
    dataflow's own mask, everything at each memory's first boundary, comes first."""
    keep = default_keep_mask(acc)
    df = acc.dataflow
    choices: list[tuple[int, int]] = []
    if df is not None:
        for li, lvl in enumerate(acc.levels):
            c = df.level(lvl.name)
            if c.keep is not None:
                keep[li] = [x in c.keep for x in OPERANDS]
            choices += [(li, OPERANDS.index(x)) for x in c.may_bypass]
    groups = [g for li in range(len(acc.levels))
              if len(g := acc.memory_levels(li)) > 1 and g[0] == li]
    out = []
    for bits in itertools.product((True, False), repeat=len(choices)):
        k = keep.copy()
        for (li, xi), b in zip(choices, bits, strict=True):
            k[li, xi] = b
        slots = [(g, xi) for g in groups for xi in range(len(OPERANDS)) if k[g[0], xi]]
        for pick in itertools.product(*[range(len(g)) for g, _ in slots]):
            kp = k.copy()
            for (g, xi), j in zip(slots, pick, strict=True):
                kp[g[0], xi] = False
                kp[g[j], xi] = True
            out.append(kp)
    return out


def mapping_space(layer: Layer, acc: Accelerator,
                  keep: np.ndarray | None = None) -> MappingSpace:
    """Return the (pruned) mapping space of `layer` on `acc` under its dataflow (of the
    layer as the array sees it, `array_layer`), with the levels keeping the operands of
    `keep` (default: the dataflow's own mask, `keep_variants(acc)[0]`)."""
    layer = array_layer(layer, acc)
    L = len(acc.levels)
    df = acc.dataflow
    keep = keep_variants(acc)[0] if keep is None else keep
    if df is not None:
        for a in acc.array_axes:
            pinned = df.pinned_pes(a, layer.dims)
            if pinned > acc.axis_size(a):
                what = ", ".join(f"{d} = {getattr(layer, d) if f == FULL else f}"
                                 for d, f in df.axis(a).pin)
                raise MappingError(f"{acc.source}: dataflow", f"layer {layer.name}: dataflow "
                                   f"{df.name}: {what} is pinned to array axis {a!r}, which "
                                   f"has only {acc.axis_size(a)} PEs")
    options = []
    for di, d in enumerate(DIMS):
        raw = _raw_options(layer, acc, d)
        opts, worst = _prune_single_dim(raw, di, layer, acc, keep)
        if len(opts) == 0:
            raise MappingError(layer.name, f"no factorisation of {d} = {getattr(layer, d)} "
                               f"fits {acc.name}: " + (worst or _overflow_text(layer, acc, keep)))
        options.append(opts)
    canon = canonical_orders()
    orders = []
    for li in range(L - 1):
        c = df.level(acc.levels[li].name) if df else None
        if c is not None and c.order is not None:
            orders.append(np.array([[DIMS.index(x) for x in c.order]], dtype=np.int64))
        else:
            orders.append(canon)
    return MappingSpace(layer, acc, tuple(options), tuple(orders), keep)
